//! The kiosk's voice on the real touch app (headless Slint window, real store, real services):
//! the "Nghe hướng dẫn" key is tapped like a citizen would and the speech program receives the
//! screen's instruction on its stdin; taking a ticket says its number in words. The speech
//! program is a stand-in that records what it was given, since this machine has no sound card.
//! With `[audio] enabled = false` there is no key; without the program the kiosk carries on.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::touch::TouchApp;
use motcua_ui::headless::Headless;
use slint::ComponentHandle;

const SETTLE: Duration = Duration::from_secs(30);

fn config(dir: &Path, audio: &str) -> KioskConfig {
    let text = format!(
        r#"
[device]
id = "KIOSK-H56-0001"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 4999

[store]
data_dir = "{data}"
min_free_mb = 0

[gateway]
url = "https://127.0.0.1:9/"

[[ticket.areas]]
code = "TP"
name_vi = "Tư pháp – Hộ tịch"
name_en = "Justice and civil status"

{audio}
"#,
        data = dir.join("data").display(),
    );
    KioskConfig::parse(&text, "kiosk.toml").expect("config")
}

/// A speech program that writes what it was asked to say to `<dir>/said/<n>.txt`, in order.
fn recorder(dir: &Path) -> std::path::PathBuf {
    let said = dir.join("said");
    std::fs::create_dir_all(&said).expect("mkdir");
    let program = dir.join("espeak-recorder");
    let s = said.display();
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nn=$(ls {s} | wc -l)\ncat > {s}/.tmp.$$ && mv {s}/.tmp.$$ {s}/$((n + 1)).txt\n"
        ),
    )
    .expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    program
}

/// Waits (bounded) for the `n`th utterance and returns its text.
fn utterance(dir: &Path, n: usize) -> String {
    let path = dir.join("said").join(format!("{n}.txt"));
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text.trim_end().to_owned();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("utterance {n} never came");
}

fn tap(screen: &mut Headless, app: &TouchApp, label: &str) {
    app.pump();
    if let Err(e) = screen.tap(app.window(), label) {
        panic!("{e}; on screen: {:?}", screen.labels(app.window()));
    }
    assert!(app.settle(SETTLE), "busy after {label:?}");
}

#[test]
fn listen_speaks_each_screen_and_the_ticket_number_is_said() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = recorder(tmp.path());
    let audio = format!("[audio]\nprogram = \"{}\"\n", program.display());
    let mut screen =
        Headless::install(motcua_ui::SCREEN_WIDTH, motcua_ui::SCREEN_HEIGHT).expect("headless");
    let app = TouchApp::new(config(tmp.path(), &audio)).expect("touch app");
    app.window().show().expect("show");

    tap(&mut screen, &app, "Nghe hướng dẫn");
    assert!(
        utterance(tmp.path(), 1).starts_with("Xin chào. Chạm vào nút nộp hồ sơ, lấy số thứ tự"),
        "{}",
        utterance(tmp.path(), 1)
    );

    tap(&mut screen, &app, "Lấy số thứ tự");
    tap(&mut screen, &app, "Nghe hướng dẫn");
    assert_eq!(
        utterance(tmp.path(), 2),
        "Chạm vào lĩnh vực bạn cần giải quyết để lấy số thứ tự."
    );

    // The ticket: issued in the store, printed (this kiosk has no printer), its number said.
    tap(&mut screen, &app, "Tư pháp – Hộ tịch");
    let said = utterance(tmp.path(), 3);
    assert!(
        said.starts_with("Số thứ tự của bạn là một. Máy in chưa in được phiếu."),
        "{said}"
    );

    // In English the key is "Listen" and the voice is English.
    tap(&mut screen, &app, "English");
    tap(&mut screen, &app, "Listen");
    assert!(
        utterance(tmp.path(), 4).starts_with("Your number is one."),
        "{}",
        utterance(tmp.path(), 4)
    );
    assert_eq!(app.speech_problem(), None);
    assert_eq!(app.utterances_started(), 4);
}

#[test]
fn audio_off_hides_the_key_and_a_missing_program_leaves_the_kiosk_working() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut screen =
        Headless::install(motcua_ui::SCREEN_WIDTH, motcua_ui::SCREEN_HEIGHT).expect("headless");
    let off = TouchApp::new(config(
        &tmp.path().join("off"),
        "[audio]\nenabled = false\n",
    ))
    .expect("touch app");
    off.window().show().expect("show");
    off.pump();
    let labels = screen.labels(off.window());
    assert!(
        !labels.iter().any(|l| l == "Nghe hướng dẫn") && labels.iter().any(|l| l == "Đánh giá"),
        "{labels:?}"
    );
    drop(off);

    let missing = tmp.path().join("no-espeak-ng");
    let audio = format!("[audio]\nprogram = \"{}\"\n", missing.display());
    let app = TouchApp::new(config(&tmp.path().join("missing"), &audio)).expect("touch app");
    app.window().show().expect("show");
    tap(&mut screen, &app, "Nghe hướng dẫn");
    for _ in 0..500 {
        if app.speech_problem().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let problem = app
        .speech_problem()
        .expect("the missing program is reported");
    assert!(
        problem.contains("không tìm thấy chương trình đọc"),
        "{problem}"
    );
    // The screens go on as before.
    tap(&mut screen, &app, "Lấy số thứ tự");
    tap(&mut screen, &app, "Tư pháp – Hộ tịch");
    assert!(
        app.session_debug().contains("number: 1"),
        "{}",
        app.session_debug()
    );
}
