//! A Debian root booted with systemd for the deploy tests: a bookworm root made once with
//! `debootstrap` from the host's mirror and cached in target/motcua-deploy/, a fresh copy of it
//! booted under `systemd-nspawn --boot` per test, commands run inside with `nsenter`, and the
//! container powered off and deleted when dropped. Needs root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};

use super::{run, target_dir};

/// apt-get, non-interactive, keeping a config file the device changed (a provisioned kiosk.toml).
pub const APT: &str =
    "apt-get -y -q -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef";

/// Where the pristine root, the apt download cache and the run roots live.
pub fn cache_dir() -> PathBuf {
    target_dir().join("motcua-deploy")
}

/// The mirror apt uses on this machine (the first `URIs:`/`deb` line), or Debian's.
pub fn host_mirror() -> String {
    let sources = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources")
        .unwrap_or_default()
        + &std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    for line in sources.lines() {
        let line = line.trim();
        if let Some(uri) = line.strip_prefix("URIs:") {
            if let Some(first) = uri.split_whitespace().next() {
                if !first.contains("security") {
                    return first.to_owned();
                }
            }
        }
        if let Some(rest) = line.strip_prefix("deb ") {
            if let Some(uri) = rest.split_whitespace().find(|w| w.starts_with("http")) {
                if !uri.contains("security") {
                    return uri.to_owned();
                }
            }
        }
    }
    "http://deb.debian.org/debian".into()
}

/// A debootstrapped bookworm root, made once and kept (about 40 s and 240 MB).
pub fn pristine_root() -> anyhow::Result<PathBuf> {
    let root = cache_dir().join("bookworm-root");
    if root.join(".motcua-ready").exists() {
        return Ok(root);
    }
    std::fs::create_dir_all(cache_dir())?;
    let partial = cache_dir().join("bookworm-root.partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial)?;
    }
    let mirror = host_mirror();
    let started = Instant::now();
    run(Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=systemd,systemd-sysv,dbus",
            "bookworm",
        ])
        .arg(&partial)
        .arg(&mirror))
    .context("debootstrap of a bookworm root")?;
    // Release files of a mirror snapshot may be older than their Valid-Until.
    std::fs::write(
        partial.join("etc/apt/apt.conf.d/99motcua-test"),
        "Acquire::Check-Valid-Until \"false\";\nAPT::Install-Recommends \"false\";\n",
    )?;
    std::fs::write(partial.join(".motcua-ready"), mirror)?;
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::rename(&partial, &root)?;
    println!(
        "debootstrap: bookworm root made in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(root)
}

/// A booted container; dropping it powers it off (killing it after a bounded wait) and
/// deletes its root.
pub struct Container {
    nspawn: Child,
    /// The container's PID 1, as the host sees it.
    pub leader: u32,
    /// The container's root folder on the host.
    pub root: PathBuf,
}

impl Container {
    /// Boots a fresh copy of the pristine root.
    pub fn boot(pristine: &Path, name: &str) -> anyhow::Result<Self> {
        let root = cache_dir().join(name);
        if root.exists() {
            run(Command::new("rm").arg("-rf").arg(&root))?;
        }
        run(Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(pristine)
            .arg(&root))?;
        let archives = cache_dir().join("apt-archives");
        std::fs::create_dir_all(archives.join("partial"))?;
        let log = std::fs::File::create(cache_dir().join(format!("{name}.console.log")))?;
        let nspawn = Command::new("systemd-nspawn")
            .args(["--register=no", "--keep-unit", "--quiet", "--boot"])
            .arg(format!("--machine={name}"))
            .arg("-D")
            .arg(&root)
            .arg(format!(
                "--bind={}:/var/cache/apt/archives",
                archives.display()
            ))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start systemd-nspawn")?;
        let mut container = Container {
            nspawn,
            leader: 0,
            root,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        // The container's PID 1 is the child of nspawn.
        while container.leader == 0 {
            if let Some(status) = container.nspawn.try_wait()? {
                bail!(
                    "systemd-nspawn exited ({status}) before booting:\n{}",
                    container.console()
                );
            }
            ensure!(Instant::now() < deadline, "no container PID 1 after 60 s");
            container.leader = child_of(container.nspawn.id()).unwrap_or(0);
            std::thread::sleep(Duration::from_millis(100));
        }
        // Wait until systemd finished booting.
        loop {
            let out = container.sh("systemctl is-system-running 2>&1 || true");
            if let Ok(out) = &out {
                let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if state == "running" || state == "degraded" {
                    if state == "degraded" {
                        let failed = container.sh("systemctl --failed --no-legend")?;
                        println!(
                            "container booted degraded: {}",
                            String::from_utf8_lossy(&failed.stdout)
                        );
                    }
                    break;
                }
            }
            ensure!(
                Instant::now() < deadline,
                "the container did not finish booting in 60 s: {out:?}\n{}",
                container.console()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(container)
    }

    pub fn console(&self) -> String {
        let name = self
            .root
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        std::fs::read_to_string(cache_dir().join(format!("{name}.console.log"))).unwrap_or_default()
    }

    /// Runs a shell script inside the container (all its namespaces, its root, a clean
    /// environment), bounded by `timeout`.
    pub fn sh_timeout(&self, script: &str, timeout: Duration) -> anyhow::Result<Output> {
        let out = Command::new("nsenter")
            .arg(format!("--target={}", self.leader))
            .args(["--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup"])
            .args(["--root", "--wd"])
            .arg("--")
            .args([
                "/usr/bin/env",
                "-i",
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
                "DEBIAN_FRONTEND=noninteractive",
                "/usr/bin/timeout",
                "--kill-after=5",
                &format!("{}", timeout.as_secs()),
                "/bin/sh",
                "-c",
                script,
            ])
            .stdin(Stdio::null())
            .output()
            .context("cannot run nsenter (util-linux)")?;
        Ok(out)
    }

    pub fn sh(&self, script: &str) -> anyhow::Result<Output> {
        self.sh_timeout(script, Duration::from_secs(120))
    }

    /// Runs a script that must succeed; returns its stdout.
    pub fn ok(&self, script: &str) -> anyhow::Result<String> {
        let out = self.sh(script)?;
        ensure!(
            out.status.success(),
            "in the container, `{script}` failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// A `systemctl show -p NAME --value` of a unit.
    pub fn prop(&self, unit: &str, name: &str) -> anyhow::Result<String> {
        self.ok(&format!("systemctl show -p {name} --value {unit}"))
    }

    /// Waits (bounded) until the unit is active; returns how long it took.
    pub fn wait_active(&self, unit: &str, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            let state = self.ok(&format!("systemctl is-active {unit} || true"))?;
            if state == "active" {
                return Ok(started.elapsed());
            }
            if started.elapsed() > within {
                let why = self
                    .sh(&format!(
                        "systemctl status --no-pager {unit}; journalctl -b --no-pager -n 60 -u {unit}"
                    ))
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                bail!("{unit} is {state}, not active, after {within:?}:\n{why}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kioskctl status --json` as the service user: (pending, delivered).
    pub fn outbox(&self) -> anyhow::Result<(u64, u64)> {
        let json = self.ok("runuser -u motcua -- kioskctl status --json")?;
        let v: serde_json::Value = serde_json::from_str(&json)
            .with_context(|| format!("kioskctl status --json gave {json}"))?;
        Ok((
            v["pending"].as_u64().context("no pending count")?,
            v["delivered"].as_u64().context("no delivered count")?,
        ))
    }

    /// Waits (bounded) until the outbox is empty.
    pub fn wait_delivered(&self, within: Duration) -> anyhow::Result<u64> {
        let started = Instant::now();
        loop {
            let (pending, delivered) = self.outbox()?;
            if pending == 0 {
                return Ok(delivered);
            }
            if started.elapsed() > within {
                let log =
                    self.sh("journalctl -b --no-pager -n 40 -u motcua-kioskd -u motcua-gateway")?;
                bail!(
                    "{pending} entries still pending after {within:?}:\n{}",
                    String::from_utf8_lossy(&log.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A dossier submitted with kioskctl as the service user.
    pub fn submit_dossier(&self) -> anyhow::Result<()> {
        self.ok(r#"set -e
d=$(runuser -u motcua -- mktemp -d -p /var/lib/motcua)
printf '%%PDF-1.4\n%% a scanned form\n' > "$d/form.pdf"
cat > "$d/dossier.json" <<'JSON'
{"procedure_code": "1.001193",
 "applicant": {"full_name": "Nguyễn Thị Phượng", "id_number": "094186000123",
               "address": "Phường 1, TP. Sóc Trăng", "phone": "0901234567"},
 "documents": [{"name": "Tờ khai", "file": "form.pdf"}]}
JSON
chown -R motcua:motcua "$d"
runuser -u motcua -- kioskctl submit "$d/dossier.json"
rm -rf "$d""#)?;
        Ok(())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SIGTERM makes nspawn power the container off; bounded, then SIGKILL.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.nspawn.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !matches!(self.nspawn.try_wait(), Ok(Some(_))) {
            let _ = self.nspawn.kill();
            let _ = self.nspawn.wait();
            if self.leader != 0 {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.leader.to_string()])
                    .status();
            }
        }
        let _ = Command::new("rm").arg("-rf").arg(&self.root).status();
    }
}

/// Waits (bounded, looking every quarter second) until `done` says so; returns how long it
/// took, or fails naming `what`.
pub fn wait_for(
    within: Duration,
    what: &str,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    while !done()? {
        ensure!(started.elapsed() < within, "{what}: not after {within:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(started.elapsed())
}

/// The first child process of `pid`.
pub fn child_of(pid: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            return Some(child);
        }
    }
    None
}
