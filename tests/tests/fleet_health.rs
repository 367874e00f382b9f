//! Health reports end to end with the real binaries: a kiosk that was offline while several
//! reports were due delivers exactly one of them, the newest, when its gateway comes back, and
//! the technicians' fleet view shows it heard from (not silent) while an enrolled device that
//! never reported is flagged silent.

use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use motcua_tests::{wait_for, Gateway, Kiosk, KioskSettings};
use serde_json::Value;

fn queued(kiosk: &Kiosk) -> usize {
    kiosk.daemon_log().matches("health report queued").count()
}

fn device<'a>(fleet: &'a Value, id: &str) -> Option<&'a Value> {
    fleet["devices"]
        .as_array()?
        .iter()
        .find(|d| d["device_id"] == id)
}

fn flags(entry: &Value) -> Vec<String> {
    entry["flags"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn time(v: &Value) -> anyhow::Result<DateTime<FixedOffset>> {
    let text = v
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("not a time: {v}"))?;
    Ok(DateTime::parse_from_rfc3339(text)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_offline_kiosk_delivers_its_newest_report_and_a_silent_one_is_flagged(
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut gateway = Gateway::start_with(
        &tmp.path().join("gateway"),
        None,
        0,
        &["--fleet-silent-after-s", "1"],
    )?;
    let settings = KioskSettings::new(&gateway).device("KIOSK-HEALTH-A");
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("a"), &settings.with("health_report_s = 1"))?;
    // Enrolled, never started: it never reports.
    let _never = Kiosk::enrolled(
        &tmp.path().join("b"),
        &KioskSettings::new(&gateway).device("KIOSK-HEALTH-B"),
    )?;

    // The gateway goes away before the kiosk starts: every report it makes waits.
    gateway.kill();
    let started = chrono::Utc::now();
    kiosk.start_daemon()?;
    wait_for(
        Duration::from_secs(60),
        "three reports queued while offline",
        || Ok((queued(&kiosk) >= 3).then_some(())),
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", kiosk.daemon_log()))?;
    let status = kiosk.status()?;
    assert_eq!(status["health_report_waiting"], true, "{status}");
    assert_eq!(
        status["pending"], 0,
        "a report is not a citizen's record: {status}"
    );

    // Report i is made no sooner than i seconds after the start: the newest of the n made
    // before the gateway is back is no older than start + (n - 1) s.
    let made_offline = queued(&kiosk);
    let back = chrono::Utc::now();
    gateway.restart()?;

    let deadline = Instant::now() + Duration::from_secs(60);
    let fleet = loop {
        let fleet: Value = gateway
            .get_as("technician", "/v1/admin/fleet")
            .await?
            .error_for_status()?
            .json()
            .await?;
        let heard = device(&fleet, "KIOSK-HEALTH-A")
            .is_some_and(|a| !a["report"].is_null() && !flags(a).contains(&"silent".into()));
        let silent =
            device(&fleet, "KIOSK-HEALTH-B").is_some_and(|b| flags(b).contains(&"silent".into()));
        if heard && silent {
            break fleet;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the fleet never showed A heard from and B silent: {fleet}\n{}",
            kiosk.daemon_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let a = device(&fleet, "KIOSK-HEALTH-A").expect("listed");
    assert!(flags(a).is_empty(), "A is well: {a}");
    let b = device(&fleet, "KIOSK-HEALTH-B").expect("listed");
    assert_eq!(flags(b), ["silent"], "{b}");
    assert!(b["report"].is_null(), "{b}");

    // Of everything made while offline, exactly one report reached the gateway: the newest.
    let mut offline = Vec::new();
    for point in a["recent"].as_array().into_iter().flatten() {
        let made = time(&point["generated_at"])?;
        if made < back {
            offline.push(made);
        }
    }
    assert_eq!(offline.len(), 1, "one report of the offline period: {a}");
    let newest_bound = started + chrono::Duration::seconds(made_offline as i64 - 1);
    assert!(
        offline[0] >= newest_bound,
        "the delivered report ({}) is not the newest of the {made_offline} made offline (none older than {newest_bound})",
        offline[0]
    );
    Ok(())
}
