//! The export feed's event log: what the provincial one-stop system pulls with a cursor
//! (`GET /v1/export/feed`). Every change it must hear of — a dossier received, documents added
//! to one, a status changed — appends one row to `feed_events` in the transaction of the
//! change itself, so an event exists exactly when its change committed.
//!
//! The cursor is the id of the last event a consumer saw, and "the next events" are those with
//! a greater id. That is only safe if no event can become visible after one with a greater id:
//! with a plain sequence (BIGSERIAL) two PostgreSQL transactions take ids 7 and 8, the one with
//! 8 commits first, a consumer reads 8 and moves its cursor past 7, and 7 is never handed out.
//! So ids come from the single row of `feed_sequence`, incremented in the transaction: its row
//! lock is held until commit, a second writer waits for it and then counts on from the first's
//! committed value. An event's id is therefore given out only after every smaller one was
//! committed (or rolled back with its counter increment: the ids have no gaps either), and a
//! snapshot that sees event `n` sees every event before it. SQLite's write lock serialises
//! writers anyway. The increment is the last statement of each change, so the row is held only
//! for the commit.
//!
//! The events keep only the kind, the dossier, its status at the event and which ingest added
//! documents; everything else (applicant, documents) is read from the dossier's rows when the
//! feed is read, so the retention's blanking of an applicant (see `limits`) reaches the feed too.

/// Migration 13: the counter, the log, and one event for each dossier and each documents
/// ingest stored before it (in the order they were received; status as it stands), so a
/// province upgrading hands its provincial system the dossiers it already holds.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE feed_sequence (
    one BIGINT PRIMARY KEY CHECK (one = 1),
    last_id BIGINT NOT NULL
);
CREATE TABLE feed_events (
    id BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    status TEXT NOT NULL,
    device_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    at TEXT NOT NULL
);
INSERT INTO feed_events (id, kind, dossier_code, status, device_id, idempotency_key, at)
SELECT ROW_NUMBER() OVER (ORDER BY received_at, code), 'dossier_received', code, status,
       device_id, idempotency_key, received_at
FROM dossiers;
INSERT INTO feed_events (id, kind, dossier_code, status, device_id, idempotency_key, at)
SELECT (SELECT COUNT(*) FROM dossiers)
       + ROW_NUMBER() OVER (ORDER BY MIN(g.stored_at), g.dossier_code, g.device_id, g.idempotency_key),
       'documents_added', g.dossier_code, MIN(d.status), g.device_id, g.idempotency_key,
       MIN(g.stored_at)
FROM digitized_documents g JOIN dossiers d ON d.code = g.dossier_code
GROUP BY g.dossier_code, g.device_id, g.idempotency_key;
INSERT INTO feed_sequence (one, last_id) SELECT 1, COALESCE(MAX(id), 0) FROM feed_events;
"#;

/// The kinds of event, as stored and as the feed names them.
pub(crate) const DOSSIER_RECEIVED: &str = "dossier_received";
pub(crate) const DOCUMENTS_ADDED: &str = "documents_added";
pub(crate) const STATUS_CHANGED: &str = "status_changed";

/// Takes the next event id: the counter row's lock is held until the transaction ends, which
/// is what orders the events (see the module's documentation).
pub(super) const FEED_NEXT: &str = "UPDATE feed_sequence SET last_id = last_id + 1 WHERE one = 1";
/// `$1` kind, `$2` device id, `$3` idempotency key (both empty for a status change), `$4` now,
/// `$5` dossier code: the event with the id [`FEED_NEXT`] took and the dossier's status as this
/// transaction leaves it.
pub(super) const FEED_APPEND: &str =
    "INSERT INTO feed_events (id, kind, dossier_code, status, device_id, idempotency_key, at)
     SELECT s.last_id, $1, d.code, d.status, $2, $3, $4
     FROM feed_sequence s JOIN dossiers d ON d.code = $5 WHERE s.one = 1";
/// [`FEED_NEXT`] or [`FEED_APPEND`] wrote no row: the counter row is missing (someone deleted
/// it, or a restore lost it). Without the check the change would be stored with no event, and
/// the provincial system would never hear of it; the backends refuse the change instead (see
/// `GatewayError::FeedCounterMissing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FeedCounterMissing;

/// Checks the rows [`FEED_NEXT`] and [`FEED_APPEND`] wrote: one each, else the counter row is
/// missing (the dossier's row exists: the change just wrote or locked it).
pub(super) fn appended(next: u64, append: u64) -> Result<(), FeedCounterMissing> {
    if next == 1 && append == 1 {
        Ok(())
    } else {
        Err(FeedCounterMissing)
    }
}

/// `$1` dossier code: its status, taking the row's lock (a no-op update), so a status change
/// knows the status it replaces and two changes of one dossier run one after the other.
pub(super) const DOSSIER_STATUS_HOLD: &str =
    "UPDATE dossiers SET status = status WHERE code = $1 RETURNING status";

/// The last event id given out (0: none yet).
pub(super) const FEED_LAST: &str = "SELECT last_id FROM feed_sequence WHERE one = 1";
/// `$1` after (cursor), `$2` how many: the page's events with their dossiers, read with
/// [`event_row`].
pub(super) const FEED_PAGE: &str =
    "SELECT e.id, e.kind, e.status, e.at, e.dossier_code, d.procedure_code, d.agency_code,
     d.body, d.received_at, d.appointment_date, d.applicant_purged_at IS NOT NULL
     FROM feed_events e JOIN dossiers d ON d.code = e.dossier_code
     WHERE e.id > $1 ORDER BY e.id LIMIT $2";
/// `$1` after, `$2` last id of the page: the documents of the page's received dossiers, by
/// event, read with [`document_row`].
pub(super) const FEED_DOCUMENTS: &str =
    "SELECT e.id, CAST(NULL AS TEXT), doc.name, doc.file_name, doc.media_type, CAST(NULL AS BIGINT),
     doc.size, doc.sha256
     FROM feed_events e JOIN documents doc ON doc.dossier_code = e.dossier_code
     WHERE e.id > $1 AND e.id <= $2 AND e.kind = 'dossier_received'
     ORDER BY e.id, doc.position";
/// `$1` after, `$2` last id of the page: the digitized documents each documents event added,
/// read with [`document_row`].
pub(super) const FEED_DIGITIZED: &str =
    "SELECT e.id, g.document_code, g.name, CAST(NULL AS TEXT), g.media_type, g.pages, g.size,
     g.sha256
     FROM feed_events e JOIN digitized_documents g ON g.dossier_code = e.dossier_code
        AND g.device_id = e.device_id AND g.idempotency_key = e.idempotency_key
     WHERE e.id > $1 AND e.id <= $2 AND e.kind = 'documents_added'
     ORDER BY e.id, g.document_index, g.document_code";

/// An event as stored, with the columns of its dossier (one row of [`FEED_PAGE`]).
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub at: String,
    pub code: String,
    pub procedure_code: String,
    pub site: String,
    pub body: String,
    pub received_at: String,
    pub appointment_date: String,
    pub applicant_purged: bool,
}

/// One row of [`FEED_PAGE`].
pub(super) fn event_row<R: super::queries::Columns>(r: &R) -> Result<EventRow, R::Error> {
    Ok(EventRow {
        id: r.int(0)?,
        kind: r.text(1)?,
        status: r.text(2)?,
        at: r.text(3)?,
        code: r.text(4)?,
        procedure_code: r.text(5)?,
        site: r.text(6)?,
        body: r.text(7)?,
        received_at: r.text(8)?,
        appointment_date: r.text(9)?,
        applicant_purged: r.flag(10)?,
    })
}

/// A document of an event, as stored (one row of [`FEED_DOCUMENTS`] or [`FEED_DIGITIZED`]).
#[derive(Debug, Clone)]
pub(crate) struct DocumentRow {
    pub event: i64,
    /// A digitized document's code.
    pub document_code: Option<String>,
    pub name: String,
    /// A kiosk document's original file name.
    pub file_name: Option<String>,
    pub media_type: String,
    /// A digitized document's pages.
    pub pages: Option<i64>,
    pub size: i64,
    pub sha256: String,
}

/// One row of [`FEED_DOCUMENTS`] or [`FEED_DIGITIZED`].
pub(super) fn document_row<R: super::queries::Columns>(r: &R) -> Result<DocumentRow, R::Error> {
    Ok(DocumentRow {
        event: r.int(0)?,
        document_code: r.opt_text(1)?,
        name: r.text(2)?,
        file_name: r.opt_text(3)?,
        media_type: r.text(4)?,
        pages: r.opt_int(5)?,
        size: r.int(6)?,
        sha256: r.text(7)?,
    })
}

/// What a page read found, before it is shaped for the wire.
#[derive(Debug, Clone, Default)]
pub(crate) struct FeedRows {
    /// The last event id given out when the page was read.
    pub last_id: i64,
    pub events: Vec<EventRow>,
    pub documents: Vec<DocumentRow>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The feed's statements prepare on SQLite with placeholders numbered in order of first
    /// appearance (see `queries`); the upgrade's backfill is `feed_tests`' job.
    #[test]
    fn statements_prepare_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .unwrap();
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        for sql in [
            FEED_NEXT,
            FEED_APPEND,
            DOSSIER_STATUS_HOLD,
            FEED_LAST,
            FEED_PAGE,
            FEED_DOCUMENTS,
            FEED_DIGITIZED,
        ] {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "parameter {i} of {sql}"
                );
            }
        }
    }
}
