//! What is paper and what is on it, on a page's small grey copy: the paper's boundary against
//! the scanner's dark backing, the local paper level, and the marks on the paper sorted into
//! punched holes, dust specks, marks along the edge, faint show-through and content. Blank
//! detection ([`PaperAnalysis::blank`]) and cropping ([`PaperAnalysis::bounds`]) both come
//! from it.
//!
//! Why this shape: a fixed dark threshold over a fixed margin kept every real blank back
//! (issue 15): the backing shows as black strips along the leading edge and wedges at skewed
//! corners wider than any margin, binder holes show it as black discs, and a count of dark
//! pixels cannot tell five dust specks from one signature. So:
//!
//! - **Backing** is what is black and connected to the image border (flood fill); the paper's
//!   bounds leave out border rows and columns that are backing across the page.
//! - **Ink** is darker than the *local* paper level by [`BlankConfig::ink_contrast`] (the
//!   level is a high percentile per block of about 3 mm, spread over neighbouring blocks so
//!   a line of text does not lower it): uneven lamp light and grey paper do not count, and
//!   show-through of the back's text (a few percent of contrast, blurred) stays above it and
//!   is only reported as "bleed-through".
//! - Ink pixels are grouped into **connected components** (8-neighbours) and each is judged
//!   by its shape: touching the backing or within [`BlankConfig::edge_mm`] of the paper's
//!   edge (shadow of the edge), a dark round disc of 3.5–9 mm near an edge (a punched hole),
//!   smaller than [`BlankConfig::speck_mm`] (dust), or content. A page is blank when no
//!   content component is left, so a page with only a signature, a date or one handwritten
//!   line is kept.

use image::GrayImage;

use super::config::BlankConfig;

/// The verdict on one page, with the counts that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperAnalysis {
    /// The paper's bounds in the analysed copy: `(x0, y0, x1, y1)`, end exclusive.
    pub bounds: (u32, u32, u32, u32),
    /// Size of the analysed copy.
    pub size: (u32, u32),
    /// Punched holes found (bounding boxes in the analysed copy).
    pub holes: Vec<(u32, u32, u32, u32)>,
    /// Dust specks ignored.
    pub specks: u32,
    /// Marks along the paper's edge ignored.
    pub edge_marks: u32,
    /// Content components.
    pub content: u32,
    /// Show-through of the other side was seen (faint marks below the ink contrast).
    pub bleed_through: bool,
    /// The page is blank by the configuration it was analysed with.
    pub blank: bool,
}

impl PaperAnalysis {
    /// Why the page was dropped or kept, in Vietnamese and English ("vi / en"), for the log
    /// and the staff screen's thumbnail strip.
    pub fn explanation(&self) -> String {
        let mut vi = Vec::new();
        let mut en = Vec::new();
        if !self.holes.is_empty() {
            vi.push(format!("{} lỗ bấm", self.holes.len()));
            en.push(format!("{} punched hole(s)", self.holes.len()));
        }
        if self.specks > 0 {
            vi.push(format!("{} hạt bụi", self.specks));
            en.push(format!("{} speck(s)", self.specks));
        }
        if self.edge_marks > 0 {
            vi.push(format!("{} vết mép giấy", self.edge_marks));
            en.push(format!("{} edge mark(s)", self.edge_marks));
        }
        if self.bleed_through {
            vi.push("chữ mặt sau in hằn".to_owned());
            en.push("bleed-through".to_owned());
        }
        let (vi_ignored, en_ignored) = if vi.is_empty() {
            (String::new(), String::new())
        } else {
            (
                format!(" sau khi bỏ {}", vi.join(", ")),
                format!(" after removing {}", en.join(", ")),
            )
        };
        if self.blank {
            format!(
                "trang trắng: {} nét nội dung{vi_ignored} / blank: {} content mark(s){en_ignored}",
                self.content, self.content
            )
        } else {
            format!(
                "có nội dung: {} nét{vi_ignored} / content: {} mark(s){en_ignored}",
                self.content, self.content
            )
        }
    }

    /// Whether the paper's bounds leave out part of the copy (backing showed at an edge).
    pub fn cropped(&self) -> bool {
        self.bounds != (0, 0, self.size.0, self.size.1)
    }
}

/// Paper level of the whole copy: the 80th percentile (text, backing and holes are well
/// under a fifth of a page).
fn global_level(raw: &[u8]) -> u8 {
    let mut hist = [0u32; 256];
    for &p in raw {
        hist[usize::from(p)] += 1;
    }
    let target = raw.len() as u64 * 80 / 100;
    let mut seen = 0u64;
    for (v, &c) in hist.iter().enumerate() {
        seen += u64::from(c);
        if seen > target {
            return v as u8;
        }
    }
    255
}

/// Dark pixels connected to the border (the scanner's backing around the paper).
fn backing_mask(raw: &[u8], w: usize, h: usize, dark: u8) -> Vec<bool> {
    let mut mask = vec![false; w * h];
    let mut stack: Vec<usize> = Vec::new();
    let seed = |i: usize, mask: &mut Vec<bool>, stack: &mut Vec<usize>| {
        if !mask[i] && raw[i] < dark {
            mask[i] = true;
            stack.push(i);
        }
    };
    for x in 0..w {
        seed(x, &mut mask, &mut stack);
        seed((h - 1) * w + x, &mut mask, &mut stack);
    }
    for y in 0..h {
        seed(y * w, &mut mask, &mut stack);
        seed(y * w + w - 1, &mut mask, &mut stack);
    }
    while let Some(i) = stack.pop() {
        let (x, y) = (i % w, i / w);
        if x > 0 {
            seed(i - 1, &mut mask, &mut stack);
        }
        if x + 1 < w {
            seed(i + 1, &mut mask, &mut stack);
        }
        if y > 0 {
            seed(i - w, &mut mask, &mut stack);
        }
        if y + 1 < h {
            seed(i + w, &mut mask, &mut stack);
        }
    }
    mask
}

/// Rows and columns at the border that are backing across 90 % of the page are outside the
/// paper (at most 6 % of the page on each side: a feed strip is a few millimetres, and spans
/// the page, where dark print running off the edge does not). The wedges of a skewed sheet
/// stay inside and are whitened.
fn paper_bounds(mask: &[bool], w: usize, h: usize) -> (usize, usize, usize, usize) {
    let row = |y: usize| mask[y * w..(y + 1) * w].iter().filter(|&&b| b).count() * 10 > w * 9;
    let col = |x: usize| (0..h).filter(|&y| mask[y * w + x]).count() * 10 > h * 9;
    let mut y0 = 0;
    while y0 < h * 6 / 100 && row(y0) {
        y0 += 1;
    }
    let mut y1 = h;
    while y1 > h * 94 / 100 && row(y1 - 1) {
        y1 -= 1;
    }
    let mut x0 = 0;
    while x0 < w * 6 / 100 && col(x0) {
        x0 += 1;
    }
    let mut x1 = w;
    while x1 > w * 94 / 100 && col(x1 - 1) {
        x1 -= 1;
    }
    // The blurred edge of the paper next to a strip is not paper either.
    let inset = |cut: bool| usize::from(cut) * 2;
    (
        (x0 + inset(x0 > 0)).min(w),
        (y0 + inset(y0 > 0)).min(h),
        x1.saturating_sub(inset(x1 < w)).max(x0 + 1),
        y1.saturating_sub(inset(y1 < h)).max(y0 + 1),
    )
}

/// Local paper level per block of `b` pixels: the 90th percentile of its non-backing pixels,
/// then the highest of the blocks around it (so text-dense blocks take their neighbours'
/// paper level).
fn level_map(
    raw: &[u8],
    mask: &[bool],
    w: usize,
    h: usize,
    b: usize,
    fallback: u8,
) -> (Vec<u8>, usize) {
    let (bw, bh) = (w.div_ceil(b), h.div_ceil(b));
    let mut blocks = vec![0u8; bw * bh];
    let mut hist = [0u32; 256];
    for by in 0..bh {
        for bx in 0..bw {
            hist.iter_mut().for_each(|c| *c = 0);
            let mut n = 0u32;
            for y in by * b..((by + 1) * b).min(h) {
                for x in bx * b..((bx + 1) * b).min(w) {
                    if !mask[y * w + x] {
                        hist[usize::from(raw[y * w + x])] += 1;
                        n += 1;
                    }
                }
            }
            if n * 4 < (b * b) as u32 {
                continue;
            }
            let target = n * 9 / 10;
            let mut seen = 0;
            for (v, &c) in hist.iter().enumerate() {
                seen += c;
                if seen > target {
                    blocks[by * bw + bx] = v as u8;
                    break;
                }
            }
        }
    }
    let mut level = vec![fallback; bw * bh];
    for by in 0..bh {
        for bx in 0..bw {
            let mut best = 0u8;
            for ny in by.saturating_sub(2)..(by + 3).min(bh) {
                for nx in bx.saturating_sub(2)..(bx + 3).min(bw) {
                    best = best.max(blocks[ny * bw + nx]);
                }
            }
            if best > 0 {
                level[by * bw + bx] = best;
            }
        }
    }
    (level, bw)
}

#[derive(Debug, Clone, Copy)]
struct Component {
    area: u32,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
    sum: u64,
    touches_backing: bool,
}

/// Analyses the small grey copy `small` of a page (at `dpi`) by `config`.
pub fn analyze(small: &GrayImage, dpi: u32, config: &BlankConfig) -> PaperAnalysis {
    analyze_with_backing(small, dpi, config).0
}

/// [`analyze`], and the backing mask (one flag per pixel of `small`) for cropping.
pub(super) fn analyze_with_backing(
    small: &GrayImage,
    dpi: u32,
    config: &BlankConfig,
) -> (PaperAnalysis, Vec<bool>) {
    let (w, h) = (small.width() as usize, small.height() as usize);
    let size = (small.width(), small.height());
    if w < 8 || h < 8 {
        let none = PaperAnalysis {
            bounds: (0, 0, size.0, size.1),
            size,
            holes: Vec::new(),
            specks: 0,
            edge_marks: 0,
            content: 0,
            bleed_through: false,
            blank: true,
        };
        return (none, vec![false; w * h]);
    }
    let raw = small.as_raw();
    let mm = |v: f64| v * f64::from(dpi.max(1)) / 25.4;
    let paper = global_level(raw);
    // Backing is black (under 60 on these scanners' grey scale), paper over 200: a dark
    // print that bleeds off the edge (a coloured band, luma 70 and more) is not backing.
    let mask = backing_mask(raw, w, h, ((u16::from(paper) * 30 / 100) as u8).min(60));
    let (x0, y0, x1, y1) = paper_bounds(&mask, w, h);
    let b = mm(3.0).round().max(4.0) as usize;
    let (level, bw) = level_map(raw, &mask, w, h, b, paper);

    // Ink and faint marks inside the bounds.
    let ink_k = ((1.0 - config.ink_contrast.clamp(0.02, 0.9)) * 256.0) as u32;
    let faint_k = ((1.0 - config.faint_contrast.clamp(0.01, 0.5)) * 256.0) as u32;
    let mut label = vec![0u32; w * h];
    let mut faint = 0u64;
    let mut area = 0u64;
    const INK: u32 = u32::MAX;
    for y in y0..y1 {
        for x in x0..x1 {
            let i = y * w + x;
            if mask[i] {
                continue;
            }
            area += 1;
            let l = u32::from(level[(y / b) * bw + x / b]);
            let p = u32::from(raw[i]) * 256;
            if p < l * ink_k {
                label[i] = INK;
            } else if p < l * faint_k {
                faint += 1;
            }
        }
    }

    // Connected components of the ink, 8-neighbours.
    let mut components: Vec<Component> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for start in 0..w * h {
        if label[start] != INK {
            continue;
        }
        let id = components.len() as u32 + 1;
        label[start] = id;
        stack.push(start);
        let (sx, sy) = ((start % w) as u32, (start / w) as u32);
        let mut c = Component {
            area: 0,
            x0: sx,
            y0: sy,
            x1: sx,
            y1: sy,
            sum: 0,
            touches_backing: false,
        };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            c.area += 1;
            c.sum += u64::from(raw[i]);
            c.x0 = c.x0.min(x as u32);
            c.x1 = c.x1.max(x as u32);
            c.y0 = c.y0.min(y as u32);
            c.y1 = c.y1.max(y as u32);
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let j = ny * w + nx;
                    if mask[j] {
                        c.touches_backing = true;
                    } else if label[j] == INK {
                        label[j] = id;
                        stack.push(j);
                    }
                }
            }
        }
        components.push(c);
    }

    let edge = mm(config.edge_mm).ceil() as u32;
    let edge_band = mm(15.0);
    let speck = mm(config.speck_mm);
    let (hole_min, hole_max, hole_reach) = (mm(3.5), mm(9.0), mm(25.0));
    let (bx0, by0, bx1, by1) = (x0 as u32, y0 as u32, x1 as u32, y1 as u32);
    let mut analysis = PaperAnalysis {
        bounds: (bx0, by0, bx1, by1),
        size,
        holes: Vec::new(),
        specks: 0,
        edge_marks: 0,
        content: 0,
        bleed_through: faint as f64 > 0.001 * area.max(1) as f64,
        blank: false,
    };
    for c in &components {
        let (cw, ch) = (f64::from(c.x1 - c.x0 + 1), f64::from(c.y1 - c.y0 + 1));
        let near_edge =
            c.x0 < bx0 + edge || c.y0 < by0 + edge || c.x1 + edge >= bx1 || c.y1 + edge >= by1;
        let mean = c.sum / u64::from(c.area.max(1));
        let (cx, cy) = (f64::from(c.x0 + c.x1) / 2.0, f64::from(c.y0 + c.y1) / 2.0);
        let to_edge = (cx - f64::from(bx0))
            .min(f64::from(bx1) - cx)
            .min(cy - f64::from(by0))
            .min(f64::from(by1) - cy);
        // A disc fills π/4 of its box; the filled squares of page marks fill all of it.
        let fill = f64::from(c.area) / (cw * ch);
        let round = (hole_min..=hole_max).contains(&cw)
            && (hole_min..=hole_max).contains(&ch)
            && (cw / ch - 1.0).abs() < 0.3
            && (0.62..0.9).contains(&fill);
        // Along the edge lie strips, wedges and shadows: thin across. A mark that reaches the
        // edge but spreads far into the page both ways (a table or frame drawn to the margin,
        // a picture bled off the edge) is content.
        let edge_like = cw.min(ch) <= edge_band;
        if (c.touches_backing || near_edge) && edge_like {
            analysis.edge_marks += 1;
        } else if round && mean * 100 < u64::from(paper) * 45 && to_edge < hole_reach {
            analysis.holes.push((c.x0, c.y0, c.x1 + 1, c.y1 + 1));
        } else if cw.max(ch) < speck {
            analysis.specks += 1;
        } else {
            analysis.content += 1;
        }
    }
    analysis.blank = analysis.content <= config.max_content_marks;
    (analysis, mask)
}
