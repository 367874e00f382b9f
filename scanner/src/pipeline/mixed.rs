//! Mixed raster pages: the text of a page as a 1-bit CCITT Group 4 layer at full resolution,
//! its seals, photos and shading as small JPEG layers under it.
//!
//! Why: a grey scan of a letter ending in a seal is not two-tone (the seal is a mottled
//! mid-grey ring), so it used to be stored as a whole-page grey JPEG of 310–660 KB (issue 15),
//! where the same page without its seal is a 50–90 KB Group 4 page. Only the seal needs grey
//! levels: so the page is split, as MRC formats (ITU-T T.44, DjVu) do, into
//!
//! - **picture regions** ([`picture_regions`]): blocks of about 2.7 mm of the analysis copy in
//!   which at least 8 % of the pixels are "thick mid-tones": grey between 60 and 205 whose
//!   neighbours a third of a millimetre away up, down, left and right are ink or
//!   mid-tone too. Printed letters have black cores and strokes too thin for that, ballpoint
//!   strokes are too thin; the ring and star of a seal, a photo and a shaded card are not.
//!   Groups of four blocks or more spanning two in both directions (a word of dense
//!   letters can make a lone block or a line of them), each group's bounding box with one
//!   block of margin;
//! - one **JPEG per region** at [`PipelineConfig::mixed_picture_dpi`] (200 dpi, the lowest
//!   resolution Decree 30/2020 accepts), paper whitened, drawn at its place;
//! - a **Group 4 image mask** of the whole page at full resolution (pixels darker than the
//!   bilevel threshold, none inside picture regions), painted black over them (PDF 1.7
//!   § 8.9.6.2: `/ImageMask true`, sample 0 paints).
//!
//! Text stays as sharp as on a bilevel page; the seal keeps its grey levels. A page whose
//! pictures cover a quarter of it or more is a photo page and stays a grey JPEG.
//!
//! [`PipelineConfig::mixed_picture_dpi`]: super::PipelineConfig::mixed_picture_dpi

use image::{DynamicImage, GrayImage};

use super::encode::{self, EncodedPage, PageEncoding, PictureLayer};
use super::error::PipelineError;

/// A rectangle in pixels, end exclusive.
pub type Rect = (u32, u32, u32, u32);

/// Picture regions of a (grey, downscaled) page at `dpi`, in its pixels.
pub fn picture_regions(small: &GrayImage, dpi: u32) -> Vec<Rect> {
    let (w, h) = (small.width() as usize, small.height() as usize);
    if w < 3 || h < 3 {
        return Vec::new();
    }
    let b = ((f64::from(dpi) * 2.7 / 25.4).round() as usize).max(4);
    let (bw, bh) = (w.div_ceil(b), h.div_ceil(b));
    let mut flat = vec![0u32; bw * bh];
    let raw = small.as_raw();
    let mid = |p: u8| (60..=205).contains(&p);
    let inked = |p: u8| p <= 205;
    // A third of a millimetre: 2 pixels at 150 dpi, 3 at 200.
    let d = ((f64::from(dpi) * 0.34 / 25.4).round() as usize).max(2);
    if w <= 2 * d || h <= 2 * d {
        return Vec::new();
    }
    for y in d..h - d {
        let row = &raw[y * w..(y + 1) * w];
        let (up, down) = (
            &raw[(y - d) * w..(y - d + 1) * w],
            &raw[(y + d) * w..(y + d + 1) * w],
        );
        for x in d..w - d {
            if mid(row[x])
                && inked(row[x - d])
                && inked(row[x + d])
                && inked(up[x])
                && inked(down[x])
            {
                flat[(y / b) * bw + x / b] += 1;
            }
        }
    }
    let min_flat = (b * b * 8 / 100) as u32;
    let mut picture: Vec<bool> = flat.iter().map(|&f| f >= min_flat).collect();
    // Groups of picture blocks (8-neighbours); a lone block or two is no picture.
    let mut regions: Vec<Rect> = Vec::new();
    let mut stack = Vec::new();
    for start in 0..bw * bh {
        if !picture[start] {
            continue;
        }
        picture[start] = false;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (bw, bh, 0, 0);
        let mut count = 0;
        while let Some(i) = stack.pop() {
            let (x, y) = (i % bw, i / bw);
            count += 1;
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            for ny in y.saturating_sub(1)..(y + 2).min(bh) {
                for nx in x.saturating_sub(1)..(x + 2).min(bw) {
                    let j = ny * bw + nx;
                    if picture[j] {
                        picture[j] = false;
                        stack.push(j);
                    }
                }
            }
        }
        // A word of dense letters can make a block or a line of blocks; a seal, a photo or a
        // shaded box spans several in both directions.
        if count >= 4 && x1 > x0 && y1 > y0 {
            let px = |v: usize| (v * b) as u32;
            regions.push((
                px(x0.saturating_sub(1)),
                px(y0.saturating_sub(1)),
                px((x1 + 2).min(bw)).min(w as u32),
                px((y1 + 2).min(bh)).min(h as u32),
            ));
        }
    }
    merge_overlapping(regions)
}

/// Merges rectangles that overlap until none do.
fn merge_overlapping(mut rects: Vec<Rect>) -> Vec<Rect> {
    loop {
        let mut merged = false;
        'outer: for i in 0..rects.len() {
            for j in i + 1..rects.len() {
                let (a, b) = (rects[i], rects[j]);
                if a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3 {
                    rects[i] = (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3));
                    rects.swap_remove(j);
                    merged = true;
                    break 'outer;
                }
            }
        }
        if !merged {
            return rects;
        }
    }
}

/// Fraction of a `w` × `h` page the rectangles cover (they do not overlap).
pub fn coverage(rects: &[Rect], w: u32, h: u32) -> f64 {
    let area: u64 = rects
        .iter()
        .map(|r| u64::from(r.2 - r.0) * u64::from(r.3 - r.1))
        .sum();
    area as f64 / (u64::from(w) * u64::from(h)).max(1) as f64
}

/// Area-average resampling of a `channels`-channel buffer to `nw` × `nh`.
fn resample(src: &[u8], w: usize, h: usize, channels: usize, nw: usize, nh: usize) -> Vec<u8> {
    let mut out = vec![0u8; nw * nh * channels];
    let (sx, sy) = (w as f64 / nw as f64, h as f64 / nh as f64);
    for oy in 0..nh {
        let (fy0, fy1) = (oy as f64 * sy, (oy + 1) as f64 * sy);
        for ox in 0..nw {
            let (fx0, fx1) = (ox as f64 * sx, (ox + 1) as f64 * sx);
            let mut acc = [0f64; 3];
            let mut total = 0f64;
            let mut y = fy0.floor() as usize;
            while (y as f64) < fy1 && y < h {
                let wy = ((y + 1) as f64).min(fy1) - (y as f64).max(fy0);
                let mut x = fx0.floor() as usize;
                while (x as f64) < fx1 && x < w {
                    let wx = ((x + 1) as f64).min(fx1) - (x as f64).max(fx0);
                    let k = wx * wy;
                    for (c, a) in acc.iter_mut().enumerate().take(channels) {
                        *a += k * f64::from(src[(y * w + x) * channels + c]);
                    }
                    total += k;
                    x += 1;
                }
                y += 1;
            }
            for (c, a) in acc.iter().enumerate().take(channels) {
                out[(oy * nw + ox) * channels + c] = (a / total.max(1e-9)).round() as u8;
            }
        }
    }
    out
}

/// Settings of [`encode_mixed`].
#[derive(Debug, Clone, Copy)]
pub struct MixedSettings {
    /// Resolution of the picture layers.
    pub picture_dpi: u32,
    /// JPEG quality of the picture layers.
    pub jpeg_quality: u8,
    /// Text: grey levels below this are black.
    pub threshold: u8,
    /// Paper in picture layers: levels at or above this become white.
    pub whiten_above: Option<u8>,
}

/// The mixed raster page of `page` (grey or RGB, at `dpi`) with picture regions `regions`
/// (in its pixels).
pub fn encode_mixed(
    page: &DynamicImage,
    dpi: u32,
    regions: &[Rect],
    settings: MixedSettings,
    number: u32,
) -> Result<EncodedPage, PipelineError> {
    let mut gray = match page {
        DynamicImage::ImageLuma8(g) => g.clone(),
        other => other.to_luma8(),
    };
    let mut pictures = Vec::with_capacity(regions.len());
    let scale = f64::from(settings.picture_dpi.min(dpi).max(1)) / f64::from(dpi.max(1));
    for &(x0, y0, x1, y1) in regions {
        let (rw, rh) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
        if rw == 0 || rh == 0 {
            continue;
        }
        let mut crop = page.crop_imm(x0, y0, rw, rh);
        if let Some(level) = settings.whiten_above {
            encode::whiten(&mut crop, level, true);
        }
        let (nw, nh) = (
            ((f64::from(rw) * scale).round() as u32).max(1),
            ((f64::from(rh) * scale).round() as u32).max(1),
        );
        let small = match crop {
            DynamicImage::ImageRgb8(c) => DynamicImage::ImageRgb8(
                image::RgbImage::from_raw(
                    nw,
                    nh,
                    resample(
                        c.as_raw(),
                        rw as usize,
                        rh as usize,
                        3,
                        nw as usize,
                        nh as usize,
                    ),
                )
                .unwrap_or_default(),
            ),
            other => {
                let g = other.to_luma8();
                DynamicImage::ImageLuma8(
                    GrayImage::from_raw(
                        nw,
                        nh,
                        resample(
                            g.as_raw(),
                            rw as usize,
                            rh as usize,
                            1,
                            nw as usize,
                            nh as usize,
                        ),
                    )
                    .unwrap_or_default(),
                )
            }
        };
        let jpeg =
            encode::encode_jpeg(&small, settings.picture_dpi, settings.jpeg_quality, number)?;
        pictures.push(PictureLayer {
            data: jpeg.data,
            color: jpeg.encoding == PageEncoding::JpegColor,
            x: x0,
            y: y0,
            width: rw,
            height: rh,
            pixel_width: nw,
            pixel_height: nh,
        });
        // No text mask over the picture: it is in the JPEG.
        for y in y0..y1.min(gray.height()) {
            let row =
                &mut gray.as_mut()[(y * page.width()) as usize..((y + 1) * page.width()) as usize];
            let end = (x1 as usize).min(row.len());
            row[(x0 as usize).min(end)..end].fill(255);
        }
    }
    let mut mask = encode::encode_group4(&gray, dpi, settings.threshold);
    mask.encoding = PageEncoding::Mixed;
    mask.pictures = pictures;
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn text_has_no_picture_but_a_grey_disc_is_one() {
        let mut page = GrayImage::from_pixel(600, 800, Luma([235]));
        for y in (50..750).step_by(14) {
            for x in 40..560 {
                if x % 6 < 2 {
                    for dy in 0..5 {
                        page.put_pixel(x, y + dy, Luma([30]));
                    }
                }
            }
        }
        assert!(picture_regions(&page, 150).is_empty());
        for y in 300..420u32 {
            for x in 300..420u32 {
                let d = (x as i32 - 360).pow(2) + (y as i32 - 360).pow(2);
                if d < 3600 {
                    page.put_pixel(x, y, Luma([120 + ((x / 9 + y / 7) % 3) as u8 * 5]));
                }
            }
        }
        let regions = picture_regions(&page, 150);
        assert_eq!(regions.len(), 1, "{regions:?}");
        let r = regions[0];
        assert!(
            r.0 <= 300 && r.1 <= 300 && r.2 >= 420 && r.3 >= 420,
            "{r:?}"
        );
    }

    #[test]
    fn resampling_keeps_the_mean() {
        let src: Vec<u8> = (0..300 * 300).map(|i| (i % 256) as u8).collect();
        let out = resample(&src, 300, 300, 1, 200, 200);
        let mean = |v: &[u8]| v.iter().map(|&p| f64::from(p)).sum::<f64>() / v.len() as f64;
        assert!((mean(&src) - mean(&out)).abs() < 1.0);
    }
}
