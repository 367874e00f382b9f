//! `kioskctl pin staff|technician`: reads a new PIN twice (never from the command line) and
//! prints the `[ui]` line holding its Argon2id hash. The config file is left to the technician:
//! kiosk.toml's comments and layout are theirs, and a screen restart applies it.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};

/// Whose PIN.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum PinRole {
    /// The intake staff's screens.
    Staff,
    /// The technician's screens.
    Technician,
}

/// `kioskctl pin ROLE`.
pub(crate) fn pin(role: PinRole) -> anyhow::Result<()> {
    let key = match role {
        PinRole::Staff => "staff_pin_hash",
        PinRole::Technician => "technician_pin_hash",
    };
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let mut lines = stdin.lock();
    let first = read_pin(&mut lines, terminal, "Mã PIN mới / new PIN: ")?;
    motcua_kiosk::pins::check_pin_format(&first)?;
    let second = read_pin(&mut lines, terminal, "Nhập lại / again: ")?;
    if first != second {
        bail!("hai lần nhập không giống nhau, chưa đổi gì / the two PINs differ; nothing was made");
    }
    let hash = motcua_kiosk::pins::hash_pin(&first)?;
    println!("{key} = \"{hash}\"");
    eprintln!(
        "Đặt dòng trên vào mục [ui] của kiosk.toml rồi khởi động lại màn hình / put the line above under [ui] in kiosk.toml, then restart the screen (systemctl restart motcua-kioskd-screen)"
    );
    Ok(())
}

/// One line of standard input; on a terminal asked for with `prompt`, without echo. A terminal
/// whose echo cannot be turned off is refused (the PIN would show on the screen).
fn read_pin(input: &mut impl BufRead, terminal: bool, prompt: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    let quiet = if terminal {
        eprint!("{prompt}");
        Some(NoEcho::new()?)
    } else {
        None
    };
    let read = input.read_line(&mut line);
    if quiet.is_some() {
        drop(quiet);
        eprintln!();
    }
    let n = read.context("không đọc được mã PIN / cannot read the PIN from standard input")?;
    if n == 0 {
        bail!("thiếu mã PIN ở đầu vào (cần nhập hai lần) / no PIN on standard input (it is read twice)");
    }
    // Ctrl-C reaches us as a character while signals are off (see `NoEcho`).
    if line.contains('\u{3}') {
        bail!("đã huỷ, chưa đổi gì / cancelled; nothing was made");
    }
    Ok(line.trim().to_owned())
}

/// The terminal without echo, and with Ctrl-C read as a character instead of killing the
/// process (a killed process would leave the terminal without echo); its settings are put back
/// when dropped, however `pin` returns.
struct NoEcho {
    saved: String,
}

impl NoEcho {
    fn new() -> anyhow::Result<Self> {
        let refuse = || {
            anyhow::anyhow!(
                "không tắt được hiển thị ký tự của thiết bị đầu cuối (stty), chưa đổi gì; hãy chuyển mã PIN qua đầu vào chuẩn / cannot turn the terminal's echo off (stty); nothing was made. Pipe the PIN on standard input instead"
            )
        };
        let saved = std::process::Command::new("stty")
            .arg("-g")
            .stdin(std::process::Stdio::inherit())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(refuse)?;
        let guard = Self { saved };
        let off = std::process::Command::new("stty")
            .args(["-echo", "-isig"])
            .status()
            .is_ok_and(|s| s.success());
        if !off {
            return Err(refuse());
        }
        Ok(guard)
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        let _ = std::process::Command::new("stty").arg(&self.saved).status();
    }
}
