//! "Never asked twice" (Circular 01/2023/TT-VPCP, issue #19 part 5), end to end across real
//! processes: a citizen's first dossier (criminal record certificate) is digitized at intake
//! (`kioskctl separators` and `kioskctl intake` from a hot folder), kioskd delivers it to a
//! real gateway, which then holds the citizen's ID card copy by its kind for the ID number.
//! At the touch screen, the same card starts a second dossier (business household
//! registration, which also needs the ID card copy): with the citizen's consent the kiosk asks
//! the province, shows the copy as already held, does not ask for it, and the delivered dossier
//! cites it; the gateway links the stored copy (read through its admin API). Without consent
//! everything is asked; another ID number gets nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use motcua_domain::cccd::SAMPLE_PAYLOAD as CARD;
use motcua_kiosk::touch::spawn_code_reader;
use motcua_scanner::pipeline::synth::text_page;
use motcua_tests::{
    random_file, sections, wait_for, Gateway, Kiosk, KioskSettings, PtyCodeReader, TouchScreen,
};

const LONG: Duration = Duration::from_secs(60);
const DPI: u32 = 200;
/// The seed catalog's kind of the ID card copy.
const KIND: &str = "ban_sao_can_cuoc";
const HELD: &str = "Đã có bản số hoá — không cần nộp lại";

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// The separator sheets of `pdf` as 200 dpi grey pictures, in order.
fn render(pdf: &Path, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let out = Command::new("pdftoppm")
        .args(["-r", &DPI.to_string(), "-gray", s(pdf), s(&dir.join("p"))])
        .output()
        .map_err(|e| anyhow::anyhow!("pdftoppm could not run ({e}): install poppler-utils"))?;
    anyhow::ensure!(
        out.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "pgm"));
    files.sort();
    Ok(files)
}

/// The first dossier, for the card's ID number, through `kioskctl submit`.
fn first_dossier(root: &Path, kiosk: &Kiosk, id_number: &str) -> anyhow::Result<String> {
    random_file(&root.join("form.pdf"), 5_000)?;
    let json = serde_json::json!({
        "procedure_code": "2.000488",
        "applicant": {
            "full_name": "Nguyễn Thị Phượng",
            "id_number": id_number,
            "address": "12 Lê Lợi, Phường 1, Sóc Trăng",
            "phone": "0901234567"
        },
        "documents": [{"name": "Tờ khai yêu cầu cấp Phiếu lý lịch tư pháp", "file": "form.pdf"}]
    });
    let path = root.join("dossier.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?)?;
    kiosk.submit(&path)
}

/// Digitizes dossier `code` at intake: a page behind each of its first two separator sheets
/// (the form, then the ID card copy).
fn intake(root: &Path, kiosk: &Kiosk, code: &str) -> anyhow::Result<()> {
    let sep_pdf = root.join("separators.pdf");
    kiosk.ctl_ok(&["separators", "--dossier", code, "--out", s(&sep_pdf)])?;
    let sheets = render(&sep_pdf, &root.join("sheets"))?;
    anyhow::ensure!(sheets.len() >= 2, "a sheet per required document");
    let hot = root.join("hot");
    std::fs::create_dir_all(&hot)?;
    let sheet =
        |i: usize| -> anyhow::Result<image::GrayImage> { Ok(image::open(&sheets[i])?.to_luma8()) };
    let pages = [
        sheet(0)?,
        text_page(DPI, 2, 2),
        sheet(1)?,
        text_page(DPI, 4, 4),
    ];
    for (i, page) in pages.iter().enumerate() {
        let part = hot.join(format!("scan{:03}.png.part", i + 1));
        page.save_with_format(&part, image::ImageFormat::Png)?;
        std::fs::rename(&part, hot.join(format!("scan{:03}.png", i + 1)))?;
    }
    let out = kiosk.ctl_ok(&[
        "intake",
        "--dossier",
        code,
        "--hot-folder",
        s(&hot),
        "--idle-secs",
        "3",
        "--page-timeout-secs",
        "30",
    ])?;
    anyhow::ensure!(
        out.contains(&format!("{code}-02")),
        "the ID card copy coded:\n{out}"
    );
    Ok(())
}

/// A card of another citizen: the sample with another serial (the last digits).
fn other_card() -> String {
    CARD.replacen("079190001234", "079190005678", 1)
}

/// Starts a dossier of the business household registration with `card` and answers the
/// consent screen; leaves the screen on the attachments.
fn second_dossier_start(
    screen: &mut TouchScreen,
    reader: &mut PtyCodeReader,
    card: &str,
    consent: bool,
) -> anyhow::Result<()> {
    screen.tap("Nộp hồ sơ");
    screen.type_text("ho kinh doanh");
    screen.tap("Đăng ký thành lập hộ kinh doanh");
    screen.tap("Bắt đầu nộp hồ sơ ›");
    reader.present(card)?;
    screen.wait_shows("Nguyễn Thị Phượng");
    screen.tap("Tiếp tục ›");
    screen.wait_shows("Tra cứu giấy tờ đã được số hoá?");
    if consent && card == CARD {
        screen.screenshot(&shots()?.join("reuse-consent.png"))?;
    }
    screen.tap(if consent {
        "Đồng ý tra cứu"
    } else {
        "Không, tôi nộp đủ"
    });
    screen.wait_shows("Đặt giấy tờ vào khay máy quét");
    Ok(())
}

/// Where the screenshots go, for a person to look at.
fn shots() -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[test]
fn a_digitized_document_is_not_asked_for_again() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gw"), None, 0)?;
    let mut reader = PtyCodeReader::new()?;
    let settings = KioskSettings::new(&gateway)
        .with(&sections::serial_code_reader(&reader.path))
        .with(&sections::sane_test_scanner("gray", "flatbed", &[]));
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &settings)?;
    let config = kiosk.load_config()?;
    let id_number = CARD.split('|').next().unwrap_or_default();

    // 1. The first dossier, digitized at intake and delivered.
    let first = first_dossier(tmp.path(), &kiosk, id_number)?;
    intake(tmp.path(), &kiosk, &first)?;
    kiosk.start_daemon()?;
    kiosk.wait_delivered(LONG, "the first dossier and its digitized documents")?;

    // 2. Another citizen's card: nothing is held for that number.
    let mut screen = TouchScreen::open(config.clone())?;
    let _reader_thread = spawn_code_reader(
        config.peripherals.code_reader.as_ref().expect("configured"),
        screen.app.event_sender(),
    )?;
    second_dossier_start(&mut screen, &mut reader, &other_card(), true)?;
    assert!(!screen.shows(HELD), "another ID number holds nothing");
    screen.tap("⌂ Trang chủ");

    // 3. No consent: everything is asked.
    second_dossier_start(&mut screen, &mut reader, CARD, false)?;
    assert!(!screen.shows(HELD), "without consent nothing is looked up");
    screen.tap("⌂ Trang chủ");

    // 4. Consent: the ID card copy is held, not asked for, and cited.
    second_dossier_start(&mut screen, &mut reader, CARD, true)?;
    screen.wait_shows(HELD);
    screen.screenshot(&shots()?.join("reuse-held.png"))?;
    screen.tap("Quét"); // the form, the first document
    screen.wait_shows("1 trang");
    screen.tap("Xem lại ›");
    assert!(
        screen.shows(HELD),
        "the review says which document is reused"
    );
    screen.tap("Nộp hồ sơ");
    screen.wait_shows("Hồ sơ đã được tiếp nhận");
    assert!(
        screen.shows(HELD),
        "the summary says which document was reused"
    );
    let second = screen
        .labels()
        .into_iter()
        .find(|l| l.starts_with("000.17.22.H56-") && *l != first)
        .ok_or_else(|| anyhow::anyhow!("no second dossier code on the screen"))?;

    // 5. The gateway linked the stored copy to the second dossier.
    let runtime = tokio::runtime::Runtime::new()?;
    let links = wait_for(LONG, "the second dossier at the gateway", || {
        let r = runtime
            .block_on(gateway.get_as("system", &format!("/v1/admin/dossiers/{second}/reused")))?;
        let v: serde_json::Value = runtime.block_on(r.json())?;
        Ok(v.as_array().filter(|a| !a.is_empty()).cloned())
    })?;
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["kind_code"], KIND);
    assert_eq!(links[0]["source_dossier"], first.as_str());
    assert_eq!(links[0]["document_code"], format!("{first}-02"));
    let view = runtime.block_on(gateway.set_status(&second, "accepted"))?;
    assert_eq!(
        view["documents"].as_array().map(Vec::len),
        Some(1),
        "only the form was uploaded: {view}"
    );
    Ok(())
}
