//! The watchdog is fed only while every work loop beats: a real `AF_UNIX` datagram socket
//! stands in for systemd's notify socket, a loop is stopped on purpose, and the pings stop,
//! name the loop in `STATUS=`, and come back when the loop does.
//!
//! One test per file: `NOTIFY_SOCKET` is process-wide and is set before any thread starts.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use motcua_kiosk::supervisor::{Condition, Supervisor};

/// Every message that arrives within `window`.
fn messages(socket: &UnixDatagram, window: Duration) -> Vec<String> {
    let until = Instant::now() + window;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        match socket.recv(&mut buf) {
            Ok(n) => out.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    out
}

/// Messages until one matches `want` (or 10 s pass, then the caller's assertion fails).
fn wait_for(socket: &UnixDatagram, want: impl Fn(&str) -> bool) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while Instant::now() < until {
        let got = messages(socket, Duration::from_millis(100));
        let found = got.iter().any(|m| want(m));
        seen.extend(got);
        if found {
            break;
        }
    }
    seen
}

fn pings(msgs: &[String]) -> usize {
    msgs.iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count()
}

#[test]
fn a_stalled_loop_stops_the_pings_and_a_recovered_one_restarts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    std::env::set_var("NOTIFY_SOCKET", &path);

    let supervisor = Supervisor::new();
    supervisor.await_conditions(&[Condition::Store]);
    let screen = supervisor.register("screen", Duration::from_millis(400));
    let running = Arc::new(AtomicBool::new(true));
    let finished = Arc::new(AtomicBool::new(false));
    let beater = {
        let (screen, running, finished) = (screen.clone(), running.clone(), finished.clone());
        std::thread::spawn(move || {
            for _ in 0..400 {
                if finished.load(Ordering::SeqCst) {
                    return;
                }
                if running.load(Ordering::SeqCst) {
                    screen.beat();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let _watchdog = supervisor.spawn_watchdog(Duration::from_millis(200));

    // Not ready yet: the status says what is awaited; then the store is met and READY=1 comes.
    // The deadlines below only give up; what is asserted is what arrives, not when.
    supervisor.met(Condition::Store);
    let first = wait_for(&socket, |m| m.lines().any(|l| l == "WATCHDOG=1"));
    assert!(
        first
            .iter()
            .any(|m| m.contains("waiting for: kho dữ liệu / store")),
        "{first:?}"
    );
    assert!(
        first.iter().any(|m| m.lines().any(|l| l == "READY=1")),
        "{first:?}"
    );
    assert!(
        pings(&first) > 0,
        "a beating loop feeds the watchdog: {first:?}"
    );

    // The loop stops beating: once past its allowance the status names it and pings stop.
    running.store(false, Ordering::SeqCst);
    let going = wait_for(&socket, |m| {
        m.contains("STATUS=") && m.contains("stalled: screen")
    });
    assert!(
        going.iter().any(|m| m.contains("stalled: screen")),
        "{going:?}"
    );
    let stalled = messages(&socket, Duration::from_millis(600));
    assert_eq!(
        pings(&stalled),
        0,
        "no ping while the screen is stalled: {stalled:?}"
    );
    assert_eq!(supervisor.stalled(), vec!["screen"]);

    // It beats again: the pings come back.
    running.store(true, Ordering::SeqCst);
    let back = wait_for(&socket, |m| m.lines().any(|l| l == "WATCHDOG=1"));
    assert!(pings(&back) > 0, "pings resume with the loop: {back:?}");
    supervisor.stopping();
    finished.store(true, Ordering::SeqCst);
    let _ = beater.join();
}
