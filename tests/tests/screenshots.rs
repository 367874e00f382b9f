//! Writes a screenshot of every kiosk screen, in Vietnamese and in English, into
//! `target/screenshots/{vi,en}/` (software renderer, the pixels a citizen sees), so a person can
//! check that no text is clipped or overlapping. Run: `cargo test -p motcua-tests --test screenshots`.
//!
//! The screens are reached through the real flows and services: SANE's test scanner, the
//! printer emulator (once out of paper), and no gateway (lookups fall back to the cache).

use std::path::{Path, PathBuf};
use std::time::Duration;

use motcua_flows::intake_screen::IntakeAction;
use motcua_flows::lookup::LookupEvent;
use motcua_flows::rating::RatingEvent;
use motcua_flows::session::Event;
use motcua_flows::staff::{pin_hash, StaffEvent};
use motcua_flows::submission::SubmissionEvent as S;
use motcua_flows::text_entry::Key;
use motcua_flows::ticket::TicketEvent;
use motcua_flows::Lang;
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::touch::TouchApp;
use motcua_printer::emulator::{Emulator, EmulatorConfig};
use motcua_ui::headless::Headless;
use slint::ComponentHandle;

const CARD: &str =
    "079190001234|025123456|Nguyễn Thị Phượng|05091990|Nữ|12 Lê Lợi, Phường 1, Sóc Trăng|01022021";

fn config(dir: &Path, printer: &str) -> anyhow::Result<KioskConfig> {
    let text = format!(
        r#"[device]
id = "KIOSK-SCREENS"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 9999

[store]
data_dir = "{data}"
min_free_mb = 1

[gateway]
url = "http://127.0.0.1:9"

[uplink]
request_timeout_s = 1

[printer]
transport = "tcp"
address = "{printer}"
paper_mm = 80

[scanner]
kind = "sane"
device = "test"
resolution = 200
mode = "gray"
source = "flatbed"
options = ["--test-picture=Color pattern"]

[rating]
levels = 5

[ui]
title_vi = "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng"
title_en = "Soc Trang Public Administration Service Centre"
staff_pin_sha256 = "{pin}"
"#,
        data = dir.join("data").display(),
        pin = pin_hash("2468"),
    );
    Ok(KioskConfig::parse(&text, "screens.toml")?)
}

struct Shots {
    app: TouchApp,
    screen: Headless,
    dir: PathBuf,
    data: PathBuf,
    lang: Lang,
    n: u32,
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
        self.app.dispatch(e);
        assert!(self.app.settle(Duration::from_secs(60)));
    }

    fn home(&self) {
        self.ev(Event::Home);
        self.ev(Event::Language(self.lang));
    }

    fn shot(&mut self, name: &str) {
        self.app.pump();
        self.n += 1;
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        self.screen.screenshot(&path).expect("screenshot");
    }

    fn type_text(&self, text: &str, into: impl Fn(Key) -> Event) {
        for c in text.chars() {
            self.ev(into(if c == ' ' { Key::Space } else { Key::Char(c) }));
        }
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
    shots.ev(Event::CodeScanned("079190001234|x".into()));
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
    shots.ev(Event::Submission(S::Submit));
    printer.wait_for_pages(1, Duration::from_secs(1));
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
    shots.home();
    shots.ev(Event::CodeScanned(format!(
        "{}|1.001193|********1234|x|y|z|w",
        first_dossier(&shots.app)
    )));
    shots.shot("lookup-offline");
    shots.app.skip_time(Duration::from_secs(52));
    shots.shot("idle-warning");
    shots.app.skip_time(Duration::from_secs(10));

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
    shots.ev(Event::CodeScanned(first_dossier(&shots.app)));
    shots.shot("intake-dossier");
    shots.ev(Event::Intake(IntakeAction::ScanBatch));
    shots.ev(Event::Intake(IntakeAction::ScanBatch));
    shots.shot("intake-pages");
    let before = shots.app.session_debug();
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
    let rescanned = shots.app.session_debug();
    assert!(
        !rescanned.contains("message: Some"),
        "rescan refused: {rescanned}"
    );
    shots.ev(Event::Intake(IntakeAction::Delete(2)));
    shots.ev(Event::Intake(IntakeAction::Commit));
    shots.shot("intake-stored");
    let after = shots.app.session_debug();
    assert!(after.contains("stored: [\""), "nothing stored: {after}");
    shots.home();
}

/// The code of the dossier submitted during the walk (the first of the day on this kiosk).
fn first_dossier(_app: &TouchApp) -> String {
    let day = motcua_store::vietnam_now().format("%y%m%d").to_string();
    format!("000.17.22.H56-{day}-0001")
}

#[test]
fn every_screen_in_vietnamese_and_english() -> anyhow::Result<()> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    let tmp = tempfile::tempdir()?;
    let mut printer_config = EmulatorConfig::new(tmp.path().join("slips"));
    printer_config.pty = false;
    let printer = Emulator::start(printer_config)?;
    let addr = printer
        .tcp_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let screen = Headless::install(motcua_ui::SCREEN_WIDTH, motcua_ui::SCREEN_HEIGHT)?;
    let app = TouchApp::new(config(tmp.path(), &addr)?)?;
    app.window().show()?;
    let mut shots = Shots {
        app,
        screen,
        dir: PathBuf::new(),
        data: tmp.path().join("data"),
        lang: Lang::Vi,
        n: 0,
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
