//! Entries held for a technician: the outbox's dead-letter states.
//!
//! Some failures no retry can fix (the gateway holds another dossier under the same code, the
//! record's site is not this kiosk's, a local document file is gone or damaged). Retrying those
//! forever hides them behind one "last error" and wastes the link, so the uplink *holds* such an
//! entry (`needs_technician`, with its reason and since when). A technician then either retries
//! it (after fixing the cause) or sets it aside (`set_aside`: kept, never retried, exportable to
//! carry to the counter). A held entry is never delivered automatically and never deleted: it
//! stays undelivered, so retention keeps its blobs and personal data (invariant 3) and the
//! package's removal guard, which counts undelivered entries, keeps refusing.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};
use motcua_domain::dossier::DossierCode;
use motcua_domain::wire::DigitizedDocuments;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::outbox::{HeldEntry, HoldState};
use crate::{OutboxKind, Store, StoreError, StoreResult};

/// A blob an exported entry refers to.
#[derive(Debug, Clone, Serialize)]
pub struct ExportBlob {
    /// Its SHA-256 (also its file name in the store and in the export).
    pub sha256: String,
    /// Its size as recorded.
    pub size: u64,
    /// The document's name, for the officer at the counter.
    pub name: String,
    /// Where the store keeps it (it may be missing or damaged: that may be why it is held).
    #[serde(skip)]
    pub path: PathBuf,
}

/// Everything needed to hand an entry over by hand: what the gateway would have received.
#[derive(Debug, Clone, Serialize)]
pub struct EntryExport {
    /// Outbox row id.
    pub id: i64,
    /// What it carries.
    pub kind: OutboxKind,
    /// The key the gateway deduplicates on (delivering it later by hand stays idempotent).
    pub idempotency_key: String,
    /// Its hold, if held.
    pub hold: Option<HeldEntry>,
    /// The JSON body the gateway would receive.
    pub body: serde_json::Value,
    /// The blobs the body refers to.
    pub blobs: Vec<ExportBlob>,
}

type Row = (i64, String, String, String, u32, String, String);

impl Store {
    /// Holds an undelivered entry for a technician with `reason`, instead of recording a
    /// failure to retry: it leaves pending work until a technician retries it. Returns whether
    /// it was held (`false`: delivered or already held meanwhile, e.g. by a technician's tool).
    pub fn hold_for_technician(
        &self,
        id: i64,
        reason: &str,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET hold = 'needs_technician', hold_reason = ?2, held_at = ?3,
                        attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1 AND delivered_at IS NULL AND hold IS NULL",
                params![id, reason, now.to_rfc3339()],
            )
            .map_err(self.db())?;
        Ok(n > 0)
    }

    /// Every entry held for a technician or set aside, oldest hold first.
    pub fn held_entries(&self) -> StoreResult<Vec<HeldEntry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, kind, payload, hold, attempts, COALESCE(hold_reason, ''),
                        COALESCE(held_at, '')
                 FROM outbox WHERE delivered_at IS NULL AND hold IS NOT NULL
                 ORDER BY held_at, id",
            )
            .map_err(self.db())?;
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(self.db())?
            .collect::<Result<_, _>>()
            .map_err(self.db())?;
        rows.into_iter().map(held_from_row).collect()
    }

    /// A technician's retry: the entry (held or set aside) is pending again, due now, its
    /// failure count reset so its backoff starts short.
    pub fn retry_held(&self, id: i64) -> StoreResult<()> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET hold = NULL, hold_reason = NULL, held_at = NULL, attempts = 0,
                        next_attempt_ms = 0, last_error = NULL
                 WHERE id = ?1 AND delivered_at IS NULL AND hold IS NOT NULL",
                [id],
            )
            .map_err(self.db())?;
        if n == 0 {
            return Err(self.not_held(id)?);
        }
        Ok(())
    }

    /// Retries every entry waiting for a technician (not those set aside: setting one aside was
    /// a decision, undone only by naming it). Returns how many.
    pub fn retry_all_held(&self) -> StoreResult<u64> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET hold = NULL, hold_reason = NULL, held_at = NULL, attempts = 0,
                        next_attempt_ms = 0, last_error = NULL
                 WHERE delivered_at IS NULL AND hold = 'needs_technician'",
                [],
            )
            .map_err(self.db())?;
        Ok(n as u64)
    }

    /// Sets an entry waiting for a technician aside: kept (its reason too), never retried,
    /// never deleted, exportable. Its "since" becomes when it was set aside.
    pub fn set_aside(&self, id: i64, now: DateTime<FixedOffset>) -> StoreResult<()> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET hold = 'set_aside', held_at = ?2
                 WHERE id = ?1 AND delivered_at IS NULL AND hold = 'needs_technician'",
                params![id, now.to_rfc3339()],
            )
            .map_err(self.db())?;
        if n == 0 {
            return Err(self.not_held(id)?);
        }
        Ok(())
    }

    /// What to write out to hand entry `id` over by hand: its body and its blobs.
    pub fn export_entry(&self, id: i64) -> StoreResult<EntryExport> {
        let (kind, idempotency_key, payload): (String, String, String) = self
            .conn
            .query_row(
                "SELECT kind, idempotency_key, payload FROM outbox WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| no_entry(id))?;
        let kind = parse_kind(id, &kind)?;
        let corrupt = |detail: String| StoreError::Corrupt {
            what: format!("outbox entry {id}"),
            detail,
        };
        let (body, blobs) = match kind {
            OutboxKind::Dossier => {
                let submission = self
                    .dossier(&payload)?
                    .ok_or_else(|| corrupt(format!("dossier {payload} is missing")))?;
                let blobs = submission
                    .documents
                    .iter()
                    .map(|d| self.export_blob(&d.sha256, d.size, &d.name))
                    .collect();
                let body = serde_json::to_value(&submission).map_err(|e| corrupt(e.to_string()))?;
                (body, blobs)
            }
            OutboxKind::Documents => {
                let docs: DigitizedDocuments =
                    serde_json::from_str(&payload).map_err(|e| corrupt(e.to_string()))?;
                let blobs = docs
                    .documents
                    .iter()
                    .map(|d| self.export_blob(&d.sha256, d.size, &d.name))
                    .collect();
                let body = serde_json::to_value(&docs).map_err(|e| corrupt(e.to_string()))?;
                (body, blobs)
            }
            OutboxKind::Rating | OutboxKind::Ticket | OutboxKind::Health => (
                serde_json::from_str(&payload).map_err(|e| corrupt(e.to_string()))?,
                Vec::new(),
            ),
        };
        let hold = self.held_entries()?.into_iter().find(|h| h.id == id);
        Ok(EntryExport {
            id,
            kind,
            idempotency_key,
            hold,
            body,
            blobs,
        })
    }

    fn export_blob(&self, sha256: &str, size: u64, name: &str) -> ExportBlob {
        ExportBlob {
            sha256: sha256.to_owned(),
            size,
            name: name.to_owned(),
            path: self.blobs.path(sha256),
        }
    }

    /// The refusal for a retry or set-aside of an entry not in the right state, saying which.
    fn not_held(&self, id: i64) -> StoreResult<StoreError> {
        let state: Option<(Option<String>, Option<String>)> = self
            .conn
            .query_row(
                "SELECT delivered_at, hold FROM outbox WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db())?;
        Ok(match state {
            None => no_entry(id),
            Some((Some(_), _)) => StoreError::Rejected(format!(
                "mục {id} đã được gửi / entry {id} was delivered already"
            )),
            Some((None, None)) => StoreError::Rejected(format!(
                "mục {id} không chờ kỹ thuật viên, nó đang được gửi bình thường / entry {id} is not waiting for a technician, it is being delivered as usual"
            )),
            Some((None, Some(_))) => StoreError::Rejected(format!(
                "mục {id} đã được để riêng / entry {id} is set aside already"
            )),
        })
    }
}

fn no_entry(id: i64) -> StoreError {
    StoreError::Rejected(format!(
        "không có mục {id} trong hàng đợi / there is no outbox entry {id} (kioskctl outbox list)"
    ))
}

fn parse_kind(id: i64, kind: &str) -> StoreResult<OutboxKind> {
    OutboxKind::parse(kind).ok_or_else(|| StoreError::Corrupt {
        what: format!("outbox entry {id}"),
        detail: format!("unknown kind {kind:?}"),
    })
}

fn held_from_row(
    (id, kind, payload, hold, attempts, reason, since): Row,
) -> StoreResult<HeldEntry> {
    let kind = parse_kind(id, &kind)?;
    let state = HoldState::parse(&hold).ok_or_else(|| StoreError::Corrupt {
        what: format!("outbox entry {id}"),
        detail: format!("unknown hold {hold:?}"),
    })?;
    Ok(HeldEntry {
        id,
        kind,
        dossier_code: dossier_of(kind, &payload),
        state,
        reason,
        since,
        attempts,
    })
}

/// The dossier an entry is about: a dossier's code, intake documents' dossier, a rating's
/// transaction when it is a dossier code (it may be a ticket id).
fn dossier_of(kind: OutboxKind, payload: &str) -> Option<String> {
    let field = |name: &str| {
        serde_json::from_str::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get(name).and_then(|f| f.as_str()).map(str::to_owned))
    };
    match kind {
        OutboxKind::Dossier => Some(payload.to_owned()),
        OutboxKind::Documents => field("dossier_code"),
        OutboxKind::Rating => field("transaction").filter(|t| DossierCode::parse(t).is_ok()),
        OutboxKind::Ticket | OutboxKind::Health => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_states_are_read_from_the_words_the_schema_allows() {
        assert_eq!(
            HoldState::parse("needs_technician"),
            Some(HoldState::NeedsTechnician)
        );
        assert_eq!(HoldState::parse("set_aside"), Some(HoldState::SetAside));
        assert_eq!(HoldState::parse("pending"), None);
    }

    /// A kiosk at the previous schema version keeps its outbox: its entries come out unheld and
    /// pending after the migration.
    #[test]
    fn entries_of_the_previous_schema_are_pending_after_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
        for sql in &crate::schema::MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute(
            "INSERT INTO outbox(kind, idempotency_key, payload, created_at, attempts, last_error)
             VALUES('ticket', 'k', '{}', '2026-11-23T09:00:00+07:00', 4, 'offline')",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 3).unwrap();
        drop(conn);
        let store = Store::open(dir.path(), 0).unwrap();
        let entry = store.next_due(i64::MAX, std::time::Duration::ZERO).unwrap();
        assert_eq!(entry.map(|e| e.attempts), Some(4));
        assert!(store.held_entries().unwrap().is_empty());
    }
}
