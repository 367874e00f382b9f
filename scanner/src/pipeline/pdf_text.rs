//! The invisible text layer of a PDF page: the OCR words ([`PageText`]) drawn in text
//! rendering mode 3 (neither filled nor stroked) over the page image, each word stretched to
//! its box, so a PDF reader's search and copy find the words where the scan shows them.
//!
//! **The font.** One composite (Type 0) font per file, written once before the first page
//! that has text: encoding `Identity-H`, whose two-byte codes are CIDs, and every CID is the
//! Unicode code point itself (Vietnamese, NFC, lies entirely in the Basic Multilingual Plane;
//! anything beyond it is written as U+FFFD). Its `ToUnicode` CMap is therefore the same
//! fixed table for every file (255 ranges `<XX00> <XXFF> → <XX00>`, surrogates left out), which
//! is what PDF readers and `pdftotext` use to extract the text. Its CIDFont has one default
//! width (half an em) and no font program: a glyph-less font, nothing is ever drawn with it.
//!
//! **PDF/A-2b.** ISO 19005-2 § 6.2.11.4.1 asks for the font programs of fonts "used for
//! rendering"; text in rendering mode 3 is not rendered, and the standard (unlike PDF/A-1,
//! where Tesseract's own PDFs embed a glyph-less font program for that reason) does not ask
//! for its font to be embedded; veraPDF checks this rule only for text in other modes. The
//! width consistency of § 6.2.11.5 concerns embedded programs only, and § 6.2.11.3.1 lets a
//! font with `Identity-H` carry any CIDSystemInfo. This layer never uses another mode.
//!
//! **Placement.** Each word gets its own text matrix `[sx 0 0 sy x y]` with font size 1: `y`
//! is the bottom of its box, `sy` its height, `sx` such that its glyphs (half an em each) span
//! exactly its width. Between two words of a line a space is drawn stretched over the gap, so
//! extraction separates words by a real space and not by a guess from the gap.

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, TextRenderingMode};
use pdf_writer::{Chunk, Content, Name, Rect, Ref, Str};
use unicode_normalization::UnicodeNormalization;

use super::ocr::PageText;

/// The font's resource name on pages.
pub(crate) const FONT_NAME: &[u8] = b"Ft";

/// Glyph advance in text space units (the CIDFont's `/DW` 500 / 1000).
const ADVANCE: f32 = 0.5;

/// The objects of the glyph-less font, one chunk each: Type 0 font (the one pages refer to),
/// CIDFont, descriptor, ToUnicode CMap, for the ids in that order.
pub(crate) fn font_objects(ids: [Ref; 4]) -> [Chunk; 4] {
    let [type0, cid, descriptor, cmap] = ids;
    let mut chunks = [(); 4].map(|()| Chunk::new());
    let [c0, c1, c2, c3] = &mut chunks;
    c0.type0_font(type0)
        .base_font(Name(b"GlyphLessFont"))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);
    let info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    c1.cid_font(cid)
        .subtype(CidFontType::Type2)
        .base_font(Name(b"GlyphLessFont"))
        .system_info(info)
        .font_descriptor(descriptor)
        .default_width(ADVANCE * 1000.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    c2.font_descriptor(descriptor)
        .name(Name(b"GlyphLessFont"))
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(0.0, 0.0, ADVANCE * 1000.0, 1000.0))
        .italic_angle(0.0)
        .ascent(1000.0)
        .descent(0.0)
        .cap_height(1000.0)
        .stem_v(80.0);
    let table = to_unicode_cmap();
    c3.cmap(cmap, table.as_bytes())
        .name(Name(b"GlyphLessFont-UTF16"))
        .system_info(info);
    chunks
}

/// The identity ToUnicode CMap of the BMP (see the [module documentation](self)).
fn to_unicode_cmap() -> String {
    let mut s = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
/CMapName /GlyphLessFont-UTF16 def\n/CMapType 2 def\n\
1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let ranges: Vec<u32> = (0..=0xFFu32)
        .filter(|hi| !(0xD8..=0xDF).contains(hi))
        .collect();
    // At most 100 entries per block (PDF 1.7 § 9.10.3 via the CMap specification).
    for block in ranges.chunks(100) {
        s.push_str(&format!("{} beginbfrange\n", block.len()));
        for hi in block {
            s.push_str(&format!("<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>\n"));
        }
        s.push_str("endbfrange\n");
    }
    s.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    s
}

/// The two-byte codes of `text` (NFC, one code per character, U+FFFD beyond the BMP).
fn codes(text: &str) -> Vec<u8> {
    text.nfc()
        .flat_map(|c| {
            let v = u32::from(c);
            let v = if v > 0xFFFF { 0xFFFD } else { v } as u16;
            v.to_be_bytes()
        })
        .collect()
}

/// Appends the text layer of `text` to `content`, on a page `h_pt` points high where one
/// pixel of `text`'s boxes is `scale` points. Words without size are skipped.
pub(crate) fn draw(content: &mut Content, text: &PageText, scale: f32, h_pt: f32) {
    content.begin_text();
    content.set_text_rendering_mode(TextRenderingMode::Invisible);
    content.set_font(Name(FONT_NAME), 1.0);
    let words = &text.words;
    for (i, word) in words.iter().enumerate() {
        let n = word.text.nfc().count();
        if n == 0 || word.width == 0 || word.height == 0 {
            continue;
        }
        let x = word.left as f32 * scale;
        let w = word.width as f32 * scale;
        let h = word.height as f32 * scale;
        let y = h_pt - (word.top + word.height) as f32 * scale;
        content.set_text_matrix([w / (n as f32 * ADVANCE), 0.0, 0.0, h, x, y]);
        content.show(Str(&codes(&word.text)));
        // A space stretched over the gap to the next word of the same line.
        if let Some(next) = words.get(i + 1).filter(|n| n.line == word.line) {
            let gap = next.left as f32 * scale - (x + w);
            if gap > 0.0 {
                content.set_text_matrix([gap / ADVANCE, 0.0, 0.0, h, x + w, y]);
                content.show(Str(&[0, b' ']));
            }
        }
    }
    content.end_text();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_nfc_code_points() {
        // "ộ" decomposed (o + circumflex + dot below) is one code, U+1ED9.
        assert_eq!(codes("o\u{302}\u{323}"), vec![0x1E, 0xD9]);
        assert_eq!(codes("Đ"), vec![0x01, 0x10]);
        assert_eq!(codes("😀"), vec![0xFF, 0xFD]);
    }

    #[test]
    fn cmap_covers_the_bmp_without_surrogates() {
        let cmap = to_unicode_cmap();
        assert!(cmap.contains("<1E00> <1EFF> <1E00>"));
        assert!(!cmap.contains("<D800>"));
        assert_eq!(cmap.matches("beginbfrange").count(), 3);
    }
}
