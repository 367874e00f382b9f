//! The outbox and upload bookkeeping: what is waiting for the gateway, when it is due, what
//! was delivered, and how far each blob's resumable upload got (invariants 2 and 3).

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{Store, StoreError, StoreResult};

/// What an outbox entry carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// A dossier and its documents; the payload is the dossier code.
    Dossier,
    /// A rating; the payload is a `RatingSubmission`.
    Rating,
    /// A queue ticket; the payload is a `TicketIssued`.
    Ticket,
    /// Documents digitized at intake for a dossier; the payload is a `DigitizedDocuments`.
    Documents,
    /// The kiosk's health report; the payload is a `HealthReport`. Only the newest waits.
    Health,
}

impl OutboxKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Dossier => "dossier",
            Self::Rating => "rating",
            Self::Ticket => "ticket",
            Self::Documents => "documents",
            Self::Health => "health",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "dossier" => Some(Self::Dossier),
            "rating" => Some(Self::Rating),
            "ticket" => Some(Self::Ticket),
            "documents" => Some(Self::Documents),
            "health" => Some(Self::Health),
            _ => None,
        }
    }
}

/// One pending outbox entry.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// What it carries.
    pub kind: OutboxKind,
    /// Key the gateway deduplicates on.
    pub idempotency_key: String,
    /// Dossier code or JSON body.
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// Why an entry is not being delivered (the technician's states, see `held.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// A retry cannot fix it: a technician must look (retry it or set it aside).
    NeedsTechnician,
    /// A technician set it aside: kept and exportable, never retried.
    SetAside,
}

impl HoldState {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "needs_technician" => Some(Self::NeedsTechnician),
            "set_aside" => Some(Self::SetAside),
            _ => None,
        }
    }
}

/// One entry held for a technician or set aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldEntry {
    /// Outbox row id (what `kioskctl outbox retry ID` takes).
    pub id: i64,
    /// What it carries.
    pub kind: OutboxKind,
    /// The dossier it is about, when it is about one.
    pub dossier_code: Option<String>,
    /// Held for a technician, or set aside.
    pub state: HoldState,
    /// Why it was held, Vietnamese first, in words a technician acts on.
    pub reason: String,
    /// When it was held (RFC 3339, Vietnam time).
    pub since: String,
    /// Delivery attempts made before it was held.
    pub attempts: u32,
}

/// Resumable upload state of one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadState {
    /// The blob.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// The gateway's tus upload URL, once created.
    pub upload_url: Option<String>,
    /// Bytes the gateway confirmed so far.
    pub uploaded_bytes: u64,
    /// Whether the gateway holds the complete, verified blob.
    pub completed: bool,
}

/// Counts for `kioskctl status` and the technician screen.
///
/// Health reports are left out of the counts: they are the kiosk's telemetry, not a citizen's
/// record, so a report waiting while offline must neither keep the package's removal guard
/// refusing nor count itself in the outbox depth it reports ([`Self::health_report_waiting`]
/// says whether one waits).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutboxStatus {
    /// Entries not yet delivered, *including* those held for a technician or set aside: the
    /// package's removal guard (`prerm`) refuses while this is above 0, and a held dossier must
    /// keep it from being removed with the software.
    pub pending: u64,
    /// When the oldest of `pending` was accepted (RFC 3339), if any is pending; entries set aside
    /// are left out (a technician decided about them: they must not make the outbox look stuck
    /// for as long as they are kept).
    pub oldest_pending_at: Option<String>,
    /// Whether a health report waits for delivery (at most one does).
    pub health_report_waiting: bool,
    /// Of `pending`, entries waiting for a technician (never retried automatically).
    pub needs_technician: u64,
    /// Of `pending`, entries a technician set aside (kept, never retried, exportable).
    pub set_aside: u64,
    /// Every entry waiting for a technician, oldest first, with its reason: one latest error
    /// would hide an older fatal one.
    pub needs_technician_entries: Vec<HeldEntry>,
    /// Entries delivered.
    pub delivered: u64,
    /// Pending entries that failed at least once (held ones included).
    pub failing: u64,
    /// The most recent delivery error, if any entry is failing.
    pub last_error: Option<String>,
    /// Upload progress of blobs not yet complete.
    pub uploads: Vec<UploadState>,
    /// When the gateway last acknowledged an entry (RFC 3339), if ever.
    pub last_delivered_at: Option<String>,
}

impl Store {
    /// The oldest entry due for delivery at `now_ms` (Unix milliseconds), if any. An entry
    /// scheduled further ahead than `max_delay` can only have been scheduled by a clock that
    /// was wrong (ahead) then: it is due now, so a corrected clock never strands it.
    pub fn next_due(&self, now_ms: i64, max_delay: Duration) -> StoreResult<Option<OutboxEntry>> {
        let horizon =
            now_ms.saturating_add(i64::try_from(max_delay.as_millis()).unwrap_or(i64::MAX));
        let row: Option<(i64, String, String, String, u32)> = self
            .conn
            .query_row(
                "SELECT id, kind, idempotency_key, payload, attempts FROM outbox
                 WHERE delivered_at IS NULL AND hold IS NULL AND (next_attempt_ms <= ?1 OR next_attempt_ms > ?2)
                 ORDER BY next_attempt_ms, id LIMIT 1",
                [now_ms, horizon],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(self.db())?;
        row.map(|(id, kind, idempotency_key, payload, attempts)| {
            let kind = OutboxKind::parse(&kind).ok_or_else(|| StoreError::Corrupt {
                what: format!("outbox entry {id}"),
                detail: format!("unknown kind {kind:?}"),
            })?;
            Ok(OutboxEntry {
                id,
                kind,
                idempotency_key,
                payload,
                attempts,
            })
        })
        .transpose()
    }

    /// Whether a small record (a rating, a queue ticket, a health report) is due at `now_ms`:
    /// an upload of large documents in progress makes way for it (a rating must not wait
    /// minutes behind a scanned dossier on a slow link). Not a rating of a dossier still
    /// waiting in this outbox (`<device>:rating:<code>` beside `<device>:dossier:<code>`): the
    /// gateway cannot take it before its dossier, so stopping the upload for it gains nothing.
    pub fn small_record_due(&self, now_ms: i64) -> StoreResult<bool> {
        self.conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM outbox r
                 WHERE r.delivered_at IS NULL AND r.hold IS NULL AND r.next_attempt_ms <= ?1
                   AND r.kind IN ('rating', 'ticket', 'health')
                   AND NOT (r.kind = 'rating' AND EXISTS(SELECT 1 FROM outbox d
                        WHERE d.idempotency_key = replace(r.idempotency_key, ':rating:', ':dossier:')
                          AND d.delivered_at IS NULL)))",
                [now_ms],
                |r| r.get(0),
            )
            .map_err(self.db())
    }

    /// When the next pending entry becomes due (Unix ms), if any is pending.
    pub fn next_due_at(&self) -> StoreResult<Option<i64>> {
        self.conn
            .query_row(
                "SELECT MIN(next_attempt_ms) FROM outbox WHERE delivered_at IS NULL AND hold IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(self.db())
    }

    /// Marks an entry delivered after the gateway's durable acknowledgement.
    pub fn mark_delivered(&self, id: i64, now: DateTime<FixedOffset>) -> StoreResult<()> {
        self.conn
            .execute(
                "UPDATE outbox SET delivered_at = ?2, last_error = NULL WHERE id = ?1",
                params![id, now.to_rfc3339()],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Records a failed attempt and when to try again (an entry held meanwhile stays held).
    /// `now_ms` is the caller's clock (Unix ms), the same clock [`Store::next_due`] is asked
    /// with, so a test (or a clock that jumps) sees both sides alike.
    pub fn record_failure(
        &self,
        id: i64,
        error: &str,
        now_ms: i64,
        retry_in: Duration,
    ) -> StoreResult<()> {
        let next = now_ms.saturating_add(i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX));
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                params![id, error, next],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Puts an entry's next attempt off to `now_ms + wait` without counting a failed attempt
    /// (`attempts` and the backoff stay as they were): the gateway asked this entry to wait
    /// (the device's upload quota or its open uploads), the entry is not at fault. `reason`
    /// is kept as its last error, for the technician's view.
    pub fn postpone(&self, id: i64, reason: &str, now_ms: i64, wait: Duration) -> StoreResult<()> {
        let next = now_ms.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
        self.conn
            .execute(
                "UPDATE outbox SET last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                params![id, reason, next],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Makes every pending entry due now (`kioskctl retry`). Entries held for a technician
    /// stay held: a retry cannot fix them, and releasing them is a technician's decision taken
    /// one by one ([`Store::retry_held`]).
    pub fn retry_now(&self) -> StoreResult<u64> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET next_attempt_ms = 0 WHERE delivered_at IS NULL AND hold IS NULL",
                [],
            )
            .map_err(self.db())?;
        Ok(n as u64)
    }

    /// Upload state of a blob.
    pub fn upload_state(&self, sha256: &str) -> StoreResult<Option<UploadState>> {
        self.conn
            .query_row(
                "SELECT sha256, size, upload_url, uploaded_bytes, completed_at IS NOT NULL FROM uploads WHERE sha256 = ?1",
                [sha256],
                row_to_upload,
            )
            .optional()
            .map_err(self.db())
    }

    /// Remembers the gateway's upload URL for a blob (so a restart resumes it).
    pub fn set_upload_url(&self, sha256: &str, url: Option<&str>) -> StoreResult<()> {
        self.conn
            .execute(
                "UPDATE uploads SET upload_url = ?2, uploaded_bytes = 0, completed_at = NULL WHERE sha256 = ?1",
                params![sha256, url],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Records upload progress confirmed by the gateway.
    pub fn set_uploaded_bytes(&self, sha256: &str, bytes: u64) -> StoreResult<()> {
        self.conn
            .execute(
                "UPDATE uploads SET uploaded_bytes = ?2 WHERE sha256 = ?1",
                params![sha256, bytes as i64],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Records that the gateway holds the complete, verified blob.
    pub fn mark_upload_complete(
        &self,
        sha256: &str,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<()> {
        self.conn
            .execute(
                "UPDATE uploads SET uploaded_bytes = size, completed_at = ?2 WHERE sha256 = ?1",
                params![sha256, now.to_rfc3339()],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Outbox counts and upload progress.
    pub fn outbox_status(&self) -> StoreResult<OutboxStatus> {
        let (pending, delivered, failing, needs_technician, set_aside): (u64, u64, u64, u64, u64) =
            self.conn
                .query_row(
                    "SELECT COALESCE(SUM(delivered_at IS NULL), 0), COALESCE(SUM(delivered_at IS NOT NULL), 0),
                        COALESCE(SUM(delivered_at IS NULL AND attempts > 0), 0),
                        COALESCE(SUM(delivered_at IS NULL AND hold = 'needs_technician'), 0),
                        COALESCE(SUM(delivered_at IS NULL AND hold = 'set_aside'), 0) FROM outbox
                     WHERE kind <> 'health'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .map_err(self.db())?;
        let needs_technician_entries = self
            .held_entries()?
            .into_iter()
            .filter(|e| e.state == HoldState::NeedsTechnician)
            .collect();
        let (oldest_pending_at, health_waiting): (Option<String>, u64) = self
            .conn
            .query_row(
                "SELECT (SELECT created_at FROM outbox WHERE delivered_at IS NULL AND kind <> 'health'
                         AND (hold IS NULL OR hold <> 'set_aside') ORDER BY id LIMIT 1),
                        (SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL AND kind = 'health')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.db())?;
        let last_error = self
            .conn
            .query_row(
                "SELECT last_error FROM outbox WHERE delivered_at IS NULL AND last_error IS NOT NULL AND kind <> 'health'
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT sha256, size, upload_url, uploaded_bytes, completed_at IS NOT NULL FROM uploads
                 WHERE completed_at IS NULL ORDER BY sha256",
            )
            .map_err(self.db())?;
        let uploads = stmt
            .query_map([], row_to_upload)
            .map_err(self.db())?
            .collect::<Result<_, _>>()
            .map_err(self.db())?;
        let last_delivered_at = self
            .conn
            .query_row(
                "SELECT MAX(delivered_at) FROM outbox WHERE delivered_at IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(self.db())?;
        Ok(OutboxStatus {
            pending,
            oldest_pending_at,
            health_report_waiting: health_waiting > 0,
            needs_technician,
            set_aside,
            needs_technician_entries,
            delivered,
            failing,
            last_error,
            uploads,
            last_delivered_at,
        })
    }
}

pub(crate) fn row_to_upload(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadState> {
    Ok(UploadState {
        sha256: r.get(0)?,
        size: r.get::<_, i64>(1)? as u64,
        upload_url: r.get(2)?,
        uploaded_bytes: r.get::<_, i64>(3)? as u64,
        completed: r.get(4)?,
    })
}

pub(crate) fn insert_outbox(
    tx: &rusqlite::Transaction<'_>,
    kind: OutboxKind,
    key: &str,
    payload: &str,
    now: DateTime<FixedOffset>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO outbox(kind, idempotency_key, payload, created_at) VALUES(?1, ?2, ?3, ?4)",
        params![kind.as_str(), key, payload, now.to_rfc3339()],
    )?;
    Ok(())
}
