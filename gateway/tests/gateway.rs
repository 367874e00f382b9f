//! The gateway's behaviour over HTTPS on loopback, against both storage backends: enrolment,
//! the catalog, tus uploads, idempotent ingest, restarts and the binary. The harness (a
//! throwaway CA, clients with client certificates) is in `harness/`; identity, roles,
//! revocation and TLS reload are tested in `identity.rs`.

mod harness;

use std::time::Duration;

use base64::Engine;
use harness::*;
use motcua_domain::catalog::Catalog;
use motcua_domain::wire::{DossierStatusView, EnrollRequest, IngestAck};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// Scenarios

async fn health_and_enrolment(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let r = h
        .req(Method::GET, "/v1/health", None)
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        serde_json::json!({"status": "ok"})
    );

    let key = motcua_identity::DeviceKey::generate("KIOSK-1", SITE).expect("key");
    let enrol = |key: &str, site: &str, csr: &str| EnrollRequest {
        device_id: "KIOSK-1".into(),
        site: site.into(),
        enrollment_key: key.into(),
        csr_pem: csr.into(),
    };
    for (body, status, code) in [
        (
            enrol("wrong", SITE, &key.csr_pem),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            enrol(ENROLL_KEY, "a site", &key.csr_pem),
            StatusCode::BAD_REQUEST,
            "invalid_site",
        ),
        (
            enrol(ENROLL_KEY, SITE, "not a CSR"),
            StatusCode::BAD_REQUEST,
            "invalid_csr",
        ),
    ] {
        let r = h
            .req(Method::POST, "/v1/devices/enroll", None)
            .json(&body)
            .send()
            .await
            .expect("enroll");
        assert_eq!(r.status(), status);
        assert_eq!(error_code(r).await, code);
    }
    assert_eq!(h.stats().await["devices"], 0);

    let first = h.enroll("KIOSK-1").await;
    let peer = motcua_identity::PeerIdentity::from_pem(&first.cert_pem).expect("certificate");
    assert_eq!(peer.role, motcua_gateway::Role::Device);
    assert_eq!(
        (peer.name.as_str(), peer.site.as_deref()),
        ("KIOSK-1", Some(SITE))
    );
    assert_eq!(peer.serial, first.serial);
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&first))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK);

    // The enrolment key alone cannot take over a known device.
    let (r, _) = h.enroll_request("KIOSK-1").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "already_enrolled");
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&first))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK, "the real kiosk keeps working");

    // Only a technician approves a re-enrolment; the approval serves once.
    for cred in [&first, &h.system, &h.auditor] {
        let r = h
            .req(
                Method::POST,
                "/v1/admin/devices/KIOSK-1/allow-reenrolment",
                Some(cred),
            )
            .send()
            .await
            .expect("approve");
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(error_code(r).await, "forbidden_role");
    }
    let r = h
        .req(
            Method::POST,
            "/v1/admin/devices/NOPE/allow-reenrolment",
            Some(&h.technician),
        )
        .send()
        .await
        .expect("approve");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h
        .req(
            Method::POST,
            "/v1/admin/devices/KIOSK-1/allow-reenrolment",
            Some(&h.technician),
        )
        .send()
        .await
        .expect("approve");
    assert_eq!(r.status(), StatusCode::OK);
    let second = h.enroll("KIOSK-1").await;
    assert_ne!(first.serial, second.serial);
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&first))
        .send()
        .await
        .expect("catalog");
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "re-enrolment revokes the old certificate"
    );
    assert_eq!(error_code(r).await, "certificate_revoked");
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&second))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK);
    let (r, _) = h.enroll_request("KIOSK-1").await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "the approval was used up");
    assert_eq!(h.stats().await["devices"], 1);
    h.finish().await;
}

async fn authentication_is_required(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let device = h.enroll("KIOSK-1").await;
    for (method, path) in [
        (Method::GET, "/v1/catalog"),
        (Method::POST, "/v1/uploads"),
        (Method::POST, "/v1/dossiers"),
        (Method::GET, "/v1/dossiers/X-1"),
        (Method::POST, "/v1/devices/renew"),
        (Method::GET, "/v1/admin/stats"),
        (Method::GET, "/v1/admin/devices"),
    ] {
        let r = h
            .req(method.clone(), path, None)
            .send()
            .await
            .expect("request");
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a client certificate"
        );
        assert_eq!(error_code(r).await, "certificate_required");
    }
    // A role certificate cannot make a device's calls, nor a device the roles'.
    for (cred, method, path) in [
        (&h.system, Method::GET, "/v1/catalog"),
        (&h.technician, Method::POST, "/v1/uploads"),
        (&h.auditor, Method::GET, "/v1/dossiers/X-1"),
        (&device, Method::GET, "/v1/admin/stats"),
        (&device, Method::GET, "/v1/admin/devices"),
        (&h.system, Method::GET, "/v1/admin/devices"),
        (&h.technician, Method::POST, "/v1/admin/dossiers/X-1/status"),
    ] {
        let r = h
            .req(method.clone(), path, Some(cred))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(error_code(r).await, "forbidden_role");
    }
    h.finish().await;
}

async fn catalog_etag(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&token))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK);
    let etag = header(&r, "etag");
    let body = r.bytes().await.expect("body");
    assert_eq!(etag, format!("\"{}\"", sha_hex(&body)));
    let parsed: Catalog = serde_json::from_slice(&body).expect("catalog JSON");
    assert_eq!(parsed, catalog());

    let r = h
        .req(Method::GET, "/v1/catalog", Some(&token))
        .header("If-None-Match", etag.clone())
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&r, "etag"), etag);
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&token))
        .header("If-None-Match", "\"0000\"")
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK);
    h.finish().await;
}

async fn tus_upload_in_several_patches_and_resume(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;

    let r = h
        .req(Method::OPTIONS, "/v1/uploads", None)
        .send()
        .await
        .expect("options");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert!(header(&r, "tus-extension")
        .split(',')
        .any(|e| e.trim() == "creation"));
    assert_eq!(header(&r, "tus-max-size"), (1024 * 1024).to_string());

    let data = blob(100_000, 7);
    let r = h.create_upload(&token, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    let loc = header(&r, "location");
    assert!(loc.starts_with("/v1/uploads/"), "{loc}");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    assert_eq!(h.stats().await["uploads_in_progress"], 1);

    let r = h.patch(&token, &loc, 0, &data[..30_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "30000");
    let r = h.patch(&token, &loc, 30_000, &data[30_000..60_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // The kiosk lost track: it asks where to resume.
    let offset = h.head_offset(&token, &loc).await;
    assert_eq!(offset, 60_000);
    let r = h
        .patch(&token, &loc, offset, &data[offset as usize..])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "100000");
    assert_eq!(h.head_offset(&token, &loc).await, 100_000);

    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    // A device certificate is no key to citizens' documents.
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&token),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "forbidden_role");
    // The provincial system reads blobs with its certificate.
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    let first = sha_hex(&data);
    let blob_file = h.dir.path().join("blobs").join(&first[..2]).join(&first);
    assert_eq!(std::fs::read(&blob_file).expect("blob file"), data);
    assert!(
        !h.part_file(&loc).exists(),
        "the .part file was moved into the blob store"
    );

    // Another device cannot see this upload.
    let other = h.enroll("KIOSK-2").await;
    let r = h
        .req(Method::HEAD, &loc, Some(&other))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h
        .req(Method::HEAD, "/v1/uploads/doesnotexist", Some(&token))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(b"never uploaded")),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    h.finish().await;
}

async fn tus_refusals(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(1000, 3);

    // No Tus-Resumable: 412.
    let r = h
        .req(Method::POST, "/v1/uploads", Some(&token))
        .header("Upload-Length", "1000")
        .header(
            "Upload-Metadata",
            format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode(sha_hex(&data))
            ),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // Too large: 413.
    let r = h
        .create_upload_claiming(&token, 1024 * 1024 + 1, &sha_hex(&data))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Missing or invalid metadata: 400.
    for meta in [
        None,
        Some("filename YQ=="),
        Some("sha256 !!!"),
        Some("sha256 bm90LWhleA=="),
    ] {
        let mut r = h
            .req(Method::POST, "/v1/uploads", Some(&token))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "1000");
        if let Some(m) = meta {
            r = r.header("Upload-Metadata", m);
        }
        let r = r.send().await.expect("create");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "metadata {meta:?}");
    }
    assert_eq!(h.stats().await["uploads_in_progress"], 0);

    let loc = h.new_upload(&token, &data).await;
    // Wrong content type: 415.
    let r = h
        .req(Method::PATCH, &loc, Some(&token))
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/octet-stream")
        .header("Upload-Offset", "0")
        .body(data.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Offset mismatch: 409, nothing written.
    let r = h.patch(&token, &loc, 10, &data[10..]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "offset_mismatch");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    let r = h.patch(&token, &loc, 0, &data[..500]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = h.patch(&token, &loc, 0, &data[..500]).await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a replayed PATCH at an old offset is refused"
    );
    assert_eq!(h.head_offset(&token, &loc).await, 500);
    h.finish().await;
}

async fn checksum_mismatch_resets_the_upload(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(4096, 9);
    let loc = h.new_upload(&token, &data).await;
    let mut corrupt = data.clone();
    corrupt[4000] ^= 0xff;
    let r = h.patch(&token, &loc, 0, &corrupt[..2048]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = h.patch(&token, &loc, 2048, &corrupt[2048..]).await;
    assert_eq!(r.status().as_u16(), 460);
    assert_eq!(error_code(r).await, "checksum_mismatch");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    assert!(
        !h.part_file(&loc).exists(),
        "the bad partial file is deleted"
    );
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(0), Some(1))
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The kiosk starts again from 0 with the right bytes.
    let r = h.patch(&token, &loc, 0, &data).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.stats().await["blobs"], 1);
    h.finish().await;
}

async fn dedup_of_an_existing_blob(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let other = h.enroll("KIOSK-2").await;
    let data = blob(5000, 1);
    h.upload_all(&token, &data).await;

    let r = h.create_upload(&other, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "upload-offset"), "5000");
    let loc = header(&r, "location");
    assert_eq!(h.head_offset(&other, &loc).await, 5000);
    // A PATCH at the end is a harmless no-op; anything else is an offset mismatch.
    let r = h.patch(&other, &loc, 0, &data).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    h.finish().await;
}

async fn empty_blob_needs_no_patch(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let r = h
        .create_upload_claiming(&token, 0, &sha_hex(b"not empty"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let loc = h.new_upload(&token, b"").await;
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(b"")),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.expect("bytes").is_empty());
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    h.finish().await;
}

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
    let r = h
        .req(Method::GET, &format!("/v1/dossiers/{code}"), Some(&token))
        .send()
        .await
        .expect("status");
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
    let t = ticket("KIOSK-1", "HT-20260531-5", 5);
    let same_key = futures_util::future::join_all(
        (0..8).map(|_| h.post_json("/v1/tickets", &token, Some("race-1"), &t)),
    )
    .await;
    let mut codes: Vec<u16> = same_key.iter().map(|r| r.status().as_u16()).collect();
    codes.sort();
    assert_eq!(codes, vec![200, 200, 200, 200, 200, 200, 200, 201]);

    let keys: Vec<String> = (0..8).map(|i| format!("rate-{i}")).collect();
    let r = rating("KIOSK-1", "HT-20260531-5", 1);
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
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", "HT-20260531-7", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", "HT-20260531-7", 1),
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
            &rating("KIOSK-1", "HT-20260531-7", 5),
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
            &rating("KIOSK-1", "HT-20260531-8", 6),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-4"),
            &rating("KIOSK-1", "HT-20260531-8", 2),
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
    let t = ticket("KIOSK-1", "HT-20260531-1", 1);
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
            &rating("KIOSK-1", "HT-20260531-1", 1),
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

    let r = h
        .req(Method::GET, &format!("/v1/dossiers/{code}"), Some(&token))
        .send()
        .await
        .expect("status");
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

    let r = h
        .req(
            Method::GET,
            "/v1/dossiers/000.17.22.H56-260531-9999",
            Some(&token),
        )
        .send()
        .await
        .expect("status");
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

    let r = h
        .req(Method::GET, &format!("/v1/dossiers/{code}"), Some(&token))
        .send()
        .await
        .expect("status");
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
    // Over the 1 MiB JSON limit.
    let big = vec![b' '; 2 * 1024 * 1024];
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

/// Sends a PATCH by hand (over TLS, with the device's certificate) and drops the connection
/// halfway through its body.
async fn patch_and_disconnect(
    h: &Harness,
    token: &Cred,
    location: &str,
    offset: u64,
    announced: usize,
    sent: &[u8],
) {
    let addr = h.addr();
    let mut s = tls_connect(&addr, rustls_client(&h.ca_pem, Some(token)))
        .await
        .expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {announced}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(sent).await.expect("write body");
    s.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
}

async fn interrupted_patch_keeps_received_bytes(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(50_000, 21);
    let loc = h.new_upload(&token, &data).await;
    patch_and_disconnect(&h, &token, &loc, 0, data.len(), &data[..20_000]).await;
    // The server notices the disconnect shortly after; poll the durable offset.
    let mut offset = 0;
    for _ in 0..100 {
        offset = h.head_offset(&token, &loc).await;
        if offset == 20_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        offset, 20_000,
        "the bytes received before the disconnect are kept"
    );
    let r = h.patch(&token, &loc, offset, &data[20_000..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    h.finish().await;
}

async fn restart_keeps_everything_and_uploads_resume(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let doc = blob(2048, 31);
    h.upload_all(&token, &doc).await;
    let code = "000.17.22.H56-260531-0003";
    let d = dossier("KIOSK-1", code, vec![document(&doc)]);
    assert_eq!(
        h.post_json("/v1/dossiers", &token, Some("d-1"), &d)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        h.post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", code, 1)
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        h.post_json(
            "/v1/tickets",
            &token,
            Some("t-1"),
            &ticket("KIOSK-1", "HT-20260531-1", 1)
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let big = blob(80_000, 41);
    let loc = h.new_upload(&token, &big).await;
    assert_eq!(
        h.patch(&token, &loc, 0, &big[..30_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    let before = h.stats().await;

    h.restart().await;
    // Simulate a crash after bytes reached the .part file but before the offset was recorded:
    // the recorded offset is the truth and the extra bytes are cut off.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(h.part_file(&loc))
            .expect("part file");
        f.write_all(b"GARBAGE NOT RECORDED")
            .expect("append garbage");
    }

    assert_eq!(h.stats().await, before);
    if backend == Backend::Sqlite {
        let db = rusqlite::Connection::open(h.dir.path().join("gateway.sqlite3")).expect("open db");
        let mode: String = db
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let (version, rows): (i64, i64) = db
            .query_row(
                "SELECT MAX(version), COUNT(*) FROM schema_version",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("schema version");
        assert_eq!(
            (version, rows),
            (3, 3),
            "each migration ran once, not again at restart"
        );
    }
    let r = h
        .req(Method::GET, &format!("/v1/dossiers/{code}"), Some(&token))
        .send()
        .await
        .expect("status");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the device certificate and the dossier survive a restart"
    );
    let r = h.post_json("/v1/dossiers", &token, Some("d-1"), &d).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a retry after the restart is still recognised"
    );
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-9"),
            &rating("KIOSK-1", code, 3),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let offset = h.head_offset(&token, &loc).await;
    assert_eq!(offset, 30_000);
    assert_eq!(
        std::fs::metadata(h.part_file(&loc)).expect("part").len(),
        30_000,
        "HEAD cut the unrecorded bytes"
    );
    assert_eq!(
        h.patch(&token, &loc, offset, &big[30_000..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&big)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), big.as_slice());
    let after = h.stats().await;
    assert_eq!(after["dossiers"], 1);
    assert_eq!(after["blobs"], 2);
    assert_eq!(after["uploads_in_progress"], 0);
    h.finish().await;
}

async fn garbage_beyond_offset_is_cut_on_patch(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(10_000, 51);
    let loc = h.new_upload(&token, &data).await;
    assert_eq!(
        h.patch(&token, &loc, 0, &data[..4_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(h.part_file(&loc))
            .expect("part file");
        f.write_all(&[0u8; 3000]).expect("append garbage");
    }
    // No HEAD in between: the PATCH itself must cut back to the recorded offset.
    assert_eq!(
        h.patch(&token, &loc, 4_000, &data[4_000..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    h.finish().await;
}

/// Every route in the OpenAPI document is served by the router (not the not-found or
/// method-not-allowed fallback), and the router serves nothing the document omits.
async fn documented_routes_are_served(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let doc: Value = serde_json::from_str(&motcua_gateway::openapi_json()).expect("openapi JSON");
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut served = motcua_gateway::served_routes();
    served.sort();
    assert_eq!(documented, served);
    for (method, path) in served {
        let concrete = path
            .replace("{id}", "0123")
            .replace("{code}", "X-1")
            .replace("{serial}", "0a0b")
            .replace("{sha256}", &sha_hex(b"x"));
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let r = h.req(m, &concrete, None).send().await.expect("request");
        assert_ne!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if r.status() == StatusCode::NOT_FOUND {
            assert_ne!(
                error_code(r).await,
                "not_found",
                "{method} {path} fell through to the router's fallback"
            );
        }
    }
    let r = h
        .req(Method::GET, "/v1/nothing-here", None)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "not_found");
    h.finish().await;
}

/// The `gateway` binary prints its address, serves, and stops on SIGTERM.
async fn binary_serves_and_stops_on_sigterm(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let data_dir = h.dir.path().join("bin");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--enrollment-key",
        ENROLL_KEY,
    ])
    .arg("--tls-cert-file")
    .arg(&h.pki.tls_cert_file)
    .arg("--tls-key-file")
    .arg(&h.pki.tls_key_file)
    .arg("--ca-cert-file")
    .arg(&h.pki.ca_cert_file)
    .arg("--ca-key-file")
    .arg(&h.pki.ca_key_file)
    .arg("--data-dir")
    .arg(&data_dir)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true);
    if let Some(pg) = &h.pg {
        cmd.args(["--database-url", &pg.url]);
    }
    let mut child = cmd.spawn().expect("spawn gateway binary");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), stdout.read(&mut byte))
            .await
            .expect("the binary prints its address within 30 s")
            .expect("read stdout");
        assert!(n == 1, "stdout closed before the address line");
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).expect("utf-8");
    let addr = line
        .trim()
        .strip_prefix("gateway listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let r = h
        .http
        .get(format!("https://{addr}/v1/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), StatusCode::OK);
    let pid = child.id().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits on SIGTERM")
        .expect("wait");
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(data_dir.join("blobs").is_dir());
    h.finish().await;
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
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
    // An intake station of the dossier's own site may add them.
    let intake = h.enroll("INTAKE-1").await;
    let r = h
        .post_json(&path, &intake, Some("docs-site-2"), &docs("INTAKE-1"))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(h.stats().await["digitized_documents"], 1);
    h.finish().await;
}

/// With every connection slot taken, the gateway accepts no further connection until one ends;
/// then the waiting peer is served.
async fn connections_beyond_the_limit_wait_for_a_free_slot(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| c.max_connections = 1).await;
    // The one slot: a connection that has finished its handshake, so the gateway took it.
    let holder = tls_connect(&h.addr(), rustls_client(&h.ca_pem, None))
        .await
        .expect("first connection");
    let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waiting = {
        let (request, released) = (h.http.get(h.url("/v1/health")), released.clone());
        tokio::spawn(async move {
            let r = request.send().await.expect("served once a slot is free");
            (
                r.status(),
                released.load(std::sync::atomic::Ordering::SeqCst),
            )
        })
    };
    // Give the second peer every chance to be (wrongly) served while the slot is held.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served beyond the connection limit");
    released.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(holder);
    let (status, after_release) = waiting.await.expect("task");
    assert_eq!(status, StatusCode::OK);
    assert!(
        after_release,
        "served only after the first connection ended"
    );
    h.finish().await;
}

/// The one route anyone may call does not wait forever for its body: a peer that sends the
/// headers and trickles nothing more gets 408 `request_timeout`.
async fn an_enrolment_body_that_never_arrives_is_answered_408(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| c.enrollment_body_timeout = Duration::from_millis(500))
        .await;
    let mut s = tls_connect(&h.addr(), rustls_client(&h.ca_pem, None))
        .await
        .expect("connect");
    s.write_all(
        b"POST /v1/devices/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 400\r\n\r\n{\"device_id\": \"KIO",
    )
    .await
    .expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&answer).contains("request_timeout") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
    assert_eq!(h.stats().await["devices"], 0);
    h.finish().await;
}

/// A device certificate lifetime beyond what the CA has left is a configuration error at start
/// (even an absurd one: no overflow).
async fn a_device_lifetime_beyond_the_ca_is_refused_at_start(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    for lifetime in [
        motcua_gateway::CA_LIFETIME + Duration::from_secs(86_400),
        Duration::from_secs(u64::MAX),
    ] {
        let mut config = h.config();
        config.device_cert_lifetime = lifetime;
        let refused = motcua_gateway::start(config)
            .await
            .err()
            .expect("refused at start");
        let message = refused.to_string();
        assert!(
            message.contains("longer than the CA") && message.contains("--device-cert-days"),
            "{message}"
        );
    }
    h.finish().await;
}

scenarios!(
    health_and_enrolment,
    authentication_is_required,
    catalog_etag,
    tus_upload_in_several_patches_and_resume,
    tus_refusals,
    checksum_mismatch_resets_the_upload,
    dedup_of_an_existing_blob,
    empty_blob_needs_no_patch,
    dossier_ingest_exactly_once,
    digitized_documents_exactly_once,
    ratings_one_per_transaction,
    concurrent_retries_store_one_copy,
    tickets_ingest,
    status_lookup_and_admin_change,
    garbage_json_is_a_400,
    interrupted_patch_keeps_received_bytes,
    restart_keeps_everything_and_uploads_resume,
    garbage_beyond_offset_is_cut_on_patch,
    documented_routes_are_served,
    binary_serves_and_stops_on_sigterm,
    a_device_delivers_only_its_own_sites_records,
    connections_beyond_the_limit_wait_for_a_free_slot,
    an_enrolment_body_that_never_arrives_is_answered_408,
    a_device_lifetime_beyond_the_ca_is_refused_at_start,
);
