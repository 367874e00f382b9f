//! Page compression: how a page is stored (JPEG grey or colour, or bilevel CCITT Group 4) and
//! how [`OutputMode::Auto`] chooses.
//!
//! Why bilevel: a dense 300 dpi grey text page costs about 480 KB as JPEG quality 75 even after
//! the paper is whitened (measured with `bench-pipeline`), three times the 150 KB budget of
//! issue #5, because JPEG spends its bits on the sharp edges of letters. The same page as
//! 1 bit per pixel compressed with CCITT Group 4 (ITU-T T.6, `/CCITTFaxDecode` with `/K -1`
//! in PDF, read by every PDF reader since PDF 1.0) keeps every stroke at full resolution in a
//! fraction of that. Photos, shading and colour would be destroyed by it, so `auto` only
//! takes that path for pages that are essentially two-tone and keeps JPEG for the rest.

use image::{DynamicImage, GrayImage};

use super::error::PipelineError;

/// How pages are stored in the PDFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// JPEG, colour pages in colour and grey pages in grey, as scanned.
    Color,
    /// JPEG in grey, colour pages converted.
    Gray,
    /// 1 bit per pixel, CCITT Group 4: text and line art only.
    Bilevel,
    /// Per page: colour JPEG when a colour page shows colour (stamps, photos), bilevel when
    /// the page is essentially two-tone ([`is_two_tone`]), grey JPEG otherwise.
    #[default]
    Auto,
}

impl OutputMode {
    /// Every mode, in the order their names are listed in messages.
    pub const ALL: [OutputMode; 4] = [Self::Color, Self::Gray, Self::Bilevel, Self::Auto];

    /// The name used in configuration files: `color`, `gray`, `bilevel` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Color => "color",
            Self::Gray => "gray",
            Self::Bilevel => "bilevel",
            Self::Auto => "auto",
        }
    }

    /// The mode called `name` (also accepts `colour` and `grey`).
    pub fn parse(name: &str) -> Option<OutputMode> {
        match name {
            "color" | "colour" => Some(Self::Color),
            "gray" | "grey" => Some(Self::Gray),
            "bilevel" => Some(Self::Bilevel),
            "auto" => Some(Self::Auto),
            _ => None,
        }
    }
}

/// How one page was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageEncoding {
    /// Baseline JPEG, 8-bit grey.
    JpegGray,
    /// Baseline JPEG, 8-bit RGB.
    JpegColor,
    /// CCITT Group 4, 1 bit per pixel, 0 = black.
    Group4,
    /// Mixed raster ([`mixed`](super::mixed)): JPEG picture layers under a Group 4 mask of
    /// the text painted black.
    Mixed,
}

/// A JPEG layer of a [`PageEncoding::Mixed`] page: a seal, a photo, shading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureLayer {
    /// The JPEG file.
    pub data: Vec<u8>,
    /// RGB (else grey).
    pub color: bool,
    /// Where it goes on the page, in page pixels (top-left corner, size).
    pub x: u32,
    /// See `x`.
    pub y: u32,
    /// See `x`.
    pub width: u32,
    /// See `x`.
    pub height: u32,
    /// Its own pixel size (it is stored at a lower resolution than the page).
    pub pixel_width: u32,
    /// See `pixel_width`.
    pub pixel_height: u32,
}

/// A compressed page, ready to become one PDF page at 100 % scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPage {
    /// The compressed stream (a whole JPEG file, or bare Group 4 data; for
    /// [`PageEncoding::Mixed`] the Group 4 mask of the text).
    pub data: Vec<u8>,
    /// How `data` is compressed.
    pub encoding: PageEncoding,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Scan resolution (the PDF page is width / dpi inches wide).
    pub dpi: u32,
    /// Picture layers of a [`PageEncoding::Mixed`] page (empty otherwise).
    pub pictures: Vec<PictureLayer>,
}

impl EncodedPage {
    /// Bytes of all its compressed streams.
    pub fn stored_bytes(&self) -> usize {
        self.data.len() + self.pictures.iter().map(|p| p.data.len()).sum::<usize>()
    }

    const SPOOL_MAGIC: &'static [u8; 8] = b"MCPAGE01";

    /// Writes the page to a spool file (a small header, then the stream), for flows that hold
    /// pages on disk until an officer has checked them.
    pub fn write_spool(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        f.write_all(Self::SPOOL_MAGIC)?;
        let encoding = match self.encoding {
            PageEncoding::JpegGray => 0u8,
            PageEncoding::JpegColor => 1,
            PageEncoding::Group4 => 2,
            PageEncoding::Mixed => 3,
        };
        f.write_all(&[encoding])?;
        for v in [self.width, self.height, self.dpi] {
            f.write_all(&v.to_le_bytes())?;
        }
        if self.encoding == PageEncoding::Mixed {
            // Mask length and mask, layer count, then each layer's header and JPEG.
            let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
            f.write_all(&len(self.data.len()))?;
            f.write_all(&self.data)?;
            f.write_all(&len(self.pictures.len()))?;
            for p in &self.pictures {
                f.write_all(&[u8::from(p.color)])?;
                for v in [p.x, p.y, p.width, p.height, p.pixel_width, p.pixel_height] {
                    f.write_all(&v.to_le_bytes())?;
                }
                f.write_all(&len(p.data.len()))?;
                f.write_all(&p.data)?;
            }
        } else {
            f.write_all(&self.data)?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()
    }

    /// Reads a page written by [`EncodedPage::write_spool`].
    pub fn read_spool(path: &std::path::Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not a spooled page", path.display()),
            )
        };
        if bytes.len() < 21 || &bytes[..8] != Self::SPOOL_MAGIC {
            return Err(bad());
        }
        let encoding = match bytes[8] {
            0 => PageEncoding::JpegGray,
            1 => PageEncoding::JpegColor,
            2 => PageEncoding::Group4,
            3 => PageEncoding::Mixed,
            _ => return Err(bad()),
        };
        let word = |at: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_le_bytes(b))
        };
        let (Some(width), Some(height), Some(dpi)) = (word(9), word(13), word(17)) else {
            return Err(bad());
        };
        let mut page = Self {
            encoding,
            width,
            height,
            dpi,
            data: Vec::new(),
            pictures: Vec::new(),
        };
        if encoding != PageEncoding::Mixed {
            page.data = bytes[21..].to_vec();
            return Ok(page);
        }
        read_mixed(&bytes[21..], page).ok_or_else(bad)
    }
}

/// The layers of a spooled mixed page after its 21-byte header.
fn read_mixed(mut rest: &[u8], mut page: EncodedPage) -> Option<EncodedPage> {
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if rest.len() < n {
            return None;
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Some(head)
    }
    fn word(rest: &mut &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(take(rest, 4)?.try_into().ok()?))
    }
    let len = word(&mut rest)? as usize;
    page.data = take(&mut rest, len)?.to_vec();
    for _ in 0..word(&mut rest)? {
        let color = take(&mut rest, 1)?[0] != 0;
        let mut v = [0u32; 6];
        for slot in &mut v {
            *slot = word(&mut rest)?;
        }
        let len = word(&mut rest)? as usize;
        page.pictures.push(PictureLayer {
            data: take(&mut rest, len)?.to_vec(),
            color,
            x: v[0],
            y: v[1],
            width: v[2],
            height: v[3],
            pixel_width: v[4],
            pixel_height: v[5],
        });
    }
    Some(page)
}

/// Whether a colour page shows colour: more than `min_fraction` of its pixels (sampled every
/// `step` pixels) have channels differing by more than 48 levels. Red stamps and signatures
/// in blue ink count; the slight colour noise of a scanner does not.
pub fn shows_color(page: &image::RgbImage, min_fraction: f64) -> bool {
    let step = 3usize;
    let raw = page.as_raw();
    let mut seen = 0u64;
    let mut colored = 0u64;
    for px in raw.chunks_exact(3).step_by(step) {
        seen += 1;
        let max = px[0].max(px[1]).max(px[2]);
        let min = px[0].min(px[1]).min(px[2]);
        if max - min > 48 {
            colored += 1;
        }
    }
    seen > 0 && colored as f64 > min_fraction * seen as f64
}

/// Whether a (downscaled, grey) page is essentially two-tone: paper and ink, with grey only at
/// the edges of strokes. Counts "flat mid-tone" pixels, grey between 70 and 200 whose four
/// neighbours all differ from it by less than 12 levels: shading, photos and gradients have
/// many, letters and lines (all edge, however thin or blurred) almost none. Two-tone when they
/// are below `max_flat_fraction` of the page.
pub fn is_two_tone(small: &GrayImage, max_flat_fraction: f64) -> bool {
    let (w, h) = (small.width() as usize, small.height() as usize);
    if w < 3 || h < 3 {
        return true;
    }
    let raw = small.as_raw();
    let mut flat = 0u64;
    for y in 1..h - 1 {
        let above = &raw[(y - 1) * w..y * w];
        let row = &raw[y * w..(y + 1) * w];
        let below = &raw[(y + 1) * w..(y + 2) * w];
        for x in 1..w - 1 {
            let p = row[x];
            if (70..200).contains(&p)
                && p.abs_diff(row[x - 1]) < 12
                && p.abs_diff(row[x + 1]) < 12
                && p.abs_diff(above[x]) < 12
                && p.abs_diff(below[x]) < 12
            {
                flat += 1;
            }
        }
    }
    (flat as f64) < max_flat_fraction * ((w - 2) * (h - 2)) as f64
}

/// JPEG of a grey or RGB page (what `normalize` leaves).
pub(crate) fn encode_jpeg(
    page: &DynamicImage,
    dpi: u32,
    quality: u8,
    number: u32,
) -> Result<EncodedPage, PipelineError> {
    let (width, height) = (page.width(), page.height());
    let (data, color_type, encoding) = match page {
        DynamicImage::ImageLuma8(g) => (
            g.as_raw(),
            jpeg_encoder::ColorType::Luma,
            PageEncoding::JpegGray,
        ),
        DynamicImage::ImageRgb8(c) => (
            c.as_raw(),
            jpeg_encoder::ColorType::Rgb,
            PageEncoding::JpegColor,
        ),
        _ => {
            return Err(PipelineError::Jpeg {
                page: number,
                detail: "only 8-bit grey or RGB pages are encoded".to_owned(),
            })
        }
    };
    let mut jpeg = Vec::with_capacity(256 * 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, quality.clamp(1, 100));
    encoder.set_optimized_huffman_tables(true);
    encoder.set_density(jpeg_encoder::PixelDensity::dpi(
        u16::try_from(dpi).unwrap_or(u16::MAX),
    ));
    encoder
        .encode(data, width as u16, height as u16, color_type)
        .map_err(|e| PipelineError::Jpeg {
            page: number,
            detail: e.to_string(),
        })?;
    Ok(EncodedPage {
        data: jpeg,
        encoding,
        width,
        height,
        dpi,
        pictures: Vec::new(),
    })
}

/// CCITT Group 4 of a grey page: pixels darker than `threshold` are black. Group 4 in PDF
/// counts columns in 16 bits: the page pipeline refuses wider pages before this, and anything
/// past 65 535 columns is cut here.
pub fn encode_group4(page: &GrayImage, dpi: u32, threshold: u8) -> EncodedPage {
    let (width, height) = (page.width(), page.height());
    let w16 = u16::try_from(width).unwrap_or(u16::MAX);
    let mut encoder = fax::encoder::Encoder::new(fax::VecWriter::with_capacity(1 << 19));
    for row in page.as_raw().chunks_exact(width as usize) {
        let pels = row.iter().take(usize::from(w16)).map(|&p| {
            if p < threshold {
                fax::Color::Black
            } else {
                fax::Color::White
            }
        });
        // VecWriter cannot fail (its error type is Infallible).
        let Ok(()) = encoder.encode_line(pels, w16);
    }
    let Ok(writer) = encoder.finish();
    EncodedPage {
        data: writer.finish(),
        encoding: PageEncoding::Group4,
        width: u32::from(w16),
        height,
        dpi,
        pictures: Vec::new(),
    }
}

/// Pixels at or above `level` become 255 (colour pixels only with `color`, when all three
/// channels are).
pub(crate) fn whiten(page: &mut DynamicImage, level: u8, color: bool) {
    match page {
        DynamicImage::ImageLuma8(g) => {
            for p in g.iter_mut() {
                if *p >= level {
                    *p = 255;
                }
            }
        }
        DynamicImage::ImageRgb8(c) if color => {
            for p in c.chunks_exact_mut(3) {
                if p.iter().all(|&v| v >= level) {
                    p.fill(255);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    /// What the Group 4 stream decodes to (with fax's own decoder), as 0 = black / 255 = white.
    fn decode(page: &EncodedPage) -> GrayImage {
        let mut out = Vec::with_capacity((page.width * page.height) as usize);
        fax::decoder::decode_g4(
            page.data.iter().copied(),
            page.width as u16,
            Some(page.height as u16),
            |line| {
                out.extend(
                    fax::decoder::pels(line, page.width as u16).map(|c| match c {
                        fax::Color::Black => 0u8,
                        fax::Color::White => 255,
                    }),
                )
            },
        )
        .expect("valid group 4");
        GrayImage::from_raw(page.width, page.height, out).expect("size")
    }

    #[test]
    fn group4_round_trips_exactly() {
        let mut img = GrayImage::from_pixel(301, 120, Luma([240]));
        for y in 0..120u32 {
            for x in 0..301u32 {
                if (x * 7 + y * 3) % 23 < 5 || x == 0 || (y > 60 && x > 290) {
                    img.put_pixel(x, y, Luma([20]));
                }
            }
        }
        let page = encode_group4(&img, 300, 128);
        let back = decode(&page);
        let expected = GrayImage::from_fn(301, 120, |x, y| {
            Luma([if img.get_pixel(x, y).0[0] < 128 {
                0
            } else {
                255
            }])
        });
        assert_eq!(back, expected);
    }

    #[test]
    fn text_is_two_tone_but_shading_is_not() {
        let mut page = GrayImage::from_pixel(400, 500, Luma([250]));
        for y in (20..480).step_by(12) {
            for x in 20..380 {
                if x % 5 < 2 {
                    for dy in 0..4 {
                        page.put_pixel(x, y + dy, Luma([30]));
                    }
                }
            }
        }
        assert!(is_two_tone(&page, 0.005));
        // Thin blurred strokes: flat along the stroke, but never across it.
        for y in 20..480 {
            for x in (10..390).step_by(9) {
                page.put_pixel(x, y, Luma([110]));
                page.put_pixel(x + 1, y, Luma([110]));
            }
        }
        assert!(is_two_tone(&page, 0.005));
        for y in 100..200 {
            for x in 20..380 {
                page.put_pixel(x, y, Luma([150 + (x % 7) as u8]));
            }
        }
        assert!(!is_two_tone(&page, 0.005));
    }

    #[test]
    fn a_red_stamp_is_colour_but_scanner_tint_is_not() {
        let mut page = image::RgbImage::from_pixel(300, 300, image::Rgb([236, 238, 232]));
        assert!(!shows_color(&page, 0.001));
        for y in 100..130 {
            for x in 100..130 {
                page.put_pixel(x, y, image::Rgb([200, 40, 40]));
            }
        }
        assert!(shows_color(&page, 0.001));
    }

    #[test]
    fn mode_names_round_trip() {
        for mode in OutputMode::ALL {
            assert_eq!(OutputMode::parse(mode.name()), Some(mode));
        }
        assert_eq!(OutputMode::parse("grey"), Some(OutputMode::Gray));
        assert_eq!(OutputMode::parse("bw"), None);
    }
}
