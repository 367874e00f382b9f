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
use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use deploy_support::container::{pristine_root, Container, APT};
use deploy_support::{is_root, packages, require_tool};

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
