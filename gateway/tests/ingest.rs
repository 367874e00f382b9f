//! Idempotent ingest over HTTPS on loopback, against both storage backends: dossiers,
//! digitized documents, ratings and tickets stored exactly once (retries, racing retries),
//! dossier status, garbage bodies, and a device delivering only its own site's records.
//! The harness (a throwaway CA, clients with client certificates) is in `harness/`.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::wire::{DossierStatusView, IngestAck};
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn dossier_ingest_exactly_once(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let a = blob(3000, 11);
    let b = blob(2000, 12);
    h.upload_all(&token, &a).await;

    // b is not uploaded yet: refused, nothing stored.
    let d = dossier(
        "KIOSK-1",
        "000.17.22.H56-260531-0001",
        vec![document(&a), document(&b)],
    );
    let r = h.post_json("/v1/dossiers", &token, Some("key-1"), &d).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.expect("error");
    assert_eq!(v["error"], "missing_blobs");
    let msg = v["message"].as_str().expect("message");
    assert!(
        msg.contains(&sha_hex(&b)) && !msg.contains(&sha_hex(&a)),
        "{msg}"
    );
    assert_eq!(h.stats().await["dossiers"], 0);

    h.upload_all(&token, &b).await;
    // Missing Idempotency-Key: 400.
    let r = h.post_json("/v1/dossiers", &token, None, &d).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "missing_idempotency_key");

    let r = h.post_json("/v1/dossiers", &token, Some("key-1"), &d).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ack: IngestAck = r.json().await.expect("ack");
    assert_eq!(
        ack,
        IngestAck {
            idempotency_key: "key-1".into(),
            duplicate: false
        }
    );
    // The retry after a lost answer.
    let r = h.post_json("/v1/dossiers", &token, Some("key-1"), &d).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<IngestAck>().await.expect("ack").duplicate);
    // Same key, different body.
    let mut changed = d.clone();
    changed.applicant.phone = "0911111111".into();
    let r = h
        .post_json("/v1/dossiers", &token, Some("key-1"), &changed)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "idempotency_key_reused");
    // Same code under another key.
    let r = h.post_json("/v1/dossiers", &token, Some("key-2"), &d).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "conflict");
    // A body naming another device.
    let other = h.enroll("KIOSK-2").await;
    let r = h
        .post_json(
            "/v1/dossiers",
            &other,
            Some("key-3"),
            &dossier("KIOSK-1", "X-2", vec![]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let s = h.stats().await;
    assert_eq!(
        (
            s["dossiers"].as_i64(),
            s["documents"].as_i64(),
            s["blobs"].as_i64()
        ),
        (Some(1), Some(2), Some(2))
    );
    h.finish().await;
}

fn digitized(code: &str, index: u32, data: &[u8]) -> motcua_domain::wire::DigitizedDocument {
    motcua_domain::wire::DigitizedDocument {
        document_code: code.into(),
        document_index: index,
        name: format!("Giấy tờ {index}"),
        media_type: "application/pdf".into(),
        pages: 2,
        size: data.len() as u64,
        sha256: sha_hex(data),
    }
}

/// Documents digitized at intake are added to a stored dossier exactly once: unknown dossiers
/// and missing blobs are refused without storing anything, retries are acknowledged as
/// duplicates, and a document code is never stored twice.
async fn digitized_documents_exactly_once(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let code = "000.17.22.H56-260531-0007";
    let a = blob(4000, 21);
    let b = blob(1000, 22);
    h.upload_all(&token, &a).await;
    let path = format!("/v1/dossiers/{code}/documents");
    let docs = motcua_domain::wire::DigitizedDocuments {
        dossier_code: code.into(),
        device_id: "KIOSK-1".into(),
        digitized_at: vn_time(),
        documents: vec![
            digitized(&format!("{code}-01"), 1, &a),
            digitized(&format!("{code}-02"), 2, &b),
        ],
    };
    // The dossier is not stored yet.
    let r = h.post_json(&path, &token, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "unknown_dossier");
    let r = h
        .post_json(
            "/v1/dossiers",
            &token,
            Some("d-1"),
            &dossier("KIOSK-1", code, vec![]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // b is not uploaded.
    let r = h.post_json(&path, &token, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "missing_blobs");
    assert_eq!(h.stats().await["digitized_documents"], 0);
    h.upload_all(&token, &b).await;
    // Path and body disagree.
    let r = h
        .post_json(
            "/v1/dossiers/000.17.22.H56-260531-0008/documents",
            &token,
            Some("docs-x"),
            &docs,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = h.post_json(&path, &token, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = h.post_json(&path, &token, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<IngestAck>().await.expect("ack").duplicate);
    // The same document code again under another key.
    let mut again = docs.clone();
    again.documents.truncate(1);
    let r = h.post_json(&path, &token, Some("docs-2"), &again).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "conflict");
    assert_eq!(h.stats().await["digitized_documents"], 2);

    // The province sees them with the dossier; devices do not.
    let r = h
        .req(
            Method::POST,
            &format!("/v1/admin/dossiers/{code}/status"),
            Some(&h.system),
        )
        .json(&serde_json::json!({"status": "processing"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status(), StatusCode::OK);
    let view: motcua_domain::wire::DossierStatusView = r.json().await.expect("view");
    assert_eq!(view.digitized, docs.documents);
    let r = h.lookup(&token, code, SECRET).await;
    let view: motcua_domain::wire::DossierStatusView = r.json().await.expect("view");
    assert!(view.digitized.is_empty());
    h.finish().await;
}

/// Retries racing each other (two uplink workers, a retry while the first answer is in flight)
/// still store exactly one copy.
async fn concurrent_retries_store_one_copy(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let t = ticket("KIOSK-1", "HT-20260531-5@KIOSK-1", 5);
    let same_key = futures_util::future::join_all(
        (0..8).map(|_| h.post_json("/v1/tickets", &token, Some("race-1"), &t)),
    )
    .await;
    let mut codes: Vec<u16> = same_key.iter().map(|r| r.status().as_u16()).collect();
    codes.sort();
    assert_eq!(codes, vec![200, 200, 200, 200, 200, 200, 200, 201]);

    let keys: Vec<String> = (0..8).map(|i| format!("rate-{i}")).collect();
    let r = rating("KIOSK-1", "HT-20260531-5@KIOSK-1", 1);
    let other_keys = futures_util::future::join_all(
        keys.iter()
            .map(|k| h.post_json("/v1/ratings", &token, Some(k), &r)),
    )
    .await;
    let mut codes: Vec<u16> = other_keys.iter().map(|r| r.status().as_u16()).collect();
    codes.sort();
    assert_eq!(codes, vec![201, 409, 409, 409, 409, 409, 409, 409]);
    let s = h.stats().await;
    assert_eq!(
        (s["tickets"].as_i64(), s["ratings"].as_i64()),
        (Some(1), Some(1))
    );
    h.finish().await;
}

async fn ratings_one_per_transaction(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    // A rating rates a ticket (or dossier) the gateway holds at the site.
    for n in [7, 8] {
        let id = format!("HT-20260531-{n}@KIOSK-1");
        let r = h
            .post_json("/v1/tickets", &token, Some(&id), &ticket("KIOSK-1", &id, n))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", "HT-20260531-7@KIOSK-1", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", "HT-20260531-7@KIOSK-1", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<IngestAck>().await.expect("ack").duplicate);
    // Ballot stuffing: a second rating of the same transaction under a new key.
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-2"),
            &rating("KIOSK-1", "HT-20260531-7@KIOSK-1", 5),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "already_rated");
    // Out of range.
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-3"),
            &rating("KIOSK-1", "HT-20260531-8@KIOSK-1", 6),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-4"),
            &rating("KIOSK-1", "HT-20260531-8@KIOSK-1", 2),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(h.stats().await["ratings"], 2);
    h.finish().await;
}

async fn tickets_ingest(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let t = ticket("KIOSK-1", "HT-20260531-1@KIOSK-1", 1);
    let r = h.post_json("/v1/tickets", &token, Some("t-1"), &t).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = h.post_json("/v1/tickets", &token, Some("t-1"), &t).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = h.post_json("/v1/tickets", &token, Some("t-2"), &t).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "conflict");
    // A key used for a ticket cannot be reused for a rating.
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("t-1"),
            &rating("KIOSK-1", "HT-20260531-1@KIOSK-1", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "idempotency_key_reused");
    let s = h.stats().await;
    assert_eq!(
        (s["tickets"].as_i64(), s["ratings"].as_i64()),
        (Some(1), Some(0))
    );
    h.finish().await;
}

async fn status_lookup_and_admin_change(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(1234, 5);
    h.upload_all(&token, &data).await;
    let code = "000.17.22.H56-260531-0002";
    let r = h
        .post_json(
            "/v1/dossiers",
            &token,
            Some("k"),
            &dossier("KIOSK-1", code, vec![document(&data)]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = h.lookup(&token, code, SECRET).await;
    assert_eq!(r.status(), StatusCode::OK);
    let view: DossierStatusView = r.json().await.expect("view");
    assert_eq!(view.code, code);
    assert_eq!(view.procedure_code, "1.001193");
    assert_eq!(view.status, motcua_domain::wire::DossierStatus::Submitted);
    assert_eq!(view.status_code, 1);
    assert_eq!(
        view.appointment_date,
        chrono::NaiveDate::from_ymd_opt(2026, 6, 5).expect("date")
    );
    assert!(view.documents.is_empty(), "devices get no document list");

    let r = h.lookup(&token, "000.17.22.H56-260531-9999", SECRET).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let path = format!("/v1/admin/dossiers/{code}/status");
    let r = h
        .req(Method::POST, &path, Some(&token))
        .json(&serde_json::json!({"status": "processing"}))
        .send()
        .await
        .expect("set");
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a device cannot change statuses"
    );
    assert_eq!(error_code(r).await, "forbidden_role");
    let r = h
        .req(Method::POST, &path, Some(&h.system))
        .json(&serde_json::json!({"status": "processing"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status(), StatusCode::OK);
    let view: DossierStatusView = r.json().await.expect("view");
    assert_eq!(
        (view.status_code, view.status),
        (4, motcua_domain::wire::DossierStatus::Processing)
    );
    let r = h
        .req(Method::POST, &path, Some(&h.system))
        .json(&serde_json::json!({"status": "flying"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = h
        .req(
            Method::POST,
            "/v1/admin/dossiers/NOPE/status",
            Some(&h.system),
        )
        .json(&serde_json::json!({"status": "accepted"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = h.lookup(&token, code, SECRET).await;
    let view: DossierStatusView = r.json().await.expect("view");
    assert_eq!(view.status, motcua_domain::wire::DossierStatus::Processing);
    h.finish().await;
}

async fn garbage_json_is_a_400(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    for path in ["/v1/dossiers", "/v1/ratings", "/v1/tickets"] {
        for body in ["{not json", "[]", "{\"code\": 5}", ""] {
            let r = h
                .req(Method::POST, path, Some(&token))
                .header("Idempotency-Key", "g")
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {body}");
            assert_eq!(error_code(r).await, "invalid_json");
        }
    }
    let r = h
        .req(Method::POST, "/v1/devices/enroll", None)
        .body("\u{0}garbage")
        .send()
        .await
        .expect("enroll");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Just over the 1 MiB JSON limit. Not far over: the gateway answers 413 without reading
    // the rest and closes, and a body much larger than the loopback socket buffers would then
    // fail to send (a broken pipe) before the answer is read.
    let big = vec![b' '; motcua_gateway::MAX_JSON_BYTES + 16];
    let r = h
        .req(Method::POST, "/v1/tickets", Some(&token))
        .header("Idempotency-Key", "big")
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let s = h.stats().await;
    assert_eq!(
        (
            s["dossiers"].as_i64(),
            s["ratings"].as_i64(),
            s["tickets"].as_i64()
        ),
        (Some(0), Some(0), Some(0))
    );
    h.finish().await;
}

/// A device delivers only its own site's records: a dossier whose agency code is not the
/// certificate's site is refused, and digitized documents are added only to a dossier received
/// at the certificate's site (by any device of that site).
async fn a_device_delivers_only_its_own_sites_records(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    const OTHER: &str = "000.00.14.H56";
    let kiosk = h.enroll("KIOSK-1").await;
    let code = "000.17.22.H56-260531-0101";
    let mut foreign = dossier("KIOSK-1", code, vec![]);
    foreign.agency_code = OTHER.into();
    let r = h
        .post_json("/v1/dossiers", &kiosk, Some("d-site-1"), &foreign)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "site_mismatch");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains(SITE) && message.contains(OTHER),
        "the refusal names both sites: {message}"
    );
    assert_eq!(h.stats().await["dossiers"], 0);
    let r = h
        .post_json(
            "/v1/dossiers",
            &kiosk,
            Some("d-site-2"),
            &dossier("KIOSK-1", code, vec![]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Documents for that dossier from a station of another site: refused, nothing stored.
    let elsewhere = h.enroll_at("INTAKE-9", OTHER).await;
    let data = blob(2_000, 41);
    h.upload_all(&elsewhere, &data).await;
    let docs = |device: &str| motcua_domain::wire::DigitizedDocuments {
        dossier_code: code.into(),
        device_id: device.into(),
        digitized_at: vn_time(),
        documents: vec![digitized(&format!("{code}-01"), 1, &data)],
    };
    let path = format!("/v1/dossiers/{code}/documents");
    let r = h
        .post_json(&path, &elsewhere, Some("docs-site-1"), &docs("INTAKE-9"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "site_mismatch");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains(SITE) && message.contains(OTHER) && message.contains(code),
        "{message}"
    );
    assert_eq!(h.stats().await["digitized_documents"], 0);
    // An intake station of the dossier's own site may add them, once it uploaded the bytes
    // itself (the other site's copy of the same blob is not its site's).
    let intake = h.enroll("INTAKE-1").await;
    let r = h
        .post_json(&path, &intake, Some("docs-site-2"), &docs("INTAKE-1"))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "missing_blobs");
    h.upload_all(&intake, &data).await;
    let r = h
        .post_json(&path, &intake, Some("docs-site-2"), &docs("INTAKE-1"))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(h.stats().await["digitized_documents"], 1);
    h.finish().await;
}

scenarios!(
    dossier_ingest_exactly_once,
    digitized_documents_exactly_once,
    concurrent_retries_store_one_copy,
    ratings_one_per_transaction,
    tickets_ingest,
    status_lookup_and_admin_change,
    garbage_json_is_a_400,
    a_device_delivers_only_its_own_sites_records,
);
