//! Optional deskew: pages fed slightly crooked are turned straight before compression.
//!
//! The skew is estimated on the pipeline's analysis copy (about 150 dpi) by the projection
//! profile method: the ink pixels are projected onto lines at each candidate angle, and the
//! angle whose projection is "peakiest" (largest sum of squared line counts) is the one the
//! text lines run at. A coarse search (0.5°) is refined to 0.1°. The full-resolution page is
//! then rotated with bilinear interpolation, the uncovered corners filled white.
//!
//! Off by default ([`super::PipelineConfig::deskew_max_degrees`]): many feeder scanners
//! straighten pages themselves (SANE's `--swdeskew`). The estimate costs about 3 ms per
//! 300 dpi A4 page (`bench-pipeline --deskew`: 65 → 68 ms per page); a crooked page is also
//! rotated at full resolution, which costs more.

use image::{GrayImage, Luma, Rgb, RgbImage};

/// The angle in degrees to give [`rotate_gray`] / [`rotate_rgb`] to make the page's text lines
/// horizontal, searched within ± `max_degrees`. 0 when the page has too little ink to tell.
pub fn estimate_skew(small: &GrayImage, max_degrees: f64) -> f64 {
    let (w, h) = (small.width() as usize, small.height() as usize);
    let raw = small.as_raw();
    // Ink pixels, every other one on every other row: plenty for a profile.
    let mut points: Vec<(f64, f64)> = Vec::new();
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            if raw[y * w + x] < 128 {
                points.push((x as f64, y as f64));
            }
        }
    }
    if points.len() < 200 {
        return 0.0;
    }
    let max = max_degrees.clamp(0.0, 15.0);
    let score = |degrees: f64| -> f64 {
        let t = degrees.to_radians().tan();
        let offset = (w as f64 * t.abs()).ceil() as usize + 1;
        let mut bins = vec![0u32; h + 2 * offset + 2];
        for &(x, y) in &points {
            let line = (y - x * t).round() as isize + offset as isize;
            if let Some(b) = usize::try_from(line).ok().and_then(|i| bins.get_mut(i)) {
                *b += 1;
            }
        }
        bins.iter().map(|&c| f64::from(c) * f64::from(c)).sum()
    };
    let search = |from: f64, to: f64, step: f64| -> f64 {
        let mut best = (f64::MIN, 0.0);
        let mut a = from;
        while a <= to + 1e-9 {
            let s = score(a);
            if s > best.0 {
                best = (s, a);
            }
            a += step;
        }
        best.1
    };
    let coarse = search(-max, max, 0.5);
    let fine = search((coarse - 0.5).max(-max), (coarse + 0.5).min(max), 0.1);
    // The lines run at slope tan(fine); rotate_* by `fine` turns them back to horizontal.
    fine
}

/// Bilinear sample of a grey image, white outside.
fn sample_gray(img: &GrayImage, x: f64, y: f64) -> u8 {
    sample(img.width(), img.height(), x, y, 255.0, |px, py| {
        f64::from(img.get_pixel(px, py).0[0])
    }) as u8
}

fn sample(w: u32, h: u32, x: f64, y: f64, outside: f64, get: impl Fn(u32, u32) -> f64) -> f64 {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let at = |xi: f64, yi: f64| -> f64 {
        if xi < 0.0 || yi < 0.0 || xi >= f64::from(w) || yi >= f64::from(h) {
            outside
        } else {
            get(xi as u32, yi as u32)
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
    let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
    (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0)
}

/// Maps each output pixel to its source position for a rotation by `degrees` about the centre.
fn source_of(w: u32, h: u32, degrees: f64) -> impl Fn(u32, u32) -> (f64, f64) {
    let (s, c) = degrees.to_radians().sin_cos();
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    move |x, y| {
        let (dx, dy) = (f64::from(x) + 0.5 - cx, f64::from(y) + 0.5 - cy);
        // Inverse rotation: where the output pixel came from.
        (c * dx - s * dy + cx - 0.5, s * dx + c * dy + cy - 0.5)
    }
}

/// `img` rotated by `degrees` (as returned by [`estimate_skew`]) about its centre, same size,
/// uncovered corners white.
pub fn rotate_gray(img: &GrayImage, degrees: f64) -> GrayImage {
    let from = source_of(img.width(), img.height(), degrees);
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let (sx, sy) = from(x, y);
        Luma([sample_gray(img, sx, sy)])
    })
}

/// Colour version of [`rotate_gray`].
pub fn rotate_rgb(img: &RgbImage, degrees: f64) -> RgbImage {
    let from = source_of(img.width(), img.height(), degrees);
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let (sx, sy) = from(x, y);
        let channel = |c: usize| {
            sample(img.width(), img.height(), sx, sy, 255.0, |px, py| {
                f64::from(img.get_pixel(px, py).0[c])
            }) as u8
        };
        Rgb([channel(0), channel(1), channel(2)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Horizontal bars of "text", 150 dpi-like.
    fn lines() -> GrayImage {
        let mut img = GrayImage::from_pixel(1000, 1300, Luma([250]));
        for row in 0..40u32 {
            let y0 = 100 + row * 28;
            for y in y0..y0 + 8 {
                for x in 100..900u32 {
                    if (x / 7) % 4 != 0 {
                        img.put_pixel(x, y, Luma([20]));
                    }
                }
            }
        }
        img
    }

    #[test]
    fn a_crooked_page_is_measured_and_straightened() {
        let straight = lines();
        assert!(estimate_skew(&straight, 5.0).abs() < 0.15);
        for skew in [2.0, -1.3, 3.7] {
            let crooked = rotate_gray(&straight, skew);
            let correction = estimate_skew(&crooked, 5.0);
            assert!(
                (correction + skew).abs() <= 0.15,
                "skew {skew}: correction {correction}"
            );
            let fixed = rotate_gray(&crooked, correction);
            assert!(estimate_skew(&fixed, 5.0).abs() <= 0.15);
        }
    }

    #[test]
    fn an_empty_page_is_left_alone() {
        let img = GrayImage::from_pixel(500, 700, Luma([250]));
        assert_eq!(estimate_skew(&img, 5.0), 0.0);
    }
}
