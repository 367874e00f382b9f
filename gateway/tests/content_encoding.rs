//! gzip request bodies (`Content-Encoding: gzip`) on the real gateway over HTTPS, both storage
//! backends: a compressed dossier is stored as the plain one would be (the same idempotency
//! key and body is a duplicate of it), a zip bomb is 413 without the gateway inflating it, an
//! unknown coding is 415 with a bilingual message, garbage that claims to be gzip is 400, and
//! the tus PATCH body is not decoded (its offsets count the bytes as sent).

#[macro_use]
mod harness;

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).expect("compress");
    e.finish().expect("compress")
}

async fn post_encoded(
    h: &Harness,
    cred: &Cred,
    path: &str,
    key: &str,
    encoding: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    h.req(Method::POST, path, Some(cred))
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", encoding)
        .body(body)
        .send()
        .await
        .expect("post")
}

async fn gzip_dossier_is_stored_as_the_plain_one(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-1").await;
    let data = blob(3000, 31);
    h.upload_all(&kiosk, &data).await;
    let code = "000.17.22.H56-260531-0301";
    let mut d = dossier("KIOSK-1", code, vec![document(&data)]);
    // A realistic larger dossier: a long address (well over the kiosk's 1 KiB threshold).
    d.applicant.address =
        "Ấp Phú Thành A, xã Phú Tân, huyện Châu Thành, tỉnh Sóc Trăng; ".repeat(8);
    let plain = serde_json::to_vec(&d).expect("json");
    let packed = gzip(&plain);
    assert!(
        packed.len() < plain.len() / 2,
        "{} of {}",
        packed.len(),
        plain.len()
    );

    let r = post_encoded(&h, &kiosk, "/v1/dossiers", "gz-1", "gzip", packed).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The same body sent plain under the same key is a duplicate: the gateway saw the same bytes.
    let r = post_encoded(
        &h,
        &kiosk,
        "/v1/dossiers",
        "gz-1",
        "identity",
        plain.clone(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let ack: Value = r.json().await.expect("ack");
    assert_eq!(ack["duplicate"], true);
    // And a different body under that key is still the conflict it always was.
    let mut other = d.clone();
    other.applicant.phone = "0911111111".into();
    let other = gzip(&serde_json::to_vec(&other).expect("json"));
    let r = post_encoded(&h, &kiosk, "/v1/dossiers", "gz-1", "GZIP", other).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(h.stats().await["dossiers"], 1);

    let r = h
        .req(
            Method::GET,
            &format!("/v1/admin/dossiers/{code}"),
            Some(&h.system),
        )
        .send()
        .await
        .expect("admin");
    assert_eq!(r.status(), StatusCode::OK);
    let view: Value = r.json().await.expect("view");
    assert_eq!(view["code"], code);
    h.finish().await;
}

async fn a_zip_bomb_is_413(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-1").await;
    // 10 MB of zeros (inside a JSON string) compress to about 10 KB.
    let mut bomb = b"{\"code\": \"".to_vec();
    bomb.extend(std::iter::repeat_n(b'0', 10 * 1024 * 1024));
    bomb.extend_from_slice(b"\"}");
    let bomb = gzip(&bomb);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    for path in ["/v1/dossiers", "/v1/tickets", "/v1/health-reports"] {
        let r = post_encoded(&h, &kiosk, path, "bomb", "gzip", bomb.clone()).await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(error_code(r).await, "invalid_body");
    }
    // Just under the limit, decoded, is read (and then judged as JSON, as a plain body is).
    let mut near = b"{\"code\": \"".to_vec();
    near.extend(std::iter::repeat_n(
        b'0',
        motcua_gateway::MAX_JSON_BYTES - 64,
    ));
    near.extend_from_slice(b"\"}");
    let r = post_encoded(&h, &kiosk, "/v1/tickets", "near", "gzip", gzip(&near)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_json");
    // The enrolment route, open to anyone, is bounded the same way.
    let r = h
        .req(Method::POST, "/v1/devices/enroll", None)
        .header("Content-Encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .expect("enroll");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.stats().await["tickets"], 0);
    h.finish().await;
}

async fn unknown_coding_is_415_and_garbage_is_400(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-1").await;
    let t = serde_json::to_vec(&ticket("KIOSK-1", "HT-20260531-7@KIOSK-1", 7)).expect("json");
    for coding in ["br", "deflate", "zstd", "gzip, br"] {
        let r = post_encoded(&h, &kiosk, "/v1/tickets", "t-1", coding, gzip(&t)).await;
        assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{coding}");
        let v: Value = r.json().await.expect("error");
        assert_eq!(v["error"], "unsupported_encoding");
        let msg = v["message"].as_str().expect("message");
        assert!(msg.starts_with("Cổng chỉ nhận"), "Vietnamese first: {msg}");
        assert!(
            msg.contains("The gateway takes") && msg.contains(coding),
            "{msg}"
        );
    }
    let mut cut = gzip(&t);
    cut.truncate(cut.len() / 2);
    for garbage in [t.clone(), cut, Vec::new()] {
        let r = post_encoded(&h, &kiosk, "/v1/tickets", "t-1", "gzip", garbage).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.expect("error");
        assert_eq!(v["error"], "invalid_body");
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains("gzip")),
            "{v}"
        );
    }
    assert_eq!(h.stats().await["tickets"], 0);
    // The ticket itself, identity and gzip: the first stored, the second its duplicate.
    let r = post_encoded(&h, &kiosk, "/v1/tickets", "t-1", "identity", t.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = post_encoded(&h, &kiosk, "/v1/tickets", "t-1", "x-gzip", gzip(&t)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.stats().await["tickets"], 1);
    h.finish().await;
}

/// tus counts offsets in the bytes sent: a PATCH body is stored as it came, whatever its
/// `Content-Encoding` says.
async fn tus_patch_bodies_are_not_decoded(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-1").await;
    // The blob that is uploaded happens to be gzip bytes: it is stored as such.
    let data = gzip(&blob(5000, 41));
    let r = h.create_upload(&kiosk, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_string();
    let r = h
        .req(Method::PATCH, &location, Some(&kiosk))
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Content-Encoding", "gzip")
        .body(data.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        r.headers()
            .get("Upload-Offset")
            .and_then(|v| v.to_str().ok()),
        Some(data.len().to_string().as_str())
    );
    assert_eq!(h.held(&kiosk, &[&data]).await.len(), 1);
    h.finish().await;
}

scenarios!(
    gzip_dossier_is_stored_as_the_plain_one,
    a_zip_bomb_is_413,
    unknown_coding_is_415_and_garbage_is_400,
    tus_patch_bodies_are_not_decoded,
);
