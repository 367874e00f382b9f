//! The export feed's store calls on both backends: events numbered one after the other without
//! gaps, a repeated status no event, a cursor past the end refused; the upgrade to the feed
//! writing events for the dossiers and documents already stored; and on PostgreSQL the
//! property the cursor rests on, shown with a transaction held open by hand: a writer cannot
//! take an event id while an event before it is uncommitted, so no reader ever sees a later
//! event without the earlier one; and with the counter row gone, a change is refused and
//! stores nothing rather than being stored without its event.

use std::sync::Arc;
use std::time::Duration;

use motcua_domain::wire::{Applicant, DossierStatus, DossierSubmission};

use super::feed::{FEED_APPEND, FEED_LAST, FEED_NEXT, STATUS_CHANGED};
use super::provisioning_tests::{drop_db, open};
use super::{FeedEventKind, FeedRead, Ingest, IngestOutcome, Record, Store};
use crate::GatewayError;

const SITE: &str = "000.17.22.H56";
const NOW: &str = "2026-05-31T09:20:00+07:00";

fn code(n: u16) -> String {
    format!("{SITE}-260531-{n:04}")
}

/// Delivers dossier `n` as kiosk KIOSK-1 would (no documents, so no blobs are needed).
async fn deliver(store: &Store, n: u16) {
    let outcome = try_deliver(store, n).await.unwrap();
    assert_eq!(outcome, IngestOutcome::Created, "dossier {n}");
}

async fn try_deliver(store: &Store, n: u16) -> Result<IngestOutcome, GatewayError> {
    let submission = DossierSubmission {
        code: code(n),
        procedure_code: "1.001193".into(),
        agency_code: SITE.into(),
        device_id: "KIOSK-1".into(),
        applicant: Applicant {
            full_name: "Nguyễn Văn An".into(),
            id_number: Some("079201001234".into()),
            birth_date: None,
            address: "Phường 1, Sóc Trăng".into(),
            phone: "0900000000".into(),
            email: String::new(),
        },
        received_at: chrono::DateTime::parse_from_rfc3339("2026-05-31T09:15:00+07:00").unwrap(),
        appointment_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 5).unwrap(),
        documents: vec![],
        lookup_sha256: None,
        reused_documents: Vec::new(),
    };
    let body_json = serde_json::to_string(&submission).unwrap();
    store
        .ingest(&Ingest {
            key: format!("d:{n}"),
            device_id: "KIOSK-1".into(),
            site: SITE.into(),
            body_sha256: format!("{n:064x}"),
            body_json,
            record: Record::Dossier(submission),
            now: NOW.into(),
            held: Default::default(),
        })
        .await
}

fn page(read: FeedRead) -> super::feed_view::FeedPage {
    match read {
        FeedRead::Page(page) => page,
        other => panic!("not a page: {other:?}"),
    }
}

async fn events_follow_one_another_and_a_repeat_is_none(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some((store, db)) = open(postgres, dir.path()).await else {
        return;
    };
    let empty = page(store.feed_page(0, 10).await.unwrap());
    assert!(empty.events.is_empty() && !empty.more && empty.next_cursor == 0);
    for n in 1..=3 {
        deliver(&store, n).await;
    }
    for status in [DossierStatus::Accepted, DossierStatus::Accepted] {
        let view = store
            .set_dossier_status(&code(2), status, NOW)
            .await
            .unwrap();
        assert!(view.is_some());
    }
    let first = page(store.feed_page(0, 3).await.unwrap());
    let cursors: Vec<i64> = first.events.iter().map(|e| e.cursor).collect();
    assert_eq!(cursors, [1, 2, 3]);
    assert!(first.more, "a fourth event follows");
    assert_eq!((first.next_cursor, first.last_event), (3, 4));
    let rest = page(store.feed_page(3, 3).await.unwrap());
    assert_eq!(rest.events.len(), 1, "the repeated status is no event");
    let change = &rest.events[0];
    assert_eq!(change.kind, FeedEventKind::StatusChanged);
    assert_eq!(
        (change.cursor, change.dossier_code.as_str()),
        (4, code(2).as_str())
    );
    assert_eq!(change.status_code, 2);
    assert!(!rest.more);
    assert_eq!(
        store.feed_page(5, 3).await.unwrap(),
        FeedRead::CursorAhead { last_event: 4 }
    );
    // An unknown dossier changes nothing and writes no event.
    assert!(store
        .set_dossier_status(&code(9), DossierStatus::Processing, NOW)
        .await
        .unwrap()
        .is_none());
    assert_eq!(page(store.feed_page(0, 10).await.unwrap()).last_event, 4);
    drop(store);
    drop_db(db).await;
}

#[tokio::test]
async fn sqlite_events_follow_one_another_and_a_repeat_is_none() {
    events_follow_one_another_and_a_repeat_is_none(false).await
}

#[tokio::test]
async fn postgres_events_follow_one_another_and_a_repeat_is_none() {
    events_follow_one_another_and_a_repeat_is_none(true).await
}

/// How many sessions of database `name` wait for a lock.
async fn lock_waiters(admin: &tokio_postgres::Client, name: &str) -> i64 {
    admin
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

/// With a sequence, a writer that started later could commit event 4 while event 3 is still
/// uncommitted, and a consumer reading "after 2" would take 4 and move past 3 for good. Here an
/// event is appended by hand in a transaction left open; a status change of another dossier
/// must wait for it (it is seen waiting for a lock, and not done), a reader meanwhile sees
/// neither, and once the first commits the reader gets both, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_writer_waits_for_the_uncommitted_event_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some((store, db)) = open(true, dir.path()).await else {
        return;
    };
    let name = db.clone().expect("a PostgreSQL database");
    let server = std::env::var("MOTCUA_TEST_DATABASE_URL").unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let store = Arc::new(store);
    deliver(&store, 1).await;
    deliver(&store, 2).await;

    let (mut held, conn) =
        tokio_postgres::connect(&format!("{base}/{name}"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    let (admin, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let early = held.transaction().await.unwrap();
    early.execute(FEED_NEXT, &[]).await.unwrap();
    let first = code(1);
    early
        .execute(FEED_APPEND, &[&STATUS_CHANGED, &"", &"", &NOW, &first])
        .await
        .unwrap();

    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .set_dossier_status(&code(2), DossierStatus::Processing, NOW)
                .await
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while lock_waiters(&admin, &name).await == 0 {
        assert!(
            !writer.is_finished(),
            "the later writer committed its event while an earlier one was uncommitted: a \
             reader could skip the earlier one"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the later writer neither waits nor finishes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let meanwhile = page(store.feed_page(2, 10).await.unwrap());
    assert!(meanwhile.events.is_empty(), "{meanwhile:?}");
    assert_eq!((meanwhile.next_cursor, meanwhile.more), (2, false));

    early.commit().await.unwrap();
    let view = writer.await.unwrap().unwrap().expect("dossier 2");
    assert_eq!(view.status, DossierStatus::Processing);
    let after = page(store.feed_page(2, 10).await.unwrap());
    let seen: Vec<(i64, String)> = after
        .events
        .iter()
        .map(|e| (e.cursor, e.dossier_code.clone()))
        .collect();
    assert_eq!(seen, [(3, code(1)), (4, code(2))]);
    drop(store);
    drop_db(db).await;
}

/// Two dossiers (received out of code order, one already processing) and one intake ingest of
/// two documents, as a gateway before the feed stored them.
const BEFORE_THE_FEED: &str = "
INSERT INTO dossiers (code, procedure_code, agency_code, device_id, idempotency_key, body,
 status, appointment_date, received_at, updated_at) VALUES
 ('S-260531-0002', 'P', 'S', 'K', 'k2', '{}', 'processing', '2026-06-05',
  '2026-05-31T10:00:00+07:00', '2026-05-31T10:00:00+07:00'),
 ('S-260531-0001', 'P', 'S', 'K', 'k1', '{}', 'submitted', '2026-06-05',
  '2026-05-31T09:00:00+07:00', '2026-05-31T09:00:00+07:00');
INSERT INTO digitized_documents (document_code, dossier_code, document_index, name,
 media_type, pages, size, sha256, device_id, idempotency_key, stored_at) VALUES
 ('D1', 'S-260531-0002', 0, 'n', 'application/pdf', 1, 3, 'aa', 'Q', 'q1',
  '2026-05-31T11:00:00+07:00'),
 ('D2', 'S-260531-0002', 1, 'n', 'application/pdf', 1, 3, 'bb', 'Q', 'q1',
  '2026-05-31T11:00:00+07:00');";

/// What the upgrade must have written: one event per dossier in the order received, one per
/// documents ingest, statuses as they stand, and the counter after them.
fn check_backfill(events: Vec<(i64, String, String, String)>, last: i64) {
    let expected = [
        (1, "dossier_received", "S-260531-0001", "submitted"),
        (2, "dossier_received", "S-260531-0002", "processing"),
        (3, "documents_added", "S-260531-0002", "processing"),
    ];
    assert_eq!(events.len(), expected.len(), "{events:?}");
    for (got, want) in events.iter().zip(expected) {
        assert_eq!(
            (got.0, got.1.as_str(), got.2.as_str(), got.3.as_str()),
            want
        );
    }
    assert_eq!(last, 3, "the counter goes on after the backfilled events");
}

const EVENTS: &str = "SELECT id, kind, dossier_code, status FROM feed_events ORDER BY id";

#[test]
fn sqlite_the_upgrade_writes_events_for_what_is_stored() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    for (version, sql) in super::MIGRATIONS {
        if *version == 13 {
            conn.execute_batch(BEFORE_THE_FEED).unwrap();
        }
        conn.execute_batch(sql).unwrap();
    }
    let events = conn
        .prepare(EVENTS)
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    check_backfill(events, conn.query_row(FEED_LAST, [], |r| r.get(0)).unwrap());
}

#[tokio::test]
async fn postgres_the_upgrade_writes_events_for_what_is_stored() {
    let Ok(server) = std::env::var("MOTCUA_TEST_DATABASE_URL") else {
        if std::env::var("MOTCUA_SKIP_POSTGRES").as_deref() == Ok("1") {
            return;
        }
        panic!("MOTCUA_TEST_DATABASE_URL is not set (or set MOTCUA_SKIP_POSTGRES=1)");
    };
    let (admin, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let name = format!("motcua_feed_{}", hex::encode(rand::random::<[u8; 6]>()));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (base, _) = server.rsplit_once('/').unwrap();
    let (db, conn) = tokio_postgres::connect(&format!("{base}/{name}"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    for (version, sql) in super::MIGRATIONS {
        if *version == 13 {
            db.batch_execute(BEFORE_THE_FEED).await.unwrap();
        }
        db.batch_execute(sql).await.unwrap();
    }
    let events = db
        .query(EVENTS, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let last = db.query_one(FEED_LAST, &[]).await.unwrap().get(0);
    check_backfill(events, last);
    drop(db);
    drop_db(Some(name)).await;
}

/// Runs `sql` on the store's database beside it (the SQLite file in `dir`, or PostgreSQL
/// database `db`).
async fn beside(dir: &std::path::Path, db: &Option<String>, sql: &str) {
    match db {
        None => rusqlite::Connection::open(dir.join("gateway.sqlite3"))
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
        Some(name) => {
            let server = std::env::var("MOTCUA_TEST_DATABASE_URL").unwrap();
            let (base, _) = server.rsplit_once('/').unwrap();
            let (client, conn) =
                tokio_postgres::connect(&format!("{base}/{name}"), tokio_postgres::NoTls)
                    .await
                    .unwrap();
            tokio::spawn(conn);
            client.batch_execute(sql).await.unwrap();
        }
    }
}

fn counter_missing(result: Result<impl std::fmt::Debug, GatewayError>, what: &str) {
    match result {
        Err(e @ GatewayError::FeedCounterMissing { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("feed_sequence") && message.contains("nothing was stored"),
                "{message}"
            );
        }
        other => panic!("{what}: {other:?}"),
    }
}

async fn without_the_counter_row_a_change_stores_nothing(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some((store, db)) = open(postgres, dir.path()).await else {
        return;
    };
    deliver(&store, 1).await;
    beside(dir.path(), &db, "DELETE FROM feed_sequence").await;

    counter_missing(try_deliver(&store, 2).await, "an ingest");
    assert!(
        store.dossier_status(&code(2)).await.unwrap().is_none(),
        "the refused ingest stored its dossier"
    );
    counter_missing(
        store
            .set_dossier_status(&code(1), DossierStatus::Accepted, NOW)
            .await,
        "a status change",
    );
    let status = store
        .dossier_status(&code(1))
        .await
        .unwrap()
        .expect("dossier 1");
    assert_eq!(
        status.status,
        DossierStatus::Submitted,
        "the refused change stayed"
    );

    // Restored as the error says, the feed goes on after its last event.
    beside(
        dir.path(),
        &db,
        "INSERT INTO feed_sequence (one, last_id) SELECT 1, COALESCE(MAX(id), 0) FROM feed_events",
    )
    .await;
    deliver(&store, 2).await;
    let all = page(store.feed_page(0, 10).await.unwrap());
    let seen: Vec<(i64, String)> = all
        .events
        .iter()
        .map(|e| (e.cursor, e.dossier_code.clone()))
        .collect();
    assert_eq!(seen, [(1, code(1)), (2, code(2))]);
    drop(store);
    drop_db(db).await;
}

#[tokio::test]
async fn sqlite_without_the_counter_row_a_change_stores_nothing() {
    without_the_counter_row_a_change_stores_nothing(false).await
}

#[tokio::test]
async fn postgres_without_the_counter_row_a_change_stores_nothing() {
    without_the_counter_row_a_change_stores_nothing(true).await
}
