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

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::touch::{spawn_code_reader, TouchApp};
use motcua_printer::emulator::{Emulator, EmulatorConfig};
use motcua_tests::{wait_for, Gateway, Kiosk, KioskSettings, ENROLLMENT_KEY};
use motcua_ui::headless::Headless;
use serialport::{SerialPort, TTYPort};
use slint::ComponentHandle;

const CARD: &str =
    "079190001234|025123456|Nguyễn Thị Phượng|05091990|Nữ|12 Lê Lợi, Phường 1, Sóc Trăng|01022021";
const LONG: Duration = Duration::from_secs(60);

struct Screen {
    app: TouchApp,
    headless: Headless,
}

impl Screen {
    fn tap(&mut self, label: &str) {
        self.app.pump();
        if let Err(e) = self.headless.tap(self.app.window(), label) {
            let labels = self.headless.labels(self.app.window());
            panic!("{e}; on screen: {labels:?}");
        }
        assert!(
            self.app.settle(LONG),
            "the kiosk stayed busy after {label:?}"
        );
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let key = if c == ' ' {
                "space".to_owned()
            } else {
                c.to_string()
            };
            self.tap(&format!("key {key}"));
        }
    }

    fn labels(&mut self) -> Vec<String> {
        self.app.pump();
        self.headless.labels(self.app.window())
    }

    fn shows(&mut self, text: &str) -> bool {
        self.labels().iter().any(|l| l.contains(text))
    }

    /// Waits (pumping) until something on the screen contains `text`.
    fn wait_shows(&mut self, text: &str) {
        let start = std::time::Instant::now();
        while start.elapsed() < LONG {
            self.app.settle(LONG);
            if self.shows(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let labels = self.labels();
        panic!("{text:?} never appeared; on screen: {labels:?}");
    }
}

fn zbar(png: &std::path::Path) -> String {
    let out = Command::new("zbarimg")
        .args(["--raw", "-q", "-Sbinary"])
        .arg(png)
        .output()
        .expect("zbarimg (zbar-tools) is installed by scripts/test.sh");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn citizen_sessions_on_the_touch_screen() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut gateway = Gateway::start(&tmp.path().join("gw"), None, 0)?;
    let mut kiosk = Kiosk::create(
        &tmp.path().join("kiosk"),
        &KioskSettings::new(&gateway.url()),
    )?;
    kiosk.ctl_ok(&["enroll", "--enrollment-key", ENROLLMENT_KEY])?;

    let mut printer_config = EmulatorConfig::new(tmp.path().join("slips"));
    printer_config.pty = false;
    let printer = Emulator::start(printer_config)?;
    let printer_addr = printer
        .tcp_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (mut reader, reader_slave) = TTYPort::pair()?;
    let reader_path = reader_slave.name().unwrap_or_default();
    let mut config_text = std::fs::read_to_string(&kiosk.config)?;
    config_text.push_str(&format!(
        r#"
[printer]
transport = "tcp"
address = "{printer_addr}"
paper_mm = 80

[code_reader]
kind = "serial"
path = "{reader_path}"
terminator = "cr"

[scanner]
kind = "sane"
device = "test"
resolution = 200
mode = "gray"
source = "flatbed"

[ui]
idle_timeout_s = 60
idle_warning_s = 10

[[ticket.areas]]
code = "TP"
name_vi = "Tư pháp – Hộ tịch"
name_en = "Justice and civil status"
minutes_per_citizen = 8
counters = 2
"#
    ));
    std::fs::write(&kiosk.config, &config_text)?;
    let config = KioskConfig::load(&kiosk.config)?;
    kiosk.start_daemon()?;

    let headless = Headless::install(motcua_ui::SCREEN_WIDTH, motcua_ui::SCREEN_HEIGHT)?;
    let app = TouchApp::new(config.clone())?;
    app.window().show()?;
    let _reader_thread = spawn_code_reader(
        config.peripherals.code_reader.as_ref().expect("configured"),
        app.event_sender(),
    )?;
    let mut screen = Screen { app, headless };
    let scan_card = |reader: &mut TTYPort, payload: &str| {
        reader
            .write_all(format!("{payload}\r").as_bytes())
            .expect("write to the reader's pty");
    };

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
    scan_card(&mut reader, CARD);
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
    let receipt_qr = zbar(&slips[0]);
    let code = receipt_qr.split('|').next().unwrap_or_default().to_owned();
    assert!(code.starts_with("000.17.22.H56-"), "{receipt_qr:?}");
    assert!(screen.shows(&code), "the code is on the screen");
    let runtime = tokio::runtime::Runtime::new()?;
    let stats = wait_for(LONG, "the dossier at the gateway", || {
        let s = runtime.block_on(gateway.stats()).ok();
        Ok(s.filter(|s| s["dossiers"] == 1 && s["documents"] == 2))
    })?;
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
    let ticket_id = zbar(&slips[1]);
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
    scan_card(&mut reader, &receipt_qr);
    screen.wait_shows("Đang xử lý");
    assert!(screen.shows("Cập nhật lúc"));
    assert!(!screen.shows("Chưa kết nối được hệ thống"));
    screen.tap("Xong");
    gateway.kill();
    screen.tap("Tra cứu hồ sơ");
    screen.type_text(&code.to_lowercase());
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
    scan_card(&mut reader, CARD);
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
    for secret in ["Phượng", "079190001234", "Lê Lợi", "ScannedPage"] {
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
    for secret in ["Phượng", "079190001234", "Lê Lợi", &code] {
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
