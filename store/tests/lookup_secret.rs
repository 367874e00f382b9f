//! The receipt's lookup secret on the kiosk, on a real SQLite file: derived from the data key
//! (so a reprint after a restart prints the same one), never in the database, nor its hash, which
//! is derived again for delivery; the offline cached status shown only to whoever shows it.

use chrono::TimeZone;
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::lookup_secret::{lookup_hash, LookupSecret};
use motcua_domain::wire::{Applicant, DossierStatus};
use motcua_store::{DeviceIdentity, Store};

fn device() -> DeviceIdentity {
    DeviceIdentity {
        id: "KIOSK-T-01".into(),
        agency_code: "000.17.22.H56".into(),
        sequence: Some(SequenceRange { first: 1, last: 99 }),
    }
}

fn submit(store: &mut Store) -> motcua_domain::wire::DossierSubmission {
    let now = motcua_domain::vietnam_offset()
        .with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .unwrap();
    store
        .submit_dossier(
            &device(),
            &seed().procedures[0],
            &WorkingCalendar::new([]),
            Applicant {
                full_name: "Nguyễn Thị Phượng".into(),
                id_number: None,
                birth_date: None,
                address: "Phường 1".into(),
                phone: "0901234567".into(),
                email: String::new(),
            },
            vec![],
            now,
        )
        .expect("stored")
}

#[test]
fn the_secret_is_derived_stable_and_only_its_hash_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (code, secret, sent) = {
        let mut store = Store::open(dir.path(), 0).unwrap();
        let d = submit(&mut store);
        let secret = store.lookup_secret(&d.code);
        (d.code.clone(), secret, d.lookup_sha256.clone())
    };
    assert_eq!(
        sent,
        Some(lookup_hash(&code, &secret)),
        "the gateway gets the hash"
    );
    let store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(
        store.lookup_secret(&code),
        secret,
        "a reprint prints the same secret"
    );
    let other = code.replace("-0001", "-0002");
    assert_ne!(
        store.lookup_secret(&other),
        secret,
        "each dossier has its own"
    );
    drop(store);
    // Neither the database nor its WAL holds the secret's text.
    let printed = secret.to_string();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes
                .windows(printed.len())
                .any(|w| w == printed.as_bytes());
            assert!(!found, "{} holds the secret", path.display());
        }
    }
}

#[test]
fn the_offline_cache_answers_only_the_right_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let d = submit(&mut store);
    let secret = store.lookup_secret(&d.code);
    let now = motcua_domain::vietnam_offset()
        .with_ymd_and_hms(2026, 11, 24, 9, 0, 0)
        .unwrap();
    store
        .save_status(&d.code, DossierStatus::Processing, now)
        .unwrap();
    let typed = LookupSecret::parse(&secret.to_string().to_lowercase()).unwrap();
    let cached = store
        .cached_status_with_secret(&d.code, &typed)
        .unwrap()
        .expect("cached");
    assert_eq!(cached.status, Some(DossierStatus::Processing));
    assert_eq!(cached.appointment_date, d.appointment_date);
    let wrong = LookupSecret::from_bytes([0; 5]);
    assert_eq!(
        store.cached_status_with_secret(&d.code, &wrong).unwrap(),
        None
    );
    let unknown = d.code.replace("-0001", "-0050");
    let its = store.lookup_secret(&unknown);
    assert_eq!(
        store.cached_status_with_secret(&unknown, &its).unwrap(),
        None
    );
}

/// Whether the kiosk's database file or its write-ahead log holds `needle`.
fn database_holds(dir: &std::path::Path, needle: &str) -> bool {
    ["kiosk.sqlite3", "kiosk.sqlite3-wal"].iter().any(|f| {
        let bytes = std::fs::read(dir.join(f)).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[test]
fn the_hash_is_not_stored_but_derived_for_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let d = submit(&mut store);
    let hash = lookup_hash(&d.code, &store.lookup_secret(&d.code));
    assert_eq!(d.lookup_sha256.as_deref(), Some(hash.as_str()));
    // What the uplink delivers carries the hash.
    let delivered = store.dossier(&d.code).unwrap().expect("stored");
    assert_eq!(delivered.lookup_sha256.as_deref(), Some(hash.as_str()));
    assert!(
        database_holds(dir.path(), &d.code),
        "the search finds what is there"
    );
    assert!(!database_holds(dir.path(), &hash), "the hash is stored");
    drop(store);
    assert!(!database_holds(dir.path(), &hash), "the hash is stored");
}

#[test]
fn hashes_stored_by_an_older_kiosk_are_scrubbed_and_still_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (code, hash, bare) = {
        let mut store = Store::open(dir.path(), 0).unwrap();
        let d = submit(&mut store);
        let bare = submit(&mut store).code;
        (d.code.clone(), d.lookup_sha256.clone().expect("hash"), bare)
    };
    // As an older kiosk stored them: the hash in its column and in the submission; and a
    // dossier from before the secret, with none.
    {
        let conn = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
        conn.execute(
            "UPDATE dossiers SET lookup_sha256 = ?1,
               submission = json_set(submission, '$.lookup_sha256', ?1) WHERE code = ?2",
            rusqlite::params![hash, code],
        )
        .unwrap();
        conn.execute(
            "UPDATE dossiers SET submission = json_set(submission, '$.lookup_sha256', json('null'))
             WHERE code = ?1",
            [&bare],
        )
        .unwrap();
    }
    assert!(database_holds(dir.path(), &hash), "the old row is there");
    let store = Store::open(dir.path(), 0).unwrap();
    assert!(!database_holds(dir.path(), &hash), "scrubbed at open");
    // Still delivered with its hash, and still looked up offline with its secret.
    let d = store.dossier(&code).unwrap().expect("stored");
    assert_eq!(d.lookup_sha256.as_deref(), Some(hash.as_str()));
    let secret = store.lookup_secret(&code);
    assert!(store
        .cached_status_with_secret(&code, &secret)
        .unwrap()
        .is_some());
    // The dossier from before the secret is delivered without one and opens to none.
    assert_eq!(
        store.dossier(&bare).unwrap().expect("bare").lookup_sha256,
        None
    );
    let its = store.lookup_secret(&bare);
    assert_eq!(store.cached_status_with_secret(&bare, &its).unwrap(), None);
    drop(store);
    // A second open finds nothing to do and changes nothing.
    let store = Store::open(dir.path(), 0).unwrap();
    let d = store.dossier(&code).unwrap().expect("stored");
    assert_eq!(d.lookup_sha256.as_deref(), Some(hash.as_str()));
}
