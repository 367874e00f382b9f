//! The store's provisioning calls with the clock injected (they take `now`), on both backends:
//! a retired sequence range is not allocated again on the Vietnam day it was retired, and is
//! from the next Vietnam day on, whatever offset the time is written with.

use motcua_domain::provisioning::SequenceBlock;
use motcua_identity::Role;

use super::{BlockOutcome, NewCertificate, NewToken, Provision, ProvisionOutcome, Store};

const SITE: &str = "000.17.22.H56";

/// A fresh store: SQLite in a temporary directory, or a new PostgreSQL database on the
/// server of `MOTCUA_TEST_DATABASE_URL` (`None`: skipped with `MOTCUA_SKIP_POSTGRES=1`).
pub(super) async fn open(postgres: bool, dir: &std::path::Path) -> Option<(Store, Option<String>)> {
    if !postgres {
        return Some((Store::open(None, None, dir).await.expect("sqlite"), None));
    }
    let Ok(server) = std::env::var("MOTCUA_TEST_DATABASE_URL") else {
        if std::env::var("MOTCUA_SKIP_POSTGRES").as_deref() == Ok("1") {
            return None;
        }
        panic!("MOTCUA_TEST_DATABASE_URL is not set (or set MOTCUA_SKIP_POSTGRES=1)");
    };
    let (admin, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let name = format!("motcua_seq_{}", hex::encode(rand::random::<[u8; 6]>()));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    let store = Store::open(Some(&format!("{base}/{name}")), None, dir)
        .await
        .expect("postgres");
    Some((store, Some(name)))
}

pub(super) async fn drop_db(name: Option<String>) {
    let (Some(name), Ok(server)) = (name, std::env::var("MOTCUA_TEST_DATABASE_URL")) else {
        return;
    };
    if let Ok((admin, conn)) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await;
    }
}

/// Provisions device `device` with a new token at `now`: its blocks.
async fn provision(store: &Store, device: &str, n: u8, now: &str) -> Vec<SequenceBlock> {
    let unix = chrono::Utc::now().timestamp();
    let token = format!("token-{n}");
    let recorded = store
        .insert_tokens(
            &[NewToken {
                token_sha256: token.clone(),
                site: SITE.into(),
                device_id: device.into(),
                profile: "p".into(),
                profile_sha256: "00".into(),
                expires_at: unix + 3600,
                issued_by: "test".into(),
                issued_at: now.into(),
            }],
            false,
            unix,
        )
        .await
        .expect("tokens");
    assert!(recorded);
    let outcome = store
        .provision(&Provision {
            token_sha256: token,
            key_sha256: format!("key-{n}"),
            cert: NewCertificate {
                serial: format!("{n:02x}"),
                role: Role::Device,
                name: device.into(),
                site: Some(SITE.into()),
                not_before: 0,
                not_after: unix + 3600,
                issued_at: now.into(),
                issued_us: i64::from(n),
            },
            block_size: 500,
            now: now.into(),
            now_unix: unix,
        })
        .await
        .expect("provision");
    match outcome {
        ProvisionOutcome::Done { blocks, .. } => blocks,
        other => panic!("not provisioned: {other:?}"),
    }
}

async fn allocate(store: &Store, device: &str, now: &str) -> Vec<SequenceBlock> {
    match store
        .allocate_block(device, SITE, 500, now)
        .await
        .expect("allocate")
    {
        BlockOutcome::Blocks(blocks) => blocks,
        other => panic!("no block: {other:?}"),
    }
}

async fn a_retired_range_is_free_from_the_next_vietnam_day(postgres: bool) {
    let dir = tempfile::tempdir().expect("dir");
    let Some((store, db)) = open(postgres, dir.path()).await else {
        return;
    };
    let b = |first, last| SequenceBlock { first, last };
    assert_eq!(
        provision(&store, "A", 1, "2026-06-01T08:00:00+07:00").await,
        [b(1, 500)]
    );
    // A's box replaced at noon: 1..=500 retired that day.
    assert_eq!(
        provision(&store, "A", 2, "2026-06-01T12:00:00+07:00").await,
        [b(501, 1000)]
    );
    // 23:59 in Vietnam (16:59 UTC) is still the retirement day.
    assert_eq!(
        allocate(&store, "B", "2026-06-01T16:59:00Z").await,
        [b(1001, 1500)]
    );
    // 00:30 the next day in Vietnam (17:30 UTC): free again, the old row kept.
    assert_eq!(
        allocate(&store, "C", "2026-06-01T17:30:00Z").await,
        [b(1, 500)]
    );
    // C's block is live now: the next one goes past every live block.
    assert_eq!(
        allocate(&store, "D", "2026-06-03T09:00:00+07:00").await,
        [b(1501, 2000)]
    );
    drop(store);
    drop_db(db).await;
}

#[tokio::test]
async fn sqlite_a_retired_range_is_free_from_the_next_vietnam_day() {
    a_retired_range_is_free_from_the_next_vietnam_day(false).await;
}

#[tokio::test]
async fn postgres_a_retired_range_is_free_from_the_next_vietnam_day() {
    a_retired_range_is_free_from_the_next_vietnam_day(true).await;
}

/// Migration 7 keeps the blocks and tokens written before it.
#[test]
fn migration_7_keeps_blocks_and_tokens() {
    let conn = rusqlite::Connection::open_in_memory().expect("memory");
    for (version, sql) in super::MIGRATIONS {
        if *version == 7 {
            conn.execute_batch(
                "INSERT INTO sequence_blocks VALUES ('S', 1, 500, 'A', '2026-06-01T08:00:00+07:00',
                    '2026-06-01T12:00:00+07:00');
                 INSERT INTO provisioning_tokens (token_sha256, site, device_id, profile,
                    profile_sha256, expires_at, issued_by, issued_at)
                    VALUES ('t', 'S', 'A', 'p', '00', 1, 'x', 'x');",
            )
            .expect("rows of schema 6");
        }
        conn.execute_batch(sql).expect("migration");
    }
    let block: (i64, i64, String, Option<String>) = conn
        .query_row(
            "SELECT first_number, last_number, device_id, retired_at FROM sequence_blocks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .expect("block");
    assert_eq!(
        block,
        (1, 500, "A".into(), Some("2026-06-01T12:00:00+07:00".into()))
    );
    let withdrawn: Option<String> = conn
        .query_row("SELECT withdrawn_at FROM provisioning_tokens", [], |r| {
            r.get(0)
        })
        .expect("token");
    assert_eq!(withdrawn, None);
    // The same range may now be allocated again on a later day.
    conn.execute(
        super::provisioning::BLOCK_INSERT,
        rusqlite::params!["S", 1, 500, "C", "2026-06-02T08:00:00+07:00"],
    )
    .expect("the range again");
}
