//! Intake digitization end to end, across real processes: a dossier submitted at the kiosk gets
//! printed separator sheets (`kioskctl separators`), a scanned batch arrives in a hot folder
//! (an unsorted page, blank backs, and one sheet whose QR code is smudged, answered by the
//! officer), `kioskctl intake` turns it into coded PDF documents, kioskd delivers them, and the
//! gateway holds each exactly once and byte-identical, with exactly the right pages (read back
//! with `pdftoppm`, checked with `qpdf --check`). Running the same intake again adds nothing.
//! On the embedded SQLite backend and on PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use motcua_scanner::pipeline::synth::{blank_back, read_page_mark, text_page};
use motcua_tests::harness::signing::{pdfsig, pyhanko};
use motcua_tests::{dossier_json, random_file, sections, Backend, Gateway, Kiosk, KioskSettings};
use sha2::{Digest, Sha256};

const DPI: u32 = 200;

fn tool(name: &str, package: &str, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new(name).args(args).output().map_err(|e| {
        anyhow::anyhow!("{name} could not run ({e}): install the Debian package {package}")
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Renders every page of `pdf` at `dpi` in grey into `dir`; the files in page order.
fn render(pdf: &Path, dpi: u32, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let out = tool(
        "pdftoppm",
        "poppler-utils",
        &["-r", &dpi.to_string(), "-gray", s(pdf), s(&dir.join("p"))],
    )?;
    anyhow::ensure!(
        out.status.success(),
        "pdftoppm {}: {}",
        pdf.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "pgm"));
    files.sort();
    Ok(files)
}

/// The batch, in paper order: the page mark of text pages is their paper page number.
fn write_batch(sheets: &[PathBuf], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let sheet =
        |i: usize| -> anyhow::Result<image::GrayImage> { Ok(image::open(&sheets[i])?.to_luma8()) };
    let mut smudged = sheet(2)?;
    for y in 700..1400 {
        for x in 400..1250 {
            smudged.put_pixel(x, y, image::Luma([255]));
        }
    }
    let pages: Vec<image::GrayImage> = vec![
        text_page(DPI, 1, 1), // before any separator: unsorted
        sheet(0)?,            // 2
        text_page(DPI, 3, 3),
        blank_back(DPI, 4),
        text_page(DPI, 5, 5),
        sheet(1)?, // 6
        text_page(DPI, 7, 7),
        text_page(DPI, 8, 8),
        text_page(DPI, 9, 9),
        smudged, // 10: the officer says it is document 3's sheet
        text_page(DPI, 11, 11),
    ];
    for (i, page) in pages.iter().enumerate() {
        let part = dir.join(format!("scan{:03}.png.part", i + 1));
        page.save_with_format(&part, image::ImageFormat::Png)?;
        std::fs::rename(&part, dir.join(format!("scan{:03}.png", i + 1)))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(from)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for f in names {
        if let Some(name) = f.file_name() {
            std::fs::copy(&f, to.join(name))?;
        }
    }
    Ok(())
}

/// A kiosk enrolled with `gateway` that has accepted one dossier (a form of `form_size`
/// random bytes); the dossier's code.
fn kiosk_with_a_dossier(
    root: &Path,
    gateway: &Gateway,
    form_size: usize,
) -> anyhow::Result<(Kiosk, String)> {
    let kiosk = Kiosk::enrolled(&root.join("kiosk"), &KioskSettings::new(gateway))?;
    random_file(&root.join("form.pdf"), form_size)?;
    let code = kiosk.submit(&dossier_json(root, "1.001193", &["form.pdf"])?)?;
    Ok((kiosk, code))
}

async fn intake_end_to_end(backend: Backend) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let Some(gateway) = Gateway::start_on(backend, &tmp.path().join("gateway")).await? else {
        return Ok(());
    };
    let (mut kiosk, code) = kiosk_with_a_dossier(tmp.path(), &gateway, 10_000)?;

    // Separator sheets, printed and scanned back at 200 dpi.
    let sep_pdf = tmp.path().join("separators.pdf");
    kiosk.ctl_ok(&["separators", "--dossier", &code, "--out", s(&sep_pdf)])?;
    let sheets = render(&sep_pdf, DPI, &tmp.path().join("sheets"))?;
    assert_eq!(sheets.len(), 3, "one sheet per required document");
    let batch = tmp.path().join("batch");
    write_batch(&sheets, &batch)?;
    let hot = tmp.path().join("hot");
    std::fs::create_dir_all(&hot)?;
    copy_dir(&batch, &hot)?;

    let args = [
        "intake",
        "--dossier",
        &code,
        "--hot-folder",
        s(&hot),
        "--idle-secs",
        "3",
        "--page-timeout-secs",
        "30",
    ];
    // Without an answer about page 10, nothing is stored and the officer is told why.
    let out = kiosk.ctl(&args)?;
    assert!(!out.status.success(), "a question must stop the commit");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[10]") && err.contains("--answer"), "{err}");
    assert_eq!(kiosk.status()?["pending"], 1, "only the dossier is queued");
    // Nothing stored: every file taken waits in `<hot>/returned`, to be fed again deliberately
    // (none is left in a taken folder kioskd would empty, none back in the watched folder where
    // a citizen's scan would take it).
    assert_eq!(
        files_in(&hot.join("returned"))?,
        files_in(&batch)?,
        "nothing stored: the taken files are returned"
    );
    assert_eq!(files_in(&hot)?, Vec::<String>::new());
    assert!(
        err.contains(&format!("moved to {}", hot.join("returned").display())),
        "{err}"
    );
    assert!(!hot.join("taken").exists());
    // The pages stay spooled with their thumbnails (for the staff screen), not stored.
    let spool = kiosk.data_dir().join("intake").join(&code);
    let thumbs: Vec<PathBuf> = std::fs::read_dir(&spool)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(
        thumbs.len(),
        8,
        "one thumbnail per non-blank, non-separator page"
    );
    for t in &thumbs {
        let img = image::open(t)?;
        assert!(img.width() <= 160 && img.width() >= 100, "{}", img.width());
    }

    let hot = tmp.path().join("hot2");
    std::fs::create_dir_all(&hot)?;
    copy_dir(&batch, &hot)?;
    let mut answered: Vec<&str> = args.to_vec();
    answered[4] = s(&hot);
    answered.extend(["--answer", "10=3"]);
    // A PDF is not split into pages: skipped, so not stored, so returned (not deleted).
    std::fs::write(hot.join("zz-extra.pdf"), b"%PDF-1.4\n%%EOF\n")?;
    let out = kiosk.ctl_ok(&answered)?;
    let codes: Vec<String> = (0..=3).map(|i| format!("{code}-{i:02}")).collect();
    for c in &codes {
        assert!(out.lines().any(|l| l == c), "{c} missing in:\n{out}");
    }
    assert!(out.contains("trang/page  11"), "progress per page:\n{out}");
    assert_eq!(
        files_in(&hot)?,
        Vec::<String>::new(),
        "the citizen's scans are deleted once stored"
    );
    assert_eq!(
        files_in(&hot.join("returned"))?,
        vec!["zz-extra.pdf".to_owned()],
        "the skipped PDF waits in returned/"
    );
    let scratch: Vec<_> = std::fs::read_dir(kiosk.data_dir().join("intake"))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("scan-"))
        .collect();
    assert!(scratch.is_empty(), "kioskctl's private folders are gone");

    kiosk.start_daemon()?;
    kiosk.wait_delivered(Duration::from_secs(60), "the outbox to drain")?;
    let stats = gateway.stats().await?;
    assert_eq!(stats["digitized_documents"], 4, "{stats}");

    // Each document exactly once, byte-identical to the kiosk's copy, with exactly its pages.
    let view = gateway.set_status(&code, "accepted").await?;
    let digitized = view["digitized"].as_array().cloned().unwrap_or_default();
    let got: Vec<&str> = digitized
        .iter()
        .filter_map(|d| d["document_code"].as_str())
        .collect();
    assert_eq!(got, codes.iter().map(String::as_str).collect::<Vec<_>>());
    let expected_pages: [&[u32]; 4] = [&[1], &[3, 5], &[7, 8, 9], &[11]];
    for (i, (doc, pages)) in digitized.iter().zip(expected_pages).enumerate() {
        let sha = doc["sha256"].as_str().unwrap_or_default();
        let bytes = gateway.blob(sha).await?;
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
        let local = std::fs::read(kiosk.data_dir().join("blobs").join(&sha[..2]).join(sha))?;
        assert!(
            local[..] == bytes[..],
            "document {i} differs from the kiosk's copy"
        );
        assert_eq!(doc["pages"], pages.len());
        assert_eq!(doc["document_index"], i);
        let pdf = tmp.path().join(format!("doc{i}.pdf"));
        std::fs::write(&pdf, &bytes)?;
        let check = tool("qpdf", "qpdf", &["--check", s(&pdf)])?;
        assert!(check.status.success(), "qpdf --check document {i}");
        // Signed by the kiosk's (demo) officer key before it was sent: both validators agree.
        let report = pdfsig(&pdf, &kiosk.signing_ca())?;
        assert!(
            report.contains("Signature is Valid.") && report.contains("Total document signed"),
            "document {i}: {report}"
        );
        let (valid, report) = pyhanko(&pdf, &kiosk.signing_ca())?;
        assert!(valid, "document {i}: {report}");
        let marks: Vec<u32> = render(&pdf, 50, &tmp.path().join(format!("r{i}")))?
            .iter()
            .map(|f| Ok(read_page_mark(&image::open(f)?.to_luma8(), 50)))
            .collect::<anyhow::Result<_>>()?;
        assert_eq!(marks, pages, "pages of document {i}");
    }

    // The same batch again: nothing new is stored or sent (the outbox gains no entry, so there
    // is nothing to send).
    let outbox_entries = |kiosk: &Kiosk| -> anyhow::Result<u64> {
        let st = kiosk.status()?;
        let count = |key: &str| {
            st[key]
                .as_u64()
                .ok_or_else(|| anyhow::anyhow!("no {key} in the status: {st}"))
        };
        Ok(count("pending")? + count("delivered")?)
    };
    let entries_before = outbox_entries(&kiosk)?;
    let hot = tmp.path().join("hot3");
    std::fs::create_dir_all(&hot)?;
    copy_dir(&batch, &hot)?;
    answered[4] = s(&hot);
    let out = kiosk.ctl_ok(&answered)?;
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with("(đã lưu trước đó / already stored)"))
            .count(),
        4,
        "{out}"
    );
    assert_eq!(kiosk.status()?["pending"], 0);
    assert_eq!(
        outbox_entries(&kiosk)?,
        entries_before,
        "the repeated intake queued something to send"
    );
    assert_eq!(gateway.stats().await?["digitized_documents"], 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn intake_sqlite_backend() -> anyhow::Result<()> {
    intake_end_to_end(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn intake_postgres_backend() -> anyhow::Result<()> {
    intake_end_to_end(Backend::Postgres).await
}

/// The SANE path: `kioskctl intake` scans SANE's test device (Debian `sane-utils`), configured
/// as the kiosk's `[scanner]`, through `scanimage`; its feeder gives pages without separator
/// sheets, which become the dossier's "unsorted" document, delivered once to the gateway. The
/// device draws a grid (a page of lines to the edges, like a form): its default, a solid black
/// page, is what a scanner gives without paper, and blank detection rightly drops it.
#[tokio::test(flavor = "multi_thread")]
async fn intake_from_a_sane_scanner() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let settings = KioskSettings::new(&gateway).with(&sections::sane_test_scanner(
        "gray",
        "adf",
        &["--test-picture=Grid"],
    ));
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &settings)?;
    random_file(&tmp.path().join("form.pdf"), 1_000)?;
    let code = kiosk.submit(&dossier_json(tmp.path(), "1.001193", &["form.pdf"])?)?;
    let out = kiosk.ctl_ok(&["intake", "--dossier", &code])?;
    let unsorted = format!("{code}-00");
    assert!(out.lines().any(|l| l == unsorted), "{out}");
    let pages = out.lines().filter(|l| l.starts_with("trang/page")).count();
    assert!(pages >= 1, "{out}");

    kiosk.start_daemon()?;
    kiosk.wait_delivered(Duration::from_secs(60), "the outbox to drain")?;
    let view = gateway.set_status(&code, "accepted").await?;
    let digitized = view["digitized"].as_array().cloned().unwrap_or_default();
    assert_eq!(digitized.len(), 1, "{view}");
    assert_eq!(digitized[0]["document_code"], unsorted.as_str());
    assert_eq!(digitized[0]["pages"], pages);
    Ok(())
}

/// The names of the files directly in `dir`, sorted.
fn files_in(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}
