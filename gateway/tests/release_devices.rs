//! The release endpoints devices use, against both backends (SQLite with local files,
//! PostgreSQL with S3), with real `.deb` packages published as `gateway release publish` does: the offer by
//! wave, running version and oldest version upgraded from; the package whole and by byte
//! range (a resumed download); reports that only go forward; a rollout that pauses itself on
//! rollbacks, resumed and aborted by a technician through the admin API.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::release::{wave_position, WavePlan};
use motcua_domain::wire::ReleaseOffer;
use motcua_identity::release::{ReleaseKey, TrustedReleaseKey};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A device id whose wave position is below `share` (basis points) or, with `inside` false, at
/// or above it: the canaries and the rest of a `1%@0h` wave.
fn device_in_wave(share: u32, inside: bool, tag: &str) -> String {
    (0..100_000)
        .map(|i| format!("kiosk-{tag}-{i}"))
        .find(|id| (wave_position(id) < share) == inside)
        .expect("a device id in range")
}

async fn publish(h: &Harness, key: &ReleaseKey, version: &str, waves: &str) -> Vec<u8> {
    let deb = deb(
        h.dir.path(),
        version,
        &format!("payload of {version} {}", "x".repeat(300)),
    );
    let waves: WavePlan = waves.parse().expect("waves");
    motcua_gateway::publish_release(
        &h.release_source(),
        key,
        &deb,
        waves,
        Some("0.1.0-1".into()),
        chrono::Utc::now().timestamp(),
    )
    .await
    .expect("published");
    std::fs::read(&deb).expect("deb")
}

async fn offer(h: &Harness, cred: &Cred, running: &str) -> Option<String> {
    let r = h
        .req(
            Method::GET,
            &format!("/v1/releases/offer?package=motcua-kiosk&running={running}"),
            Some(cred),
        )
        .send()
        .await
        .expect("offer");
    assert_eq!(r.status(), StatusCode::OK);
    let offer: ReleaseOffer = r.json().await.expect("offer JSON");
    offer.release.map(|r| {
        assert!(r.manifest.starts_with("MOTCUA-RELEASE1."), "{}", r.manifest);
        r.version
    })
}

async fn report(h: &Harness, cred: &Cred, version: &str, body: Value) -> StatusCode {
    h.post_json(&format!("/v1/releases/{version}/report"), cred, None, &body)
        .await
        .status()
}

async fn package(
    h: &Harness,
    cred: &Cred,
    version: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let mut r = h.req(
        Method::GET,
        &format!("/v1/releases/{version}/package"),
        Some(cred),
    );
    if let Some(range) = range {
        r = r.header("Range", range);
    }
    r.send().await.expect("package")
}

async fn offers_follow_waves_versions_and_ranges(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let key = ReleaseKey::generate().expect("key");
    let trusted: TrustedReleaseKey = key.public_key().parse().expect("public key");
    let v2 = publish(&h, &key, "0.2.0-1", "100%@0h").await;
    publish(&h, &key, "0.3.0-1", "1%@0h,100%@72h").await;

    let canary = h.enroll(&device_in_wave(100, true, "canary")).await;
    let later = h.enroll(&device_in_wave(100, false, "later")).await;
    // The newest release of the device's wave, only as an upgrade from 0.1.0-1 on.
    assert_eq!(
        offer(&h, &canary, "0.1.0-1").await.as_deref(),
        Some("0.3.0-1")
    );
    assert_eq!(
        offer(&h, &later, "0.1.0-1").await.as_deref(),
        Some("0.2.0-1")
    );
    assert_eq!(
        offer(&h, &later, "0.0.9-1").await,
        None,
        "older than the oldest upgraded from"
    );
    assert_eq!(offer(&h, &later, "0.2.0-1").await, None, "runs it already");
    assert_eq!(offer(&h, &canary, "0.3.0-1").await, None);
    let bad = h
        .req(
            Method::GET,
            "/v1/releases/offer?package=motcua-kiosk&running=v2;rm",
            Some(&later),
        )
        .send()
        .await
        .expect("offer");
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(bad).await, "invalid_query");
    let anonymous = h
        .req(
            Method::GET,
            "/v1/releases/offer?package=motcua-kiosk&running=0.1.0-1",
            None,
        )
        .send()
        .await
        .expect("offer");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The signed manifest opens with the release key and names the package served.
    let r = h
        .req(
            Method::GET,
            "/v1/releases/offer?package=motcua-kiosk&running=0.1.0-1",
            Some(&later),
        )
        .send()
        .await
        .expect("offer");
    let offered: ReleaseOffer = r.json().await.expect("JSON");
    let offered = offered.release.expect("offered");
    let manifest = motcua_domain::release::ReleaseManifest::from_json(
        &trusted
            .open(&offered.manifest)
            .expect("signed by the release key"),
    )
    .expect("manifest");
    assert_eq!(manifest.sha256, sha_hex(&v2));
    assert_eq!(manifest.size, v2.len() as u64);

    // Whole, then resumed from byte 100, then past the end; a release not offered is hidden.
    let whole = package(&h, &later, "0.2.0-1", None).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(header(&whole, "etag"), format!("\"{}\"", sha_hex(&v2)));
    assert_eq!(header(&whole, "accept-ranges"), "bytes");
    assert_eq!(whole.bytes().await.expect("body").as_ref(), v2.as_slice());
    let tail = package(&h, &later, "0.2.0-1", Some("bytes=100-")).await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&tail, "content-range"),
        format!("bytes 100-{}/{}", v2.len() - 1, v2.len())
    );
    assert_eq!(tail.bytes().await.expect("body").as_ref(), &v2[100..]);
    let stale = h
        .req(Method::GET, "/v1/releases/0.2.0-1/package", Some(&later))
        .header("Range", "bytes=100-")
        .header("If-Range", "\"0000\"")
        .send()
        .await
        .expect("package");
    assert_eq!(
        stale.status(),
        StatusCode::OK,
        "a partial file of another package starts over"
    );
    let past = package(&h, &later, "0.2.0-1", Some(&format!("bytes={}-", v2.len()))).await;
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(&past, "content-range"),
        format!("bytes */{}", v2.len())
    );
    let hidden = package(&h, &later, "0.3.0-1", None).await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    // Reports go forward only; a retry of the same stage changes nothing.
    let stage = |s: &str| json!({ "stage": s });
    assert_eq!(
        report(&h, &later, "0.2.0-1", stage("downloaded")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        report(&h, &later, "0.2.0-1", stage("downloaded")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        report(&h, &later, "0.2.0-1", stage("installed")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        report(&h, &later, "0.2.0-1", stage("downloaded")).await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        report(&h, &later, "0.2.0-1", stage("offered")).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let long = json!({ "stage": "rolled_back", "detail": "x".repeat(16 * 1024 + 1) });
    assert_eq!(
        report(&h, &later, "0.2.0-1", long).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        report(&h, &later, "0.2.0-1", stage("committed")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        report(&h, &later, "0.2.0-1", stage("rolled_back")).await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        report(&h, &later, "0.3.0-1", stage("downloaded")).await,
        StatusCode::NOT_FOUND
    );

    let list = releases(&h).await;
    let two = release(&list, "0.2.0-1");
    assert_eq!(
        (
            two["offered"].as_u64(),
            two["downloaded"].as_u64(),
            two["installed"].as_u64(),
            two["committed"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{two}"
    );
    assert_eq!(release(&list, "0.3.0-1")["offered"], 1, "{list}");
    h.finish().await;
}

async fn rollbacks_pause_the_rollout_and_technicians_steer_it(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let key = ReleaseKey::generate().expect("key");
    publish(&h, &key, "0.4.0-1", "100%@0h").await;
    let mut devices = Vec::new();
    for i in 0..4 {
        devices.push(h.enroll(&format!("kiosk-pause-{i}")).await);
    }
    for d in &devices[..3] {
        assert_eq!(offer(&h, d, "0.3.0-1").await.as_deref(), Some("0.4.0-1"));
        for s in ["downloaded", "installed"] {
            assert_eq!(
                report(&h, d, "0.4.0-1", json!({"stage": s})).await,
                StatusCode::NO_CONTENT
            );
        }
    }
    let done = |s: &str| json!({"stage": s, "detail": "kioskd: cấu hình sai / bad config"});
    assert_eq!(
        report(&h, &devices[0], "0.4.0-1", done("committed")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        report(&h, &devices[1], "0.4.0-1", done("rolled_back")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        release(&releases(&h).await, "0.4.0-1")["state"],
        "rolling",
        "one rollback of two"
    );
    assert_eq!(
        report(&h, &devices[2], "0.4.0-1", done("rolled_back")).await,
        StatusCode::NO_CONTENT
    );
    let list = releases(&h).await;
    let four = release(&list, "0.4.0-1");
    assert_eq!(four["state"], "paused", "{four}");
    assert!(
        four["state_reason"]
            .as_str()
            .is_some_and(|r| r.contains("2 of 3")),
        "{four}"
    );
    assert_eq!(four["rolled_back"], 2);
    assert_eq!(
        offer(&h, &devices[3], "0.3.0-1").await,
        None,
        "a paused rollout offers nothing"
    );

    let page = h
        .req(Method::GET, "/v1/admin/fleet.html", Some(&h.technician))
        .send()
        .await
        .expect("fleet page")
        .text()
        .await
        .expect("page");
    assert!(page.contains("data-release=\"0.4.0-1\""), "{page}");
    assert!(page.contains("Tạm dừng / Paused"), "{page}");
    assert!(
        page.contains("action=\"/v1/admin/releases/0.4.0-1/resume\""),
        "{page}"
    );

    // A technician resumes it (JSON with a reason), then aborts it from the fleet page's form.
    let resume = h
        .req(
            Method::POST,
            "/v1/admin/releases/0.4.0-1/resume",
            Some(&h.technician),
        )
        .json(&json!({"reason": "driver fixed on the two desks"}))
        .send()
        .await
        .expect("resume");
    assert_eq!(resume.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        offer(&h, &devices[3], "0.3.0-1").await.as_deref(),
        Some("0.4.0-1")
    );
    let denied = h
        .req(
            Method::POST,
            "/v1/admin/releases/0.4.0-1/pause",
            Some(&devices[3]),
        )
        .send()
        .await
        .expect("pause");
    assert_eq!(
        denied.status(),
        StatusCode::FORBIDDEN,
        "a device does not steer rollouts"
    );
    let abort = h
        .req(
            Method::POST,
            "/v1/admin/releases/0.4.0-1/abort",
            Some(&h.technician),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Sec-Fetch-Site", "same-origin")
        .body("")
        .send()
        .await
        .expect("abort");
    // 303 back to the fleet page, which the client follows.
    assert_eq!(abort.status(), StatusCode::OK);
    assert!(
        abort.url().path().ends_with("/v1/admin/fleet.html"),
        "{}",
        abort.url()
    );
    let gone = package(&h, &devices[3], "0.4.0-1", None).await;
    assert_eq!(gone.status(), StatusCode::GONE);
    assert_eq!(error_code(gone).await, "release_aborted");
    assert_eq!(offer(&h, &devices[3], "0.3.0-1").await, None);
    let again = h
        .req(
            Method::POST,
            "/v1/admin/releases/0.4.0-1/resume",
            Some(&h.technician),
        )
        .send()
        .await
        .expect("resume");
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "an aborted release stays aborted"
    );
    let four = releases(&h).await;
    assert_eq!(release(&four, "0.4.0-1")["state"], "aborted");
    assert_eq!(release(&four, "0.4.0-1")["offered"], 4);
    h.finish().await;
}

async fn post_package(h: &Harness, query: &str, bytes: Vec<u8>) -> reqwest::Response {
    h.req(
        Method::POST,
        &format!("/v1/admin/releases?{query}"),
        Some(&h.technician),
    )
    .header("Content-Type", "application/vnd.debian.binary-package")
    .body(bytes)
    .send()
    .await
    .expect("publish")
}

async fn technicians_publish_through_the_admin_api(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let v5 = std::fs::read(deb(h.dir.path(), "0.5.0-1", "five")).expect("deb");
    let without_key = post_package(&h, "waves=100%25@0h", v5.clone()).await;
    assert_eq!(without_key.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(without_key).await, "releases_unavailable");

    let key = ReleaseKey::generate().expect("key");
    let key_file = h.dir.path().join("release.key");
    std::fs::write(&key_file, key.to_pem()).expect("key file");
    h.reboot_with(|c| c.release_key_file = Some(key_file.clone()))
        .await;
    let created = post_package(
        &h,
        "waves=1%25@0h,100%25@72h&min_from_version=0.1.0-1",
        v5.clone(),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let body: Value = created.json().await.expect("JSON");
    assert_eq!(body["version"], "0.5.0-1");
    assert_eq!(body["sha256"], sha_hex(&v5));
    assert_eq!(body["waves"], "1%@0h,100%@3d");
    let again = post_package(&h, "waves=100%25@0h", v5.clone()).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "the same package again changes nothing"
    );
    let other = std::fs::read(deb(h.dir.path(), "0.5.0-1", "another five")).expect("deb");
    let taken = post_package(&h, "waves=100%25@0h", other).await;
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(taken).await, "release_refused");
    let junk = post_package(&h, "waves=100%25@0h", b"not a package".to_vec()).await;
    assert_eq!(error_code(junk).await, "release_refused");
    let waves = post_package(&h, "waves=50%25@0h", v5.clone()).await;
    assert_eq!(waves.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(waves).await, "invalid_waves");
    let device = h.enroll(&device_in_wave(100, true, "api")).await;
    assert_eq!(
        publish_offered_manifest(&h, &device).await,
        Some(key.public_key()),
        "the canary is offered it, signed with the gateway's release key"
    );
    assert_eq!(release(&releases(&h).await, "0.5.0-1")["offered"], 1);
    h.finish().await;
}

/// The public key the offered manifest opens with (tries the one key a test made).
async fn publish_offered_manifest(h: &Harness, device: &Cred) -> Option<String> {
    let r = h
        .req(
            Method::GET,
            "/v1/releases/offer?package=motcua-kiosk&running=0.1.0-1",
            Some(device),
        )
        .send()
        .await
        .expect("offer");
    let offer: ReleaseOffer = r.json().await.expect("JSON");
    let manifest = offer.release?.manifest;
    let key_file = h.dir.path().join("release.key");
    let key = ReleaseKey::from_pem(&std::fs::read_to_string(key_file).ok()?).ok()?;
    let trusted: TrustedReleaseKey = key.public_key().parse().ok()?;
    trusted.open(&manifest).ok().map(|_| key.public_key())
}

scenarios!(
    offers_follow_waves_versions_and_ranges,
    rollbacks_pause_the_rollout_and_technicians_steer_it,
    technicians_publish_through_the_admin_api
);
