//! Authorization by site, decided once for both backends: the schema that makes it possible
//! (migration 6), the lookups an ingest makes before it writes, and what each lookup's answer
//! means. The site is the one named by the device's certificate (`Ingest::site`).
//!
//! What the rules promise (issue 14, item 1):
//! - idempotency keys live in the device's namespace: another device posting under a key
//!   neither blocks the device's own delivery nor learns anything about its record;
//! - a dossier code is the device's by the code's date D: its sequence number is inside one of
//!   the device's blocks that held it on D (allocated on or before D, and live or retired on or
//!   after D: a retired block's numbers were handed out by this device until then, and are
//!   another device's from the day after at the earliest), or, for codes dated before the
//!   device's first block (a kiosk enrolled before the gateway allocated blocks, delivering its
//!   older outbox), inside no block another device held on D;
//! - a ticket was issued at the device's site (by itself, or by another device of its site such
//!   as the centre's queue hub), and is stored with that site;
//! - a rating rates a dossier or ticket of the device's site; one of another site reads as
//!   unknown, so a guessed code tells an attacker nothing;
//! - a dossier cites only blobs uploaded by a device of its site (`blob_sites`, one row per site
//!   that proved it holds the bytes), with the size the blob really has.

use super::value::Value;
use super::{Ingest, IngestOutcome};

/// Schema of authorization by site (migration 6, shared by both backends).
///
/// `idempotency_keys` and `health_reports` are rebuilt with the device in their primary key
/// (existing rows keep their device, so a kiosk's retry of an old delivery is still recognised).
/// `uploads.site` and `tickets.site` are filled from the devices' sites; `blob_sites` is filled
/// from the completed uploads and from the blobs stored dossiers already cite.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE idempotency_keys_v6 (
    device_id TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (device_id, key)
);
INSERT INTO idempotency_keys_v6 (device_id, key, kind, body_sha256, created_at)
    SELECT device_id, key, kind, body_sha256, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v6 RENAME TO idempotency_keys;
CREATE TABLE health_reports_v6 (
    idempotency_key TEXT NOT NULL,
    device_id TEXT NOT NULL,
    generated_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    offset_ms BIGINT NOT NULL,
    outbox_pending BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (device_id, idempotency_key)
);
INSERT INTO health_reports_v6 (idempotency_key, device_id, generated_at, received_at,
    received_ms, offset_ms, outbox_pending, body)
    SELECT idempotency_key, device_id, generated_at, received_at, received_ms, offset_ms,
    outbox_pending, body FROM health_reports;
DROP TABLE health_reports;
ALTER TABLE health_reports_v6 RENAME TO health_reports;
CREATE INDEX health_reports_by_device ON health_reports(device_id, received_ms);
ALTER TABLE uploads ADD COLUMN site TEXT;
UPDATE uploads SET site = (SELECT site FROM devices WHERE devices.device_id = uploads.device_id);
CREATE TABLE blob_sites (
    sha256 TEXT NOT NULL,
    site TEXT NOT NULL,
    PRIMARY KEY (sha256, site)
);
INSERT INTO blob_sites (sha256, site)
    SELECT u.sha256, u.site FROM uploads u JOIN blobs b ON b.sha256 = u.sha256
    WHERE u.complete AND u.site IS NOT NULL
    UNION SELECT d.sha256, s.agency_code FROM documents d JOIN dossiers s ON s.code = d.dossier_code
    UNION SELECT g.sha256, s.agency_code FROM digitized_documents g
    JOIN dossiers s ON s.code = g.dossier_code;
ALTER TABLE tickets ADD COLUMN site TEXT;
UPDATE tickets SET site = (SELECT site FROM devices WHERE devices.device_id = tickets.device_id);
"#;

// --- the SQL (placeholders numbered in order of appearance, see `queries`)

/// `$1` sha256, `$2` site: the size of a blob the site holds, read as one integer.
pub(super) const BLOB_SIZE_OF_SITE: &str = "SELECT b.size FROM blobs b
     JOIN blob_sites s ON s.sha256 = b.sha256 WHERE b.sha256 = $1 AND s.site = $2";
/// `$1` sha256, `$2` site: the site holds the blob from now on.
pub(super) const BLOB_SITE_INSERT: &str =
    "INSERT INTO blob_sites (sha256, site) VALUES ($1, $2) ON CONFLICT (sha256, site) DO NOTHING";

/// Every check query answers one row: an optional text (who or where) and a count.
/// `$1` dossier code: the site it was received at.
const DOSSIER_SITE: &str =
    "SELECT (SELECT agency_code FROM dossiers WHERE code = $1), CAST(0 AS BIGINT)";
/// `$1` site, `$2` sequence number, `$3` the code's day (`YYYY-MM-DD`), `$4` device id: the
/// device whose block held the number on that day, and how many blocks the device had been
/// given there by that day. A block holds its numbers from the day it was allocated through
/// the day it was retired (its range is reallocated from the next day on only, see
/// `provisioning::BLOCKS_TAKEN`), so on any one day one block at most holds a number.
/// Timestamps are written in Vietnam time, so their first 10 characters are the Vietnam day.
const SEQUENCE_OWNER: &str = "SELECT (SELECT device_id FROM sequence_blocks
     WHERE site = $1 AND first_number <= $2 AND last_number >= $2
     AND substr(allocated_at, 1, 10) <= $3
     AND (retired_at IS NULL OR substr(retired_at, 1, 10) >= $3) LIMIT 1),
     (SELECT COUNT(*) FROM sequence_blocks WHERE device_id = $4 AND site = $1
     AND substr(allocated_at, 1, 10) <= $3)";
/// `$1` device id: its site.
const ISSUER_SITE: &str =
    "SELECT (SELECT site FROM devices WHERE device_id = $1), CAST(0 AS BIGINT)";
/// `$1` transaction (a dossier code or a ticket id): the site of the dossier or ticket.
const TARGET_SITE: &str = "SELECT (SELECT agency_code FROM dossiers WHERE code = $1
     UNION ALL SELECT site FROM tickets WHERE ticket_id = $1 LIMIT 1), CAST(0 AS BIGINT)";

/// A lookup an ingest makes before it writes, with what its answer decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Check {
    /// Documents are added to this dossier: it must be stored at the device's site.
    Dossier(String),
    /// A dossier's code: its sequence number must be the device's on the code's day (see the
    /// module).
    Sequence {
        code: String,
        number: u16,
        /// The code's day, `YYYY-MM-DD`.
        day: String,
    },
    /// A ticket's issuer (the device after `@` in its id) must be of the device's site.
    TicketIssuer { ticket: String, issuer: String },
    /// What a rating rates must be a dossier or ticket of the device's site.
    RatingTarget(String),
    /// A dossier cites a document kind held for its applicant: a copy must be held (see
    /// `held`).
    Held { id_mac: String, kind: String },
}

impl Check {
    /// The query and its parameters; it answers one row of an optional text and a count.
    pub(super) fn query(&self, ing: &Ingest) -> (&'static str, Vec<Value>) {
        match self {
            Check::Dossier(code) => (DOSSIER_SITE, vec![code.into()]),
            Check::Sequence { number, day, .. } => (
                SEQUENCE_OWNER,
                vec![
                    (&ing.site).into(),
                    i64::from(*number).into(),
                    day.into(),
                    (&ing.device_id).into(),
                ],
            ),
            Check::TicketIssuer { issuer, .. } => (ISSUER_SITE, vec![issuer.into()]),
            Check::RatingTarget(transaction) => (TARGET_SITE, vec![transaction.into()]),
            Check::Held { id_mac, kind } => (
                super::held_sql::HELD_CHECK,
                vec![id_mac.into(), kind.into()],
            ),
        }
    }

    /// Why the ingest is refused, given the query's answer; `None`: allowed.
    pub(super) fn refusal(
        &self,
        ing: &Ingest,
        found: Option<String>,
        count: i64,
    ) -> Option<IngestOutcome> {
        let at_site = found.as_deref() == Some(ing.site.as_str());
        match self {
            // Another site's dossier answers exactly like an unknown one.
            Check::Dossier(code) => (!at_site).then(|| IngestOutcome::UnknownDossier(code.clone())),
            Check::Sequence { code, number, .. } => {
                let refusal = |reason: String| {
                    Some(IngestOutcome::CodeNotYours {
                        code: code.clone(),
                        reason,
                    })
                };
                match found {
                    Some(owner) if owner == ing.device_id => None,
                    Some(owner) => refusal(format!(
                        "số {number:04} thuộc dãy số đã cấp cho thiết bị {owner} / number \
                         {number:04} is in a block allocated to device {owner}"
                    )),
                    None if count > 0 => refusal(format!(
                        "số {number:04} không nằm trong dãy số nào đã cấp cho thiết bị này / \
                         number {number:04} is in none of the blocks allocated to this device"
                    )),
                    None => None,
                }
            }
            Check::TicketIssuer { ticket, issuer } => (issuer != &ing.device_id && !at_site)
                .then(|| IngestOutcome::TicketNotYours(ticket.clone())),
            Check::RatingTarget(transaction) => {
                (!at_site).then(|| IngestOutcome::RatedTargetUnknown(transaction.clone()))
            }
            Check::Held { kind, .. } => {
                (count == 0).then(|| IngestOutcome::NothingHeld(kind.clone()))
            }
        }
    }
}

/// Why citing these blobs is refused, given the size each has at the device's site (`None`:
/// not completely uploaded by a device of the site): missing blobs first (a kiosk uploads
/// them and retries), then a size that is not the blob's.
pub(super) fn blob_refusal(
    needs: &[(String, u64)],
    sizes: &[Option<i64>],
) -> Option<IngestOutcome> {
    let mut missing: Vec<String> = Vec::new();
    for ((sha, _), size) in needs.iter().zip(sizes) {
        if size.is_none() && !missing.contains(sha) {
            missing.push(sha.clone());
        }
    }
    if !missing.is_empty() {
        return Some(IngestOutcome::MissingBlobs(missing));
    }
    needs.iter().zip(sizes).find_map(|((sha, claimed), size)| {
        let actual = u64::try_from(size.unwrap_or_default()).unwrap_or_default();
        (actual != *claimed).then(|| IngestOutcome::BlobSizeMismatch {
            sha256: sha.clone(),
            claimed: *claimed,
            actual,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_prepares_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .expect("schema");
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).expect("migration");
        }
        for sql in [
            BLOB_SIZE_OF_SITE,
            BLOB_SITE_INSERT,
            DOSSIER_SITE,
            SEQUENCE_OWNER,
            ISSUER_SITE,
            TARGET_SITE,
        ] {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(stmt.parameter_name(i), Some(format!("${i}").as_str()));
            }
        }
    }

    /// Rows of every table migration 6 changes, as a gateway at schema 5 wrote them.
    const SCHEMA_5_ROWS: &str =
        "INSERT INTO devices (device_id, site, enrolled_at) VALUES ('K1', 'S1', 'x');
         INSERT INTO idempotency_keys VALUES ('k', 'ticket', 'K1', 'h', 'x');
         INSERT INTO uploads VALUES ('u', 'K1', 'aa', 1, 1, TRUE, 'x');
         INSERT INTO uploads VALUES ('v', 'K1', 'cc', 1, 0, FALSE, 'x');
         INSERT INTO blobs VALUES ('aa', 1, 'x');
         INSERT INTO blobs VALUES ('bb', 2, 'x');
         INSERT INTO dossiers VALUES ('S2-260531-0001', 'p', 'S2', 'K9', 'k', '{}',
            'submitted', '2026-06-05', 'x', 'x');
         INSERT INTO documents VALUES ('S2-260531-0001', 0, 'n', 'f', 'm', 2, 'bb');
         INSERT INTO tickets VALUES ('T-1@K1', 'K1', 'k', '{}', 'x');
         INSERT INTO health_reports VALUES ('k', 'K1', 'x', 'x', 1, 0, 0, '{}');";

    /// What migration 6 must have made of [`SCHEMA_5_ROWS`]: one text per check.
    const SCHEMA_6_CHECK: &str = "SELECT
        (SELECT body_sha256 FROM idempotency_keys WHERE device_id = 'K1' AND key = 'k'),
        (SELECT STRING_AGG(sha256 || '@' || site, ',' ORDER BY sha256) FROM blob_sites),
        (SELECT site FROM tickets WHERE ticket_id = 'T-1@K1'),
        (SELECT site FROM uploads WHERE id = 'v'),
        (SELECT device_id FROM health_reports WHERE idempotency_key = 'k')";

    /// The same migration on PostgreSQL, from a database holding [`SCHEMA_5_ROWS`] (the
    /// HTTP scenarios only ever migrate empty databases).
    #[tokio::test]
    async fn postgres_migration_keeps_existing_rows() {
        let Ok(server) = std::env::var("MOTCUA_TEST_DATABASE_URL") else {
            if std::env::var("MOTCUA_SKIP_POSTGRES").as_deref() == Ok("1") {
                return;
            }
            panic!("MOTCUA_TEST_DATABASE_URL is not set (or set MOTCUA_SKIP_POSTGRES=1)");
        };
        let connect = |url: String| async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            client
        };
        let admin = connect(server.clone()).await;
        let name = format!("motcua_mig_{}", hex::encode(rand::random::<[u8; 6]>()));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let (base, _) = server.rsplit_once('/').expect("a URL with a database");
        let db = connect(format!("{base}/{name}")).await;
        for (version, sql) in super::super::MIGRATIONS {
            if *version == 6 {
                db.batch_execute(SCHEMA_5_ROWS)
                    .await
                    .expect("rows of schema 5");
            }
            db.batch_execute(sql).await.expect("migration");
        }
        let row = db.query_one(SCHEMA_6_CHECK, &[]).await.expect("check");
        let got: Vec<Option<String>> = (0..5).map(|i| row.get(i)).collect();
        drop(db);
        let _ = admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .await;
        let want = ["h", "aa@S1,bb@S2", "S1", "S1", "K1"];
        assert_eq!(got, want.map(|w| Some(w.to_string())));
    }

    /// Rows written before migration 6 keep working: a key stays its device's, a completed
    /// upload's blob and a stored dossier's blobs are their sites', a ticket gets its device's
    /// site.
    #[test]
    fn migration_keeps_existing_rows_with_their_device_and_site() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        for (version, sql) in super::super::MIGRATIONS {
            if *version == 6 {
                conn.execute_batch(SCHEMA_5_ROWS).expect("rows of schema 5");
            }
            conn.execute_batch(sql).expect("migration");
        }
        let key: String = conn
            .query_row(
                super::super::queries::IDEMPOTENCY_KEY_SELECT,
                ["K1", "k"],
                |r| r.get(2),
            )
            .expect("the key is K1's");
        assert_eq!(key, "h");
        let mut owned: Vec<(String, String)> = conn
            .prepare("SELECT sha256, site FROM blob_sites ORDER BY sha256")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        owned.sort();
        assert_eq!(
            owned,
            [("aa".into(), "S1".into()), ("bb".into(), "S2".into())]
        );
        let site: String = conn
            .query_row("SELECT site FROM tickets", [], |r| r.get(0))
            .expect("ticket");
        assert_eq!(site, "S1");
        let site: String = conn
            .query_row("SELECT site FROM uploads WHERE id = 'v'", [], |r| r.get(0))
            .expect("upload");
        assert_eq!(site, "S1");
    }

    #[test]
    fn missing_blobs_come_before_a_wrong_size() {
        let needs = vec![("a".to_string(), 10), ("b".to_string(), 20)];
        assert_eq!(
            blob_refusal(&needs, &[Some(11), None]),
            Some(IngestOutcome::MissingBlobs(vec!["b".into()]))
        );
        assert_eq!(
            blob_refusal(&needs, &[Some(10), Some(21)]),
            Some(IngestOutcome::BlobSizeMismatch {
                sha256: "b".into(),
                claimed: 20,
                actual: 21
            })
        );
        assert_eq!(blob_refusal(&needs, &[Some(10), Some(20)]), None);
    }
}
