//! Separator sheets: the PDF passes `qpdf --check` (Debian `qpdf`), every sheet rendered by
//! `pdftoppm` (Debian `poppler-utils`) at a scanner's lowest resolution decodes with `zbarimg`
//! (Debian `zbar-tools`) to its payload, and the rendered sheets split a batch through the
//! page pipeline into the right documents.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::DynamicImage;
use motcua_domain::qr_payload::Separator;
use motcua_kiosk::separators::write_separator_pdf;
use motcua_printer::FontConfig;
use motcua_scanner::pipeline::synth::text_page;
use motcua_scanner::pipeline::{PageOutcome, PagePipeline, PipelineConfig, ProcessedPage};

const DOSSIER: &str = "000.17.22.H56-261123-0042";

fn run(tool: &str, package: &str, args: &[&str]) -> std::process::Output {
    match Command::new(tool).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{tool}` is not installed: this test needs the Debian package `{package}` (apt-get install {package})"
        ),
        Err(e) => panic!("running {tool}: {e}"),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Renders every page of `pdf` at `dpi` in grey; the PGM files in page order.
fn render(pdf: &Path, dpi: u32, dir: &Path) -> Vec<PathBuf> {
    let prefix = dir.join("sheet");
    let out = run(
        "pdftoppm",
        "poppler-utils",
        &["-r", &dpi.to_string(), "-gray", s(pdf), s(&prefix)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    files.sort();
    files
}

#[test]
fn separator_sheets_decode_and_split_a_batch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let catalog = motcua_domain::catalog::seed();
    let procedure = catalog.find("1.001193").expect("birth registration");
    let n = procedure.documents.len();
    assert!(n >= 3);
    let pdf = tmp.path().join("separators.pdf");
    let separators =
        write_separator_pdf(DOSSIER, procedure, &FontConfig::default(), &pdf).expect("pdf");
    assert_eq!(separators.len(), n);
    for (i, (sep, doc)) in separators.iter().zip(&procedure.documents).enumerate() {
        assert_eq!(sep.dossier_code, DOSSIER);
        assert_eq!(sep.document_index, i as u32 + 1);
        assert_eq!(sep.document_name, doc.name_vi);
    }

    let check = run("qpdf", "qpdf", &["--check", s(&pdf)]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let pages = run("qpdf", "qpdf", &["--show-npages", s(&pdf)]);
    assert_eq!(String::from_utf8_lossy(&pages.stdout).trim(), n.to_string());

    // A scanner's lowest allowed resolution.
    let dpi = 200;
    let sheets = render(&pdf, dpi, tmp.path());
    assert_eq!(sheets.len(), n);
    for (file, sep) in sheets.iter().zip(&separators) {
        let img = image::open(file).expect("pgm");
        assert_eq!((img.width(), img.height()), (1654, 2339), "A4 at 200 dpi");
        let z = run("zbarimg", "zbar-tools", &["--quiet", "--raw", s(file)]);
        assert!(
            z.status.success(),
            "zbarimg found no code on {}",
            file.display()
        );
        let payload = String::from_utf8_lossy(&z.stdout).trim_end().to_owned();
        assert_eq!(Separator::parse(&payload).as_ref(), Some(sep), "{payload}");
    }

    // The printed sheets, scanned, split a batch: sheet 1, two pages, sheet 2, one page, ...
    let mut pipeline = PagePipeline::new(PipelineConfig::new(tmp.path().join("out")));
    let mut expected = Vec::new();
    let mut number = 0u32;
    for (i, (file, sep)) in sheets.iter().zip(&separators).enumerate() {
        let img = image::open(file).expect("pgm");
        number += 1;
        match pipeline.push(img, dpi).expect("sheet") {
            PageOutcome::Separator { separator, .. } => assert_eq!(&separator, sep),
            other => panic!("sheet {} was not read as a separator: {other:?}", i + 1),
        }
        let mut pages = Vec::new();
        for _ in 0..(n - i) {
            number += 1;
            let page = text_page(dpi, number, u64::from(number));
            pipeline
                .push(DynamicImage::ImageLuma8(page), dpi)
                .expect("page");
            pages.push(number);
        }
        expected.push((sep.clone(), pages));
    }
    let docs = pipeline.finish().expect("finish");
    assert_eq!(docs.len(), n);

    // A sheet whose QR code is smudged away still shows what it is; a text page does not.
    let mut smudged = image::open(&sheets[0]).expect("pgm").to_luma8();
    for y in 700..1400 {
        for x in 400..1250 {
            smudged.put_pixel(x, y, image::Luma([255]));
        }
    }
    let mut pipeline = PagePipeline::new(PipelineConfig::new(tmp.path().join("out2")));
    match pipeline
        .process(DynamicImage::ImageLuma8(smudged), dpi)
        .expect("process")
    {
        ProcessedPage::Content {
            looks_like_separator,
            ..
        } => assert!(looks_like_separator, "smudged sheet not recognised"),
        other => panic!("smudged sheet: {other:?}"),
    }
    match pipeline
        .process(DynamicImage::ImageLuma8(text_page(dpi, 1, 1)), dpi)
        .expect("process")
    {
        ProcessedPage::Content {
            looks_like_separator,
            ..
        } => assert!(!looks_like_separator, "text page taken for a sheet"),
        other => panic!("text page: {other:?}"),
    }
    for (doc, (sep, pages)) in docs.iter().zip(&expected) {
        assert_eq!(doc.separator.as_ref(), Some(sep));
        assert_eq!(&doc.pages, pages);
    }
}
