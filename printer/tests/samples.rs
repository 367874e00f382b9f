//! Writes sample PNGs of the slips to target/printer-samples/ for people to look at, and checks
//! what can be checked without eyes: the QR decodes and the text fits the paper.

mod common;

use std::path::PathBuf;

use motcua_printer::{FontConfig, Paper, Renderer};

fn samples_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/printer-samples");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn sample_slips_are_written_and_their_qr_decodes() {
    let renderer = Renderer::new(&FontConfig::default()).unwrap();
    let receipt = common::sample_receipt();
    let ticket = common::sample_ticket();
    let dir = samples_dir();
    for (paper, name) in [(Paper::Mm80, "80mm"), (Paper::Mm58, "58mm")] {
        let bm = renderer.receipt(&receipt, paper).unwrap();
        assert_eq!(bm.width(), paper.dots());
        let path = dir.join(format!("receipt-{name}.png"));
        bm.write_png(&path).unwrap();
        assert_eq!(common::zbar(&path), vec![receipt.qr_payload.clone()]);

        let bm = renderer.ticket(&ticket, paper).unwrap();
        let path = dir.join(format!("ticket-{name}.png"));
        bm.write_png(&path).unwrap();
        assert_eq!(
            common::zbar(&path),
            vec![ticket.qr_payload.clone().unwrap()]
        );
    }
}
