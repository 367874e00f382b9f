//! The packages on a real Debian system: a fresh bookworm root made with `debootstrap` from
//! Debian's mirror, booted with systemd under `systemd-nspawn --boot`; the two .debs installed
//! with apt (their dependencies from the mirror), then, inside the container:
//!
//! - `motcua-gateway` and `motcua-kioskd` reach `active` (Type=notify: READY=1 came), kioskd
//!   runs as the user `motcua`, `kioskctl status` answers, the kiosk enrols against the
//!   gateway on 127.0.0.1 (whose keys came from credential files) and delivers a dossier;
//! - a `kill -STOP` of kioskd gets it restarted by the watchdog;
//! - removal is refused while the outbox is not empty, and allowed once it is; `apt purge`
//!   leaves none of the packages' files, and the kiosk's data folder only when it holds
//!   undelivered data (a forced purge);
//! - it prints the package sizes, the time from installation to `active` and from start to
//!   READY=1.
//!
//! Needs root (debootstrap, nspawn). The bookworm root is cached in target/motcua-deploy/ so a
//! rerun skips debootstrap; every run boots a fresh copy of it, which is deleted afterwards.

mod deploy_support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use deploy_support::{is_root, packages, require_tool, run, target_dir};

/// Where the pristine root, the apt download cache and the run roots live.
fn cache_dir() -> PathBuf {
    target_dir().join("motcua-deploy")
}

/// The mirror apt uses on this machine (the first `URIs:`/`deb` line), or Debian's.
fn host_mirror() -> String {
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
fn pristine_root() -> anyhow::Result<PathBuf> {
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
struct Container {
    nspawn: Child,
    leader: u32,
    root: PathBuf,
}

impl Container {
    /// Boots a fresh copy of the pristine root.
    fn boot(pristine: &Path, name: &str) -> anyhow::Result<Self> {
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

    fn console(&self) -> String {
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
    fn sh_timeout(&self, script: &str, timeout: Duration) -> anyhow::Result<Output> {
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

    fn sh(&self, script: &str) -> anyhow::Result<Output> {
        self.sh_timeout(script, Duration::from_secs(120))
    }

    /// Runs a script that must succeed; returns its stdout.
    fn ok(&self, script: &str) -> anyhow::Result<String> {
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
    fn prop(&self, unit: &str, name: &str) -> anyhow::Result<String> {
        self.ok(&format!("systemctl show -p {name} --value {unit}"))
    }

    /// Waits (bounded) until the unit is active; returns how long it took.
    fn wait_active(&self, unit: &str, within: Duration) -> anyhow::Result<Duration> {
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
    fn outbox(&self) -> anyhow::Result<(u64, u64)> {
        let json = self.ok("runuser -u motcua -- kioskctl status --json")?;
        let v: serde_json::Value = serde_json::from_str(&json)
            .with_context(|| format!("kioskctl status --json gave {json}"))?;
        Ok((
            v["pending"].as_u64().context("no pending count")?,
            v["delivered"].as_u64().context("no delivered count")?,
        ))
    }

    /// Waits (bounded) until the outbox is empty.
    fn wait_delivered(&self, within: Duration) -> anyhow::Result<u64> {
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
    fn submit_dossier(&self) -> anyhow::Result<()> {
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

/// The first child process of `pid`.
fn child_of(pid: u32) -> Option<u32> {
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

/// The kiosk's config, as a provisioning step puts it in place before the package is
/// installed (dpkg keeps it: --force-confold).
const KIOSK_CONFIG: &str = r#"[device]
id = "KIOSK-CT-0001"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 4999

[gateway]
url = "https://127.0.0.1:8700"

[uplink]
retry_initial_ms = 200
retry_max_ms = 1000
poll_ms = 200
"#;

fn seed_kiosk_config(c: &Container) -> anyhow::Result<()> {
    std::fs::create_dir_all(c.root.join("etc/motcua"))?;
    std::fs::write(c.root.join("etc/motcua/kiosk.toml"), KIOSK_CONFIG)?;
    Ok(())
}

const APT: &str =
    "apt-get -y -q -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef";

/// Every non-directory path of the installed packages, and their directories with "motcua" in
/// the name.
fn package_paths(c: &Container, packages: &[&str]) -> anyhow::Result<Vec<String>> {
    let mut paths = Vec::new();
    for p in packages {
        let list = c.ok(&format!(
            "dpkg -L {p} | while read -r f; do if [ ! -d \"$f\" ] || case \"$f\" in *motcua*) true;; *) false;; esac; then echo \"$f\"; fi; done"
        ))?;
        paths.extend(list.lines().map(str::to_owned));
    }
    ensure!(paths.len() > 5, "dpkg -L listed only {paths:?}");
    Ok(paths)
}

fn remaining(c: &Container, paths: &[String]) -> anyhow::Result<Vec<String>> {
    let mut left = Vec::new();
    for p in paths {
        if c.root
            .join(p.trim_start_matches('/'))
            .symlink_metadata()
            .is_ok()
        {
            left.push(p.clone());
        }
    }
    Ok(left)
}

#[test]
fn packages_install_boot_restart_and_purge_in_a_debian_container() -> anyhow::Result<()> {
    ensure!(
        is_root(),
        "this test needs root: it makes a Debian root with debootstrap and boots it with \
         systemd-nspawn (run scripts/test.sh as root, or `sudo -E cargo test -p motcua-tests \
         --test deploy_container`)"
    );
    require_tool("debootstrap", "debootstrap")?;
    require_tool("systemd-nspawn", "systemd-container")?;
    require_tool("nsenter", "util-linux")?;

    let packages = packages()?;
    let kiosk_size = std::fs::metadata(&packages.kiosk)?.len();
    let gateway_size = std::fs::metadata(&packages.gateway)?.len();
    println!(
        "package sizes: {} {:.1} MB, {} {:.1} MB",
        packages.kiosk.file_name().unwrap().to_string_lossy(),
        kiosk_size as f64 / 1e6,
        packages.gateway.file_name().unwrap().to_string_lossy(),
        gateway_size as f64 / 1e6
    );

    let pristine = pristine_root()?;
    let name = format!("motcua-deploy-{}", std::process::id());
    let boot_started = Instant::now();
    let c = Container::boot(&pristine, &name)?;
    println!(
        "container booted in {:.1} s",
        boot_started.elapsed().as_secs_f64()
    );

    std::fs::create_dir_all(c.root.join("root/debs"))?;
    for deb in [&packages.kiosk, &packages.gateway] {
        std::fs::copy(deb, c.root.join("root/debs").join(deb.file_name().unwrap()))?;
    }
    let kiosk_deb = format!(
        "/root/debs/{}",
        packages.kiosk.file_name().unwrap().to_string_lossy()
    );
    let gateway_deb = format!(
        "/root/debs/{}",
        packages.gateway.file_name().unwrap().to_string_lossy()
    );

    // Dependencies from Debian's mirror, then the two packages with apt.
    let t = Instant::now();
    c.ok("apt-get -q update")?;
    let depends = c.ok(&format!(
        "for d in {kiosk_deb} {gateway_deb}; do dpkg-deb -f $d Depends; done | paste -sd, -"
    ))?;
    c.ok(&format!("{APT} satisfy '{depends}'"))?;
    println!(
        "dependencies from the mirror: {:.1} s ({depends})",
        t.elapsed().as_secs_f64()
    );
    seed_kiosk_config(&c)?;
    let t = Instant::now();
    let install = c.ok(&format!("{APT} install {kiosk_deb} {gateway_deb} 2>&1"))?;
    let installed = t.elapsed();
    let gateway_active = c.wait_active("motcua-gateway", Duration::from_secs(60))? + installed;
    let kiosk_active = c.wait_active("motcua-kioskd", Duration::from_secs(60))? + installed;
    println!(
        "apt install of both packages (dpkg only, dependencies present): {:.2} s; install → \
         active: motcua-gateway {:.2} s, motcua-kioskd {:.2} s",
        installed.as_secs_f64(),
        gateway_active.as_secs_f64(),
        kiosk_active.as_secs_f64()
    );
    ensure!(
        install.contains("made a new random enrollment-key"),
        "no key made: {install}"
    );
    for unit in ["motcua-kioskd", "motcua-gateway"] {
        let start: u64 = c.prop(unit, "ExecMainStartTimestampMonotonic")?.parse()?;
        let active: u64 = c.prop(unit, "ActiveEnterTimestampMonotonic")?.parse()?;
        println!(
            "{unit}: start → READY=1 (active) {:.1} ms; STATUS={}",
            (active.saturating_sub(start)) as f64 / 1000.0,
            c.prop(unit, "StatusText")?
        );
    }
    ensure!(c.ok("systemctl is-enabled motcua-kioskd motcua-gateway")? == "enabled\nenabled");
    ensure!(c.ok("systemctl is-enabled motcua-kioskd-screen || true")? == "disabled");

    // The users, the folders, the keys.
    let pid = c.prop("motcua-kioskd", "MainPID")?;
    ensure!(
        c.ok(&format!("stat -c %U /proc/{pid}"))? == "motcua",
        "kioskd is not run by motcua"
    );
    let gw_pid = c.prop("motcua-gateway", "MainPID")?;
    ensure!(c.ok(&format!("stat -c %U /proc/{gw_pid}"))? == "motcua-gateway");
    ensure!(
        c.ok("stat -c '%a %U' /var/lib/motcua /var/lib/motcua-gateway")?
            == "700 motcua\n700 motcua-gateway"
    );
    ensure!(c.ok("stat -c '%a %U %G' /etc/motcua/kiosk.toml")? == "640 root motcua");
    ensure!(
        c.ok("stat -c '%a %U' /etc/motcua/gateway /etc/motcua/gateway/enrollment-key /etc/motcua/gateway/ca.key /etc/motcua/gateway/provisioning.key")?
            == "711 root\n600 root\n600 root\n600 root",
        "the secrets folder may be passed through (to profiles/), never listed; its keys are root's"
    );
    ensure!(
        c.ok("stat -c '%a' /etc/motcua/gateway/profiles /etc/motcua/gateway/profiles/commune-desk.toml")?
            == "755\n644"
    );
    ensure!(c
        .ok("id -nG motcua")?
        .split_whitespace()
        .any(|g| g == "dialout"));
    // No key on the gateway's command line or in its log.
    let cmdline = c.ok(&format!("tr '\\0' ' ' < /proc/{gw_pid}/cmdline"))?;
    ensure!(
        cmdline.trim() == "/usr/bin/gateway serve",
        "gateway command line: {cmdline}"
    );
    ensure!(
        c.ok("stat -c '%a %U %G' /etc/motcua/gateway-tls/tls.key")? == "640 root motcua-gateway",
        "the served key is readable by the gateway only"
    );
    let key = c.ok("cat /etc/motcua/gateway/enrollment-key")?;
    ensure!(key.len() == 32);
    let ca_key = c.ok("sed -n 2p /etc/motcua/gateway/ca.key")?;

    // kioskctl answers; the kiosk enrols (the key on its stdin, never argv; the CA certificate
    // the package made) and delivers a dossier through the gateway inside the container, over
    // mutual TLS.
    let status = c.ok("runuser -u motcua -- kioskctl status")?;
    ensure!(status.contains("pending"), "kioskctl status: {status}");
    c.ok("runuser -u motcua -- kioskctl enroll --ca-file /etc/motcua/gateway-tls/ca.crt < /etc/motcua/gateway/enrollment-key")?;
    ensure!(
        c.ok("stat -c '%a %U' /var/lib/motcua/identity/device.pem")? == "600 motcua",
        "the kiosk's private key is readable by its service only"
    );
    c.submit_dossier()?;
    let delivered = c.wait_delivered(Duration::from_secs(60))?;
    ensure!(delivered >= 1);
    // `systemctl reload` re-reads the server certificate without a restart.
    let gw_before = c.prop("motcua-gateway", "MainPID")?;
    c.ok("systemctl reload motcua-gateway")?;
    let asked = Instant::now();
    while !c
        .ok("journalctl -b --no-pager -o cat -u motcua-gateway")?
        .contains("server certificate reloaded")
    {
        ensure!(
            asked.elapsed() < Duration::from_secs(20),
            "systemctl reload did not reload the server certificate"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    ensure!(
        c.prop("motcua-gateway", "MainPID")? == gw_before,
        "the gateway was restarted instead of reloaded"
    );
    let journal = c.ok("journalctl -b --no-pager -o cat -u motcua-gateway -u motcua-kioskd")?;
    ensure!(
        !journal.contains(&key) && !journal.contains(&ca_key),
        "a key is in the journal"
    );
    // The gateway logs to journald natively (structured fields), not only through stderr.
    let native = c.ok(
        "journalctl -b --no-pager -o verbose -u motcua-gateway _TRANSPORT=journal | head -n 40",
    )?;
    ensure!(
        native.contains("_TRANSPORT=journal"),
        "the gateway does not log to journald: {native}"
    );

    // The watchdog: a stopped kioskd stops the pings, systemd aborts it, kills it after
    // TimeoutAbortSec and starts it again.
    let restarts: u64 = c.prop("motcua-kioskd", "NRestarts")?.parse()?;
    let stopped_at = Instant::now();
    c.ok(&format!("kill -STOP {pid}"))?;
    let deadline = Duration::from_secs(90);
    loop {
        let now_pid = c.prop("motcua-kioskd", "MainPID")?;
        let n: u64 = c.prop("motcua-kioskd", "NRestarts")?.parse()?;
        let state = c.ok("systemctl is-active motcua-kioskd || true")?;
        if n > restarts && now_pid != pid && now_pid != "0" && state == "active" {
            println!(
                "watchdog: kioskd (pid {pid}) stopped with SIGSTOP was replaced by pid {now_pid} \
                 after {:.1} s (WatchdogSec=30s)",
                stopped_at.elapsed().as_secs_f64()
            );
            break;
        }
        if stopped_at.elapsed() > deadline {
            let log = c.sh("journalctl -b --no-pager -n 30 -u motcua-kioskd")?;
            bail!(
                "kioskd was not restarted {deadline:?} after SIGSTOP:\n{}",
                String::from_utf8_lossy(&log.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let journal = c.ok("journalctl -b --no-pager -o cat -u motcua-kioskd")?;
    ensure!(
        journal.contains("atchdog"),
        "no watchdog in the journal:\n{journal}"
    );

    // Removal is refused while a dossier waits for the gateway.
    c.ok("systemctl stop motcua-gateway")?;
    c.submit_dossier()?;
    let (pending, _) = c.outbox()?;
    ensure!(pending > 0);
    let refused = c.sh(&format!("{APT} remove motcua-kiosk 2>&1"))?;
    let text = String::from_utf8_lossy(&refused.stdout);
    ensure!(
        !refused.status.success(),
        "removal with {pending} pending was allowed:\n{text}"
    );
    ensure!(
        text.contains("REMOVAL REFUSED") && text.contains("MOTCUA_FORCE_REMOVE=1"),
        "{text}"
    );
    ensure!(c.ok("dpkg-query -W -f='${Status}' motcua-kiosk")? == "install ok installed");
    c.wait_active("motcua-kioskd", Duration::from_secs(10))?;
    println!(
        "removal refused with {pending} pending: {}",
        text.lines().find(|l| l.contains("REFUSED")).unwrap_or("")
    );

    // Delivered, removal is allowed and a purge leaves none of the packages' files; the kiosk's
    // data folder goes (everything was delivered), the province's data stays.
    c.ok("systemctl start motcua-gateway")?;
    c.wait_delivered(Duration::from_secs(60))?;
    let paths = package_paths(&c, &["motcua-kiosk", "motcua-gateway"])?;
    let purge = c.ok(&format!("{APT} purge motcua-kiosk motcua-gateway 2>&1"))?;
    let left = remaining(&c, &paths)?;
    ensure!(
        left.is_empty(),
        "after purge these package files remain: {left:?}\n{purge}"
    );
    for gone in ["etc/motcua", "var/lib/motcua"] {
        ensure!(
            !c.root.join(gone).exists(),
            "/{gone} remains after purge:\n{purge}"
        );
    }
    ensure!(c.root.join("var/lib/motcua-gateway").exists());
    ensure!(purge.contains("KEPT /var/lib/motcua-gateway"), "{purge}");
    ensure!(c.ok("systemctl list-unit-files 'motcua*' --no-legend | wc -l")? == "0");
    println!(
        "purge with everything delivered: {} package paths, none left",
        paths.len()
    );

    // Reinstalled (dpkg only) and forced out with a dossier undelivered: the package goes,
    // the data stays.
    seed_kiosk_config(&c)?;
    let t = Instant::now();
    c.ok(&format!("{APT} install {kiosk_deb} 2>&1"))?;
    let active = c.wait_active("motcua-kioskd", Duration::from_secs(60))? + t.elapsed();
    println!("reinstall → active: {:.2} s", active.as_secs_f64());
    c.submit_dossier()?;
    ensure!(c.outbox()?.0 > 0);
    let paths = package_paths(&c, &["motcua-kiosk"])?;
    let refused = c.sh(&format!("{APT} purge motcua-kiosk 2>&1"))?;
    ensure!(
        !refused.status.success(),
        "purge with a pending dossier was allowed"
    );
    let purge = c.ok(&format!(
        "MOTCUA_FORCE_REMOVE=1 {APT} purge motcua-kiosk 2>&1"
    ))?;
    let left = remaining(&c, &paths)?;
    ensure!(
        left.is_empty(),
        "after a forced purge these package files remain: {left:?}"
    );
    ensure!(
        c.root.join("var/lib/motcua/kiosk.sqlite3").exists(),
        "the undelivered data was deleted:\n{purge}"
    );
    ensure!(purge.contains("KEPT /var/lib/motcua"), "{purge}");
    println!(
        "forced purge with a dossier undelivered: package files gone, data kept: {}",
        purge.lines().find(|l| l.contains("KEPT")).unwrap_or("")
    );
    let _ = std::io::stdout().flush();
    Ok(())
}
