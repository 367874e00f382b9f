//! The window renders headless and taps reach the screens' callbacks.

use std::cell::RefCell;
use std::rc::Rc;

use motcua_ui::headless::Headless;
use motcua_ui::{KioskWindow, SCREEN_HEIGHT, SCREEN_WIDTH};
use slint::ComponentHandle;

#[test]
fn home_screen_renders_and_a_tap_reaches_the_kiosk() {
    let mut screen = Headless::install(SCREEN_WIDTH, SCREEN_HEIGHT).expect("headless platform");
    let window = KioskWindow::new().expect("window");
    window.show().expect("show");
    let actions = Rc::new(RefCell::new(Vec::new()));
    let seen = actions.clone();
    window.on_action(move |a, b| seen.borrow_mut().push(format!("{a}:{b}")));
    window.set_title_text("Bộ phận Một cửa".into());
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("home-smoke.png");
    screen.screenshot(&out).expect("screenshot");
    eprintln!("LABELS {:?}", screen.labels(&window));
    screen
        .tap(&window, "Lấy số thứ tự")
        .expect("the ticket button");
    assert_eq!(actions.borrow().as_slice(), ["open:ticket"]);
    assert!(screen.labels(&window).iter().any(|l| l == "Tra cứu hồ sơ"));
}
