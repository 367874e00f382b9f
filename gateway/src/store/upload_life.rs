//! The end of an upload other than its completion: terminated by its own device (tus
//! `termination`), and the activity time its expiry counts from (tus `expiration`; the
//! removal itself is the sweep's, see [`super::limits`]).
//!
//! A termination removes the row in one transaction with giving back the bytes the upload
//! reserved today and never received (`length − offset`), so a kiosk that gives up on an
//! upload does not lose the day's quota for it; the bytes that did arrive stay charged, so
//! creating and terminating uploads cannot write more than the quota a day. An upload made on
//! an earlier day gives nothing back: today's quota never held it. Its open-uploads place is
//! freed with the row (open uploads are counted from the rows).

use super::Upload;
use crate::GatewayError;

/// `$1` upload id, `$2` device id: the upload's completion, length, offset and creation time
/// (Unix s), if it is the device's.
const UPLOAD_OF_DEVICE: &str = "SELECT complete, length, upload_offset, created_unix
     FROM uploads WHERE id = $1 AND device_id = $2";
/// `$1` upload id, `$2` device id.
const UPLOAD_REMOVE: &str = "DELETE FROM uploads WHERE id = $1 AND device_id = $2";
/// `$1` bytes, `$2` device id, `$3` day: gives back reserved bytes (never below 0).
const UPLOAD_BYTES_RELEASE: &str = "UPDATE device_upload_days
     SET bytes = CASE WHEN bytes > $1 THEN bytes - $1 ELSE 0 END
     WHERE device_id = $2 AND day = $3";
/// `$1` upload id: the time its expiry counts from (Unix s; NULL before the first sweep
/// stamped an upload older than migration 8).
const UPLOAD_ACTIVE: &str = "SELECT active_unix FROM uploads WHERE id = $1";

/// What a termination removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Terminated {
    /// The upload had finished (its verified blob stays: dossiers may cite it).
    pub complete: bool,
    /// Bytes given back to today's quota.
    pub released: u64,
}

/// The row read before a termination: complete, length, offset, created (Unix s).
type Row = (bool, i64, i64, Option<i64>);

/// Bytes to give back for `row` when `today` (Vietnam) is the day it was created on.
fn release_of(row: Row, today: &str) -> i64 {
    let (complete, length, offset, created) = row;
    let created_day = created
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| {
            t.with_timezone(&motcua_domain::vietnam_offset())
                .format("%Y-%m-%d")
                .to_string()
        });
    if complete || created_day.as_deref() != Some(today) {
        0
    } else {
        (length - offset).max(0)
    }
}

impl super::Store {
    /// Removes `device`'s upload `id` (finished or not) and gives back what it reserved of
    /// `today`'s bytes (see the module); `None` when the device has no such upload. The
    /// caller removes its stored bytes afterwards (a crash in between leaves bytes no upload
    /// names, which the sweep removes).
    pub async fn terminate_upload(
        &self,
        id: &str,
        device: &str,
        today: &str,
    ) -> Result<Option<Terminated>, GatewayError> {
        let (id, device, today) = (id.to_string(), device.to_string(), today.to_string());
        let row = match self {
            super::Store::Sqlite(s) => {
                s.call("terminate an upload", move |c| {
                    use rusqlite::OptionalExtension;
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let row: Option<Row> = tx
                        .query_row(UPLOAD_OF_DEVICE, [&id, &device], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                        .optional()?;
                    let Some(row) = row else { return Ok(None) };
                    tx.execute(UPLOAD_REMOVE, [&id, &device])?;
                    let release = release_of(row, &today);
                    if release > 0 {
                        tx.execute(
                            UPLOAD_BYTES_RELEASE,
                            rusqlite::params![release, device, today],
                        )?;
                    }
                    tx.commit()?;
                    Ok(Some((row.0, release)))
                })
                .await?
            }
            super::Store::Postgres(s) => {
                let write = s.err("terminate an upload");
                let mut client = s.client().await?;
                let tx = client.transaction().await.map_err(&write)?;
                let row = tx
                    .query_opt(UPLOAD_OF_DEVICE, &[&id, &device])
                    .await
                    .map_err(&write)?
                    .map(|r| -> Result<Row, _> {
                        Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
                    })
                    .transpose()
                    .map_err(&write)?;
                match row {
                    None => None,
                    Some(row) => {
                        tx.execute(UPLOAD_REMOVE, &[&id, &device])
                            .await
                            .map_err(&write)?;
                        let release = release_of(row, &today);
                        if release > 0 {
                            tx.execute(UPLOAD_BYTES_RELEASE, &[&release, &device, &today])
                                .await
                                .map_err(&write)?;
                        }
                        tx.commit().await.map_err(&write)?;
                        Some((row.0, release))
                    }
                }
            }
        };
        Ok(row.map(|(complete, released)| Terminated {
            complete,
            released: released.max(0).unsigned_abs(),
        }))
    }

    /// When `upload`'s expiry counts from (Unix s): its creation or its last accepted PATCH;
    /// `None` for an upload gone, or one older than the expiry's record (it is stamped at the
    /// next sweep).
    pub async fn upload_active_since(&self, upload: &Upload) -> Result<Option<i64>, GatewayError> {
        let id = upload.id.clone();
        let found: Option<Option<i64>> = match self {
            super::Store::Sqlite(s) => {
                s.call("read an upload's activity", move |c| {
                    use rusqlite::OptionalExtension;
                    c.query_row(UPLOAD_ACTIVE, [&id], |r| r.get(0)).optional()
                })
                .await?
            }
            super::Store::Postgres(s) => {
                let read = s.err("read an upload's activity");
                s.client()
                    .await?
                    .query_opt(UPLOAD_ACTIVE, &[&id])
                    .await
                    .map_err(&read)?
                    .map(|r| r.try_get(0))
                    .transpose()
                    .map_err(read)?
            }
        };
        Ok(found.flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_todays_unreceived_bytes_of_an_unfinished_upload_are_given_back() {
        // 2026-12-01 10:00 in Vietnam (03:00 UTC).
        let created = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00+07:00")
            .expect("time")
            .timestamp();
        assert_eq!(
            release_of((false, 1000, 300, Some(created)), "2026-12-01"),
            700
        );
        assert_eq!(
            release_of((false, 1000, 300, Some(created)), "2026-12-02"),
            0
        );
        assert_eq!(
            release_of((true, 1000, 1000, Some(created)), "2026-12-01"),
            0
        );
        assert_eq!(release_of((false, 1000, 0, None), "2026-12-01"), 0);
        // Just after midnight in Vietnam is still "today" there, though UTC says yesterday.
        let early = chrono::DateTime::parse_from_rfc3339("2026-12-02T00:30:00+07:00")
            .expect("time")
            .timestamp();
        assert_eq!(release_of((false, 10, 0, Some(early)), "2026-12-02"), 10);
    }

    #[test]
    fn every_query_prepares_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .expect("schema");
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).expect("migration");
        }
        for sql in [
            UPLOAD_OF_DEVICE,
            UPLOAD_REMOVE,
            UPLOAD_BYTES_RELEASE,
            UPLOAD_ACTIVE,
        ] {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(stmt.parameter_name(i), Some(format!("${i}").as_str()));
            }
        }
    }
}
