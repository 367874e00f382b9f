//! Output modes of the page pipeline: `auto` stores a text page as CCITT Group 4, a photo as
//! grey JPEG and a stamped colour page as colour JPEG; the PDF passes `qpdf --check` (Debian
//! `qpdf`) and `pdftoppm` (Debian `poppler-utils`) renders the Group 4 page pixel for pixel as
//! the thresholded scan, at 100 % scale.

mod tools;
use tools::run;

use image::DynamicImage;
use motcua_scanner::pipeline::synth::{photo_page, read_page_mark, stamped_page, text_page};
use motcua_scanner::pipeline::{OutputMode, PageEncoding, PagePipeline, PipelineConfig};

const DPI: u32 = 300;

#[test]
fn auto_mode_picks_group4_for_text_and_jpeg_for_pictures() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = PipelineConfig::new(tmp.path().join("out"));
    assert_eq!(config.mode, OutputMode::Auto, "auto is the default");
    let threshold = config.bilevel_threshold;
    let mut pipeline = PagePipeline::new(config);
    let text = text_page(DPI, 1, 11);
    pipeline
        .push(DynamicImage::ImageLuma8(text.clone()), DPI)
        .expect("text page");
    pipeline
        .push(DynamicImage::ImageLuma8(photo_page(DPI, 2, 12)), DPI)
        .expect("photo page");
    pipeline
        .push(DynamicImage::ImageRgb8(stamped_page(DPI, 3, 13)), DPI)
        .expect("stamped page");
    let docs = pipeline.finish().expect("finish");
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    assert_eq!(
        doc.encodings,
        [
            PageEncoding::Group4,
            PageEncoding::JpegGray,
            PageEncoding::JpegColor
        ]
    );
    let path = doc.pdf_path.as_ref().expect("pdf");
    let path_str = path.to_str().expect("utf-8");
    let bytes = std::fs::read(path).expect("read");
    assert_eq!(bytes.len() as u64, doc.pdf_bytes);
    let text_pdf = String::from_utf8_lossy(&bytes);
    assert!(text_pdf.contains("/CCITTFaxDecode"));
    assert!(text_pdf.contains("/K -1"));
    // 100 % scale: A4 at 300 dpi is 2480 × 3508 px = 595.2 × 841.92 pt.
    assert_eq!(text_pdf.matches("/MediaBox [0 0 595.2 841.92]").count(), 3);

    let check = run("qpdf", "qpdf", &["--check", path_str]);
    assert!(
        check.status.success(),
        "qpdf --check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // Poppler's own CCITT decoder (`pdfimages` writes the raw 1-bit image as PBM) gives back
    // exactly the thresholded scan.
    let prefix = tmp.path().join("raw");
    let r = run(
        "pdfimages",
        "poppler-utils",
        &[
            "-f",
            "1",
            "-l",
            "1",
            path_str,
            prefix.to_str().expect("utf-8"),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let raw = image::open(tmp.path().join("raw-000.pbm"))
        .expect("pbm")
        .to_luma8();
    assert_eq!((raw.width(), raw.height()), (text.width(), text.height()));
    let differing = raw
        .pixels()
        .zip(text.pixels())
        .filter(|(r, s)| (r.0[0] < 128) != (s.0[0] < threshold))
        .count();
    assert_eq!(
        differing, 0,
        "decoded Group 4 differs from the thresholded scan"
    );

    // And the page renders at 100 % scale: A4 at 100 dpi, the page mark readable.
    let prefix = tmp.path().join("render");
    let r = run(
        "pdftoppm",
        "poppler-utils",
        &[
            "-r",
            "100",
            "-gray",
            "-f",
            "1",
            "-l",
            "1",
            path_str,
            prefix.to_str().expect("utf-8"),
        ],
    );
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let rendered = std::fs::read_dir(tmp.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "pgm"))
        .expect("rendered page");
    let img = image::open(&rendered).expect("pgm").to_luma8();
    assert_eq!(
        (img.width(), img.height()),
        (827, 1170),
        "A4 at 100 dpi (poppler rounds up)"
    );
    assert_eq!(read_page_mark(&img, 100), 1);
    let total = (img.width() * img.height()) as usize;
    let ink = img.pixels().filter(|p| p.0[0] < 128).count();
    assert!(ink * 100 > total, "the text is there: {ink} black pixels");
}

#[test]
fn fixed_modes_store_every_page_alike() {
    for (mode, expected) in [
        (OutputMode::Bilevel, PageEncoding::Group4),
        (OutputMode::Gray, PageEncoding::JpegGray),
        (OutputMode::Color, PageEncoding::JpegColor),
    ] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut config = PipelineConfig::new(tmp.path());
        config.mode = mode;
        let mut pipeline = PagePipeline::new(config);
        let page = stamped_page(200, 1, 5);
        pipeline
            .push(DynamicImage::ImageRgb8(page), 200)
            .expect("page");
        let docs = pipeline.finish().expect("finish");
        assert_eq!(docs[0].encodings, [expected], "{}", mode.name());
        let path = docs[0].pdf_path.as_ref().expect("pdf");
        let check = run("qpdf", "qpdf", &["--check", path.to_str().expect("utf-8")]);
        assert!(check.status.success(), "{}", mode.name());
    }
}

/// With the system's sRGB profile (Debian `icc-profiles-free`) PDFs carry the PDF/A-2b
/// identification, an output intent and a file identifier, and the same pages always give the
/// same bytes (so a document scanned twice is recognised as stored already).
#[test]
fn pdfs_are_pdfa_2b_and_reproducible() {
    let icc = std::path::Path::new(motcua_scanner::pipeline::pdf::DEFAULT_SRGB_ICC);
    assert!(
        icc.exists(),
        "{} is missing: this test needs the Debian package icc-profiles-free",
        icc.display()
    );
    let make = |dir: &std::path::Path| {
        let config = PipelineConfig::new(dir);
        assert!(config.pdf.srgb_icc.is_some(), "PDF/A is the default");
        let mut pipeline = PagePipeline::new(config);
        pipeline
            .push(DynamicImage::ImageLuma8(text_page(200, 1, 3)), 200)
            .expect("page");
        pipeline
            .push(DynamicImage::ImageRgb8(stamped_page(200, 2, 4)), 200)
            .expect("page");
        let docs = pipeline.finish().expect("finish");
        std::fs::read(docs[0].pdf_path.as_ref().expect("pdf")).expect("read")
    };
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let first = make(a.path());
    assert!(first == make(b.path()), "same pages, same bytes");

    let text = String::from_utf8_lossy(&first);
    assert!(text.contains("/S /GTS_PDFA1"), "output intent");
    assert!(text.contains("/DestOutputProfile"), "output profile");
    assert!(text.contains("/Type /Metadata"), "XMP metadata stream");
    assert!(text.contains("/ID [<"), "file identifier");
    let path = a.path().join("batch-001.pdf");
    let check = run("qpdf", "qpdf", &["--check", path.to_str().expect("utf-8")]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let meta = run(
        "pdfinfo",
        "poppler-utils",
        &["-meta", path.to_str().expect("utf-8")],
    );
    let meta = String::from_utf8_lossy(&meta.stdout);
    assert!(
        meta.contains("<pdfaid:part>2</pdfaid:part>")
            && meta.contains("<pdfaid:conformance>B</pdfaid:conformance>"),
        "{meta}"
    );
    assert!(
        meta.contains("Chưa phân loại / unsorted"),
        "title in XMP: {meta}"
    );
}

/// With deskew on, a page fed 2.5° crooked comes out straight; with it off, as scanned.
#[test]
fn deskew_straightens_a_crooked_page() {
    use motcua_scanner::pipeline::deskew::{estimate_skew, rotate_gray};
    use motcua_scanner::pipeline::ProcessedPage;
    let crooked = rotate_gray(&text_page(200, 1, 9), 2.5);
    let skew_of = |deskew: Option<f64>| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut config = PipelineConfig::new(tmp.path());
        config.mode = OutputMode::Gray;
        config.deskew_max_degrees = deskew;
        let mut pipeline = PagePipeline::new(config);
        let ProcessedPage::Content { encoded, .. } = pipeline
            .process(DynamicImage::ImageLuma8(crooked.clone()), 200)
            .expect("process")
        else {
            panic!("not a content page")
        };
        let page = image::load_from_memory(&encoded.data)
            .expect("jpeg")
            .to_luma8();
        estimate_skew(&page, 5.0)
    };
    let as_scanned = skew_of(None);
    assert!((as_scanned + 2.5).abs() <= 0.15, "as scanned: {as_scanned}");
    let straightened = skew_of(Some(5.0));
    assert!(straightened.abs() <= 0.15, "straightened: {straightened}");
}
