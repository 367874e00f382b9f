//! `kioskctl selftest` across real processes and real device protocols: the printer emulator on
//! TCP (ESC/POS bytes, a PNG per slip), a serial code reader on a pseudo-terminal, and SANE's
//! test scanner through `scanimage`. Then the same with the printer out of paper.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use motcua_printer::emulator::{Emulator, EmulatorConfig};
use motcua_tests::bin;
use serialport::{SerialPort, TTYPort};

fn write_config(
    dir: &std::path::Path,
    printer_addr: &str,
    reader: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("kiosk.toml");
    std::fs::write(
        &path,
        format!(
            r#"[device]
id = "KIOSK-SELFTEST"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 9999

[store]
data_dir = "{data}"
min_free_mb = 1

[gateway]
url = "http://127.0.0.1:9"

[printer]
transport = "tcp"
address = "{printer_addr}"
paper_mm = 80

[code_reader]
kind = "serial"
path = "{reader}"
terminator = "cr"

[scanner]
kind = "sane"
device = "test"
resolution = 200
mode = "color"
source = "adf"
"#,
            data = dir.join("data").display()
        ),
    )?;
    Ok(path)
}

/// An 80 mm printer emulator on a local TCP port, writing its slips under `dir/slips`.
fn tcp_printer(dir: &std::path::Path) -> anyhow::Result<(Emulator, String)> {
    let mut config = EmulatorConfig::new(dir.join("slips"));
    config.pty = false;
    let emulator = Emulator::start(config)?;
    let addr = emulator
        .tcp_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    Ok((emulator, addr))
}

#[test]
fn selftest_prints_reads_and_scans_then_reports_a_printer_fault() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (emulator, addr) = tcp_printer(tmp.path())?;
    let (mut reader_master, reader_slave) = TTYPort::pair()?;
    let reader_path = reader_slave.name().unwrap_or_default();
    let config = write_config(tmp.path(), &addr, &reader_path)?;

    let child = Command::new(bin("kioskctl"))
        .arg("--config")
        .arg(&config)
        .args(["selftest", "--code-timeout", "30", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // A person presents a receipt QR to the reader while the test runs.
    std::thread::sleep(Duration::from_millis(1500));
    reader_master.write_all(
        b"000.17.22.H56-261123-0001|1.001193|********0123|Giay|MOTCUA|20261123090000|20261126\r",
    )?;
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
    let zbar = Command::new("zbarimg")
        .args(["--raw", "-q", "-Sbinary"])
        .arg(&pages[0])
        .output()?;
    let payload = String::from_utf8_lossy(&zbar.stdout);
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
    drop(reader_slave);
    Ok(())
}

#[test]
fn devices_lists_configuration_and_printer_state() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let (emulator, addr) = tcp_printer(tmp.path())?;
    let config = write_config(tmp.path(), &addr, "/dev/ttyACM-none")?;
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
