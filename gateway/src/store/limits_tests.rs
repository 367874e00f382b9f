//! The limits' store calls on both backends, with the clock injected: a request window never
//! moves backwards (gateways with skewed clocks count into one window), and the sweep removes
//! an idle upload only if nothing moved it since it looked; and the statements on their own.

use super::provisioning_tests::{drop_db, open};
use super::{ResetCharge, Segment, Upload, UploadCreation, UploadQuota};

fn quota(now_unix: i64) -> UploadQuota {
    UploadQuota {
        max_open: 8,
        bytes_per_day: 1 << 30,
        day: "2026-12-01".into(),
        now_unix,
        live_since_unix: now_unix - 86_400,
    }
}

fn upload(id: &str) -> Upload {
    Upload {
        id: id.into(),
        device_id: "KIOSK-1".into(),
        sha256: "ab".repeat(32),
        length: 1000,
        offset: 0,
        complete: false,
        site: "000.17.22.H56".into(),
    }
}

async fn the_request_window_never_moves_backwards(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some((store, db)) = open(postgres, dir.path()).await else {
        return;
    };
    let count = |start: i64| {
        let store = &store;
        async move { store.count_request("KIOSK-1", start).await.unwrap() }
    };
    assert_eq!(count(120).await, 1);
    // A gateway whose clock is a window behind: its requests count into the newer window.
    assert_eq!(count(60).await, 2);
    assert_eq!(count(120).await, 3);
    assert_eq!(count(60).await, 4);
    assert_eq!(count(180).await, 1, "a newer window starts again");
    drop(store);
    drop_db(db).await;
}

async fn an_idle_upload_moved_since_the_sweep_looked_is_kept(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some((store, db)) = open(postgres, dir.path()).await else {
        return;
    };
    let created = store
        .create_upload(&upload("u1"), "2026-12-01T08:00:00+07:00", &quota(1_000))
        .await
        .unwrap();
    assert!(matches!(created, UploadCreation::Created(_)), "{created:?}");
    let idle = store.expired_uploads(5_000, 4_000).await.unwrap();
    assert_eq!(idle.len(), 1, "{idle:?}");
    // A PATCH (on another gateway, say) after the sweep read the row.
    store.set_upload_offset("u1", 100).await.unwrap();
    assert!(!store.delete_upload(&idle[0]).await.unwrap());
    let kept = store.upload("u1").await.unwrap().expect("still there");
    assert_eq!(kept.offset, 100);
    // Its activity is now: not idle for a sweep with the old cutoff.
    assert!(store
        .expired_uploads(5_000, 4_000)
        .await
        .unwrap()
        .is_empty());
    let later = chrono::Utc::now().timestamp() + 10;
    let idle = store.expired_uploads(later, later).await.unwrap();
    assert_eq!(idle.len(), 1, "{idle:?}");
    assert!(store.delete_upload(&idle[0]).await.unwrap());
    assert_eq!(store.upload("u1").await.unwrap(), None);
    drop(store);
    drop_db(db).await;
}

/// A checksum restart by a request whose lease another one took over changes nothing: no
/// charge, no reset, no removal (the new holder may be writing segments that must stay).
async fn a_restart_without_the_lease_changes_nothing(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some((store, db)) = open(postgres, dir.path()).await else {
        return;
    };
    let quota = UploadQuota {
        bytes_per_day: 2000,
        ..quota(1_000)
    };
    let created = store
        .create_upload(&upload("u1"), "2026-12-01T08:00:00+07:00", &quota)
        .await
        .unwrap();
    assert!(matches!(created, UploadCreation::Created(_)), "{created:?}");
    assert!(store.take_lease("u1", "a", 1_000, 2_000).await.unwrap());
    let segment = Segment {
        start: 0,
        length: 1000,
        key: "uploads/u1/00000000000000000000-a".into(),
    };
    assert!(store.record_segment("u1", "a", 0, &segment).await.unwrap());
    // `a` paused past its lease; `b` took the upload over.
    assert!(store.take_lease("u1", "b", 3_000, 9_000).await.unwrap());
    let lost = store
        .charge_reset(&upload("u1"), "a", &quota)
        .await
        .unwrap();
    assert_eq!(lost, ResetCharge::LeaseLost);
    let kept = store.upload("u1").await.unwrap().expect("still there");
    assert_eq!(kept.offset, 1000);
    assert_eq!(store.segments("u1").await.unwrap(), vec![segment]);
    // The holder's restart is charged (1000 + 1000 bytes fit the day's 2000) ...
    let charged = store
        .charge_reset(&upload("u1"), "b", &quota)
        .await
        .unwrap();
    assert_eq!(charged, ResetCharge::Charged);
    assert_eq!(store.upload("u1").await.unwrap().map(|u| u.offset), Some(0));
    assert!(store.segments("u1").await.unwrap().is_empty());
    // ... and the next one would pass the quota: the upload goes.
    let over = store
        .charge_reset(&upload("u1"), "b", &quota)
        .await
        .unwrap();
    assert_eq!(over, ResetCharge::OverQuota);
    assert_eq!(store.upload("u1").await.unwrap(), None);
    drop(store);
    drop_db(db).await;
}

macro_rules! both {
    ($($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(false).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(true).await
            })*
        }
    };
}

both!(
    the_request_window_never_moves_backwards,
    an_idle_upload_moved_since_the_sweep_looked_is_kept,
    a_restart_without_the_lease_changes_nothing
);

/// The statements themselves, on an in-memory SQLite.
mod statements {
    use super::super::limits::*;
    use motcua_domain::wire::DossierStatus;

    #[test]
    fn the_applicant_is_blanked_and_the_rest_kept() {
        let body = r#"{"code":"000.17.22.H56-261201-0001","applicant":{"full_name":"Nguyễn Văn A","id_number":"079123456789","address":"Sóc Trăng","phone":"0912","email":"a@b"},"documents":[{"name":"Tờ khai"}]}"#;
        let blank = without_applicant(body).unwrap();
        for personal in ["Nguyễn", "079123456789", "Sóc Trăng", "0912", "a@b"] {
            assert!(!blank.contains(personal), "{blank}");
        }
        assert!(blank.contains("000.17.22.H56-261201-0001") && blank.contains("Tờ khai"));
        let parsed: motcua_domain::wire::Applicant = serde_json::from_value(
            serde_json::from_str::<serde_json::Value>(&blank).unwrap()["applicant"].clone(),
        )
        .unwrap();
        assert_eq!(parsed.full_name, "");
        assert_eq!(without_applicant("[1]"), None);
    }

    /// As `queries`' own test: every statement here prepares on the migrated schema, with its
    /// `$n` placeholders first appearing in order (what positional binding on SQLite needs).
    #[test]
    fn every_limits_query_prepares_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .unwrap();
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        let owned = [dossiers_stamp(), dossiers_due()];
        let all = [
            RATE_COUNT,
            OPEN_UPLOADS,
            UPLOAD_BYTES_RESERVE,
            UPLOAD_BYTES_OF_DAY,
            UPLOAD_OPEN_SAME,
            UPLOAD_TOUCH,
            UPLOADS_STAMP,
            UPLOADS_EXPIRED,
            UPLOAD_DELETE,
            UPLOAD_DROP,
            RATE_PRUNE,
            UPLOAD_DAYS_PRUNE,
            DOSSIER_FINISHED,
            DOSSIER_PURGE,
            owned[0].as_str(),
            owned[1].as_str(),
        ];
        for sql in all {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "{sql}"
                );
            }
        }
    }

    /// The window counter restarts at 1 in a new window and the byte reservation stops at the
    /// quota, on SQLite's upsert as on PostgreSQL's.
    #[test]
    fn the_counters_count_and_stop_at_the_quota() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        let count = |start: i64| -> i64 {
            conn.query_row(RATE_COUNT, rusqlite::params!["K-1", start], |r| r.get(0))
                .unwrap()
        };
        assert_eq!((count(60), count(60), count(60)), (1, 2, 3));
        assert_eq!(count(120), 1, "a new window starts again");
        // A gateway whose clock is behind counts into the newer window, never resets it.
        assert_eq!(count(60), 2, "an older window counts into the newer one");
        assert_eq!(count(120), 3);
        assert_eq!(count(60), 4);
        let reserve = |bytes: i64| -> Option<i64> {
            use rusqlite::OptionalExtension;
            conn.query_row(
                UPLOAD_BYTES_RESERVE,
                rusqlite::params!["K-1", "2026-12-01", bytes, 1000],
                |r| r.get(0),
            )
            .optional()
            .unwrap()
        };
        assert_eq!(reserve(600), Some(600));
        assert_eq!(reserve(300), Some(900));
        assert_eq!(reserve(200), None, "past the quota: nothing reserved");
        assert_eq!(reserve(100), Some(1000));
    }

    #[test]
    fn finished_means_returned_not_accepted_or_withdrawn() {
        let finished: Vec<_> = DossierStatus::ALL
            .into_iter()
            .filter(|s| is_finished(*s))
            .collect();
        assert_eq!(
            finished,
            [
                DossierStatus::NotAccepted,
                DossierStatus::Withdrawn,
                DossierStatus::Returned
            ]
        );
        for s in finished {
            assert!(FINISHED_SQL.contains(&format!("'{}'", super::super::status_name(s))));
        }
    }
}
