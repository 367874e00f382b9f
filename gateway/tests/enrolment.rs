//! Enrolment and who may call the gateway, over HTTPS on loopback, against both storage
//! backends: health, enrolment and re-enrolment, client certificates required and roles kept
//! apart, an enrolment body that never arrives, and the catalog an enrolled device fetches.
//! The harness (a throwaway CA, clients with client certificates) is in `harness/`; identity,
//! roles, revocation and TLS reload are tested in `identity.rs`.

#[macro_use]
mod harness;

use std::time::Duration;

use harness::*;
use motcua_domain::catalog::Catalog;
use motcua_domain::wire::EnrollRequest;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        (Method::POST, "/v1/dossiers/status"),
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
        (&h.auditor, Method::POST, "/v1/dossiers/status"),
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

scenarios!(
    health_and_enrolment,
    authentication_is_required,
    an_enrolment_body_that_never_arrives_is_answered_408,
    catalog_etag,
);
