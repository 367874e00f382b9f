//! `kioskctl pin`: the real binary, the PIN on standard input (twice), the printed line taken
//! by the config parser and verified against the PIN.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use motcua_kiosk::config::KioskConfig;

fn kioskctl_pin(role: &str, input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(["--config", "/nonexistent/kiosk.toml", "pin", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const CONFIG: &str = r#"
[device]
id = "KIOSK-H56-0001"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 4999

[store]
data_dir = "/tmp/x"

[gateway]
url = "https://127.0.0.1:8700/"
"#;

#[test]
fn the_printed_line_goes_into_kiosk_toml_and_opens_with_the_pin_only() {
    let out = kioskctl_pin("technician", "482913\n482913\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.trim();
    assert!(
        line.starts_with("technician_pin_hash = \"$argon2id$"),
        "{line}"
    );
    assert!(!stdout.contains("482913") && !stderr.contains("482913"));
    assert!(
        stderr.contains("[ui]"),
        "says where the line goes: {stderr}"
    );
    let config = KioskConfig::parse(&format!("{CONFIG}\n[ui]\n{line}\n"), "kiosk.toml").unwrap();
    let hash = config.screen.pins.technician_pin_hash.unwrap();
    assert!(motcua_kiosk::pins::verify_pin(&hash, "482913"));
    assert!(!motcua_kiosk::pins::verify_pin(&hash, "482914"));
}

#[test]
fn differing_or_malformed_pins_make_nothing() {
    for input in ["2468\n2469\n", "24a8\n24a8\n", "2468\n", "12\n12\n"] {
        let out = kioskctl_pin("staff", input);
        assert!(!out.status.success(), "{input:?}");
        assert!(out.stdout.is_empty(), "{input:?}");
        assert!(!out.stderr.is_empty(), "{input:?} says why");
    }
}

/// On a terminal whose echo cannot be turned off (no `stty`), the PIN is not read at all: it
/// would show on the screen.
#[test]
fn a_terminal_whose_echo_cannot_be_turned_off_is_refused() {
    let command = format!(
        "/usr/bin/env PATH=/nonexistent {} --config /nonexistent/kiosk.toml pin staff",
        env!("CARGO_BIN_EXE_kioskctl")
    );
    // `script` runs it on a pseudo-terminal of its own.
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"482913\n482913\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("cannot turn the terminal's echo off"),
        "{shown}"
    );
    assert!(!shown.contains("pin_hash"), "{shown}");
}
