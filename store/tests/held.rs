//! Entries held for a technician, on real SQLite and blob files: they leave pending work but
//! stay undelivered (retention keeps their data, the removal guard counts them), survive a
//! reopen, and move only by a technician's retry or set-aside.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeZone};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::{DeviceIdentity, HoldState, NewDocument, OutboxKind, Store, StoreError};

const HOUR: Duration = Duration::from_secs(3600);
const CLASH: &str = "CẦN KỸ THUẬT VIÊN / needs a technician: mã hồ sơ trùng / code clash";

fn at(d: u32, h: u32) -> DateTime<FixedOffset> {
    motcua_domain::vietnam_offset()
        .with_ymd_and_hms(2026, 11, d, h, 0, 0)
        .unwrap()
}

fn device() -> DeviceIdentity {
    DeviceIdentity {
        id: "KIOSK-T-01".into(),
        agency_code: "000.17.22.H56".into(),
        sequence: Some(SequenceRange {
            first: 1,
            last: 9999,
        }),
    }
}

fn submit(store: &mut Store, content: &[u8]) -> String {
    let doc = NewDocument {
        name: "Tờ khai".into(),
        file_name: "to-khai.pdf".into(),
        media_type: "application/pdf".into(),
        blob: store.blobs().put_bytes(content).unwrap(),
    };
    let applicant = Applicant {
        full_name: "Nguyễn Thị Phượng".into(),
        id_number: None,
        birth_date: None,
        address: "Phường 1, TP. Sóc Trăng".into(),
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
            at(23, 9),
        )
        .unwrap()
        .code
}

#[test]
fn a_held_entry_leaves_pending_work_but_stays_undelivered_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let code = submit(&mut store, b"clashing dossier");
    store.issue_ticket(&device(), "HT", at(23, 9)).unwrap();
    let entry = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    assert_eq!(entry.payload, code);

    assert!(store
        .hold_for_technician(entry.id, CLASH, at(23, 10))
        .unwrap());
    assert!(
        !store
            .hold_for_technician(entry.id, "again", at(23, 11))
            .unwrap(),
        "holding twice changes nothing"
    );
    drop(store);
    let store = Store::open(dir.path(), 0).unwrap();

    let next = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    assert_eq!(
        next.kind,
        OutboxKind::Ticket,
        "the held dossier is not picked"
    );
    store.mark_delivered(next.id, at(23, 10)).unwrap();
    assert!(store.next_due(i64::MAX, HOUR).unwrap().is_none());
    assert_eq!(
        store.next_due_at().unwrap(),
        None,
        "no pending work is left"
    );
    assert_eq!(
        store.retry_now().unwrap(),
        0,
        "kioskctl retry leaves it held"
    );
    assert!(store.next_due(i64::MAX, HOUR).unwrap().is_none());

    let status = store.outbox_status().unwrap();
    assert_eq!(
        (status.pending, status.needs_technician, status.set_aside),
        (1, 1, 0),
        "still undelivered, so the removal guard (pending > 0) refuses"
    );
    let listed = &status.needs_technician_entries;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, entry.id);
    assert_eq!(listed[0].kind, OutboxKind::Dossier);
    assert_eq!(listed[0].dossier_code.as_deref(), Some(code.as_str()));
    assert_eq!(listed[0].reason, CLASH);
    assert_eq!(listed[0].since, at(23, 10).to_rfc3339());
    assert_eq!(listed[0].attempts, 1);
}

#[test]
fn a_technician_sets_an_entry_aside_or_retries_it_with_its_failures_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    submit(&mut store, b"one");
    submit(&mut store, b"two");
    let a = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    store.record_failure(a.id, "offline", now, HOUR).unwrap();
    let b = store.next_due(now, HOUR).unwrap().unwrap();
    store.hold_for_technician(a.id, CLASH, at(23, 10)).unwrap();
    store.hold_for_technician(b.id, CLASH, at(23, 10)).unwrap();

    let refused = store.set_aside(999, at(23, 11)).unwrap_err();
    assert!(matches!(refused, StoreError::Rejected(_)), "{refused}");
    assert!(refused.to_string().contains("no outbox entry 999"));
    store.set_aside(a.id, at(23, 11)).unwrap();
    let again = store.set_aside(a.id, at(23, 12)).unwrap_err();
    assert!(again.to_string().contains("set aside already"), "{again}");

    let status = store.outbox_status().unwrap();
    assert_eq!(
        (status.pending, status.needs_technician, status.set_aside),
        (2, 1, 1)
    );
    assert_eq!(
        status.needs_technician_entries.len(),
        1,
        "set aside is not listed as needing one"
    );
    let held = store.held_entries().unwrap();
    assert_eq!(held.len(), 2, "the outbox list shows both");
    let aside = held.iter().find(|h| h.id == a.id).unwrap();
    assert_eq!(aside.state, HoldState::SetAside);
    assert_eq!(aside.reason, CLASH, "its reason is kept");
    assert_eq!(aside.since, at(23, 11).to_rfc3339());

    assert_eq!(
        store.retry_all_held().unwrap(),
        1,
        "--all leaves the set-aside one"
    );
    let retried = store.next_due(now, HOUR).unwrap().unwrap();
    assert_eq!(
        (retried.id, retried.attempts),
        (b.id, 0),
        "due now, count reset"
    );
    let not_held = store.retry_held(b.id).unwrap_err();
    assert!(
        not_held
            .to_string()
            .contains("not waiting for a technician"),
        "{not_held}"
    );

    store.retry_held(a.id).unwrap();
    let status = store.outbox_status().unwrap();
    assert_eq!(
        (status.needs_technician, status.set_aside, status.failing),
        (0, 0, 0)
    );
    store.mark_delivered(a.id, at(23, 12)).unwrap();
    let delivered = store.retry_held(a.id).unwrap_err();
    assert!(
        delivered.to_string().contains("delivered already"),
        "{delivered}"
    );
    assert!(!store.hold_for_technician(a.id, CLASH, at(23, 13)).unwrap());
}

/// Invariant 3: a held or set-aside dossier was never delivered, so retention keeps its blob
/// and its applicant's data however long it waits.
#[test]
fn retention_keeps_what_held_and_set_aside_entries_need() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let held_code = submit(&mut store, b"held");
    let aside_code = submit(&mut store, b"aside");
    for code in [&held_code, &aside_code] {
        let sha = store.dossier(code).unwrap().unwrap().documents[0]
            .sha256
            .clone();
        store.mark_upload_complete(&sha, at(23, 9)).unwrap();
    }
    let first = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    store
        .hold_for_technician(first.id, CLASH, at(23, 10))
        .unwrap();
    let second = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    store
        .hold_for_technician(second.id, CLASH, at(23, 10))
        .unwrap();
    store.set_aside(second.id, at(23, 10)).unwrap();

    let years_later = at(23, 9) + chrono::Duration::days(3 * 365);
    assert_eq!(
        store
            .collect_garbage(Duration::from_secs(86_400), years_later)
            .unwrap(),
        0
    );
    for code in [&held_code, &aside_code] {
        let kept = store.dossier(code).unwrap().unwrap();
        assert!(store.blobs().contains(&kept.documents[0].sha256), "{code}");
        assert_eq!(kept.applicant.full_name, "Nguyễn Thị Phượng", "{code}");
    }
    assert_eq!(store.outbox_status().unwrap().pending, 2);
}

#[test]
fn an_export_names_the_body_the_gateway_would_get_and_its_blob_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let code = submit(&mut store, b"to the counter");
    let entry = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    store
        .hold_for_technician(entry.id, CLASH, at(23, 10))
        .unwrap();
    let export = store.export_entry(entry.id).unwrap();
    assert_eq!(export.kind, OutboxKind::Dossier);
    assert_eq!(export.idempotency_key, entry.idempotency_key);
    assert_eq!(export.body["code"], code.as_str());
    assert_eq!(export.hold.map(|h| h.reason).as_deref(), Some(CLASH));
    assert_eq!(export.blobs.len(), 1);
    assert_eq!(
        std::fs::read(&export.blobs[0].path).unwrap(),
        b"to the counter"
    );
    assert!(store.export_entry(999).is_err());
}
