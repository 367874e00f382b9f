//! File sniffing, completeness checks and decoding shared by the SANE and hot-folder paths.
//!
//! Completeness matters for hot folders: a network scanner writing over SMB leaves a file that
//! grows in pieces, and taking it half-written would store a truncated page forever. Each format
//! has a cheap end marker (JPEG `EOI`, PNG `IEND`, PDF `%%EOF`); TIFF has none (its directory may
//! be anywhere), so a TIFF counts as complete only when every page decodes.

use std::io::Cursor;

use image::DynamicImage;

use super::page::ColorMode;

/// File types we accept, recognised by their first bytes (extensions lie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Tiff,
    Png,
    Jpeg,
    Pdf,
    Pnm,
}

/// Recognise a file by its magic bytes.
pub(crate) fn sniff(bytes: &[u8]) -> Option<FileKind> {
    if bytes.starts_with(b"II*\0")
        || bytes.starts_with(b"MM\0*")
        || bytes.starts_with(b"II+\0")
        || bytes.starts_with(b"MM\0+")
    {
        Some(FileKind::Tiff)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(FileKind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(FileKind::Jpeg)
    } else if bytes.starts_with(b"%PDF-") {
        Some(FileKind::Pdf)
    } else if bytes.len() >= 2 && bytes[0] == b'P' && (b'1'..=b'6').contains(&bytes[1]) {
        Some(FileKind::Pnm)
    } else {
        None
    }
}

fn tail(bytes: &[u8], n: usize) -> &[u8] {
    &bytes[bytes.len().saturating_sub(n)..]
}

/// Whether the file's end marker is present. TIFF and PNM have none: they are judged by
/// decoding (see [`decode_raster`]).
pub(crate) fn has_end_marker(kind: FileKind, bytes: &[u8]) -> bool {
    match kind {
        // EOI, allowing a little padding some scanners append.
        FileKind::Jpeg => find(tail(bytes, 64), &[0xFF, 0xD9]).is_some(),
        // The IEND chunk: type plus its fixed CRC.
        FileKind::Png => find(tail(bytes, 64), b"IEND\xAE\x42\x60\x82").is_some(),
        // The spec allows trailing whitespace after %%EOF; 1 KiB is generous.
        FileKind::Pdf => find(tail(bytes, 1024), b"%%EOF").is_some(),
        FileKind::Tiff | FileKind::Pnm => true,
    }
}

/// A decoded raster page with what its file said about it.
#[derive(Debug)]
pub(crate) struct DecodedPage {
    pub(crate) image: DynamicImage,
    pub(crate) dpi: Option<u32>,
    pub(crate) mode: Option<ColorMode>,
}

/// Decode every page of a raster file (several for a multi-page TIFF).
pub(crate) fn decode_raster(kind: FileKind, bytes: &[u8]) -> Result<Vec<DecodedPage>, String> {
    match kind {
        FileKind::Tiff => decode_tiff(bytes),
        FileKind::Pdf => Err("a PDF is not a raster image".to_owned()),
        FileKind::Png | FileKind::Jpeg | FileKind::Pnm => {
            let format = match kind {
                FileKind::Png => image::ImageFormat::Png,
                FileKind::Jpeg => image::ImageFormat::Jpeg,
                _ => image::ImageFormat::Pnm,
            };
            let image =
                image::load_from_memory_with_format(bytes, format).map_err(|e| e.to_string())?;
            let (dpi, one_bit) = match kind {
                FileKind::Png => (png_dpi(bytes), png_bit_depth(bytes) == Some(1)),
                FileKind::Jpeg => (jfif_dpi(bytes), false),
                _ => (None, bytes.starts_with(b"P1") || bytes.starts_with(b"P4")),
            };
            let mode = if one_bit {
                Some(ColorMode::Lineart)
            } else {
                mode_of(&image)
            };
            Ok(vec![DecodedPage { image, dpi, mode }])
        }
    }
}

/// Colour mode from the decoded pixel type.
pub(crate) fn mode_of(image: &DynamicImage) -> Option<ColorMode> {
    use image::ColorType as C;
    match image.color() {
        C::L8 | C::L16 | C::La8 | C::La16 => Some(ColorMode::Gray),
        C::Rgb8 | C::Rgb16 | C::Rgba8 | C::Rgba16 | C::Rgb32F | C::Rgba32F => {
            Some(ColorMode::Color)
        }
        _ => None,
    }
}

/// PNG `pHYs` in pixels per metre, converted to dpi.
fn png_dpi(bytes: &[u8]) -> Option<u32> {
    let mut pos = 8;
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().ok()?) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = bytes.get(pos + 8..pos.checked_add(8)?.checked_add(len)?)?;
        if kind == b"pHYs" && data.len() == 9 && data[8] == 1 {
            let ppm = u32::from_be_bytes(data[0..4].try_into().ok()?);
            return Some((f64::from(ppm) * 0.0254).round() as u32);
        }
        if kind == b"IDAT" || kind == b"IEND" {
            return None;
        }
        pos = pos.checked_add(12)?.checked_add(len)?;
    }
    None
}

/// Bit depth from the PNG header.
fn png_bit_depth(bytes: &[u8]) -> Option<u8> {
    // Signature (8), length (4), "IHDR" (4), width (4), height (4), then bit depth.
    (bytes.get(12..16)? == b"IHDR").then(|| bytes.get(24).copied())?
}

/// JPEG density from the JFIF APP0 segment.
fn jfif_dpi(bytes: &[u8]) -> Option<u32> {
    // FFD8, then FFE0 len(2) "JFIF\0" version(2) units(1) xdensity(2) ydensity(2).
    let app0 = bytes.get(2..18)?;
    if app0[0..2] != [0xFF, 0xE0] || &app0[4..9] != b"JFIF\0" {
        return None;
    }
    let units = app0[11];
    let x = u32::from(u16::from_be_bytes([app0[12], app0[13]]));
    match units {
        1 => Some(x),
        2 => Some((f64::from(x) * 2.54).round() as u32),
        _ => None,
    }
}

/// Decode all pages of a TIFF. Any failure (including a file cut short) is an error, which the
/// hot folder reads as "not complete yet".
fn decode_tiff(bytes: &[u8]) -> Result<Vec<DecodedPage>, String> {
    use tiff::decoder::{Decoder, DecodingResult};
    use tiff::ColorType as T;

    let mut decoder = Decoder::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut pages = Vec::new();
    loop {
        let (w, h) = decoder.dimensions().map_err(|e| e.to_string())?;
        let color = decoder.colortype().map_err(|e| e.to_string())?;
        let dpi = tiff_dpi(&mut decoder);
        let data = decoder.read_image().map_err(|e| e.to_string())?;
        let short = || {
            format!(
                "page {} has fewer pixels than its size says",
                pages.len() + 1
            )
        };
        let (image, mode) = match (color, data) {
            (T::Gray(1), DecodingResult::U8(packed)) => {
                let stride = (w as usize).div_ceil(8);
                let mut out = Vec::with_capacity(w as usize * h as usize);
                for row in 0..h as usize {
                    let line = packed
                        .get(row * stride..(row + 1) * stride)
                        .ok_or_else(short)?;
                    for x in 0..w as usize {
                        let bit = (line[x / 8] >> (7 - (x % 8))) & 1;
                        out.push(if bit == 1 { 255 } else { 0 });
                    }
                }
                let img = image::GrayImage::from_raw(w, h, out).ok_or_else(short)?;
                (DynamicImage::ImageLuma8(img), Some(ColorMode::Lineart))
            }
            (T::Gray(8), DecodingResult::U8(v)) => (
                DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, v).ok_or_else(short)?),
                Some(ColorMode::Gray),
            ),
            (T::Gray(16), DecodingResult::U16(v)) => (
                DynamicImage::ImageLuma16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(short)?),
                Some(ColorMode::Gray),
            ),
            (T::RGB(8), DecodingResult::U8(v)) => (
                DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, v).ok_or_else(short)?),
                Some(ColorMode::Color),
            ),
            (T::RGB(16), DecodingResult::U16(v)) => (
                DynamicImage::ImageRgb16(image::ImageBuffer::from_raw(w, h, v).ok_or_else(short)?),
                Some(ColorMode::Color),
            ),
            (T::RGBA(8), DecodingResult::U8(v)) => (
                DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, v).ok_or_else(short)?),
                Some(ColorMode::Color),
            ),
            (T::GrayA(8), DecodingResult::U8(v)) => (
                DynamicImage::ImageLumaA8(image::ImageBuffer::from_raw(w, h, v).ok_or_else(short)?),
                Some(ColorMode::Gray),
            ),
            (other, _) => {
                return Err(format!(
                    "page {}: TIFF pixel format {other:?} is not supported",
                    pages.len() + 1
                ))
            }
        };
        pages.push(DecodedPage { image, dpi, mode });
        if !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(|e| e.to_string())?;
    }
    Ok(pages)
}

/// TIFF XResolution with its unit (2 = inch, 3 = centimetre).
fn tiff_dpi<R: std::io::Read + std::io::Seek>(
    decoder: &mut tiff::decoder::Decoder<R>,
) -> Option<u32> {
    use tiff::decoder::ifd::Value;
    use tiff::tags::Tag;
    let value = decoder.find_tag(Tag::XResolution).ok()??;
    let per_unit = match value {
        Value::Rational(n, d) if d != 0 => f64::from(n) / f64::from(d),
        Value::Unsigned(n) => f64::from(n),
        Value::Short(n) => f64::from(n),
        _ => return None,
    };
    let unit = decoder
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten()
        .unwrap_or(2);
    match unit {
        2 => Some(per_unit.round() as u32),
        3 => Some((per_unit * 2.54).round() as u32),
        _ => None,
    }
}

/// Cheap PDF page count: `/Type /Page` objects (not `/Pages`) in the raw bytes.
///
/// `None` when none are visible, which happens when the page tree lives in compressed object
/// streams (PDF 1.5+); we do not parse PDFs further because we pass them through untouched.
pub(crate) fn pdf_page_count(bytes: &[u8]) -> Option<u32> {
    let mut count = 0u32;
    let mut i = 0;
    while let Some(off) = find(&bytes[i..], b"/Type") {
        let mut j = i + off + 5;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'\r' | b'\n' | b'\t') {
            j += 1;
        }
        if bytes[j..].starts_with(b"/Page") {
            let next = bytes.get(j + 5).copied();
            if !matches!(next, Some(c) if c.is_ascii_alphanumeric()) {
                count += 1;
            }
        }
        i = j.max(i + off + 1);
    }
    (count > 0).then_some(count)
}

/// Where `needle` first occurs in `haystack`: the one substring search of this module (end
/// markers and PDF page objects).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_page_count_counts_page_objects_not_the_tree() {
        let pdf = b"%PDF-1.4\n1 0 obj<</Type /Pages /Count 2>>endobj\n2 0 obj<</Type/Page>>endobj\n3 0 obj<</Type /Page /Parent 1 0 R>>endobj\n%%EOF\n";
        assert_eq!(pdf_page_count(pdf), Some(2));
        assert_eq!(pdf_page_count(b"%PDF-1.7\n%%EOF"), None);
    }

    #[test]
    fn end_markers() {
        assert!(has_end_marker(FileKind::Pdf, b"%PDF-1.4 ... %%EOF\r\n"));
        assert!(!has_end_marker(FileKind::Pdf, b"%PDF-1.4 ... "));
        assert!(has_end_marker(
            FileKind::Jpeg,
            &[0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xD9]
        ));
        assert!(!has_end_marker(
            FileKind::Jpeg,
            &[0xFF, 0xD8, 0xFF, 0xE0, 0x00]
        ));
    }

    #[test]
    fn sniffing_uses_magic_bytes() {
        assert_eq!(sniff(b"II*\0...."), Some(FileKind::Tiff));
        assert_eq!(sniff(b"%PDF-1.7"), Some(FileKind::Pdf));
        assert_eq!(sniff(b"P6\n1 1\n255\n"), Some(FileKind::Pnm));
        assert_eq!(sniff(b"hello"), None);
    }
}
