//! The technicians' fleet page in a real browser: a gateway, a kiosk that reports, one enrolled
//! but never started (silent past the limit) and one whose printer is out of paper; the page
//! `/v1/admin/fleet.html` as the gateway serves it to the technician's certificate is rendered by
//! headless Chromium (from a saved copy: see [`chromium`]) and shows each kiosk's flag in words.
//! A phone-sized screenshot goes to `target/screenshots/fleet.png` for a person to look at.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use motcua_domain::wire::{HealthReport, PrinterCondition, PrinterHealth};
use motcua_tests::{Gateway, Kiosk, KioskSettings};
use serde_json::Value;

const SILENT_AFTER_S: &str = "3";

/// Headless Chromium on the page saved at `page` with `extra` arguments (`--dump-dom`,
/// `--screenshot=…`). It reads a copy the test fetched with the technician's certificate:
/// headless Chromium 156 waits forever for someone to choose a client certificate (its
/// `--auto-select-certificate-for-urls` switch is not honoured; only a managed policy under
/// `/etc/chromium` is, which a test must not write).
fn chromium(dir: &Path, page: &Path, extra: &[&str]) -> anyhow::Result<Output> {
    let profile = format!("--user-data-dir={}", dir.join("profile").display());
    let out = Command::new("chromium")
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
        .arg(format!("file://{}", page.display()))
        .output()
        .context("run chromium (scripts/install-deps.sh installs it)")?;
    if !out.status.success() {
        bail!("chromium failed: {}", String::from_utf8_lossy(&out.stderr));
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

#[tokio::test(flavor = "multi_thread")]
async fn chromium_shows_each_kiosks_flags_on_the_fleet_page() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start_with(
        &tmp.path().join("gateway"),
        None,
        0,
        &["--fleet-silent-after-s", SILENT_AFTER_S],
    )?;
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

    let served = gateway.get_as("technician", "/v1/admin/fleet.html").await?;
    anyhow::ensure!(
        served.status().is_success(),
        "page refused: {}",
        served.status()
    );
    let page = tmp.path().join("fleet.html");
    std::fs::write(&page, served.bytes().await?)?;
    let browser = tmp.path().join("browser");
    std::fs::create_dir_all(&browser)?;
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
