//! The gateway's limits and sweeps, kept in the database so that they hold across several
//! gateways on one PostgreSQL: each device's requests in the current window, its upload bytes
//! per (Vietnam) day, its open uploads; the expiry of uploads never finished; and the retention
//! of applicant data of finished dossiers.
//!
//! - **Request rate**: a fixed window per device ([`RATE_COUNT`]): one upsert per request counts
//!   it and returns the window's count, atomically on both backends, so two gateways serving one
//!   kiosk count into one row.
//! - **Open uploads and bytes per day**: checked and reserved in the transaction that creates
//!   the upload, under the device row's lock ([`super::queries::DEVICE_LOCK`]), so concurrent
//!   creations of one device (on two gateways) are counted one after the other. The bytes of an
//!   upload are reserved at creation (its `Upload-Length`), not when they arrive: what a device
//!   may put on the disk in a day is known before it sends anything. An upload born complete
//!   (the site holds the blob already) reserves nothing.
//! - **Expiry**: uploads carry `created_unix`; the sweep ([`crate::api`]'s sweeper) removes
//!   those older than the expiry with their `.part` files. Uploads created before this
//!   migration are stamped at the first sweep, so they get the full expiry from then.
//! - **Retention**: a dossier's `finished_unix` is set when its status becomes a finished one
//!   ([`is_finished`]) and cleared if it changes back; past the retention the sweep blanks the
//!   applicant in the stored body, keeping code, dates, status and documents.

use motcua_domain::wire::DossierStatus;

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
const FINISHED_SQL: &str = "('returned', 'not_accepted', 'withdrawn')";

/// `$1` device id, `$2` start of the current window (Unix s): counts one request and returns
/// the window's count (a new window starts at 1).
pub(super) const RATE_COUNT: &str =
    "INSERT INTO device_request_windows (device_id, window_start, requests) VALUES ($1, $2, 1)
     ON CONFLICT (device_id) DO UPDATE SET
     requests = CASE WHEN device_request_windows.window_start = excluded.window_start
                THEN device_request_windows.requests + 1 ELSE 1 END,
     window_start = excluded.window_start
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
/// `$1` now (Unix s): stamps uploads created before migration 8.
pub(super) const UPLOADS_STAMP: &str =
    "UPDATE uploads SET created_unix = $1 WHERE created_unix IS NULL AND NOT complete";
/// `$1` cutoff (Unix s): unfinished uploads created before it (a bounded batch).
pub(super) const UPLOADS_EXPIRED: &str =
    "SELECT id FROM uploads WHERE NOT complete AND created_unix < $1 ORDER BY created_unix
     LIMIT 1000";
/// `$1` upload id: removes it if it is still unfinished.
pub(super) const UPLOAD_DELETE: &str = "DELETE FROM uploads WHERE id = $1 AND NOT complete";
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

/// `$1` body without the applicant, `$2` now, `$3` code.
pub(super) const DOSSIER_PURGE: &str = "UPDATE dossiers SET body = $1, applicant_purged_at = $2
     WHERE code = $3 AND applicant_purged_at IS NULL";

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
}

/// What creating an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadCreation {
    /// Created (maybe born complete).
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

    /// Unfinished uploads created before `cutoff` (Unix s), stamping first those that carry no
    /// creation time (made before migration 8) with `now`.
    pub async fn expired_uploads(
        &self,
        now: i64,
        cutoff: i64,
    ) -> Result<Vec<String>, GatewayError> {
        match self {
            super::Store::Sqlite(s) => {
                s.call("find expired uploads", move |c| {
                    c.execute(UPLOADS_STAMP, [now])?;
                    c.prepare(UPLOADS_EXPIRED)?
                        .query_map([cutoff], |r| r.get(0))?
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
                    .map(|r| r.try_get(0))
                    .collect::<Result<_, _>>()
                    .map_err(read)
            }
        }
    }

    /// Removes an unfinished upload's row; `false` if it finished (or went) meanwhile.
    pub async fn delete_upload(&self, id: &str) -> Result<bool, GatewayError> {
        match self {
            super::Store::Sqlite(s) => {
                let id = id.to_string();
                s.call("remove an expired upload", move |c| {
                    c.execute(UPLOAD_DELETE, [id]).map(|n| n > 0)
                })
                .await
            }
            super::Store::Postgres(s) => s
                .client()
                .await?
                .execute(UPLOAD_DELETE, &[&id])
                .await
                .map(|n| n > 0)
                .map_err(s.err("remove an expired upload")),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_applicant_is_blanked_and_the_rest_kept() {
        let body = r#"{"code":"000.17.22.H56-261201-0001","applicant":{"full_name":"Nguyễn Văn A","id_number":"079123456789","address":"Sóc Trăng","phone":"0912","email":"a@b"},"documents":[{"name":"Tờ khai"}]}"#;
        let blank = without_applicant(body).unwrap();
        for personal in ["Nguyễn", "079123456789", "Sóc Trăng", "0912", "a@b"] {
            assert!(!blank.contains(personal), "{blank}");
        }
        assert!(blank.contains("000.17.22.H56-261201-0001") && blank.contains("Tờ khai"));
        let parsed: motcua_domain::wire::Applicant = serde_json::from_value(
            serde_json::from_str::<serde_json::Value>(&blank).unwrap()["applicant"].clone(),
        )
        .unwrap();
        assert_eq!(parsed.full_name, "");
        assert_eq!(without_applicant("[1]"), None);
    }

    /// As `queries`' own test: every statement here prepares on the migrated schema, with its
    /// `$n` placeholders first appearing in order (what positional binding on SQLite needs).
    #[test]
    fn every_limits_query_prepares_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .unwrap();
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        let owned = [dossiers_stamp(), dossiers_due()];
        let all = [
            RATE_COUNT,
            OPEN_UPLOADS,
            UPLOAD_BYTES_RESERVE,
            UPLOAD_BYTES_OF_DAY,
            UPLOADS_STAMP,
            UPLOADS_EXPIRED,
            UPLOAD_DELETE,
            RATE_PRUNE,
            UPLOAD_DAYS_PRUNE,
            DOSSIER_FINISHED,
            DOSSIER_PURGE,
            owned[0].as_str(),
            owned[1].as_str(),
        ];
        for sql in all {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "{sql}"
                );
            }
        }
    }

    /// The window counter restarts at 1 in a new window and the byte reservation stops at the
    /// quota, on SQLite's upsert as on PostgreSQL's.
    #[test]
    fn the_counters_count_and_stop_at_the_quota() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        let count = |start: i64| -> i64 {
            conn.query_row(RATE_COUNT, rusqlite::params!["K-1", start], |r| r.get(0))
                .unwrap()
        };
        assert_eq!((count(60), count(60), count(60)), (1, 2, 3));
        assert_eq!(count(120), 1, "a new window starts again");
        let reserve = |bytes: i64| -> Option<i64> {
            use rusqlite::OptionalExtension;
            conn.query_row(
                UPLOAD_BYTES_RESERVE,
                rusqlite::params!["K-1", "2026-12-01", bytes, 1000],
                |r| r.get(0),
            )
            .optional()
            .unwrap()
        };
        assert_eq!(reserve(600), Some(600));
        assert_eq!(reserve(300), Some(900));
        assert_eq!(reserve(200), None, "past the quota: nothing reserved");
        assert_eq!(reserve(100), Some(1000));
    }

    #[test]
    fn finished_means_returned_not_accepted_or_withdrawn() {
        let finished: Vec<_> = DossierStatus::ALL
            .into_iter()
            .filter(|s| is_finished(*s))
            .collect();
        assert_eq!(
            finished,
            [
                DossierStatus::NotAccepted,
                DossierStatus::Withdrawn,
                DossierStatus::Returned
            ]
        );
        for s in finished {
            assert!(FINISHED_SQL.contains(&format!("'{}'", super::super::status_name(s))));
        }
    }
}
