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

/// One line of standard input; on a terminal asked for with `prompt`, without echo.
fn read_pin(input: &mut impl BufRead, terminal: bool, prompt: &str) -> anyhow::Result<String> {
    let mut line = String::new();
    let quiet = terminal && {
        eprint!("{prompt}");
        std::process::Command::new("stty")
            .arg("-echo")
            .status()
            .is_ok_and(|s| s.success())
    };
    let read = input.read_line(&mut line);
    if quiet {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    let n = read.context("không đọc được mã PIN / cannot read the PIN from standard input")?;
    if n == 0 {
        bail!("thiếu mã PIN ở đầu vào (cần nhập hai lần) / no PIN on standard input (it is read twice)");
    }
    Ok(line.trim().to_owned())
}
