//! The page pipeline on realistic scans ([`synth::realistic`]): grey paper with uneven light,
//! bleed-through on blank backs, punched holes, backing strips, dust, seals, ballpoint and
//! near-blank pages.
//!
//! The detector's thresholds were tuned on the generator's seeds 1–20 (the `tune` runs of
//! every kind at 200 and 300 dpi); these tests use seeds 9001 and up, never tuned on.

mod tools;
use tools::run;

use std::path::Path;

use image::DynamicImage;
use motcua_domain::qr_payload::Separator;
use motcua_scanner::pipeline::synth::realistic::{
    batch_plan, realistic_page, realistic_scan_of, BatchPage, FrontKind, SheetKind,
};
use motcua_scanner::pipeline::synth::{read_page_mark, separator_sheet};
use motcua_scanner::pipeline::{
    EncodedPage, PageEncoding, PageOutcome, PagePipeline, PipelineConfig, ProcessedPage,
};

const DOSSIER: &str = "000.17.22.H56-261123-0007";

fn separator_for(i: u32) -> Separator {
    Separator::parse(&format!("MOTCUA-SEP1|{DOSSIER}|{i}|Giấy tờ {i}")).expect("separator")
}

/// The pixels of each planned page (on two threads: drawing is slow in a debug build).
fn draw_batch(plan: &[BatchPage], dpi: u32) -> Vec<image::GrayImage> {
    let mut pages: Vec<Option<image::GrayImage>> = vec![None; plan.len()];
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    plan.iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(n, page)| {
                            let number = n as u32 + 1;
                            let img = match *page {
                                BatchPage::Separator(i) => {
                                    let sheet = separator_sheet(
                                        dpi,
                                        0,
                                        &separator_for(i).payload(),
                                        8,
                                        u64::from(number),
                                    )
                                    .expect("qr");
                                    realistic_scan_of(
                                        &sheet,
                                        dpi,
                                        9000 + u64::from(number),
                                        i % 2 == 0,
                                    )
                                }
                                BatchPage::Side {
                                    kind,
                                    seed,
                                    punched,
                                } => realistic_page(kind, dpi, number, seed, punched),
                            };
                            (n, img)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (n, img) in h.join().expect("drawing thread") {
                pages[n] = Some(img);
            }
        }
    });
    pages.into_iter().map(|p| p.expect("drawn")).collect()
}

/// A 50-page duplex batch at the lowest allowed resolution: every blank back dropped, every
/// near-blank page kept, each document's PDF with exactly its pages in order (read back from
/// the page marks of a `pdftoppm` rendering, near-blank pages reading as 0), no backing strip
/// along any edge, `qpdf --check` clean.
#[test]
fn a_realistic_batch_drops_blank_backs_and_keeps_near_blank_pages() {
    let dpi = 200;
    let plan = batch_plan(50, 4, 9001);
    assert_eq!(plan.len(), 50);
    let kind = |p: &BatchPage| match p {
        BatchPage::Side { kind, .. } => Some(*kind),
        BatchPage::Separator(_) => None,
    };
    let blanks = plan
        .iter()
        .filter(|p| kind(p).is_some_and(SheetKind::is_blank))
        .count();
    let near = plan
        .iter()
        .filter(|p| {
            matches!(
                kind(p),
                Some(SheetKind::SignatureOnly | SheetKind::HandwrittenLine)
            )
        })
        .count();
    let stamped = plan
        .iter()
        .filter(|p| matches!(kind(p), Some(SheetKind::Letter | SheetKind::IdCopy)))
        .count();
    assert!(
        (8..=12).contains(&blanks),
        "about 20 % blank backs: {blanks}"
    );
    assert!(
        (2..=5).contains(&near),
        "about 7 % near-blank pages: {near}"
    );
    assert!(stamped >= 5, "stamped pages: {stamped}");

    let pages = draw_batch(&plan, dpi);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut pipeline = PagePipeline::new(PipelineConfig::new(tmp.path().join("out")));
    let mut expected: Vec<Vec<u32>> = Vec::new();
    let mut marks: Vec<Vec<u32>> = Vec::new();
    for (n, (page, planned)) in pages.into_iter().zip(&plan).enumerate() {
        let number = n as u32 + 1;
        let outcome = pipeline
            .push(DynamicImage::ImageLuma8(page), dpi)
            .expect("push");
        match (planned, &outcome) {
            (
                BatchPage::Separator(i),
                PageOutcome::Separator {
                    separator,
                    document,
                },
            ) => {
                assert_eq!(separator, &separator_for(*i), "page {number}");
                assert_eq!(*document, expected.len());
                expected.push(Vec::new());
                marks.push(Vec::new());
            }
            (BatchPage::Side { kind, .. }, PageOutcome::Blank(why)) if kind.is_blank() => {
                assert!(why.contains("blank: 0 content"), "page {number}: {why}");
            }
            (BatchPage::Side { kind, .. }, PageOutcome::Added { document }) if !kind.is_blank() => {
                assert_eq!(*document + 1, expected.len(), "page {number}");
                expected.last_mut().expect("document").push(number);
                marks
                    .last_mut()
                    .expect("document")
                    .push(if kind.marked() { number } else { 0 });
            }
            (planned, outcome) => panic!("page {number} ({planned:?}): {outcome:?}"),
        }
    }
    let documents = pipeline.finish().expect("finish");
    assert_eq!(documents.len(), 4);
    for (d, (doc, numbers)) in documents.iter().zip(&expected).enumerate() {
        assert_eq!(&doc.pages, numbers);
        let path = doc.pdf_path.as_ref().expect("pdf");
        let p = path.to_str().expect("utf-8");
        let check = run("qpdf", "qpdf", &["--check", p]);
        assert!(
            check.status.success(),
            "qpdf --check {p}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let render = tmp.path().join(format!("render{d}"));
        std::fs::create_dir(&render).expect("mkdir");
        let r = run(
            "pdftoppm",
            "poppler-utils",
            &[
                "-r",
                "50",
                "-gray",
                p,
                render.join("p").to_str().expect("utf-8"),
            ],
        );
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let mut files: Vec<_> = std::fs::read_dir(&render)
            .expect("list")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let read: Vec<u32> = files
            .iter()
            .map(|f| {
                let img = image::open(f).expect("rendered").to_luma8();
                assert_no_backing_strip(&img, f);
                read_page_mark(&img, 50)
            })
            .collect();
        assert_eq!(read, marks[d], "pages of document {d}");
    }
}

/// No dark strip of scanner backing along any edge of a rendered page.
fn assert_no_backing_strip(img: &image::GrayImage, file: &Path) {
    let (w, h) = (img.width(), img.height());
    let mean = |xs: std::ops::Range<u32>, ys: std::ops::Range<u32>| {
        let (mut sum, mut n) = (0u64, 0u64);
        for y in ys {
            for x in xs.clone() {
                sum += u64::from(img.get_pixel(x, y).0[0]);
                n += 1;
            }
        }
        sum / n.max(1)
    };
    for (edge, m) in [
        ("top", mean(0..w, 0..2)),
        ("bottom", mean(0..w, h - 2..h)),
        ("left", mean(0..2, 0..h)),
        ("right", mean(w - 2..w, 0..h)),
    ] {
        assert!(m > 200, "{}: dark {edge} edge (mean {m})", file.display());
    }
}

fn process(dpi: u32, kind: SheetKind, seed: u64, punched: bool) -> ProcessedPage {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut pipeline = PagePipeline::new(PipelineConfig::new(tmp.path()));
    let page = realistic_page(kind, dpi, 5, seed, punched);
    pipeline
        .process(DynamicImage::ImageLuma8(page), dpi)
        .expect("process")
}

/// Why a page was dropped is said in words: holes, specks, bleed-through; a dropped page
/// still comes compressed (to be restored), cropped to the paper.
#[test]
fn blank_detection_explains_itself() {
    let back = SheetKind::BlankBack {
        front: FrontKind::Letter,
        front_seed: 9101,
    };
    let ProcessedPage::Blank {
        analysis, encoded, ..
    } = process(200, back, 9102, true)
    else {
        panic!("a blank back was kept")
    };
    assert_eq!(analysis.holes.len(), 2, "{analysis:?}");
    assert!(analysis.cropped(), "the backing strip is outside the paper");
    let why = analysis.explanation();
    assert!(
        why.contains("2 punched hole(s)")
            && why.contains("bleed-through")
            && why.contains(" / blank: 0 content"),
        "{why}"
    );
    let encoded = encoded.expect("kept for restoring");
    assert!(encoded.height < 2339, "cropped: {}", encoded.height);

    for (kind, seed) in [
        (SheetKind::SignatureOnly, 9103),
        (SheetKind::HandwrittenLine, 9104),
    ] {
        match process(200, kind, seed, true) {
            ProcessedPage::Content { analysis, .. } => {
                assert!(
                    analysis.content > 0 && !analysis.blank,
                    "{kind:?}: {analysis:?}"
                );
                assert!(analysis.explanation().contains("content:"));
            }
            other => panic!("{kind:?} dropped: {other:?}"),
        }
    }
}

/// At 300 dpi, stamped letters, stamped ID copies and forms stay within 150 KB: the seal and
/// the photos go into grey JPEG layers, the text into a Group 4 mask; the spool keeps every
/// layer, and the PDF of them passes `qpdf --check`.
#[test]
fn stamped_pages_stay_small_with_the_seal_as_a_picture() {
    let dpi = 300;
    let tmp = tempfile::tempdir().expect("tempdir");
    let pdf_path = tmp.path().join("stamped.pdf");
    let mut pdf =
        motcua_scanner::pipeline::pdf::PdfFile::create(&pdf_path, "stamped").expect("pdf");
    for (kind, seed) in [
        (SheetKind::Letter, 9201),
        (SheetKind::IdCopy, 9202),
        (SheetKind::Form, 9203),
    ] {
        let ProcessedPage::Content { encoded, .. } = process(dpi, kind, seed, false) else {
            panic!("{kind:?} dropped")
        };
        let kb = encoded.stored_bytes() / 1024;
        assert!(kb <= 150, "{kind:?}: {kb} KB");
        if kind != SheetKind::Form {
            assert_eq!(encoded.encoding, PageEncoding::Mixed, "{kind:?}");
            // The seal (and on an ID copy the two cards) as pictures, each far smaller than
            // the page.
            let wanted = if kind == SheetKind::IdCopy { 3 } else { 1 };
            assert!(
                encoded.pictures.len() >= wanted,
                "{kind:?}: {} picture(s)",
                encoded.pictures.len()
            );
            let seal = encoded
                .pictures
                .iter()
                .filter(|p| p.width >= 400 && p.height >= 400)
                .count();
            assert!(seal >= 1, "{kind:?}: no seal-sized picture");
            assert!(encoded
                .pictures
                .iter()
                .all(|p| !p.color && p.pixel_width < p.width));
        }
        let spool = tmp.path().join("page.mcp");
        encoded.write_spool(&spool).expect("spool");
        assert_eq!(
            EncodedPage::read_spool(&spool).expect("read spool"),
            encoded
        );
        pdf.add_page(&encoded).expect("page");
    }
    pdf.finish().expect("finish");
    let p = pdf_path.to_str().expect("utf-8");
    let check = run("qpdf", "qpdf", &["--check", p]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let bytes = std::fs::read(&pdf_path).expect("read");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("/ImageMask true"), "text mask");
}

/// Same seed, same pixels; another seed, another page.
#[test]
fn the_generator_is_seeded() {
    let a = realistic_page(SheetKind::Letter, 200, 3, 9301, true);
    assert!(a == realistic_page(SheetKind::Letter, 200, 3, 9301, true));
    assert!(a != realistic_page(SheetKind::Letter, 200, 3, 9302, true));
}

/// A page of lines drawn out to the edges (a form's grid, SANE's test grid) is content, not a
/// mark along the edge; a page that is all backing (a scan without paper) is blank.
#[test]
fn a_grid_to_the_edges_is_content_and_an_all_black_scan_is_blank() {
    let (w, h) = (1654, 2339); // A4 at 200 dpi
                               // Lines 1 mm inside the paper's edge, closer than the edge allowance (1.5 mm).
    let inside = |v: u32, n: u32| (8..n - 8).contains(&v);
    let grid = image::GrayImage::from_fn(w, h, |x, y| {
        if inside(x, w) && inside(y, h) && ((x + 92) % 100 < 3 || (y + 92) % 100 < 3) {
            image::Luma([0])
        } else {
            image::Luma([235])
        }
    });
    let black = image::GrayImage::from_pixel(w, h, image::Luma([5]));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pipeline = PagePipeline::new(PipelineConfig::new(dir.path()));
    let kept = pipeline
        .process(DynamicImage::ImageLuma8(grid), 200)
        .expect("grid page");
    assert!(
        !matches!(kept, ProcessedPage::Blank { .. }),
        "a grid to the edges was dropped as blank"
    );
    let dropped = pipeline
        .process(DynamicImage::ImageLuma8(black), 200)
        .expect("black page");
    assert!(
        matches!(dropped, ProcessedPage::Blank { .. }),
        "an all-black scan was kept"
    );
}
