//! A retired sequence block's range is allocated again from the Vietnam day after its
//! retirement, and a dossier code is checked against the blocks as they stood on the code's
//! date, against both backends. "Tomorrow" is made by moving every block's history back one
//! day in the database (the same as the gateway's clock moving on a day).

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::provisioning::{SequenceBlock, SequenceBlocks};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn block(first: u16, last: u16) -> SequenceBlock {
    SequenceBlock { first, last }
}

/// Today and yesterday in Vietnam time.
fn days() -> (chrono::NaiveDate, chrono::NaiveDate) {
    let today = chrono::Utc::now()
        .with_timezone(&motcua_domain::vietnam_offset())
        .date_naive();
    (today, today.pred_opt().expect("yesterday"))
}

fn code(day: chrono::NaiveDate, n: u16) -> String {
    format!("{SITE}-{}-{n:04}", day.format("%y%m%d"))
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

async fn accepted(h: &Harness, cred: &Cred, device: &str, code: &str) {
    let r = post_dossier(h, cred, device, code).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{device} {code}");
}

async fn refused(h: &Harness, cred: &Cred, device: &str, code: &str) -> String {
    let r = post_dossier(h, cred, device, code).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{device} {code}");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"], "code_not_yours", "{device} {code}");
    v["message"].as_str().unwrap_or_default().to_string()
}

async fn a_retired_range_is_reused_from_the_next_day(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let (today, yesterday) = days();
    // Kiosk A gets 1..=500; its box is replaced under the same id the same day: 1..=500 is
    // retired and A gets 501..=1000. B, provisioned that day, must not get 1..=500.
    let sheet = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    let (a_old, _) = h.provision_kiosk(&sheet.codes[0].code).await;
    assert_eq!(a_old.blocks, [block(1, 500)]);
    let a_id = a_old.certificate.device_id.clone();
    let again = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "device_ids": [a_id], "replace": true}))
        .await;
    let (a_new, a) = h.provision_kiosk(&again.codes[0].code).await;
    assert_eq!(a_new.blocks, [block(501, 1000)]);
    let sheet = h
        .sheet(json!({"site": SITE, "profile": PROFILE, "count": 2}))
        .await;
    let (b_p, b) = h.provision_kiosk(&sheet.codes[0].code).await;
    assert_eq!(
        b_p.blocks,
        [block(1001, 1500)],
        "not today: A's old box had them"
    );
    let b_id = b_p.certificate.device_id.clone();

    // A day later (every block's history one day back): C gets 1..=500 again.
    h.exec_sql(&format!(
        "UPDATE sequence_blocks SET allocated_at = '{yesterday}T08:00:00+07:00',
         retired_at = CASE WHEN retired_at IS NULL THEN NULL ELSE '{yesterday}T09:00:00+07:00' END"
    ))
    .await;
    let (c_p, c) = h.provision_kiosk(&sheet.codes[1].code).await;
    assert_eq!(c_p.blocks, [block(1, 500)], "free from the day after");
    let c_id = c_p.certificate.device_id.clone();

    // Codes dated the retirement day are A's; dated today, C's.
    accepted(&h, &a, &a_id, &code(yesterday, 1)).await;
    let why = refused(&h, &c, &c_id, &code(yesterday, 2)).await;
    assert!(why.contains(&a_id), "{why}");
    accepted(&h, &c, &c_id, &code(today, 3)).await;
    let why = refused(&h, &a, &a_id, &code(today, 4)).await;
    assert!(why.contains(&c_id), "{why}");
    // B's block and A's current one stay theirs on both days, and no one else's.
    accepted(&h, &b, &b_id, &code(yesterday, 1001)).await;
    accepted(&h, &b, &b_id, &code(today, 1002)).await;
    refused(&h, &b, &b_id, &code(today, 5)).await;
    refused(&h, &b, &b_id, &code(yesterday, 6)).await;
    accepted(&h, &a, &a_id, &code(today, 501)).await;
    refused(&h, &c, &c_id, &code(today, 502)).await;
    refused(&h, &c, &c_id, &code(yesterday, 503)).await;
    // C had no block yesterday: a code of that day in no one's block is the legacy rule's.
    accepted(&h, &c, &c_id, &code(yesterday, 9000)).await;
    refused(&h, &c, &c_id, &code(today, 9001)).await;
    h.finish().await;
}

async fn a_legacy_kiosk_keeps_its_older_codes_after_getting_blocks(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let (today, yesterday) = days();
    let other = h.enroll("KIOSK-O").await;
    let legacy = h.enroll("KIOSK-L").await;
    let r = h
        .req(Method::POST, "/v1/devices/sequence-blocks", Some(&other))
        .send()
        .await
        .expect("blocks");
    assert_eq!(r.status(), StatusCode::OK);
    // Its outbox, numbered from its hand-typed range yesterday, before it had blocks.
    accepted(&h, &legacy, "KIOSK-L", &code(yesterday, 7001)).await;
    let r = h
        .req(Method::POST, "/v1/devices/sequence-blocks", Some(&legacy))
        .send()
        .await
        .expect("blocks");
    assert_eq!(r.status(), StatusCode::OK);
    let blocks = r.json::<SequenceBlocks>().await.expect("blocks").blocks;
    assert_eq!(blocks, [block(501, 1000)]);
    // The other kiosk's block dates from yesterday.
    h.exec_sql(&format!(
        "UPDATE sequence_blocks SET allocated_at = '{yesterday}T08:00:00+07:00'
         WHERE device_id = 'KIOSK-O'"
    ))
    .await;
    // Older codes: the legacy rule (no other device's block that day) still applies ...
    accepted(&h, &legacy, "KIOSK-L", &code(yesterday, 7002)).await;
    // ... but the other kiosk's numbers stay refused, on any day.
    refused(&h, &legacy, "KIOSK-L", &code(yesterday, 3)).await;
    // From its first block's day on, only its blocks.
    refused(&h, &legacy, "KIOSK-L", &code(today, 7003)).await;
    accepted(&h, &legacy, "KIOSK-L", &code(today, 501)).await;
    h.finish().await;
}

scenarios!(
    a_retired_range_is_reused_from_the_next_day,
    a_legacy_kiosk_keeps_its_older_codes_after_getting_blocks,
);
