//! The `[printer]`, `[code_reader]` and `[scanner]` sections: raw as written in the file, then
//! validated into settings that know how to build the real driver (or the simulator's address),
//! with errors that point at the key.
use std::ops::Range;
use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use motcua_domain::qr_payload::{ReceiptFields, DEFAULT_RECEIPT_TEMPLATE};
use motcua_printer::{FontConfig, Paper, Transport};
use motcua_scanner::codes::line::Terminator;
use motcua_scanner::codes::serial::SerialConfig;
use motcua_scanner::documents::{ColorMode, FeedSource};
use serde::Deserialize;
use toml::Spanned;

/// `[printer]` as written in the file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawPrinter {
    transport: Option<Spanned<String>>,
    address: Option<String>,
    path: Option<PathBuf>,
    baud: Option<u32>,
    paper_mm: Option<Spanned<u32>>,
    font_regular: Option<PathBuf>,
    font_bold: Option<PathBuf>,
    qr_template: Option<Spanned<String>>,
}

/// `[code_reader]` as written in the file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawCodeReader {
    kind: Option<Spanned<String>>,
    path: Option<PathBuf>,
    baud: Option<u32>,
    terminator: Option<Spanned<String>>,
}

/// `[scanner]` as written in the file.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawScanner {
    kind: Option<Spanned<String>>,
    device: Option<String>,
    resolution: Option<u32>,
    mode: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    options: Option<Vec<String>>,
    folder: Option<PathBuf>,
}

/// The receipt printer.
#[derive(Debug, Clone)]
pub struct PrinterConfig {
    /// How it is attached.
    pub transport: Transport,
    /// Paper width.
    pub paper: Paper,
    /// Fonts (a Vietnamese-capable TrueType font from a Debian package).
    pub fonts: FontConfig,
    /// Receipt QR payload template (Circular 01/2023 art. 26).
    pub qr_template: String,
}

/// The code reader.
#[derive(Debug, Clone)]
pub enum CodeReaderConfig {
    /// A serial / USB CDC reader.
    Serial(SerialConfig),
}

/// The document scanner.
#[derive(Debug, Clone)]
pub enum ScannerConfig {
    /// A SANE device through `scanimage`.
    Sane {
        /// SANE device name, e.g. `test` or `fujitsu:fi-7160:1234`.
        device: String,
        /// Resolution, dpi (≥ 200 for digitized copies, Decree 30/2020).
        resolution: u32,
        /// Colour mode.
        mode: ColorMode,
        /// Feeder or glass.
        source: FeedSource,
        /// Backend-specific `scanimage` options, e.g. `--swdeskew=yes` (passed as given).
        options: Vec<String>,
    },
    /// A folder a network scanner drops files into.
    HotFolder {
        /// The folder.
        folder: PathBuf,
    },
}

/// All peripherals; `None` where a kiosk has no such device.
#[derive(Debug, Clone, Default)]
pub struct PeripheralsConfig {
    /// Receipt printer.
    pub printer: Option<PrinterConfig>,
    /// Code reader.
    pub code_reader: Option<CodeReaderConfig>,
    /// Document scanner.
    pub scanner: Option<ScannerConfig>,
}

type RawError = (Range<usize>, String);

fn need<T>(value: Option<T>, span: &Range<usize>, key: &str, why: &str) -> Result<T, RawError> {
    value.ok_or_else(|| (span.clone(), format!("{key} is required {why}")))
}

impl PeripheralsConfig {
    /// Validates the three sections; errors carry the span of the offending value.
    pub fn from_raw(
        printer: RawPrinter,
        reader: RawCodeReader,
        scanner: RawScanner,
    ) -> Result<Self, RawError> {
        Ok(Self {
            printer: printer_from_raw(printer)?,
            code_reader: reader_from_raw(reader)?,
            scanner: scanner_from_raw(scanner)?,
        })
    }
}

fn printer_from_raw(raw: RawPrinter) -> Result<Option<PrinterConfig>, RawError> {
    let Some(kind) = raw.transport else {
        return Ok(None);
    };
    let span = kind.span();
    let transport = match kind.get_ref().as_str() {
        "none" => return Ok(None),
        "tcp" => Transport::Tcp(need(
            raw.address,
            &span,
            "printer.address",
            "for transport \"tcp\"",
        )?),
        "serial" => Transport::Serial {
            path: need(raw.path, &span, "printer.path", "for transport \"serial\"")?,
            baud: raw.baud.unwrap_or(115_200),
        },
        "usb" => Transport::UsbLp(need(
            raw.path,
            &span,
            "printer.path",
            "for transport \"usb\"",
        )?),
        other => {
            return Err((
                span,
                format!(
                "printer.transport {other:?} is not one of \"tcp\", \"serial\", \"usb\", \"none\""
            ),
            ))
        }
    };
    let paper = match raw.paper_mm.as_ref().map(|p| *p.get_ref()) {
        None | Some(80) => Paper::Mm80,
        Some(58) => Paper::Mm58,
        Some(other) => {
            let span = raw.paper_mm.map(|p| p.span()).unwrap_or(span);
            return Err((
                span,
                format!("printer.paper_mm must be 58 or 80, not {other}"),
            ));
        }
    };
    let mut fonts = FontConfig::default();
    if let Some(f) = raw.font_regular {
        fonts.regular = f;
    }
    if let Some(f) = raw.font_bold {
        fonts.bold = f;
    }
    let qr_template = match raw.qr_template {
        Some(t) => {
            let sample = sample_fields(motcua_store::vietnam_now());
            motcua_domain::qr_payload::render_receipt(t.get_ref(), &sample)
                .map_err(|e| (t.span(), format!("printer.qr_template: {e}")))?;
            t.into_inner()
        }
        None => DEFAULT_RECEIPT_TEMPLATE.to_owned(),
    };
    Ok(Some(PrinterConfig {
        transport,
        paper,
        fonts,
        qr_template,
    }))
}

fn reader_from_raw(raw: RawCodeReader) -> Result<Option<CodeReaderConfig>, RawError> {
    let Some(kind) = raw.kind else {
        return Ok(None);
    };
    let span = kind.span();
    match kind.get_ref().as_str() {
        "none" => Ok(None),
        "serial" => {
            let mut config = SerialConfig::new(need(
                raw.path,
                &span,
                "code_reader.path",
                "for kind \"serial\"",
            )?);
            if let Some(baud) = raw.baud {
                config.baud_rate = baud;
            }
            if let Some(t) = raw.terminator {
                config.terminator = match t.get_ref().as_str() {
                    "cr" => Terminator::Cr,
                    "lf" => Terminator::Lf,
                    "crlf" => Terminator::CrLf,
                    other => {
                        return Err((
                            t.span(),
                            format!("code_reader.terminator {other:?} is not one of \"cr\", \"lf\", \"crlf\""),
                        ))
                    }
                };
            }
            Ok(Some(CodeReaderConfig::Serial(config)))
        }
        other => Err((
            span,
            format!("code_reader.kind {other:?} is not one of \"serial\", \"none\""),
        )),
    }
}

fn scanner_from_raw(raw: RawScanner) -> Result<Option<ScannerConfig>, RawError> {
    let Some(kind) = raw.kind else {
        return Ok(None);
    };
    let span = kind.span();
    match kind.get_ref().as_str() {
        "none" => Ok(None),
        "hot_folder" => Ok(Some(ScannerConfig::HotFolder {
            folder: need(
                raw.folder,
                &span,
                "scanner.folder",
                "for kind \"hot_folder\"",
            )?,
        })),
        "sane" => {
            let mode = match raw.mode.as_ref().map(|m| m.get_ref().as_str()) {
                None | Some("color") => ColorMode::Color,
                Some("gray") => ColorMode::Gray,
                Some("lineart") => ColorMode::Lineart,
                Some(other) => {
                    let span = raw.mode.as_ref().map(|m| m.span()).unwrap_or(span);
                    return Err((
                        span,
                        format!(
                            "scanner.mode {other:?} is not one of \"color\", \"gray\", \"lineart\""
                        ),
                    ));
                }
            };
            let source = match raw.source.as_ref().map(|m| m.get_ref().as_str()) {
                None | Some("adf") => FeedSource::Adf,
                Some("duplex") => FeedSource::AdfDuplex,
                Some("flatbed") => FeedSource::Flatbed,
                Some(other) => {
                    let span = raw.source.as_ref().map(|m| m.span()).unwrap_or(span);
                    return Err((span, format!("scanner.source {other:?} is not one of \"adf\", \"duplex\", \"flatbed\"")));
                }
            };
            Ok(Some(ScannerConfig::Sane {
                device: need(raw.device, &span, "scanner.device", "for kind \"sane\"")?,
                resolution: raw.resolution.unwrap_or(200),
                mode,
                source,
                options: raw.options.unwrap_or_default(),
            }))
        }
        other => Err((
            span,
            format!("scanner.kind {other:?} is not one of \"sane\", \"hot_folder\", \"none\""),
        )),
    }
}

/// Receipt fields of a test slip (and of the QR template check at load time).
pub(crate) fn sample_fields(now: DateTime<FixedOffset>) -> ReceiptFields {
    ReceiptFields {
        dossier_code: "000.00.00.H00-000101-0001".into(),
        procedure_code: "0.000000".into(),
        applicant_id: None,
        document_name: "BẢN IN THỬ".into(),
        issuer: "MOTCUA".into(),
        issued_at: now,
        appointment_date: now.date_naive(),
        // A test slip's secret opens nothing: no dossier has this code.
        lookup_secret: Some(motcua_domain::lookup_secret::LookupSecret::from_bytes(
            [0; 5],
        )),
    }
}
