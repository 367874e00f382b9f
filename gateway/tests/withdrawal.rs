//! Setup codes that can no longer be trusted, against both storage backends: a revoked device's
//! unused codes, codes superseded by a newer one for the same id, a technician's withdrawal,
//! codes for a live device or another site's device (only with `replace`), and a provisioning
//! retry that leaves only its newest certificate live.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::provisioning::Provisioned;
use motcua_identity::DeviceKey;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A kiosk presenting `code` with a fresh key: the answer.
async fn present(h: &Harness, code: &str) -> reqwest::Response {
    let c = h.open_code(code);
    let key = DeviceKey::generate(&c.device_id, &c.site).expect("key");
    h.provision(&c.token, &key).await
}

async fn sheet_response(h: &Harness, body: Value) -> reqwest::Response {
    h.req(Method::POST, "/v1/admin/provisioning", Some(&h.technician))
        .json(&body)
        .send()
        .await
        .expect("sheet")
}

async fn withdraw(h: &Harness, id: &str, cred: &Cred) -> reqwest::Response {
    h.req(
        Method::POST,
        &format!("/v1/admin/devices/{id}/withdraw-setup-codes"),
        Some(cred),
    )
    .send()
    .await
    .expect("withdraw")
}

async fn refused_as_withdrawn(r: reqwest::Response) {
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.expect("error body");
    assert_eq!(body["error"], "token_withdrawn");
    let words = body["message"].as_str().expect("message");
    assert!(words.starts_with("mã cấu hình đã bị thu hồi"), "{words}");
    assert!(words.contains("ask for a new sheet"), "{words}");
}

async fn revoking_a_device_withdraws_its_unused_codes(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    let (p, cred) = h.provision_kiosk(&sheet.codes[0].code).await;
    let id = p.certificate.device_id.clone();

    // A live device: a code for its id is refused in words unless `replace` is given.
    let r = sheet_response(
        &h,
        json!({"site": SITE, "profile": PROFILE, "device_ids": [id]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.expect("error body");
    assert_eq!(body["error"], "device_exists");
    let words = body["message"].as_str().expect("message");
    assert!(words.contains("cut off the running kiosk"), "{words}");
    assert!(words.starts_with("thiết bị"), "{words}");
    let spare = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "device_ids": [id], "replace": true}))
        .await;

    // The device is revoked (say its box was stolen): the spare code must not bring it back.
    h.revoke(&id).await;
    refused_as_withdrawn(present(&h, &spare.codes[0].code).await).await;
    let r = h
        .req(Method::GET, "/v1/devices/actions", Some(&cred))
        .send()
        .await
        .expect("old");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Revoked, it runs no kiosk: a code for its id needs no `replace`, and works.
    let fresh = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "device_ids": [id]}))
        .await;
    let (again, _) = h.provision_kiosk(&fresh.codes[0].code).await;
    assert_eq!(again.certificate.device_id, id);
    h.finish().await;
}

async fn a_newer_code_supersedes_older_ones(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let id = "KIOSK-NEW-1";
    let first = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "device_ids": [id]}))
        .await;
    let second = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "device_ids": [id]}))
        .await;
    // Another id's code is untouched.
    let other = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "device_ids": ["KIOSK-NEW-2"]}))
        .await;
    refused_as_withdrawn(present(&h, &first.codes[0].code).await).await;
    let (p, _) = h.provision_kiosk(&second.codes[0].code).await;
    assert_eq!(p.certificate.device_id, id);
    let (p, _) = h.provision_kiosk(&other.codes[0].code).await;
    assert_eq!(p.certificate.device_id, "KIOSK-NEW-2");
    h.finish().await;
}

async fn a_technician_withdraws_a_leaked_sheet(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "count": 2}))
        .await;
    let (a, b) = (&sheet.codes[0], &sheet.codes[1]);
    let r = withdraw(&h, &a.device_id, &h.technician).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("body");
    assert_eq!(body["withdrawn"], 1);
    assert_eq!(body["device_id"], a.device_id.as_str());
    let r = withdraw(&h, &a.device_id, &h.technician).await;
    assert_eq!(r.json::<Value>().await.expect("body")["withdrawn"], 0);
    refused_as_withdrawn(present(&h, &a.code).await).await;
    // The withdrawn slot's id is free for a new sheet again.
    let next = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    assert_eq!(next.codes[0].device_id, a.device_id);

    // A used code is not withdrawn (it is spent); a device may not withdraw anything.
    let (p, cred): (Provisioned, Cred) = h.provision_kiosk(&b.code).await;
    let r = withdraw(&h, &p.certificate.device_id, &h.technician).await;
    assert_eq!(r.json::<Value>().await.expect("body")["withdrawn"], 0);
    let r = withdraw(&h, &next.codes[0].device_id, &cred).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "forbidden_role");
    let (p, _) = h.provision_kiosk(&next.codes[0].code).await;
    assert_eq!(p.certificate.device_id, a.device_id);
    h.finish().await;
}

async fn another_sites_device_needs_replace(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    let (p, _) = h.provision_kiosk(&sheet.codes[0].code).await;
    let id = p.certificate.device_id;
    h.revoke(&id).await;
    // Revoked, but of another site: moving it there still needs `replace`.
    let body = json!({"site": "000.00.00.H49", "profile": PROFILE, "device_ids": [id]});
    let r = sheet_response(&h, body.clone()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "device_exists");
    let mut body = body;
    body["replace"] = json!(true);
    let moved = h.sheet(body).await;
    let (p, _) = h.provision_kiosk(&moved.codes[0].code).await;
    assert_eq!(p.certificate.site, "000.00.00.H49");
    h.finish().await;
}

async fn a_retry_leaves_only_the_newest_certificate_live(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    let c = h.open_code(&sheet.codes[0].code);
    let key = DeviceKey::generate(&c.device_id, SITE).expect("key");
    let r = h.provision(&c.token, &key).await;
    assert_eq!(r.status(), StatusCode::OK);
    let first: Provisioned = r.json().await.expect("body");
    let r = h.provision(&c.token, &key).await;
    assert_eq!(r.status(), StatusCode::OK);
    let second: Provisioned = r.json().await.expect("body");
    assert_ne!(first.certificate.serial, second.certificate.serial);
    // The first answer (say it arrived late) is no good any more; the second is.
    let r = h
        .req(
            Method::GET,
            "/v1/devices/actions",
            Some(&h.cred_of(&first, &key)),
        )
        .send()
        .await
        .expect("first");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "certificate_revoked");
    let newest = h.cred_of(&second, &key);
    let r = h
        .req(Method::GET, "/v1/devices/actions", Some(&newest))
        .send()
        .await
        .expect("second");
    assert_eq!(r.status(), StatusCode::OK);
    // Its certificate in use, the same kiosk presenting the code again is told it is spent.
    let r = h.provision(&c.token, &key).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.expect("body");
    assert_eq!(body["error"], "token_spent");
    let words = body["message"].as_str().expect("message");
    assert!(
        words.starts_with("mã này đã dùng xong cho ki-ốt này"),
        "{words}"
    );
    h.finish().await;
}

scenarios!(
    revoking_a_device_withdraws_its_unused_codes,
    a_newer_code_supersedes_older_ones,
    a_technician_withdraws_a_leaked_sheet,
    another_sites_device_needs_replace,
    a_retry_leaves_only_the_newest_certificate_live,
);
