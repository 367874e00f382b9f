//! Citizens' data at rest on real SQLite files: the applicant is sealed with the data key (not
//! in the database file, its WAL or its shared memory), the store refuses a missing or other
//! key instead of losing dossiers, clear applicants of older databases are sealed at open,
//! retention clears the sealed copy; and the PIN lockout survives a reopen.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::{DeviceIdentity, NewDocument, PinTry, Store, StoreError};

const ID_NUMBER: &str = "094186000123";
const NAME: &str = "Nguyễn Thị Phượng";
const PHONE: &str = "0901234567";

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

fn applicant() -> Applicant {
    Applicant {
        full_name: NAME.into(),
        id_number: Some(ID_NUMBER.into()),
        birth_date: NaiveDate::from_ymd_opt(1986, 5, 1),
        address: "Phường 1, TP. Sóc Trăng".into(),
        phone: PHONE.into(),
        email: "phuong@example.invalid".into(),
    }
}

fn submit(store: &mut Store, content: &[u8]) -> String {
    let blob = store.blobs().put_bytes(content).unwrap();
    let doc = NewDocument {
        name: "Tờ khai".into(),
        file_name: "to-khai.pdf".into(),
        media_type: "application/pdf".into(),
        blob,
    };
    let mut procedure = seed().procedures[0].clone();
    procedure.processing_days = 3;
    store
        .submit_dossier(
            &device(),
            &procedure,
            &WorkingCalendar::new([]),
            applicant(),
            vec![doc],
            at(23, 9),
        )
        .unwrap()
        .code
}

/// The bytes of the database and its companions, each with its name.
fn database_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["kiosk.sqlite3", "kiosk.sqlite3-wal", "kiosk.sqlite3-shm"]
        .iter()
        .filter_map(|name| {
            std::fs::read(dir.join(name))
                .ok()
                .map(|b| (name.to_string(), b))
        })
        .collect()
}

fn assert_not_in_clear(dir: &Path) {
    let files = database_files(dir);
    assert!(files.iter().any(|(n, _)| n == "kiosk.sqlite3"));
    for (name, bytes) in files {
        for secret in [ID_NUMBER, NAME, PHONE] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} found in clear in {name}"
            );
        }
    }
}

#[test]
fn the_applicant_is_sealed_in_the_database_and_its_wal_yet_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let code = submit(&mut store, b"scan");
    // Checked with the store still open: the WAL then still holds the transaction's pages.
    assert!(dir.path().join("kiosk.sqlite3-wal").exists());
    assert_not_in_clear(dir.path());
    assert_eq!(
        store.dossier(&code).unwrap().unwrap().applicant,
        applicant()
    );
    drop(store);
    assert_not_in_clear(dir.path());
    let store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(
        store.dossier(&code).unwrap().unwrap().applicant,
        applicant()
    );
}

#[test]
fn a_missing_or_other_key_is_refused_and_the_dossiers_are_kept_for_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let code = submit(&mut store, b"scan");
    drop(store);
    let key = dir.path().join("data.key");
    let saved = std::fs::read(&key).unwrap();

    std::fs::remove_file(&key).unwrap();
    let err = Store::open(dir.path(), 0).err().unwrap();
    assert!(
        matches!(&err, StoreError::DataKeyUnusable { sealed: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("Restore the data.key"), "{err}");
    assert!(!key.exists(), "no new key is made over sealed dossiers");

    std::fs::write(&key, [7u8; 32]).unwrap();
    let err = Store::open(dir.path(), 0).err().unwrap();
    assert!(err.to_string().contains("another key"), "{err}");

    std::fs::write(&key, &saved).unwrap();
    let store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(
        store.dossier(&code).unwrap().unwrap().applicant,
        applicant()
    );
}

#[test]
fn clear_applicants_of_an_older_database_are_sealed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let code = submit(&mut store, b"scan");
    drop(store);
    // As a kiosk before sealing stored it: the applicant in the JSON, no sealed copy.
    {
        let db = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
        let clear = serde_json::to_string(&applicant()).unwrap();
        db.execute(
            "UPDATE dossiers SET applicant_sealed = NULL,
               submission = json_set(submission, '$.applicant', json(?1))",
            [clear],
        )
        .unwrap();
        let found: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM dossiers WHERE submission LIKE ?1",
                [format!("%{ID_NUMBER}%")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(found, 1);
    }
    let store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(
        store.dossier(&code).unwrap().unwrap().applicant,
        applicant()
    );
    assert_not_in_clear(dir.path());
}

#[test]
fn retention_clears_the_sealed_applicant() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let code = submit(&mut store, b"scan");
    let entry = store
        .next_due(i64::MAX, Duration::from_secs(60))
        .unwrap()
        .unwrap();
    store.mark_delivered(entry.id, at(23, 10)).unwrap();
    store
        .collect_garbage(Duration::from_secs(86_400), at(26, 0))
        .unwrap();
    // The WAL was checkpointed and emptied: no page of the applicant's row stays in it.
    let wal = std::fs::metadata(dir.path().join("kiosk.sqlite3-wal")).unwrap();
    assert_eq!(wal.len(), 0);
    let purged = store.dossier(&code).unwrap().unwrap();
    assert_eq!(purged.applicant.full_name, "");
    assert_eq!(purged.applicant.id_number, None);
    drop(store);
    let db = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
    let sealed: Option<Vec<u8>> = db
        .query_row(
            "SELECT applicant_sealed FROM dossiers WHERE code = ?1",
            [&code],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sealed, None);
}

#[test]
fn the_pin_lockout_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let now = 1_800_000_000_000;
    let wrong = |store: &mut Store, at: i64| {
        assert!(matches!(
            store.count_pin_try("screen", 3, 60_000, at).unwrap(),
            PinTry::Counted(_)
        ));
        store.record_pin_failure("screen", 3, 60_000, at).unwrap()
    };
    assert_eq!(wrong(&mut store, now).failures, 1);
    drop(store);
    let mut store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(store.pin_attempts("screen").unwrap().failures, 1);
    wrong(&mut store, now + 1);
    let locked = wrong(&mut store, now + 2);
    assert_eq!(locked.locked_for(now + 2, 60_000), Some(60_000));
    drop(store);
    let store = Store::open(dir.path(), 0).unwrap();
    let after = store.pin_attempts("screen").unwrap();
    assert_eq!(after.locked_for(now + 10_000, 60_000), Some(50_002));
    assert_eq!(after.locked_for(now + 70_000, 60_000), None);
    // A clock set back does not lengthen the lockout.
    assert_eq!(after.locked_for(now - 3_600_000, 60_000), Some(60_000));
    store.clear_pin_failures("screen").unwrap();
    assert_eq!(store.pin_attempts("screen").unwrap(), Default::default());
}

#[test]
fn a_missing_key_is_not_made_anew_once_a_fingerprint_is_recorded_even_with_nothing_sealed() {
    let dir = tempfile::tempdir().unwrap();
    // A new kiosk: the first open makes the key and records its fingerprint; nothing is sealed.
    let mut running = Store::open(dir.path(), 0).unwrap();
    let key = dir.path().join("data.key");
    let saved = std::fs::read(&key).unwrap();
    // The key file goes missing while kioskd runs (or another process looks elsewhere for it):
    // a second open (kioskctl status) must not make another key over the recorded one.
    std::fs::remove_file(&key).unwrap();
    let err = Store::open(dir.path(), 0).err().unwrap();
    assert!(
        matches!(&err, StoreError::DataKeyUnusable { sealed: 0, .. }),
        "{err}"
    );
    assert!(
        !key.exists(),
        "no new key is made over a recorded fingerprint"
    );
    // The running store keeps sealing with the recorded key, and what it seals opens once the
    // key is back.
    let code = submit(&mut running, b"scan");
    drop(running);
    std::fs::write(&key, &saved).unwrap();
    let store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(
        store.dossier(&code).unwrap().unwrap().applicant,
        applicant()
    );
}

#[test]
fn a_submission_is_refused_whole_when_the_recorded_fingerprint_is_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    // Another process recorded another key meanwhile (as an older kioskctl did).
    {
        let db = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
        db.execute(
            "UPDATE meta SET value = 'ffffffffffffffff' WHERE key = 'data_key_fingerprint'",
            [],
        )
        .unwrap();
    }
    let blob = store.blobs().put_bytes(b"scan").unwrap();
    let doc = NewDocument {
        name: "Tờ khai".into(),
        file_name: "to-khai.pdf".into(),
        media_type: "application/pdf".into(),
        blob,
    };
    let err = store
        .submit_dossier(
            &device(),
            &seed().procedures[0],
            &WorkingCalendar::new([]),
            applicant(),
            vec![doc],
            at(23, 9),
        )
        .err()
        .unwrap();
    assert!(matches!(&err, StoreError::DataKeyUnusable { .. }), "{err}");
    assert!(err.citizen_message().contains("The kiosk has a problem"));
    let db = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
    let stored: i64 = db
        .query_row("SELECT COUNT(*) FROM dossiers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0);
}

#[test]
fn an_unreadable_old_row_is_skipped_and_kept_while_the_others_are_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let good = submit(&mut store, b"one");
    let bad_json = submit(&mut store, b"two");
    let not_object = submit(&mut store, b"three");
    drop(store);
    {
        let db = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
        let clear = serde_json::to_string(&applicant()).unwrap();
        db.execute(
            "UPDATE dossiers SET applicant_sealed = NULL,
               submission = json_set(submission, '$.applicant', json(?1)) WHERE code = ?2",
            rusqlite::params![clear, good],
        )
        .unwrap();
        db.execute(
            "UPDATE dossiers SET applicant_sealed = NULL, submission = '{not json' WHERE code = ?1",
            [&bad_json],
        )
        .unwrap();
        db.execute(
            "UPDATE dossiers SET applicant_sealed = NULL, submission = '[1, 2]' WHERE code = ?1",
            [&not_object],
        )
        .unwrap();
    }
    let store = Store::open(dir.path(), 0).expect("one bad row does not stop the kiosk");
    assert_eq!(
        store.dossier(&good).unwrap().unwrap().applicant,
        applicant()
    );
    drop(store);
    let db = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
    let kept: String = db
        .query_row(
            "SELECT submission FROM dossiers WHERE code = ?1",
            [&bad_json],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, "{not json", "the bad row is kept as it was");
    let kept: String = db
        .query_row(
            "SELECT submission FROM dossiers WHERE code = ?1",
            [&not_object],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, "[1, 2]");
}
