//! Framing of a reader's byte stream into payload lines.
//!
//! A serial code reader sends each code followed by a suffix (the terminator) that is set in the
//! reader's configuration, usually CR. Between the reader and the kiosk, bytes get lost or mangled
//! (a cable pulled mid-code, a wrong baud rate, a reader left in a test mode), and a mangled CCCD
//! must never be taken for a real one. So the framer is strict: a line is delivered only if it
//! ended with the terminator, is valid UTF-8, has no control character, and fits the length
//! limit. Everything else is dropped with a [`DropReason`] that the reader counts.
//!
//! The framer is pure (no I/O, no clock): the reader calls [`LineFramer::cut`] when the data
//! stops mid-line for too long or the device disappears.

use super::payload::Payload;

/// The suffix the reader appends to each code, as set in the reader's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// Carriage return (0x0D), the factory default of most readers.
    Cr,
    /// Line feed (0x0A).
    Lf,
    /// CR followed by LF; a lone CR or a lone LF makes the line invalid.
    CrLf,
    /// Any other single byte (for example ETX 0x03 or TAB 0x09).
    Byte(u8),
}

impl Terminator {
    /// Whether `b` is part of the terminator (and so not a forbidden control byte).
    fn contains(self, b: u8) -> bool {
        match self {
            Terminator::Cr => b == b'\r',
            Terminator::Lf => b == b'\n',
            Terminator::CrLf => b == b'\r' || b == b'\n',
            Terminator::Byte(t) => b == t,
        }
    }
}

/// Why a line was dropped instead of delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Invalid UTF-8, or a control byte other than the terminator.
    Garbage,
    /// Longer than the maximum payload length.
    Overlong,
    /// Cut off by a gap in the data or by a disconnection before its terminator arrived.
    Partial,
}

impl DropReason {
    /// Short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Garbage => "garbage",
            DropReason::Overlong => "overlong",
            DropReason::Partial => "partial",
        }
    }
}

/// One outcome of framing: a valid line, or a dropped one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A complete, valid payload (without its terminator).
    Line(Payload),
    /// A line that must not be used.
    Dropped(DropReason),
}

/// Splits a byte stream into payloads; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct LineFramer {
    terminator: Terminator,
    max_len: usize,
    buf: Vec<u8>,
    /// Bytes seen in the current line, kept or not (so that an overlong or garbage line that
    /// is then cut is still counted).
    seen: usize,
    overlong: bool,
    garbage: bool,
    /// CR seen in CR LF mode, waiting for its LF.
    pending_cr: bool,
}

impl LineFramer {
    /// A framer for `terminator` that drops lines longer than `max_len` bytes.
    ///
    /// The buffer never grows past `max_len`, whatever a faulty device sends.
    pub fn new(terminator: Terminator, max_len: usize) -> Self {
        Self {
            terminator,
            max_len,
            buf: Vec::with_capacity(max_len.min(4096)),
            seen: 0,
            overlong: false,
            garbage: false,
            pending_cr: false,
        }
    }

    /// Feeds bytes, calling `out` for each line completed or dropped, in order.
    pub fn push(&mut self, bytes: &[u8], mut out: impl FnMut(Framed)) {
        for &b in bytes {
            if let Some(f) = self.push_byte(b) {
                out(f);
            }
        }
    }

    /// Feeds bytes and returns what they completed (convenience for tests).
    pub fn push_collect(&mut self, bytes: &[u8]) -> Vec<Framed> {
        let mut v = Vec::new();
        self.push(bytes, |f| v.push(f));
        v
    }

    /// Whether a line has started and not ended.
    pub fn has_partial(&self) -> bool {
        self.seen > 0 || self.pending_cr
    }

    /// Ends the current line without its terminator (gap in the data, device lost): returns
    /// [`DropReason::Partial`] if a line had started.
    pub fn cut(&mut self) -> Option<DropReason> {
        let had = self.has_partial();
        self.reset();
        had.then_some(DropReason::Partial)
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.seen = 0;
        self.overlong = false;
        self.garbage = false;
        self.pending_cr = false;
    }

    fn push_byte(&mut self, b: u8) -> Option<Framed> {
        if self.terminator == Terminator::CrLf {
            match b {
                b'\r' => {
                    if self.pending_cr {
                        // CR CR: the first one was a stray control byte.
                        self.garbage = true;
                        self.seen += 1;
                    }
                    self.pending_cr = true;
                    return None;
                }
                b'\n' => {
                    if !self.pending_cr {
                        // A lone LF ends the line, but the line is not what the reader was set
                        // to send.
                        self.garbage = true;
                        self.seen += 1;
                    }
                    return self.finish();
                }
                _ => {
                    if self.pending_cr {
                        self.pending_cr = false;
                        self.garbage = true;
                        self.seen += 1;
                    }
                }
            }
        } else if self.terminator.contains(b) {
            return self.finish();
        }
        self.seen += 1;
        if b < 0x20 || b == 0x7f {
            self.garbage = true;
        } else if self.buf.len() >= self.max_len {
            self.overlong = true;
            self.buf.clear();
        } else if !self.overlong {
            self.buf.push(b);
        }
        None
    }

    fn finish(&mut self) -> Option<Framed> {
        let result = if self.overlong {
            Some(Framed::Dropped(DropReason::Overlong))
        } else if self.garbage {
            Some(Framed::Dropped(DropReason::Garbage))
        } else if self.buf.is_empty() {
            // A bare terminator: some readers send one on power-up. Nothing was read.
            None
        } else {
            match std::str::from_utf8(&self.buf) {
                // C1 controls (U+0080..U+009F) are valid UTF-8 but never part of a real code.
                Ok(s) if !s.chars().any(char::is_control) => {
                    Some(Framed::Line(Payload::new(s.to_owned())))
                }
                _ => Some(Framed::Dropped(DropReason::Garbage)),
            }
        };
        self.reset();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Framed {
        Framed::Line(Payload::new(s))
    }

    #[test]
    fn splits_on_cr_and_keeps_utf8() {
        let mut f = LineFramer::new(Terminator::Cr, 64);
        let out = f.push_collect("abc\rNguyễn Văn An\r".as_bytes());
        assert_eq!(out, vec![line("abc"), line("Nguyễn Văn An")]);
        assert!(!f.has_partial());
    }

    #[test]
    fn lines_may_arrive_in_pieces() {
        let mut f = LineFramer::new(Terminator::Lf, 64);
        let bytes = "xin chào\n".as_bytes();
        let mut out = Vec::new();
        for b in bytes {
            out.extend(f.push_collect(std::slice::from_ref(b)));
        }
        assert_eq!(out, vec![line("xin chào")]);
    }

    #[test]
    fn garbage_overlong_and_bare_terminators() {
        let mut f = LineFramer::new(Terminator::Cr, 5);
        let out = f.push_collect(b"\rab\x01c\r\xff\xfe\rabcdef\rabcde\r\xc2\x85\r");
        assert_eq!(
            out,
            vec![
                Framed::Dropped(DropReason::Garbage),
                Framed::Dropped(DropReason::Garbage),
                Framed::Dropped(DropReason::Overlong),
                line("abcde"),
                Framed::Dropped(DropReason::Garbage),
            ]
        );
    }

    #[test]
    fn crlf_is_strict() {
        let mut f = LineFramer::new(Terminator::CrLf, 64);
        let out = f.push_collect(b"ok\r\nlone cr\rx\r\nlone lf\nfine\r\n");
        assert_eq!(
            out,
            vec![
                line("ok"),
                Framed::Dropped(DropReason::Garbage),
                Framed::Dropped(DropReason::Garbage),
                line("fine"),
            ]
        );
    }

    #[test]
    fn custom_byte_terminator_allows_cr_nowhere() {
        let mut f = LineFramer::new(Terminator::Byte(0x03), 64);
        let out = f.push_collect(b"one\x03tw\ro\x03");
        assert_eq!(out, vec![line("one"), Framed::Dropped(DropReason::Garbage)]);
    }

    #[test]
    fn cut_drops_a_started_line_only() {
        let mut f = LineFramer::new(Terminator::Cr, 4);
        assert_eq!(f.cut(), None);
        assert!(f.push_collect(b"abcdefgh").is_empty());
        assert!(f.has_partial());
        assert_eq!(f.cut(), Some(DropReason::Partial));
        assert_eq!(f.push_collect(b"ok\r"), vec![line("ok")]);
        let mut f = LineFramer::new(Terminator::CrLf, 4);
        assert!(f.push_collect(b"\r").is_empty());
        assert_eq!(f.cut(), Some(DropReason::Partial));
    }
}
