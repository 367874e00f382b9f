//! Status only with the receipt secret (issue 14, item 2), over HTTPS against both backends:
//! the right secret reads the status; a wrong secret, a dossier delivered without a secret, an
//! unknown code and another site's code answer byte for byte alike; failed lookups are limited
//! per device and per code in the database, and once over the limit even the right secret gets
//! 429 `too_many_lookups` with a `Retry-After`. Counting and deciding are one transaction: many
//! wrong lookups racing on one code through two gateways on one database let no more through
//! than the limit.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::wire::DossierStatusView;
use reqwest::StatusCode;

/// Another site of the province.
const OTHER: &str = "000.00.14.H56";

fn code(n: u16) -> String {
    format!("{SITE}-260531-{n:04}")
}

async fn deliver(h: &Harness, cred: &Cred, device: &str, code: &str) {
    let r = h
        .post_json(
            "/v1/dossiers",
            cred,
            Some(&format!("d:{code}")),
            &dossier(device, code, vec![]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{code}");
}

/// What a client can tell apart in an answer: status, the headers that are not the date, body.
async fn answer(r: reqwest::Response) -> (StatusCode, Vec<(String, String)>, String) {
    let status = r.status();
    let mut headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str() != "date")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    headers.sort();
    (status, headers, r.text().await.expect("body"))
}

async fn the_right_secret_reads_the_status(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let b = h.enroll("KIOSK-B").await;
    let stored = code(1);
    deliver(&h, &a, "KIOSK-A", &stored).await;
    // As printed, and as a citizen may type it; from any device of the site.
    for (cred, secret) in [(&a, SECRET), (&b, "7kq2 m9xd"), (&a, "7KQ2M9XD")] {
        let r = h.lookup(cred, &stored, secret).await;
        assert_eq!(r.status(), StatusCode::OK, "{secret}");
        let view: DossierStatusView = r.json().await.expect("view");
        assert_eq!(view.code, stored);
        assert!(view.documents.is_empty(), "devices get no document list");
    }
    // The old route is gone: a code alone opens nothing.
    let r = h
        .req(
            reqwest::Method::GET,
            &format!("/v1/dossiers/{stored}"),
            Some(&a),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no such route");
    h.finish().await;
}

async fn every_miss_answers_alike(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let x = h.enroll_at("KIOSK-X", OTHER).await;
    let stored = code(1);
    deliver(&h, &a, "KIOSK-A", &stored).await;
    // Delivered by a kiosk older than the secret: no hash.
    let bare = code(2);
    let mut d = dossier("KIOSK-A", &bare, vec![]);
    d.lookup_sha256 = None;
    let r = h.post_json("/v1/dossiers", &a, Some("bare"), &d).await;
    assert_eq!(r.status(), StatusCode::CREATED, "old kiosks still deliver");
    // Another site's dossier, with the same secret.
    let theirs = format!("{OTHER}-260531-0001");
    let mut d = dossier("KIOSK-X", &theirs, vec![]);
    d.agency_code = OTHER.into();
    let r = h.post_json("/v1/dossiers", &x, Some("x"), &d).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(h.lookup(&x, &theirs, SECRET).await.status(), StatusCode::OK);

    let wrong = answer(h.lookup(&a, &stored, "7KQ2-M9XE").await).await;
    assert_eq!(wrong.0, StatusCode::NOT_FOUND);
    assert!(
        !wrong.2.contains(&stored),
        "the answer does not repeat the code"
    );
    for (what, code, secret) in [
        ("an unknown code", code(3), SECRET),
        ("another site's code", theirs.clone(), SECRET),
        ("a dossier without a secret", bare.clone(), SECRET),
        (
            "the zero secret on a dossier without one",
            bare.clone(),
            "0000-0000",
        ),
        (
            "a secret that does not parse",
            stored.clone(),
            "not a secret",
        ),
        ("no secret", stored.clone(), ""),
        ("not a code", "NOT-A-CODE".to_string(), SECRET),
    ] {
        assert_eq!(
            answer(h.lookup(&a, &code, secret).await).await,
            wrong,
            "{what}"
        );
    }
    // The code's owner still reads it: 8 misses were spread over 6 codes.
    assert_eq!(h.lookup(&a, &stored, SECRET).await.status(), StatusCode::OK);
    h.finish().await;
}

async fn failures_on_a_code_are_limited(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let b = h.enroll("KIOSK-B").await;
    let target = code(1);
    let other = code(2);
    deliver(&h, &a, "KIOSK-A", &target).await;
    deliver(&h, &a, "KIOSK-A", &other).await;
    // Five wrong tries from two kiosks: the code's limit counts all devices.
    for (i, cred) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let r = h.lookup(cred, &target, &format!("0000-000{i}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    for cred in [&a, &b] {
        let r = h.lookup(cred, &target, SECRET).await;
        assert_eq!(
            r.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "even the right secret"
        );
        let retry: u64 = header(&r, "retry-after").parse().expect("seconds");
        assert!((1..=3600).contains(&retry), "{retry}");
        let v: serde_json::Value = r.json().await.expect("json");
        assert_eq!(v["error"], "too_many_lookups");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("phút") && message.contains("minutes"),
            "{message}"
        );
    }
    // Other codes are not affected.
    assert_eq!(h.lookup(&a, &other, SECRET).await.status(), StatusCode::OK);
    h.finish().await;
}

async fn failures_of_a_device_are_limited(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let b = h.enroll("KIOSK-B").await;
    let stored = code(1);
    deliver(&h, &a, "KIOSK-A", &stored).await;
    // Walking 20 codes, one try each: under every code's limit, at the device's.
    for n in 100..120 {
        let r = h.lookup(&a, &code(n), SECRET).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let r = h.lookup(&a, &stored, SECRET).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right secret"
    );
    assert!(header(&r, "retry-after")
        .parse::<u64>()
        .is_ok_and(|s| (1..=600).contains(&s)));
    assert_eq!(error_code(r).await, "too_many_lookups");
    // Another kiosk of the site is not affected.
    assert_eq!(h.lookup(&b, &stored, SECRET).await.status(), StatusCode::OK);
    h.finish().await;
}

async fn a_malformed_hash_is_refused_at_ingest(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let mut d = dossier("KIOSK-A", &code(1), vec![]);
    d.lookup_sha256 = Some(SECRET.into());
    let r = h.post_json("/v1/dossiers", &a, Some("k"), &d).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the secret itself is never stored"
    );
    assert_eq!(error_code(r).await, "invalid_body");
    h.finish().await;
}

async fn racing_wrong_lookups_get_no_more_than_the_limit_through(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let mut creds = Vec::new();
    for n in 0..4 {
        creds.push(h.enroll(&format!("KIOSK-{n}")).await);
    }
    let target = code(1);
    deliver(&h, &creds[0], "KIOSK-0", &target).await;
    // A second gateway on the same database and data directory, as behind a load balancer
    // (PostgreSQL only: the embedded SQLite mode runs one instance per data folder, so there
    // the lookups race through one gateway).
    let second = match backend {
        Backend::Postgres => Some(
            motcua_gateway::start(h.config())
                .await
                .expect("second gateway"),
        ),
        Backend::Sqlite => None,
    };
    let bases = [
        h.base.clone(),
        second
            .as_ref()
            .map_or_else(|| h.base.clone(), |g| format!("https://{}", g.local_addr())),
    ];
    // 48 wrong lookups at once on one code, from 4 kiosks (12 each: under a device's limit of
    // 20), through both gateways: the code's limit is 5.
    let mut tasks = Vec::new();
    for i in 0..48usize {
        let client = creds[i % 4].client.clone();
        let url = format!("{}/v1/dossiers/status", bases[i % 2]);
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&serde_json::json!({"code": target, "secret": format!("ZZZZ-{i:04}")}))
                .send()
                .await
                .expect("lookup")
                .status()
        }));
    }
    let mut not_found = 0;
    let mut limited = 0;
    for t in tasks {
        match t.await.expect("task") {
            StatusCode::NOT_FOUND => not_found += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("unexpected answer {other}"),
        }
    }
    assert_eq!(not_found, 5, "exactly the code's limit got through");
    assert_eq!(limited, 43);
    assert_eq!(
        h.lookup(&creds[1], &target, SECRET).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the right secret waits too"
    );
    if let Some(second) = second {
        second.shutdown().await;
    }
    h.finish().await;
}

scenarios!(
    the_right_secret_reads_the_status,
    every_miss_answers_alike,
    failures_on_a_code_are_limited,
    failures_of_a_device_are_limited,
    a_malformed_hash_is_refused_at_ingest,
    racing_wrong_lookups_get_no_more_than_the_limit_through,
);
