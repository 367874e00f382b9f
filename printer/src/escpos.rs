//! ESC/POS: the few commands a raster slip needs, and a decoder for the emulator.
//!
//! Why not the `escpos` crate: its image path takes an image *file* (decoded with the `image`
//! crate and dithered) and sends it as one `GS v 0` block, and its status API is tied to its own
//! drivers. We already hold a 1-bit raster in `GS v 0` layout, must split it into bands so that
//! slow printers with small buffers cope, and need status over our own transports with our own
//! timeouts. That is about a hundred lines, written here, with the decoder next to the encoder so
//! both stay in step.

use crate::bitmap::Bitmap;
use crate::status::DLE_EOT;

/// `ESC @`: reset the printer's modes (not its paper position).
pub const INIT: [u8; 2] = [0x1B, 0x40];

/// How a job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// `GS V 1`: partial cut, the slip hangs on a tab (kiosk printers with a presenter).
    Partial,
    /// `GS V 0`: full cut.
    Full,
    /// No cut (printers without a cutter; the citizen tears the slip off).
    None,
}

/// Encoding options; the defaults suit common 58/80 mm kiosk printers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Rows per `GS v 0` band: bands of at most 256 rows keep slow printers' buffers from
    /// overflowing and let a real-time status query get through between bands.
    pub band_rows: u16,
    /// Dots of paper fed after the image so the cut does not go through the last line.
    pub feed_dots: u8,
    /// The cut at the end.
    pub cut: Cut,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            band_rows: 256,
            feed_dots: 120,
            cut: Cut::Partial,
        }
    }
}

/// Encodes a raster as a complete job: `ESC @`, the bands, feed, cut.
pub fn encode_raster(bitmap: &Bitmap, opts: &EncodeOptions) -> Vec<u8> {
    let stride = bitmap.stride();
    let band = u32::from(opts.band_rows.max(1));
    let bands = bitmap.height().div_ceil(band) as usize;
    let mut out = Vec::with_capacity(bitmap.data().len() + bands * 8 + 16);
    out.extend_from_slice(&INIT);
    let mut y = 0;
    while y < bitmap.height() {
        let rows = band.min(bitmap.height() - y);
        out.extend_from_slice(&[0x1D, 0x76, 0x30, 0x00]);
        out.extend_from_slice(&(stride as u16).to_le_bytes());
        out.extend_from_slice(&(rows as u16).to_le_bytes());
        out.extend_from_slice(bitmap.rows(y, y + rows));
        y += rows;
    }
    if opts.feed_dots > 0 {
        out.extend_from_slice(&[0x1B, 0x4A, opts.feed_dots]);
    }
    match opts.cut {
        Cut::Partial => out.extend_from_slice(&[0x1D, 0x56, 0x01]),
        Cut::Full => out.extend_from_slice(&[0x1D, 0x56, 0x00]),
        Cut::None => {}
    }
    out
}

/// The queries for the four status bytes, in the order [`crate::Status::from_bytes`] takes them.
pub fn status_queries() -> [u8; 12] {
    let mut q = [0u8; 12];
    for (i, n) in [1u8, 2, 3, 4].iter().enumerate() {
        q[i * 3..i * 3 + 2].copy_from_slice(&DLE_EOT);
        q[i * 3 + 2] = *n;
    }
    q
}

/// A command recognised in a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `ESC @`.
    Init,
    /// `DLE EOT n`: answer with a status byte now.
    StatusQuery(u8),
    /// `GS v 0`: a band of raster rows, `width_bytes` bytes each.
    Raster {
        /// Bytes per row.
        width_bytes: u16,
        /// Packed rows.
        rows: Vec<u8>,
    },
    /// Paper feed of this many dots (`ESC J n`, `ESC d n`, `LF`).
    Feed(u32),
    /// `GS V`: cut; the slip is finished.
    Cut,
    /// Any other byte or command, skipped.
    Other(u8),
}

/// Dots fed by one text line (`LF`, `ESC d 1`): 1/6 inch at 203 dpi.
const LINE_DOTS: u32 = 34;

/// Incremental ESC/POS parser: feed it what arrives, take out whole commands.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole command, or `None` when more bytes are needed.
    pub fn next_command(&mut self) -> Option<Command> {
        let b = &self.buf;
        let (cmd, used) = match *b.first()? {
            0x10 => match b.get(1)? {
                0x04 => (Command::StatusQuery(*b.get(2)?), 3),
                _ => (Command::Other(0x10), 1),
            },
            0x1B => match b.get(1)? {
                0x40 => (Command::Init, 2),
                0x4A => (Command::Feed(u32::from(*b.get(2)?)), 3),
                0x64 => (Command::Feed(u32::from(*b.get(2)?) * LINE_DOTS), 3),
                0x61 | 0x21 | 0x45 | 0x33 => (Command::Other(b[1]), 3),
                _ => (Command::Other(0x1B), 1),
            },
            0x1D => match b.get(1)? {
                0x76 => {
                    if b.len() < 8 {
                        return None;
                    }
                    let xb = u16::from_le_bytes([b[4], b[5]]);
                    let yr = u16::from_le_bytes([b[6], b[7]]);
                    let n = xb as usize * yr as usize;
                    if b.len() < 8 + n {
                        return None;
                    }
                    (
                        Command::Raster {
                            width_bytes: xb,
                            rows: b[8..8 + n].to_vec(),
                        },
                        8 + n,
                    )
                }
                0x56 => {
                    let m = *b.get(2)?;
                    if matches!(m, 65 | 66 | 97 | 98 | 103 | 104) {
                        b.get(3)?;
                        (Command::Cut, 4)
                    } else {
                        (Command::Cut, 3)
                    }
                }
                _ => (Command::Other(0x1D), 1),
            },
            0x0A => (Command::Feed(LINE_DOTS), 1),
            other => (Command::Other(other), 1),
        };
        self.buf.drain(..used);
        Some(cmd)
    }
}

/// Decodes a whole job back into its pages (one per cut): used by tests and the emulator.
pub fn decode_pages(bytes: &[u8], width: u32) -> Vec<Bitmap> {
    let mut d = Decoder::new();
    d.push(bytes);
    let mut pages = Vec::new();
    let mut page = Bitmap::new(width, 0);
    while let Some(c) = d.next_command() {
        match c {
            Command::Raster { width_bytes, rows } => append_band(&mut page, width_bytes, &rows),
            Command::Feed(n) => page.ensure_height(page.height() + n),
            Command::Cut => pages.push(std::mem::replace(&mut page, Bitmap::new(width, 0))),
            _ => {}
        }
    }
    pages
}

/// Appends a band whose rows may be narrower or wider than the page (left aligned, clipped).
pub fn append_band(page: &mut Bitmap, width_bytes: u16, rows: &[u8]) {
    let src = width_bytes as usize;
    let dst = page.stride();
    if src == 0 {
        return;
    }
    if src == dst {
        page.append_rows(rows);
        return;
    }
    let mut fixed = Vec::with_capacity(rows.len() / src * dst);
    for row in rows.chunks_exact(src) {
        let n = src.min(dst);
        fixed.extend_from_slice(&row[..n]);
        fixed.extend(std::iter::repeat_n(0, dst - n));
    }
    page.append_rows(&fixed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_round_trip() {
        let mut b = Bitmap::new(384, 700);
        b.fill_rect(10, 10, 50, 600);
        b.set(383, 699);
        let opts = EncodeOptions {
            feed_dots: 0,
            ..EncodeOptions::default()
        };
        let bytes = encode_raster(&b, &opts);
        // 700 rows in bands of 256: three GS v 0 headers.
        assert_eq!(
            bytes
                .windows(3)
                .filter(|w| w == &[0x1D, 0x76, 0x30])
                .count(),
            3
        );
        let pages = decode_pages(&bytes, 384);
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0], b);
    }
}
