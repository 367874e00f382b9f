//! kioskd under a service manager, seen from the manager's side: the test binds a real
//! `AF_UNIX` datagram socket as `NOTIFY_SOCKET`, starts the real kioskd, and reads what it says.
//! `READY=1` comes only once the store is open (and never with a corrupt store or a console
//! without a display device, which are told in `STATUS=` before a non-zero exit); watchdog
//! pings arrive while it works, also while the gateway hangs (never a whole watchdog period
//! without one, which is what systemd enforces), and stop while it is stopped.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use motcua_tests::{bin, sections, tcp_printer, KillOnDrop, Kiosk, KioskSettings};

/// The manager's end: every message kioskd sent, in order.
struct Manager {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Manager {
    fn bind(dir: &Path) -> anyhow::Result<(Self, std::path::PathBuf)> {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path)?;
        Ok((
            Self {
                socket,
                seen: Vec::new(),
            },
            path,
        ))
    }

    /// Messages arriving within `window`.
    fn collect(&mut self, window: Duration) -> Vec<String> {
        let until = Instant::now() + window;
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let _ = self
                .socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.socket.recv(&mut buf) {
                Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(_) => break,
            }
        }
        self.seen.extend(got.iter().cloned());
        got
    }

    /// Waits (at most `limit`) for a message with a line equal to `line`; everything read on
    /// the way is kept in `seen`.
    fn wait_for_line(&mut self, line: &str, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            let got = self.collect(Duration::from_millis(200));
            if got.iter().any(|m| m.lines().any(|l| l == line)) {
                return true;
            }
        }
        false
    }
}

fn pings(msgs: &[String]) -> usize {
    msgs.iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count()
}

/// The watchdog period the test gives kioskd: systemd would restart it after a whole period
/// without a ping, which is the contract the tests check (kioskd pings every quarter period).
const WATCHDOG: Duration = Duration::from_secs(2);

/// Watches the socket for `window` and says whether a whole watchdog period ever passed
/// without a ping (what would make systemd restart the kiosk), with the pings seen.
fn watch_pings(manager: &mut Manager, window: Duration) -> (bool, usize) {
    let until = Instant::now() + window;
    let mut last_ping = Instant::now();
    let mut starved = false;
    let mut count = 0;
    while Instant::now() < until {
        let got = manager.collect(Duration::from_millis(100));
        let n = pings(&got);
        if n > 0 {
            count += n;
            last_ping = Instant::now();
        } else if last_ping.elapsed() > WATCHDOG {
            starved = true;
        }
    }
    (starved, count)
}

fn kioskd(kiosk: &Kiosk, socket: &Path, args: &[&str]) -> anyhow::Result<Child> {
    Ok(Command::new(bin("kioskd"))
        .arg("--config")
        .arg(&kiosk.config)
        .args(args)
        .env("NOTIFY_SOCKET", socket)
        // A short period, so the test sees many pings; no WATCHDOG_PID, so the child accepts it.
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(kiosk.dir.join("kioskd.log"))?)
        .spawn()?)
}

fn wait_exit(child: &mut Child, limit: Duration) -> anyhow::Result<ExitStatus> {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        anyhow::ensure!(Instant::now() < until, "kioskd did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends a signal by its `kill` name (STOP, CONT, TERM).
fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

#[test]
fn ready_after_the_store_opens_then_pings_until_stopped_and_stopping_on_term() -> anyhow::Result<()>
{
    let tmp = tempfile::tempdir()?;
    let (_emulator, printer) = tcp_printer(tmp.path())?;
    let kiosk = Kiosk::create(
        &tmp.path().join("kiosk"),
        &KioskSettings::offline().with(&sections::tcp_printer(&printer)),
    )?;
    let (mut manager, socket) = Manager::bind(tmp.path())?;
    let mut child = KillOnDrop(kioskd(&kiosk, &socket, &["run"])?);

    assert!(
        manager.wait_for_line("READY=1", Duration::from_secs(30)),
        "no READY=1: {:?}\n{}",
        manager.seen,
        kiosk.daemon_log()
    );
    // Readiness came after the store was opened: the database exists and answers, and before
    // READY the manager was told what kioskd was waiting for.
    assert!(kiosk.data_dir().join("kiosk.sqlite3").is_file());
    assert_eq!(kiosk.status()?["pending"].as_u64(), Some(0));
    let ready_at = manager
        .seen
        .iter()
        .position(|m| m.lines().any(|l| l == "READY=1"))
        .unwrap_or(usize::MAX);
    assert!(
        manager.seen[..ready_at]
            .iter()
            .any(|m| m.contains("STATUS=đang chờ / waiting for:")),
        "{:?}",
        manager.seen
    );

    // The health line: not enrolled yet, outbox depth, the printer's state (the emulator
    // answers: ready).
    let mut health = None;
    let until = Instant::now() + Duration::from_secs(15);
    // Searched in all that was seen: the line may have come with the READY=1 collected above.
    while health.is_none() && Instant::now() < until {
        manager.collect(Duration::from_millis(500));
        health = manager
            .seen
            .iter()
            .find(|m| {
                m.contains("STATUS=chưa đăng ký / not enrolled")
                    && m.contains("chờ gửi / outbox: 0")
                    && m.contains("sẵn sàng / ready")
            })
            .cloned();
    }
    assert!(health.is_some(), "no health line: {:?}", manager.seen);

    // Pings while it works: never a whole period without one.
    let (starved, count) = watch_pings(&mut manager, 2 * WATCHDOG);
    assert!(
        !starved && count > 0,
        "the watchdog starved while kioskd worked"
    );

    // Stopped (SIGSTOP): no ping at all; continued: pings again.
    signal(&child.0, "STOP");
    let _ = manager.collect(Duration::from_millis(300));
    let stopped = manager.collect(WATCHDOG);
    assert_eq!(pings(&stopped), 0, "pings while stopped: {stopped:?}");
    signal(&child.0, "CONT");
    assert!(
        manager.wait_for_line("WATCHDOG=1", 2 * WATCHDOG),
        "no ping after SIGCONT"
    );

    // SIGTERM: STOPPING=1 and a clean exit.
    signal(&child.0, "TERM");
    let status = wait_exit(&mut child.0, Duration::from_secs(20))?;
    let _ = manager.collect(Duration::from_millis(200));
    assert!(status.success(), "{status:?}\n{}", kiosk.daemon_log());
    assert!(
        manager
            .seen
            .iter()
            .any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "{:?}",
        manager.seen
    );
    Ok(())
}

#[test]
fn a_gateway_that_never_answers_does_not_starve_the_watchdog() -> anyhow::Result<()> {
    // A listener that accepts and never says a word: every request of the uplink runs into its
    // time limit. A slow network is waiting, not hanging: the pings must go on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("https://{}", listener.local_addr()?);
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming().take(50).flatten() {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(conn);
            }
        });
    }
    let tmp = tempfile::tempdir()?;
    let mut settings = KioskSettings::at_url(&url);
    // Longer than the uplink's quiet allowance: a request that waits this long must still not
    // look like a hang (a slow commune link is waiting, not hanging).
    settings.request_timeout_s = 40;
    let kiosk = Kiosk::create(&tmp.path().join("kiosk"), &settings)?;
    // Enrolled elsewhere: the uplink has an identity to present, the silent peer never answers
    // the TLS handshake.
    let pki = motcua_tests::Pki::create(&tmp.path().join("pki"))?;
    kiosk.install_identity(&pki, &settings.device_id, "000.17.22.H56")?;
    let dossier_dir = tmp.path().join("dossier");
    std::fs::create_dir_all(&dossier_dir)?;
    motcua_tests::random_file(&dossier_dir.join("scan.pdf"), 200_000)?;
    let dossier = motcua_tests::dossier_json(&dossier_dir, "1.001193", &["scan.pdf"])?;
    kiosk.submit(&dossier)?;

    let (mut manager, socket) = Manager::bind(tmp.path())?;
    let _child = KillOnDrop(kioskd(&kiosk, &socket, &["run"])?);
    assert!(
        manager.wait_for_line("READY=1", Duration::from_secs(30)),
        "{:?}",
        manager.seen
    );
    // One request waits past the whole quiet allowance: still no watchdog period without a ping.
    let window = motcua_uplink::QUIET_ALLOWANCE + 3 * WATCHDOG;
    let (starved, count) = watch_pings(&mut manager, window);
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the uplink never reached the silent gateway\n{}",
        kiosk.daemon_log()
    );
    assert!(
        !starved && count > 0,
        "the watchdog starved while the gateway hung\n{}",
        kiosk.daemon_log()
    );
    Ok(())
}

#[test]
fn a_corrupt_store_is_told_in_the_status_and_never_ready() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let kiosk = Kiosk::create(&tmp.path().join("kiosk"), &KioskSettings::offline())?;
    std::fs::create_dir_all(kiosk.data_dir())?;
    // Not a database at all: what a disk that lost its blocks leaves behind.
    std::fs::write(
        kiosk.data_dir().join("kiosk.sqlite3"),
        vec![0x5a_u8; 64 * 1024],
    )?;
    let (mut manager, socket) = Manager::bind(tmp.path())?;
    let mut child = KillOnDrop(kioskd(&kiosk, &socket, &["run"])?);
    let status = wait_exit(&mut child.0, Duration::from_secs(30))?;
    let _ = manager.collect(Duration::from_millis(300));
    assert!(!status.success(), "kioskd ran on a corrupt store");
    assert!(
        !manager
            .seen
            .iter()
            .any(|m| m.lines().any(|l| l == "READY=1")),
        "{:?}",
        manager.seen
    );
    assert!(
        manager.seen.iter().any(|m| m.contains("STATUS=LỖI / FAILED:")
            && m.contains("cannot use the kiosk store")),
        "{:?}",
        manager.seen
    );
    Ok(())
}

#[test]
fn a_console_without_a_display_device_is_named_and_never_ready() -> anyhow::Result<()> {
    // These machines (and CI's) have no /dev/dri: the kiosk screen on the console cannot
    // start, and the technician is told which device is missing.
    assert!(
        !Path::new("/dev/dri").exists(),
        "this test expects a machine without a DRM device, as CI's"
    );
    let tmp = tempfile::tempdir()?;
    let kiosk = Kiosk::create(
        &tmp.path().join("kiosk"),
        &KioskSettings::offline().with("[ui]\ndisplay = \"kms\"\n"),
    )?;
    let (mut manager, socket) = Manager::bind(tmp.path())?;
    let mut child = KillOnDrop(kioskd(&kiosk, &socket, &["ui"])?);
    let status = wait_exit(&mut child.0, Duration::from_secs(30))?;
    let _ = manager.collect(Duration::from_millis(300));
    assert!(!status.success());
    assert!(
        manager
            .seen
            .iter()
            .any(|m| m.contains("STATUS=LỖI / FAILED:") && m.contains("no DRM display device")),
        "{:?}",
        manager.seen
    );
    assert!(!manager
        .seen
        .iter()
        .any(|m| m.lines().any(|l| l == "READY=1")));
    assert!(
        kiosk.daemon_log().contains("/dev/dri"),
        "{}",
        kiosk.daemon_log()
    );
    Ok(())
}
