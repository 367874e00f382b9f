//! The gateway's limits, kept in its database, against both backends: the per-device request
//! rate (counted together by two gateways on one database), open uploads and upload bytes per
//! day, the expiry of abandoned uploads with their part files, field lengths, and the retention
//! of applicant data of finished dossiers.

#[macro_use]
mod harness;

use std::time::Duration;

use harness::*;
use reqwest::{Method, StatusCode};

const CODE: &str = "000.17.22.H56-260531-0001";

async fn catalog_status(cred: &Cred, base: &str) -> reqwest::Response {
    cred.client
        .get(format!("{base}/v1/catalog"))
        .send()
        .await
        .expect("catalog")
}

async fn rate_limit_is_shared_by_gateways_on_one_database(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let limit = |c: &mut motcua_gateway::GatewayConfig| {
        c.limits.requests_per_window = 6;
        // A window longer than the test: no reset in the middle.
        c.limits.rate_window = Duration::from_secs(3600);
    };
    h.reboot_with(limit).await;
    let mut second_config = h.config();
    limit(&mut second_config);
    if backend == Backend::Sqlite {
        // The embedded mode is one gateway per data folder: a second one is refused.
        let refused = motcua_gateway::start(second_config)
            .await
            .err()
            .expect("a second gateway on one SQLite data folder is refused")
            .to_string();
        assert!(
            refused.contains("one instance per data folder"),
            "{refused}"
        );
        h.finish().await;
        return;
    }
    let second = motcua_gateway::start(second_config)
        .await
        .expect("second gateway");
    let second_base = format!("https://{}", second.local_addr());
    let kiosk = h.enroll("KIOSK-1").await;
    let other = h.enroll("KIOSK-2").await;
    // Six requests in all, half on each gateway (the extractor counts every device call).
    for i in 0..6 {
        let base = if i % 2 == 0 {
            h.base.clone()
        } else {
            second_base.clone()
        };
        let r = catalog_status(&kiosk, &base).await;
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
    }
    for base in [&h.base, &second_base] {
        let r = catalog_status(&kiosk, base).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = header(&r, "retry-after").parse().expect("seconds");
        assert!((1..=3600).contains(&retry), "{retry}");
        let body: serde_json::Value = r.json().await.expect("ApiError");
        assert_eq!(body["error"], "rate_limited");
        assert!(
            body["message"].as_str().unwrap_or("").contains("retry in"),
            "{body}"
        );
    }
    // Another device has its own count; role certificates are not counted.
    assert_eq!(
        catalog_status(&other, &h.base).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        h.req(Method::GET, "/v1/admin/stats", Some(&h.system))
            .send()
            .await
            .expect("stats")
            .status(),
        StatusCode::OK
    );
    second.shutdown().await;
    h.finish().await;
}

async fn open_uploads_and_bytes_per_day_are_limited(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| {
        c.limits.max_open_uploads = 2;
        c.limits.upload_bytes_per_day = 1024 * 1024;
    })
    .await;
    let kiosk = h.enroll("KIOSK-1").await;
    let (a, b, c) = (blob(300_000, 1), blob(300_000, 2), blob(300_000, 3));
    let loc_a = h.new_upload(&kiosk, &a).await;
    h.new_upload(&kiosk, &b).await;
    let r = h.create_upload(&kiosk, &c).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(header(&r, "retry-after"), "60");
    assert_eq!(error_code(r).await, "too_many_open_uploads");
    // Finishing one frees a place.
    assert_eq!(
        h.patch(&kiosk, &loc_a, 0, &a).await.status(),
        StatusCode::NO_CONTENT
    );
    let loc_c = h.new_upload(&kiosk, &c).await;
    assert_eq!(
        h.patch(&kiosk, &loc_c, 0, &c).await.status(),
        StatusCode::NO_CONTENT
    );
    // One upload open, 900 000 bytes reserved today: 300 000 more pass the 1 MiB quota.
    let d = blob(300_000, 4);
    let r = h.create_upload(&kiosk, &d).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = header(&r, "retry-after").parse().expect("seconds");
    assert!((1..=86_400).contains(&retry), "until midnight: {retry}");
    assert_eq!(error_code(r).await, "upload_quota_exceeded");
    // A blob this site holds already costs nothing: the kiosk asks first and creates no upload.
    assert_eq!(h.held(&kiosk, &[&a, &d]).await, [sha_hex(&a)]);
    h.finish().await;
}

async fn abandoned_uploads_expire_with_their_part_files(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| {
        c.limits.upload_expiry = Duration::from_secs(1);
        c.limits.sweep_interval = Duration::from_millis(200);
    })
    .await;
    let kiosk = h.enroll("KIOSK-1").await;
    let data = blob(200_000, 9);
    let r = h.create_upload(&kiosk, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // tus expiration: the creation says when the upload goes.
    let expires = header(&r, "upload-expires");
    assert!(expires.ends_with(" GMT"), "{expires}");
    let loc = header(&r, "location");
    assert_eq!(
        h.patch(&kiosk, &loc, 0, &data[..50_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.stored_bytes(&loc),
        50_000,
        "the segments are there while the upload is young"
    );
    // Polled, not timed: the sweep runs every 200 ms and the upload expires after 1 s.
    let mut gone = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = h
            .req(Method::HEAD, &loc, Some(&kiosk))
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("head");
        if r.status() == StatusCode::NOT_FOUND {
            gone = true;
            break;
        }
        // Expired but not yet swept is 410 Gone (tus expiration), not yet expired 200.
        assert!(
            matches!(r.status(), StatusCode::OK | StatusCode::GONE),
            "{}",
            r.status()
        );
    }
    assert!(gone, "the abandoned upload was never removed");
    // The sweep forgets the upload first and deletes its objects next (a crash in between
    // leaves only objects, which a later sweep finds): a moment after the 404 they are gone.
    for _ in 0..50 {
        if h.stored_bytes(&loc) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.stored_bytes(&loc), 0, "its segments are gone too");
    let r = h.patch(&kiosk, &loc, 50_000, &data[50_000..]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.stats().await["uploads_in_progress"], 0);
    // The kiosk starts again with a new upload.
    h.upload_all(&kiosk, &data).await;
    h.finish().await;
}

async fn fields_over_their_limit_are_refused_by_name(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-1").await;
    let mut d = dossier("KIOSK-1", CODE, vec![]);
    d.applicant.full_name = "Nguyễn ".repeat(40);
    let r = h.post_json("/v1/dossiers", &kiosk, Some("k-1"), &d).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.expect("ApiError");
    assert_eq!(body["error"], "field_too_long");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("applicant.full_name"), "{message}");
    assert!(
        message.contains(&motcua_domain::limits::NAME_MAX.to_string()),
        "{message}"
    );
    assert!(
        !message.contains("Nguyễn"),
        "the value is never repeated: {message}"
    );
    let mut d = dossier("KIOSK-1", CODE, vec![]);
    d.applicant.phone = "0".repeat(motcua_domain::limits::PHONE_MAX + 1);
    let r = h.post_json("/v1/dossiers", &kiosk, Some("k-2"), &d).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = h
        .post_json(
            "/v1/tickets",
            &kiosk,
            Some("k-3"),
            &ticket("KIOSK-1", &format!("HT-20260531-1@{}", "K".repeat(200)), 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // At the limit is fine.
    let mut d = dossier("KIOSK-1", CODE, vec![]);
    d.applicant.full_name = "ễ".repeat(motcua_domain::limits::NAME_MAX);
    let r = h.post_json("/v1/dossiers", &kiosk, Some("k-4"), &d).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    h.finish().await;
}

/// The stored body of a dossier, read from the database itself.
async fn stored_body(h: &Harness, code: &str) -> String {
    match &h.pg {
        None => {
            let conn = rusqlite::Connection::open(h.dir.path().join("gateway.sqlite3"))
                .expect("open the SQLite file");
            conn.query_row("SELECT body FROM dossiers WHERE code = ?1", [code], |r| {
                r.get(0)
            })
            .expect("body")
        }
        Some(pg) => {
            let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            let task = tokio::spawn(conn);
            let body: String = client
                .query_one("SELECT body FROM dossiers WHERE code = $1", &[&code])
                .await
                .expect("body")
                .get(0);
            drop(client);
            let _ = task.await;
            body
        }
    }
}

async fn applicant_data_of_finished_dossiers_is_blanked_after_retention(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| {
        c.limits.applicant_retention = Duration::from_secs(1);
        c.limits.sweep_interval = Duration::from_millis(200);
    })
    .await;
    let kiosk = h.enroll("KIOSK-1").await;
    let open_code = "000.17.22.H56-260531-0002";
    for (key, code) in [("k-1", CODE), ("k-2", open_code)] {
        let mut d = dossier("KIOSK-1", code, vec![]);
        if code == CODE {
            d.applicant.id_number = Some("079201009999".into());
        }
        let r = h.post_json("/v1/dossiers", &kiosk, Some(key), &d).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    for (code, status) in [(CODE, "returned"), (open_code, "processing")] {
        let r = h
            .req(
                Method::POST,
                &format!("/v1/admin/dossiers/{code}/status"),
                Some(&h.system),
            )
            .json(&serde_json::json!({ "status": status }))
            .send()
            .await
            .expect("set status");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let mut blanked = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !stored_body(&h, CODE).await.contains("079201009999") {
            blanked = true;
            break;
        }
    }
    assert!(
        blanked,
        "the returned dossier's applicant was never blanked"
    );
    let body: serde_json::Value =
        serde_json::from_str(&stored_body(&h, CODE).await).expect("JSON body");
    for personal in ["Nguyễn", "079201009999", "Sóc Trăng", "0900000000"] {
        assert!(!body.to_string().contains(personal), "{body}");
    }
    assert_eq!(body["code"], CODE);
    assert_eq!(body["received_at"], "2026-05-31T09:15:00+07:00");
    // Code, dates and status stay readable.
    let r = h
        .req(
            Method::GET,
            &format!("/v1/admin/dossiers/{CODE}"),
            Some(&h.system),
        )
        .send()
        .await
        .expect("view");
    let view: serde_json::Value = r.json().await.expect("view");
    assert_eq!(view["status"], "returned");
    assert_eq!(view["appointment_date"], "2026-06-05");
    // A dossier still in processing keeps its applicant.
    assert!(stored_body(&h, open_code).await.contains("079201001234"));
    if h.pg.is_none() {
        // Nor is the returned one's left in the SQLite file's free space or its write-ahead
        // log (the other dossier, still in processing, has its own ID number).
        let returned_id = "079201009999";
        let mut clean = false;
        for _ in 0..100 {
            let bytes: Vec<u8> = ["gateway.sqlite3", "gateway.sqlite3-wal"]
                .iter()
                .filter_map(|f| std::fs::read(h.dir.path().join(f)).ok())
                .flatten()
                .collect();
            if !bytes
                .windows(returned_id.len())
                .any(|w| w == returned_id.as_bytes())
            {
                clean = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            clean,
            "the blanked ID number is still in the database's bytes"
        );
    }
    // A retry of the delivery is still the same delivery.
    let mut d = dossier("KIOSK-1", CODE, vec![]);
    d.applicant.id_number = Some("079201009999".into());
    let r = h.post_json("/v1/dossiers", &kiosk, Some("k-1"), &d).await;
    assert_eq!(r.status(), StatusCode::OK);
    h.finish().await;
}

async fn limits_a_bigint_cannot_hold_are_refused_at_start(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let mut config = h.config();
    config.limits.upload_bytes_per_day = u64::MAX;
    let refused = motcua_gateway::start(config).await.err().expect("refused");
    assert!(
        refused.to_string().contains("daily upload quota"),
        "{refused}"
    );
    h.finish().await;
}

/// The limit flags are bounded where they are read: one past `i64::MAX` is refused by name.
#[test]
fn a_limit_flag_past_a_bigint_is_refused_by_name() {
    for flag in [
        "--upload-bytes-per-day",
        "--max-upload-bytes",
        "--upload-expiry-hours",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["serve", flag, "9223372036854775808"])
            .env_clear()
            .output()
            .expect("run gateway");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains("9223372036854775808"),
            "{flag}: {stderr}"
        );
    }
}

scenarios!(
    limits_a_bigint_cannot_hold_are_refused_at_start,
    rate_limit_is_shared_by_gateways_on_one_database,
    open_uploads_and_bytes_per_day_are_limited,
    abandoned_uploads_expire_with_their_part_files,
    fields_over_their_limit_are_refused_by_name,
    applicant_data_of_finished_dossiers_is_blanked_after_retention,
);
