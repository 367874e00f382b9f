//! Writes a screenshot of every kiosk screen, in Vietnamese and in English, into
//! `target/screenshots/{vi,en}/` (software renderer, the pixels a citizen sees), so a person can
//! check that no text is clipped or overlapping. Run: `cargo test -p motcua-tests --test screenshots`.
//!
//! The screens are reached through the real flows and services: SANE's test scanner, the
//! printer emulator (once out of paper), and no gateway (lookups fall back to the cache).

use std::path::{Path, PathBuf};
use std::time::Duration;

use motcua_domain::cccd::SAMPLE_PAYLOAD as CARD;
use motcua_flows::intake_screen::IntakeAction;
use motcua_flows::lookup::LookupEvent;
use motcua_flows::rating::RatingEvent;
use motcua_flows::session::Event;
use motcua_flows::staff::StaffEvent;
use motcua_flows::submission::SubmissionEvent as S;
use motcua_flows::text_entry::Key;
use motcua_flows::ticket::TicketEvent;
use motcua_flows::Lang;
use motcua_printer::emulator::Emulator;
use motcua_store::Store;
use motcua_tests::{sections, tcp_printer, Kiosk, KioskSettings, TouchScreen};

/// An offline kiosk (lookups fall back to the cache) with the printer at `printer`, SANE's
/// test scanner, five rating levels and the staff PIN 2468.
fn kiosk(dir: &Path, printer: &str) -> anyhow::Result<Kiosk> {
    let ui = format!(
        r#"[rating]
levels = 5

[ui]
title_vi = "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng"
title_en = "Soc Trang Public Administration Service Centre"
staff_pin_hash = "{pin}"
"#,
        pin = motcua_kiosk::pins::hash_pin("2468")?,
    );
    let settings = KioskSettings {
        request_timeout_s: 1,
        ..KioskSettings::offline().device("KIOSK-SCREENS")
    }
    .with(&sections::tcp_printer(printer))
    .with(&sections::sane_test_scanner(
        "gray",
        "flatbed",
        &["--test-picture=Color pattern"],
    ))
    .with(&ui);
    Kiosk::create(dir, &settings)
}

struct Shots {
    screen: TouchScreen,
    dir: PathBuf,
    data: PathBuf,
    lang: Lang,
    n: u32,
    /// The code of the first dossier submitted on this kiosk, as the store holds it.
    first_dossier: Option<String>,
}

/// Compressed intake pages spooled so far (a rescan adds one).
fn spooled_pages(data: &Path) -> usize {
    let mut n = 0;
    for dossier in std::fs::read_dir(data.join("intake"))
        .into_iter()
        .flatten()
        .flatten()
    {
        n += std::fs::read_dir(dossier.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|f| f.path().extension().is_some_and(|e| e == "mcp"))
            .count();
    }
    n
}

impl Shots {
    fn ev(&self, e: Event) {
        self.screen.event(e);
    }

    fn home(&self) {
        self.ev(Event::Home);
        self.ev(Event::Language(self.lang));
    }

    fn shot(&mut self, name: &str) {
        self.n += 1;
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        self.screen.screenshot(&path).expect("screenshot");
    }

    fn type_text(&self, text: &str, into: impl Fn(Key) -> Event) {
        self.screen.type_keys(text, into);
    }

    /// The codes of the dossiers in the kiosk's store.
    fn stored_codes(&self) -> Vec<String> {
        let store = Store::open(&self.data, 0).expect("open the kiosk's store");
        let listed = store.list_dossiers(1000).expect("list the stored dossiers");
        listed.into_iter().map(|d| d.code).collect()
    }

    /// The lookup secret printed on the receipt of `code`.
    fn lookup_secret(&self, code: &str) -> String {
        let store = Store::open(&self.data, 0).expect("open the kiosk's store");
        store.lookup_secret(code).to_string()
    }

    /// The first dossier submitted on this kiosk (read from its store when it was submitted).
    fn first_dossier(&self) -> String {
        self.first_dossier
            .clone()
            .expect("a dossier was submitted before")
    }
}

fn walk(shots: &mut Shots, printer: &Emulator) {
    shots.home();
    shots.shot("home");
    shots.ev(Event::CodeScanned(CARD.into()));
    shots.shot("home-notice");

    shots.home();
    shots.ev(Event::Open("submit".into()));
    shots.shot("search-all");
    shots.type_text("ho tich", |k| Event::Submission(S::SearchKey(k)));
    shots.shot("search");
    shots.ev(Event::Submission(S::SearchKey(Key::Clear)));
    shots.type_text("khai sinh", |k| Event::Submission(S::SearchKey(k)));
    shots.ev(Event::Submission(S::Select("1.001193".into())));
    shots.shot("detail");
    shots.ev(Event::Submission(S::Begin));
    shots.shot("identify");
    // A card whose QR holds the ID number and nothing else.
    let id_number = CARD.split('|').next().unwrap_or_default();
    shots.ev(Event::CodeScanned(format!("{id_number}|x")));
    shots.shot("identify-bad-card");
    shots.ev(Event::CodeScanned(CARD.into()));
    shots.shot("form-prefilled");
    shots.ev(Event::Submission(S::Focus(0)));
    shots.shot("form-keyboard-letters");
    shots.ev(Event::Submission(S::Focus(2)));
    shots.ev(Event::Submission(S::Key(Key::Clear)));
    shots.type_text("31/02/1990", |k| Event::Submission(S::Key(k)));
    shots.ev(Event::Submission(S::FormDone));
    shots.shot("form-error");
    shots.ev(Event::Submission(S::Key(Key::Clear)));
    shots.type_text("05/09/1990", |k| Event::Submission(S::Key(k)));
    shots.ev(Event::Submission(S::FormDone));
    shots.shot("attach-empty");
    shots.ev(Event::Submission(S::ToReview));
    shots.shot("attach-missing");
    shots.ev(Event::Submission(S::Scan(0)));
    shots.ev(Event::Submission(S::Scan(0)));
    shots.ev(Event::Submission(S::Scan(1)));
    shots.shot("attach-pages");
    shots.ev(Event::Submission(S::ToReview));
    shots.shot("review");
    let stored_before = shots.stored_codes();
    let printed_before = printer.pages().len();
    shots.ev(Event::Submission(S::Submit));
    // The code comes from what the kiosk stored (never from today's date), and the receipt
    // screen shows it.
    let new: Vec<String> = shots
        .stored_codes()
        .into_iter()
        .filter(|c| !stored_before.contains(c))
        .collect();
    assert_eq!(
        new.len(),
        1,
        "one dossier stored by the submission: {new:?}"
    );
    assert!(
        shots.screen.shows(&new[0]),
        "the receipt screen shows {}: {:?}",
        new[0],
        shots.screen.labels()
    );
    shots.first_dossier.get_or_insert_with(|| new[0].clone());
    let printed = printer.wait_for_pages(printed_before + 1, Duration::from_secs(20));
    assert_eq!(printed.len(), printed_before + 1, "the receipt was printed");
    shots.shot("receipt-printed");
    printer.set_paper_end(true);
    shots.ev(Event::Submission(S::Reprint));
    shots.shot("receipt-print-failed");
    printer.set_paper_end(false);

    shots.home();
    shots.ev(Event::Open("ticket".into()));
    shots.shot("ticket-areas");
    shots.ev(Event::Ticket(TicketEvent::Choose("TP".into())));
    shots.shot("ticket-printed");
    shots.ev(Event::RateThis);
    shots.shot("rating-levels");
    shots.ev(Event::Rating(RatingEvent::Choose(1)));
    shots.shot("rating-thanks");

    shots.home();
    shots.ev(Event::Open("rate".into()));
    shots.shot("rating-code");

    shots.home();
    shots.ev(Event::Open("lookup".into()));
    shots.type_text("000.17.22", |k| Event::Lookup(LookupEvent::Key(k)));
    shots.ev(Event::Lookup(LookupEvent::Submit));
    shots.shot("lookup-bad-code");
    shots.ev(Event::Lookup(LookupEvent::Key(Key::Clear)));
    shots.type_text("000.17.22.H56-", |k| Event::Lookup(LookupEvent::Key(k)));
    shots.shot("lookup-typing");
    // The whole code, but no lookup code: the kiosk asks for it (the focus moves there).
    shots.ev(Event::Lookup(LookupEvent::Key(Key::Clear)));
    let first = shots.first_dossier();
    shots.type_text(&first, |k| Event::Lookup(LookupEvent::Key(k)));
    shots.ev(Event::Lookup(LookupEvent::Submit));
    shots.shot("lookup-needs-secret");
    // A wrong lookup code: the kiosk's copy is not shown.
    let secret = shots.lookup_secret(&first);
    let wrong = if secret == "ZZZZ-ZZZZ" {
        "YYYY-YYYY"
    } else {
        "ZZZZ-ZZZZ"
    };
    shots.type_text(wrong, |k| Event::Lookup(LookupEvent::Key(k)));
    shots.ev(Event::Lookup(LookupEvent::Submit));
    assert!(
        !shots.screen.app.session_debug().contains("Found("),
        "a wrong secret shows no status"
    );
    shots.shot("lookup-wrong-secret");
    shots.home();
    shots.ev(Event::CodeScanned(format!(
        "{first}|1.001193|********1234|x|y|z|w|{secret}"
    )));
    assert!(
        shots.screen.app.session_debug().contains("Found("),
        "the receipt's QR shows the cached status"
    );
    shots.shot("lookup-offline");
    shots.screen.app.skip_time(Duration::from_secs(52));
    shots.shot("idle-warning");
    shots.screen.app.skip_time(Duration::from_secs(10));

    shots.home();
    shots.ev(Event::Open("staff".into()));
    for d in ["1", "1", "1", "ok"] {
        shots.ev(Event::Staff(StaffEvent::PinKey(d.into())));
    }
    shots.shot("pin-wrong");
    for d in ["2", "4", "6", "8", "ok"] {
        shots.ev(Event::Staff(StaffEvent::PinKey(d.into())));
    }
    shots.ev(Event::Staff(StaffEvent::PrinterTest));
    shots.shot("staff-panel");

    // Intake digitization of the dossier submitted above: its receipt is scanned, one batch
    // (SANE's test scanner, one flatbed page: no separator sheet, so "unsorted"), committed.
    shots.ev(Event::Open("intake".into()));
    shots.shot("intake-open");
    shots.ev(Event::CodeScanned(shots.first_dossier()));
    shots.shot("intake-dossier");
    shots.ev(Event::Intake(IntakeAction::ScanBatch));
    shots.ev(Event::Intake(IntakeAction::ScanBatch));
    shots.shot("intake-pages");
    let before = shots.screen.app.session_debug();
    assert!(
        before.contains("number: 1") && before.contains("number: 2"),
        "{before}"
    );
    let spooled = spooled_pages(&shots.data);
    shots.ev(Event::Intake(IntakeAction::Rescan(1)));
    assert_eq!(
        spooled_pages(&shots.data),
        spooled + 1,
        "the rescan spooled a new page"
    );
    let rescanned = shots.screen.app.session_debug();
    assert!(
        !rescanned.contains("message: Some"),
        "rescan refused: {rescanned}"
    );
    shots.ev(Event::Intake(IntakeAction::Delete(2)));
    // The first touch of "Sign…" opens the key (the demo key: no PIN) and names the signer…
    shots.ev(Event::Intake(IntakeAction::Sign));
    shots.shot("intake-signer");
    let named = shots.screen.app.session_debug();
    assert!(
        named.contains("signer: Some(\"Người ký: "),
        "no signer named: {named}"
    );
    assert!(
        named.contains("stored: []"),
        "stored before the second touch: {named}"
    );
    // …the second signs, stores and queues.
    shots.ev(Event::Intake(IntakeAction::Sign));
    shots.shot("intake-stored");
    let after = shots.screen.app.session_debug();
    assert!(after.contains("stored: [\""), "nothing stored: {after}");
    assert!(
        after.contains("awaiting_signature: []"),
        "left unsigned: {after}"
    );
    shots.home();
}

#[test]
fn every_screen_in_vietnamese_and_english() -> anyhow::Result<()> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let tmp = tempfile::tempdir()?;
    let (printer, addr) = tcp_printer(tmp.path())?;
    let kiosk = kiosk(tmp.path(), &addr)?;
    let screen = TouchScreen::open(kiosk.load_config()?)?;
    let mut shots = Shots {
        screen,
        dir: PathBuf::new(),
        data: kiosk.data_dir(),
        lang: Lang::Vi,
        n: 0,
        first_dossier: None,
    };
    for (lang, name) in [(Lang::Vi, "vi"), (Lang::En, "en")] {
        let dir = out.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        shots.dir = dir.clone();
        shots.lang = lang;
        shots.n = 0;
        walk(&mut shots, &printer);
        let count = std::fs::read_dir(&dir)?.count();
        assert!(count >= 30, "{count} screenshots in {}", dir.display());
    }
    println!("screenshots in {}", out.display());
    Ok(())
}
