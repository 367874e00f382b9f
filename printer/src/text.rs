//! Vietnamese text drawn into a [`Bitmap`]: NFC normalisation, shaping, word wrap.
//!
//! Printers' Vietnamese code pages differ by model and often print tone marks beside the letter,
//! so every character is drawn from a TrueType font into the raster. Text is NFC-normalised first
//! so that "ễ" typed as e + circumflex + tilde (as some keyboards and CCCD QR payloads deliver it)
//! becomes the font's single precomposed glyph; `rustybuzz` shapes the result, which places any
//! combining mark NFC could not compose and applies kerning. Lines wrap at spaces (Vietnamese
//! addresses are long); a word longer than a line is split rather than clipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ab_glyph_rasterizer::{point, Rasterizer};
use rustybuzz::ttf_parser::{GlyphId, OutlineBuilder};
use unicode_normalization::UnicodeNormalization;

use crate::bitmap::Bitmap;
use crate::error::PrinterError;

/// Where the fonts come from. Defaults to DejaVu Sans from Debian's `fonts-dejavu-core`, which
/// covers every Vietnamese precomposed letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontConfig {
    /// Regular weight.
    pub regular: PathBuf,
    /// Bold weight (headings, the dossier code, the ticket number).
    pub bold: PathBuf,
}

/// Default regular font (Debian `fonts-dejavu-core`).
pub const DEFAULT_REGULAR_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// Default bold font (Debian `fonts-dejavu-core`).
pub const DEFAULT_BOLD_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

impl Default for FontConfig {
    fn default() -> Self {
        FontConfig {
            regular: DEFAULT_REGULAR_FONT.into(),
            bold: DEFAULT_BOLD_FONT.into(),
        }
    }
}

/// Vietnamese letters a font must have (checked at load so a wrong font fails at start-up, not
/// on a citizen's receipt).
const VIETNAMESE_PROBE: &str =
    "ĂÂĐÊÔƠƯăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ";

/// One loaded font file.
struct FontData {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl FontData {
    fn load(path: &Path) -> Result<Self, PrinterError> {
        let bytes = std::fs::read(path).map_err(|source| PrinterError::FontRead {
            path: path.to_owned(),
            source,
        })?;
        let face =
            rustybuzz::Face::from_slice(&bytes, 0).ok_or_else(|| PrinterError::FontParse {
                path: path.to_owned(),
            })?;
        let missing: String = VIETNAMESE_PROBE
            .chars()
            .filter(|c| face.glyph_index(*c).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(PrinterError::FontCoverage {
                path: path.to_owned(),
                missing,
            });
        }
        Ok(FontData {
            path: path.to_owned(),
            bytes,
        })
    }

    fn face(&self) -> rustybuzz::Face<'_> {
        // Parsed successfully in `load`; the bytes never change.
        rustybuzz::Face::from_slice(&self.bytes, 0)
            .unwrap_or_else(|| unreachable!("font {} parsed at load time", self.path.display()))
    }
}

/// Coverage from which a dot is burned. Below one half so that thin strokes — the curl of the
/// hook above (ả, ỉ, ủ), which at small sizes otherwise prints like an acute (á) — survive.
const INK_THRESHOLD: f32 = 0.3;

/// A glyph's coverage mask at one size, relative to the pen position on the baseline.
struct GlyphMask {
    left: i32,
    top: i32,
    width: u32,
    height: u32,
    /// 1 = black, row-major.
    dots: Vec<bool>,
}

type GlyphKey = (bool, u16, u32);

/// The two fonts plus a cache of rasterised glyphs, shared by all layouts of a kiosk.
#[derive(Clone)]
pub struct Fonts {
    regular: Arc<FontData>,
    bold: Arc<FontData>,
    cache: Arc<Mutex<HashMap<GlyphKey, Arc<GlyphMask>>>>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Fonts({}, {})",
            self.regular.path.display(),
            self.bold.path.display()
        )
    }
}

/// A piece of a paragraph in one weight.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The text (any normalisation form).
    pub text: &'a str,
    /// Bold weight.
    pub bold: bool,
}

/// Regular-weight run.
pub fn r(text: &str) -> Run<'_> {
    Run { text, bold: false }
}

/// Bold run.
pub fn b(text: &str) -> Run<'_> {
    Run { text, bold: true }
}

/// Horizontal alignment of each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Flush left.
    Left,
    /// Centred.
    Center,
    /// Flush right.
    Right,
}

/// How a paragraph is set.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Font size in dots (pixels at the printer's resolution).
    pub size: f32,
    /// Alignment.
    pub align: Align,
    /// Indent of the first line, dots.
    pub indent_first: u32,
    /// Indent of the following lines, dots (hanging indent for list items).
    pub indent_rest: u32,
}

impl Style {
    /// Left-aligned, no indent.
    pub fn left(size: f32) -> Self {
        Style {
            size,
            align: Align::Left,
            indent_first: 0,
            indent_rest: 0,
        }
    }

    /// Centred.
    pub fn center(size: f32) -> Self {
        Style {
            size,
            align: Align::Center,
            indent_first: 0,
            indent_rest: 0,
        }
    }
}

struct ShapedGlyph {
    bold: bool,
    id: u16,
    /// Advance and offsets in font units.
    advance: i32,
    x_offset: i32,
    y_offset: i32,
    space: bool,
    newline: bool,
}

impl Fonts {
    /// Loads the two fonts and checks that they cover Vietnamese.
    pub fn load(config: &FontConfig) -> Result<Self, PrinterError> {
        Ok(Fonts {
            regular: Arc::new(FontData::load(&config.regular)?),
            bold: Arc::new(FontData::load(&config.bold)?),
            cache: Arc::default(),
        })
    }

    fn data(&self, bold: bool) -> &FontData {
        if bold {
            &self.bold
        } else {
            &self.regular
        }
    }

    fn shape(&self, runs: &[Run<'_>]) -> Vec<ShapedGlyph> {
        let mut out = Vec::new();
        for run in runs {
            let text: String = run.text.nfc().collect();
            let face = self.data(run.bold).face();
            let mut buf = rustybuzz::UnicodeBuffer::new();
            buf.push_str(&text);
            buf.set_direction(rustybuzz::Direction::LeftToRight);
            buf.guess_segment_properties();
            let shaped = rustybuzz::shape(&face, &[], buf);
            for (info, pos) in shaped.glyph_infos().iter().zip(shaped.glyph_positions()) {
                let c = text
                    .get(info.cluster as usize..)
                    .and_then(|s| s.chars().next());
                out.push(ShapedGlyph {
                    bold: run.bold,
                    id: info.glyph_id as u16,
                    advance: pos.x_advance,
                    x_offset: pos.x_offset,
                    y_offset: pos.y_offset,
                    space: c.is_some_and(|c| c.is_whitespace()),
                    newline: c == Some('\n'),
                });
            }
        }
        out
    }

    fn scale(&self, size: f32) -> f32 {
        size / f32::from(self.regular.face().units_per_em() as u16)
    }

    /// Width in dots of the runs set on one line at `size`.
    pub fn measure(&self, runs: &[Run<'_>], size: f32) -> f32 {
        let units: i32 = self.shape(runs).iter().map(|g| g.advance).sum();
        units as f32 * self.scale(size)
    }

    /// The largest size ≤ `max` (and ≥ `min`) at which the runs fit on one line of `width` dots.
    pub fn fit_size(&self, runs: &[Run<'_>], width: u32, max: f32, min: f32) -> f32 {
        let at_max = self.measure(runs, max);
        if at_max <= width as f32 {
            max
        } else {
            (max * width as f32 / at_max).floor().max(min)
        }
    }

    /// Line height in dots at `size`: room for stacked Vietnamese marks on capitals (Ễ, Ỗ).
    pub fn line_height(&self, size: f32) -> u32 {
        (size * 1.32).ceil() as u32
    }

    fn glyph(&self, bold: bool, id: u16, size: f32) -> Arc<GlyphMask> {
        let key = (bold, id, (size * 8.0) as u32);
        if let Ok(cache) = self.cache.lock() {
            if let Some(m) = cache.get(&key) {
                return Arc::clone(m);
            }
        }
        let mask = Arc::new(self.rasterize(bold, id, size));
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, Arc::clone(&mask));
        }
        mask
    }

    fn rasterize(&self, bold: bool, id: u16, size: f32) -> GlyphMask {
        let face = self.data(bold).face();
        let scale = self.scale(size);
        let empty = GlyphMask {
            left: 0,
            top: 0,
            width: 0,
            height: 0,
            dots: Vec::new(),
        };
        let Some(bbox) = face.glyph_bounding_box(GlyphId(id)) else {
            return empty;
        };
        let x0 = (f32::from(bbox.x_min) * scale).floor();
        let y0 = (f32::from(bbox.y_max) * scale).ceil();
        let w = ((f32::from(bbox.x_max) * scale).ceil() - x0) as usize + 1;
        let h = (y0 - (f32::from(bbox.y_min) * scale).floor()) as usize + 1;
        let mut b = OutlineToRaster {
            r: Rasterizer::new(w, h),
            scale,
            x0,
            y0,
            start: point(0.0, 0.0),
            last: point(0.0, 0.0),
        };
        if face.outline_glyph(GlyphId(id), &mut b).is_none() {
            return empty;
        }
        let mut dots = vec![false; w * h];
        b.r.for_each_pixel_2d(|x, y, c| {
            if c >= INK_THRESHOLD {
                dots[y as usize * w + x as usize] = true;
            }
        });
        GlyphMask {
            left: x0 as i32,
            top: -(y0 as i32),
            width: w as u32,
            height: h as u32,
            dots,
        }
    }

    /// Sets a paragraph into `bitmap` starting at row `y`, wrapping within `x..x+width`;
    /// returns the row below the last line.
    pub fn paragraph(
        &self,
        bitmap: &mut Bitmap,
        x: u32,
        y: u32,
        width: u32,
        runs: &[Run<'_>],
        style: &Style,
    ) -> u32 {
        let glyphs = self.shape(runs);
        let scale = self.scale(style.size);
        let line_h = self.line_height(style.size);
        let ascent = (style.size * 1.08).round() as i32;
        let mut y = y;
        let mut start = 0;
        let mut first = true;
        while start < glyphs.len() {
            let indent = if first {
                style.indent_first
            } else {
                style.indent_rest
            };
            let avail = width.saturating_sub(indent) as f32 / scale;
            // Find where this line ends.
            let mut w = 0f32;
            let mut end = start;
            let mut last_space = None;
            let mut next = glyphs.len();
            let mut i = start;
            while i < glyphs.len() {
                let g = &glyphs[i];
                if g.newline {
                    end = i;
                    next = i + 1;
                    break;
                }
                if g.space {
                    last_space = Some(i);
                }
                if !g.space && w + g.advance as f32 > avail && i > start {
                    match last_space {
                        Some(s) if s > start => {
                            end = s;
                            next = s + 1;
                        }
                        _ => {
                            end = i;
                            next = i;
                        }
                    }
                    break;
                }
                w += g.advance as f32;
                i += 1;
                end = i;
            }
            // Skip spaces at the wrap point, drop trailing spaces from the width.
            while next < glyphs.len() && glyphs[next].space && !glyphs[next].newline {
                next += 1;
            }
            let mut line_end = end;
            while line_end > start && glyphs[line_end - 1].space {
                line_end -= 1;
            }
            let line_w: i32 = glyphs[start..line_end].iter().map(|g| g.advance).sum();
            let line_w = (line_w as f32 * scale).round() as u32;
            let avail_px = width.saturating_sub(indent);
            let lx = x
                + indent
                + match style.align {
                    Align::Left => 0,
                    Align::Center => avail_px.saturating_sub(line_w) / 2,
                    Align::Right => avail_px.saturating_sub(line_w),
                };
            let baseline = y as i32 + ascent;
            let mut pen = 0f32;
            for g in &glyphs[start..line_end] {
                if !g.space {
                    let m = self.glyph(g.bold, g.id, style.size);
                    let gx =
                        lx as i32 + ((pen + g.x_offset as f32) * scale).round() as i32 + m.left;
                    let gy = baseline - (g.y_offset as f32 * scale).round() as i32 + m.top;
                    blit(bitmap, &m, gx, gy);
                }
                pen += g.advance as f32;
            }
            y += line_h;
            first = false;
            start = next;
        }
        y
    }
}

fn blit(bitmap: &mut Bitmap, m: &GlyphMask, gx: i32, gy: i32) {
    if m.width == 0 {
        return;
    }
    bitmap.ensure_height((gy + m.height as i32).max(0) as u32);
    for yy in 0..m.height {
        let py = gy + yy as i32;
        if py < 0 {
            continue;
        }
        let row = &m.dots[(yy * m.width) as usize..((yy + 1) * m.width) as usize];
        for (xx, on) in row.iter().enumerate() {
            let px = gx + xx as i32;
            if *on && px >= 0 {
                bitmap.set(px as u32, py as u32);
            }
        }
    }
}

/// Feeds a TrueType outline (font units, y up) to the coverage rasterizer (pixels, y down).
struct OutlineToRaster {
    r: Rasterizer,
    scale: f32,
    x0: f32,
    y0: f32,
    start: ab_glyph_rasterizer::Point,
    last: ab_glyph_rasterizer::Point,
}

impl OutlineToRaster {
    fn p(&self, x: f32, y: f32) -> ab_glyph_rasterizer::Point {
        point(x * self.scale - self.x0, self.y0 - y * self.scale)
    }
}

impl OutlineBuilder for OutlineToRaster {
    fn move_to(&mut self, x: f32, y: f32) {
        self.start = self.p(x, y);
        self.last = self.start;
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let p = self.p(x, y);
        self.r.draw_line(self.last, p);
        self.last = p;
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (c, p) = (self.p(x1, y1), self.p(x, y));
        self.r.draw_quad(self.last, c, p);
        self.last = p;
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (c1, c2, p) = (self.p(x1, y1), self.p(x2, y2), self.p(x, y));
        self.r.draw_cubic(self.last, c1, c2, p);
        self.last = p;
    }
    fn close(&mut self) {
        if self.last != self.start {
            self.r.draw_line(self.last, self.start);
        }
        self.last = self.start;
    }
}
