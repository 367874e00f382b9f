//! The one error type of the crate.
//!
//! Every variant names the device, path or address involved and says what failed in words a
//! field technician reads, because these messages end up on the technician screen and in the
//! fleet-health log, not in front of a programmer.

use std::path::PathBuf;
use std::time::Duration;

use crate::status::Fault;

/// Where in a job a fault was seen: it decides whether the paper may hold half a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStage {
    /// Seen before any byte of the job was sent: nothing was printed.
    BeforeSending,
    /// Seen after the job was sent: the printed receipt may be missing or incomplete.
    AfterSending,
}

impl std::fmt::Display for JobStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobStage::BeforeSending => "nothing was printed; fix the printer, then reprint",
            JobStage::AfterSending => {
                "the slip may be missing or incomplete; fix the printer, then reprint it"
            }
        })
    }
}

/// Everything that can go wrong while laying out, encoding or printing a slip.
#[derive(Debug, thiserror::Error)]
pub enum PrinterError {
    /// A font file could not be read.
    #[error("cannot read font file {path}: {source}")]
    FontRead {
        /// The configured font path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A font file was read but is not a usable TrueType/OpenType font.
    #[error("font file {path} is not a TrueType/OpenType font (install fonts-dejavu-core or fix the font path)")]
    FontParse {
        /// The configured font path.
        path: PathBuf,
    },
    /// The font lacks glyphs for some characters, so they would print as boxes.
    #[error("font file {path} has no glyph for {missing:?}: Vietnamese would print as boxes; use a Vietnamese-capable font such as DejaVu Sans")]
    FontCoverage {
        /// The configured font path.
        path: PathBuf,
        /// Characters without a glyph.
        missing: String,
    },
    /// The receipt QR template is wrong (configuration).
    #[error("receipt QR template: {0}")]
    Template(#[from] motcua_domain::qr_payload::TemplateError),
    /// The QR payload does not fit in a QR code.
    #[error(
        "QR payload of {bytes} bytes does not fit in a QR code ({reason}); shorten the QR template"
    )]
    QrTooLong {
        /// Payload size in UTF-8 bytes.
        bytes: usize,
        /// What the QR encoder said.
        reason: String,
    },
    /// Connecting or opening the device failed.
    #[error("printer {device}: cannot connect/open: {source}; check power, cable, address or device path")]
    Connect {
        /// The device (`tcp://…`, `serial:…`, `usb:…`).
        device: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Sending bytes failed.
    #[error("printer {device}: sending failed ({source}); the slip may be incomplete, reprint it")]
    Write {
        /// The device.
        device: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading the printer's answer failed.
    #[error("printer {device}: reading the status failed: {source}")]
    Read {
        /// The device.
        device: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The printer did not answer or accept data in time.
    #[error("printer {device}: no answer within {} ms while {what} (printer slow, hung, switched off or cable unplugged); the slip may be incomplete, reprint it", limit.as_millis())]
    Timeout {
        /// The device.
        device: String,
        /// What we were doing, e.g. "reading its status".
        what: &'static str,
        /// The timeout that expired.
        limit: Duration,
    },
    /// The printer answered a status query with a byte that is not an ESC/POS status.
    #[error("printer {device}: answered status query {query} with byte {byte:#04x}, which is not an ESC/POS status (wrong device or baud rate?)")]
    BadStatus {
        /// The device.
        device: String,
        /// The `n` of `DLE EOT n`.
        query: u8,
        /// The byte received.
        byte: u8,
    },
    /// The printer reports a fault (paper end, cover open, offline, error).
    #[error("printer {device}: {fault}; {stage}")]
    Fault {
        /// The device.
        device: String,
        /// What the printer reports.
        fault: Fault,
        /// Whether the job had been sent.
        stage: JobStage,
    },
    /// A file of the emulator (PNG output, output folder) could not be written.
    #[error("printer emulator: cannot write {path}: {source}")]
    Output {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The emulator could not open its TCP listener or pseudo-terminal.
    #[error("printer emulator: cannot listen on {what}: {source}")]
    Listen {
        /// `tcp 127.0.0.1:9100` or `pseudo-terminal`.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl PrinterError {
    /// The printer fault, if this error is one (the kiosk shows it and offers a reprint).
    pub fn fault(&self) -> Option<Fault> {
        match self {
            PrinterError::Fault { fault, .. } => Some(*fault),
            _ => None,
        }
    }

    /// True when the job may be resent as is once the cause is fixed (every transport or
    /// printer problem; not a configuration problem such as a bad font or template).
    pub fn is_reprintable(&self) -> bool {
        matches!(
            self,
            PrinterError::Connect { .. }
                | PrinterError::Write { .. }
                | PrinterError::Read { .. }
                | PrinterError::Timeout { .. }
                | PrinterError::BadStatus { .. }
                | PrinterError::Fault { .. }
        )
    }
}
