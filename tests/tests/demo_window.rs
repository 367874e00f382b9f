//! `kioskd demo` opens the touch-screen window on a real X server (Xvfb, as on a headless
//! machine) with the winit backend, and real X pointer events (xdotool) drive it: the citizen
//! takes a queue ticket and the simulated printer prints it. A screenshot of the window as X
//! shows it is written to `target/screenshots/xvfb-home.png`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use motcua_tests::bin;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb on a free display (it picks and tells the number).
fn xvfb() -> anyhow::Result<(Killed, String)> {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1080x1920x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("Xvfb (package xvfb, installed by scripts/test.sh): {e}"))?;
    let mut line = String::new();
    BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    )
    .read_line(&mut line)?;
    Ok((Killed(child), format!(":{}", line.trim())))
}

fn x(display: &str, program: &str, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Ok(Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .output()?)
}

fn screenshot(display: &str, png: &Path) -> anyhow::Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg("xwd -root -silent | xwdtopnm 2>/dev/null | pnmtopng > \"$1\"")
        .arg("sh")
        .arg(png)
        .env("DISPLAY", display)
        .status()?;
    anyhow::ensure!(status.success(), "xwd | xwdtopnm | pnmtopng failed");
    Ok(())
}

fn wait_file(path: &Path, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn the_demo_window_takes_a_ticket_under_xvfb() -> anyhow::Result<()> {
    let (_xvfb, display) = xvfb()?;
    let tmp = tempfile::tempdir()?;
    let mut demo = Command::new(bin("kioskd"))
        .args(["demo", "--seconds", "40", "--data-dir"])
        .arg(tmp.path())
        .env("DISPLAY", &display)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = demo
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut demo = Killed(demo);
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
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
    let start = Instant::now();
    while !log
        .lock()
        .map(|l| l.contains("touch screen shown"))
        .unwrap_or(false)
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the window never showed:\n{}",
            log.lock().map(|l| l.clone()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&shots)?;
    screenshot(&display, &shots.join("xvfb-home.png"))?;

    // The demo printed its sample receipt as slip 1. The citizen touches "Lấy số thứ tự",
    // then the first service area: slip 2 is the ticket.
    let slips = tmp.path().join("printer");
    assert!(wait_file(
        &slips.join("slip-0001.png"),
        Duration::from_secs(10)
    ));
    x(
        &display,
        "xdotool",
        &["mousemove", "540", "708", "click", "1"],
    )?;
    std::thread::sleep(Duration::from_millis(800));
    x(
        &display,
        "xdotool",
        &["mousemove", "540", "374", "click", "1"],
    )?;
    assert!(
        wait_file(&slips.join("slip-0002.png"), Duration::from_secs(20)),
        "no ticket printed:\n{}",
        log.lock().map(|l| l.clone()).unwrap_or_default()
    );
    screenshot(&display, &shots.join("xvfb-ticket.png"))?;
    let zbar = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(slips.join("slip-0002.png"))
        .output()?;
    let ticket = String::from_utf8_lossy(&zbar.stdout);
    assert!(ticket.starts_with("TP-"), "{ticket:?}");
    assert!(ticket.trim_end().ends_with("@KIOSK-DEMO-01"), "{ticket:?}");

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
