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

use super::held_sql::{ASKED_INSERT, ASKED_PRUNE, ASKED_SINCE, HELD_KINDS, REUSED_OF};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::Store;
use crate::GatewayError;

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

    use super::super::held_sql::*;

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
