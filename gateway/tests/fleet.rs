//! Kiosk health reports and the technicians' fleet view, against both storage backends: a
//! report is stored once under its idempotency key (a retry with a later `sent_at` is the same
//! report), always as the certificate's device's, and the fleet view flags a silent device, an
//! out-of-paper printer, a stuck outbox and a wrong clock from reports with chosen timestamps.
//! The thresholds themselves are tested with explicit clocks in `store::fleet`.

#[macro_use]
mod harness;

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use harness::*;
use motcua_domain::wire::{HealthReport, IngestAck, PrinterCondition, PrinterHealth};
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn vn_now() -> DateTime<FixedOffset> {
    chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset())
}

fn report(sent_at: DateTime<FixedOffset>) -> HealthReport {
    HealthReport {
        software_version: "0.1.0".into(),
        generated_at: sent_at - chrono::Duration::seconds(30),
        sent_at: Some(sent_at),
        uptime_s: 3600,
        outbox_pending: 0,
        oldest_undelivered_s: None,
        needs_technician: 0,
        set_aside: 0,
        printer: Some(PrinterHealth {
            condition: PrinterCondition::Ready,
            detail: "sẵn sàng / ready".into(),
        }),
        disk_free_bytes: Some(10 << 30),
        disk_floor_bytes: 200 << 20,
        last_self_test: None,
    }
}

async fn fleet(h: &Harness) -> Value {
    let r = h
        .req(Method::GET, "/v1/admin/fleet", Some(&h.technician))
        .send()
        .await
        .expect("fleet");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("fleet JSON")
}

fn device<'a>(fleet: &'a Value, id: &str) -> &'a Value {
    fleet["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["device_id"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {fleet}"))
}

async fn health_report_ingest_is_idempotent_and_bound_to_the_certificate(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let one = h.enroll("KIOSK-1").await;
    h.enroll("KIOSK-2").await;
    let first = report(vn_now());
    // The body claims another device: the certificate's is what counts.
    let mut body = serde_json::to_value(&first).expect("json");
    body["device_id"] = "KIOSK-2".into();
    let r = h
        .post_json("/v1/health-reports", &one, Some("h-1"), &body)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(!r.json::<IngestAck>().await.expect("ack").duplicate);
    // The uplink's retry after a lost answer carries a later sent_at: the same report.
    let retry = HealthReport {
        sent_at: first.sent_at.map(|t| t + chrono::Duration::seconds(40)),
        ..first.clone()
    };
    let r = h
        .post_json("/v1/health-reports", &one, Some("h-1"), &retry)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<IngestAck>().await.expect("ack").duplicate);
    // Another report under the same key is refused.
    let other = HealthReport {
        outbox_pending: 3,
        ..first.clone()
    };
    let r = h
        .post_json("/v1/health-reports", &one, Some("h-1"), &other)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "idempotency_key_reused");
    // The kiosk's clock at sending is required.
    let unsent = HealthReport {
        sent_at: None,
        ..first.clone()
    };
    let r = h
        .post_json("/v1/health-reports", &one, Some("h-2"), &unsent)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Only technicians read the fleet.
    let r = h
        .req(Method::GET, "/v1/admin/fleet", Some(&one))
        .send()
        .await
        .expect("fleet");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let view = fleet(&h).await;
    let k1 = device(&view, "KIOSK-1");
    assert_eq!(k1["report"]["outbox_pending"], 0);
    assert_eq!(k1["recent"].as_array().map(Vec::len), Some(1), "{k1}");
    assert_eq!(k1["flags"], serde_json::json!([]), "{k1}");
    let k2 = device(&view, "KIOSK-2");
    assert!(k2["report"].is_null(), "{k2}");
    assert_eq!(
        k2["flags"],
        serde_json::json!([]),
        "just enrolled: not silent yet"
    );
    // A newer report becomes the latest; both stay in the history.
    let newer = HealthReport {
        outbox_pending: 2,
        ..report(vn_now())
    };
    let r = h
        .post_json("/v1/health-reports", &one, Some("h-3"), &newer)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let view = fleet(&h).await;
    let k1 = device(&view, "KIOSK-1");
    assert_eq!(k1["report"]["outbox_pending"], 2);
    let depths: Vec<&Value> = k1["recent"]
        .as_array()
        .expect("recent")
        .iter()
        .map(|p| &p["outbox_pending"])
        .collect();
    assert_eq!(depths, [0, 2]);
    h.finish().await;
}

async fn the_fleet_flags_paper_stuck_outboxes_wrong_clocks_and_silence(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let paper = h.enroll("KIOSK-PAPER").await;
    let stuck = h.enroll("KIOSK-STUCK").await;
    let skewed = h.enroll("KIOSK-CLOCK").await;
    let healthy = h.enroll("KIOSK-OK").await;
    h.enroll("KIOSK-NEVER").await;
    let mut out_of_paper = report(vn_now());
    out_of_paper.printer = Some(PrinterHealth {
        condition: PrinterCondition::OutOfPaper,
        detail: "lỗi / fault: hết giấy / out of paper".into(),
    });
    let mut old_entry = report(vn_now());
    old_entry.outbox_pending = 4;
    old_entry.oldest_undelivered_s = Some(2 * 3600);
    // The kiosk's clock is ten minutes behind the gateway's when it sends.
    let behind = report(vn_now() - chrono::Duration::minutes(10));
    for (cred, key, body) in [
        (&paper, "p-1", &out_of_paper),
        (&stuck, "s-1", &old_entry),
        (&skewed, "c-1", &behind),
        (&healthy, "o-1", &report(vn_now())),
    ] {
        let r = h
            .post_json("/v1/health-reports", cred, Some(key), body)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{key}");
    }
    let view = fleet(&h).await;
    let flags = |id: &str| device(&view, id)["flags"].clone();
    assert_eq!(flags("KIOSK-PAPER"), serde_json::json!(["out_of_paper"]));
    assert_eq!(flags("KIOSK-STUCK"), serde_json::json!(["stuck_outbox"]));
    assert_eq!(flags("KIOSK-CLOCK"), serde_json::json!(["clock_skew"]));
    let offset = device(&view, "KIOSK-CLOCK")["clock_offset_s"]
        .as_i64()
        .expect("offset");
    assert!(
        (-660..=-540).contains(&offset),
        "about ten minutes behind: {offset}"
    );
    assert_eq!(flags("KIOSK-OK"), serde_json::json!([]));
    assert_eq!(flags("KIOSK-NEVER"), serde_json::json!([]));
    // With a silent setting of nothing at all, everyone is silent: the flag reads the
    // setting, and a device is silent whether or not it ever reported.
    h.reboot_with(|c| c.fleet.silent_after = Duration::ZERO)
        .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let view = fleet(&h).await;
    assert_eq!(view["silent_after_s"], 0);
    for id in ["KIOSK-OK", "KIOSK-NEVER"] {
        assert_eq!(
            device(&view, id)["flags"],
            serde_json::json!(["silent"]),
            "{id}"
        );
    }
    assert_eq!(
        device(&view, "KIOSK-PAPER")["flags"],
        serde_json::json!(["silent", "out_of_paper"])
    );
    h.finish().await;
}

/// A kiosk offline for three days: its one waiting report was made then, and is sent now with
/// a fresh `sent_at`. The fleet shows the report as it was made (its numbers and its last
/// self-test of three days ago), flags the three-day-old undelivered entry, and neither a
/// wrong clock (the kiosk's clock is right when it sends) nor silence (it was just heard).
async fn a_report_made_days_ago_arrives_after_days_offline(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-BACK").await;
    let now = vn_now();
    let made = now - chrono::Duration::days(3);
    let mut waited = report(now);
    waited.generated_at = made;
    waited.outbox_pending = 12;
    waited.oldest_undelivered_s = Some(3 * 24 * 3600);
    waited.last_self_test = Some(motcua_domain::wire::SelfTestSummary {
        at: made - chrono::Duration::hours(1),
        passed: false,
        failed: vec!["printer".into()],
    });
    let r = h
        .post_json("/v1/health-reports", &kiosk, Some("back-1"), &waited)
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let view = fleet(&h).await;
    let entry = device(&view, "KIOSK-BACK");
    assert_eq!(
        entry["flags"],
        serde_json::json!(["stuck_outbox"]),
        "{entry}"
    );
    let offset = entry["clock_offset_s"].as_i64().expect("offset");
    assert!(
        offset.abs() < 60,
        "the clock is right when it sends: {offset}"
    );
    let generated = DateTime::parse_from_rfc3339(
        entry["report"]["generated_at"]
            .as_str()
            .expect("generated_at"),
    )
    .expect("RFC 3339");
    assert_eq!(generated, made, "the report is shown as it was made");
    assert_eq!(entry["report"]["outbox_pending"], 12);
    assert_eq!(entry["report"]["last_self_test"]["passed"], false);
    assert_eq!(
        entry["report"]["last_self_test"]["failed"],
        serde_json::json!(["printer"])
    );
    h.finish().await;
}

scenarios!(
    health_report_ingest_is_idempotent_and_bound_to_the_certificate,
    the_fleet_flags_paper_stuck_outboxes_wrong_clocks_and_silence,
    a_report_made_days_ago_arrives_after_days_offline,
);
