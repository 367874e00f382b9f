//! The intake's background OCR with the real `tesseract` (Debian `tesseract-ocr-vie`): pages
//! spooled as an intake spools them are queued, their words land beside them, and the
//! document's PDF carries the text layer (`pdftotext`, `qpdf --check`); a failing OCR leaves
//! the page in the PDF without text.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use image::DynamicImage;
use motcua_flows::intake::PlannedDocument;
use motcua_kiosk::intake::assemble_pdf_with;
use motcua_kiosk::intake::ocr::{read_words, words_path, OcrQueue};
use motcua_scanner::pipeline::ocr::OcrConfig;
use motcua_scanner::pipeline::pdf::PdfOptions;
use motcua_scanner::pipeline::synth::realistic::realistic_scan_of;
use motcua_scanner::pipeline::{PagePipeline, PipelineConfig, ProcessedPage};
use motcua_sheets::samples::{birth_form_text, render_text_page, to_gray};
use motcua_sheets::{FontConfig, Fonts};

/// Spools page `number` of the sample form into `dir` as the intake does.
fn spool_page(fonts: &Fonts, number: u32, dir: &Path) -> PathBuf {
    let clean = to_gray(&render_text_page(fonts, &birth_form_text(number)));
    let scan = realistic_scan_of(&clean, 300, 23_000 + u64::from(number), false);
    let mut pipeline = PagePipeline::new(PipelineConfig::new(dir));
    let ProcessedPage::Content { encoded, .. } = pipeline
        .process(DynamicImage::ImageLuma8(scan), 300)
        .expect("pipeline")
    else {
        panic!("page {number} not content");
    };
    let path = dir.join(format!("page-{number:05}.mcp"));
    encoded.write_spool(&path).expect("spool");
    path
}

fn document(pages: Vec<PathBuf>) -> PlannedDocument {
    PlannedDocument {
        code: "000.17.22.H56-260710-0001-01".to_owned(),
        index: 1,
        name: "Tờ khai đăng ký khai sinh".to_owned(),
        page_numbers: (1..=pages.len() as u32).collect(),
        pages,
    }
}

fn pdftotext(path: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn qpdf_check(path: &Path) {
    let out = Command::new("qpdf")
        .arg("--check")
        .arg(path)
        .output()
        .expect("qpdf");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn queued_pages_get_their_words_and_the_pdf_its_text_layer() {
    let fonts = Fonts::load(&FontConfig::default()).expect("fonts-dejavu-core");
    let dir = tempfile::tempdir().expect("tempdir");
    let pages: Vec<PathBuf> = (1..=2).map(|n| spool_page(&fonts, n, dir.path())).collect();
    let queue = OcrQueue::new(OcrConfig::default());
    for p in &pages {
        queue.enqueue(p);
    }
    // Queued twice is queued once.
    queue.enqueue(&pages[1]);
    assert!(queue.backlog().waiting <= 2, "{:?}", queue.backlog());
    assert!(
        queue.wait_for(&pages, Duration::from_secs(300)),
        "OCR finished"
    );
    let backlog = queue.backlog();
    assert_eq!((backlog.waiting, backlog.done, backlog.failed), (0, 2, 0));
    for p in &pages {
        let words = read_words(p).expect("words beside the spool file");
        assert!(words.words.iter().any(|w| w.text == "khai"), "{words:?}");
    }

    let out = dir.path().join("doc.pdf");
    let doc = document(pages.clone());
    let n = assemble_pdf_with(
        &doc,
        "000.17.22.H56-260710-0001",
        &out,
        PdfOptions::system_default(),
        Some(&queue),
        Duration::from_secs(300),
    )
    .expect("pdf");
    assert_eq!(n, 2);
    qpdf_check(&out);
    let text = pdftotext(&out).to_lowercase();
    for phrase in ["cộng hòa", "độc lập", "hạnh phúc", "giấy khai sinh"] {
        assert!(text.contains(phrase), "{phrase:?} not in {text}");
    }
    // Nothing was read again (the words were there), and the bytes are the same next time.
    assert_eq!(queue.backlog().done, 2);
    let first = std::fs::read(&out).expect("read");
    assemble_pdf_with(
        &doc,
        "000.17.22.H56-260710-0001",
        &out,
        PdfOptions::system_default(),
        Some(&queue),
        Duration::from_secs(300),
    )
    .expect("pdf again");
    assert_eq!(first, std::fs::read(&out).expect("read"), "same bytes");
}

#[test]
fn a_failing_ocr_never_loses_the_page() {
    let fonts = Fonts::load(&FontConfig::default()).expect("fonts-dejavu-core");
    let dir = tempfile::tempdir().expect("tempdir");
    let page = spool_page(&fonts, 3, dir.path());
    let queue = OcrQueue::new(OcrConfig {
        program: dir.path().join("missing-tesseract"),
        ..OcrConfig::default()
    });
    let out = dir.path().join("doc.pdf");
    // assemble_pdf queues the page itself and waits for it.
    let n = assemble_pdf_with(
        &document(vec![page.clone()]),
        "000.17.22.H56-260710-0001",
        &out,
        PdfOptions::system_default(),
        Some(&queue),
        Duration::from_secs(60),
    )
    .expect("pdf without text");
    assert_eq!(n, 1);
    let backlog = queue.backlog();
    assert_eq!((backlog.waiting, backlog.failed), (0, 1), "{backlog:?}");
    assert!(!words_path(&page).exists());
    qpdf_check(&out);
    assert!(pdftotext(&out).trim().is_empty());
}
