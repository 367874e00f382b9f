//! The local store on real SQLite files and real blob files: codes, outbox, ratings, tickets,
//! retention and the disk floor.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::{seed, Procedure};
use motcua_domain::dossier::SequenceRange;
use motcua_domain::rating::RatingScale;
use motcua_domain::wire::Applicant;
use motcua_store::DeviceIdentity;
use motcua_store::StoreError;
use motcua_store::{NewDocument, OutboxKind, Store};

const HOUR: Duration = Duration::from_secs(3600);

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<FixedOffset> {
    motcua_domain::vietnam_offset()
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .unwrap()
}

fn device(first: u16, last: u16) -> DeviceIdentity {
    DeviceIdentity {
        id: "KIOSK-T-01".into(),
        agency_code: "000.17.22.H56".into(),
        sequence: Some(SequenceRange { first, last }),
    }
}

fn applicant() -> Applicant {
    Applicant {
        full_name: "Nguyễn Thị Phượng".into(),
        id_number: Some("094186000123".into()),
        birth_date: NaiveDate::from_ymd_opt(1986, 5, 1),
        address: "Phường 1, TP. Sóc Trăng".into(),
        phone: "0901234567".into(),
        email: String::new(),
    }
}

fn procedure(days: u32) -> Procedure {
    let mut p = seed().procedures[0].clone();
    p.processing_days = days;
    p
}

fn doc(store: &Store, content: &[u8]) -> Result<NewDocument, StoreError> {
    Ok(NewDocument {
        name: "Tờ khai".into(),
        file_name: "to-khai.pdf".into(),
        media_type: "application/pdf".into(),
        blob: store.blobs().put_bytes(content)?,
    })
}

fn submit(
    store: &mut Store,
    dev: &DeviceIdentity,
    when: DateTime<FixedOffset>,
    content: &[u8],
) -> Result<String, StoreError> {
    let d = doc(store, content)?;
    store
        .submit_dossier(
            dev,
            &procedure(3),
            &WorkingCalendar::new([]),
            applicant(),
            vec![d],
            when,
        )
        .map(|s| s.code)
}

/// Invariants 1 and 4: a code, once returned, is durable and the next one follows it after a reopen.
#[test]
fn codes_follow_the_circular_and_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let c1 = submit(&mut store, &dev, at(2026, 11, 23, 9), b"a").unwrap();
    let c2 = submit(&mut store, &dev, at(2026, 11, 23, 10), b"b").unwrap();
    assert_eq!(c1, "000.17.22.H56-261123-0001");
    assert_eq!(c2, "000.17.22.H56-261123-0002");
    drop(store);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let c3 = submit(&mut store, &dev, at(2026, 11, 23, 11), b"c").unwrap();
    assert_eq!(c3, "000.17.22.H56-261123-0003");
    let next_day = submit(&mut store, &dev, at(2026, 11, 24, 8), b"d").unwrap();
    assert_eq!(next_day, "000.17.22.H56-261124-0001");
}

/// Invariant 4: a clock set back never reissues a code.
#[test]
fn a_clock_jumping_backwards_never_reuses_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let first = submit(&mut store, &dev, at(2026, 11, 24, 9), b"a").unwrap();
    // The RTC battery died: the clock says 2020.
    let second = submit(&mut store, &dev, at(2020, 1, 1, 0), b"b").unwrap();
    assert_eq!(first, "000.17.22.H56-261124-0001");
    assert_eq!(second, "000.17.22.H56-261124-0002");
}

/// What is stored is what the citizen is told: the appointment date skips weekends.
#[test]
fn appointment_date_skips_weekends() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let d = doc(&store, b"x").unwrap();
    // Friday 2026-11-27 + 3 working days = Wednesday 2026-12-02.
    let s = store
        .submit_dossier(
            &device(1, 9999),
            &procedure(3),
            &WorkingCalendar::new([]),
            applicant(),
            vec![d],
            at(2026, 11, 27, 9),
        )
        .unwrap();
    assert_eq!(
        s.appointment_date,
        NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
    );
}

/// Invariant 4: codes stay inside the device's block; exhaustion is refused, never wrapped.
#[test]
fn a_device_block_is_respected_and_exhaustion_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(5000, 5001);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let a = submit(&mut store, &dev, at(2026, 11, 23, 9), b"a").unwrap();
    let b = submit(&mut store, &dev, at(2026, 11, 23, 9), b"b").unwrap();
    assert!(a.ends_with("-5000") && b.ends_with("-5001"), "{a} {b}");
    let err = submit(&mut store, &dev, at(2026, 11, 23, 9), b"c").unwrap_err();
    assert!(matches!(err, StoreError::SequenceExhausted { .. }), "{err}");
    assert!(err.to_string().contains("5000-5001"));
    assert_eq!(store.list_dossiers(10).unwrap().len(), 2);
    assert_eq!(store.outbox_status().unwrap().pending, 2);
}

/// Invariant 4 with the gateway's blocks: a provisioned device (no block in its config)
/// numbers through its stored blocks in order, skipping the gap, says when it runs low, and
/// refuses clearly when every block is used; a block added later continues the day.
#[test]
fn gateway_blocks_are_used_in_order_and_counted() {
    use motcua_domain::provisioning::SequenceBlock;
    let dir = tempfile::tempdir().unwrap();
    let dev = DeviceIdentity {
        sequence: None,
        ..device(1, 1)
    };
    let mut store = Store::open(dir.path(), 0).unwrap();
    let now = at(2026, 11, 23, 9);
    let err = submit(&mut store, &dev, now, b"none").unwrap_err();
    assert!(matches!(err, StoreError::SequenceExhausted { .. }), "{err}");
    store
        .save_sequence_blocks(
            &[
                SequenceBlock { first: 9, last: 9 },
                SequenceBlock { first: 4, last: 5 },
            ],
            now,
        )
        .unwrap();
    let left = store.numbers_left(&dev, now).unwrap();
    assert_eq!((left.left, left.total), (3, 3));
    let codes: Vec<String> = (0..3)
        .map(|i| submit(&mut store, &dev, now, format!("d{i}").as_bytes()).unwrap())
        .collect();
    assert!(
        codes[0].ends_with("-0004") && codes[1].ends_with("-0005") && codes[2].ends_with("-0009"),
        "{codes:?}"
    );
    let left = store.numbers_left(&dev, now).unwrap();
    assert_eq!(left.left, 0);
    assert!(left.running_low());
    let err = submit(&mut store, &dev, now, b"x").unwrap_err();
    assert!(err.to_string().contains("4-9"), "{err}");
    // The gateway answers with every block, a new one added.
    store
        .save_sequence_blocks(
            &[
                SequenceBlock { first: 4, last: 5 },
                SequenceBlock { first: 9, last: 9 },
                SequenceBlock {
                    first: 20,
                    last: 29,
                },
            ],
            now,
        )
        .unwrap();
    assert_eq!(store.sequence_blocks().unwrap().len(), 3);
    let next = submit(&mut store, &dev, now, b"y").unwrap();
    assert!(next.ends_with("-0020"), "{next}");
    // The next day starts again at the first block.
    let tomorrow = submit(&mut store, &dev, at(2026, 11, 24, 9), b"z").unwrap();
    assert!(tomorrow.ends_with("-0004"), "{tomorrow}");
    assert!(store
        .save_sequence_blocks(&[SequenceBlock { first: 0, last: 3 }], now)
        .is_err());
    assert_eq!(store.sequence_blocks().unwrap().len(), 3, "unchanged");
}

/// A remote action is recorded once with its result (a crash before reporting it reports the
/// recorded result, it is not carried out again), and the last self-test is kept.
#[test]
fn remote_actions_are_recorded_once_and_the_last_self_test_is_kept() {
    use motcua_domain::provisioning::RemoteActionResult;
    use motcua_domain::wire::SelfTestSummary;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 0).unwrap();
    let now = at(2026, 12, 1, 9);
    assert!(store.remote_action_done(7).unwrap().is_none());
    let first = RemoteActionResult {
        ok: true,
        detail: "đã in lại / reprinted".into(),
        log_tail: None,
    };
    store
        .record_remote_action(7, "reprint_last_receipt", &first, now)
        .unwrap();
    let second = RemoteActionResult {
        ok: false,
        ..first.clone()
    };
    store
        .record_remote_action(7, "reprint_last_receipt", &second, now)
        .unwrap();
    assert_eq!(store.remote_action_done(7).unwrap(), Some(first.clone()));
    store.mark_remote_action_reported(7, now).unwrap();
    // Reopened (a restart): still done.
    drop(store);
    let store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(store.remote_action_done(7).unwrap(), Some(first));
    assert!(store.last_self_test().unwrap().is_none());
    let summary = SelfTestSummary {
        at: now,
        passed: false,
        failed: vec!["máy in / printer".into()],
    };
    store.record_self_test(&summary).unwrap();
    assert_eq!(store.last_self_test().unwrap(), Some(summary));
}

/// Invariants 2 and 3: one outbox entry per accepted record, pending until marked delivered.
#[test]
fn every_accepted_thing_has_one_outbox_entry_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let t = at(2026, 11, 23, 9);
    let code = submit(&mut store, &dev, t, b"doc").unwrap();
    let ticket = store.issue_ticket(&dev, "HT", t).unwrap();
    let ticket2 = store.issue_ticket(&dev, "HT", t).unwrap();
    let other = store.issue_ticket(&dev, "DD", t).unwrap();
    assert_eq!((ticket.number, ticket2.number, other.number), (1, 2, 1));
    assert_eq!(ticket.ticket_id, "HT-20261123-1@KIOSK-T-01");
    let rating = store
        .rate(&dev, RatingScale::Five, &ticket.ticket_id, 2, t)
        .unwrap();
    assert_eq!(rating.score, 2);
    let again = store
        .rate(&dev, RatingScale::Five, &ticket.ticket_id, 1, t)
        .unwrap_err();
    assert!(matches!(again, StoreError::AlreadyRated(_)));
    let bad = store.rate(&dev, RatingScale::Three, "X-1", 4, t);
    assert!(matches!(bad, Err(StoreError::Rejected(_))));

    let status = store.outbox_status().unwrap();
    assert_eq!(status.pending, 5);
    assert_eq!(status.uploads.len(), 1);

    let first = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    assert_eq!(first.kind, OutboxKind::Dossier);
    assert_eq!(first.payload, code);
    assert_eq!(first.idempotency_key, format!("KIOSK-T-01:dossier:{code}"));
    let now = chrono::Utc::now().timestamp_millis();
    store
        .record_failure(first.id, "gateway down", now, Duration::from_secs(3600))
        .unwrap();
    let next = store.next_due(now, HOUR).unwrap().unwrap();
    assert_eq!(
        next.kind,
        OutboxKind::Ticket,
        "a failing entry must not block the others"
    );
    let status = store.outbox_status().unwrap();
    assert_eq!(status.failing, 1);
    assert_eq!(status.last_error.as_deref(), Some("gateway down"));
    assert_eq!(store.retry_now().unwrap(), 5);
    assert_eq!(store.next_due(now, HOUR).unwrap().unwrap().id, first.id);
    store.mark_delivered(first.id, t).unwrap();
    let status = store.outbox_status().unwrap();
    assert_eq!((status.pending, status.delivered), (4, 1));
}

/// Invariant 3: blobs and personal data are deleted only after delivery plus retention.
#[test]
fn blobs_and_personal_data_go_only_after_delivery_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let t = at(2026, 11, 23, 9);
    let code = submit(&mut store, &dev, t, b"shared content").unwrap();
    let code2 = submit(&mut store, &dev, t, b"shared content").unwrap();
    let sha = store.dossier(&code).unwrap().unwrap().documents[0]
        .sha256
        .clone();
    let day = Duration::from_secs(86_400);
    let much_later = at(2026, 12, 30, 0);

    store.mark_upload_complete(&sha, t).unwrap();
    assert_eq!(store.collect_garbage(day, much_later).unwrap(), 0);
    assert!(
        store.blobs().contains(&sha),
        "undelivered dossiers keep their blobs"
    );

    let e1 = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    store.mark_delivered(e1.id, t).unwrap();
    assert_eq!(store.collect_garbage(day, much_later).unwrap(), 0);
    assert!(
        store.blobs().contains(&sha),
        "the second dossier still needs the blob"
    );

    let e2 = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    store.mark_delivered(e2.id, t).unwrap();
    assert_eq!(store.collect_garbage(day, at(2026, 11, 23, 12)).unwrap(), 0);
    assert!(store.blobs().contains(&sha), "retention not over yet");
    let kept = store.dossier(&code2).unwrap().unwrap();
    assert_eq!(
        kept.applicant.full_name, "Nguyễn Thị Phượng",
        "retention not over"
    );

    assert_eq!(store.collect_garbage(day, at(2026, 11, 25, 0)).unwrap(), 1);
    assert!(!store.blobs().contains(&sha));
    for c in [&code, &code2] {
        let purged = store.dossier(c).unwrap().unwrap();
        assert_eq!(purged.applicant.full_name, "", "personal data purged");
        assert_eq!(purged.applicant.id_number, None);
        assert_eq!(purged.code, *c, "the code stays for status lookups");
    }
}

/// Invariant 1: below the disk floor new work is refused before anything is written; accepted work stays.
#[test]
fn below_the_disk_floor_new_work_is_refused_and_old_work_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let code = submit(&mut store, &dev, at(2026, 11, 23, 9), b"kept").unwrap();
    drop(store);
    let mut full = Store::open(dir.path(), u64::MAX / 4).unwrap();
    let err = submit(&mut full, &dev, at(2026, 11, 23, 9), b"new").unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("below the floor"));
    assert!(full.issue_ticket(&dev, "HT", at(2026, 11, 23, 9)).is_err());
    let listed = full.list_dossiers(10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].code, code);
    assert_eq!(full.outbox_status().unwrap().pending, 1);
}

/// Schema: a database from newer software is refused, never migrated backwards.
#[test]
fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path(), 0).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(dir.path(), 0).err().unwrap();
    assert!(err.to_string().contains("newer than this program"), "{err}");
}

/// Invariant 3: a pending entry is always delivered eventually, even if a wrong clock scheduled it.
#[test]
fn an_entry_scheduled_by_a_clock_that_was_ahead_is_not_stranded() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    submit(&mut store, &dev, at(2026, 11, 23, 9), b"x").unwrap();
    let e = store.next_due(i64::MAX, HOUR).unwrap().unwrap();
    // The clock said 2030 when the failure was recorded: retry "in a minute" from then.
    let now = chrono::Utc::now().timestamp_millis();
    let in_2030 = at(2030, 11, 23, 9).timestamp_millis();
    store
        .record_failure(e.id, "offline", in_2030, Duration::from_secs(60))
        .unwrap();
    assert_eq!(store.next_due(now, HOUR).unwrap().map(|x| x.id), Some(e.id));
    store
        .record_failure(e.id, "offline", now, Duration::from_secs(60))
        .unwrap();
    assert!(
        store.next_due(now, HOUR).unwrap().is_none(),
        "an ordinary backoff is respected"
    );
}

/// Invariant 3: a blob no record uses goes after the retention period, not before.
#[test]
fn orphan_blobs_of_refused_dossiers_are_collected_after_retention() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let orphan = store
        .blobs()
        .put_bytes(b"scan of a dossier never accepted")
        .unwrap();
    let code = submit(&mut store, &dev, at(2026, 11, 23, 9), b"kept").unwrap();
    let kept = store.dossier(&code).unwrap().unwrap().documents[0]
        .sha256
        .clone();
    assert_eq!(
        store.collect_garbage(HOUR, at(2026, 11, 23, 9)).unwrap(),
        0,
        "too young"
    );
    assert_eq!(
        store
            .collect_garbage(Duration::ZERO, at(2026, 11, 23, 9))
            .unwrap(),
        1
    );
    assert!(!store.blobs().contains(&orphan.sha256));
    assert!(
        store.blobs().contains(&kept),
        "a pending dossier's blob stays"
    );
}

/// Invariant 1: a record is accepted only with its blobs in place, checked under the write
/// lock; a blob that went missing between storing it and submitting refuses the dossier, and
/// nothing of it (code, outbox entry) is kept.
#[test]
fn a_dossier_whose_blob_is_gone_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let document = doc(&store, b"scanned page").unwrap();
    store.blobs().remove(&document.blob.sha256).unwrap();
    let refused = store.submit_dossier(
        &dev,
        &procedure(5),
        &WorkingCalendar::new([]),
        applicant(),
        vec![document],
        at(2026, 11, 23, 9),
    );
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
    let status = store.outbox_status().unwrap();
    assert_eq!(status.pending, 0, "no outbox entry for a refused dossier");
    assert!(store.list_dossiers(10).unwrap().is_empty());
    // The number was not used: the next accepted dossier gets the first code of the day.
    let accepted = submit(&mut store, &dev, at(2026, 11, 23, 9), b"x").unwrap();
    assert!(accepted.ends_with("-0001"), "{accepted}");
}

/// An upload makes way for small records due, but not for a rating of a dossier still in the
/// outbox: the gateway refuses a rating before its dossier, so stopping for it gains nothing.
#[test]
fn only_small_records_the_gateway_can_take_make_an_upload_wait() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device(1, 9999);
    let mut store = Store::open(dir.path(), 0).unwrap();
    let t = at(2026, 11, 23, 9);
    let now = chrono::Utc::now().timestamp_millis();
    let code = submit(&mut store, &dev, t, b"doc").unwrap();
    assert!(
        !store.small_record_due(now).unwrap(),
        "a dossier alone is not small"
    );
    store.rate(&dev, RatingScale::Five, &code, 1, t).unwrap();
    assert!(
        !store.small_record_due(now).unwrap(),
        "the rating of the dossier being uploaded must wait for it"
    );
    let dossier = store.next_due(now, HOUR).unwrap().unwrap();
    assert_eq!(dossier.kind, OutboxKind::Dossier);
    store.mark_delivered(dossier.id, t).unwrap();
    assert!(
        store.small_record_due(now).unwrap(),
        "its dossier delivered, the rating is due"
    );

    let dir2 = tempfile::tempdir().unwrap();
    let mut other = Store::open(dir2.path(), 0).unwrap();
    submit(&mut other, &dev, t, b"doc").unwrap();
    other.issue_ticket(&dev, "HT", t).unwrap();
    assert!(
        other.small_record_due(now).unwrap(),
        "a ticket goes ahead of an upload"
    );
}
