//! Printer faults reach the caller as clear errors, nothing is printed while the printer cannot
//! print, and the same job prints once the cause is fixed.

mod common;

use std::time::Duration;

use motcua_printer::emulator::{Emulator, EmulatorConfig};
use motcua_printer::{
    EncodeOptions, EscPosPrinter, Fault, FontConfig, Job, JobStage, Paper, Printer, PrinterError,
    Renderer, Timeouts, Transport,
};

fn receipt_job() -> Job {
    let renderer = Renderer::new(&FontConfig::default()).unwrap();
    renderer
        .receipt_job(
            &common::sample_receipt(),
            Paper::Mm80,
            &EncodeOptions::default(),
        )
        .unwrap()
}

fn start(dir: &tempfile::TempDir) -> Emulator {
    Emulator::start(EmulatorConfig::new(dir.path())).unwrap()
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        write: Duration::from_millis(700),
        read: Duration::from_millis(700),
        job: Duration::from_millis(1500),
    }
}

/// Sets a fault, checks the job is refused with the expected words and not printed, clears it
/// and checks the very same job then prints.
fn fault_then_reprint(set: fn(&Emulator, bool), expected: Fault, words: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(&dir);
    let mut printer = EscPosPrinter::tcp(emu.tcp_addr().unwrap().to_string());
    let job = receipt_job();
    set(&emu, true);

    assert_eq!(printer.status().unwrap().fault(), Some(expected));
    let err = printer.print(&job).unwrap_err();
    assert!(
        matches!(err, PrinterError::Fault { fault, stage: JobStage::BeforeSending, .. } if fault == expected),
        "{err}"
    );
    assert!(err.is_reprintable());
    let msg = err.to_string();
    for w in words {
        assert!(msg.contains(w), "{msg:?} should contain {w:?}");
    }
    assert!(
        msg.contains(&emu.tcp_addr().unwrap().to_string()),
        "names the device: {msg}"
    );

    // Even a job pushed at it while faulted (no status check) is not printed.
    let mut raw = std::net::TcpStream::connect(emu.tcp_addr().unwrap()).unwrap();
    std::io::Write::write_all(&mut raw, &job.bytes).unwrap();
    drop(raw);
    std::thread::sleep(Duration::from_millis(500));
    assert!(emu.pages().is_empty(), "nothing printed while faulted");

    set(&emu, false);
    printer.print(&job).unwrap();
    assert_eq!(emu.wait_for_pages(1, Duration::from_secs(5)).len(), 1);
    assert_eq!(
        common::zbar(&emu.pages()[0]),
        vec![common::sample_receipt().qr_payload]
    );
}

#[test]
fn paper_end_is_reported_and_the_job_reprints_after_a_new_roll() {
    fault_then_reprint(
        Emulator::set_paper_end,
        Fault::PaperEnd,
        &["Máy in hết giấy", "out of paper", "reprint"],
    );
}

#[test]
fn cover_open_is_reported_and_the_job_reprints_after_closing_it() {
    fault_then_reprint(
        Emulator::set_cover_open,
        Fault::CoverOpen,
        &["Nắp máy in đang mở", "cover open"],
    );
}

#[test]
fn offline_is_reported_and_the_job_reprints_when_back_online() {
    fault_then_reprint(
        Emulator::set_offline,
        Fault::Offline,
        &["ngoại tuyến", "offline"],
    );
}

#[test]
fn paper_running_out_mid_receipt_is_reported_after_sending() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(&dir);
    // Slow enough that the paper runs out while the slip is still arriving.
    emu.set_slow(Some(Duration::from_millis(10)));
    let t = Timeouts {
        read: Duration::from_secs(10),
        ..Timeouts::default()
    };
    let mut printer = EscPosPrinter::new(Transport::Tcp(emu.tcp_addr().unwrap().to_string()), t);
    let job = receipt_job();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            emu.set_paper_end(true);
        });
        let err = printer.print(&job).unwrap_err();
        assert!(
            matches!(
                err,
                PrinterError::Fault {
                    fault: Fault::PaperEnd,
                    stage: JobStage::AfterSending,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("incomplete"), "{err}");
    });
    assert!(emu.pages().is_empty(), "a half slip is not delivered");
    emu.set_paper_end(false);
    emu.set_slow(None);
    printer.print(&job).unwrap();
    assert_eq!(emu.wait_for_pages(1, Duration::from_secs(5)).len(), 1);
}

#[test]
fn a_printer_that_does_not_answer_times_out_and_the_next_job_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(&dir);
    emu.set_unresponsive(true);
    let mut printer =
        EscPosPrinter::new(Transport::Tcp(emu.tcp_addr().unwrap().to_string()), quick());
    let job = receipt_job();
    let started = std::time::Instant::now();
    let err = printer.print(&job).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "gave up in time: {:?}",
        started.elapsed()
    );
    assert!(matches!(err, PrinterError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("no answer within 700 ms"), "{err}");
    assert!(!printer.is_connected(), "the suspect connection is dropped");
    assert!(emu.pages().is_empty());

    emu.set_unresponsive(false);
    printer.print(&job).unwrap();
    assert_eq!(emu.wait_for_pages(1, Duration::from_secs(5)).len(), 1);
}

#[test]
fn a_slow_serial_printer_times_out_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(&dir);
    emu.set_slow(Some(Duration::from_millis(300)));
    let path = emu.pty_path().unwrap().to_owned();
    let mut printer = EscPosPrinter::new(
        Transport::Serial {
            path: path.clone().into(),
            baud: 9600,
        },
        quick(),
    );
    let started = std::time::Instant::now();
    let err = printer.print(&receipt_job()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "gave up in time: {:?}",
        started.elapsed()
    );
    assert!(matches!(err, PrinterError::Timeout { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path) && msg.contains("no answer within"),
        "{msg}"
    );
}

#[test]
fn nothing_listening_is_a_connect_error_naming_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut printer = EscPosPrinter::new(Transport::Tcp(port.to_string()), quick());
    let err = printer.status().unwrap_err();
    assert!(matches!(err, PrinterError::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

#[test]
fn paper_near_end_prints_but_tells_the_technician() {
    let dir = tempfile::tempdir().unwrap();
    let emu = start(&dir);
    emu.set_paper_near_end(true);
    let mut printer = EscPosPrinter::tcp(emu.tcp_addr().unwrap().to_string());
    let status = printer.print(&receipt_job()).unwrap();
    assert!(status.paper_near_end && status.is_ready());
    assert_eq!(emu.wait_for_pages(1, Duration::from_secs(5)).len(), 1);
}
