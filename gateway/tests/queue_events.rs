//! A centre's hub delivers its queue outbox over HTTPS on loopback with its device certificate,
//! against both storage backends (issue #18): a batch stored once and a resend all duplicates,
//! every event filed under the certificate's site whatever the body says, the same key at two
//! sites two events, a day report replaced by its later version, role certificates refused,
//! bad batches refused whole, and the day reports read back by the province's operators.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::wire::hub::{
    QueueEvent, QueueEventBatch, QueueEventsAccepted, MAX_QUEUE_EVENTS, MAX_QUEUE_EVENT_PAYLOAD,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const OTHER: &str = "000.00.14.H56";
const DAY: &str = "2026-12-03";

fn event(key: &str, kind: &str, ticket: &str, payload: Value) -> QueueEvent {
    QueueEvent {
        key: key.into(),
        kind: kind.into(),
        ticket_id: ticket.into(),
        payload,
    }
}

/// A morning's events of one ticket.
fn morning() -> Vec<QueueEvent> {
    let t = "TP-20261203-0001@HUB-1";
    vec![
        event(&format!("issued:{t}"), "issued", t, json!({"number": 1})),
        event(
            &format!("called:{t}:1"),
            "called",
            t,
            json!({"counter": "Q1"}),
        ),
        event(
            &format!("finished:{t}"),
            "finished",
            t,
            json!({"counter": "Q1"}),
        ),
    ]
}

fn report(counter: &str, served: u32) -> QueueEvent {
    event(
        &format!("report:{DAY}:{counter}"),
        "day_report",
        DAY,
        json!({"counter": counter, "served": served}),
    )
}

async fn post(h: &Harness, cred: Option<&Cred>, body: &impl serde::Serialize) -> reqwest::Response {
    h.req(Method::POST, "/v1/queue/events", cred)
        .json(body)
        .send()
        .await
        .expect("post queue events")
}

async fn accepted(h: &Harness, cred: &Cred, events: Vec<QueueEvent>) -> QueueEventsAccepted {
    let r = post(h, Some(cred), &QueueEventBatch { events }).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("QueueEventsAccepted")
}

async fn reports(h: &Harness, cred: &Cred, site: &str, day: &str) -> reqwest::Response {
    h.req(Method::GET, "/v1/queue/reports", Some(cred))
        .query(&[("site", site), ("day", day)])
        .send()
        .await
        .expect("get queue reports")
}

/// `(site, key, device, kind, payload)` of every stored event, read from the database itself.
async fn stored(h: &Harness) -> Vec<(String, String, String, String, Value)> {
    const SQL: &str = "SELECT site, event_key, device_id, kind, payload FROM queue_events
                       ORDER BY site, event_key";
    let rows: Vec<(String, String, String, String, String)> = match &h.pg {
        None => {
            let conn = rusqlite::Connection::open(h.dir.path().join("gateway.sqlite3"))
                .expect("open the SQLite file");
            let mut stmt = conn.prepare(SQL).expect("prepare");
            stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
        }
        Some(pg) => {
            let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            let task = tokio::spawn(conn);
            let rows = client
                .query(SQL, &[])
                .await
                .expect("rows")
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect();
            drop(client);
            let _ = task.await;
            rows
        }
    };
    rows.into_iter()
        .map(|(s, k, d, kind, p)| (s, k, d, kind, serde_json::from_str(&p).expect("JSON")))
        .collect()
}

async fn a_batch_is_stored_once_and_a_resend_is_all_duplicates(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let hub = h.enroll("HUB-1").await;
    let got = accepted(&h, &hub, morning()).await;
    assert_eq!(
        got,
        QueueEventsAccepted {
            stored: 3,
            duplicates: 0
        }
    );
    // The answer was lost: the hub sends the batch again, and then once more with one new
    // event after it (and a changed payload under a stored key, which stays as first stored).
    let got = accepted(&h, &hub, morning()).await;
    assert_eq!((got.stored, got.duplicates), (0, 3));
    let mut again = morning();
    again[0].payload = json!({"number": 99});
    again.push(event(
        "rated:X@HUB-1",
        "rated",
        "X@HUB-1",
        json!({"level": 1}),
    ));
    let got = accepted(&h, &hub, again).await;
    assert_eq!((got.stored, got.duplicates), (1, 3));

    let rows = stored(&h).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(
        rows.iter()
            .all(|(site, _, device, _, _)| site == SITE && device == "HUB-1"),
        "{rows:?}"
    );
    let issued = rows
        .iter()
        .find(|r| r.1.starts_with("issued:"))
        .expect("issued");
    assert_eq!(issued.4, json!({"number": 1}));
    h.finish().await;
}

async fn every_event_is_filed_under_the_certificates_site(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let hub = h.enroll("HUB-1").await;
    let elsewhere = h.enroll_at("HUB-X", OTHER).await;
    // A body claiming another site: the claim is not part of the protocol and changes nothing.
    let mut claim = serde_json::to_value(QueueEventBatch {
        events: vec![report("Q1", 10)],
    })
    .expect("JSON");
    claim["site"] = json!(OTHER);
    claim["events"][0]["site"] = json!(OTHER);
    let r = post(&h, Some(&hub), &claim).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The same key from another site's hub is that site's event.
    let got = accepted(&h, &elsewhere, vec![report("Q1", 3)]).await;
    assert_eq!((got.stored, got.duplicates), (1, 0));
    let got = accepted(&h, &hub, morning()).await;
    assert_eq!(got.stored, 3);
    let got = accepted(&h, &elsewhere, morning()).await;
    assert_eq!((got.stored, got.duplicates), (3, 0));

    let rows = stored(&h).await;
    assert_eq!(rows.len(), 8, "{rows:?}");
    for (site, device) in [(SITE, "HUB-1"), (OTHER, "HUB-X")] {
        let of_site: Vec<_> = rows.iter().filter(|r| r.0 == site).collect();
        assert_eq!(of_site.len(), 4, "{rows:?}");
        assert!(of_site.iter().all(|r| r.2 == device), "{rows:?}");
    }
    // Each site's reports are its own.
    for (site, served) in [(SITE, 10), (OTHER, 3)] {
        let r = reports(&h, &h.system, site, DAY).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.expect("reports");
        assert_eq!(v["site"], site);
        assert_eq!(v["reports"].as_array().map(Vec::len), Some(1), "{v}");
        assert_eq!(v["reports"][0]["payload"]["served"], served, "{v}");
    }
    h.finish().await;
}

async fn a_day_report_is_replaced_by_its_later_version(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let hub = h.enroll("HUB-1").await;
    let got = accepted(&h, &hub, vec![report("Q1", 4), report("Q2", 1)]).await;
    assert_eq!((got.stored, got.duplicates), (2, 0));
    // The day went on: Q1's report again, grown, with the morning's events.
    let mut later = morning();
    later.push(report("Q1", 9));
    let got = accepted(&h, &hub, later).await;
    assert_eq!((got.stored, got.duplicates), (4, 0));

    let r = reports(&h, &h.technician, SITE, DAY).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("reports");
    let list = v["reports"].as_array().expect("reports");
    assert_eq!(list.len(), 2, "{v}");
    assert_eq!(list[0]["key"], format!("report:{DAY}:Q1"));
    assert_eq!(list[0]["payload"], json!({"counter": "Q1", "served": 9}));
    assert_eq!(list[0]["device_id"], "HUB-1");
    assert_eq!(list[1]["payload"]["served"], 1);
    // Another day has none; a day that is not a date is refused.
    let r = reports(&h, &h.technician, SITE, "2026-12-04").await;
    let v: Value = r.json().await.expect("reports");
    assert_eq!(v["reports"], json!([]));
    let r = reports(&h, &h.technician, SITE, "03/12/2026").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_query");
    // Only the report rows were replaced, each once.
    assert_eq!(stored(&h).await.len(), 5);
    h.finish().await;
}

async fn only_a_device_posts_events_and_only_operators_read_reports(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let hub = h.enroll("HUB-1").await;
    let batch = QueueEventBatch { events: morning() };
    for role in [&h.system, &h.technician, &h.auditor] {
        let r = post(&h, Some(role), &batch).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "forbidden_role");
    }
    let r = post(&h, None, &batch).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "certificate_required");
    assert!(stored(&h).await.is_empty());

    for cred in [&hub, &h.auditor] {
        let r = reports(&h, cred, SITE, DAY).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "forbidden_role");
    }
    for cred in [&h.system, &h.technician] {
        assert_eq!(reports(&h, cred, SITE, DAY).await.status(), StatusCode::OK);
    }
    h.finish().await;
}

async fn a_bad_batch_is_refused_whole(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let hub = h.enroll("HUB-1").await;
    // Each bad batch starts with good events, which must not be stored either.
    let with = |bad: QueueEvent| {
        let mut events = morning();
        events.push(bad);
        json!({ "events": events })
    };
    let t = "TP-20261203-0002@HUB-1";
    let big = json!({"note": "x".repeat(MAX_QUEUE_EVENT_PAYLOAD)});
    let many: Vec<QueueEvent> = (0..=MAX_QUEUE_EVENTS)
        .map(|i| event(&format!("issued:{i}"), "issued", t, json!({})))
        .collect();
    let cases = [
        (
            json!({ "events": many }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
        ),
        (
            json!({ "events": [] }),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({ "event": [] }),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            with(event("k:1", "served", t, json!({}))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            with(event("k:2", "issued", t, json!([1, 2]))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            with(event("k:3", "issued", t, json!("text"))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            with(event("", "issued", t, json!({}))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            with(event("k:4", "issued", t, big)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
        ),
        (
            with(event(&"k".repeat(201), "issued", t, json!({}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
        ),
        (
            with(event("report:2026-12-04:Q1", "day_report", DAY, json!({}))),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            with(event(
                "report:tomorrow",
                "day_report",
                "tomorrow",
                json!({}),
            )),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
    ];
    for (body, status, code) in cases {
        let r = post(&h, Some(&hub), &body).await;
        assert_eq!(r.status(), status, "{code}");
        let v: Value = r.json().await.expect("ApiError");
        assert_eq!(v["error"], code, "{v}");
        if code == "invalid_event" || code == "event_too_large" {
            let message = v["message"].as_str().unwrap_or_default();
            assert!(message.contains("event 3"), "{message}");
        }
    }
    assert!(stored(&h).await.is_empty());
    // The largest payload allowed is stored.
    let most = "x".repeat(MAX_QUEUE_EVENT_PAYLOAD - r#"{"note":""}"#.len());
    let got = accepted(
        &h,
        &hub,
        vec![event("k:5", "issued", t, json!({"note": most}))],
    )
    .await;
    assert_eq!(got.stored, 1);
    h.finish().await;
}

scenarios!(
    a_batch_is_stored_once_and_a_resend_is_all_duplicates,
    every_event_is_filed_under_the_certificates_site,
    a_day_report_is_replaced_by_its_later_version,
    only_a_device_posts_events_and_only_operators_read_reports,
    a_bad_batch_is_refused_whole,
);
