//! Updates without a site visit, on a real Debian system booted with systemd (as
//! deploy_container.rs): the gateway and kiosk packages installed, the kiosk enrolled, then
//! releases made from the same release binaries (`cargo deb --no-build --deb-version`):
//!
//! - v1 (the package as built) installed and ready, the updater's path unit active;
//! - a package altered after signing, and a manifest signed by another key, put in kioskd's
//!   spool by hand: the root updater refuses both itself, nothing changes;
//! - v2 published with `gateway release publish` → offered, downloaded by kioskd, installed in
//!   its maintenance window by the root updater, READY=1, committed, reported at the gateway;
//! - v3, whose unit points kioskd at a config file that does not exist (a setting, the only
//!   change), never becomes ready → the updater reinstalls v2 by itself, and the gateway has the
//!   rollback with the reason (v3's last log lines);
//! - a technician's `kioskctl update rollback` goes back from v2 to v1 (the package the updater
//!   kept with `dpkg-repack`);
//! - dossiers submitted before, during v2's install and during v3's probation are each at the
//!   gateway exactly once.
//!
//! Needs root (debootstrap, nspawn) and Debian's mirror for the packages' dependencies.

mod deploy_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use deploy_support::container::{pristine_root, wait_for, Container, APT};
use deploy_support::{is_root, kiosk_package_as, packages, require_tool, run, target_dir};
use motcua_domain::release::ReleaseManifest;
use motcua_identity::release::ReleaseKey;
use sha2::{Digest, Sha256};

const V1: &str = "0.1.0-1";
const V2: &str = "0.2.0-1";
const V3: &str = "0.3.0-1";

/// The kiosk's config: a maintenance window around now (Vietnam time), updates checked every
/// minute (and at once on `kioskctl update check`).
fn kiosk_config() -> String {
    let vn = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    let at = |d: chrono::Duration| (vn + d).format("%H:%M").to_string();
    format!(
        r#"[device]
id = "KIOSK-CT-0002"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 4999

[gateway]
url = "https://127.0.0.1:8700"

[uplink]
retry_initial_ms = 200
retry_max_ms = 1000
poll_ms = 200

[update]
maintenance_window = "{}-{}"
check_interval_s = 60
"#,
        at(chrono::Duration::minutes(-60)),
        at(chrono::Duration::minutes(180))
    )
}

/// The updater's health gate, short for the test (the defaults are 180 s and 300 s).
const UPDATER_CONFIG: &str = "ready_within_secs = 25\nhealthy_for_secs = 8\n";

/// v3: the same package with one setting changed, a unit drop-in that points kioskd at a config
/// file that does not exist (a packaging mistake: kioskd exits at start and is never ready).
fn broken_v3(v3: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let tree = dir.join("v3-tree");
    if tree.exists() {
        std::fs::remove_dir_all(&tree)?;
    }
    run(std::process::Command::new("dpkg-deb")
        .arg("-R")
        .arg(v3)
        .arg(&tree))?;
    let dropin = tree.join("usr/lib/systemd/system/motcua-kioskd.service.d");
    std::fs::create_dir_all(&dropin)?;
    std::fs::write(
        dropin.join("50-config.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/kioskd --config /etc/motcua/kiosk-v3.toml run\n",
    )?;
    let out = dir.join(format!("broken-motcua-kiosk-{V3}.deb"));
    run(std::process::Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "-b"])
        .arg(&tree)
        .arg(&out))?;
    std::fs::remove_dir_all(&tree)?;
    Ok(out)
}

/// The gateway's `release list` line of `version`.
fn release_line(c: &Container, version: &str) -> anyhow::Result<String> {
    let list = c.ok("gateway release list --data-dir /var/lib/motcua-gateway")?;
    Ok(list
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(version))
        .unwrap_or("")
        .to_owned())
}

/// Waits (bounded) until the gateway's line for `version` contains `what`.
fn wait_release(
    c: &Container,
    version: &str,
    what: &str,
    within: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let line = release_line(c, version)?;
        if line.contains(what) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > within {
            let log = c.sh(
                "journalctl -b --no-pager -o cat -n 80 -u motcua-kiosk-updater -u motcua-kioskd; \
                 cat /var/lib/motcua/update/*.json",
            )?;
            bail!(
                "the gateway's line for {version} has no \"{what}\" after {within:?}: {line}\n{}",
                String::from_utf8_lossy(&log.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn installed(c: &Container) -> anyhow::Result<String> {
    c.ok("dpkg-query -W -f='${Version}' motcua-kiosk")
}

/// A signed manifest for `deb`'s bytes under `version`, sealed by `key`.
fn manifest_for(key: &ReleaseKey, deb: &[u8], version: &str) -> String {
    let m = ReleaseManifest {
        package: "motcua-kiosk".into(),
        version: version.into(),
        sha256: hex::encode(Sha256::digest(deb)),
        size: deb.len() as u64,
        min_from_version: None,
        waves: "100%@0h".parse().expect("waves"),
        published_at: chrono::Utc::now().timestamp(),
    };
    key.seal(&m.to_json())
}

/// Puts `deb` and an install request into kioskd's spool as kioskd would, waits for the
/// updater to finish with it; returns the updater's journal lines of the run.
fn hand_request(
    c: &Container,
    deb: &[u8],
    manifest: &str,
    version: &str,
) -> anyhow::Result<String> {
    let spool = c.root.join("var/lib/motcua/update");
    std::fs::create_dir_all(spool.join("downloads"))?;
    std::fs::write(spool.join(format!("downloads/{version}.deb")), deb)?;
    let before = c.ok("journalctl --no-pager -o cat -u motcua-kiosk-updater | wc -l")?;
    let request = serde_json::json!({
        "action": "install", "version": version,
        "package_file": format!("downloads/{version}.deb"),
        "manifest": manifest, "requested_at": "2026-12-03T02:00:00+07:00"
    });
    std::fs::write(spool.join(".request.tmp"), serde_json::to_vec(&request)?)?;
    c.ok("chown -R motcua:motcua /var/lib/motcua/update && mv /var/lib/motcua/update/.request.tmp /var/lib/motcua/update/request.json")?;
    wait_for(
        Duration::from_secs(60),
        "the updater taking the request",
        || {
            Ok(!spool.join("request.json").exists()
                && c.ok("systemctl is-active motcua-kiosk-updater.service || true")? != "active")
        },
    )?;
    let skip: usize = before.trim().parse().unwrap_or(0);
    c.ok(&format!(
        "journalctl --no-pager -o cat -u motcua-kiosk-updater | tail -n +{}",
        skip + 1
    ))
}

/// Dossiers at the gateway (its SQLite database, read from the host).
fn gateway_dossiers(c: &Container) -> anyhow::Result<i64> {
    let db = rusqlite::Connection::open_with_flags(
        c.root.join("var/lib/motcua-gateway/gateway.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    Ok(db.query_row("SELECT COUNT(*) FROM dossiers", [], |r| r.get(0))?)
}

#[test]
fn releases_install_commit_roll_back_by_themselves_in_a_debian_container() -> anyhow::Result<()> {
    ensure!(
        is_root(),
        "this test needs root: it boots a Debian root with systemd-nspawn (run scripts/test.sh \
         as root)"
    );
    require_tool("debootstrap", "debootstrap")?;
    require_tool("systemd-nspawn", "systemd-container")?;
    require_tool("nsenter", "util-linux")?;
    let packages = packages()?;
    let versions = target_dir().join("motcua-update-debs");
    let v1 = packages.kiosk.clone();
    ensure!(
        v1.to_string_lossy().contains(V1),
        "the kiosk package is not {V1}: {}",
        v1.display()
    );
    let v2 = kiosk_package_as(V2, &versions)?;
    let v3 = broken_v3(&kiosk_package_as(V3, &versions)?, &versions)?;

    let pristine = pristine_root()?;
    let c = Container::boot(&pristine, &format!("motcua-update-{}", std::process::id()))?;
    std::fs::create_dir_all(c.root.join("root/debs"))?;
    for (deb, name) in [
        (&v1, "v1.deb"),
        (&v2, "v2.deb"),
        (&v3, "v3.deb"),
        (&packages.gateway, "gateway.deb"),
    ] {
        let to = c.root.join("root/debs").join(name);
        std::fs::copy(deb, &to)
            .with_context(|| format!("copying {} to {}", deb.display(), to.display()))?;
    }
    c.ok("apt-get -q update")?;
    let depends = c.ok("for d in /root/debs/v1.deb /root/debs/gateway.deb; do dpkg-deb -f $d Depends; done | paste -sd, -")?;
    c.ok(&format!("{APT} satisfy '{depends}'"))?;
    std::fs::create_dir_all(c.root.join("etc/motcua"))?;
    std::fs::write(c.root.join("etc/motcua/kiosk.toml"), kiosk_config())?;
    std::fs::write(c.root.join("etc/motcua/updater.toml"), UPDATER_CONFIG)?;

    // v1 and the gateway; the release key made by the gateway's tool, its public half where the
    // kiosk and the updater read it; the kiosk enrolled.
    c.ok(&format!(
        "{APT} install /root/debs/v1.deb /root/debs/gateway.deb 2>&1"
    ))?;
    c.wait_active("motcua-gateway", Duration::from_secs(60))?;
    c.wait_active("motcua-kioskd", Duration::from_secs(60))?;
    ensure!(installed(&c)? == V1);
    ensure!(c.ok("systemctl is-active motcua-kiosk-updater.path")? == "active");
    ensure!(c.ok("systemctl is-enabled motcua-kiosk-updater.path")? == "enabled");
    c.ok("gateway release key init --dir /etc/motcua/gateway >/etc/motcua/release.pub && chmod 644 /etc/motcua/release.pub")?;
    c.ok("runuser -u motcua -- kioskctl enroll --ca-file /etc/motcua/gateway-tls/ca.crt < /etc/motcua/gateway/enrollment-key")?;
    c.ok("systemctl restart motcua-kioskd")?;
    c.wait_active("motcua-kioskd", Duration::from_secs(60))?;
    c.submit_dossier()?;
    c.wait_delivered(Duration::from_secs(60))?;
    let mut submitted = 1;

    // The root updater checks for itself: an altered package and a foreign signature are
    // refused, and nothing changes.
    let key = ReleaseKey::from_pem(&std::fs::read_to_string(
        c.root.join("etc/motcua/gateway/release.key"),
    )?)?;
    let good = std::fs::read(&v2)?;
    let mut altered = good.clone();
    let at = altered.len() / 2;
    altered[at] ^= 0x55;
    let kioskd_pid = c.prop("motcua-kioskd", "MainPID")?;
    let log = hand_request(
        &c,
        &altered,
        &manifest_for(&key, &good, "0.1.5-1"),
        "0.1.5-1",
    )?;
    ensure!(
        log.contains("SHA-256") && log.contains("altered"),
        "the altered package was not refused for its hash:\n{log}"
    );
    let foreign = ReleaseKey::generate()?;
    let log = hand_request(
        &c,
        &good,
        &manifest_for(&foreign, &good, "0.1.6-1"),
        "0.1.6-1",
    )?;
    ensure!(
        log.contains("not valid"),
        "the foreign signature was not refused:\n{log}"
    );
    ensure!(installed(&c)? == V1 && c.prop("motcua-kioskd", "MainPID")? == kioskd_pid);
    println!("refused by the updater itself: an altered package, a manifest signed by another key");

    // v2: published, offered, downloaded, installed in the window, committed, reported.
    let t = Instant::now();
    c.ok("gateway release publish /root/debs/v2.deb --waves 100%@0h --release-key-file /etc/motcua/gateway/release.key --data-dir /var/lib/motcua-gateway")?;
    c.ok("runuser -u motcua -- kioskctl update check")?;
    c.submit_dossier()?;
    submitted += 1;
    let took = wait_release(&c, V2, "committed 1", Duration::from_secs(240))?;
    ensure!(installed(&c)? == V2);
    c.wait_active("motcua-kioskd", Duration::from_secs(10))?;
    println!(
        "v2: publish → committed at the gateway in {:.1} s ({})",
        (t.elapsed()).as_secs_f64().max(took.as_secs_f64()),
        release_line(&c, V2)?
    );
    let updater_log = c.ok("journalctl -b --no-pager -o cat -u motcua-kiosk-updater")?;
    ensure!(
        updater_log.contains("dpkg-repack")
            || c.root
                .join(format!("var/lib/motcua-updater/packages/{V1}.deb"))
                .exists(),
        "v1 was not kept for a rollback:\n{updater_log}"
    );
    ensure!(c.ok("stat -c '%a %U' /var/lib/motcua-updater")? == "700 root");

    // v3 never becomes ready: rolled back to v2 by the updater itself, reported with the reason.
    let t = Instant::now();
    c.ok("gateway release publish /root/debs/v3.deb --waves 100%@0h --release-key-file /etc/motcua/gateway/release.key --data-dir /var/lib/motcua-gateway")?;
    c.ok("runuser -u motcua -- kioskctl update check")?;
    // A dossier taken while v3 is on probation (kioskctl writes to the store itself).
    wait_for(Duration::from_secs(180), "v3 on probation", || {
        Ok(
            c.ok("cat /var/lib/motcua/update/state.json 2>/dev/null || true")?
                .contains("probation"),
        )
    })?;
    c.submit_dossier()?;
    submitted += 1;
    wait_release(&c, V3, "rolled back 1", Duration::from_secs(240))?;
    ensure!(installed(&c)? == V2, "not back on v2");
    c.wait_active("motcua-kioskd", Duration::from_secs(30))?;
    println!(
        "v3: publish → rolled back and reported in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let db = rusqlite::Connection::open_with_flags(
        c.root.join("var/lib/motcua-gateway/gateway.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let detail: String = db.query_row(
        "SELECT COALESCE(detail, '') FROM release_reports WHERE version = ?1",
        [V3],
        |r| r.get(0),
    )?;
    ensure!(
        detail.contains("not ready") && detail.contains("kiosk-v3.toml"),
        "the rollback's reason lacks v3's log lines: {detail}"
    );
    println!(
        "v3's reported reason: {}",
        detail.lines().take(3).collect::<Vec<_>>().join(" | ")
    );

    // A technician goes back from v2 to v1.
    c.ok("runuser -u motcua -- kioskctl update rollback --reason 'test: back to v1'")?;
    let back = wait_for(
        Duration::from_secs(120),
        "the technician's rollback to v1",
        || {
            Ok(installed(&c)? == V1
                && c.ok("systemctl is-active motcua-kiosk-updater.service || true")? != "active")
        },
    )?;
    c.wait_active("motcua-kioskd", Duration::from_secs(60))?;
    println!(
        "technician's rollback v2 → v1 in {:.1} s",
        back.as_secs_f64()
    );

    // Every dossier at the gateway exactly once.
    c.wait_delivered(Duration::from_secs(90))?;
    // A dossier's code is the gateway's primary key: a second delivery would be a second code.
    let rows = gateway_dossiers(&c)?;
    ensure!(
        rows == submitted,
        "{submitted} dossiers submitted, the gateway has {rows}"
    );
    println!("dossiers: {submitted} submitted, {rows} at the gateway, each once");
    let journal = c.ok("journalctl -b --no-pager -o cat -u motcua-kiosk-updater")?;
    let key_text = std::fs::read_to_string(c.root.join("etc/motcua/gateway/release.key"))?;
    let secret = key_text.lines().nth(1).context("release key PEM")?;
    ensure!(
        !journal.contains(secret),
        "the release key is in the journal"
    );
    Ok(())
}
