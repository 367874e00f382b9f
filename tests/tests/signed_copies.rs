//! Digitized copies signed by the officer who digitized them (issue #19), across real
//! processes: a SoftHSM2 token holds an RSA key made on the token and a test CA's certificate
//! for it; `kioskctl intake` asks the token's PIN (on stdin here), a wrong PIN and a missing
//! token leave the documents stored, unsigned and not sent; `kioskctl sign` signs them, kioskd
//! delivers them, and the copies the gateway holds are judged by tools no one here wrote:
//! poppler's `pdfsig` and pyHanko report the signature valid and the document unmodified, and
//! `qpdf --check` passes; one byte changed in a page afterwards makes both report it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use motcua_scanner::pipeline::synth::text_page;
use motcua_tests::harness::signing::{pdfsig, pyhanko, qpdf_check, SoftHsm, TestCa};
use motcua_tests::{dossier_json, random_file, Gateway, Kiosk, KioskSettings};

const PIN: &str = "4711";
const OFFICER: &str = "Nguyễn Văn An";

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Three text pages in a hot folder (no separator sheet: the dossier's unsorted document).
fn batch(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for n in 1..=3 {
        let part = dir.join(format!("scan{n:03}.png.part"));
        text_page(200, n, u64::from(n)).save_with_format(&part, image::ImageFormat::Png)?;
        std::fs::rename(&part, dir.join(format!("scan{n:03}.png")))?;
    }
    Ok(())
}

/// `pdf` with one byte of its first page's image changed.
fn tampered(pdf: &[u8]) -> Vec<u8> {
    let mut bytes = pdf.to_vec();
    let image = bytes
        .windows(14)
        .position(|w| w == b"/Subtype /Image")
        .unwrap_or(0);
    let stream = image
        + bytes[image..]
            .windows(7)
            .position(|w| w == b"stream\n")
            .unwrap_or(0)
        + 7;
    bytes[stream + 40] ^= 0x01;
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn intake_copies_are_signed_on_the_officers_token() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let ca = TestCa::new(&tmp.path().join("ca"))?;
    let token = SoftHsm::new(
        &tmp.path().join("token"),
        "can-bo-01",
        PIN,
        &ca,
        OFFICER,
        365,
    )?;
    // The same machine with no token plugged in: SoftHSM2 with an empty token folder.
    let unplugged = tmp.path().join("unplugged.conf");
    std::fs::create_dir_all(tmp.path().join("no-tokens"))?;
    std::fs::write(
        &unplugged,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            tmp.path().join("no-tokens").display()
        ),
    )?;

    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let settings = KioskSettings::new(&gateway).with(&token.section());
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &settings)?;
    random_file(&tmp.path().join("form.pdf"), 2_000)?;
    let code = kiosk.submit(&dossier_json(tmp.path(), "1.001193", &["form.pdf"])?)?;
    let document = format!("{code}-00");
    let hot = tmp.path().join("hot");
    batch(&hot)?;
    let intake = [
        "intake",
        "--dossier",
        &code,
        "--hot-folder",
        s(&hot),
        "--idle-secs",
        "2",
        "--page-timeout-secs",
        "30",
        "--pin-stdin",
    ];
    let conf = [("SOFTHSM2_CONF", token.conf.as_path())];

    // A wrong PIN: the document is stored, not signed, not sent; the officer is told.
    let out = kiosk.ctl_with(&intake, b"0000\n", &conf)?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "unsigned documents make kioskctl fail"
    );
    assert!(
        err.contains("mã PIN") && err.contains("PIN is wrong"),
        "{err}"
    );
    assert!(
        err.contains(&document) && err.contains("kioskctl sign"),
        "{err}"
    );
    assert_eq!(kiosk.status()?["pending"], 1, "only the dossier is queued");

    // No token plugged in: the same, in other words.
    let out = kiosk.ctl_with(
        &["sign", "--pin-stdin"],
        format!("{PIN}\n").as_bytes(),
        &[("SOFTHSM2_CONF", unplugged.as_path())],
    )?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("chưa cắm USB ký số"), "{err}");
    assert_eq!(
        kiosk.status()?["pending"],
        1,
        "still nothing unsigned queued"
    );

    // The token and its PIN: signed by the certificate's holder, then queued.
    let out = kiosk.ctl_with(
        &["sign", "--pin-stdin"],
        format!("{PIN}\n").as_bytes(),
        &conf,
    )?;
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("Người ký: {OFFICER}")), "{err}");
    assert!(stdout.contains(&format!("{document} (đã ký")), "{stdout}");

    kiosk.start_daemon()?;
    kiosk.wait_delivered(Duration::from_secs(60), "the signed copy to be delivered")?;
    let view = gateway.set_status(&code, "accepted").await?;
    let digitized = view["digitized"].as_array().cloned().unwrap_or_default();
    assert_eq!(digitized.len(), 1, "{view}");
    let sha = digitized[0]["sha256"].as_str().unwrap_or_default();
    let held = gateway.blob(sha).await?;
    let pdf = tmp.path().join("held.pdf");
    std::fs::write(&pdf, &held)?;

    let report = pdfsig(&pdf, &ca.pem_path)?;
    println!("pdfsig:\n{report}");
    assert!(report.contains("Signature is Valid."), "{report}");
    assert!(report.contains("Total document signed"), "{report}");
    assert!(report.contains("Certificate is Trusted."), "{report}");
    assert!(
        report.contains(&format!("Common Name: {OFFICER}")),
        "{report}"
    );
    assert!(report.contains("ETSI.CAdES.detached"), "{report}");
    let (valid, report) = pyhanko(&pdf, &ca.pem_path)?;
    println!("pyHanko:\n{report}");
    assert!(valid, "{report}");
    assert!(
        report.contains("The signature is judged VALID."),
        "{report}"
    );
    assert!(
        report.contains("The signature covers the entire file."),
        "{report}"
    );
    let (ok, words) = qpdf_check(&pdf)?;
    assert!(ok, "{words}");
    // What came before the signature is a complete PDF of its own (the pipeline's bytes).
    let first_eof = held
        .windows(6)
        .position(|w| w == b"%%EOF\n")
        .map(|at| at + 6)
        .unwrap_or(0);
    assert!(first_eof > 0 && first_eof < held.len());
    let unsigned: PathBuf = tmp.path().join("unsigned-part.pdf");
    std::fs::write(&unsigned, &held[..first_eof])?;
    let (ok, words) = qpdf_check(&unsigned)?;
    assert!(ok, "the unsigned part: {words}");

    // One byte of a page changed afterwards: both validators say so.
    let changed = tmp.path().join("changed.pdf");
    std::fs::write(&changed, tampered(&held))?;
    let report = pdfsig(&changed, &ca.pem_path)?;
    assert!(!report.contains("Signature is Valid."), "{report}");
    assert!(
        report.contains("Digest Mismatch") || report.contains("Invalid"),
        "{report}"
    );
    let (valid, report) = pyhanko(&changed, &ca.pem_path)?;
    assert!(!valid, "{report}");
    assert!(report.contains("INVALID"), "{report}");

    // The same batch again: nothing new signed, stored or sent.
    let hot2 = tmp.path().join("hot2");
    batch(&hot2)?;
    let mut again = intake;
    again[4] = s(&hot2);
    let out = kiosk.ctl_with(&again, format!("{PIN}\n").as_bytes(), &conf)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{document} (đã lưu trước đó / already stored)")),
        "{stdout}"
    );
    assert!(!stdout.contains("đã ký"), "{stdout}");
    assert_eq!(kiosk.status()?["pending"], 0);
    Ok(())
}
