//! Deduplication that stays tus, and the tus `termination` and `expiration` extensions, on both
//! backends: `POST /v1/blobs/held` answers only for the asking device's site; a creation is
//! always a new upload at offset 0 (also for a blob the gateway holds, which is then stored
//! once); `DELETE` removes an upload for its own device only, with its stored segments and what it
//! reserved of the day; `Upload-Expires` is on creation, HEAD and PATCH answers, and an expired
//! upload answers 410.

#[macro_use]
mod harness;

use std::time::Duration;

use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const OTHER: &str = "000.00.14.H56";

async fn held_answers_only_for_the_sites_own_blobs(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let b = h.enroll("KIOSK-B").await;
    let x = h.enroll_at("KIOSK-X", OTHER).await;
    let ours = blob(4000, 31);
    let theirs = blob(6000, 32);
    let unknown = blob(100, 33);
    h.upload_all(&a, &ours).await;
    h.upload_all(&x, &theirs).await;

    // Held: the site's own blob (uploaded by another device of the site too), once, in order.
    let r = h
        .req(Method::POST, "/v1/blobs/held", Some(&b))
        .json(&json!({ "sha256": [sha_hex(&unknown), sha_hex(&theirs), sha_hex(&ours), sha_hex(&ours)] }))
        .send()
        .await
        .expect("held");
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.expect("body");
    assert_eq!(
        v,
        json!({ "held": [{ "sha256": sha_hex(&ours), "size": 4000 }] })
    );
    // Another site's blob reads as not held, both ways round.
    assert!(h.held(&a, &[&theirs]).await.is_empty());
    assert!(h.held(&x, &[&ours]).await.is_empty());
    assert!(h.held(&a, &[]).await.is_empty());
    // Once this site uploads it (verified like any upload), both sites hold it, stored once.
    h.upload_all(&a, &theirs).await;
    assert_eq!(
        h.held(&b, &[&ours, &theirs]).await,
        [sha_hex(&ours), sha_hex(&theirs)]
    );
    assert_eq!(h.held(&x, &[&theirs]).await, [sha_hex(&theirs)]);
    assert_eq!(h.stats().await["blobs"], 2);
    h.finish().await;
}

async fn held_refuses_bad_questions_with_api_errors(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let ask = |body: String, cred: Option<&Cred>| {
        h.req(Method::POST, "/v1/blobs/held", cred)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let r = ask("not json".into(), Some(&a)).await.expect("held");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_json");
    let r = ask(json!({ "hashes": [] }).to_string(), Some(&a))
        .await
        .expect("held");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_json");
    let upper = sha_hex(b"x").to_uppercase();
    for bad in [upper.as_str(), "abc", "../../etc/passwd"] {
        let r = ask(json!({ "sha256": [bad] }).to_string(), Some(&a))
            .await
            .expect("held");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error_code(r).await, "invalid_sha256");
    }
    let many: Vec<String> = (0..101u32).map(|i| sha_hex(&i.to_be_bytes())).collect();
    let r = ask(json!({ "sha256": many }).to_string(), Some(&a))
        .await
        .expect("held");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(r).await, "too_many_blobs");
    // Devices only: no certificate is 401, a technician's 403.
    let one = json!({ "sha256": [sha_hex(b"x")] }).to_string();
    let r = ask(one.clone(), None).await.expect("held");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "certificate_required");
    let r = ask(one, Some(&h.technician)).await.expect("held");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "forbidden_role");
    h.finish().await;
}

async fn a_plain_tus_creation_of_a_held_blob_uploads_it_again_stored_once(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let data = blob(50_000, 41);
    h.upload_all(&a, &data).await;
    // A generic tus client knows nothing of /v1/blobs/held: it creates, then PATCHes from 0.
    let r = h.create_upload(&a, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert!(header(&r, "upload-expires").ends_with(" GMT"));
    let loc = header(&r, "location");
    assert_eq!(h.head_offset(&a, &loc).await, 0);
    let r = h.patch(&a, &loc, 0, &data[..20_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "20000");
    let r = h.patch(&a, &loc, 20_000, &data[20_000..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "50000");
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0)),
        "the same blob is stored once: {s}"
    );
    let sha = sha_hex(&data);
    let blob = h.blob_file(&sha);
    let dir = blob.parent().expect("blob folder");
    // (An S3 server's own metadata files, hidden or marked with '#', are not blobs.)
    let files: Vec<_> = std::fs::read_dir(dir)
        .expect("blob dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && !name.contains('#'))
        .collect();
    assert_eq!(files.len(), 1, "one blob file in {}", dir.display());
    let r = h
        .req(Method::GET, &format!("/v1/blobs/{sha}"), Some(&h.system))
        .send()
        .await
        .expect("blob");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    h.finish().await;
}

async fn termination_is_the_owners_and_frees_what_the_upload_held(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| c.limits.upload_bytes_per_day = 1024 * 1024)
        .await;
    let a = h.enroll("KIOSK-A").await;
    let b = h.enroll("KIOSK-B").await;
    let data = blob(600_000, 51);
    let loc = h.new_upload(&a, &data).await;
    let r = h.patch(&a, &loc, 0, &data[..100_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        h.stored_bytes(&loc),
        100_000,
        "the received bytes are stored"
    );
    // Another device's DELETE: the upload is unknown to it, and nothing goes.
    let r = h.terminate(&b, &loc).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(h.head_offset(&a, &loc).await, 100_000);
    let r = h
        .req(Method::DELETE, &loc, Some(&a))
        .send()
        .await
        .expect("delete");
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "Tus-Resumable is needed"
    );
    // The owner's.
    let r = h.terminate(&a, &loc).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(
        h.stored_bytes(&loc),
        0,
        "the upload's stored segments go with it"
    );
    let r = h
        .req(Method::HEAD, &loc, Some(&a))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h.patch(&a, &loc, 100_000, &data[100_000..]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "not_found");
    assert_eq!(h.terminate(&a, &loc).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.stats().await["uploads_in_progress"], 0);
    // The 500 000 bytes never received went back to the day: 100 000 + 600 000 fit in 1 MiB
    // (1 200 000 would not).
    let loc = h.new_upload(&a, &data).await;
    let r = h.patch(&a, &loc, 0, &data).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // A finished upload's record goes, its verified blob stays.
    assert_eq!(h.terminate(&a, &loc).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.held(&a, &[&data]).await, [sha_hex(&data)]);
    assert_eq!(h.stats().await["blobs"], 1);
    h.finish().await;
}

async fn expiry_is_told_and_an_expired_upload_is_gone(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let data = blob(30_000, 61);
    let loc = h.new_upload(&a, &data).await;
    let r = h
        .req(Method::HEAD, &loc, Some(&a))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    assert!(header(&r, "upload-expires").ends_with(" GMT"));
    let r = h.patch(&a, &loc, 0, &data[..10_000]).await;
    assert!(header(&r, "upload-expires").ends_with(" GMT"));
    let r = h.patch(&a, &loc, 10_000, &data[10_000..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        r.headers().get("upload-expires").is_none(),
        "a finished upload never expires"
    );

    // An expiry of 1 s and no sweep after the first: the idle upload answers 410 until removed.
    h.reboot_with(|c| {
        c.limits.upload_expiry = Duration::from_secs(1);
        c.limits.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    let other = blob(20_000, 62);
    let loc = h.new_upload(&a, &other).await;
    let mut status = StatusCode::OK;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = h
            .req(Method::HEAD, &loc, Some(&a))
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("head")
            .status();
        if status != StatusCode::OK {
            break;
        }
    }
    assert_eq!(status, StatusCode::GONE);
    let r = h.patch(&a, &loc, 0, &other).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(error_code(r).await, "upload_expired");
    // Asking again makes a new upload: the expired one, though at offset 0, is not handed back.
    let r = h.create_upload(&a, &other).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_ne!(header(&r, "location"), loc);
    h.finish().await;
}

scenarios!(
    held_answers_only_for_the_sites_own_blobs,
    held_refuses_bad_questions_with_api_errors,
    a_plain_tus_creation_of_a_held_blob_uploads_it_again_stored_once,
    termination_is_the_owners_and_frees_what_the_upload_held,
    expiry_is_told_and_an_expired_upload_is_gone,
);
