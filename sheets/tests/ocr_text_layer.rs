//! The OCR text layer end to end with the real programs: Vietnamese pages drawn with DejaVu
//! (Debian `fonts-dejavu-core`), put through the desk scanner's noise and the page pipeline,
//! read by `tesseract -l vie` (Debian `tesseract-ocr-vie`), written by `PdfFile` with the
//! invisible text layer, then checked with `pdftotext` (poppler-utils) and `qpdf --check`.

use std::path::Path;
use std::process::Command;

use image::DynamicImage;
use motcua_scanner::pipeline::ocr::{recognize, word_recall, OcrConfig, OcrError, PageText};
use motcua_scanner::pipeline::pdf::{PdfFile, PdfOptions};
use motcua_scanner::pipeline::synth::realistic::realistic_scan_of;
use motcua_scanner::pipeline::{
    EncodedPage, OutputMode, PagePipeline, PipelineConfig, ProcessedPage,
};
use motcua_sheets::samples::{birth_form_plain, birth_form_text, render_text_page, to_gray};
use motcua_sheets::{FontConfig, Fonts};

/// Page `number` of the form, scanned with noise (seeded), through the pipeline in `mode`.
fn scanned_page(fonts: &Fonts, number: u32, mode: OutputMode, dir: &Path) -> EncodedPage {
    let clean = to_gray(&render_text_page(fonts, &birth_form_text(number)));
    let scan = realistic_scan_of(&clean, 300, 19_000 + u64::from(number), false);
    let mut config = PipelineConfig::new(dir);
    config.mode = mode;
    let mut pipeline = PagePipeline::new(config);
    match pipeline
        .process(DynamicImage::ImageLuma8(scan), 300)
        .expect("pipeline")
    {
        ProcessedPage::Content { encoded, .. } => encoded,
        other => panic!("page {number} not kept as content: {other:?}"),
    }
}

fn write_pdf(path: &Path, pages: &[(EncodedPage, Option<PageText>)]) -> Vec<u8> {
    let mut pdf = PdfFile::create_with(path, "Hồ sơ – khai sinh", PdfOptions::system_default())
        .expect("create");
    for (page, text) in pages {
        pdf.add_page_with_text(page, text.as_ref()).expect("page");
    }
    pdf.finish().expect("finish");
    std::fs::read(path).expect("read back")
}

fn pdftotext(path: &Path) -> String {
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(out.status.success(), "pdftotext failed: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn qpdf_check(path: &Path) {
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(path)
        .output()
        .expect("qpdf runs");
    assert!(
        out.status.success(),
        "qpdf --check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fonts() -> Fonts {
    Fonts::load(&FontConfig::default())
        .expect("fonts-dejavu-core is installed (scripts/install-deps.sh installs it)")
}

#[test]
fn searchable_vietnamese_text_layer_over_bilevel_and_jpeg_pages() {
    let fonts = fonts();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = OcrConfig::default();
    let mut pages = Vec::new();
    // Page 1 as bilevel Group 4 (decoded to PBM for tesseract), page 2 as grey JPEG.
    for (number, mode) in [(1, OutputMode::Bilevel), (2, OutputMode::Gray)] {
        let page = scanned_page(&fonts, number, mode, dir.path());
        let text = recognize(&page, &config).expect("tesseract -l vie (tesseract-ocr-vie)");
        assert!(!text.words.is_empty(), "page {number}: no words");
        // Tesseract on one thread gives the same words every time: the PDF bytes rely on it.
        assert_eq!(
            recognize(&page, &config).expect("again"),
            text,
            "page {number}"
        );
        pages.push((page, Some(text)));
    }
    let path = dir.path().join("doc.pdf");
    let bytes = write_pdf(&path, &pages);
    qpdf_check(&path);
    // The font is written once for both pages.
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(
        text.matches("/Type0").count(),
        1,
        "one Type 0 font per file"
    );

    let extracted = pdftotext(&path);
    let lower = extracted.to_lowercase();
    for phrase in [
        "cộng hòa",
        "độc lập",
        "hạnh phúc",
        "giấy khai sinh",
        "đăng ký khai sinh",
    ] {
        assert!(
            lower.contains(phrase),
            "{phrase:?} not found in:\n{extracted}"
        );
    }
    let expected = format!("{}\n{}", birth_form_plain(1), birth_form_plain(2));
    let recall = word_recall(&expected, &extracted);
    eprintln!("word recall {recall:.3}");
    assert!(recall >= 0.85, "word recall {recall:.3} in:\n{extracted}");

    // Same pages and words, same bytes.
    let again = write_pdf(&dir.path().join("again.pdf"), &pages);
    assert_eq!(bytes, again, "the same pages and words give the same PDF");
}

#[test]
fn a_failed_ocr_leaves_the_page_without_text() {
    let fonts = fonts();
    let dir = tempfile::tempdir().expect("tempdir");
    let page = scanned_page(&fonts, 3, OutputMode::Auto, dir.path());
    let missing = OcrConfig {
        program: dir.path().join("no-tesseract-here"),
        ..OcrConfig::default()
    };
    let err = recognize(&page, &missing).expect_err("no program");
    assert!(matches!(err, OcrError::NotInstalled { .. }), "{err}");
    assert!(err.to_string().contains("tesseract-ocr-vie"), "{err}");
    let wrong_language = OcrConfig {
        language: "xx_nonexistent".to_owned(),
        ..OcrConfig::default()
    };
    let err = recognize(&page, &wrong_language).expect_err("no model");
    assert!(matches!(err, OcrError::LanguageMissing { .. }), "{err}");

    let path = dir.path().join("plain.pdf");
    write_pdf(&path, &[(page, None)]);
    qpdf_check(&path);
    let out = Command::new("pdfinfo")
        .arg(&path)
        .output()
        .expect("pdfinfo");
    let info = String::from_utf8_lossy(&out.stdout).into_owned();
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(str::trim);
    assert_eq!(pages, Some("1"), "the page is there: {info}");
    assert!(pdftotext(&path).trim().is_empty(), "no text layer");
}
