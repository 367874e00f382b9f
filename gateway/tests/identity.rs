//! Identity on the link, over real TLS: certificates from another CA refused at the handshake,
//! revocation (refused at the next request, an upload in progress cut, and not undone by the
//! enrolment key alone), renewal that is safe against a kiosk dying half-way and that cannot
//! outrun a revocation, the roles' rights on citizens' scans, the fleet, and a
//! server certificate reloaded without a restart.

mod harness;

use std::time::Duration;

use harness::*;
use motcua_gateway::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn get_status(h: &Harness, path: &str, cred: Option<&Cred>) -> (StatusCode, String) {
    let r = h
        .req(Method::GET, path, cred)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let code = if status.is_success() {
        String::new()
    } else {
        error_code(r).await
    };
    (status, code)
}

async fn another_ca_is_refused_at_the_handshake(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let other_dir = tempfile::tempdir().expect("dir");
    let other =
        motcua_gateway::lab_pki(other_dir.path(), &["127.0.0.1".to_string()]).expect("other CA");
    // A technician certificate of another province's CA, presented to ours.
    let (issued, key) = other
        .issue_role(Role::Technician, "Kẻ Lạ", Duration::from_secs(3600))
        .expect("role");
    let stranger = client(&h.ca_pem, Some((&issued.cert_pem, &key)));
    let r = stranger.get(h.url("/v1/health")).send().await;
    assert!(
        r.is_err(),
        "a certificate from another CA gets no answer: {r:?}"
    );
    // The same with a raw TLS client: the handshake (or the first read after it, in TLS 1.3)
    // fails.
    let cred = Cred {
        client: stranger,
        serial: issued.identity.serial,
        cert_pem: issued.cert_pem,
        key_pem: key,
    };
    let refused = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tls_connect(&h.addr(), rustls_client(&h.ca_pem, Some(&cred))).await?;
        s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await?;
        Ok::<usize, std::io::Error>(n)
    }
    .await;
    assert!(
        matches!(refused, Err(_) | Ok(0)),
        "the gateway answered a stranger: {refused:?}"
    );
    // Our own clients still get in, with or without a certificate.
    assert_eq!(get_status(&h, "/v1/health", None).await.0, StatusCode::OK);
    assert_eq!(
        get_status(&h, "/v1/admin/stats", Some(&h.technician))
            .await
            .0,
        StatusCode::OK
    );
    h.finish().await;
}

async fn revocation_refuses_and_cuts_an_upload(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let device = h.enroll("KIOSK-1").await;
    let data = blob(400_000, 7);
    let loc = h.new_upload(&device, &data).await;

    // A PATCH whose body arrives slowly: 300 000 bytes now, the rest never.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let patch = h
        .req(Method::PATCH, &loc, Some(&device))
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .header("Content-Length", data.len().to_string())
        .body(body)
        .send();
    let patch = tokio::spawn(patch);
    tx.send(Ok(data[..300_000].to_vec())).await.expect("send");
    // Bytes of a stalled body are stored after a second without data.
    let mut arrived = 0;
    for _ in 0..400 {
        arrived = h.stored_bytes(&loc);
        if arrived == 300_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(arrived, 300_000, "the first bytes reached the gateway");

    // A technician revokes the kiosk: its connection is closed at once.
    let r = h
        .req(
            Method::POST,
            "/v1/admin/devices/KIOSK-1/revoke",
            Some(&h.technician),
        )
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    let revocation: Value = r.json().await.expect("json");
    assert_eq!(revocation["serials"], serde_json::json!([device.serial]));
    assert_eq!(revocation["connections_closed"], 1);
    let outcome = patch.await.expect("task");
    assert!(outcome.is_err(), "the upload was cut: {outcome:?}");
    drop(tx);

    // Its next request is refused, in words a technician understands.
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&device))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "certificate_revoked");
    assert!(
        body["message"].as_str().unwrap_or("").contains("re-enrol"),
        "{body}"
    );
    // The fleet shows it revoked.
    let r = h
        .req(Method::GET, "/v1/admin/devices", Some(&h.technician))
        .send()
        .await
        .expect("fleet");
    let fleet: Value = r.json().await.expect("json");
    assert_eq!(fleet[0]["device_id"], "KIOSK-1");
    assert_eq!(fleet[0]["revoked"], true);

    // The enrolment key alone does not undo a revocation: the device id is known, so enrolling
    // it again needs a technician's approval, however its certificates ended.
    let (r, _) = h.enroll_request("KIOSK-1").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "already_enrolled");
    // Approved, it is enrolled again; the upload resumes from what the gateway kept of the
    // cut PATCH.
    h.allow_reenrolment("KIOSK-1").await;
    let device = h.enroll("KIOSK-1").await;
    let mut offset = 0;
    for _ in 0..100 {
        offset = h.head_offset(&device, &loc).await;
        if offset == 300_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(offset, 300_000, "the bytes before the cut are kept");
    let r = h.patch(&device, &loc, offset, &data[300_000..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.stats().await["blobs"], 1);
    h.finish().await;
}

async fn renewal_is_safe_against_a_crash(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let old = h.enroll("KIOSK-1").await;
    // A renewal whose answer the kiosk "lost" (it died before saving it).
    let (r, key) = h.renew_request(&old, "KIOSK-1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let lost = h.cred_from(r, key, "KIOSK-1").await;
    // The old certificate still works, and renews again.
    assert_eq!(
        get_status(&h, "/v1/catalog", Some(&old)).await.0,
        StatusCode::OK
    );
    let (r, key) = h.renew_request(&old, "KIOSK-1").await;
    assert_eq!(r.status(), StatusCode::OK);
    let new = h.cred_from(r, key, "KIOSK-1").await;
    assert_ne!(new.serial, old.serial);
    let peer = motcua_identity::PeerIdentity::from_pem(&new.cert_pem).expect("certificate");
    assert_eq!(
        (peer.name.as_str(), peer.site.as_deref()),
        ("KIOSK-1", Some(SITE))
    );
    assert_eq!(
        get_status(&h, "/v1/catalog", Some(&old)).await.0,
        StatusCode::OK
    );
    // The first use of the new certificate retires the ones before it.
    assert_eq!(
        get_status(&h, "/v1/catalog", Some(&new)).await.0,
        StatusCode::OK
    );
    for cred in [&old, &lost] {
        assert_eq!(
            get_status(&h, "/v1/catalog", Some(cred)).await,
            (StatusCode::UNAUTHORIZED, "certificate_revoked".to_string())
        );
    }
    assert_eq!(
        get_status(&h, "/v1/catalog", Some(&new)).await.0,
        StatusCode::OK
    );
    // The fleet shows the new certificate as current.
    let r = h
        .req(Method::GET, "/v1/admin/devices", Some(&h.technician))
        .send()
        .await
        .expect("fleet");
    let fleet: Value = r.json().await.expect("json");
    assert_eq!(fleet[0]["serial"], new.serial.as_str());
    assert_eq!(fleet[0]["revoked"], false);
    assert!(fleet[0]["first_used_at"].is_string());
    // A bad CSR is the client's fault.
    let r = h
        .req(Method::POST, "/v1/devices/renew", Some(&new))
        .json(&serde_json::json!({"csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}))
        .send()
        .await
        .expect("renew");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_csr");
    h.finish().await;
}

/// Once revoked, a device id stays the technician's business: the enrolment key alone gets it
/// back neither right after the revocation nor after an approval was used up; a never-seen id
/// still enrols with the key alone.
async fn a_revoked_device_needs_a_technician_to_enrol_again(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let first = h.enroll("KIOSK-1").await;
    h.revoke("KIOSK-1").await;
    let (r, _) = h.enroll_request("KIOSK-1").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "already_enrolled");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("allow-reenrolment"),
        "{body}"
    );
    assert_eq!(
        get_status(&h, "/v1/catalog", Some(&first)).await,
        (StatusCode::UNAUTHORIZED, "certificate_revoked".to_string()),
        "the refused enrolment gave the old certificate nothing back"
    );
    // One approval, one enrolment.
    h.allow_reenrolment("KIOSK-1").await;
    let second = h.enroll("KIOSK-1").await;
    assert_eq!(
        get_status(&h, "/v1/catalog", Some(&second)).await.0,
        StatusCode::OK
    );
    h.revoke("KIOSK-1").await;
    let (r, _) = h.enroll_request("KIOSK-1").await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "the approval was used up");
    assert_eq!(error_code(r).await, "already_enrolled");
    // A device id never seen needs no one.
    let other = h.enroll("KIOSK-2").await;
    assert_eq!(
        get_status(&h, "/v1/catalog", Some(&other)).await.0,
        StatusCode::OK
    );
    h.finish().await;
}

/// Renewals racing a revocation of the device: whichever the gateway ran first (or if the
/// revocation cut the renewal's connection), once the revocation has answered no certificate of
/// the device opens the link, not even one a renewal answered 200 with.
async fn renewal_cannot_outrun_a_revocation(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let old = h.enroll("KIOSK-1").await;
    let h = std::sync::Arc::new(h);
    let renewals: Vec<_> = (0..6)
        .map(|_| {
            let (h, old) = (std::sync::Arc::clone(&h), old.clone());
            tokio::spawn(async move {
                let key = motcua_identity::DeviceKey::generate("KIOSK-1", SITE).expect("key");
                let sent = h
                    .req(Method::POST, "/v1/devices/renew", Some(&old))
                    .json(&motcua_domain::wire::RenewRequest {
                        csr_pem: key.csr_pem.clone(),
                    })
                    .send()
                    .await;
                // The revocation closes the old certificate's connections: a renewal cut
                // there got no certificate.
                let Ok(r) = sent else { return None };
                match r.status() {
                    StatusCode::OK => Some(h.cred_from(r, key, "KIOSK-1").await),
                    status => {
                        assert_eq!(status, StatusCode::UNAUTHORIZED);
                        assert_eq!(error_code(r).await, "certificate_revoked");
                        None
                    }
                }
            })
        })
        .collect();
    h.revoke("KIOSK-1").await;
    let mut renewed = Vec::new();
    for task in renewals {
        renewed.extend(task.await.expect("renewal task"));
    }
    for cred in renewed.iter().chain([&old]) {
        assert_eq!(
            get_status(&h, "/v1/catalog", Some(cred)).await,
            (StatusCode::UNAUTHORIZED, "certificate_revoked".to_string()),
            "certificate {} outlived the revocation",
            cred.serial
        );
    }
    let r = h
        .req(Method::GET, "/v1/admin/devices", Some(&h.technician))
        .send()
        .await
        .expect("fleet");
    let fleet: Value = r.json().await.expect("json");
    assert_eq!(fleet[0]["revoked"], true, "{fleet}");
    // A renewal asked with the revoked certificate is refused outright.
    let (r, _) = h.renew_request(&old, "KIOSK-1").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "certificate_revoked");
    let h = std::sync::Arc::into_inner(h).expect("no task holds the harness");
    h.finish().await;
}

async fn roles_and_citizens_scans(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let device = h.enroll("KIOSK-1").await;
    let data = blob(3_000, 9);
    h.upload_all(&device, &data).await;
    let path = format!("/v1/blobs/{}", sha_hex(&data));
    let r = h
        .req(Method::GET, &path, Some(&h.technician))
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "forbidden_role");
    assert!(
        body["message"].as_str().unwrap_or("").contains("scans"),
        "{body}"
    );
    for cred in [&h.auditor, &h.system] {
        let r = h
            .req(Method::GET, &path, Some(cred))
            .send()
            .await
            .expect("blob");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    }
    for cred in [&h.auditor, &h.system, &h.technician] {
        assert_eq!(
            get_status(&h, "/v1/admin/stats", Some(cred)).await.0,
            StatusCode::OK
        );
    }
    // A role certificate is revoked by its serial, and refused from then on.
    let r = h
        .req(
            Method::POST,
            &format!("/v1/admin/certificates/{}/revoke", h.auditor.serial),
            Some(&h.technician),
        )
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        get_status(&h, &path, Some(&h.auditor)).await,
        (StatusCode::UNAUTHORIZED, "certificate_revoked".to_string())
    );
    // Even one the gateway has never seen.
    let unseen = role_cred(&h.pki, Role::System, "Hệ thống dự phòng");
    let r = h
        .req(
            Method::POST,
            &format!("/v1/admin/certificates/{}/revoke", unseen.serial),
            Some(&h.technician),
        )
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        get_status(&h, "/v1/admin/stats", Some(&unseen)).await,
        (StatusCode::UNAUTHORIZED, "certificate_revoked".to_string())
    );
    let r = h
        .req(
            Method::POST,
            "/v1/admin/certificates/not-hex/revoke",
            Some(&h.technician),
        )
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_serial");
    // The system sees the full dossier view; a device only the status.
    assert_eq!(
        get_status(&h, "/v1/admin/dossiers/NOPE", Some(&h.system))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_status(&h, "/v1/admin/dossiers/NOPE", Some(&device)).await,
        (StatusCode::FORBIDDEN, "forbidden_role".to_string())
    );
    h.finish().await;
}

async fn server_certificate_reloads_without_a_restart(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let next_dir = tempfile::tempdir().expect("dir");
    let next =
        motcua_gateway::lab_pki(next_dir.path(), &["127.0.0.1".to_string()]).expect("next CA");
    let next_ca = next.ca_cert_pem().expect("CA");
    let trusts_next = client(&next_ca, None);
    let health = h.url("/v1/health");
    assert!(trusts_next.get(&health).send().await.is_err(), "not yet");

    // A bad new file: the certificate in use stays.
    std::fs::write(&h.pki.tls_cert_file, "not a certificate").expect("write");
    let gateway = h.gateway.as_ref().expect("running");
    assert!(gateway.reload_tls().is_err());
    assert_eq!(get_status(&h, "/v1/health", None).await.0, StatusCode::OK);

    // The new certificate (another CA's, so the test can tell them apart).
    std::fs::copy(&next.tls_cert_file, &h.pki.tls_cert_file).expect("copy");
    std::fs::copy(&next.tls_key_file, &h.pki.tls_key_file).expect("copy");
    gateway.reload_tls().expect("reload");
    let r = trusts_next.get(&health).send().await.expect("health");
    assert_eq!(r.status(), StatusCode::OK);
    // A fresh client (one that has no TLS session to resume from before the reload).
    assert!(
        client(&h.ca_pem, None).get(&health).send().await.is_err(),
        "the old certificate is no longer served"
    );
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

scenarios!(
    another_ca_is_refused_at_the_handshake,
    revocation_refuses_and_cuts_an_upload,
    renewal_is_safe_against_a_crash,
    a_revoked_device_needs_a_technician_to_enrol_again,
    renewal_cannot_outrun_a_revocation,
    roles_and_citizens_scans,
    server_certificate_reloads_without_a_restart,
);
