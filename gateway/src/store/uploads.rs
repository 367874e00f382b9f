//! The state of an upload in progress that several gateway instances share: its segments (the
//! objects holding the bytes received so far, see [`crate::files`]) and the lease of the one
//! PATCH allowed to append to it at a time.
//!
//! - **Segments**: a PATCH stores the bytes it receives as objects, then records each one
//!   here, in the same transaction that moves the offset by compare-and-set (`upload_offset`
//!   must still be the segment's start and the lease still the writer's). So the recorded
//!   offset never exceeds what the object store confirmed, and a writer that lost its lease
//!   (paused past its expiry, another instance took over) cannot move the offset: its object
//!   has a key of its own and is simply never recorded.
//! - **Lease**: holder (a random token per PATCH, not per instance) and expiry (Unix ms of the
//!   taking gateway's clock; gateways sharing a database are expected to keep NTP time, and a
//!   skewed clock can only cost waiting, never bytes, because every offset move checks the
//!   holder). Taken by compare-and-set, renewed while the body streams, released at the end.
//!   A gateway killed mid-PATCH leaves its lease to expire; another instance then continues.
//! - Segment rows of uploads that finished or went are pruned by the sweep; the objects they
//!   name are deleted by the finishing PATCH or the sweep.

use super::value::sql_int;
use super::Store;
use crate::GatewayError;

/// Migration 12 (both backends).
pub(crate) const MIGRATION: &str = r#"
ALTER TABLE uploads ADD COLUMN lease_holder TEXT;
ALTER TABLE uploads ADD COLUMN lease_until_ms BIGINT;
CREATE TABLE upload_segments (
    upload_id TEXT NOT NULL,
    start_offset BIGINT NOT NULL,
    length BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    PRIMARY KEY (upload_id, start_offset)
);
"#;

/// `$1` holder, `$2` expiry (Unix ms), `$3` upload id, `$4` now (Unix ms): takes the lease of
/// an unfinished upload nobody holds, or whose holder's lease ran out.
const LEASE_TAKE: &str = "UPDATE uploads SET lease_holder = $1, lease_until_ms = $2
     WHERE id = $3 AND NOT complete AND (lease_holder IS NULL OR lease_until_ms < $4)";
/// `$1` new expiry, `$2` upload id, `$3` holder.
const LEASE_RENEW: &str =
    "UPDATE uploads SET lease_until_ms = $1 WHERE id = $2 AND lease_holder = $3";
/// `$1` upload id, `$2` holder.
const LEASE_RELEASE: &str = "UPDATE uploads SET lease_holder = NULL, lease_until_ms = NULL
     WHERE id = $1 AND lease_holder = $2";
/// `$1` new offset, `$2` now (Unix s), `$3` upload id, `$4` the offset expected, `$5` holder:
/// the compare-and-set that moves an offset.
const OFFSET_CAS: &str = "UPDATE uploads SET upload_offset = $1, active_unix = $2
     WHERE id = $3 AND upload_offset = $4 AND lease_holder = $5 AND NOT complete";
/// `$1` upload id, `$2` start, `$3` length, `$4` object key.
const SEGMENT_INSERT: &str = "INSERT INTO upload_segments (upload_id, start_offset, length,
     object_key) VALUES ($1, $2, $3, $4)";
/// `$1` upload id.
const SEGMENTS: &str = "SELECT start_offset, length, object_key FROM upload_segments
     WHERE upload_id = $1 ORDER BY start_offset";
/// `$1` upload id.
pub(super) const SEGMENTS_DROP: &str = "DELETE FROM upload_segments WHERE upload_id = $1";
/// `$1` now (Unix s), `$2` upload id, `$3` holder: back to offset 0.
pub(super) const OFFSET_RESET: &str = "UPDATE uploads SET upload_offset = 0, active_unix = $1
     WHERE id = $2 AND lease_holder = $3 AND NOT complete";
/// `$1` now (Unix s), `$2` upload id, `$3` holder: the upload is active.
const TOUCH_HELD: &str = "UPDATE uploads SET active_unix = $1 WHERE id = $2 AND lease_holder = $3";
/// Segment rows whose upload finished or went.
const SEGMENTS_PRUNE: &str = "DELETE FROM upload_segments
     WHERE upload_id NOT IN (SELECT id FROM uploads WHERE NOT complete)";
/// `$1` upload id: whether it is an unfinished upload (its objects are kept).
const UPLOAD_OPEN: &str = "SELECT COUNT(*) FROM uploads WHERE id = $1 AND NOT complete";

/// A recorded segment: bytes `start .. start + length` of the upload, in object `key` (its
/// first `length` bytes: a `.part` file of an older gateway may hold more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub start: u64,
    pub length: u64,
    pub key: String,
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Runs one statement with its parameters on either backend and returns the rows it changed.
macro_rules! exec {
    ($store:expr, $action:expr, $sql:expr, [$($p:expr),*]) => {
        match $store {
            Store::Sqlite(s) => {
                $(let _ = &$p;)*
                let params = ($($p.clone(),)*);
                s.call($action, move |c| c.execute($sql, params)).await.map(|n| n as u64)
            }
            Store::Postgres(s) => s
                .client()
                .await?
                .execute($sql, &[$(&$p),*])
                .await
                .map_err(s.err($action)),
        }
    };
}

impl Store {
    /// Takes the lease of an unfinished upload for `holder` until `until_ms`; `false` if another
    /// holder's lease runs, or the upload finished or went.
    pub async fn take_lease(
        &self,
        id: &str,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, GatewayError> {
        let (id, holder) = (id.to_string(), holder.to_string());
        exec!(
            self,
            "take an upload's lease",
            LEASE_TAKE,
            [holder, until_ms, id, now_ms]
        )
        .map(|n| n > 0)
    }

    /// Extends `holder`'s lease; `false` if it is not theirs any more.
    pub async fn renew_lease(
        &self,
        id: &str,
        holder: &str,
        until_ms: i64,
    ) -> Result<bool, GatewayError> {
        let (id, holder) = (id.to_string(), holder.to_string());
        exec!(
            self,
            "renew an upload's lease",
            LEASE_RENEW,
            [until_ms, id, holder]
        )
        .map(|n| n > 0)
    }

    /// Gives the lease up (nothing if it is not `holder`'s any more).
    pub async fn release_lease(&self, id: &str, holder: &str) -> Result<(), GatewayError> {
        let (id, holder) = (id.to_string(), holder.to_string());
        exec!(
            self,
            "release an upload's lease",
            LEASE_RELEASE,
            [id, holder]
        )
        .map(|_| ())
    }

    /// Marks the leased upload active now (the expiry counts from here); `false` if the lease
    /// is not `holder`'s.
    pub async fn touch_leased(&self, id: &str, holder: &str) -> Result<bool, GatewayError> {
        let (id, holder) = (id.to_string(), holder.to_string());
        let now = chrono::Utc::now().timestamp();
        exec!(
            self,
            "record an upload's activity",
            TOUCH_HELD,
            [now, id, holder]
        )
        .map(|n| n > 0)
    }

    /// Records `segment` (its object is durable in the object store) and moves the offset to
    /// its end, if the offset is still `expected` and the lease `holder`'s; `false` (nothing
    /// recorded) otherwise.
    pub async fn record_segment(
        &self,
        id: &str,
        holder: &str,
        expected: u64,
        segment: &Segment,
    ) -> Result<bool, GatewayError> {
        let now = chrono::Utc::now().timestamp();
        let end = sql_int(segment.start.saturating_add(segment.length));
        let (start, length, expected) = (
            sql_int(segment.start),
            sql_int(segment.length),
            sql_int(expected),
        );
        let (id, holder, key) = (id.to_string(), holder.to_string(), segment.key.clone());
        match self {
            Store::Sqlite(s) => {
                s.call("record an upload segment", move |c| {
                    let tx = c.transaction()?;
                    let moved = tx.execute(
                        OFFSET_CAS,
                        rusqlite::params![end, now, id, expected, holder],
                    )? > 0;
                    if moved {
                        tx.execute(SEGMENT_INSERT, rusqlite::params![id, start, length, key])?;
                    }
                    tx.commit().map(|()| moved)
                })
                .await
            }
            Store::Postgres(s) => {
                let write = s.err("record an upload segment");
                let mut client = s.client().await?;
                let tx = client.transaction().await.map_err(&write)?;
                let moved = tx
                    .execute(OFFSET_CAS, &[&end, &now, &id, &expected, &holder])
                    .await
                    .map_err(&write)?
                    > 0;
                if moved {
                    tx.execute(SEGMENT_INSERT, &[&id, &start, &length, &key])
                        .await
                        .map_err(&write)?;
                }
                tx.commit().await.map_err(write).map(|()| moved)
            }
        }
    }

    /// The recorded segments of an upload, in order.
    pub async fn segments(&self, id: &str) -> Result<Vec<Segment>, GatewayError> {
        let seg = |start: i64, length: i64, key: String| Segment {
            start: unsigned(start),
            length: unsigned(length),
            key,
        };
        match self {
            Store::Sqlite(s) => {
                let id = id.to_string();
                s.call("read an upload's segments", move |c| {
                    c.prepare(SEGMENTS)?
                        .query_map([id], |r| Ok(seg(r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                })
                .await
            }
            Store::Postgres(s) => {
                let read = s.err("read an upload's segments");
                s.client()
                    .await?
                    .query(SEGMENTS, &[&id])
                    .await
                    .map_err(&read)?
                    .iter()
                    .map(|r| Ok(seg(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<_, tokio_postgres::Error>>()
                    .map_err(read)
            }
        }
    }

    /// Puts the leased upload back to offset 0 and forgets its segments (one transaction);
    /// `false` if the lease is not `holder`'s.
    pub async fn reset_upload(&self, id: &str, holder: &str) -> Result<bool, GatewayError> {
        let now = chrono::Utc::now().timestamp();
        let (id, holder) = (id.to_string(), holder.to_string());
        match self {
            Store::Sqlite(s) => {
                s.call("reset an upload", move |c| {
                    let tx = c.transaction()?;
                    let reset = tx.execute(OFFSET_RESET, rusqlite::params![now, id, holder])? > 0;
                    if reset {
                        tx.execute(SEGMENTS_DROP, [&id])?;
                    }
                    tx.commit().map(|()| reset)
                })
                .await
            }
            Store::Postgres(s) => {
                let write = s.err("reset an upload");
                let mut client = s.client().await?;
                let tx = client.transaction().await.map_err(&write)?;
                let reset = tx
                    .execute(OFFSET_RESET, &[&now, &id, &holder])
                    .await
                    .map_err(&write)?
                    > 0;
                if reset {
                    tx.execute(SEGMENTS_DROP, &[&id]).await.map_err(&write)?;
                }
                tx.commit().await.map_err(write).map(|()| reset)
            }
        }
    }

    /// Forgets the segments of an upload (it completed: its blob is durable).
    pub async fn drop_segments(&self, id: &str) -> Result<(), GatewayError> {
        let id = id.to_string();
        exec!(self, "forget an upload's segments", SEGMENTS_DROP, [id]).map(|_| ())
    }

    /// Forgets the segments of uploads that finished or went (the sweep).
    pub async fn prune_segments(&self) -> Result<u64, GatewayError> {
        match self {
            Store::Sqlite(s) => s
                .call("prune upload segments", |c| c.execute(SEGMENTS_PRUNE, []))
                .await
                .map(|n| n as u64),
            Store::Postgres(s) => s
                .client()
                .await?
                .execute(SEGMENTS_PRUNE, &[])
                .await
                .map_err(s.err("prune upload segments")),
        }
    }

    /// Whether `id` is an unfinished upload (the sweep keeps its objects).
    pub async fn upload_open(&self, id: &str) -> Result<bool, GatewayError> {
        match self {
            Store::Sqlite(s) => {
                let id = id.to_string();
                s.call("check an upload", move |c| {
                    c.query_row(UPLOAD_OPEN, [id], |r| r.get::<_, i64>(0))
                })
                .await
                .map(|n| n > 0)
            }
            Store::Postgres(s) => {
                let read = s.err("check an upload");
                let row = s
                    .client()
                    .await?
                    .query_one(UPLOAD_OPEN, &[&id])
                    .await
                    .map_err(&read)?;
                row.try_get::<_, i64>(0).map(|n| n > 0).map_err(read)
            }
        }
    }
}
