//! A real X server for the windowed kiosk: Xvfb on a free display, X clients run against it
//! (xdotool for pointer events) and screenshots of its root window.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::Context;

use super::devices::KillOnDrop;

/// An Xvfb server with a 1080 × 1920 portrait screen, stopped when dropped.
pub struct Xvfb {
    _server: KillOnDrop,
    /// Its `DISPLAY`, e.g. `:7`.
    pub display: String,
}

impl Xvfb {
    /// Starts Xvfb on a free display (it picks and tells the number).
    pub fn start() -> anyhow::Result<Self> {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1080x1920x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("Xvfb (package xvfb, installed by scripts/test.sh)")?;
        let stdout = child.stdout.take().context("Xvfb has no stdout")?;
        let server = KillOnDrop(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        anyhow::ensure!(!line.trim().is_empty(), "Xvfb did not tell its display");
        Ok(Self {
            _server: server,
            display: format!(":{}", line.trim()),
        })
    }

    /// Runs an X client on this display.
    pub fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(program)
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .with_context(|| format!("run {program}"))
    }

    /// A left click at (`x`, `y`) with xdotool.
    pub fn click(&self, x: u32, y: u32) -> anyhow::Result<()> {
        let out = self.run(
            "xdotool",
            &["mousemove", &x.to_string(), &y.to_string(), "click", "1"],
        )?;
        anyhow::ensure!(
            out.status.success(),
            "xdotool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Writes the screen as X shows it to `png` (xwd | xwdtopnm | pnmtopng).
    pub fn screenshot(&self, png: &Path) -> anyhow::Result<()> {
        let status = Command::new("sh")
            .arg("-c")
            .arg("xwd -root -silent | xwdtopnm 2>/dev/null | pnmtopng > \"$1\"")
            .arg("sh")
            .arg(png)
            .env("DISPLAY", &self.display)
            .status()?;
        anyhow::ensure!(status.success(), "xwd | xwdtopnm | pnmtopng failed");
        Ok(())
    }

    /// The screen as X shows it now, decoded.
    pub fn capture(&self, scratch: &Path) -> anyhow::Result<image::RgbImage> {
        self.screenshot(scratch)?;
        Ok(image::open(scratch)
            .with_context(|| format!("decode {}", scratch.display()))?
            .to_rgb8())
    }
}
