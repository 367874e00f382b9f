//! The simulated peripherals and the tools that check what they produced: the printer emulator
//! on TCP, a serial code reader on a pseudo-terminal, `zbarimg` for printed QR codes, and a
//! guard that kills a child process when a test ends.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command};

use anyhow::Context;
use motcua_printer::emulator::{Emulator, EmulatorConfig};
use serialport::{SerialPort, TTYPort};

/// An 80 mm printer emulator on a local TCP port, writing a PNG per slip under `dir/slips`;
/// with its address for [`crate::sections::tcp_printer`].
pub fn tcp_printer(dir: &Path) -> anyhow::Result<(Emulator, String)> {
    let mut config = EmulatorConfig::new(dir.join("slips"));
    config.pty = false;
    let emulator = Emulator::start(config)?;
    let addr = emulator
        .tcp_addr()
        .map(|a| a.to_string())
        .context("the printer emulator has no TCP address")?;
    Ok((emulator, addr))
}

/// The QR code on a printed slip, read by zbar (`zbarimg`, an independent reader), trimmed.
pub fn zbar(png: &Path) -> anyhow::Result<String> {
    let out = Command::new("zbarimg")
        .args(["--raw", "-q", "-Sbinary"])
        .arg(png)
        .output()
        .context("zbarimg (zbar-tools, installed by scripts/test.sh)")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A serial code reader simulated on a pseudo-terminal: the kiosk opens [`PtyCodeReader::path`]
/// as its reader, the test "presents" codes on the other end.
pub struct PtyCodeReader {
    master: TTYPort,
    // Held open so the device stays there while the kiosk (re)opens it.
    _slave: TTYPort,
    /// The device path for [`crate::sections::serial_code_reader`].
    pub path: String,
}

impl PtyCodeReader {
    /// A new pseudo-terminal pair.
    pub fn new() -> anyhow::Result<Self> {
        let (master, slave) = TTYPort::pair().context("open a pseudo-terminal")?;
        let path = slave.name().context("the pseudo-terminal has no name")?;
        Ok(Self {
            master,
            _slave: slave,
            path,
        })
    }

    /// The reader reads `payload` (sent with the CR terminator).
    pub fn present(&mut self, payload: &str) -> anyhow::Result<()> {
        self.master
            .write_all(format!("{payload}\r").as_bytes())
            .context("write to the reader's pty")
    }

    /// Whether process `pid` has the reader's device open (it is listening for codes).
    pub fn opened_by(&self, pid: u32) -> bool {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|target| target == Path::new(&self.path))
        })
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves none.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
