//! A 1-bit raster in the exact byte layout of ESC/POS `GS v 0`.
//!
//! Rows are packed 8 dots per byte, most significant bit leftmost, 1 = black (burned dot). Using
//! the printer's own layout means encoding a job is a slice copy, and the emulator can decode a
//! job back into the same type without conversion.

use std::path::Path;

use crate::error::PrinterError;

/// A 1-bit image `width` dots wide; it grows downwards as a layout draws into it.
#[derive(Clone, PartialEq, Eq)]
pub struct Bitmap {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitmap({}x{})", self.width, self.height)
    }
}

impl Bitmap {
    /// A white bitmap.
    pub fn new(width: u32, height: u32) -> Self {
        let stride = width.div_ceil(8) as usize;
        Bitmap {
            width,
            height,
            data: vec![0; stride * height as usize],
        }
    }

    /// Width in dots.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in dots (rows).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.width.div_ceil(8) as usize
    }

    /// The packed rows (`GS v 0` layout).
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Rows `from..to`, packed.
    pub fn rows(&self, from: u32, to: u32) -> &[u8] {
        let s = self.stride();
        &self.data[from as usize * s..to as usize * s]
    }

    /// Makes the bitmap at least `height` rows tall (new rows white).
    pub fn ensure_height(&mut self, height: u32) {
        if height > self.height {
            self.height = height;
            self.data.resize(self.stride() * height as usize, 0);
        }
    }

    /// Appends packed rows of the same stride (the emulator uses this for each band).
    pub fn append_rows(&mut self, rows: &[u8]) {
        let s = self.stride();
        let n = rows.len() / s;
        self.data.extend_from_slice(&rows[..n * s]);
        self.height += n as u32;
    }

    /// True when the dot is black; false outside the bitmap.
    pub fn get(&self, x: u32, y: u32) -> bool {
        if x >= self.width || y >= self.height {
            return false;
        }
        let i = y as usize * self.stride() + (x / 8) as usize;
        self.data[i] & (0x80 >> (x % 8)) != 0
    }

    /// Blackens a dot; dots outside the width are ignored, rows below grow the bitmap.
    pub fn set(&mut self, x: u32, y: u32) {
        if x >= self.width {
            return;
        }
        self.ensure_height(y + 1);
        let i = y as usize * self.stride() + (x / 8) as usize;
        self.data[i] |= 0x80 >> (x % 8);
    }

    /// Fills a rectangle with black, clipped to the width.
    pub fn fill_rect(&mut self, x: u32, y: u32, w: u32, h: u32) {
        if h == 0 || w == 0 {
            return;
        }
        self.ensure_height(y + h);
        for yy in y..y + h {
            for xx in x..(x + w).min(self.width) {
                let i = yy as usize * self.stride() + (xx / 8) as usize;
                self.data[i] |= 0x80 >> (xx % 8);
            }
        }
    }

    /// Number of black dots (used by tests and the emulator to tell an empty page).
    pub fn black_dots(&self) -> u64 {
        self.data.iter().map(|b| u64::from(b.count_ones())).sum()
    }

    /// Writes the bitmap as a 1-bit grayscale PNG (white paper, black dots).
    pub fn write_png(&self, path: &Path) -> Result<(), PrinterError> {
        let out = |source| PrinterError::Output {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::create(path).map_err(out)?;
        let mut enc = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width,
            self.height.max(1),
        );
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        let to_io = |e: png::EncodingError| std::io::Error::other(e.to_string());
        let mut w = enc.write_header().map_err(to_io).map_err(out)?;
        // PNG grayscale 1 = white: invert our 1 = black.
        let mut inverted: Vec<u8> = self.data.iter().map(|b| !b).collect();
        if self.height == 0 {
            inverted = vec![0xFF; self.stride()];
        }
        w.write_image_data(&inverted).map_err(to_io).map_err(out)?;
        w.finish().map_err(to_io).map_err(out)
    }
}
