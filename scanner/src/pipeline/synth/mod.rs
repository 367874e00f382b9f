//! Synthetic scanned pages for tests and `bench-pipeline`: text-like pages numbered by a row of
//! marks, blank backs, and separator sheets.
//!
//! The page number is written as 10 square marks (bit 0 first, filled = 1) along the top left,
//! 0.25 inch wide every 0.35 inch from (0.4 in, 0.4 in), so a rendering of the PDF at any
//! resolution tells which page landed where ([`read_page_mark`]).
//!
//! These are the **clean** set: white-ish paper, black text, nothing else. The realistic set,
//! what a commune desk's scanner really gives (grey paper, bleed-through, holes, backing,
//! seals, ballpoint, near-blank pages), is [`realistic`].

mod documents;
pub mod realistic;
pub mod strokes;

use image::{GrayImage, Luma};

/// Number of mark squares (pages 1–1023).
pub const MARK_BITS: u32 = 10;

/// Deterministic xorshift64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u32, hi: u32) -> u32 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() >> 33) as u32 % (hi - lo)
    }
}

/// Size in pixels of an A4 sheet (210 × 297 mm) at `dpi`.
pub fn a4_pixels(dpi: u32) -> (u32, u32) {
    (
        (210.0 / 25.4 * dpi as f64).round() as u32,
        (297.0 / 25.4 * dpi as f64).round() as u32,
    )
}

/// Paper: `level` with ± `amplitude` grey levels of noise.
pub fn paper(width: u32, height: u32, level: u8, amplitude: u8, seed: u64) -> GrayImage {
    let mut rng = Rng::new(seed);
    let span = u64::from(amplitude) * 2 + 1;
    GrayImage::from_fn(width, height, |_, _| {
        let d = (rng.next_u64() >> 40) % span;
        Luma([(i32::from(level) + d as i32 - i32::from(amplitude)).clamp(0, 255) as u8])
    })
}

fn fill(img: &mut GrayImage, x0: u32, y0: u32, w: u32, h: u32, level: u8) {
    for y in y0..(y0 + h).min(img.height()) {
        for x in x0..(x0 + w).min(img.width()) {
            img.put_pixel(x, y, Luma([level]));
        }
    }
}

/// Draws the page-number marks (see the [module documentation](self)).
pub fn draw_page_mark(img: &mut GrayImage, dpi: u32, number: u32) {
    let d = dpi as f64;
    for bit in 0..MARK_BITS {
        let x = ((0.4 + 0.35 * f64::from(bit)) * d) as u32;
        let y = (0.4 * d) as u32;
        let side = (0.25 * d) as u32;
        if number >> bit & 1 == 1 {
            fill(img, x, y, side, side, 20);
        } else {
            // An outline, so an empty bit still shows where it is.
            let t = (dpi / 100).max(1);
            fill(img, x, y, side, t, 20);
            fill(img, x, y + side - t, side, t, 20);
            fill(img, x, y, t, side, 20);
            fill(img, x + side - t, y, t, side, 20);
        }
    }
}

/// Reads the page number from a rendering at `dpi` (the centre of each mark: dark = 1).
pub fn read_page_mark(img: &GrayImage, dpi: u32) -> u32 {
    let d = dpi as f64;
    (0..MARK_BITS)
        .filter(|&bit| {
            let x = ((0.4 + 0.35 * f64::from(bit) + 0.125) * d) as u32;
            let y = ((0.4 + 0.125) * d) as u32;
            x < img.width() && y < img.height() && img.get_pixel(x, y).0[0] < 128
        })
        .fold(0, |n, bit| n | 1 << bit)
}

/// A grey A4 page at `dpi` that looks like printed text to a compressor and a blank detector:
/// lines of "words" made of glyph-like vertical strokes (about 12 pt text, full page), the page
/// mark, the blur of scanner optics ([`optics_blur`]) and paper noise.
pub fn text_page(dpi: u32, number: u32, seed: u64) -> GrayImage {
    let (w, h) = a4_pixels(dpi);
    let mut img = GrayImage::from_pixel(w, h, Luma([238]));
    draw_page_mark(&mut img, dpi, number);
    let mut rng = Rng::new(seed ^ 0xA5A5);
    let px = |inch: f64| (inch * dpi as f64) as u32;
    let (left, right) = (px(1.0), w - px(0.8));
    let line_pitch = px(0.22);
    let x_height = px(0.07).max(3);
    let stroke = (dpi / 100).max(1);
    let mut y = px(1.1);
    let bottom = h - px(1.0);
    while y + line_pitch < bottom {
        // Paragraph breaks and short last lines.
        if rng.range(0, 12) == 0 {
            y += line_pitch;
            continue;
        }
        let line_end = if rng.range(0, 6) == 0 {
            left + (right - left) * rng.range(20, 80) / 100
        } else {
            right
        };
        let mut x = left;
        while x < line_end {
            let word = rng.range(px(0.15), px(0.9)).min(line_end - x);
            let end = x + word;
            let mut gx = x;
            while gx + stroke < end {
                let tall = rng.range(0, 4) == 0;
                let top = if tall { y } else { y + x_height / 2 };
                let height = if tall { x_height * 3 / 2 } else { x_height };
                fill(&mut img, gx, top, stroke, height, rng.range(15, 60) as u8);
                if rng.range(0, 3) == 0 {
                    // A bowl or a bar across the glyph.
                    let glyph = rng.range(3 * stroke, 6 * stroke);
                    fill(&mut img, gx, y + x_height / 2, glyph, stroke, 40);
                    fill(
                        &mut img,
                        gx,
                        y + x_height * 3 / 2 - stroke,
                        glyph,
                        stroke,
                        40,
                    );
                }
                gx += rng.range(3 * stroke, 6 * stroke);
            }
            x = end + px(0.08);
        }
        y += line_pitch;
    }
    optics_blur(&mut img);
    crate::codes::synth::add_noise(&mut img, 4, seed);
    img
}

/// A [1 2 1] / 4 filter across and down: edges spread over about 2 pixels, as a scanner's
/// optics spread them (a synthetic page with perfectly sharp edges compresses much worse than
/// any scan).
pub fn optics_blur(img: &mut GrayImage) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 3 || h < 3 {
        return;
    }
    let px: &mut [u8] = img;
    for row in px.chunks_exact_mut(w) {
        let mut prev = row[0];
        for x in 1..w - 1 {
            let cur = row[x];
            row[x] = ((u16::from(prev) + 2 * u16::from(cur) + u16::from(row[x + 1]) + 2) / 4) as u8;
            prev = cur;
        }
    }
    let mut prev_row = px[..w].to_vec();
    for y in 1..h - 1 {
        for x in 0..w {
            let cur = px[y * w + x];
            let next = px[(y + 1) * w + x];
            px[y * w + x] =
                ((u16::from(prev_row[x]) + 2 * u16::from(cur) + u16::from(next) + 2) / 4) as u8;
            prev_row[x] = cur;
        }
    }
}

/// The empty back of a sheet: off-white paper, noise, a few dust specks and faint bleed-through.
pub fn blank_back(dpi: u32, seed: u64) -> GrayImage {
    let (w, h) = a4_pixels(dpi);
    let mut img = paper(w, h, 232, 10, seed);
    let mut rng = Rng::new(seed ^ 0x5A5A);
    for _ in 0..30 {
        let (x, y) = (rng.range(0, w - 3), rng.range(0, h - 3));
        fill(&mut img, x, y, 2, 2, 60);
    }
    for _ in 0..40 {
        let (x, y) = (rng.range(dpi, w - 2 * dpi), rng.range(dpi, h - dpi));
        fill(&mut img, x, y, rng.range(dpi / 5, dpi), dpi / 15, 205);
    }
    img
}

/// A separator sheet: `payload` as a QR code (`module` pixels per module) in the upper half of
/// an A4 page, plus a printed-looking title block and the page mark.
pub fn separator_sheet(
    dpi: u32,
    number: u32,
    payload: &str,
    module: u32,
    seed: u64,
) -> Result<GrayImage, qrcode::types::QrError> {
    let (w, h) = a4_pixels(dpi);
    let mut img = paper(w, h, 238, 4, seed);
    draw_page_mark(&mut img, dpi, number);
    let qr = crate::codes::synth::qr_image(payload, module)?;
    let x = (w.saturating_sub(qr.width())) / 2;
    crate::codes::synth::paste(&mut img, &qr, x, dpi * 2);
    fill(
        &mut img,
        dpi,
        dpi * 2 + qr.height() + dpi / 2,
        w - 2 * dpi,
        dpi / 6,
        30,
    );
    Ok(img)
}

/// A grey A4 page at `dpi` with a photograph-like picture (smooth gradients and soft blobs over
/// the middle half of the page), the page mark and paper noise: what must stay JPEG.
pub fn photo_page(dpi: u32, number: u32, seed: u64) -> GrayImage {
    let (w, h) = a4_pixels(dpi);
    let mut img = paper(w, h, 238, 3, seed);
    draw_page_mark(&mut img, dpi, number);
    let (x0, y0, x1, y1) = (w / 6, h / 4, w * 5 / 6, h * 3 / 4);
    let mut rng = Rng::new(seed ^ 0x3C3C);
    let blobs: Vec<(f64, f64, f64, f64)> = (0..6)
        .map(|_| {
            (
                f64::from(rng.range(x0, x1)),
                f64::from(rng.range(y0, y1)),
                f64::from(rng.range(dpi / 2, dpi * 2)),
                f64::from(rng.range(0, 80)) - 40.0,
            )
        })
        .collect();
    for y in y0..y1 {
        for x in x0..x1 {
            let (fx, fy) = (f64::from(x - x0), f64::from(y - y0));
            let mut v = 90.0 + 60.0 * fx / f64::from(x1 - x0) + 30.0 * (fy / 97.0).sin();
            for &(bx, by, r, amp) in &blobs {
                let d2 = (f64::from(x) - bx).powi(2) + (f64::from(y) - by).powi(2);
                v += amp * (-d2 / (r * r)).exp();
            }
            img.put_pixel(x, y, Luma([v.clamp(0.0, 255.0) as u8]));
        }
    }
    img
}

/// A colour A4 page: [`text_page`] in RGB with a red round stamp (about 4 cm) at the lower
/// right, as on certified copies.
pub fn stamped_page(dpi: u32, number: u32, seed: u64) -> image::RgbImage {
    let gray = text_page(dpi, number, seed);
    let mut img = image::RgbImage::from_fn(gray.width(), gray.height(), |x, y| {
        let v = gray.get_pixel(x, y).0[0];
        image::Rgb([v, v, v.saturating_sub(4)])
    });
    let (cx, cy) = (
        i64::from(img.width() * 3 / 4),
        i64::from(img.height() * 4 / 5),
    );
    let r = i64::from(dpi) * 4 / 5;
    let ring = i64::from(dpi / 15).max(2);
    for y in cy - r..=cy + r {
        for x in cx - r..=cx + r {
            let d = (((x - cx).pow(2) + (y - cy).pow(2)) as f64).sqrt() as i64;
            if (d <= r && d >= r - ring) || d <= r / 3 {
                if let (Ok(px), Ok(py)) = (u32::try_from(x), u32::try_from(y)) {
                    if px < img.width() && py < img.height() {
                        img.put_pixel(px, py, image::Rgb([200, 30, 40]));
                    }
                }
            }
        }
    }
    img
}
