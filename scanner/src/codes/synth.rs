//! Synthetic QR images: a known code drawn into a grayscale frame.
//!
//! Used by the tests and by `bench-qr`, and meant for the technician's self-test: a kiosk can
//! draw a known code, decode it, and so prove the decoder works on the device without paper.

use image::{imageops, GrayImage, Luma};
use qrcode::{Color, EcLevel, QrCode};

/// Draws `text` as a QR code (error correction level M, like our printer) with `module` pixels
/// per module and the standard 4-module quiet zone; black on white.
pub fn qr_image(text: &str, module: u32) -> Result<GrayImage, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let n = code.width() as u32;
    let colors = code.to_colors();
    let quiet = 4;
    let side = (n + 2 * quiet) * module.max(1);
    let module = module.max(1);
    let mut img = GrayImage::from_pixel(side, side, Luma([255]));
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            let (mx, my) = (i as u32 % n + quiet, i as u32 / n + quiet);
            for y in my * module..(my + 1) * module {
                for x in mx * module..(mx + 1) * module {
                    img.put_pixel(x, y, Luma([0]));
                }
            }
        }
    }
    Ok(img)
}

/// `img` turned a quarter turn clockwise.
pub fn rotate90(img: &GrayImage) -> GrayImage {
    imageops::rotate90(img)
}

/// Copies `img` into `frame` with its top-left corner at (`x`, `y`), clipped to the frame.
pub fn paste(frame: &mut GrayImage, img: &GrayImage, x: u32, y: u32) {
    imageops::replace(frame, img, i64::from(x), i64::from(y));
}

/// A frame of mid-grey noise (deterministic for a seed), like an empty camera view.
pub fn noise_frame(width: u32, height: u32, seed: u64) -> GrayImage {
    let mut state = seed | 1;
    GrayImage::from_fn(width, height, |_, _| {
        // xorshift64: cheap, reproducible, good enough for texture.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Luma([(state >> 56) as u8])
    })
}

/// Blends every pixel of `frame` with deterministic noise of ± `amplitude` grey levels, to
/// make a synthetic frame less ideal than a clean render.
pub fn add_noise(frame: &mut GrayImage, amplitude: u8, seed: u64) {
    let mut state = seed | 1;
    let span = i32::from(amplitude) * 2 + 1;
    for p in frame.pixels_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delta = ((state >> 40) as i32).rem_euclid(span) - i32::from(amplitude);
        p.0[0] = (i32::from(p.0[0]) + delta).clamp(0, 255) as u8;
    }
}
