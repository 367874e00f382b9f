//! Authorization by site (issue 14, item 1), over HTTPS against both backends: a device of one
//! site cannot read another site's dossier status, write under another device's idempotency
//! keys, squat dossier codes or ticket ids that are not its own, add documents to another
//! site's dossier, cite another site's blobs, or rate what does not exist; and the honest path
//! of each (own code in own block, own documents, a replayed post) still works.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::provisioning::{SequenceBlock, SequenceBlocks};
use motcua_domain::wire::{DigitizedDocument, DigitizedDocuments, IngestAck};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Another site of the province.
const OTHER: &str = "000.00.14.H56";

/// A code of the harness's site dated today (Vietnam time) with sequence number `n`.
fn code(n: u16) -> String {
    let today = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    format!("{SITE}-{}-{n:04}", today.format("%y%m%d"))
}

/// One more block for `cred`'s device; all its live blocks.
async fn allocate(h: &Harness, cred: &Cred) -> Vec<SequenceBlock> {
    let r = h
        .req(Method::POST, "/v1/devices/sequence-blocks", Some(cred))
        .send()
        .await
        .expect("blocks");
    assert_eq!(r.status(), StatusCode::OK);
    r.json::<SequenceBlocks>().await.expect("blocks").blocks
}

async fn post_dossier(h: &Harness, cred: &Cred, device: &str, code: &str) -> reqwest::Response {
    h.post_json(
        "/v1/dossiers",
        cred,
        Some(&format!("d:{code}")),
        &dossier(device, code, vec![]),
    )
    .await
}

/// The status of `code` as `cred`'s device reads it: HTTP status and body.
async fn status_of(h: &Harness, cred: &Cred, code: &str) -> (StatusCode, String) {
    let r = h.lookup(cred, code, SECRET).await;
    (r.status(), r.text().await.expect("body"))
}

/// A code is the device's: its site's prefix, a number of its blocks (live, or retired that
/// day); a device enrolled without blocks may use numbers no other device of the site was given.
async fn dossier_codes_are_the_devices_own(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let legacy = h.enroll("KIOSK-L").await;
    let blocks = allocate(&h, &a).await;
    let block = blocks[0];

    // Honest: a number of its block.
    let r = post_dossier(&h, &a, "KIOSK-A", &code(block.first)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // A number outside its blocks.
    let outside = block.last + 1;
    let r = post_dossier(&h, &a, "KIOSK-A", &code(outside)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "code_not_yours");
    let message = v["message"].as_str().unwrap_or("");
    assert!(
        message.contains("mã hồ sơ") && message.contains("is not this device's"),
        "Vietnamese first, then English: {message}"
    );
    // The legacy device may not take a number of A's block, but one of no block is fine.
    let r = post_dossier(&h, &legacy, "KIOSK-L", &code(block.first + 1)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "code_not_yours");
    assert!(v["message"].as_str().unwrap_or("").contains("KIOSK-A"));
    let r = post_dossier(&h, &legacy, "KIOSK-L", &code(outside)).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // A retired block's numbers were the device's: still accepted.
    h.exec_sql(&format!(
        "UPDATE sequence_blocks SET retired_at = '{}'",
        chrono::Utc::now()
            .with_timezone(&motcua_domain::vietnam_offset())
            .to_rfc3339()
    ))
    .await;
    let r = post_dossier(&h, &a, "KIOSK-A", &code(block.first + 2)).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Another site's prefix, with the agency code claimed right or wrong.
    let elsewhere = h.enroll_at("KIOSK-X", OTHER).await;
    let mut d = dossier("KIOSK-X", &code(9000), vec![]);
    d.agency_code = OTHER.into();
    let r = h
        .post_json("/v1/dossiers", &elsewhere, Some("x-1"), &d)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "code_not_yours");
    let r = post_dossier(&h, &elsewhere, "KIOSK-X", &code(9001)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "site_mismatch");
    // Not a dossier code at all.
    let d = dossier("KIOSK-A", "NOT-A-CODE", vec![]);
    let r = h.post_json("/v1/dossiers", &a, Some("bad"), &d).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_body");
    assert_eq!(h.stats().await["dossiers"], 3);
    h.finish().await;
}

/// Keys are per device: B posting under A's key is B's own record, neither blocking A nor
/// answered with A's; each device's replay is its duplicate.
async fn idempotency_keys_are_per_device(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let b = h.enroll("KIOSK-B").await;
    let key = "KIOSK-A:ticket:HT-20260531-1@KIOSK-A";
    // B takes A's key first.
    let tb = ticket("KIOSK-B", "HT-20260531-1@KIOSK-B", 1);
    let r = h.post_json("/v1/tickets", &b, Some(key), &tb).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // A's real delivery under its key is stored, not a duplicate nor a reuse.
    let ta = ticket("KIOSK-A", "HT-20260531-1@KIOSK-A", 1);
    let r = h.post_json("/v1/tickets", &a, Some(key), &ta).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ack: IngestAck = r.json().await.expect("ack");
    assert!(!ack.duplicate);
    // Each replay is its device's duplicate.
    for (cred, body) in [(&a, &ta), (&b, &tb)] {
        let r = h.post_json("/v1/tickets", cred, Some(key), body).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.json::<IngestAck>().await.expect("ack").duplicate);
    }
    // Within its namespace a device still cannot reuse a key for another body.
    let other = ticket("KIOSK-A", "HT-20260531-2@KIOSK-A", 2);
    let r = h.post_json("/v1/tickets", &a, Some(key), &other).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "idempotency_key_reused");
    assert_eq!(h.stats().await["tickets"], 2);
    // Health reports too: B reporting under A's key does not make A's report fail.
    let report = serde_json::json!({
        "software_version": "0.1.0",
        "generated_at": "2026-05-31T09:14:30+07:00",
        "sent_at": "2026-05-31T09:15:00+07:00",
        "uptime_s": 60,
        "outbox_pending": 0,
        "needs_technician": 0,
        "set_aside": 0,
        "disk_floor_bytes": 1,
    });
    for cred in [&b, &a] {
        let r = h
            .post_json(
                "/v1/health-reports",
                cred,
                Some("KIOSK-A:health:1"),
                &report,
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    h.finish().await;
}

/// A ticket is issued at the device's site: by itself or another device of its site.
async fn tickets_are_issued_at_the_site(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    h.enroll("HUB-1").await;
    h.enroll_at("KIOSK-X", OTHER).await;
    for (id, status, error) in [
        (
            "HT-20260531-1@KIOSK-X",
            StatusCode::FORBIDDEN,
            "ticket_not_yours",
        ),
        (
            "HT-20260531-1@NOBODY",
            StatusCode::FORBIDDEN,
            "ticket_not_yours",
        ),
        ("HT-20260531-1", StatusCode::BAD_REQUEST, "invalid_body"),
        ("HT-20260531-1@", StatusCode::BAD_REQUEST, "invalid_body"),
    ] {
        let r = h
            .post_json("/v1/tickets", &a, Some(id), &ticket("KIOSK-A", id, 1))
            .await;
        assert_eq!(r.status(), status, "{id}");
        assert_eq!(error_code(r).await, error, "{id}");
    }
    for id in ["HT-20260531-1@KIOSK-A", "HT-20260531-1@HUB-1"] {
        let r = h
            .post_json("/v1/tickets", &a, Some(id), &ticket("KIOSK-A", id, 1))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{id}");
    }
    assert_eq!(h.stats().await["tickets"], 2);
    h.finish().await;
}

/// A rating rates a dossier or ticket of the site that the gateway holds, once; anything else
/// is `rated_target_unknown` (a 404 the kiosk retries, so a ticket still on its way from
/// another kiosk of the centre is not lost), and another site's reads the same.
async fn ratings_rate_only_what_the_site_holds(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let entrance = h.enroll("KIOSK-E").await;
    let x = h.enroll_at("KIOSK-X", OTHER).await;
    let own = code(1);
    assert_eq!(
        post_dossier(&h, &a, "KIOSK-A", &own).await.status(),
        StatusCode::CREATED
    );
    let foreign_ticket = "HT-20260531-3@KIOSK-X";
    let r = h
        .post_json(
            "/v1/tickets",
            &x,
            Some("t-x"),
            &ticket("KIOSK-X", foreign_ticket, 3),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Not stored anywhere; another site's ticket; the same site's code by another site.
    for (target, key) in [
        (code(77), "r-1"),
        (foreign_ticket.to_string(), "r-2"),
        ("HT-20260531-9@KIOSK-E".to_string(), "r-3"),
    ] {
        let r = rate(&h, &a, "KIOSK-A", key, &target).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{target}");
        assert_eq!(error_code(r).await, "rated_target_unknown", "{target}");
    }
    let r = rate(&h, &x, "KIOSK-X", "r-4", &own).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "rated_target_unknown");

    // The entrance kiosk's ticket arrives: the retried rating is stored now.
    let r = h
        .post_json(
            "/v1/tickets",
            &entrance,
            Some("t-e"),
            &ticket("KIOSK-E", "HT-20260531-9@KIOSK-E", 9),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = rate(&h, &a, "KIOSK-A", "r-3", "HT-20260531-9@KIOSK-E").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The own dossier, once.
    let r = rate(&h, &a, "KIOSK-A", "r-5", &own).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = rate(&h, &a, "KIOSK-A", "r-5", &own).await;
    assert_eq!(r.status(), StatusCode::OK, "the replay is a duplicate");
    let r = rate(&h, &entrance, "KIOSK-E", "r-6", &own).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "already_rated");
    assert_eq!(h.stats().await["ratings"], 2);
    h.finish().await;
}

async fn rate(
    h: &Harness,
    cred: &Cred,
    device: &str,
    key: &str,
    target: &str,
) -> reqwest::Response {
    h.post_json("/v1/ratings", cred, Some(key), &rating(device, target, 1))
        .await
}

/// Devices read the status of their own site's dossiers only; another site's code answers
/// exactly like an unknown one.
async fn status_reads_stay_within_the_site(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let b = h.enroll("KIOSK-B").await;
    let x = h.enroll_at("KIOSK-X", OTHER).await;
    let stored = code(5);
    assert_eq!(
        post_dossier(&h, &a, "KIOSK-A", &stored).await.status(),
        StatusCode::CREATED
    );
    // Any device of the site reads it.
    for cred in [&a, &b] {
        assert_eq!(status_of(&h, cred, &stored).await.0, StatusCode::OK);
    }
    let unknown = code(6);
    let (s_known, body_known) = status_of(&h, &x, &stored).await;
    let (s_unknown, body_unknown) = status_of(&h, &x, &unknown).await;
    assert_eq!(s_known, StatusCode::NOT_FOUND);
    assert_eq!(
        (s_known, body_known),
        (s_unknown, body_unknown),
        "another site's dossier reads exactly like an unknown code"
    );
    h.finish().await;
}

fn digitized_docs(device: &str, code: &str, data: &[u8]) -> DigitizedDocuments {
    DigitizedDocuments {
        dossier_code: code.into(),
        device_id: device.into(),
        digitized_at: vn_time(),
        documents: vec![DigitizedDocument {
            document_code: format!("{code}-01"),
            document_index: 1,
            name: "Giấy tờ 1".into(),
            media_type: "application/pdf".into(),
            pages: 1,
            size: data.len() as u64,
            sha256: sha_hex(data),
        }],
    }
}

/// Documents go only to the site's own dossiers; a dossier another site holds answers like an
/// unknown one.
async fn documents_only_for_the_sites_dossiers(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let intake = h.enroll("INTAKE-A").await;
    let x = h.enroll_at("INTAKE-X", OTHER).await;
    let own = code(11);
    assert_eq!(
        post_dossier(&h, &a, "KIOSK-A", &own).await.status(),
        StatusCode::CREATED
    );
    let data = blob(1500, 61);
    h.upload_all(&x, &data).await;
    h.upload_all(&intake, &data).await;
    // Another site's station: refused from the code alone.
    let path = format!("/v1/dossiers/{own}/documents");
    let r = h
        .post_json(
            &path,
            &x,
            Some("x-docs"),
            &digitized_docs("INTAKE-X", &own, &data),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "site_mismatch");
    // A dossier held for the other site under a code of this station's prefix (a record from
    // before the prefix rule) reads like one never stored.
    let held = format!("{OTHER}-260531-0001");
    let never = format!("{OTHER}-260531-0002");
    h.exec_sql(&format!(
        "INSERT INTO dossiers (code, procedure_code, agency_code, device_id, idempotency_key, \
         body, status, appointment_date, received_at, updated_at) VALUES ('{held}', '1.001193', \
         '{SITE}', 'KIOSK-A', 'old', '{{}}', 'submitted', '2026-06-05', \
         '2026-05-31T09:15:00+07:00', '2026-05-31T09:15:00+07:00')"
    ))
    .await;
    let mut answers = Vec::new();
    for code in [&held, &never] {
        let r = h
            .post_json(
                &format!("/v1/dossiers/{code}/documents"),
                &x,
                Some(code),
                &digitized_docs("INTAKE-X", code, &data),
            )
            .await;
        let status = r.status();
        let body = r.text().await.expect("body").replace(code.as_str(), "CODE");
        answers.push((status, body));
    }
    assert_eq!(answers[0].0, StatusCode::NOT_FOUND);
    assert_eq!(answers[0], answers[1]);
    // The site's own station adds them.
    let r = h
        .post_json(
            &path,
            &intake,
            Some("a-docs"),
            &digitized_docs("INTAKE-A", &own, &data),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(h.stats().await["digitized_documents"], 1);
    h.finish().await;
}

/// A dossier cites only blobs its site uploaded, with their real size; the same bytes already
/// held for another site are uploaded once more by this site (and then held for the rest of the
/// site: `POST /v1/blobs/held` says so).
async fn dossiers_cite_only_their_sites_blobs(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let b = h.enroll("KIOSK-B").await;
    let x = h.enroll_at("KIOSK-X", OTHER).await;
    let data = blob(3000, 71);
    h.upload_all(&x, &data).await;
    let c = code(21);
    let d = dossier("KIOSK-A", &c, vec![document(&data)]);
    let r = h.post_json("/v1/dossiers", &a, Some("d-1"), &d).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "missing_blobs");
    // Knowing the hash is not enough: A's site does not hold it, and A uploads it.
    assert!(h.held(&a, &[&data]).await.is_empty());
    let loc = h.new_upload(&a, &data).await;
    assert_eq!(h.head_offset(&a, &loc).await, 0);
    let r = h.patch(&a, &loc, 0, &data).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Another device of A's site now finds the blob held.
    assert_eq!(h.held(&b, &[&data]).await, [sha_hex(&data)]);
    // The size must be the blob's.
    let mut wrong = d.clone();
    wrong.documents[0].size += 1;
    let r = h.post_json("/v1/dossiers", &a, Some("d-2"), &wrong).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "blob_size_mismatch");
    let r = h.post_json("/v1/dossiers", &a, Some("d-1"), &d).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(h.stats().await["blobs"], 1, "one blob, held by two sites");
    h.finish().await;
}

scenarios!(
    dossier_codes_are_the_devices_own,
    idempotency_keys_are_per_device,
    tickets_are_issued_at_the_site,
    ratings_rate_only_what_the_site_holds,
    status_reads_stay_within_the_site,
    documents_only_for_the_sites_dossiers,
    dossiers_cite_only_their_sites_blobs,
);
