//! Intake on realistic paper with the real separator sheets: the sheets `kioskctl separators`
//! prints (its `write_separator_pdf`), rendered by `pdftoppm` (Debian `poppler-utils`) at
//! 200 dpi and "scanned" with the realistic effects (grey paper, skew, backing, holes, dust),
//! split a 50-page realistic duplex batch (blank backs with bleed-through, near-blank pages,
//! stamped letters, ID copies, forms): every separator read, every blank back dropped, every
//! near-blank page kept, each document with exactly its pages, `qpdf --check` (Debian `qpdf`)
//! clean. Seed 9401: never used to tune the detector (tuned on seeds 1–20).

use std::path::{Path, PathBuf};
use std::process::Command;

use image::DynamicImage;
use motcua_kiosk::separators::write_separator_pdf;
use motcua_printer::FontConfig;
use motcua_scanner::pipeline::synth::realistic::{
    batch_plan, realistic_page, realistic_scan_of, BatchPage,
};
use motcua_scanner::pipeline::{PageOutcome, PagePipeline, PipelineConfig};

const DOSSIER: &str = "000.17.22.H56-261123-0099";
const DPI: u32 = 200;

fn tool(name: &str, package: &str, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new(name).args(args).output().map_err(|e| {
        anyhow::anyhow!("{name} could not run ({e}): install the Debian package {package}")
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

#[test]
fn printed_separators_split_a_realistic_batch() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let catalog = motcua_domain::catalog::seed();
    let procedure = catalog
        .find("1.001193")
        .ok_or_else(|| anyhow::anyhow!("birth registration is in the seed catalog"))?;
    let pdf = tmp.path().join("separators.pdf");
    let separators = write_separator_pdf(DOSSIER, procedure, &FontConfig::default(), &pdf)?;
    let out = tool(
        "pdftoppm",
        "poppler-utils",
        &[
            "-r",
            &DPI.to_string(),
            "-gray",
            s(&pdf),
            s(&tmp.path().join("sheet")),
        ],
    )?;
    anyhow::ensure!(
        out.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sheets: Vec<PathBuf> = std::fs::read_dir(tmp.path())?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    sheets.retain(|p| p.extension().is_some_and(|e| e == "pgm"));
    sheets.sort();
    assert_eq!(sheets.len(), separators.len());

    let plan = batch_plan(50, separators.len() as u32, 9401);
    let mut pipeline = PagePipeline::new(PipelineConfig::new(tmp.path().join("out")));
    let mut expected: Vec<Vec<u32>> = Vec::new();
    for (n, page) in plan.iter().enumerate() {
        let number = n as u32 + 1;
        let img = match *page {
            BatchPage::Separator(i) => {
                let sheet = image::open(&sheets[i as usize - 1])?.to_luma8();
                realistic_scan_of(&sheet, DPI, 9400 + u64::from(number), i % 2 == 1)
            }
            BatchPage::Side {
                kind,
                seed,
                punched,
            } => realistic_page(kind, DPI, number, seed, punched),
        };
        let outcome = pipeline.push(DynamicImage::ImageLuma8(img), DPI)?;
        match (page, outcome) {
            (BatchPage::Separator(i), PageOutcome::Separator { separator, .. }) => {
                assert_eq!(separator, separators[*i as usize - 1], "page {number}");
                expected.push(Vec::new());
            }
            (BatchPage::Side { kind, .. }, PageOutcome::Blank(_)) if kind.is_blank() => {}
            (BatchPage::Side { kind, .. }, PageOutcome::Added { .. }) if !kind.is_blank() => {
                expected
                    .last_mut()
                    .ok_or_else(|| anyhow::anyhow!("a page before the first sheet"))?
                    .push(number);
            }
            (page, outcome) => panic!("page {number} ({page:?}): {outcome:?}"),
        }
    }
    let documents = pipeline.finish()?;
    assert_eq!(documents.len(), separators.len());
    for (doc, pages) in documents.iter().zip(&expected) {
        assert_eq!(&doc.pages, pages);
        let path = doc
            .pdf_path
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("document without a PDF"))?;
        let check = tool("qpdf", "qpdf", &["--check", s(path)])?;
        assert!(check.status.success(), "qpdf --check {}", path.display());
        let count = tool("qpdf", "qpdf", &["--show-npages", s(path)])?;
        assert_eq!(
            String::from_utf8_lossy(&count.stdout).trim(),
            pages.len().to_string()
        );
    }
    Ok(())
}
