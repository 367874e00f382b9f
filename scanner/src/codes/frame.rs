//! QR codes in camera frames and scanned pages.
//!
//! The decoder is `rxing`'s generic multiple-barcode reader (a Rust port of ZXing) restricted
//! to QR, with "try harder". It was chosen over `rqrr`, the crate first named for this job, on
//! measurements: on two public image sets rqrr found 55.7 % / 28.7 % of the codes against
//! rxing's 92.3 % / 53.2 %, took up to 34 s on one photo and panicked on another; rxing's
//! `QRCodeMultiReader` was avoided because it loses every code of an image when one fails its
//! checksum. `bench-qr` (in this crate) repeats the comparison on kiosk-sized frames.
//!
//! A citizen waits on this path, so it is guarded: byte-mode text is read as UTF-8 (what CCCD
//! cards and our printer use, instead of ZXing's guess between Latin-1 and Shift_JIS), images
//! larger than [`FrameDecoderConfig::max_side`] are downscaled first so that decode time stays
//! bounded, the number of codes returned is capped, and a panic inside the decoder becomes
//! [`CodeReaderError::DecoderPanicked`] instead of taking the kiosk down.
//! [`FrameDecoder::decode_with_deadline`] additionally bounds the time the caller waits.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use rxing::common::{GlobalHistogramBinarizer, HybridBinarizer};
use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader};
use rxing::{
    BarcodeFormat, Binarizer, BinaryBitmap, DecodeHints, Luma8Source, MultiUseMultiFormatReader,
};

use super::error::CodeReaderError;
use super::payload::Payload;

/// An 8-bit grayscale image, one byte per pixel, rows top to bottom without padding.
#[derive(Debug, Clone, Copy)]
pub struct GrayFrame<'a> {
    width: u32,
    height: u32,
    pixels: &'a [u8],
}

impl<'a> GrayFrame<'a> {
    /// Checks that `pixels` holds exactly `width × height` bytes.
    pub fn new(width: u32, height: u32, pixels: &'a [u8]) -> Result<Self, CodeReaderError> {
        let expected = (width as usize).checked_mul(height as usize);
        if expected != Some(pixels.len()) || width == 0 || height == 0 {
            return Err(CodeReaderError::BadFrame {
                width,
                height,
                len: pixels.len(),
                expected: expected.unwrap_or(usize::MAX),
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// Wraps an `image` crate grayscale buffer (always consistent).
    pub fn from_image(img: &'a image::GrayImage) -> Self {
        Self {
            width: img.width(),
            height: img.height(),
            pixels: img.as_raw(),
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels.
    pub fn pixels(&self) -> &'a [u8] {
        self.pixels
    }
}

/// How pixels are turned black or white before the QR detector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinarizerKind {
    /// Local thresholds per 8×8 block: copes with glare and shadows on a camera frame.
    Hybrid,
    /// One threshold per row: about twice as fast, but misses codes on unevenly lit or noisy
    /// images.
    GlobalHistogram,
    /// Global histogram first and, only if it found nothing, hybrid: the speed of the first on
    /// an easy image, the reach of the second when needed (at the cost of both on an image
    /// without any code).
    Auto,
}

/// Settings of a [`FrameDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameDecoderConfig {
    /// Images whose longer side exceeds this are downscaled by an integer factor until it fits,
    /// which bounds decode time (an A4 page at 300 dpi is 3508 pixels high). Codes must keep at
    /// least about 3 pixels per module after downscaling.
    pub max_side: u32,
    /// Let rxing spend more time looking for codes (evidence: needed for photographs).
    pub try_harder: bool,
    /// Binarizer.
    pub binarizer: BinarizerKind,
    /// At most this many codes are returned from one image.
    pub max_codes: usize,
}

impl Default for FrameDecoderConfig {
    /// 2000-pixel longer side (a 1280×720 frame is decoded as is, an A4 300 dpi page at half
    /// size), try harder, the `Auto` binarizer, 16 codes.
    ///
    /// `Auto` because it met both targets on this kind of machine (frame 13.9 ms, page 25.8 ms,
    /// every code found) where hybrid alone took 20.6 ms on a frame; the price is ~26 ms on a
    /// frame without any code, which a camera loop at 10 frames a second affords.
    fn default() -> Self {
        Self {
            max_side: 2000,
            try_harder: true,
            binarizer: BinarizerKind::Auto,
            max_codes: 16,
        }
    }
}

/// One QR code found in an image.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedCode {
    /// The text (UTF-8).
    pub payload: Payload,
    /// Points rxing located (finder patterns, usually 3 or 4), in pixels of the original image.
    pub points: Vec<(f32, f32)>,
}

/// Decodes QR codes from grayscale images; see the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct FrameDecoder {
    config: FrameDecoderConfig,
}

impl FrameDecoder {
    /// A decoder with these settings.
    pub fn new(config: FrameDecoderConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &FrameDecoderConfig {
        &self.config
    }

    /// All QR codes found in `frame` (none is not an error), ordered top to bottom, then left to
    /// right. Codes with the same text at the same place are reported once.
    pub fn decode(&self, frame: GrayFrame<'_>) -> Result<Vec<DecodedCode>, CodeReaderError> {
        let (width, height) = (frame.width, frame.height);
        let outcome = catch_unwind(AssertUnwindSafe(|| self.decode_unguarded(frame)));
        match outcome {
            Ok(codes) => {
                tracing::debug!(width, height, codes = codes.len(), "frame decoded");
                Ok(codes)
            }
            Err(_) => {
                tracing::error!(width, height, "QR decoder panicked; frame skipped");
                Err(CodeReaderError::DecoderPanicked { width, height })
            }
        }
    }

    /// Like [`FrameDecoder::decode`] on a blocking thread, but the caller waits at most
    /// `limit`: past it, [`CodeReaderError::DecodeTimedOut`] is returned (the decode finishes in
    /// the background and its result is discarded). Must be called within a tokio runtime.
    pub async fn decode_with_deadline(
        self: Arc<Self>,
        width: u32,
        height: u32,
        pixels: Vec<u8>,
        limit: Duration,
    ) -> Result<Vec<DecodedCode>, CodeReaderError> {
        GrayFrame::new(width, height, &pixels)?;
        let job = tokio::task::spawn_blocking(move || {
            let frame = GrayFrame::new(width, height, &pixels)?;
            self.decode(frame)
        });
        match tokio::time::timeout(limit, job).await {
            Ok(Ok(result)) => result,
            Ok(Err(_join_error)) => Err(CodeReaderError::DecoderPanicked { width, height }),
            Err(_) => Err(CodeReaderError::DecodeTimedOut {
                width,
                height,
                limit_ms: limit.as_millis(),
            }),
        }
    }

    fn decode_unguarded(&self, frame: GrayFrame<'_>) -> Vec<DecodedCode> {
        let longer = frame.width.max(frame.height);
        let factor = if self.config.max_side == 0 {
            1
        } else {
            longer.div_ceil(self.config.max_side).max(1)
        };
        let scaled;
        let (w, h, pixels) = if factor > 1 {
            let (w, h, p) = downscale(frame, factor);
            scaled = p;
            (w, h, scaled.as_slice())
        } else {
            (frame.width, frame.height, frame.pixels)
        };
        let Ok(source) = Luma8Source::new_with_slice(pixels, w, h) else {
            return Vec::new();
        };
        let results = match self.config.binarizer {
            BinarizerKind::Hybrid => self.run(HybridBinarizer::new(source)),
            BinarizerKind::GlobalHistogram => self.run(GlobalHistogramBinarizer::new(source)),
            BinarizerKind::Auto => {
                let found = self.run(GlobalHistogramBinarizer::new(source.clone()));
                if found.is_empty() {
                    self.run(HybridBinarizer::new(source))
                } else {
                    found
                }
            }
        };
        let scale = factor as f32;
        let mut seen = HashSet::new();
        let mut codes: Vec<DecodedCode> = results
            .into_iter()
            .filter(|r| *r.getBarcodeFormat() == BarcodeFormat::QR_CODE)
            .map(|r| DecodedCode {
                payload: Payload::new(r.getText()),
                points: r
                    .getPoints()
                    .iter()
                    .map(|p| (p.x * scale, p.y * scale))
                    .collect(),
            })
            .filter(|c| seen.insert((c.payload.clone(), cell(c))))
            .collect();
        codes.sort_by(|a, b| {
            let (ax, ay) = centre(a);
            let (bx, by) = centre(b);
            ay.total_cmp(&by).then(ax.total_cmp(&bx))
        });
        codes.truncate(self.config.max_codes);
        codes
    }

    fn run<B: Binarizer>(&self, binarizer: B) -> Vec<rxing::RXingResult> {
        let hints = DecodeHints {
            PossibleFormats: Some(HashSet::from([BarcodeFormat::QR_CODE])),
            TryHarder: Some(self.config.try_harder),
            CharacterSet: Some("UTF-8".to_owned()),
            ..DecodeHints::default()
        };
        let mut reader = GenericMultipleBarcodeReader::new(MultiUseMultiFormatReader::default());
        let mut bitmap = BinaryBitmap::new(binarizer);
        reader
            .decode_multiple_with_hints(&mut bitmap, &hints)
            .unwrap_or_default()
    }
}

/// Centre of the located points.
fn centre(c: &DecodedCode) -> (f32, f32) {
    let n = c.points.len().max(1) as f32;
    let (sx, sy) = c
        .points
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0, y + p.1));
    (sx / n, sy / n)
}

/// A coarse cell (64 px) of the centre, to tell two copies of one code apart from one code found
/// twice.
fn cell(c: &DecodedCode) -> (i64, i64) {
    let (x, y) = centre(c);
    ((x / 64.0) as i64, (y / 64.0) as i64)
}

/// Averages `factor × factor` blocks (box filter), which keeps thin QR modules grey rather than
/// dropping them as plain subsampling would.
fn downscale(frame: GrayFrame<'_>, factor: u32) -> (u32, u32, Vec<u8>) {
    let f = factor as usize;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (nw, nh) = (w / f, h / f);
    let mut out = vec![0u8; nw * nh];
    let mut sums = vec![0u32; nw];
    let area = (f * f) as u32;
    for (oy, out_row) in out.chunks_exact_mut(nw.max(1)).enumerate().take(nh) {
        sums.iter_mut().for_each(|s| *s = 0);
        for y in oy * f..oy * f + f {
            let row = &frame.pixels[y * w..y * w + nw * f];
            for (s, block) in sums.iter_mut().zip(row.chunks_exact(f)) {
                *s += block.iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        for (o, s) in out_row.iter_mut().zip(&sums) {
            *o = (s / area) as u8;
        }
    }
    (nw as u32, nh as u32, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_must_match_their_size() {
        assert!(GrayFrame::new(4, 2, &[0; 8]).is_ok());
        assert!(matches!(
            GrayFrame::new(4, 2, &[0; 7]),
            Err(CodeReaderError::BadFrame { expected: 8, .. })
        ));
        assert!(GrayFrame::new(0, 0, &[]).is_err());
        assert!(GrayFrame::new(u32::MAX, u32::MAX, &[0; 1]).is_err());
    }

    #[test]
    fn downscale_averages_blocks() {
        let px = [0u8, 255, 10, 10, 255, 0, 10, 10, 7, 7, 7, 7];
        let f = GrayFrame::new(4, 3, &px).unwrap();
        let (w, h, out) = downscale(f, 2);
        assert_eq!((w, h), (2, 1));
        assert_eq!(out, vec![127, 10]);
    }
}
