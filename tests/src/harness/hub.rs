//! The centre's queue service as a process: `motcua-hub serve` with a config written here,
//! running as an enrolled kiosk of the test's gateway (its identity folder), on two free
//! loopback ports.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use super::child::die_with_parent;
use crate::bin;

/// A hub under test.
pub struct Hub {
    /// Its folder (config, state, log).
    pub dir: PathBuf,
    /// The config file.
    pub config: PathBuf,
    /// The kiosk port's URL.
    pub kiosk_url: String,
    /// The page port's URL.
    pub page_url: String,
    /// The base64 SHA-256 of the page certificate's public key (for the browser).
    pub spki_pin: String,
    process: Option<Child>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Hub {
    /// Writes the config (`extra` is appended: counters, staff) and starts the hub.
    pub fn start(
        dir: &Path,
        kiosk_data_dir: &Path,
        gateway_url: &str,
        extra: &str,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let (kiosk_port, page_port) = (free_port()?, free_port()?);
        let config = dir.join("hub.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\nkiosk_data_dir = \"{}\"\nkiosk_listen = \"127.0.0.1:{kiosk_port}\"\n\
                 page_listen = \"127.0.0.1:{page_port}\"\npage_hosts = [\"127.0.0.1\", \"localhost\"]\n\
                 gateway_url = \"{gateway_url}\"\n{extra}",
                dir.join("state").display(),
                kiosk_data_dir.display(),
            ),
        )?;
        let out = Command::new(bin("motcua-hub"))
            .args(["--config", &config.to_string_lossy(), "page-pin"])
            .output()?;
        if !out.status.success() {
            bail!(
                "motcua-hub page-pin: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let spki_pin = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("spki-sha256 (base64): ").map(str::to_owned))
            .context("no pin printed")?;
        let mut hub = Self {
            dir: dir.to_owned(),
            config,
            kiosk_url: format!("https://127.0.0.1:{kiosk_port}"),
            page_url: format!("https://127.0.0.1:{page_port}"),
            spki_pin,
            process: None,
        };
        hub.restart()?;
        Ok(hub)
    }

    /// Starts the process again (after [`Hub::kill`]) and waits until it is ready.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let log = super::log_file(&self.dir, "hub.log")?;
        let mut cmd = Command::new(bin("motcua-hub"));
        cmd.args(["--config", &self.config.to_string_lossy(), "serve"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = die_with_parent(&mut cmd).spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.starts_with("hub ready") => {}
            other => {
                let _ = child.kill();
                bail!(
                    "the hub did not start ({other:?}); its log: {}",
                    std::fs::read_to_string(self.dir.join("hub.log")).unwrap_or_default()
                );
            }
        }
        self.process = Some(child);
        Ok(())
    }

    /// Stops the process at once (as a power cut would).
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }

    /// The hub's database.
    pub fn db(&self) -> anyhow::Result<rusqlite::Connection> {
        Ok(rusqlite::Connection::open(
            self.dir.join("state").join("hub.db"),
        )?)
    }

    /// The hub's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("hub.log")).unwrap_or_default()
    }

    /// Runs `motcua-hub` with this config and `args`; its stdout.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(bin("motcua-hub"))
            .args(["--config", &self.config.to_string_lossy()])
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "motcua-hub {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
    }
}
