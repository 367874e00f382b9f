//! Scripted citizen sessions on the touch screen, end to end: taps are real pointer events on
//! the Slint window (software-rendered, headless), the ID card and the receipt are read by a
//! serial code reader on a pseudo-terminal, pages come from SANE's test scanner through
//! `scanimage`, slips are printed as ESC/POS bytes to the printer emulator, and a real `kioskd`
//! process uploads to a real gateway process.
//!
//! 1. Self-submission with CCCD prefill, 2 scanned attachments and a printed receipt whose QR
//!    decodes to the dossier; the dossier arrives at the gateway with its 2 documents.
//! 2. A queue ticket taken and rated.
//! 3. The status looked up by scanning the receipt while the gateway is down (cached status).
//! 4. Walking away: after the idle timeout no citizen data is left in the session, on the
//!    screen or in the session folder.
//!
//! Also: the applicant is not in clear in the kiosk's database files but reaches the gateway.

use std::time::Duration;

use motcua_domain::cccd::SAMPLE_PAYLOAD as CARD;
use motcua_kiosk::touch::spawn_code_reader;
use motcua_tests::{
    sections, tcp_printer, wait_for, zbar, Gateway, Kiosk, KioskSettings, PtyCodeReader,
    TouchScreen,
};

const LONG: Duration = Duration::from_secs(60);

/// The idle timeout and the queue area the citizen takes a ticket for.
const UI_AND_QUEUE: &str = r#"[ui]
idle_timeout_s = 60
idle_warning_s = 10

[[ticket.areas]]
code = "TP"
name_vi = "Tư pháp – Hộ tịch"
name_en = "Justice and civil status"
minutes_per_citizen = 8
counters = 2
"#;

#[test]
fn citizen_sessions_on_the_touch_screen() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut gateway = Gateway::start(&tmp.path().join("gw"), None, 0)?;
    let (printer, printer_addr) = tcp_printer(tmp.path())?;
    let mut reader = PtyCodeReader::new()?;
    let settings = KioskSettings::new(&gateway)
        .with(&sections::tcp_printer(&printer_addr))
        .with(&sections::serial_code_reader(&reader.path))
        .with(&sections::sane_test_scanner("gray", "flatbed", &[]))
        .with(UI_AND_QUEUE);
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &settings)?;
    let config = kiosk.load_config()?;
    kiosk.start_daemon()?;

    let mut screen = TouchScreen::open(config.clone())?;
    let _reader_thread = spawn_code_reader(
        config.peripherals.code_reader.as_ref().expect("configured"),
        screen.app.event_sender(),
    )?;
    // The ID number on the sample card: it must not stay anywhere once the citizen leaves.
    let id_number = CARD.split('|').next().unwrap_or_default();

    // 1. Self-submission.
    screen.tap("Nộp hồ sơ");
    screen.type_text("dang ky khai sinh");
    screen.tap("Đăng ký khai sinh");
    assert!(
        screen.shows("Tờ khai đăng ký khai sinh"),
        "detail lists the documents"
    );
    screen.tap("Bắt đầu nộp hồ sơ ›");
    assert!(screen.shows("Quét mã QR trên thẻ căn cước"));
    reader.present(CARD)?;
    screen.wait_shows("Nguyễn Thị Phượng");
    assert!(screen.shows("12 Lê Lợi, Phường 1, Sóc Trăng"));
    // The citizen adds a phone number on the on-screen keyboard.
    screen.type_text("0912345678");
    screen.tap("Tiếp tục ›");
    screen.tap("Quét");
    screen.wait_shows("1 trang");
    screen.tap("Quét");
    let session = screen.app.session_debug();
    assert_eq!(
        session.matches("ScannedPage").count(),
        2,
        "two pages, one per document"
    );
    screen.tap("Xem lại ›");
    assert!(
        screen.shows("********1234"),
        "the ID number is masked on the review"
    );
    assert!(screen.shows("0912345678"));
    screen.tap("Nộp hồ sơ");
    screen.wait_shows("Hồ sơ đã được tiếp nhận");
    screen.wait_shows("Đã in phiếu");
    let slips = printer.wait_for_pages(1, Duration::from_secs(20));
    assert_eq!(slips.len(), 1);
    let receipt_qr = zbar(&slips[0])?;
    let code = receipt_qr.split('|').next().unwrap_or_default().to_owned();
    assert!(code.starts_with("000.17.22.H56-"), "{receipt_qr:?}");
    assert!(screen.shows(&code), "the code is on the screen");
    // The receipt's QR carries its lookup secret, and the screen shows the same one (for a
    // citizen whose receipt did not print).
    let secret = motcua_domain::qr_payload::receipt_in(&receipt_qr)
        .and_then(|r| r.secret)
        .expect("the receipt's QR carries its lookup secret");
    assert!(
        screen.shows(&secret.to_string()),
        "the lookup code is on the screen"
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let stats = wait_for(LONG, "the dossier at the gateway", || {
        let s = runtime.block_on(gateway.stats()).ok();
        Ok(s.filter(|s| s["dossiers"] == 1 && s["documents"] == 2))
    })?;
    // Citizens' data at rest: the ID number and the name are in no file of the kiosk's
    // database (sealed with the data key), yet the gateway got them: the upload carries the
    // submission with its applicant put back together.
    let data = kiosk.data_dir();
    for file in ["kiosk.sqlite3", "kiosk.sqlite3-wal", "kiosk.sqlite3-shm"] {
        let Ok(bytes) = std::fs::read(data.join(file)) else {
            continue;
        };
        for secret in [id_number, "Nguyễn Thị Phượng"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in clear in {file}"
            );
        }
    }
    let body: String = rusqlite::Connection::open(tmp.path().join("gw/gateway.sqlite3"))?
        .query_row("SELECT body FROM dossiers WHERE code = ?1", [&code], |r| {
            r.get(0)
        })?;
    let body: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(body["applicant"]["id_number"], id_number, "{body}");
    assert_eq!(
        body["applicant"]["full_name"], "Nguyễn Thị Phượng",
        "{body}"
    );
    // SANE's test scanner gives the same picture every time: the two PDFs are byte-identical
    // and stored once (content-addressed).
    assert!(stats["blobs"] == 1 || stats["blobs"] == 2, "{stats}");
    // The provincial system accepts it (the admin answer is the full view, with documents).
    let view = runtime.block_on(gateway.set_status(&code, "processing"))?;
    assert_eq!(
        view["documents"].as_array().map(Vec::len),
        Some(2),
        "{view}"
    );
    assert!(
        view["documents"][0]["media_type"] == "application/pdf",
        "{view}"
    );

    // 2. A ticket, then its rating.
    screen.tap("⌂ Trang chủ");
    screen.tap("Lấy số thứ tự");
    screen.tap("Tư pháp – Hộ tịch");
    screen.wait_shows("Số thứ tự của ông/bà");
    screen.wait_shows("Đã in phiếu");
    let slips = printer.wait_for_pages(2, Duration::from_secs(20));
    let ticket_id = zbar(&slips[1])?;
    assert!(ticket_id.starts_with("TP-"), "{ticket_id:?}");
    screen.tap("Đánh giá mức độ hài lòng");
    assert!(screen.shows(&ticket_id));
    let best = motcua_domain::rating::RatingScale::Five.labels_vi()[0];
    screen.tap(best);
    screen.wait_shows("Cảm ơn ông/bà đã đánh giá!");
    wait_for(LONG, "the ticket and its rating at the gateway", || {
        let s = runtime.block_on(gateway.stats()).ok();
        Ok(s.filter(|s| s["ratings"] == 1 && s["tickets"] == 1)
            .map(|_| ()))
    })?;

    // 3. Status lookup by scanning the receipt at the home screen: online first (the kiosk
    //    keeps what it learns), then with the gateway down (the cached status, and when).
    screen.tap("Xong");
    reader.present(&receipt_qr)?;
    screen.wait_shows("Đang xử lý");
    assert!(screen.shows("Cập nhật lúc"));
    assert!(!screen.shows("Chưa kết nối được hệ thống"));
    screen.tap("Xong");
    gateway.kill();
    screen.tap("Tra cứu hồ sơ");
    screen.type_text(&code.to_lowercase());
    screen.tap("Tiếp tục ›");
    // The code alone opens nothing: the kiosk asks for the lookup code printed on the receipt
    // (the same text as in its QR), and a wrong one does not show the kiosk's copy either.
    screen.wait_shows("Hãy nhập cả mã tra cứu");
    let wrong = motcua_domain::lookup_secret::LookupSecret::from_bytes([0; 5]);
    assert_ne!(secret, wrong);
    screen.type_text(&wrong.to_string());
    screen.tap("Tiếp tục ›");
    screen.wait_shows("không có hồ sơ khớp hai mã này");
    assert!(
        !screen.shows("Đang xử lý"),
        "no cached status for a wrong secret"
    );
    screen.tap("key clear");
    screen.type_text(&secret.to_string().to_lowercase().replace('-', ""));
    screen.tap("Tiếp tục ›");
    screen.wait_shows("Chưa kết nối được hệ thống của tỉnh");
    assert!(screen.shows("Đang xử lý"), "the cached status");
    assert!(screen.shows("cập nhật lần cuối lúc"));
    assert!(screen.shows(&code));

    // English on the same screen, then the citizen walks away mid-form.
    screen.tap("English");
    assert!(screen.shows("Dossier status"));
    screen.tap("⌂ Home");
    screen.tap("Nộp hồ sơ");
    screen.type_text("khai sinh");
    screen.tap("Đăng ký khai sinh");
    screen.tap("Bắt đầu nộp hồ sơ ›");
    reader.present(CARD)?;
    screen.wait_shows("Nguyễn Thị Phượng");
    screen.tap("Tiếp tục ›");
    screen.tap("Quét");
    assert!(std::fs::read_dir(screen.app.session_dir())?.count() > 0);

    // 4. The idle warning, then the wipe.
    screen.app.skip_time(Duration::from_secs(51));
    assert!(screen.shows("Ông/bà còn ở đây không?"));
    screen.app.skip_time(Duration::from_secs(10));
    screen.app.settle(LONG);
    let session = screen.app.session_debug();
    for secret in ["Phượng", id_number, "Lê Lợi", "ScannedPage"] {
        assert!(
            !session.contains(secret),
            "{secret} left in the session: {session}"
        );
    }
    let labels = screen.labels();
    assert!(
        labels.iter().any(|l| l == "Nộp hồ sơ"),
        "back home: {labels:?}"
    );
    for secret in ["Phượng", id_number, "Lê Lợi", &code, &secret.to_string()] {
        assert!(
            !labels.iter().any(|l| l.contains(secret)),
            "{secret} left on the screen: {labels:?}"
        );
    }
    wait_for(
        Duration::from_secs(10),
        "the session folder emptied",
        || Ok((std::fs::read_dir(screen.app.session_dir())?.count() == 0).then_some(())),
    )?;
    kiosk.kill_daemon();
    Ok(())
}
