//! [`Payload`], the text of one code: a newtype so personal data never reaches a log by accident.
//!
//! Kept in its own module because every reader (serial, keyboard wedge, camera frames) and the
//! line framer produce it, and none of them should depend on another for it.

use std::fmt;

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
