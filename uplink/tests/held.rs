//! Which failures hold an entry for a technician: the gateway's refusals no retry can fix (a
//! code clash, another site) and a local document file that is missing or damaged do; a 5xx,
//! an unreachable gateway and a refused certificate do not, and are retried.

mod common;

use std::time::Duration;

use common::{authority, enrol_files, serve, Answer, DEVICE, SITE};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::{vietnam_now, DeviceIdentity, HoldState, NewDocument, OutboxStatus, Store};
use motcua_uplink::{DeviceLink, Uplink, UplinkSettings};

fn settings(url: &str) -> UplinkSettings {
    UplinkSettings {
        gateway_url: url.to_owned(),
        chunk_bytes: 64 * 1024,
        max_rate_bytes_per_sec: 0,
        daily_upload_budget_bytes: None,
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(600),
        request_timeout: Duration::from_secs(10),
        retention: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(50),
    }
}

fn device() -> DeviceIdentity {
    DeviceIdentity {
        id: DEVICE.into(),
        agency_code: SITE.into(),
        sequence: Some(SequenceRange { first: 1, last: 99 }),
    }
}

/// A store with one queued dossier carrying one document; returns the document's SHA-256.
fn store_with_a_dossier(dir: &std::path::Path) -> String {
    let mut store = Store::open(dir, 0).unwrap();
    let blob = store.blobs().put_bytes(&[7u8; 10_000]).unwrap();
    let sha = blob.sha256.clone();
    let doc = NewDocument {
        name: "Tờ khai".into(),
        file_name: "to-khai.pdf".into(),
        media_type: "application/pdf".into(),
        blob,
    };
    let applicant = Applicant {
        full_name: "Trần Văn Bình".into(),
        id_number: None,
        birth_date: None,
        address: "Phường 2".into(),
        phone: "0901234567".into(),
        email: String::new(),
    };
    store
        .submit_dossier(
            &device(),
            &seed().procedures[0],
            &WorkingCalendar::new([]),
            applicant,
            vec![doc],
            vietnam_now(),
        )
        .unwrap();
    sha
}

/// Makes `turns` turns of the uplink against `url` (each attempts what is due) and returns the
/// outbox afterwards.
async fn turns(data: &std::path::Path, url: &str, turns: usize) -> OutboxStatus {
    let files = motcua_uplink::IdentityFiles::in_data_dir(data);
    let link = DeviceLink::open(files, url, Duration::from_secs(10)).unwrap();
    let mut uplink = Uplink::new(Store::open(data, 0).unwrap(), link, settings(url));
    for _ in 0..turns {
        uplink.turn().await.unwrap();
        // What a technician's `kioskctl retry` does between turns: makes retryable entries
        // due now, so only a hold can keep an entry from being attempted again.
        Store::open(data, 0).unwrap().retry_now().unwrap();
    }
    Store::open(data, 0).unwrap().outbox_status().unwrap()
}

async fn held_after_refusal(line: &'static str, code: &'static str) -> (OutboxStatus, Vec<String>) {
    let ca = authority("CA tỉnh A");
    let server = serve(
        &ca,
        &["127.0.0.1"],
        Some(ca.clone()),
        Answer::Status(line, code),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let mut store = Store::open(data.path(), 0).unwrap();
    store.issue_ticket(&device(), "TP", vietnam_now()).unwrap();
    drop(store);
    let outbox = turns(data.path(), &server.url(), 3).await;
    (outbox, server.requests())
}

#[tokio::test]
async fn a_code_clash_is_held_for_a_technician_and_not_attempted_again() {
    let (outbox, requests) = held_after_refusal("409 Conflict", "conflict").await;
    assert_eq!(
        requests,
        ["POST /v1/tickets"],
        "one attempt over three turns"
    );
    assert_eq!(
        (outbox.pending, outbox.needs_technician),
        (1, 1),
        "{outbox:?}"
    );
    let held = &outbox.needs_technician_entries[0];
    assert_eq!(held.state, HoldState::NeedsTechnician);
    assert!(
        held.reason.starts_with(
            "CẦN KỸ THUẬT VIÊN / needs a technician: máy chủ đã có hồ sơ khác cùng mã này"
        ),
        "{}",
        held.reason
    );
    assert!(
        held.reason.contains("two kiosks sharing one number block"),
        "{}",
        held.reason
    );
    assert!(
        held.reason.contains("409 (conflict)"),
        "the gateway's words stay: {}",
        held.reason
    );
}

#[tokio::test]
async fn a_site_mismatch_is_held_and_names_the_setting_to_check() {
    let (outbox, requests) = held_after_refusal("403 Forbidden", "site_mismatch").await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(outbox.needs_technician, 1);
    let reason = &outbox.needs_technician_entries[0].reason;
    assert!(reason.contains("check [device] agency_code"), "{reason}");
}

#[tokio::test]
async fn a_5xx_is_retried_not_held() {
    let (outbox, requests) = held_after_refusal("503 Service Unavailable", "internal").await;
    assert_eq!(requests.len(), 3, "attempted at every turn: {requests:?}");
    assert_eq!(
        (outbox.pending, outbox.needs_technician, outbox.failing),
        (1, 0, 1)
    );
    let error = outbox.last_error.unwrap_or_default();
    assert!(!error.contains("CẦN KỸ THUẬT VIÊN"), "{error}");
}

/// A gateway over its limits (429 with `Retry-After`) is waited for: the entry is attempted
/// again after the wait (no technician's retry between the turns here), and it is neither held
/// nor counted as failing; it has no error recorded.
#[tokio::test]
async fn a_429_is_waited_for_not_counted_as_a_failure_nor_held() {
    let ca = authority("CA tỉnh A");
    let server = serve(
        &ca,
        &["127.0.0.1"],
        Some(ca.clone()),
        Answer::Busy("rate_limited"),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let mut store = Store::open(data.path(), 0).unwrap();
    store.issue_ticket(&device(), "TP", vietnam_now()).unwrap();
    drop(store);
    let url = server.url();
    let files = motcua_uplink::IdentityFiles::in_data_dir(data.path());
    let link = DeviceLink::open(files, &url, Duration::from_secs(10)).unwrap();
    let mut uplink = Uplink::new(Store::open(data.path(), 0).unwrap(), link, settings(&url));
    for _ in 0..3 {
        assert!(
            uplink.turn().await.unwrap(),
            "the entry is due at every turn"
        );
    }
    let outbox = Store::open(data.path(), 0)
        .unwrap()
        .outbox_status()
        .unwrap();
    assert_eq!(server.requests().len(), 3, "{:?}", server.requests());
    assert_eq!(
        (outbox.pending, outbox.needs_technician, outbox.failing),
        (1, 0, 0),
        "{outbox:?}"
    );
    assert_eq!(outbox.last_error, None);
}

/// After a checksum mismatch the kiosk keeps the gateway's upload and sends it again from
/// offset 0: a new upload each time would leave the old ones open at the gateway, counting
/// against the device's open uploads and its bytes of the day.
#[tokio::test]
async fn after_a_checksum_mismatch_the_same_upload_is_sent_again_from_zero() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Mismatch).await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let sha = store_with_a_dossier(data.path());
    let outbox = turns(data.path(), &server.url(), 3).await;
    let requests = server.requests();
    let created = requests.iter().filter(|r| *r == "POST /v1/uploads").count();
    let patched = requests
        .iter()
        .filter(|r| *r == "PATCH /v1/uploads/u1")
        .count();
    assert_eq!((created, patched), (1, 3), "{requests:?}");
    // It asked first whether the gateway holds the blob; this one (like a gateway older than
    // the question) answers 404, and the blob is simply uploaded.
    let asked = requests
        .iter()
        .filter(|r| *r == "POST /v1/blobs/held")
        .count();
    assert_eq!(asked, 1, "{requests:?}");
    let state = Store::open(data.path(), 0)
        .unwrap()
        .upload_state(&sha)
        .unwrap()
        .expect("upload state");
    assert!(
        state
            .upload_url
            .is_some_and(|u| u.ends_with("/v1/uploads/u1")),
        "the upload is kept"
    );
    assert_eq!((outbox.pending, outbox.needs_technician), (1, 0));
}

#[tokio::test]
async fn a_refused_certificate_waits_for_re_enrolment_and_is_not_held() {
    let (outbox, requests) = held_after_refusal("401 Unauthorized", "certificate_revoked").await;
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!((outbox.pending, outbox.needs_technician), (1, 0));
}

#[tokio::test]
async fn an_unreachable_gateway_is_retried_not_held() {
    let ca = authority("CA tỉnh A");
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut store = Store::open(data.path(), 0).unwrap();
    store.issue_ticket(&device(), "TP", vietnam_now()).unwrap();
    drop(store);
    let outbox = turns(data.path(), &url, 2).await;
    assert_eq!(
        (outbox.pending, outbox.needs_technician),
        (1, 0),
        "{outbox:?}"
    );
    assert!(outbox
        .last_error
        .unwrap_or_default()
        .contains("cannot reach"));
}

async fn held_with_broken_blob(break_it: impl FnOnce(&std::path::Path)) -> (String, Vec<String>) {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Normal).await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let sha = store_with_a_dossier(data.path());
    break_it(&Store::open(data.path(), 0).unwrap().blobs().path(&sha));
    let outbox = turns(data.path(), &server.url(), 2).await;
    assert_eq!(
        (outbox.pending, outbox.needs_technician),
        (1, 1),
        "{outbox:?}"
    );
    let held = &outbox.needs_technician_entries[0];
    assert!(held.dossier_code.is_some());
    assert!(
        held.reason.contains(&sha),
        "names the document: {}",
        held.reason
    );
    (held.reason.clone(), server.requests())
}

#[tokio::test]
async fn a_missing_document_file_is_held_with_a_clear_reason_and_nothing_sent() {
    let (reason, requests) = held_with_broken_blob(|p| std::fs::remove_file(p).unwrap()).await;
    assert!(
        reason.contains(
            "tệp tài liệu trên ki-ốt bị mất / a document's file on this kiosk is missing"
        ),
        "{reason}"
    );
    assert!(requests.is_empty(), "{requests:?}");
}

#[tokio::test]
async fn a_truncated_document_file_is_held_as_damaged_and_nothing_sent() {
    let (reason, requests) = held_with_broken_blob(|p| {
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(4_000).unwrap();
    })
    .await;
    assert!(
        reason.contains("a document's file on this kiosk is damaged"),
        "{reason}"
    );
    assert!(reason.contains("no longer matches its hash"), "{reason}");
    assert!(requests.is_empty(), "{requests:?}");
}
