//! The technician's setup screen renders headless and shows the steps and the last error.

use motcua_ui::headless::Headless;
use motcua_ui::{ProvisioningWindow, StepRow, SCREEN_HEIGHT, SCREEN_WIDTH};
use slint::ComponentHandle;

#[test]
fn the_setup_screen_shows_its_steps_and_the_last_error() {
    let mut screen = Headless::install(SCREEN_WIDTH, SCREEN_HEIGHT).expect("headless platform");
    let window = ProvisioningWindow::new().expect("window");
    window.show().expect("show");
    let rows = vec![
        StepRow {
            mark: "✓".into(),
            label: "Kiểm tra mã / Verify the code".into(),
            detail: "thiết bị / device 000.17.22.H56-K001".into(),
            failed: false,
            done: true,
        },
        StepRow {
            mark: "✗".into(),
            label: "Lấy CA của tỉnh / Fetch the province's CA".into(),
            detail: "".into(),
            failed: true,
            done: false,
        },
    ];
    window.set_steps(std::rc::Rc::new(slint::VecModel::from(rows)).into());
    let error = "mã không khớp CA của tỉnh / the gateway's CA does not match the setup code";
    window.set_error(error.into());
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("provisioning-screen.png");
    screen.screenshot(&out).expect("screenshot");
    let labels = screen.labels(&window);
    assert!(
        labels
            .iter()
            .any(|l| l == "Quét mã cấu hình / Scan the setup code"),
        "{labels:?}"
    );
    assert!(labels.iter().any(|l| l == error), "{labels:?}");
}
