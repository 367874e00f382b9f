//! `kioskctl selftest` across real processes and real device protocols: the printer emulator on
//! TCP (ESC/POS bytes, a PNG per slip), a serial code reader on a pseudo-terminal, and SANE's
//! test scanner through `scanimage`. Then the same with the printer out of paper.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use motcua_tests::{bin, sections, tcp_printer, zbar, Kiosk, KioskSettings, PtyCodeReader};

/// A receipt QR a person presents to the reader during the self-test.
const RECEIPT_QR: &str =
    "000.17.22.H56-261123-0001|1.001193|********0123|Giay|MOTCUA|20261123090000|20261126";

/// An offline kiosk with the printer at `printer_addr`, a serial code reader at `reader` and
/// SANE's test scanner (colour, feeder).
fn kiosk(dir: &std::path::Path, printer_addr: &str, reader: &str) -> anyhow::Result<Kiosk> {
    let settings = KioskSettings::offline()
        .device("KIOSK-SELFTEST")
        .with(&sections::tcp_printer(printer_addr))
        .with(&sections::serial_code_reader(reader))
        .with(&sections::sane_test_scanner("color", "adf", &[]));
    Kiosk::create(dir, &settings)
}

#[test]
fn selftest_prints_reads_and_scans_then_reports_a_printer_fault() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (emulator, addr) = tcp_printer(tmp.path())?;
    let mut reader = PtyCodeReader::new()?;
    let kiosk = kiosk(tmp.path(), &addr, &reader.path)?;
    let config = kiosk.config.clone();

    let mut child = Command::new(bin("kioskctl"))
        .arg("--config")
        .arg(&config)
        .args(["selftest", "--code-timeout", "30", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // A person holds a receipt QR to the reader whenever the self-test has it open (the reader
    // drops what came before it opened, so again and again), until the self-test ends.
    let pid = child.id();
    let give_up = Instant::now() + Duration::from_secs(120);
    let mut presented = 0;
    while child.try_wait()?.is_none() {
        if reader.opened_by(pid) {
            reader.present(RECEIPT_QR)?;
            presented += 1;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            anyhow::bail!("kioskctl selftest still running after 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(presented > 0, "the self-test never opened the code reader");
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_str(&stdout)?;
    let results = results.as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 3, "{stdout}");
    for r in &results {
        assert_eq!(r["passed"], true, "{r}");
    }
    assert!(
        results[1]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("receipt"),
        "{stdout}"
    );
    assert!(
        results[2]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("629x787"),
        "{stdout}"
    );

    // The slip really printed: the emulator's PNG carries the test receipt's QR.
    let pages = emulator.wait_for_pages(1, Duration::from_secs(10));
    assert_eq!(pages.len(), 1);
    let payload = zbar(&pages[0])?;
    assert!(
        payload.starts_with("000.00.00.H00-000101-0001|"),
        "{payload:?}"
    );
    assert!(
        payload.contains("BẢN IN THỬ|MOTCUA:KIOSK-SELFTEST"),
        "{payload:?}"
    );

    // Out of paper: the printer test fails in plain words and the command fails.
    emulator.set_paper_end(true);
    let out = Command::new(bin("kioskctl"))
        .arg("--config")
        .arg(&config)
        .args(["selftest", "--code-timeout", "1"])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    let printer_line = stdout
        .lines()
        .find(|l| l.contains("printer"))
        .unwrap_or_default();
    assert!(
        printer_line.contains("FAIL") && printer_line.contains("hết giấy"),
        "{stdout}"
    );
    let reader_line = stdout
        .lines()
        .find(|l| l.contains("code reader"))
        .unwrap_or_default();
    assert!(
        reader_line.contains("FAIL") && reader_line.contains("no code read"),
        "{stdout}"
    );
    assert_eq!(emulator.pages().len(), 1, "nothing printed without paper");
    drop(reader);
    Ok(())
}

#[test]
fn devices_lists_configuration_and_printer_state() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (emulator, addr) = tcp_printer(tmp.path())?;
    let config = kiosk(tmp.path(), &addr, "/dev/ttyACM-none")?.config.clone();
    emulator.set_cover_open(true);
    let out = Command::new(bin("kioskctl"))
        .arg("--config")
        .arg(&config)
        .arg("devices")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(&addr), "{stdout}");
    assert!(
        stdout.contains("nắp") || stdout.to_lowercase().contains("cover"),
        "{stdout}"
    );
    assert!(stdout.contains("/dev/ttyACM-none"), "{stdout}");
    assert!(stdout.contains("SANE"), "{stdout}");
    Ok(())
}
