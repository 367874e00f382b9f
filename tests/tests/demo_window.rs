//! `kioskd demo` opens the touch-screen window on a real X server (Xvfb, as on a headless
//! machine) with the winit backend, and real X pointer events (xdotool) drive it: the citizen
//! takes a queue ticket and the simulated printer prints it. A screenshot of the window as X
//! shows it is written to `target/screenshots/xvfb-home.png`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use motcua_tests::{bin, wait_for, wait_for_file, zbar, KillOnDrop, Xvfb};

/// Where "Lấy số thứ tự" is on the home screen, and the first service area on the next one.
const TICKET_BUTTON: (u32, u32) = (540, 708);
const FIRST_AREA: (u32, u32) = (540, 374);

/// Whether the two screens differ in the band of rows around `y` (±40 px).
fn band_differs(a: &image::RgbImage, b: &image::RgbImage, y: u32) -> bool {
    let rows = y.saturating_sub(40)..(y + 40).min(a.height()).min(b.height());
    rows.into_iter().any(|row| {
        (0..a.width().min(b.width())).any(|x| a.get_pixel(x, row) != b.get_pixel(x, row))
    })
}

#[test]
fn the_demo_window_takes_a_ticket_under_xvfb() -> anyhow::Result<()> {
    let x = Xvfb::start()?;
    let tmp = tempfile::tempdir()?;
    let scratch = tmp.path().join("screen.png");
    // The bare screen, before any window.
    let bare = x.capture(&scratch)?;
    let mut demo = Command::new(bin("kioskd"))
        .args(["demo", "--seconds", "40", "--data-dir"])
        .arg(tmp.path())
        .env("DISPLAY", &x.display)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = demo
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut demo = KillOnDrop(demo);
    let log = Arc::new(Mutex::new(String::new()));
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut l) = log.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
    }
    let log_so_far = || log.lock().map(|l| l.clone()).unwrap_or_default();
    wait_for(Duration::from_secs(60), "the window to show", || {
        Ok(log_so_far().contains("touch screen shown").then_some(()))
    })
    .map_err(|e| anyhow::anyhow!("{e}:\n{}", log_so_far()))?;
    // The home screen is drawn once X shows the ticket button where the bare screen was.
    let home = wait_for(Duration::from_secs(30), "the home screen drawn", || {
        let now = x.capture(&scratch)?;
        Ok(band_differs(&now, &bare, TICKET_BUTTON.1).then_some(now))
    })?;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&shots)?;
    home.save(shots.join("xvfb-home.png"))?;

    // The demo printed its sample receipt as slip 1. The citizen touches "Lấy số thứ tự",
    // then, once the service areas are shown, the first one: slip 2 is the ticket.
    let slips = tmp.path().join("printer");
    wait_for_file(&slips.join("slip-0001.png"), Duration::from_secs(10))?;
    x.click(TICKET_BUTTON.0, TICKET_BUTTON.1)?;
    wait_for(Duration::from_secs(20), "the service areas shown", || {
        let now = x.capture(&scratch)?;
        Ok(band_differs(&now, &home, FIRST_AREA.1).then_some(()))
    })?;
    x.click(FIRST_AREA.0, FIRST_AREA.1)?;
    wait_for_file(&slips.join("slip-0002.png"), Duration::from_secs(20))
        .map_err(|e| anyhow::anyhow!("no ticket printed: {e}\n{}", log_so_far()))?;
    x.screenshot(&shots.join("xvfb-ticket.png"))?;
    let ticket = zbar(&slips.join("slip-0002.png"))?;
    assert!(ticket.starts_with("TP-"), "{ticket:?}");
    assert!(ticket.ends_with("@KIOSK-DEMO-01"), "{ticket:?}");

    // SIGTERM ends the event loop and the daemon cleanly.
    let pid = demo.0.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status()?;
    let status = demo.0.wait()?;
    let mut out = String::new();
    if let Some(mut stdout) = demo.0.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    assert!(status.success(), "{out}");
    assert!(out.contains("motcua demo stopped"), "{out}");
    Ok(())
}
