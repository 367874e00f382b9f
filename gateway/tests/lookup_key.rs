//! The lookup key (issue 14, item 2), against both backends: the database holds no value equal
//! to a receipt's plain lookup hash (which an offline search of the 2^40 secrets could be
//! checked against), a gateway given another key than the one the database was keyed with
//! refuses to start and says why, and rows stored by a gateway before the key (plain hashes)
//! are converted at start: the right secret still opens them, a wrong one does not, and the
//! kiosk's retry of such a delivery is still recognised.

#[macro_use]
mod harness;

use std::os::unix::fs::PermissionsExt;

use harness::*;
use reqwest::StatusCode;

fn code(n: u16) -> String {
    format!("{SITE}-260531-{n:04}")
}

/// Runs `sql` on the harness's database, whichever backend.
async fn exec(h: &Harness, sql: &str) {
    match &h.pg {
        Some(p) => pg_admin(&p.url, sql).await,
        None => {
            let conn = rusqlite::Connection::open(h.dir.path().join("gateway.sqlite3"))
                .expect("open the gateway's SQLite");
            conn.execute_batch(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}

/// Whether any stored value holds `needle`: on SQLite the database file and its log, byte for
/// byte; on PostgreSQL every row of every table, as text.
async fn database_holds(h: &Harness, needle: &str) -> bool {
    match &h.pg {
        None => ["gateway.sqlite3", "gateway.sqlite3-wal"].iter().any(|f| {
            let bytes = std::fs::read(h.dir.path().join(f)).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        }),
        Some(p) => {
            let (client, conn) = tokio_postgres::connect(&p.url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            let task = tokio::spawn(conn);
            let tables = client
                .query(
                    "SELECT table_name::TEXT FROM information_schema.tables
                     WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
                    &[],
                )
                .await
                .expect("tables");
            assert!(tables.len() > 10, "the gateway's tables are there");
            let mut found = false;
            for t in tables {
                let name: String = t.get(0);
                let n: i64 = client
                    .query_one(
                        &format!("SELECT COUNT(*) FROM \"{name}\" x WHERE x::TEXT LIKE $1"),
                        &[&format!("%{needle}%")],
                    )
                    .await
                    .expect("search")
                    .get(0);
                found |= n > 0;
            }
            drop(client);
            let _ = task.await;
            found
        }
    }
}

async fn the_database_holds_no_plain_lookup_hash(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let stored = code(1);
    let plain = secret_hash(&stored);
    let d = dossier("KIOSK-A", &stored, vec![]);
    assert_eq!(d.lookup_sha256.as_deref(), Some(plain.as_str()));
    let r = h.post_json("/v1/dossiers", &a, Some("d1"), &d).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // The search itself finds what is there: the dossier code.
    assert!(database_holds(&h, &stored).await);
    assert!(
        !database_holds(&h, &plain).await,
        "the plain hash is stored"
    );
    assert_eq!(h.lookup(&a, &stored, SECRET).await.status(), StatusCode::OK);
    assert_eq!(
        h.lookup(&a, &stored, "7KQ2-M9XE").await.status(),
        StatusCode::NOT_FOUND
    );
    // The kiosk's retry is recognised as the same delivery.
    let r = h.post_json("/v1/dossiers", &a, Some("d1"), &d).await;
    assert_eq!(r.status(), StatusCode::OK, "a duplicate");
    h.finish().await;
}

async fn another_key_than_the_recorded_one_is_refused(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let stored = code(1);
    let r = h
        .post_json(
            "/v1/dossiers",
            &a,
            Some("d1"),
            &dossier("KIOSK-A", &stored, vec![]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let other = h.dir.path().join("other.key");
    std::fs::write(&other, format!("{}\n", "5a".repeat(32))).expect("key");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // The running gateway stops first: on SQLite it holds the data folder's lock.
    if let Some(g) = h.gateway.take() {
        g.shutdown().await;
    }
    let mut config = h.config();
    config.lookup_key_file = Some(other);
    let e = motcua_gateway::start(config)
        .await
        .err()
        .expect("another key is refused")
        .to_string();
    assert!(
        e.contains("lookup key") && e.contains("fingerprint") && e.contains("--lookup-key-file"),
        "{e}"
    );
    assert!(
        !e.contains(&"5a".repeat(32)),
        "the key is not in the message"
    );
    // The same key, given as a file (as a second gateway on the database would be), is taken.
    let shared = h.dir.path().join("shared.key");
    std::fs::copy(
        h.dir.path().join(motcua_gateway::LOOKUP_KEY_FILE_NAME),
        &shared,
    )
    .expect("copy");
    h.reboot_with(|c| c.lookup_key_file = Some(shared)).await;
    assert_eq!(h.lookup(&a, &stored, SECRET).await.status(), StatusCode::OK);
    h.finish().await;
}

async fn rows_from_before_the_key_are_converted(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let a = h.enroll("KIOSK-A").await;
    let old = code(1);
    let plain = secret_hash(&old);
    let d = dossier("KIOSK-A", &old, vec![]);
    let r = h.post_json("/v1/dossiers", &a, Some("old"), &d).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Put the row back as a gateway before migration 11 stored it: the plain hash in its
    // column and in its body, and the SHA-256 of that body for its idempotency key.
    let body = serde_json::to_string(&d).expect("json");
    exec(
        &h,
        &format!(
            "UPDATE dossiers SET lookup_sha256 = '{plain}', lookup_mac = NULL, body = '{}'
               WHERE code = '{old}';
             UPDATE idempotency_keys SET body_sha256 = '{}'
               WHERE device_id = 'KIOSK-A' AND key = 'old';",
            body.replace('\'', "''"),
            sha_hex(body.as_bytes()),
        ),
    )
    .await;
    assert!(database_holds(&h, &plain).await, "the legacy row is there");
    h.restart().await;
    assert!(!database_holds(&h, &plain).await, "converted at start");
    // A restart converts nothing more and changes nothing.
    h.restart().await;
    assert_eq!(h.lookup(&a, &old, SECRET).await.status(), StatusCode::OK);
    assert_eq!(
        h.lookup(&a, &old, "7KQ2-M9XE").await.status(),
        StatusCode::NOT_FOUND
    );
    // The kiosk retrying that old delivery (plain hash and all) gets a duplicate, not 409.
    let r = h.post_json("/v1/dossiers", &a, Some("old"), &d).await;
    assert_eq!(r.status(), StatusCode::OK, "still the same delivery");
    h.finish().await;
}

scenarios!(
    the_database_holds_no_plain_lookup_hash,
    another_key_than_the_recorded_one_is_refused,
    rows_from_before_the_key_are_converted,
);
