//! Analysis of a page's small grey copy: the copy itself ([`box_downscale`]), blank detection
//! ([`is_blank`], by [`paper::analyze`](super::paper::analyze)) and the black band of
//! separator sheets ([`has_separator_band`]).
//!
//! Kept apart from the driver because these are pure functions on pixels, tested on synthetic
//! pages, and the staff screen calls [`has_separator_band`] on its own.

use image::GrayImage;

use super::config::BlankConfig;

/// Averages `factor × factor` blocks.
pub(super) fn box_downscale(img: &GrayImage, factor: u32) -> GrayImage {
    if factor <= 1 {
        return img.clone();
    }
    let f = factor as usize;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = ((w / f).max(1), (h / f).max(1));
    if w < f || h < f {
        return img.clone();
    }
    let src = img.as_raw();
    let mut out = vec![0u8; nw * nh];
    let mut sums = vec![0u32; nw];
    let area = (f * f) as u32;
    for (oy, out_row) in out.chunks_exact_mut(nw).enumerate() {
        sums.iter_mut().for_each(|s| *s = 0);
        for y in oy * f..oy * f + f {
            let row = &src[y * w..y * w + nw * f];
            for (s, block) in sums.iter_mut().zip(row.chunks_exact(f)) {
                *s += block.iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        for (o, s) in out_row.iter_mut().zip(&sums) {
            *o = (s / area) as u8;
        }
    }
    GrayImage::from_raw(nw as u32, nh as u32, out).unwrap_or_else(|| img.clone())
}

/// Whether a (downscaled, grey, at `dpi`) page carries the band printed across the top of
/// separator sheets (`kioskctl separators`): within the top fifth of the page, a run of 3 to
/// 12 mm of consecutive rows that are at least 90 % dark across the middle 70 % of the width,
/// with light rows above and below it. Text, tables and ruled forms have no such solid band,
/// and a page dark all over is not one; a sheet whose QR code is torn, folded or smudged keeps
/// it, so the page can be put to the officer instead of being taken for a document page.
pub fn has_separator_band(small: &GrayImage, dpi: u32) -> bool {
    let (w, h) = (small.width() as usize, small.height() as usize);
    let mm = |v: f64| ((dpi as f64) * v / 25.4).round().max(1.0) as usize;
    let (min_run, max_run) = (mm(3.0).max(2), mm(12.0));
    let (x0, x1) = (w * 15 / 100, w * 85 / 100);
    if x1 <= x0 {
        return false;
    }
    let raw = small.as_raw();
    let dark_row = |y: usize| {
        let dark = raw[y * w + x0..y * w + x1]
            .iter()
            .filter(|&&p| p < 100)
            .count();
        dark * 10 >= (x1 - x0) * 9
    };
    let mut run = 0;
    let mut light_above = false;
    for y in 0..h / 5 {
        if dark_row(y) {
            run += 1;
        } else {
            if light_above && (min_run..=max_run).contains(&run) {
                return true;
            }
            run = 0;
            light_above = true;
        }
    }
    false
}

/// Whether a (downscaled, grey, at `dpi`) page is blank by `config`; see
/// [`paper`](super::paper) for how, and [`paper::analyze`](super::paper::analyze) for why.
pub fn is_blank(small: &GrayImage, dpi: u32, config: &BlankConfig) -> bool {
    super::paper::analyze(small, dpi, config).blank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_not_ink_but_a_line_of_text_is() {
        let cfg = BlankConfig::default();
        let mut page = GrayImage::from_pixel(800, 1100, image::Luma([235]));
        crate::codes::synth::add_noise(&mut page, 20, 7);
        assert!(is_blank(&page, 100, &cfg));
        for y in 500..512 {
            for x in 100..700 {
                if (x / 3) % 2 == 0 {
                    page.put_pixel(x, y, image::Luma([30]));
                }
            }
        }
        assert!(!is_blank(&page, 100, &cfg));
    }

    #[test]
    fn a_separator_band_is_a_band_not_a_dark_page() {
        // 150 dpi, A4-ish: a 5 mm band 1 cm from the top.
        let mut page = GrayImage::from_pixel(1240, 1754, image::Luma([245]));
        for y in 60..90 {
            for x in 100..1140 {
                page.put_pixel(x, y, image::Luma([10]));
            }
        }
        assert!(has_separator_band(&page, 150));
        let black = GrayImage::from_pixel(1240, 1754, image::Luma([5]));
        assert!(!has_separator_band(&black, 150));
        // A thin ruled line is no band.
        let mut ruled = GrayImage::from_pixel(1240, 1754, image::Luma([245]));
        for y in 60..63 {
            for x in 100..1140 {
                ruled.put_pixel(x, y, image::Luma([10]));
            }
        }
        assert!(!has_separator_band(&ruled, 150));
    }
}
