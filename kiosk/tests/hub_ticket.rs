//! The citizen's ticket at a kiosk of a centre with a hub (`[hub]`, issue #18), with a real
//! store, real identity files and the printer emulator over TCP: while the hub cannot be
//! reached the ticket is numbered from the kiosk's fallback block, stored before it prints,
//! kept out of the gateway outbox and printed saying it was issued offline; without a block
//! the citizen is told plainly that no number can be issued.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use motcua_flows::rating::{RatingEffect, RatingEvent};
use motcua_flows::session::{Effect, Event};
use motcua_flows::ticket::{offline_notice, IssuedTicket, TicketEffect, TicketEvent};
use motcua_identity::{Authority, DeviceKey};
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::touch::services::Services;
use motcua_printer::emulator::{read_png, Emulator, EmulatorConfig};
use motcua_store::{HubBlock, Store};
use motcua_uplink::{IdentityFiles, TrustAnchor};

const DEVICE: &str = "KIOSK-H56-0001";
const SITE: &str = "000.17.22.H56";

/// A port on loopback nobody listens on: the hub is down.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config(dir: &Path, printer: &Emulator) -> KioskConfig {
    let text = format!(
        r#"
[device]
id = "{DEVICE}"
agency_code = "{SITE}"
sequence_first = 1
sequence_last = 4999

[store]
data_dir = "{data}"
min_free_mb = 0

[gateway]
url = "https://127.0.0.1:9/"

[printer]
transport = "tcp"
address = "{printer}"
paper_mm = 80

[hub]
url = "https://127.0.0.1:{hub}"
"#,
        data = dir.join("data").display(),
        printer = printer.tcp_addr().unwrap(),
        hub = closed_port(),
    );
    // kioskctl reads the same file.
    std::fs::write(dir.join("kiosk.toml"), &text).unwrap();
    KioskConfig::parse(&text, "kiosk.toml").unwrap()
}

/// Enrols the kiosk's identity files as `kioskctl enroll` leaves them.
fn enrol(config: &KioskConfig) {
    let (ca, _) = Authority::create("CA tỉnh", Duration::from_secs(86_400)).unwrap();
    let files = IdentityFiles::in_data_dir(&config.store.data_dir);
    let key = DeviceKey::generate(DEVICE, SITE).unwrap();
    let issued = ca
        .sign_device(&key.csr_pem, DEVICE, SITE, Duration::from_secs(86_400))
        .unwrap();
    files
        .save_anchor(&TrustAnchor::from_pem(ca.cert_pem(), "test CA").unwrap())
        .unwrap();
    files.save_device(&key.key_pem, &issued.cert_pem).unwrap();
}

fn emulator(dir: &Path) -> Emulator {
    let mut c = EmulatorConfig::new(dir.join("printer"));
    c.pty = false;
    Emulator::start(c).unwrap()
}

fn at_nine() -> chrono::DateTime<chrono::FixedOffset> {
    motcua_domain::vietnam_offset()
        .with_ymd_and_hms(2026, 12, 3, 9, 0, 0)
        .unwrap()
}

/// One touch of an area: the ticket issued (or the refusal) and the printer's outcome.
fn take_ticket(services: &mut Services, config: &KioskConfig) -> Vec<TicketEvent> {
    let area = config.screen.areas[0].area.clone();
    let mut events = Vec::new();
    services.execute(Effect::Ticket(TicketEffect::Issue(area)), &mut |e| {
        if let Event::Ticket(t) = e {
            events.push(t);
        }
    });
    events
}

#[test]
fn with_the_hub_down_the_ticket_comes_from_the_block_and_says_issued_offline() {
    let dir = tempfile::tempdir().unwrap();
    let printer = emulator(dir.path());
    let config = config(dir.path(), &printer);
    enrol(&config);
    {
        let mut store = Store::open(&config.store.data_dir, 0).unwrap();
        store
            .save_hub_block(
                HubBlock {
                    first: 9100,
                    last: 9199,
                },
                at_nine(),
            )
            .unwrap();
    }
    let mut services = Services::new(config.clone(), Arc::new(AtomicBool::new(false)))
        .unwrap()
        .with_clock(at_nine);
    let events = take_ticket(&mut services, &config);
    let ticket: IssuedTicket = match &events[..] {
        [TicketEvent::Issued(t), TicketEvent::Printed(Ok(()))] => t.clone(),
        other => panic!("expected a ticket issued and printed, got {other:?}"),
    };
    let area = &config.screen.areas[0].area.code;
    assert_eq!(ticket.number, 9100);
    assert!(ticket.offline);
    // The QR: the id, then the ticket's rating code (16 hex digits) the hub is told later.
    let (id, code) = motcua_domain::ticket::split_rating_qr(&ticket.ticket_id);
    assert_eq!(id, format!("{area}-20261203-9100@{DEVICE}"));
    let code = code.expect("a rating code in the QR");
    assert!(
        code.len() == 16 && code.bytes().all(|b| b.is_ascii_hexdigit()),
        "{code}"
    );
    // The next one is the block's next number.
    let events = take_ticket(&mut services, &config);
    assert!(
        matches!(&events[0], TicketEvent::Issued(t) if t.number == 9101),
        "{events:?}"
    );

    // Stored for the hub, not for the gateway.
    let store = Store::open(&config.store.data_dir, 0).unwrap();
    let pending = store.unreported_offline_tickets(DEVICE, 10).unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(
        motcua_domain::ticket::rating_qr(
            &pending[0].ticket_id,
            pending[0].rating_code.as_deref().unwrap_or_default()
        ),
        ticket.ticket_id,
        "the code printed is the code the hub will be told"
    );
    assert_eq!(store.outbox_status().unwrap().pending, 0);

    // The first slip printed is the one with the offline notice (and not the one without).
    let pages = printer.wait_for_pages(2, Duration::from_secs(20));
    assert_eq!(pages.len(), 2, "two slips printed");
    let printed = read_png(&pages[0]).unwrap();
    let content = services.ticket_content(&ticket);
    let notice = offline_notice();
    assert_eq!(content.notice, Some((notice.vi.clone(), notice.en.clone())));
    assert!(notice.vi.contains("CẤP KHI MẤT KẾT NỐI VỚI MÁY CHỦ QUẦY"));
    assert_eq!(content.waiting, None, "nobody knows the queue ahead");
    assert!(
        content.wait_text.as_ref().is_some_and(
            |(vi, en)| vi.contains("không ước tính được") && en.contains("cannot be estimated")
        ),
        "{:?}",
        content.wait_text
    );
    assert_eq!(
        content.qr_payload.as_deref(),
        Some(ticket.ticket_id.as_str())
    );
    let printer_settings = config.peripherals.printer.as_ref().unwrap();
    let renderer = motcua_printer::Renderer::new(&printer_settings.fonts).unwrap();
    let expected = renderer.ticket(&content, printer_settings.paper).unwrap();
    // The paper is the slip, then the blank feed before the cut.
    let slip = |bm: &motcua_printer::Bitmap, height: u32| {
        (bm.width(), bm.rows(0, height.min(bm.height())).to_vec())
    };
    assert!(printed.height() >= expected.height());
    assert!(
        slip(&printed, expected.height()) == slip(&expected, expected.height()),
        "the printed slip is the offline ticket"
    );
    assert_eq!(
        printed.black_dots(),
        expected.black_dots(),
        "nothing else on the paper"
    );
    let mut without = content.clone();
    without.notice = None;
    let plain = renderer.ticket(&without, printer_settings.paper).unwrap();
    assert!(
        slip(&printed, plain.height()) != slip(&plain, plain.height()),
        "the notice is on the paper"
    );

    // Rated at the kiosk while the hub is still down: kept here, as before the hub, once.
    let rate = |services: &mut Services| {
        let mut saved = None;
        services.execute(
            Effect::Rating(RatingEffect::Rate {
                transaction: ticket.ticket_id.clone(),
                level: 1,
            }),
            &mut |e| {
                if let Event::Rating(RatingEvent::Saved(r)) = e {
                    saved = Some(r);
                }
            },
        );
        saved.expect("an answer")
    };
    assert_eq!(rate(&mut services), Ok(()));
    assert!(rate(&mut services).is_err(), "one rating per ticket");
    assert_eq!(store.outbox_status().unwrap().pending, 1, "the rating");
}

#[test]
fn with_the_hub_down_and_no_block_the_citizen_is_told_and_nothing_prints() {
    let dir = tempfile::tempdir().unwrap();
    let printer = emulator(dir.path());
    let config = config(dir.path(), &printer);
    enrol(&config);
    let mut services = Services::new(config.clone(), Arc::new(AtomicBool::new(false))).unwrap();
    let events = take_ticket(&mut services, &config);
    match &events[..] {
        [TicketEvent::IssueFailed(m)] => {
            assert!(m.vi.contains("chưa nhận được dãy số dự phòng"), "{m:?}");
            assert!(m.en.contains("no reserved numbers"), "{m:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let store = Store::open(&config.store.data_dir, 0).unwrap();
    assert_eq!(store.outbox_status().unwrap().pending, 0);
    assert!(printer.pages().is_empty());
}

#[test]
fn kioskctl_ticket_falls_back_to_the_block_too_and_keeps_the_outbox_empty() {
    let dir = tempfile::tempdir().unwrap();
    let printer = emulator(dir.path());
    let config = config(dir.path(), &printer);
    enrol(&config);
    let text = std::fs::read_to_string(dir.path().join("kiosk.toml")).unwrap();
    assert!(text.contains("[hub]"));
    Store::open(&config.store.data_dir, 0)
        .unwrap()
        .save_hub_block(
            HubBlock {
                first: 9500,
                last: 9599,
            },
            at_nine(),
        )
        .unwrap();
    let area = &config.screen.areas[0].area.code;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .arg("--config")
        .arg(dir.path().join("kiosk.toml"))
        .args(["ticket", "--area", area])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "9500");
    assert!(stderr.contains("issued offline"), "{stderr}");
    let store = Store::open(&config.store.data_dir, 0).unwrap();
    assert_eq!(store.outbox_status().unwrap().pending, 0);
    assert_eq!(
        store.unreported_offline_tickets(DEVICE, 10).unwrap().len(),
        1
    );
}
