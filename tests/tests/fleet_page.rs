//! The technicians' fleet page in a real browser: a gateway, a kiosk that reports, one enrolled
//! but never started (silent past the limit) and one whose printer is out of paper; headless
//! Chromium opens `/v1/admin/fleet.html` on the gateway itself, over mutual TLS with the
//! technician's certificate (as a technician's browser would), and the page shows each kiosk's
//! flag in words. A phone-sized screenshot goes to `target/screenshots/fleet.png` for a person to
//! look at.
//!
//! How the browser gets the certificate: the technician's key and certificate are imported into
//! the NSS database of the browser's own `$HOME` (`certutil`/`pk12util`, Debian
//! `libnss3-tools`), with the test CA trusted there. Chromium presents a client certificate
//! without asking only under the managed policy `AutoSelectCertificateForUrls`; `scripts/test.sh`
//! installs one that selects certificates issued by "motcua test CA" for `https://127.0.0.1`
//! (the lab CA of these tests) and nothing else.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use motcua_domain::wire::{HealthReport, PrinterCondition, PrinterHealth};
use motcua_tests::{Gateway, Kiosk, KioskSettings};
use serde_json::Value;

/// Long enough that the healthy kiosk (reporting every second) never looks silent while the
/// browser starts; the never-started kiosk falls silent after it.
const SILENT_AFTER_S: &str = "10";
/// The managed policy `scripts/test.sh` installs.
const POLICY: &str = "/etc/chromium/policies/managed/motcua-tests.json";

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("run {cmd:?} (scripts/install-deps.sh installs it)"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A browser home in `dir` whose NSS database holds the technician's certificate and key and
/// trusts the lab CA.
fn browser_home(dir: &Path, gateway: &Gateway) -> anyhow::Result<()> {
    let policy = std::fs::read_to_string(POLICY)
        .with_context(|| format!("{POLICY} is missing: run the tests with scripts/test.sh"))?;
    anyhow::ensure!(
        policy.contains("AutoSelectCertificateForUrls"),
        "{POLICY} does not select client certificates"
    );
    let nss = dir.join(".pki/nssdb");
    std::fs::create_dir_all(&nss)?;
    let db = format!("sql:{}", nss.display());
    let tech = gateway.pki.role("technician")?;
    let p12 = dir.join("technician.p12");
    run(Command::new("openssl")
        .args([
            "pkcs12",
            "-export",
            "-passout",
            "pass:",
            "-name",
            "technician",
        ])
        .arg("-in")
        .arg(&tech.cert)
        .arg("-inkey")
        .arg(&tech.key)
        .arg("-out")
        .arg(&p12))?;
    run(Command::new("certutil").args(["-N", "--empty-password", "-d", &db]))?;
    run(Command::new("pk12util")
        .args(["-W", "", "-d", &db, "-i"])
        .arg(&p12))?;
    run(Command::new("certutil")
        .args(["-A", "-n", "motcua test CA", "-t", "C,,", "-d", &db, "-i"])
        .arg(gateway.pki.ca_cert()))?;
    Ok(())
}

/// Headless Chromium with its home in `dir` on `url` with `extra` arguments (`--dump-dom`,
/// `--screenshot=…`). Bounded: a browser stuck on a certificate prompt is killed after 60 s.
fn chromium(dir: &Path, url: &str, extra: &[&str]) -> anyhow::Result<Output> {
    let profile = format!("--user-data-dir={}", dir.join("profile").display());
    let out = Command::new("timeout")
        .arg("60")
        .arg("chromium")
        .env("HOME", dir)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(&profile)
        .args(extra)
        .arg(url)
        .output()
        .context("run chromium (scripts/install-deps.sh installs it)")?;
    if !out.status.success() {
        bail!(
            "chromium failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

fn report(printer: PrinterCondition) -> HealthReport {
    let now = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    HealthReport {
        software_version: "0.1.0".into(),
        generated_at: now,
        sent_at: Some(now),
        uptime_s: 120,
        outbox_pending: 1,
        oldest_undelivered_s: Some(30),
        needs_technician: 0,
        set_aside: 0,
        printer: Some(PrinterHealth {
            condition: printer,
            detail: "hết giấy / out of paper".into(),
        }),
        disk_free_bytes: Some(8 << 30),
        disk_floor_bytes: 200 << 20,
        last_self_test: None,
    }
}

fn flags(fleet: &Value, id: &str) -> Option<Vec<String>> {
    let device = fleet["devices"]
        .as_array()?
        .iter()
        .find(|d| d["device_id"] == id)?;
    if device["report"].is_null() && id != "KIOSK-PAGE-SILENT" {
        return None;
    }
    Some(
        device["flags"]
            .as_array()?
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect(),
    )
}

/// The card of `id` in the DOM Chromium rendered: from its opening tag to the next card.
fn card<'a>(dom: &'a str, id: &str) -> anyhow::Result<&'a str> {
    let start = dom
        .find(&format!("data-device=\"{id}\""))
        .with_context(|| format!("no card for {id} in the page:\n{dom}"))?;
    let rest = &dom[start..];
    Ok(rest.find("</section>").map_or(rest, |end| &rest[..end]))
}

/// `gateway release key init` and `gateway release publish` of a small real package into the
/// gateway's data folder (the tool works beside the running server).
fn publish_release(tmp: &Path, data_dir: &Path) -> anyhow::Result<()> {
    let tree = tmp.join("deb-tree");
    std::fs::create_dir_all(tree.join("DEBIAN"))?;
    std::fs::create_dir_all(tree.join("usr/share/doc/motcua-kiosk"))?;
    std::fs::write(tree.join("usr/share/doc/motcua-kiosk/NEWS"), "0.2.0-1\n")?;
    std::fs::write(
        tree.join("DEBIAN/control"),
        "Package: motcua-kiosk\nVersion: 0.2.0-1\nArchitecture: all\n\
         Maintainer: motcua <motcua@example.invalid>\nDescription: a release for the fleet page\n",
    )?;
    let deb = tmp.join("motcua-kiosk_0.2.0-1_all.deb");
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&tree)
        .arg(&deb))?;
    let keys = tmp.join("release-key");
    run(Command::new(motcua_tests::bin("gateway"))
        .args(["release", "key", "init", "--dir"])
        .arg(&keys))?;
    run(Command::new(motcua_tests::bin("gateway"))
        .args(["release", "publish"])
        .arg(&deb)
        .args(["--waves", "1%@0h,10%@24h,100%@72h", "--release-key-file"])
        .arg(keys.join("release.key"))
        .arg("--data-dir")
        .arg(data_dir))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_shows_each_kiosks_flags_on_the_fleet_page() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start_with(
        &tmp.path().join("gateway"),
        None,
        0,
        &["--fleet-silent-after-s", SILENT_AFTER_S],
    )?;
    // A release in its first wave, published with the gateway's own tool, for the releases
    // table.
    publish_release(tmp.path(), &tmp.path().join("gateway"))?;
    let mut healthy = Kiosk::enrolled(
        &tmp.path().join("healthy"),
        &KioskSettings::new(&gateway)
            .device("KIOSK-PAGE-OK")
            .with("health_report_s = 1"),
    )?;
    // Enrolled, never started: it falls silent.
    let _silent = Kiosk::enrolled(
        &tmp.path().join("silent"),
        &KioskSettings::new(&gateway).device("KIOSK-PAGE-SILENT"),
    )?;
    // Its printer ran out of paper: it keeps reporting so, as a kiosk would, through its own
    // certificate.
    let paper = Kiosk::enrolled(
        &tmp.path().join("paper"),
        &KioskSettings::new(&gateway).device("KIOSK-PAGE-PAPER"),
    )?;
    let paper_client = gateway.pki.client(Some(&paper.identity_pem()?))?;
    let reports_url = format!("{}/v1/health-reports", gateway.url());
    let reporter = tokio::spawn(async move {
        for i in 0u64.. {
            // A refusal shows in the fleet view below (no report, or silent).
            let _ = paper_client
                .post(&reports_url)
                .header("Idempotency-Key", format!("paper-{i}"))
                .json(&report(PrinterCondition::OutOfPaper))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    healthy.start_daemon()?;

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fleet: Value = gateway
            .get_as("technician", "/v1/admin/fleet")
            .await?
            .error_for_status()?
            .json()
            .await?;
        let ok = flags(&fleet, "KIOSK-PAGE-OK").is_some_and(|f| f.is_empty());
        let silent = flags(&fleet, "KIOSK-PAGE-SILENT").is_some_and(|f| f == ["silent"]);
        let paper = flags(&fleet, "KIOSK-PAGE-PAPER").is_some_and(|f| f == ["out_of_paper"]);
        if ok && silent && paper {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the fleet never reached one well, one silent, one out of paper: {fleet}\n{}",
            healthy.daemon_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let browser = tmp.path().join("browser");
    std::fs::create_dir_all(&browser)?;
    browser_home(&browser, &gateway)?;
    let page = format!("{}/v1/admin/fleet.html", gateway.url());
    let dom = chromium(&browser, &page, &["--dump-dom"])?;
    let dom = String::from_utf8(dom.stdout)?;
    assert!(dom.contains("Đội máy kiosk / Kiosk fleet"), "{dom}");
    let ok = card(&dom, "KIOSK-PAGE-OK")?;
    assert!(ok.contains("Bình thường / All well"), "{ok}");
    assert!(
        !ok.contains("data-flag="),
        "no flag on the healthy kiosk: {ok}"
    );
    let silent = card(&dom, "KIOSK-PAGE-SILENT")?;
    assert!(silent.contains("Im lặng / Silent"), "{silent}");
    assert!(!silent.contains("Hết giấy"), "{silent}");
    let paper = card(&dom, "KIOSK-PAGE-PAPER")?;
    assert!(paper.contains("Hết giấy / Out of paper"), "{paper}");
    assert!(!paper.contains("Im lặng"), "{paper}");
    for card in [ok, silent, paper] {
        assert!(card.contains("Thu hồi / Revoke"), "{card}");
    }
    assert!(paper.contains("<svg"), "a sparkline of its outbox: {paper}");
    assert!(dom.contains("Bản phát hành / Releases"), "{dom}");
    assert!(
        dom.contains("0.2.0-1"),
        "the published release is not in the table: {dom}"
    );

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&shots)?;
    let png = shots.join("fleet.png");
    let _ = std::fs::remove_file(&png);
    chromium(
        &browser,
        &page,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=412,915",
            "--hide-scrollbars",
        ],
    )?;
    let bytes =
        std::fs::read(&png).with_context(|| format!("no screenshot at {}", png.display()))?;
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
    println!("fleet page screenshot: {}", png.display());
    reporter.abort();
    Ok(())
}
