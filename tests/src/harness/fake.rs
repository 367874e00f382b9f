//! A fake gateway (`tests/fixtures/fake_gateway.py`): it acknowledges everything over TLS with
//! the certificate it is given — the attacker on the commune LAN answering in the gateway's
//! place — or, with the real gateway's certificate, a trusted gateway answering 500, garbage or
//! nothing.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{anyhow, Context};

use super::gateway::Pki;
use super::log_file;

/// A running fake gateway.
pub struct FakeGateway {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: PathBuf,
}

impl FakeGateway {
    /// Starts the fake on `port` (0 = any) with the server certificate of `pki` (`tls.crt`,
    /// `tls.key`), logging to `dir/fake-gateway.log`.
    pub fn start(pki: &Pki, dir: &Path, port: u16) -> anyhow::Result<Self> {
        Self::start_with_modes(pki, dir, port, None)
    }

    /// [`FakeGateway::start`], misbehaving as `mode_file` says at each request (`ack`, `500`,
    /// `garbage`, `silent`; see the script).
    pub fn start_with_modes(
        pki: &Pki,
        dir: &Path,
        port: u16,
        mode_file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fake_gateway.py");
        let log = dir.join("fake-gateway.log");
        let mut cmd = Command::new("python3");
        if let Some(file) = mode_file {
            cmd.arg(&script).arg("--mode-file").arg(file);
        } else {
            cmd.arg(&script);
        }
        let mut child = cmd
            .arg("--port")
            .arg(port.to_string())
            .arg("--cert")
            .arg(pki.dir.join("tls.crt"))
            .arg("--key")
            .arg(pki.dir.join("tls.key"))
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(log_file(dir, "fake-gateway.stderr")?)
            .spawn()
            .context("start the fake gateway (python3)")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("fake gateway stdout")?).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("fake gateway listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| anyhow!("the fake gateway did not start: {line:?}"))?;
        Ok(Self { child, addr, log })
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// What it logged: one line per answered request (`request …`) and per failed handshake.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many HTTP requests it answered.
    pub fn requests(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.starts_with("request "))
            .count()
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
