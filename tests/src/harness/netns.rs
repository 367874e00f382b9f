//! A weak link made of real kernel parts: two network namespaces joined by a veth pair whose
//! both ends are shaped by a `tbf` qdisc (the rate of a 3G/4G uplink), and outages made with
//! `ip link set … down/up`. The gateway runs as a process inside the gateway's namespace; the
//! test or benchmark enters the kiosk's namespace on its own thread (`setns(2)` is per thread),
//! so everything it starts from there (the uplink, `kioskctl`, curl) goes over the veth pair.
//!
//! Nothing leaves the machine: the namespaces have no route anywhere but to each other. They
//! are deleted when the [`LinkLab`] is dropped, also when a test fails or panics; the gateway
//! process dies with the thread that started it (see [`super::child`]). A run killed with
//! SIGKILL runs no drop: its namespaces are named after its process id
//! (`motcua-gw-PID-N`, `motcua-ks-PID-N`), and the next lab made on the machine deletes those
//! whose process is gone ([`sweep_stale`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use super::child::{die_with_parent, first_line};
use super::gateway::{Pki, ENROLLMENT_KEY};
use super::log_file;
use crate::bin;

/// How long a gateway in the lab may take to say where it listens.
const GATEWAY_START: Duration = Duration::from_secs(30);
/// Where `ip netns` keeps the namespaces' names.
const NETNS_DIR: &str = "/run/netns";
/// The prefixes of the lab's namespaces: the gateway's and the kiosk's.
const PREFIXES: [&str; 2] = ["motcua-gw-", "motcua-ks-"];

/// The gateway's end of the veth pair (a /30 of their own; routed nowhere else).
pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 1);
/// The kiosk's end.
pub const KIOSK_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 2);

/// Why a weak-link lab cannot be made here (not root, no `ip` or `tc`, no namespaces), or
/// `None` when it can.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".into());
    }
    for tool in ["ip", "tc"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("`{tool}` (Debian package iproute2) is missing"));
        }
    }
    None
}

/// Two namespaces, the veth pair between them and its shaping; deleted on drop.
pub struct LinkLab {
    /// The gateway's namespace (a name under `/run/netns`).
    pub gateway_ns: String,
    /// The kiosk's namespace.
    pub kiosk_ns: String,
    gateway_dev: String,
    kiosk_dev: String,
}

impl LinkLab {
    /// Makes the lab with both ends limited to `rate_kbit` kbit/s.
    /// First deletes the namespaces of earlier runs that were killed ([`sweep_stale`]).
    pub fn create(rate_kbit: u32) -> anyhow::Result<Self> {
        static SERIAL: AtomicU32 = AtomicU32::new(0);
        for (name, pids) in sweep_stale()? {
            eprintln!("deleted the stale network namespace {name} of a killed run");
            if !pids.is_empty() {
                eprintln!("  processes still in it (left running): {pids}");
            }
        }
        let (pid, serial) = (std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed));
        // The devices live only inside the namespaces; their names have at most 15 bytes.
        let tag = format!("{}{serial}", pid % 100_000);
        let lab = Self {
            gateway_ns: format!("{}{pid}-{serial}", PREFIXES[0]),
            kiosk_ns: format!("{}{pid}-{serial}", PREFIXES[1]),
            gateway_dev: format!("mcg{tag}"),
            kiosk_dev: format!("mck{tag}"),
        };
        // From here on, a failure deletes whatever was made (Drop).
        ip(&["netns", "add", &lab.gateway_ns])?;
        ip(&["netns", "add", &lab.kiosk_ns])?;
        ip(&[
            "link",
            "add",
            &lab.kiosk_dev,
            "netns",
            &lab.kiosk_ns,
            "type",
            "veth",
            "peer",
            "name",
            &lab.gateway_dev,
            "netns",
            &lab.gateway_ns,
        ])?;
        for (ns, dev, addr) in [
            (&lab.gateway_ns, &lab.gateway_dev, GATEWAY_IP),
            (&lab.kiosk_ns, &lab.kiosk_dev, KIOSK_IP),
        ] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            // burst: a few full packets; latency: how long a packet may queue before tbf
            // drops it (a mobile network's deep buffers, so TCP sees delay before loss).
            tc(&[
                "-n",
                ns,
                "qdisc",
                "add",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                &format!("{rate_kbit}kbit"),
                "burst",
                "4kb",
                "latency",
                "500ms",
            ])?;
        }
        Ok(lab)
    }

    /// The switch of the link, for a thread that makes an outage.
    pub fn switch(&self) -> LinkSwitch {
        LinkSwitch {
            ns: self.kiosk_ns.clone(),
            dev: self.kiosk_dev.clone(),
        }
    }

    /// Bytes the kiosk's end has sent and received (the veth's counters: what crossed the
    /// wire, headers of every layer included).
    pub fn kiosk_bytes(&self) -> anyhow::Result<(u64, u64)> {
        let read = |what: &str| -> anyhow::Result<u64> {
            let out = Command::new("ip")
                .args(["netns", "exec", &self.kiosk_ns, "cat"])
                .arg(format!(
                    "/sys/class/net/{}/statistics/{what}",
                    self.kiosk_dev
                ))
                .output()?;
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .with_context(|| format!("read the veth's {what}"))
        };
        Ok((read("tx_bytes")?, read("rx_bytes")?))
    }

    /// Moves the calling thread into the kiosk's namespace (threads it starts afterwards, and
    /// processes it spawns, are in it too).
    pub fn enter_kiosk_side(&self) -> anyhow::Result<()> {
        enter(&self.kiosk_ns)
    }

    /// Starts a gateway process on embedded SQLite inside the gateway's namespace, listening
    /// on its loopback; its server certificate also names [`GATEWAY_IP`]. It dies with the
    /// calling thread (see [`die_with_parent`]); past [`GATEWAY_START`] without saying where
    /// it listens it is killed, with its log in the error.
    pub fn start_gateway(&self, data_dir: &Path) -> anyhow::Result<NsGateway> {
        std::fs::create_dir_all(data_dir)?;
        let pki_dir = data_dir.join("pki");
        let out = Command::new(bin("gateway"))
            .args(["ca", "init", "--dir"])
            .arg(&pki_dir)
            .args(["--host", &GATEWAY_IP.to_string(), "--host", "127.0.0.1"])
            .args(["--name", "motcua weak-link CA"])
            .output()
            .context("run gateway ca init")?;
        if !out.status.success() {
            bail!("gateway ca init: {}", String::from_utf8_lossy(&out.stderr));
        }
        let pki = Pki { dir: pki_dir };
        let key_file = data_dir.join("enrollment.key");
        std::fs::write(&key_file, format!("{ENROLLMENT_KEY}\n"))?;
        let mut child = die_with_parent(&mut Command::new("ip"))
            .args(["netns", "exec", &self.gateway_ns])
            .arg(bin("gateway"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--enrollment-key-file")
            .arg(&key_file)
            .arg("--tls-cert-file")
            .arg(pki.dir.join("tls.crt"))
            .arg("--tls-key-file")
            .arg(pki.dir.join("tls.key"))
            .arg("--ca-cert-file")
            .arg(pki.ca_cert())
            .arg("--ca-key-file")
            .arg(pki.dir.join("ca.key"))
            .stdout(Stdio::piped())
            .stderr(log_file(data_dir, "gateway.log")?)
            .spawn()
            .context("start the gateway in its namespace")?;
        let log = || std::fs::read_to_string(data_dir.join("gateway.log")).unwrap_or_default();
        let line = first_line(&mut child, "the gateway in its namespace", GATEWAY_START)
            .map_err(|e| anyhow!("{e}\n{}", log()))?;
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("gateway listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                anyhow!("gateway did not start: {line:?}\n{}", log())
            })?;
        Ok(NsGateway {
            child,
            addr,
            pki,
            data_dir: data_dir.to_owned(),
        })
    }
}

impl Drop for LinkLab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and with it the other end.
        for ns in [&self.kiosk_ns, &self.gateway_ns] {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("could not delete the network namespace {ns}: {e}");
            }
        }
    }
}

/// Takes the lab's link down and up.
#[derive(Debug, Clone)]
pub struct LinkSwitch {
    ns: String,
    dev: String,
}

impl LinkSwitch {
    /// Takes the link down (both ends lose carrier: nothing passes) or brings it back up.
    pub fn set(&self, up: bool) -> anyhow::Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns, "link", "set", &self.dev, state])
    }

    /// In a thread of its own: after `at`, the link goes down for `length`, then up again.
    /// Joining the handle waits for the link to be back.
    pub fn outage(
        &self,
        at: std::time::Duration,
        length: std::time::Duration,
    ) -> std::thread::JoinHandle<anyhow::Result<()>> {
        let switch = self.clone();
        std::thread::spawn(move || {
            std::thread::sleep(at);
            switch.set(false)?;
            std::thread::sleep(length);
            switch.set(true)
        })
    }
}

/// The gateway process in the lab's gateway namespace; killed on drop.
pub struct NsGateway {
    child: Child,
    /// Where it listens, inside its namespace (its loopback).
    pub addr: SocketAddr,
    /// Its PKI.
    pub pki: Pki,
    data_dir: PathBuf,
}

impl NsGateway {
    /// The enrolment key file it reads.
    pub fn enrollment_key_file(&self) -> PathBuf {
        self.data_dir.join("enrollment.key")
    }

    /// The offset it has recorded for each unfinished or finished upload of `sha256`, read from
    /// its SQLite database.
    pub fn stored_offset(&self, sha256: &str) -> anyhow::Result<Option<u64>> {
        let db = rusqlite::Connection::open_with_flags(
            self.data_dir.join("gateway.sqlite3"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        let offset: Option<i64> = db.query_row(
            "SELECT MAX(upload_offset) FROM uploads WHERE sha256 = ?1",
            [sha256],
            |r| r.get(0),
        )?;
        Ok(offset.map(|o| o as u64))
    }
}

impl NsGateway {
    /// How the process ended, if it has (without waiting).
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }
}

impl Drop for NsGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deletes the lab namespaces (`motcua-gw-PID-N`, `motcua-ks-PID-N`) whose process `PID` is
/// gone: those of a run killed before its drop ran. A namespace of a running process (another
/// test, a benchmark) is kept; so is one named otherwise. Returns each deleted name with the
/// processes still inside it, if any (`ip netns pids`): they are left running, named for
/// the operator, as only their own run knows them.
pub fn sweep_stale() -> anyhow::Result<Vec<(String, String)>> {
    let entries = match std::fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context(format!("list {NETNS_DIR}")),
    };
    let mut swept = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(pid) = creator(&name) else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let pids = Command::new("ip")
            .args(["netns", "pids", &name])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        match ip(&["netns", "del", &name]) {
            Ok(()) => swept.push((name, pids)),
            // Another lab starting at the same time deleted it first.
            Err(_) if !namespace_exists(&name) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(swept)
}

/// The process id in a lab namespace's name, `None` if the name is not one of the lab's.
fn creator(name: &str) -> Option<u32> {
    let rest = PREFIXES.iter().find_map(|p| name.strip_prefix(p))?;
    let (pid, serial) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(pid) && digits(serial)).then(|| pid.parse().ok())?
}

/// Moves the calling thread into the network namespace `name` (under `/run/netns`).
pub fn enter(name: &str) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let path = Path::new("/run/netns").join(name);
    let ns = std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    // SAFETY: a valid descriptor of a network namespace file, for this thread only.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("setns into {name}"));
    }
    Ok(())
}

/// Adds a namespace of that name (for tests of the sweep).
pub fn add_namespace(name: &str) -> anyhow::Result<()> {
    ip(&["netns", "add", name])
}

/// Whether a namespace of that name exists.
pub fn namespace_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    run("ip", args)
}

fn tc(args: &[&str]) -> anyhow::Result<()> {
    run("tc", args)
}

fn run(tool: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .with_context(|| format!("run {tool}"))?;
    if !out.status.success() {
        bail!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::creator;

    #[test]
    fn only_the_labs_names_with_a_pid_are_read() {
        assert_eq!(creator("motcua-gw-4242-0"), Some(4242));
        assert_eq!(creator("motcua-ks-7-12"), Some(7));
        // The old names had no readable pid; others are not the lab's.
        assert_eq!(creator("motcua-gw-42420"), None);
        assert_eq!(creator("motcua-gw--1"), None);
        assert_eq!(creator("motcua-gw-12-"), None);
        assert_eq!(creator("motcua-xx-12-0"), None);
        assert_eq!(creator("vpn0"), None);
        assert_eq!(creator("motcua-gw-99999999999-0"), None);
    }
}
