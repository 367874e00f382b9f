//! The officer signs on the touch screen (issue #19): on the staff intake screen the first
//! touch of "Ký số…" brings up the token's PIN pad, a wrong PIN is said and signs nothing, the
//! right one names the signer before anything is stored, the second touch signs, stores and
//! queues; the token's session ends with the staff session. A SoftHSM2 token stands for the
//! officer's USB token; the taps are real pointer events on the headless screen.

use std::path::Path;

use motcua_flows::intake_screen::IntakeAction;
use motcua_flows::session::Event;
use motcua_flows::staff::StaffEvent;
use motcua_tests::harness::signing::{pdfsig, SoftHsm, TestCa};
use motcua_tests::{dossier_json, random_file, sections, Kiosk, KioskSettings, TouchScreen};

const PIN: &str = "2580";
const OFFICER: &str = "Trần Thị Bích";

fn tap_pin(screen: &mut TouchScreen, pin: &str) {
    for d in pin.chars() {
        screen.tap(&d.to_string());
    }
    screen.tap("OK");
}

#[test]
fn the_staff_screen_asks_the_token_pin_and_names_the_signer_first() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let ca = TestCa::new(&tmp.path().join("ca"))?;
    let token = SoftHsm::new(&tmp.path().join("token"), "quay-1", PIN, &ca, OFFICER, 365)?;
    // The touch app loads the PKCS#11 module in this process: SoftHSM2 finds its token
    // through this variable. nextest runs every test in a process of its own, and this is set
    // before any other thread of the test starts.
    std::env::set_var("SOFTHSM2_CONF", &token.conf);

    let ui = format!(
        "[ui]\nstaff_pin_hash = \"{}\"\n",
        motcua_kiosk::pins::hash_pin("2468")?
    );
    let settings = KioskSettings::offline()
        .device("KIOSK-SIGN")
        .with(&sections::sane_test_scanner(
            "gray",
            "flatbed",
            &["--test-picture=Color pattern"],
        ))
        .with(&token.section())
        .with(&ui);
    let kiosk = Kiosk::create(&tmp.path().join("kiosk"), &settings)?;
    random_file(&tmp.path().join("form.pdf"), 1_000)?;
    let code = kiosk.submit(&dossier_json(tmp.path(), "1.001193", &["form.pdf"])?)?;
    let document = format!("{code}-00");

    let mut screen = TouchScreen::open(kiosk.load_config()?)?;
    let staff = |screen: &TouchScreen| {
        screen.event(Event::Open("staff".into()));
        for d in ["2", "4", "6", "8", "ok"] {
            screen.event(Event::Staff(StaffEvent::PinKey(d.into())));
        }
        screen.event(Event::Open("intake".into()));
    };
    staff(&screen);
    screen.event(Event::CodeScanned(code.clone()));
    screen.event(Event::Intake(IntakeAction::ScanBatch));

    screen.tap("Ký số…");
    assert!(
        screen.shows("Mã PIN của USB ký số"),
        "{:?}",
        screen.labels()
    );
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&shots)?;
    screen.screenshot(&shots.join("intake-token-pin.png"))?;
    tap_pin(&mut screen, "1111");
    assert!(
        screen.shows("mã PIN của USB ký số không đúng"),
        "{:?}",
        screen.labels()
    );
    assert!(!screen.shows("Người ký"), "no signer after a wrong PIN");
    let debug = screen.app.session_debug();
    assert!(
        !debug.contains("1111"),
        "the PIN is never in the screen's state: {debug}"
    );

    screen.tap("Ký số…");
    tap_pin(&mut screen, PIN);
    assert!(
        screen.shows(&format!("Người ký: {OFFICER}")),
        "{:?}",
        screen.labels()
    );
    screen.screenshot(&shots.join("intake-token-signer.png"))?;
    let store = motcua_store::Store::open(&kiosk.data_dir(), 0)?;
    assert_eq!(
        store.awaiting_signature()?,
        vec![],
        "nothing stored before the second touch"
    );
    assert!(store.document_signature(&document)?.is_none());

    screen.tap("Ký, lưu và gửi");
    assert!(screen.shows(&document), "{:?}", screen.labels());
    let (signer, _) = store
        .document_signature(&document)?
        .ok_or_else(|| anyhow::anyhow!("{document} not signed"))?;
    assert_eq!(signer, OFFICER);
    assert!(store.awaiting_signature()?.is_empty());
    assert_eq!(
        kiosk.status()?["pending"],
        2,
        "the dossier and the signed document"
    );
    let blob = store
        .blobs()
        .path(&intake_sha(&kiosk.data_dir(), &document)?);
    let report = pdfsig(&blob, &ca.pem_path)?;
    assert!(report.contains("Signature is Valid."), "{report}");

    // The staff session ends: so does the token's. The next officer types the PIN again.
    screen.event(Event::Home);
    staff(&screen);
    screen.event(Event::CodeScanned(code.clone()));
    screen.event(Event::Intake(IntakeAction::ScanBatch));
    screen.tap("Ký số…");
    assert!(
        screen.shows("Mã PIN của USB ký số"),
        "{:?}",
        screen.labels()
    );
    Ok(())
}

/// The stored blob of an intake document (from the kiosk's database).
fn intake_sha(data: &Path, document: &str) -> anyhow::Result<String> {
    let db = rusqlite::Connection::open(data.join("kiosk.sqlite3"))?;
    Ok(db.query_row(
        "SELECT sha256 FROM intake_documents WHERE document_code = ?1",
        [document],
        |r| r.get(0),
    )?)
}
