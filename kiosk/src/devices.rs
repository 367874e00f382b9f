//! The kiosk's peripherals as configured: receipt printer, code reader, document scanner.
//! Builds the real driver (or the simulator's address) from config, lists what is attached,
//! and runs the technician's self-test, reporting pass or fail per device in plain words.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use motcua_domain::qr_payload::{ReceiptFields, DEFAULT_RECEIPT_TEMPLATE};
use motcua_printer::{
    receipt_qr_payload, EscPosPrinter, FontConfig, Paper, Printer, ReceiptContent, Renderer,
    SubmittedDocument, Timeouts, Transport,
};
use motcua_scanner::codes::classify::classify;
use motcua_scanner::codes::line::Terminator;
use motcua_scanner::codes::serial::{SerialConfig, SerialReader};
use motcua_scanner::codes::ReaderEvent;
use motcua_scanner::documents::{
    BatchRequest, ColorMode, DocumentScanner, FeedSource, HotFolderConfig, SaneConfig, SaneScanner,
};
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

fn sample_fields(now: DateTime<FixedOffset>) -> ReceiptFields {
    ReceiptFields {
        dossier_code: "000.00.00.H00-000101-0001".into(),
        procedure_code: "0.000000".into(),
        applicant_id: None,
        document_name: "BẢN IN THỬ".into(),
        issuer: "MOTCUA".into(),
        issued_at: now,
        appointment_date: now.date_naive(),
    }
}

/// Outcome of one device's self-test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SelfTestResult {
    /// Which device, e.g. `printer tcp://127.0.0.1:9100`.
    pub device: String,
    /// Whether it passed.
    pub passed: bool,
    /// Not tested because not configured (a ticket kiosk has no scanner): not a failure.
    #[serde(default)]
    pub skipped: bool,
    /// What happened, Vietnamese first, then English.
    pub message: String,
}

/// How long the self-test waits for a person to act.
#[derive(Debug, Clone, Copy)]
pub struct SelfTestOptions {
    /// Time to present a code to the reader.
    pub code_timeout: Duration,
}

/// The test slip: a real receipt layout, marked as a test, whose QR the code reader can read.
pub fn test_receipt(
    device_id: &str,
    now: DateTime<FixedOffset>,
    qr_template: &str,
) -> Result<ReceiptContent, String> {
    let mut fields = sample_fields(now);
    fields.issuer = format!("MOTCUA:{device_id}");
    let qr_payload = receipt_qr_payload(qr_template, &fields).map_err(|e| e.to_string())?;
    Ok(ReceiptContent {
        agency_parent: "BẢN IN THỬ / TEST PRINT".into(),
        agency_name: format!("Thiết bị / device {device_id}"),
        place: "Kiểm tra máy in".into(),
        dossier_code: fields.dossier_code,
        applicant_name: "Nguyễn Thị Phượng (mẫu / sample)".into(),
        applicant_address: "Đường thử, phường Thử, tỉnh Thử".into(),
        applicant_phone: String::new(),
        applicant_email: String::new(),
        procedure_name: "Đăng ký khai sinh (in thử)".into(),
        documents: vec![SubmittedDocument {
            name: "Tờ khai đăng ký khai sinh".into(),
            kind: "bản chính".into(),
            count: 1,
        }],
        sets: 1,
        processing_time: "0 ngày làm việc".into(),
        received_at: now,
        appointment: now,
        result_place: "Không áp dụng / not applicable".into(),
        received_by: device_id.to_owned(),
        footer: vec![
            "Nếu đọc được dòng này, máy in hoạt động tốt.".into(),
            "If you can read this, the printer works.".into(),
        ],
        qr_payload,
    })
}

/// Prints a test slip; passes when the printer took it and reports no fault.
pub async fn test_printer(config: &PrinterConfig, device_id: &str) -> SelfTestResult {
    let device = format!("máy in / printer {:?}", config.transport);
    let config = config.clone();
    let device_id = device_id.to_owned();
    let outcome = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let renderer = Renderer::new(&config.fonts).map_err(|e| e.to_string())?;
        let content = test_receipt(&device_id, motcua_store::vietnam_now(), &config.qr_template)?;
        let job = renderer
            .receipt_job(
                &content,
                config.paper,
                &motcua_printer::EncodeOptions::default(),
            )
            .map_err(|e| e.to_string())?;
        let mut printer = EscPosPrinter::new(config.transport.clone(), Timeouts::default());
        let status = printer.print(&job).map_err(|e| e.to_string())?;
        Ok(format!(
            "đã in phiếu thử / test slip printed ({} bytes); status {status:?}",
            job.bytes.len()
        ))
    })
    .await;
    match outcome {
        Ok(Ok(message)) => SelfTestResult {
            device,
            passed: true,
            skipped: false,
            message,
        },
        Ok(Err(message)) => SelfTestResult {
            device,
            passed: false,
            skipped: false,
            message,
        },
        Err(e) => SelfTestResult {
            device,
            passed: false,
            skipped: false,
            message: format!("self-test crashed: {e}"),
        },
    }
}

/// Waits for one code at the reader and says what it was (never the payload itself).
pub async fn test_code_reader(
    config: &CodeReaderConfig,
    options: SelfTestOptions,
) -> SelfTestResult {
    let CodeReaderConfig::Serial(serial) = config;
    let device = format!("đầu đọc mã / code reader {}", serial.path.display());
    let mut reader = match SerialReader::spawn(serial.clone()) {
        Ok(r) => r,
        Err(e) => {
            return SelfTestResult {
                device,
                passed: false,
                skipped: false,
                message: e.to_string(),
            }
        }
    };
    let mut last_problem = None;
    let waited = tokio::time::timeout(options.code_timeout, async {
        while let Some(event) = reader.next().await {
            match event {
                ReaderEvent::Code(payload) => return Some(payload),
                ReaderEvent::Disconnected(e) => last_problem = Some(e.to_string()),
                ReaderEvent::Connected => last_problem = None,
            }
        }
        None
    })
    .await;
    let stats = reader.stats();
    reader.stop();
    match waited {
        Ok(Some(payload)) => SelfTestResult {
            device,
            passed: true,
            skipped: false,
            message: format!(
                "đã đọc một mã {} / read one {} code ({} bytes)",
                classify(payload.as_str()).name(),
                classify(payload.as_str()).name(),
                payload.len()
            ),
        },
        _ => SelfTestResult {
            device,
            passed: false,
            skipped: false,
            message: last_problem.unwrap_or_else(|| {
                format!(
                    "không nhận được mã nào trong {} giây / no code read in {} s (dropped lines: {stats:?})",
                    options.code_timeout.as_secs(),
                    options.code_timeout.as_secs()
                )
            }),
        },
    }
}

/// Scans one page (SANE) or checks the hot folder is usable.
pub async fn test_scanner(config: &ScannerConfig, work_dir: &std::path::Path) -> SelfTestResult {
    match config {
        ScannerConfig::Sane {
            device,
            resolution,
            mode,
            source,
            options,
        } => {
            let name = format!("máy quét / scanner sane:{device}");
            let scanner = match SaneScanner::connect(SaneConfig::new(device.clone())).await {
                Ok(s) => s,
                Err(e) => {
                    return SelfTestResult {
                        device: name,
                        passed: false,
                        skipped: false,
                        message: e.to_string(),
                    }
                }
            };
            let dir = work_dir.join("selftest-scan");
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return SelfTestResult {
                    device: name,
                    passed: false,
                    skipped: false,
                    message: format!("cannot create {}: {e}", dir.display()),
                };
            }
            let mut request = BatchRequest::new(&dir);
            request.resolution_dpi = *resolution;
            request.mode = *mode;
            request.source = *source;
            request.extra_args = options.clone();
            request.max_pages = Some(1);
            let result = scanner.start(&request).collect().await;
            let _ = std::fs::remove_dir_all(&dir);
            match result {
                Ok(pages) if !pages.is_empty() => {
                    let size = pages[0]
                        .image()
                        .map(|i| format!("{}x{}", i.width(), i.height()))
                        .unwrap_or_default();
                    SelfTestResult {
                        device: name,
                        passed: true,
                        skipped: false,
                        message: format!("đã quét 1 trang / scanned 1 page {size} at {resolution} dpi"),
                    }
                }
                Ok(_) => SelfTestResult {
                    device: name,
                    passed: false,
                    skipped: false,
                    message: "không có trang nào: hãy đặt giấy vào khay / no page: put paper in the feeder".into(),
                },
                Err(e) => SelfTestResult { device: name, passed: false, skipped: false, message: e.error.to_string() },
            }
        }
        ScannerConfig::HotFolder { folder } => {
            let name = format!("thư mục quét / hot folder {}", folder.display());
            let probe = folder.join(".motcua-selftest");
            let check = std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe));
            let _ = HotFolderConfig::new(folder.clone());
            match check {
                Ok(()) => SelfTestResult {
                    device: name,
                    passed: true,
                    skipped: false,
                    message: "thư mục đọc/ghi được / folder is readable and writable".into(),
                },
                Err(e) => SelfTestResult {
                    device: name,
                    passed: false,
                    skipped: false,
                    message: format!("không dùng được thư mục / folder unusable: {e}"),
                },
            }
        }
    }
}

/// Runs every configured device's self-test in turn.
pub async fn self_test(
    config: &crate::config::KioskConfig,
    options: SelfTestOptions,
) -> Vec<SelfTestResult> {
    let p = &config.peripherals;
    let mut results = Vec::new();
    match &p.printer {
        Some(printer) => results.push(test_printer(printer, &config.device.id).await),
        None => results.push(not_configured("máy in / printer", "[printer]")),
    }
    match &p.code_reader {
        Some(reader) => results.push(test_code_reader(reader, options).await),
        None => results.push(not_configured("đầu đọc mã / code reader", "[code_reader]")),
    }
    match &p.scanner {
        Some(scanner) => results.push(test_scanner(scanner, &config.store.data_dir).await),
        None => results.push(not_configured("máy quét / scanner", "[scanner]")),
    }
    results
}

fn not_configured(device: &str, section: &str) -> SelfTestResult {
    SelfTestResult {
        device: device.to_owned(),
        passed: false,
        skipped: true,
        message: format!("chưa cấu hình / not configured (section {section} of the config file)"),
    }
}

/// What is attached to this machine, for `kioskctl devices`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Discovered {
    /// Serial ports (code readers, serial printers).
    pub serial_ports: Vec<String>,
    /// USB printer-class devices.
    pub usb_printers: Vec<String>,
    /// SANE scanners, or why they could not be listed.
    pub scanners: Result<Vec<String>, String>,
}

fn glob_dev(prefixes: &[(&str, &str)]) -> Vec<String> {
    let mut found = Vec::new();
    for (dir, prefix) in prefixes {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix) {
                    found.push(format!("{dir}/{name}"));
                }
            }
        }
    }
    found.sort();
    found
}

/// Lists attached devices (serial ports, USB printers, SANE scanners).
pub async fn discover() -> Discovered {
    let scanners = motcua_scanner::documents::sane::list_devices(&SaneConfig::new(""))
        .await
        .map(|list| list.into_iter().map(|d| format!("{d:?}")).collect())
        .map_err(|e| e.to_string());
    Discovered {
        serial_ports: glob_dev(&[
            ("/dev", "ttyACM"),
            ("/dev", "ttyUSB"),
            ("/dev/serial/by-id", ""),
        ]),
        usb_printers: glob_dev(&[("/dev/usb", "lp")]),
        scanners,
    }
}
