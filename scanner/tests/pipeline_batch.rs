//! A 50-page intake batch through a hot folder and the page pipeline: separator sheets split
//! it into documents, blank backs are dropped, and every PDF passes `qpdf --check` (Debian
//! package `qpdf`) and renders with `pdftoppm` (Debian package `poppler-utils`).

mod tools;
use tools::run;

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use motcua_domain::qr_payload::Separator;
use motcua_scanner::documents::{HotFolder, HotFolderConfig, PageSource, ScanEvent};
use motcua_scanner::pipeline::synth::{blank_back, read_page_mark, separator_sheet, text_page};
use motcua_scanner::pipeline::{PageOutcome, PagePipeline, PipelineConfig};

const DPI: u32 = 200;
const DOSSIER: &str = "000.17.22.H56-261123-0001";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Separator(u32),
    Text,
    Blank,
}

/// CRC-32 (ISO-HDLC), for the PNG chunk we add.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// PNG bytes with a `pHYs` chunk saying `dpi`, as scanners write them.
fn png_with_dpi(img: &image::GrayImage, dpi: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    let png = out.into_inner();
    let ppm = (f64::from(dpi) / 0.0254).round() as u32;
    let mut body = b"pHYs".to_vec();
    body.extend_from_slice(&ppm.to_be_bytes());
    body.extend_from_slice(&ppm.to_be_bytes());
    body.push(1);
    let mut chunk = 9u32.to_be_bytes().to_vec();
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32(&body).to_be_bytes());
    // Signature (8) + IHDR (4 + 4 + 13 + 4).
    let mut with = png[..33].to_vec();
    with.extend_from_slice(&chunk);
    with.extend_from_slice(&png[33..]);
    with
}

/// The batch: 5 documents of 5, 8, 6, 9 and 7 pages, each behind a separator sheet, with a
/// blank back after the 1st and the 3rd page of each document.
fn layout() -> Vec<Kind> {
    let mut kinds = Vec::new();
    for (i, pages) in [5u32, 8, 6, 9, 7].into_iter().enumerate() {
        kinds.push(Kind::Separator(i as u32 + 1));
        for p in 1..=pages {
            kinds.push(Kind::Text);
            if p == 1 || p == 3 {
                kinds.push(Kind::Blank);
            }
        }
    }
    kinds
}

fn separator_for(i: u32) -> Separator {
    Separator::parse(&format!("MOTCUA-SEP1|{DOSSIER}|{i}|Giấy tờ {i}")).expect("separator")
}

fn write_batch(dir: &Path, kinds: &[Kind]) {
    // Pages are drawn and PNG-encoded on several threads (slow in a debug build); each file is
    // written under a temporary name, then renamed, like a careful network scanner.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                for (n, kind) in kinds.iter().enumerate().skip(t).step_by(threads) {
                    let number = n as u32 + 1;
                    let seed = 1000 + u64::from(number);
                    let img = match kind {
                        Kind::Separator(i) => {
                            separator_sheet(DPI, number, &separator_for(*i).payload(), 8, seed)
                                .expect("qr")
                        }
                        Kind::Text => text_page(DPI, number, seed),
                        Kind::Blank => blank_back(DPI, seed),
                    };
                    let bytes = png_with_dpi(&img, DPI);
                    let part = dir.join(format!("scan{number:04}.png.part"));
                    std::fs::write(&part, bytes).expect("write");
                    std::fs::rename(&part, dir.join(format!("scan{number:04}.png")))
                        .expect("rename");
                }
            });
        }
    });
}

#[test]
fn a_fifty_page_batch_becomes_five_checked_pdfs() {
    let kinds = layout();
    assert_eq!(kinds.len(), 50);
    assert_eq!(kinds.iter().filter(|k| **k == Kind::Blank).count(), 10);

    let tmp = tempfile::tempdir().expect("tempdir");
    let hot = tmp.path().join("hot");
    let out = tmp.path().join("out");
    std::fs::create_dir(&hot).expect("mkdir");
    let started = Instant::now();
    write_batch(&hot, &kinds);
    eprintln!("batch written in {:.1} s", started.elapsed().as_secs_f64());

    // Take every page through the hot folder.
    let mut config = HotFolderConfig::new(&hot);
    config.settle = Duration::ZERO;
    let mut folder = HotFolder::new(config).expect("hot folder");
    let started = Instant::now();
    let mut pages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pages.len() < kinds.len() {
        assert!(
            Instant::now() < deadline,
            "hot folder gave only {} pages",
            pages.len()
        );
        for ev in folder.poll(pages.len() as u32 + 1).expect("poll") {
            match ev {
                ScanEvent::Page(p) => pages.push(p),
                other => panic!("unexpected hot-folder event {other:?}"),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Files that settled in the same poll come in modification order; paper order is the name.
    let name = |p: &motcua_scanner::documents::Page| match &p.source {
        PageSource::HotFolder { file_name, .. } => file_name.clone(),
        other => panic!("unexpected source {other:?}"),
    };
    pages.sort_by_key(name);
    assert!(pages.iter().all(|p| p.resolution_dpi == Some(DPI)));

    let mut pipeline = PagePipeline::new(PipelineConfig::new(&out));
    let mut expected: Vec<(u32, Vec<u32>)> = Vec::new();
    for (n, (page, kind)) in pages.into_iter().zip(&kinds).enumerate() {
        let number = n as u32 + 1;
        let outcome = pipeline.push_page(page).expect("push");
        match kind {
            Kind::Separator(i) => {
                assert_eq!(
                    outcome,
                    PageOutcome::Separator {
                        separator: separator_for(*i),
                        document: expected.len(),
                    },
                    "page {number}"
                );
                expected.push((*i, Vec::new()));
            }
            Kind::Blank => assert!(
                matches!(outcome, PageOutcome::Blank(_)),
                "page {number}: {outcome:?}"
            ),
            Kind::Text => {
                assert_eq!(
                    outcome,
                    PageOutcome::Added {
                        document: expected.len() - 1
                    },
                    "page {number}"
                );
                expected.last_mut().expect("doc").1.push(number);
            }
        }
    }
    let documents = pipeline.finish().expect("finish");
    eprintln!(
        "hot folder and pipeline: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(documents.len(), 5);
    for (doc, (index, numbers)) in documents.iter().zip(&expected) {
        assert_eq!(doc.separator.as_ref(), Some(&separator_for(*index)));
        assert_eq!(&doc.pages, numbers);
    }
    let counts: Vec<usize> = documents.iter().map(|d| d.pages.len()).collect();
    assert_eq!(counts, [5, 8, 6, 9, 7]);

    for doc in &documents {
        let path = doc.pdf_path.as_ref().expect("pdf");
        let bytes = std::fs::read(path).expect("read pdf");
        assert_eq!(bytes.len() as u64, doc.pdf_bytes);
        assert!(bytes.starts_with(b"%PDF-1."), "PDF header");
        assert!(bytes[7] >= b'4', "PDF version ≥ 1.4");
        // Text pages are two-tone: `auto` (the default) stores them as CCITT Group 4.
        let g4 = bytes
            .windows(15)
            .filter(|w| w == b"/CCITTFaxDecode")
            .count();
        assert_eq!(g4, doc.pages.len(), "one Group 4 stream per page");
        assert!(doc
            .encodings
            .iter()
            .all(|e| *e == motcua_scanner::pipeline::PageEncoding::Group4));
        // 100 % scale: an A4 page at 200 dpi is 1654 × 2339 px = 595.44 × 842.04 pt.
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/MediaBox [0 0 595.44 842.04]"), "media box");

        let check = run("qpdf", "qpdf", &["--check", path.to_str().expect("utf-8")]);
        assert!(
            check.status.success(),
            "qpdf --check {}: {}{}",
            path.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let npages = run(
            "qpdf",
            "qpdf",
            &["--show-npages", path.to_str().expect("utf-8")],
        );
        assert_eq!(
            String::from_utf8_lossy(&npages.stdout).trim(),
            doc.pages.len().to_string()
        );
    }

    // Render the second document and read the page marks back: the right pages, in order.
    let doc = &documents[1];
    let render = tmp.path().join("render");
    std::fs::create_dir(&render).expect("mkdir");
    let prefix = render.join("p");
    let r = run(
        "pdftoppm",
        "poppler-utils",
        &[
            "-r",
            "50",
            "-png",
            doc.pdf_path.as_ref().expect("pdf").to_str().expect("utf-8"),
            prefix.to_str().expect("utf-8"),
        ],
    );
    assert!(
        r.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let mut files: Vec<_> = std::fs::read_dir(&render)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), doc.pages.len());
    let marks: Vec<u32> = files
        .iter()
        .map(|f| {
            let img = image::open(f).expect("rendered page").to_luma8();
            assert_eq!((img.width(), img.height()), (414, 585), "A4 at 50 dpi");
            read_page_mark(&img, 50)
        })
        .collect();
    assert_eq!(marks, doc.pages);
}
