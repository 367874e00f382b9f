//! The gateway's limits and sweeps, kept in the database so that they hold across several
//! gateways on one PostgreSQL: each device's requests in the current window, its upload bytes
//! per (Vietnam) day, its open uploads; the expiry of uploads never finished; and the retention
//! of applicant data of finished dossiers.
//!
//! - **Request rate**: a fixed window per device ([`RATE_COUNT`]): one upsert per request counts
//!   it and returns the window's count, atomically on both backends, so two gateways serving one
//!   kiosk count into one row. The window never moves backwards: a gateway whose clock is
//!   behind counts into the newer window another one started, instead of resetting it.
//! - **Open uploads and bytes per day**: checked and reserved in the transaction that creates
//!   the upload, under the device row's lock ([`super::queries::DEVICE_LOCK`]), so concurrent
//!   creations of one device (on two gateways) are counted one after the other. The bytes of an
//!   upload are reserved at creation (its `Upload-Length`), not when they arrive: what a device
//!   may put on the disk in a day is known before it sends anything.
//!   A device asking again for an upload of the same blob (same SHA-256 and length) while its
//!   unfinished one is still at offset 0 gets that one back instead of a new one, so neither a
//!   lost `201` nor a kiosk starting over after a checksum mismatch leaks an open upload or its
//!   bytes. Only at offset 0: a tus client takes a `201` for a new upload and PATCHes from 0
//!   (tuspy does), so handing back one that holds bytes would answer its PATCH 409; past 0 a
//!   creation is a new upload. An upload reset after a mismatch is charged its length again:
//!   one upload cannot write unlimited bytes a day. A terminated upload (tus `termination`)
//!   gives back the bytes it reserved today and never received.
//! - **Expiry**: uploads carry `active_unix`, their creation then each accepted PATCH; the
//!   sweep ([`crate::api`]'s sweeper) removes those idle longer than the expiry with their
//!   objects, and only if neither offset nor activity moved since it looked (another
//!   gateway may be receiving it). Uploads created before migration 8 are stamped at the
//!   first sweep, so they get the full expiry from then.
//! - **Retention**: a dossier's `finished_unix` is set when its status becomes a finished one
//!   ([`is_finished`]) and cleared if it changes back; past the retention the sweep blanks the
//!   applicant in the stored body, keeping code, dates, status and documents.

use motcua_domain::wire::DossierStatus;

use super::value::sql_int;
use crate::GatewayError;

/// Schema of the limits (migration 8, shared by both backends). The partial indexes keep the
/// sweep's and the quota's lookups to the few unfinished uploads and unpurged dossiers, however
/// many finished ones the tables hold.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE device_request_windows (
    device_id TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    requests BIGINT NOT NULL
);
CREATE TABLE device_upload_days (
    device_id TEXT NOT NULL,
    day TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (device_id, day)
);
ALTER TABLE uploads ADD COLUMN created_unix BIGINT;
CREATE INDEX uploads_unfinished_by_device ON uploads(device_id) WHERE NOT complete;
CREATE INDEX uploads_unfinished_by_age ON uploads(created_unix) WHERE NOT complete;
ALTER TABLE dossiers ADD COLUMN finished_unix BIGINT;
ALTER TABLE dossiers ADD COLUMN applicant_purged_at TEXT;
CREATE INDEX dossiers_awaiting_purge ON dossiers(finished_unix) WHERE applicant_purged_at IS NULL;
"#;

/// Migration 9: the activity time the expiry counts from (creation, then each accepted PATCH).
pub(crate) const MIGRATION_9: &str = r#"
ALTER TABLE uploads ADD COLUMN active_unix BIGINT;
UPDATE uploads SET active_unix = created_unix WHERE NOT complete;
DROP INDEX uploads_unfinished_by_age;
CREATE INDEX uploads_unfinished_by_activity ON uploads(active_unix) WHERE NOT complete;
"#;

/// The statuses after which nothing more happens to a dossier at the one-stop desk: the result
/// was returned, the dossier was not accepted, or the citizen withdrew it. Their applicant
/// data is kept for the retention, then blanked.
pub(crate) fn is_finished(status: DossierStatus) -> bool {
    matches!(
        status,
        DossierStatus::Returned | DossierStatus::NotAccepted | DossierStatus::Withdrawn
    )
}

/// The finished statuses as stored, for SQL (`IN (...)`).
pub(super) const FINISHED_SQL: &str = "('returned', 'not_accepted', 'withdrawn')";

/// `$1` device id, `$2` start of the current window (Unix s): counts one request and returns
/// the window's count (a newer window starts at 1). An older `$2` (this gateway's clock behind
/// another's) counts into the newer window stored: the window never moves backwards, so
/// gateways with skewed clocks cannot keep resetting each other's count.
pub(super) const RATE_COUNT: &str =
    "INSERT INTO device_request_windows (device_id, window_start, requests) VALUES ($1, $2, 1)
     ON CONFLICT (device_id) DO UPDATE SET
     requests = CASE WHEN excluded.window_start > device_request_windows.window_start
                THEN 1 ELSE device_request_windows.requests + 1 END,
     window_start = CASE WHEN excluded.window_start > device_request_windows.window_start
                THEN excluded.window_start ELSE device_request_windows.window_start END
     RETURNING requests";
/// `$1` device id: its uploads not finished.
pub(super) const OPEN_UPLOADS: &str =
    "SELECT COUNT(*) FROM uploads WHERE device_id = $1 AND NOT complete";
/// `$1` device id, `$2` day (YYYY-MM-DD, Vietnam), `$3` bytes, `$4` the day's quota: adds the
/// bytes to the day's total if it stays within the quota; no row returned: over the quota.
pub(super) const UPLOAD_BYTES_RESERVE: &str =
    "INSERT INTO device_upload_days (device_id, day, bytes) VALUES ($1, $2, $3)
     ON CONFLICT (device_id, day) DO UPDATE SET bytes = device_upload_days.bytes + excluded.bytes
     WHERE device_upload_days.bytes + excluded.bytes <= $4
     RETURNING bytes";
/// `$1` device id, `$2` day: the bytes reserved that day.
pub(super) const UPLOAD_BYTES_OF_DAY: &str =
    "SELECT COALESCE(MAX(bytes), 0) FROM device_upload_days WHERE device_id = $1 AND day = $2";
/// `$1` device id, `$2` sha256, `$3` length, `$4` the expiry's cutoff (Unix s): the device's
/// unfinished upload of this blob that holds no byte yet and has not expired, if any (read
/// with [`super::queries::upload`]).
pub(super) const UPLOAD_OPEN_SAME: &str =
    "SELECT id, device_id, sha256, length, upload_offset, complete, COALESCE(site, '')
     FROM uploads WHERE device_id = $1 AND sha256 = $2 AND length = $3 AND NOT complete
     AND upload_offset = 0 AND (active_unix IS NULL OR active_unix >= $4) ORDER BY id LIMIT 1";
/// `$1` now (Unix s), `$2` upload id: an upload handed back again is active.
pub(super) const UPLOAD_TOUCH: &str = "UPDATE uploads SET active_unix = $1 WHERE id = $2";
/// `$1` now (Unix s): stamps uploads created before migration 8.
pub(super) const UPLOADS_STAMP: &str =
    "UPDATE uploads SET created_unix = COALESCE(created_unix, $1),
     active_unix = COALESCE(created_unix, $1) WHERE active_unix IS NULL AND NOT complete";
/// `$1` cutoff (Unix s): unfinished uploads idle since before it (a bounded batch), with the
/// offset and activity time seen.
pub(super) const UPLOADS_EXPIRED: &str =
    "SELECT id, upload_offset, active_unix FROM uploads WHERE NOT complete AND active_unix < $1
     ORDER BY active_unix LIMIT 1000";
/// `$1` upload id, `$2` offset, `$3` activity time as seen by the sweep, `$4` now (Unix ms):
/// removes it if it is still unfinished, nothing happened to it since and no PATCH holds a
/// running lease on it (on any gateway).
pub(super) const UPLOAD_DELETE: &str = "DELETE FROM uploads WHERE id = $1 AND NOT complete
     AND upload_offset = $2 AND active_unix = $3
     AND (lease_holder IS NULL OR lease_until_ms < $4)";
/// `$1` upload id: removes an unfinished upload whatever its state (a reset over the quota).
pub(super) const UPLOAD_DROP: &str = "DELETE FROM uploads WHERE id = $1 AND NOT complete";
/// `$1` oldest window kept, `$2` oldest day kept: drops counters nobody reads any more.
pub(super) const RATE_PRUNE: &str = "DELETE FROM device_request_windows WHERE window_start < $1";
pub(super) const UPLOAD_DAYS_PRUNE: &str = "DELETE FROM device_upload_days WHERE day < $1";
/// `$1` when it finished (Unix s) or NULL, `$2` dossier code.
pub(super) const DOSSIER_FINISHED: &str = "UPDATE dossiers SET finished_unix = $1 WHERE code = $2";

/// `$1` now (Unix s): stamps finished dossiers that have no stamp (finished before migration 8).
pub(super) fn dossiers_stamp() -> String {
    format!(
        "UPDATE dossiers SET finished_unix = $1 WHERE finished_unix IS NULL AND status IN {FINISHED_SQL}"
    )
}

/// `$1` cutoff (Unix s): finished dossiers past the retention whose applicant is still there
/// (a bounded batch), with their body.
pub(super) fn dossiers_due() -> String {
    format!(
        "SELECT code, body FROM dossiers WHERE finished_unix < $1 AND applicant_purged_at IS NULL
         AND status IN {FINISHED_SQL} ORDER BY finished_unix LIMIT 500"
    )
}

/// `$1` body without the applicant, `$2` now, `$3` code. The applicant's ID number MAC
/// (`held`) goes too: it is needed only until the dossier's digitized documents arrive, which
/// a finished dossier no longer gets (what the province holds stays in `held_documents`).
pub(super) const DOSSIER_PURGE: &str = "UPDATE dossiers SET body = $1, applicant_purged_at = $2,
     applicant_id_mac = NULL WHERE code = $3 AND applicant_purged_at IS NULL";

/// What the upload limits allow a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadQuota {
    /// Unfinished uploads at once.
    pub max_open: i64,
    /// Bytes of uploads created per Vietnam day.
    pub bytes_per_day: u64,
    /// Today (YYYY-MM-DD, Vietnam).
    pub day: String,
    /// Now, Unix seconds (the upload's `created_unix`).
    pub now_unix: i64,
    /// Uploads last active before this (Unix s) have expired, as the sweep counts: never
    /// handed back again.
    pub live_since_unix: i64,
}

impl UploadQuota {
    /// The day's quota as SQL binds it (flags are bounded to `i64`; saturating anyway).
    pub fn bytes_per_day_sql(&self) -> i64 {
        sql_int(self.bytes_per_day)
    }
}

/// An unfinished upload the sweep found idle: removed only if still as seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdleUpload {
    pub id: String,
    pub offset: i64,
    pub active_unix: i64,
}

/// What [`super::Store::charge_reset`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetCharge {
    /// Back at offset 0, its length charged again.
    Charged,
    /// The restart would pass the day's quota: the upload was removed.
    OverQuota,
    /// The lease is another request's now: nothing changed.
    LeaseLost,
}

impl ResetCharge {
    fn charged(charged: bool) -> Self {
        if charged {
            Self::Charged
        } else {
            Self::OverQuota
        }
    }
}

/// What creating an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadCreation {
    /// Created, at offset 0 (or handed back: see [`UPLOAD_OPEN_SAME`]).
    Created(super::Upload),
    /// The device has this many unfinished uploads: no more now.
    TooManyOpen(i64),
    /// The day's bytes would go past the quota; this many are reserved today.
    DailyBytesSpent(u64),
}

/// A stored dossier body with the applicant blanked (every personal field emptied); the rest
/// (code, procedure, dates, documents) stays as it was. A body that is not a JSON object is
/// left alone (`None`).
pub(crate) fn without_applicant(body: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(body).ok()?;
    let object = value.as_object_mut()?;
    object.insert(
        "applicant".into(),
        serde_json::json!({"full_name": "", "address": "", "phone": "", "email": ""}),
    );
    serde_json::to_string(&value).ok()
}

impl super::Store {
    /// Counts one request of `device_id` in the window starting at `window_start` (Unix s);
    /// returns the window's count so far.
    pub async fn count_request(
        &self,
        device_id: &str,
        window_start: i64,
    ) -> Result<i64, GatewayError> {
        match self {
            super::Store::Sqlite(s) => {
                let device = device_id.to_string();
                s.call("count a device's request", move |c| {
                    c.query_row(RATE_COUNT, rusqlite::params![device, window_start], |r| {
                        r.get(0)
                    })
                })
                .await
            }
            super::Store::Postgres(s) => {
                let row = s
                    .client()
                    .await?
                    .query_one(RATE_COUNT, &[&device_id, &window_start])
                    .await
                    .map_err(s.err("count a device's request"))?;
                row.try_get(0).map_err(s.err("count a device's request"))
            }
        }
    }

    /// Unfinished uploads idle since before `cutoff` (Unix s), stamping first those that carry
    /// no creation time (made before migration 8) with `now`.
    pub async fn expired_uploads(
        &self,
        now: i64,
        cutoff: i64,
    ) -> Result<Vec<IdleUpload>, GatewayError> {
        let idle = |id, offset, active_unix| IdleUpload {
            id,
            offset,
            active_unix,
        };
        match self {
            super::Store::Sqlite(s) => {
                s.call("find expired uploads", move |c| {
                    c.execute(UPLOADS_STAMP, [now])?;
                    c.prepare(UPLOADS_EXPIRED)?
                        .query_map([cutoff], |r| Ok(idle(r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                })
                .await
            }
            super::Store::Postgres(s) => {
                let read = s.err("find expired uploads");
                let client = s.client().await?;
                client
                    .execute(UPLOADS_STAMP, &[&now])
                    .await
                    .map_err(&read)?;
                client
                    .query(UPLOADS_EXPIRED, &[&cutoff])
                    .await
                    .map_err(&read)?
                    .iter()
                    .map(|r| Ok(idle(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<_, tokio_postgres::Error>>()
                    .map_err(read)
            }
        }
    }

    /// Removes an idle upload's row; `false` if it finished, went, or moved (a PATCH, perhaps
    /// on another gateway) since the sweep saw it.
    pub async fn delete_upload(&self, seen: &IdleUpload) -> Result<bool, GatewayError> {
        let IdleUpload {
            id,
            offset,
            active_unix,
        } = seen.clone();
        let now_ms = chrono::Utc::now().timestamp_millis();
        match self {
            super::Store::Sqlite(s) => {
                s.call("remove an expired upload", move |c| {
                    c.execute(
                        UPLOAD_DELETE,
                        rusqlite::params![id, offset, active_unix, now_ms],
                    )
                    .map(|n| n > 0)
                })
                .await
            }
            super::Store::Postgres(s) => s
                .client()
                .await?
                .execute(UPLOAD_DELETE, &[&id, &offset, &active_unix, &now_ms])
                .await
                .map(|n| n > 0)
                .map_err(s.err("remove an expired upload")),
        }
    }

    /// Puts the leased `upload` back to offset 0 after a checksum mismatch and charges its
    /// length again to its device's bytes of `quota.day` (one transaction). Over the quota
    /// nothing is charged and the upload is removed: the kiosk starts a new one, refused until
    /// the quota renews. Nothing at all happens if the lease is not `holder`'s any more:
    /// another request may be writing the upload (its new segments must stay).
    pub async fn charge_reset(
        &self,
        upload: &super::Upload,
        holder: &str,
        quota: &UploadQuota,
    ) -> Result<ResetCharge, GatewayError> {
        use super::uploads::{OFFSET_RESET, SEGMENTS_DROP};
        let now = chrono::Utc::now().timestamp();
        let (id, device, day, holder) = (
            upload.id.clone(),
            upload.device_id.clone(),
            quota.day.clone(),
            holder.to_string(),
        );
        let (length, max) = (sql_int(upload.length), quota.bytes_per_day_sql());
        match self {
            super::Store::Sqlite(s) => {
                s.call("charge a restarted upload", move |c| {
                    use rusqlite::OptionalExtension;
                    let tx = c.transaction()?;
                    if tx.execute(OFFSET_RESET, rusqlite::params![now, id, holder])? == 0 {
                        return Ok(ResetCharge::LeaseLost);
                    }
                    let charged = tx
                        .query_row(
                            UPLOAD_BYTES_RESERVE,
                            rusqlite::params![device, day, length, max],
                            |_| Ok(()),
                        )
                        .optional()?
                        .is_some();
                    tx.execute(if charged { SEGMENTS_DROP } else { UPLOAD_DROP }, [&id])?;
                    tx.commit().map(|()| ResetCharge::charged(charged))
                })
                .await
            }
            super::Store::Postgres(s) => {
                let write = s.err("charge a restarted upload");
                let mut client = s.client().await?;
                let tx = client.transaction().await.map_err(&write)?;
                // The row stays locked until the commit: the lease cannot change meanwhile.
                if tx
                    .execute(OFFSET_RESET, &[&now, &id, &holder])
                    .await
                    .map_err(&write)?
                    == 0
                {
                    return Ok(ResetCharge::LeaseLost);
                }
                let charged = tx
                    .query_opt(UPLOAD_BYTES_RESERVE, &[&device, &day, &length, &max])
                    .await
                    .map_err(&write)?
                    .is_some();
                tx.execute(if charged { SEGMENTS_DROP } else { UPLOAD_DROP }, &[&id])
                    .await
                    .map_err(&write)?;
                tx.commit()
                    .await
                    .map_err(write)
                    .map(|()| ResetCharge::charged(charged))
            }
        }
    }

    /// On SQLite, copies the write-ahead log into the database file and empties it
    /// (`wal_checkpoint(TRUNCATE)`): the log would otherwise keep the pages as they were before
    /// a purge, applicant included, until SQLite checkpoints on its own. The freed space in
    /// the file itself is zeroed by `secure_delete` (set at open). PostgreSQL: nothing to do
    /// here (its old row versions go at its vacuum).
    pub async fn checkpoint_wal(&self) -> Result<(), GatewayError> {
        match self {
            super::Store::Sqlite(s) => {
                let (busy, _, _): (i64, i64, i64) = s
                    .call("checkpoint the write-ahead log", |c| {
                        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                    })
                    .await?;
                if busy != 0 {
                    tracing::warn!("the write-ahead log could not be emptied (a reader held it); the next sweep tries again");
                }
                Ok(())
            }
            super::Store::Postgres(_) => Ok(()),
        }
    }

    /// Drops request windows older than `window_before` and upload days before `day_before`.
    pub async fn prune_counters(
        &self,
        window_before: i64,
        day_before: &str,
    ) -> Result<(), GatewayError> {
        match self {
            super::Store::Sqlite(s) => {
                let day = day_before.to_string();
                s.call("prune the limit counters", move |c| {
                    c.execute(RATE_PRUNE, [window_before])?;
                    c.execute(UPLOAD_DAYS_PRUNE, [day]).map(|_| ())
                })
                .await
            }
            super::Store::Postgres(s) => {
                let write = s.err("prune the limit counters");
                let client = s.client().await?;
                client
                    .execute(RATE_PRUNE, &[&window_before])
                    .await
                    .map_err(&write)?;
                client
                    .execute(UPLOAD_DAYS_PRUNE, &[&day_before])
                    .await
                    .map(|_| ())
                    .map_err(write)
            }
        }
    }

    /// Blanks the applicant of finished dossiers whose status was set before `cutoff` (Unix
    /// s), a batch at a time; returns how many. Finished dossiers without a stamp (finished
    /// before migration 8) are stamped with `now_unix` first.
    pub async fn purge_applicants(
        &self,
        now_unix: i64,
        cutoff: i64,
        now: &str,
    ) -> Result<usize, GatewayError> {
        let mut purged = 0;
        loop {
            let due = match self {
                super::Store::Sqlite(s) => {
                    s.call("find dossiers past retention", move |c| {
                        c.execute(&dossiers_stamp(), [now_unix])?;
                        c.prepare(&dossiers_due())?
                            .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<rusqlite::Result<Vec<(String, String)>>>()
                    })
                    .await?
                }
                super::Store::Postgres(s) => {
                    let read = s.err("find dossiers past retention");
                    let client = s.client().await?;
                    client
                        .execute(&dossiers_stamp(), &[&now_unix])
                        .await
                        .map_err(&read)?;
                    client
                        .query(&dossiers_due(), &[&cutoff])
                        .await
                        .map_err(&read)?
                        .iter()
                        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                        .collect::<Result<Vec<(String, String)>, tokio_postgres::Error>>()
                        .map_err(read)?
                }
            };
            if due.is_empty() {
                return Ok(purged);
            }
            for (code, body) in due {
                // A body that is not an object has no applicant to find: marked purged as it is.
                let blank = without_applicant(&body).unwrap_or(body);
                match self {
                    super::Store::Sqlite(s) => {
                        let now = now.to_string();
                        s.call("blank an applicant", move |c| {
                            c.execute(DOSSIER_PURGE, rusqlite::params![blank, now, code])
                        })
                        .await?;
                    }
                    super::Store::Postgres(s) => {
                        s.client()
                            .await?
                            .execute(DOSSIER_PURGE, &[&blank, &now, &code])
                            .await
                            .map_err(s.err("blank an applicant"))?;
                    }
                }
                purged += 1;
            }
        }
    }
}
