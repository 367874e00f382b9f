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

/// Pushes `bytes` at the emulator over a raw connection (no status check first, like a careless
/// driver) and waits for its answer to a status query sent after them on the same connection:
/// the emulator handles one connection's bytes in order, so once the answer is here the slip
/// has been taken in, printed or dropped. No timer decides what "has been handled" means.
fn push_raw_and_sync(addr: std::net::SocketAddr, bytes: &[u8]) {
    use std::io::{Read, Write};
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(bytes).unwrap();
    raw.write_all(&[0x10, 0x04, 0x01]).unwrap();
    let mut answer = [0u8; 1];
    raw.read_exact(&mut answer)
        .expect("the emulator answers the status query after the slip");
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
    let addr = emu.tcp_addr().unwrap();
    push_raw_and_sync(addr, &job.bytes);
    assert!(emu.pages().is_empty(), "nothing printed while faulted");

    set(&emu, false);
    // The same raw push prints once the fault is cleared: the check above could have seen a slip.
    push_raw_and_sync(addr, &job.bytes);
    assert_eq!(emu.pages().len(), 1, "a raw push prints without the fault");
    printer.print(&job).unwrap();
    let pages = emu.wait_for_pages(2, Duration::from_secs(5));
    assert_eq!(pages.len(), 2, "the job printed once");
    for page in &pages {
        assert_eq!(
            common::zbar(page),
            vec![common::sample_receipt().qr_payload]
        );
    }
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
    let mut printer = EscPosPrinter::tcp(emu.tcp_addr().unwrap().to_string());
    let job = receipt_job();
    // The roll ends halfway through the slip's bytes (after the status check before sending).
    emu.set_paper_end_after(Some(job.bytes.len() as u64 / 2));
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
    // The status answer that reported the fault came after the cut: the slip was handled.
    assert!(emu.pages().is_empty(), "a half slip is not delivered");
    emu.set_paper_end(false);
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
    let err = printer.print(&job).unwrap_err();
    // It gave up on the status query before sending anything, with the configured read limit.
    assert!(
        matches!(
            err,
            PrinterError::Timeout {
                what: "reading its status before printing",
                limit,
                ..
            } if limit == quick().read
        ),
        "{err:?}"
    );
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
    let err = printer.print(&receipt_job()).unwrap_err();
    // The status check before sending was answered; the slip itself could not be sent within
    // the job limit (or a single write blocked past the write limit on a loaded machine).
    let t = quick();
    assert!(
        matches!(
            err,
            PrinterError::Timeout { what, limit, .. }
                if what.starts_with("sending the slip") && (limit == t.job || limit == t.write)
        ),
        "{err:?}"
    );
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
