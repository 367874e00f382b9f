//! Code readers and the classification of what they read.
//!
//! A kiosk meets QR codes in three ways, and each has its own reader here:
//!
//! - [`serial::SerialReader`]: a hand-held or presentation reader in USB-COM (CDC ACM) mode. This
//!   is the recommended set-up: the payload arrives as the exact UTF-8 bytes of the code, so the
//!   Vietnamese on a CCCD card survives.
//! - [`wedge::WedgeReader`]: a reader in USB keyboard (HID) mode, read through evdev and grabbed
//!   so that it never types into the kiosk UI. Only ASCII survives a US keyboard layout; see
//!   [`wedge`] for the reader settings that carry Vietnamese.
//! - [`frame::FrameDecoder`]: QR codes in an 8-bit grayscale camera frame or scanned page,
//!   several per image (receipts held to the camera, separator sheets in a feeder).
//!
//! Readers frame the byte stream into lines with [`line::LineFramer`] (serial) or
//! [`wedge::KeyDecoder`] (keyboard), both pure and tested without hardware. Whatever reaches the
//! application is a [`Payload`]; [`classify::classify`] then says what it is: a CCCD card, one of
//! our receipts, a separator sheet, a URL, or unknown.
//!
//! Payloads carry personal data (a CCCD QR holds name, birth date and address), so nothing in
//! this module logs one in clear: [`Payload`]'s `Debug` prints only its length, and logs name the
//! kind and the length.

pub mod classify;
mod error;
pub mod frame;
pub mod line;
pub mod serial;
pub mod synth;
pub mod wedge;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

pub use classify::{classify, CodeKind, MAX_PAYLOAD_BYTES};
pub use error::CodeReaderError;
pub use frame::{DecodedCode, FrameDecoder, FrameDecoderConfig, GrayFrame};
pub use line::{DropReason, Framed, LineFramer, Terminator};
pub use serial::{SerialConfig, SerialReader};
pub use wedge::{KeyDecoder, WedgeConfig, WedgeReader};

/// The text of one code, as read.
///
/// A newtype rather than a `String` so that printing it by accident (`{:?}` in a log line or a
/// panic message) shows only its length: a CCCD payload is personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Payload(String);

impl Payload {
    /// Wraps text that a reader (or a test) produced.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text, for classification or display to the citizen who scanned it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Length in bytes (what logs may show).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the payload is empty (readers never deliver one, but a frame may hold an empty
    /// QR code).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload(<{} bytes>)", self.0.len())
    }
}

/// What a serial or keyboard-wedge reader reports to the application.
#[derive(Debug)]
pub enum ReaderEvent {
    /// The device was opened (at start or after it came back); codes can be read now. The UI
    /// may use this to hide a "reader unplugged" warning.
    Connected,
    /// The device could not be opened or was lost. The reader keeps retrying on its own; this is
    /// reported once per outage, not on every retry, so that it can be shown to a technician.
    Disconnected(CodeReaderError),
    /// One complete, valid payload.
    Code(Payload),
}

/// Counters of a reader since it started, for the technician's status screen and for tests.
///
/// Dropped lines are counted rather than delivered: a half-read or corrupted CCCD must never
/// fill in a citizen's dossier, but a rising count tells a technician the cable, the baud rate
/// or the reader's suffix setting is wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Valid payloads delivered.
    pub delivered: u64,
    /// Lines dropped for invalid UTF-8 or control characters.
    pub garbage: u64,
    /// Lines dropped for exceeding the maximum payload length.
    pub overlong: u64,
    /// Lines dropped because they were cut off by a gap in the data or by a disconnection.
    pub partial: u64,
    /// Times the device was opened again after being lost.
    pub reconnects: u64,
}

/// Shared atomic counters behind [`ReaderStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    delivered: AtomicU64,
    garbage: AtomicU64,
    overlong: AtomicU64,
    partial: AtomicU64,
    reconnects: AtomicU64,
}

impl Counters {
    pub(crate) fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        let counter = match reason {
            DropReason::Garbage => &self.garbage,
            DropReason::Overlong => &self.overlong,
            DropReason::Partial => &self.partial,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ReaderStats {
        ReaderStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            garbage: self.garbage.load(Ordering::Relaxed),
            overlong: self.overlong.load(Ordering::Relaxed),
            partial: self.partial.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_debug_shows_only_the_length() {
        let p = Payload::new(motcua_domain::cccd::SAMPLE_PAYLOAD);
        let shown = format!("{p:?}");
        assert!(!shown.contains("0791"), "{shown}");
        assert!(!shown.contains("Nguy"), "{shown}");
        assert!(!shown.contains("Phượng"), "{shown}");
        assert!(shown.contains(&p.len().to_string()));
    }
}
