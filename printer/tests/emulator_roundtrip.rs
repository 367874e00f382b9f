//! Slips printed through the emulator over real TCP sockets and a real pseudo-terminal, then read
//! back from the emulator's PNGs by an independent QR reader (`zbarimg`).

mod common;

use std::time::Duration;

use motcua_printer::emulator::{Emulator, EmulatorConfig};
use motcua_printer::{EncodeOptions, EscPosPrinter, FontConfig, Paper, Printer, Renderer};

fn emulator(dots: u32, dir: &tempfile::TempDir) -> Emulator {
    let mut cfg = EmulatorConfig::new(dir.path());
    cfg.dots = dots;
    Emulator::start(cfg).unwrap()
}

fn print_both(printer: &mut dyn Printer, emu: &Emulator, paper: Paper) {
    let renderer = Renderer::new(&FontConfig::default()).unwrap();
    let receipt = common::sample_receipt();
    let ticket = common::sample_ticket();
    let opts = EncodeOptions::default();
    let status = printer
        .print(&renderer.receipt_job(&receipt, paper, &opts).unwrap())
        .unwrap();
    assert!(status.is_ready());
    printer
        .print(&renderer.ticket_job(&ticket, paper, &opts).unwrap())
        .unwrap();

    let pages = emu.wait_for_pages(2, Duration::from_secs(5));
    assert_eq!(pages.len(), 2, "one PNG per cut slip");
    assert_eq!(common::zbar(&pages[0]), vec![receipt.qr_payload.clone()]);
    assert_eq!(
        common::zbar(&pages[1]),
        vec![ticket.qr_payload.clone().unwrap()]
    );
    // The emulator decoded the raster at the printer's width, not clipped.
    let page = motcua_printer::emulator::read_png(&pages[0]).unwrap();
    assert_eq!(page.width(), paper.dots());
    assert!(
        page.height() > 1000,
        "a whole receipt, not a fragment: {} rows",
        page.height()
    );
}

#[test]
fn receipt_and_ticket_over_tcp_read_back_with_exact_qr_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(576, &dir);
    let mut printer = EscPosPrinter::tcp(emu.tcp_addr().unwrap().to_string());
    print_both(&mut printer, &emu, Paper::Mm80);
}

#[test]
fn receipt_and_ticket_over_a_serial_pseudo_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(384, &dir);
    let mut printer = EscPosPrinter::serial(emu.pty_path().unwrap(), 115_200);
    print_both(&mut printer, &emu, Paper::Mm58);
}

#[test]
fn usb_printer_device_file_transport_prints_through_a_tty_device_file() {
    // /dev/usb/lp* is a character device used as a file; a pty slave is one too, so the same
    // code path (non-blocking file + poll timeouts) runs here against the emulator.
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(576, &dir);
    let mut printer = EscPosPrinter::usb_lp(emu.pty_path().unwrap());
    print_both(&mut printer, &emu, Paper::Mm80);
}
