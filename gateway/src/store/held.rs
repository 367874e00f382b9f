//! "Never asked twice" (Circular 01/2023/TT-VPCP, issue #19 part 5): which documents the
//! province holds digitized per citizen, decided once for both backends.
//!
//! A citizen is known here only by `HMAC-SHA256(id key, ID number)` (`crate::id_key`): a plain
//! hash of 12 digits is reversed by trying them all. When a dossier arrives, its applicant's MAC
//! and the kind code of each of its procedure's required documents (catalog `kind_code`) are
//! written beside it; when its digitized documents arrive (always after the dossier: they are
//! refused for an unknown dossier), each one of a required document with a kind becomes the
//! held copy of that kind for that MAC (the newest wins). A later dossier of the same MAC may
//! cite a held kind instead of a file: the ingest refuses it when nothing is held, and otherwise
//! links the stored copy to the new dossier (`reused_documents`), all in its one transaction.
//!
//! Kiosks ask which kinds are held (`POST /v1/held-documents`); every question is counted per
//! device in the database (so the limit holds across gateway instances), and a device over the
//! limit is refused: a stolen kiosk cannot walk through ID numbers.

use rusqlite::{params, TransactionBehavior};

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::Store;
use crate::GatewayError;

/// Migration 16: the applicant's MAC per dossier, the kinds of a dossier's required documents
/// by index, the held copy per MAC and kind, the copies linked to later dossiers, and the
/// questions asked per device.
pub(crate) const MIGRATION: &str = r#"
ALTER TABLE dossiers ADD COLUMN applicant_id_mac TEXT;
CREATE TABLE dossier_kinds (
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    document_index BIGINT NOT NULL,
    kind_code TEXT NOT NULL,
    PRIMARY KEY (dossier_code, document_index)
);
CREATE TABLE held_documents (
    id_mac TEXT NOT NULL,
    kind_code TEXT NOT NULL,
    document_code TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    site TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (id_mac, kind_code)
);
CREATE TABLE reused_documents (
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    kind_code TEXT NOT NULL,
    document_code TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source_dossier TEXT NOT NULL,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (dossier_code, kind_code)
);
CREATE TABLE held_queries (
    device_id TEXT NOT NULL,
    asked_ms BIGINT NOT NULL
);
CREATE INDEX held_queries_by_device ON held_queries(device_id, asked_ms);
"#;

// --- ingest steps (run by `super::ingest`'s plan; placeholders in order of appearance)

/// `$1` MAC, `$2` code: the dossier's applicant, as the held documents know them.
pub(super) const APPLICANT_MAC_SET: &str =
    "UPDATE dossiers SET applicant_id_mac = $1 WHERE code = $2";
/// `$1` code, `$2` index of the required document, `$3` its kind code.
pub(super) const DOSSIER_KIND_INSERT: &str =
    "INSERT INTO dossier_kinds (dossier_code, document_index, kind_code) VALUES ($1, $2, $3)
     ON CONFLICT (dossier_code, document_index) DO NOTHING";
/// `$1` document code, `$2` sha256, `$3` site, `$4` now, `$5` dossier code, `$6` document
/// index: a digitized document of a required document with a kind, of a dossier whose
/// applicant has an ID number, becomes the held copy of that kind (replacing an older one).
pub(super) const HELD_UPSERT: &str =
    "INSERT INTO held_documents (id_mac, kind_code, document_code, sha256, dossier_code, site,
                                 stored_at)
     SELECT d.applicant_id_mac, k.kind_code, $1, $2, d.code, $3, $4
     FROM dossiers d JOIN dossier_kinds k ON k.dossier_code = d.code
     WHERE d.code = $5 AND k.document_index = $6 AND d.applicant_id_mac IS NOT NULL
     ON CONFLICT (id_mac, kind_code) DO UPDATE SET document_code = excluded.document_code,
         sha256 = excluded.sha256, dossier_code = excluded.dossier_code, site = excluded.site,
         stored_at = excluded.stored_at";
/// `$1` MAC, `$2` kind: the held copy's document code, and how many (0 or 1): a check.
pub(super) const HELD_CHECK: &str = "SELECT MAX(document_code), COUNT(*) FROM held_documents
     WHERE id_mac = $1 AND kind_code = $2";
/// `$1` new dossier, `$2` now, `$3` MAC, `$4` kind: links the held copy to the new dossier.
pub(super) const REUSE_LINK: &str =
    "INSERT INTO reused_documents (dossier_code, kind_code, document_code, sha256,
                                   source_dossier, linked_at)
     SELECT $1, kind_code, document_code, sha256, dossier_code, $2 FROM held_documents
     WHERE id_mac = $3 AND kind_code = $4
     ON CONFLICT (dossier_code, kind_code) DO NOTHING";

// --- the kiosks' question

/// `$1` device, `$2` start of the window (ms): questions asked in it, and the oldest.
const ASKED_SINCE: &str = "SELECT COUNT(*), MIN(asked_ms) FROM held_queries
     WHERE device_id = $1 AND asked_ms > $2";
/// `$1` device, `$2` now (ms).
const ASKED_INSERT: &str = "INSERT INTO held_queries (device_id, asked_ms) VALUES ($1, $2)";
/// `$1` oldest time still in the window (ms).
const ASKED_PRUNE: &str = "DELETE FROM held_queries WHERE asked_ms <= $1";
/// `$1` MAC: the kinds held for it.
const HELD_KINDS: &str = "SELECT kind_code FROM held_documents WHERE id_mac = $1";
/// `$1` dossier: the copies linked to it, by kind.
const REUSED_OF: &str = "SELECT kind_code, document_code, sha256, source_dossier
     FROM reused_documents WHERE dossier_code = $1 ORDER BY kind_code";

/// First key of the two-key advisory lock of a device's questions (PostgreSQL).
const HELD_LOCK_CLASS: i32 = 0x6865_6c64; // "held"

/// How many questions one device may ask in a window. A kiosk asks once per citizen who
/// consents, so 30 an hour is more than a busy counter and slows a walk through ID numbers to
/// a crawl, which the warning of each refusal shows in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldLimits {
    /// Questions allowed per device in `window_s`.
    pub per_device: i64,
    /// The window, seconds.
    pub window_s: i64,
}

impl Default for HeldLimits {
    fn default() -> Self {
        Self {
            per_device: 30,
            window_s: 3600,
        }
    }
}

/// The answer to a kiosk's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeldAnswer {
    /// The asked kinds held for the MAC, in the order asked, each once.
    Held(Vec<String>),
    /// The device asked too often; retry after this many seconds.
    TooMany { retry_after_s: i64 },
}

/// A stored copy linked to a dossier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReusedDocument {
    /// The kind code.
    pub kind_code: String,
    /// The stored copy's document code (digitization result code).
    pub document_code: String,
    /// Its PDF's SHA-256.
    pub sha256: String,
    /// The dossier it was digitized for.
    pub source_dossier: String,
}

/// The asked kinds found among the held ones, in the order asked, each once.
fn answer(asked: &[String], held: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for kind in asked {
        if held.contains(kind) && !out.contains(kind) {
            out.push(kind.clone());
        }
    }
    out
}

/// Seconds until the oldest question leaves the window.
fn retry_after(oldest_ms: Option<i64>, now_ms: i64, limits: &HeldLimits) -> i64 {
    let until = oldest_ms.unwrap_or(now_ms) + limits.window_s * 1000;
    ((until - now_ms + 999) / 1000).max(1)
}

impl SqliteStore {
    async fn held_kinds(
        &self,
        device: String,
        mac: String,
        now_ms: i64,
        limits: HeldLimits,
    ) -> Result<Result<Vec<String>, i64>, GatewayError> {
        self.call("answer a held-documents question", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let since = now_ms - limits.window_s * 1000;
            let (count, oldest): (i64, Option<i64>) =
                tx.query_row(ASKED_SINCE, params![device, since], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            if count >= limits.per_device {
                tx.commit()?;
                return Ok(Err(retry_after(oldest, now_ms, &limits)));
            }
            tx.execute(ASKED_INSERT, params![device, now_ms])?;
            tx.execute(ASKED_PRUNE, [since])?;
            let held = {
                let mut stmt = tx.prepare(HELD_KINDS)?;
                let rows = stmt.query_map([&mac], |r| r.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()?
            };
            tx.commit()?;
            Ok(Ok(held))
        })
        .await
    }

    async fn reused_of(&self, code: String) -> Result<Vec<ReusedDocument>, GatewayError> {
        self.call("read a dossier's reused documents", move |c| {
            let mut stmt = c.prepare(REUSED_OF)?;
            let rows = stmt.query_map([&code], |r| {
                Ok(ReusedDocument {
                    kind_code: r.get(0)?,
                    document_code: r.get(1)?,
                    sha256: r.get(2)?,
                    source_dossier: r.get(3)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

impl PgStore {
    /// Under the device's transaction advisory lock, so two gateways cannot both let the
    /// device's last allowed question through twice.
    async fn held_kinds(
        &self,
        device: String,
        mac: String,
        now_ms: i64,
        limits: HeldLimits,
    ) -> Result<Result<Vec<String>, i64>, GatewayError> {
        let write = self.err("answer a held-documents question");
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(&write)?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&HELD_LOCK_CLASS, &device],
        )
        .await
        .map_err(&write)?;
        let since = now_ms - limits.window_s * 1000;
        let row = tx
            .query_one(ASKED_SINCE, &[&device, &since])
            .await
            .map_err(&write)?;
        let count: i64 = row.try_get(0).map_err(&write)?;
        let oldest: Option<i64> = row.try_get(1).map_err(&write)?;
        if count >= limits.per_device {
            tx.commit().await.map_err(&write)?;
            return Ok(Err(retry_after(oldest, now_ms, &limits)));
        }
        tx.execute(ASKED_INSERT, &[&device, &now_ms])
            .await
            .map_err(&write)?;
        tx.execute(ASKED_PRUNE, &[&since]).await.map_err(&write)?;
        let held = tx
            .query(HELD_KINDS, &[&mac])
            .await
            .map_err(&write)?
            .iter()
            .map(|r| r.try_get::<_, String>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(&write)?;
        tx.commit().await.map_err(write)?;
        Ok(Ok(held))
    }

    async fn reused_of(&self, code: String) -> Result<Vec<ReusedDocument>, GatewayError> {
        let read = self.err("read a dossier's reused documents");
        let client = self.client().await?;
        client
            .query(REUSED_OF, &[&code])
            .await
            .map_err(&read)?
            .iter()
            .map(|r| {
                Ok(ReusedDocument {
                    kind_code: r.try_get(0)?,
                    document_code: r.try_get(1)?,
                    sha256: r.try_get(2)?,
                    source_dossier: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(read)
    }
}

impl Store {
    /// Which of `asked` are held for the citizen of `mac`, counting the device's question
    /// against `limits` first.
    pub(crate) async fn held_kinds(
        &self,
        device_id: &str,
        mac: &str,
        asked: &[String],
        now_ms: i64,
        limits: HeldLimits,
    ) -> Result<HeldAnswer, GatewayError> {
        let (device, mac) = (device_id.to_string(), mac.to_string());
        let held = match self {
            Store::Sqlite(s) => s.held_kinds(device, mac, now_ms, limits).await?,
            Store::Postgres(s) => s.held_kinds(device, mac, now_ms, limits).await?,
        };
        Ok(match held {
            Ok(held) => HeldAnswer::Held(answer(asked, &held)),
            Err(retry_after_s) => HeldAnswer::TooMany { retry_after_s },
        })
    }

    /// The stored copies linked to dossier `code` in place of uploaded files.
    pub async fn reused_documents(&self, code: &str) -> Result<Vec<ReusedDocument>, GatewayError> {
        let code = code.to_string();
        match self {
            Store::Sqlite(s) => s.reused_of(code).await,
            Store::Postgres(s) => s.reused_of(code).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_prepares_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .expect("schema");
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).expect("migration");
        }
        for sql in [
            APPLICANT_MAC_SET,
            DOSSIER_KIND_INSERT,
            HELD_UPSERT,
            HELD_CHECK,
            REUSE_LINK,
            ASKED_SINCE,
            ASKED_INSERT,
            ASKED_PRUNE,
            HELD_KINDS,
            REUSED_OF,
        ] {
            conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn the_answer_keeps_the_asked_order_and_names_only_asked_kinds() {
        let asked = ["b".to_string(), "a".to_string(), "b".to_string()];
        let held = ["a".to_string(), "b".to_string(), "secret".to_string()];
        assert_eq!(answer(&asked, &held), ["b", "a"]);
        assert!(answer(&asked, &[]).is_empty());
    }

    #[test]
    fn retry_after_counts_from_the_oldest_question() {
        let limits = HeldLimits::default();
        assert_eq!(retry_after(Some(0), 1_000, &limits), 3599);
        assert_eq!(retry_after(None, 0, &limits), 3600);
    }
}
