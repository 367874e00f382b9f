//! Drawing for the realistic page generator: round-nibbed strokes (printed glyphs, ballpoint
//! writing, seal rings), a small stroke font of our own (capitals, digits, a little
//! punctuation, drawn on a 4 × 6 grid), and soft "value noise" for mottled seal ink and paper
//! fibres.
//!
//! Why a stroke font and not a real typeface: the generator must give the same pixels for the
//! same seed on every machine, with nothing copied into the repository and no font file
//! needed at run time; letters drawn as strokes are legible on a rendered page (which is what
//! the stamped-page check looks at) and compress like real text (thin strokes with blurred
//! edges). Every drawing call keeps the darker of the existing and the new value, as ink on
//! paper does.

use image::GrayImage;

use super::Rng;

/// Polylines of each glyph on a 4 wide × 6 high grid (y down), `;` between polylines.
fn glyph(c: char) -> &'static str {
    match c.to_ascii_uppercase() {
        'A' => "0,6 2,0 4,6;1,3.6 3,3.6",
        'B' => "0,0 0,6 3,6 4,5 4,4 3,3 0,3;0,0 3,0 4,1 4,2 3,3",
        'C' => "4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5",
        'D' => "0,0 0,6 2.5,6 4,4.5 4,1.5 2.5,0 0,0",
        'E' => "4,0 0,0 0,6 4,6;0,3 3,3",
        'F' => "4,0 0,0 0,6;0,3 3,3",
        'G' => "4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5 4,3.5 2.5,3.5",
        'H' => "0,0 0,6;4,0 4,6;0,3 4,3",
        'I' => "1,0 3,0;2,0 2,6;1,6 3,6",
        'J' => "4,0 4,5 3,6 1,6 0,5",
        'K' => "0,0 0,6;4,0 0,3.5;1.3,2.7 4,6",
        'L' => "0,0 0,6 4,6",
        'M' => "0,6 0,0 2,3 4,0 4,6",
        'N' => "0,6 0,0 4,6 4,0",
        'O' | '0' => "1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0",
        'P' => "0,6 0,0 3,0 4,1 4,2 3,3 0,3",
        'Q' => "1,0 3,0 4,1 4,5 3,6 1,6 0,5 0,1 1,0;2.5,4.5 4,6",
        'R' => "0,6 0,0 3,0 4,1 4,2 3,3 0,3;2,3 4,6",
        'S' => "4,1 3,0 1,0 0,1 0,2 1,3 3,3 4,4 4,5 3,6 1,6 0,5",
        'T' => "0,0 4,0;2,0 2,6",
        'U' => "0,0 0,5 1,6 3,6 4,5 4,0",
        'V' => "0,0 2,6 4,0",
        'W' => "0,0 1,6 2,3 3,6 4,0",
        'X' => "0,0 4,6;4,0 0,6",
        'Y' => "0,0 2,3 4,0;2,3 2,6",
        'Z' => "0,0 4,0 0,6 4,6",
        '1' => "1,1 2,0 2,6;1,6 3,6",
        '2' => "0,1 1,0 3,0 4,1 4,2 0,6 4,6",
        '3' => "0,1 1,0 3,0 4,1 4,2 3,3 1.5,3;3,3 4,4 4,5 3,6 1,6 0,5",
        '4' => "3,6 3,0 0,4 4,4",
        '5' => "4,0 0,0 0,3 3,3 4,4 4,5 3,6 0,6",
        '6' => "4,1 3,0 1,0 0,1 0,5 1,6 3,6 4,5 4,4 3,3 0,3",
        '7' => "0,0 4,0 1.5,6",
        '8' => "1,3 0,2 0,1 1,0 3,0 4,1 4,2 3,3 1,3 0,4 0,5 1,6 3,6 4,5 4,4 3,3",
        '9' => "4,3 1,3 0,2 0,1 1,0 3,0 4,1 4,5 3,6 0,6",
        '.' => "2,5.6 2,6",
        ',' => "2,5.5 1.5,7",
        '/' => "4,0 0,6",
        ':' => "2,1.5 2,2;2,4.5 2,5",
        '-' => "1,3 3,3",
        '*' => "2,0.5 2,5.5;0,3 4,3;0.5,1 3.5,5;3.5,1 0.5,5",
        _ => "",
    }
}

/// Glyph advance in grid units (4 wide + 1.5 spacing).
pub const ADVANCE: f64 = 5.5;

/// Keeps the darker of the pixel and `v` (ink over what is there).
#[inline]
fn darken(img: &mut GrayImage, x: i64, y: i64, v: u8) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        let p = img.get_pixel_mut(x as u32, y as u32);
        if v < p.0[0] {
            p.0[0] = v;
        }
    }
}

/// A filled disc of radius `r` at (`cx`, `cy`).
pub fn disc(img: &mut GrayImage, cx: f64, cy: f64, r: f64, v: u8) {
    let r2 = r * r;
    let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
    let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
    for y in y0..=y1 {
        let dy = y as f64 + 0.5 - cy;
        for x in x0..=x1 {
            let dx = x as f64 + 0.5 - cx;
            if dx * dx + dy * dy <= r2 {
                darken(img, x, y, v);
            }
        }
    }
}

/// A stroke of round nib radius `r` from `a` to `b`.
pub fn line(img: &mut GrayImage, a: (f64, f64), b: (f64, f64), r: f64, v: u8) {
    let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
    let step = (r * 0.5).clamp(0.35, 1.5);
    let n = (len / step).ceil().max(1.0) as usize;
    for i in 0..=n {
        let t = i as f64 / n as f64;
        disc(img, a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, r, v);
    }
}

/// A filled axis-aligned rectangle.
pub fn rect(img: &mut GrayImage, x: f64, y: f64, w: f64, h: f64, v: u8) {
    for yy in y.round() as i64..(y + h).round() as i64 {
        for xx in x.round() as i64..(x + w).round() as i64 {
            darken(img, xx, yy, v);
        }
    }
}

/// How a line of text is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Pen {
    /// Cap height in pixels.
    pub height: f64,
    /// Nib radius in pixels.
    pub radius: f64,
    /// Ink level (0 black).
    pub value: u8,
    /// Slant (grid units of x per unit of height), for handwriting.
    pub slant: f64,
    /// Random displacement of each grid point in grid units (0 for print).
    pub jitter: f64,
}

/// Draws `text` with its top-left corner at (`x`, `y`), turned by `angle` radians about that
/// corner; returns the pen's end x (unturned).
pub fn text(
    img: &mut GrayImage,
    text: &str,
    x: f64,
    y: f64,
    angle: f64,
    pen: Pen,
    rng: &mut Rng,
) -> f64 {
    let s = pen.height / 6.0;
    let (sin, cos) = angle.sin_cos();
    let mut advance = 0.0;
    for c in text.chars() {
        for poly in glyph(c).split(';').filter(|p| !p.is_empty()) {
            let mut prev: Option<(f64, f64)> = None;
            for pt in poly.split(' ') {
                let mut it = pt.split(',').filter_map(|v| v.parse::<f64>().ok());
                let (Some(u), Some(v)) = (it.next(), it.next()) else {
                    continue;
                };
                let j = |rng: &mut Rng| (f64::from(rng.range(0, 1000)) / 1000.0 - 0.5) * pen.jitter;
                let u = advance + u + (6.0 - v) * pen.slant + j(rng);
                let v = v + j(rng);
                let (lx, ly) = (u * s, v * s);
                let p = (x + lx * cos - ly * sin, y + lx * sin + ly * cos);
                if let Some(q) = prev {
                    line(img, q, p, pen.radius, pen.value);
                }
                prev = Some(p);
            }
        }
        advance += ADVANCE;
    }
    x + advance * s
}

/// Draws `text` along a circle of radius `r` about (`cx`, `cy`), upright letters facing out,
/// centred on the top, spread over `sweep` radians.
pub fn text_on_circle(
    img: &mut GrayImage,
    text: &str,
    (cx, cy): (f64, f64),
    r: f64,
    sweep: f64,
    pen: Pen,
    rng: &mut Rng,
) {
    let n = text.chars().count().max(1);
    let s = pen.height / 6.0;
    for (i, c) in text.chars().enumerate() {
        let phi = -sweep / 2.0 + sweep * (i as f64 + 0.5) / n as f64;
        let (sin, cos) = phi.sin_cos();
        // The glyph's bottom centre sits on the circle; its up points away from the centre.
        let (bx, by) = (cx + r * sin, cy - r * cos);
        let (ox, oy) = (
            bx - (2.0 * s) * cos + (6.0 * s) * sin,
            by - (2.0 * s) * sin - (6.0 * s) * cos,
        );
        let one: String = c.to_string();
        text_at(img, &one, ox, oy, phi, pen, rng);
    }
}

fn text_at(img: &mut GrayImage, t: &str, x: f64, y: f64, angle: f64, pen: Pen, rng: &mut Rng) {
    text(img, t, x, y, angle, pen, rng);
}

/// A ring (annulus) of outer radius `r` and thickness `t`.
pub fn ring(img: &mut GrayImage, (cx, cy): (f64, f64), r: f64, t: f64, v: u8) {
    let (ro2, ri2) = (r * r, (r - t).max(0.0).powi(2));
    let (x0, x1) = ((cx - r).floor() as i64, (cx + r).ceil() as i64);
    let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
    for y in y0..=y1 {
        let dy = y as f64 + 0.5 - cy;
        for x in x0..=x1 {
            let dx = x as f64 + 0.5 - cx;
            let d2 = dx * dx + dy * dy;
            if d2 <= ro2 && d2 >= ri2 {
                darken(img, x, y, v);
            }
        }
    }
}

/// A filled five-pointed star of outer radius `r`.
pub fn star(img: &mut GrayImage, (cx, cy): (f64, f64), r: f64, v: u8) {
    let pts: Vec<(f64, f64)> = (0..10)
        .map(|i| {
            let a = std::f64::consts::PI * f64::from(i) / 5.0;
            let rr = if i % 2 == 0 { r } else { r * 0.4 };
            (cx + rr * a.sin(), cy - rr * a.cos())
        })
        .collect();
    let (y0, y1) = ((cy - r).floor() as i64, (cy + r).ceil() as i64);
    for y in y0..=y1 {
        let py = y as f64 + 0.5;
        // Even-odd scanline fill of the polygon.
        let mut xs: Vec<f64> = Vec::new();
        for i in 0..pts.len() {
            let (a, b) = (pts[i], pts[(i + 1) % pts.len()]);
            if (a.1 <= py && b.1 > py) || (b.1 <= py && a.1 > py) {
                xs.push(a.0 + (py - a.1) / (b.1 - a.1) * (b.0 - a.0));
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            for x in pair[0].round() as i64..pair[1].round() as i64 {
                darken(img, x, y, v);
            }
        }
    }
}

/// A ballpoint signature about `w` × `h` pixels from (`x`, `y`): loops running right, a
/// flourish under them.
pub fn signature(img: &mut GrayImage, x: f64, y: f64, w: f64, h: f64, pen: Pen, rng: &mut Rng) {
    let loops = f64::from(rng.range(3, 7));
    let phase = f64::from(rng.range(0, 628)) / 100.0;
    let wobble = f64::from(rng.range(20, 45)) / 100.0;
    let steps = 400;
    let mut prev = None;
    for i in 0..=steps {
        let t = f64::from(i) / f64::from(steps);
        let a = t * loops * std::f64::consts::TAU;
        let px = x + w * (0.85 * t + 0.08 * (a + phase).cos());
        let py = y + h * (0.45 + 0.4 * (a * 0.5 + phase).sin() * (1.0 - wobble * t) - 0.2 * t);
        if let Some(q) = prev {
            line(img, q, (px, py), pen.radius, pen.value);
        }
        prev = Some((px, py));
    }
    line(
        img,
        (x + w * 0.05, y + h * 0.95),
        (x + w * 0.95, y + h * 0.8),
        pen.radius,
        pen.value,
    );
}

/// Smooth noise in 0..1: random values on a grid of `cell` pixels, interpolated.
#[derive(Debug, Clone)]
pub struct ValueNoise {
    cell: f64,
    cols: usize,
    grid: Vec<f32>,
}

impl ValueNoise {
    /// Noise over `w` × `h` pixels.
    pub fn new(w: u32, h: u32, cell: f64, rng: &mut Rng) -> Self {
        let cols = (f64::from(w) / cell).ceil() as usize + 2;
        let rows = (f64::from(h) / cell).ceil() as usize + 2;
        let grid = (0..cols * rows)
            .map(|_| rng.range(0, 1000) as f32 / 1000.0)
            .collect();
        Self { cell, cols, grid }
    }

    /// The noise at (`x`, `y`).
    pub fn at(&self, x: f64, y: f64) -> f32 {
        let (gx, gy) = ((x / self.cell).max(0.0), (y / self.cell).max(0.0));
        let (ix, iy) = (gx as usize, gy as usize);
        let (fx, fy) = ((gx - ix as f64) as f32, (gy - iy as f64) as f32);
        let g = |cx: usize, cy: usize| {
            self.grid
                .get(cy * self.cols + cx.min(self.cols - 1))
                .copied()
                .unwrap_or(0.5)
        };
        let top = g(ix, iy) * (1.0 - fx) + g(ix + 1, iy) * fx;
        let bottom = g(ix, iy + 1) * (1.0 - fx) + g(ix + 1, iy + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}
