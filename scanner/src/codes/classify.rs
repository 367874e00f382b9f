//! What a scanned payload is, so that the kiosk knows which screen to show.
//!
//! The kiosk accepts a code wherever the citizen holds it up: a CCCD card pre-fills the applicant,
//! our receipt opens the dossier's status, a separator sheet in the feeder starts the next
//! document of a dossier, a URL may be shown as a QR to follow on a phone. Anything else is
//! "unknown" and the UI says so.
//!
//! A payload is untrusted input: the size limit is checked before anything else, and
//! classification never logs the text, only its kind and length.

use std::fmt;

use motcua_domain::cccd::{self, CccdCard, CccdError};
use motcua_domain::qr_payload::{receipt_in, ScannedReceipt, Separator};

/// Largest payload classified, in bytes. A QR code holds at most 2,953 bytes; 4 KiB leaves room
/// for a reader that adds a prefix, and keeps a stuck or hostile device from making the kiosk
/// parse megabytes. Readers use the same limit for their lines by default.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Byte order mark that readers in "UTF-8 with BOM" mode put first.
const BOM: char = '\u{feff}';

/// The kind of a payload, with what was read from it.
#[derive(Clone, PartialEq, Eq)]
pub enum CodeKind {
    /// A valid chip ID card (CCCD) QR. Show what was read to the citizen before using it.
    Cccd(CccdCard),
    /// Looks like a CCCD QR (12 digits then `|`) but is not valid: show
    /// [`CccdError::message_vi`] to the citizen instead of treating it as an unknown code.
    CccdInvalid(CccdError),
    /// One of our receipts (Giấy tiếp nhận hồ sơ): its dossier code, and its lookup secret when
    /// the receipt template puts one in the QR (`{lookup_secret}`), so a citizen who scans the
    /// receipt need not type it. Read by [`receipt_in`], the one reader of receipt payloads.
    Receipt(ScannedReceipt),
    /// A separator sheet between the documents of a dossier.
    Separator(Separator),
    /// An `http://` or `https://` address (trimmed).
    Url(String),
    /// Larger than [`MAX_PAYLOAD_BYTES`]; not looked at further.
    TooLong {
        /// Size received, in bytes.
        bytes: usize,
    },
    /// None of the above (including an empty payload).
    Unknown,
}

impl CodeKind {
    /// Short name of the kind, which is all that logs may say about a payload.
    pub fn name(&self) -> &'static str {
        match self {
            CodeKind::Cccd(_) => "cccd",
            CodeKind::CccdInvalid(_) => "cccd-invalid",
            CodeKind::Receipt(_) => "receipt",
            CodeKind::Separator(_) => "separator",
            CodeKind::Url(_) => "url",
            CodeKind::TooLong { .. } => "too-long",
            CodeKind::Unknown => "unknown",
        }
    }
}

/// Redacts what could be personal: the card (already redacted by its own `Debug`), a receipt's
/// lookup secret (hidden by its own `Debug`) and URLs (which may carry tokens); dossier codes
/// and separators are not personal.
impl fmt::Debug for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeKind::Cccd(card) => f.debug_tuple("Cccd").field(card).finish(),
            CodeKind::CccdInvalid(e) => f.debug_tuple("CccdInvalid").field(e).finish(),
            CodeKind::Receipt(receipt) => f.debug_tuple("Receipt").field(receipt).finish(),
            CodeKind::Separator(s) => f.debug_tuple("Separator").field(s).finish(),
            CodeKind::Url(u) => write!(f, "Url(<{} bytes>)", u.len()),
            CodeKind::TooLong { bytes } => f.debug_struct("TooLong").field("bytes", bytes).finish(),
            CodeKind::Unknown => f.write_str("Unknown"),
        }
    }
}

/// Whether the payload starts like a CCCD QR: 12 ASCII digits then `|` (after a BOM and
/// whitespace that readers add).
fn looks_like_cccd(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() > 12 && b[..12].iter().all(u8::is_ascii_digit) && b[12] == b'|'
}

/// Whether the payload is a web address: `http://` or `https://` (any case) followed by at
/// least one character, with no whitespace or control character inside.
fn is_url(text: &str) -> bool {
    let lower_prefix: String = text
        .chars()
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    let rest = if lower_prefix.starts_with("https://") {
        &text[8..]
    } else if lower_prefix.starts_with("http://") {
        &text[7..]
    } else {
        return false;
    };
    !rest.is_empty() && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Says what `payload` is. Order: size limit; CCCD (a look-alike that fails is
/// [`CodeKind::CccdInvalid`], never unknown, so the citizen learns the card was misread);
/// separator sheet; receipt (any `|`-field that is a dossier code, whatever the configured
/// template); URL; unknown.
pub fn classify(payload: &str) -> CodeKind {
    let kind = classify_inner(payload);
    tracing::debug!(
        kind = kind.name(),
        len = payload.len(),
        "payload classified"
    );
    kind
}

fn classify_inner(payload: &str) -> CodeKind {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return CodeKind::TooLong {
            bytes: payload.len(),
        };
    }
    let text = payload.trim_matches(|c: char| c.is_whitespace() || c == BOM);
    if text.is_empty() {
        return CodeKind::Unknown;
    }
    if looks_like_cccd(text) {
        return match cccd::parse(payload) {
            Ok(card) => CodeKind::Cccd(card),
            Err(e) => CodeKind::CccdInvalid(e),
        };
    }
    if let Some(sep) = Separator::parse(text) {
        return CodeKind::Separator(sep);
    }
    if let Some(receipt) = receipt_in(text) {
        return CodeKind::Receipt(receipt);
    }
    if is_url(text) {
        return CodeKind::Url(text.to_owned());
    }
    CodeKind::Unknown
}
