//! The "Nghe hướng dẫn / Listen" key: drawn in the header of a citizen screen (the ticket's
//! area choice here, in both languages), tapped by its label, absent when the kiosk cannot
//! speak. The screenshots are kept in the target's tmp folder to be looked at.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use motcua_ui::headless::Headless;
use motcua_ui::{AreaRow, KioskWindow, L, SCREEN_HEIGHT, SCREEN_WIDTH};
use slint::{ComponentHandle, ModelRc, VecModel};

fn area(code: &str, name: &str) -> AreaRow {
    AreaRow {
        code: code.into(),
        name: name.into(),
        info: Default::default(),
    }
}

#[test]
fn the_ticket_screen_has_a_listen_key_that_sends_listen() {
    let mut screen = Headless::install(SCREEN_WIDTH, SCREEN_HEIGHT).expect("headless platform");
    let window = KioskWindow::new().expect("window");
    window.show().expect("show");
    let actions = Rc::new(RefCell::new(Vec::new()));
    let seen = actions.clone();
    window.on_action(move |a, b| seen.borrow_mut().push(format!("{a}:{b}")));
    window.set_screen("ticket".into());
    window.set_title_text("Lấy số thứ tự".into());
    window.set_areas(ModelRc::new(VecModel::from(vec![
        area("TP", "Tư pháp – Hộ tịch"),
        area("DD", "Đất đai – Xây dựng"),
        area("KD", "Đăng ký kinh doanh"),
    ])));

    // Without audio there is no key.
    assert!(!screen.labels(&window).iter().any(|l| l == "Nghe hướng dẫn"));

    window.set_can_listen(true);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    screen
        .screenshot(&dir.join("listen-ticket-vi.png"))
        .expect("screenshot");
    screen
        .tap(&window, "Nghe hướng dẫn")
        .expect("the Listen key");
    assert_eq!(actions.borrow().as_slice(), ["listen:"]);
    // The other keys of the header are still there beside it.
    let labels = screen.labels(&window);
    for label in ["⌂ Trang chủ", "English", "Tư pháp – Hộ tịch"] {
        assert!(labels.iter().any(|l| l == label), "{label} in {labels:?}");
    }

    window.global::<L>().set_en(true);
    window.set_title_text("Queue number".into());
    screen
        .screenshot(&dir.join("listen-ticket-en.png"))
        .expect("screenshot");
    screen
        .tap(&window, "Listen")
        .expect("the Listen key in English");
    assert_eq!(actions.borrow().as_slice(), ["listen:", "listen:"]);
}
