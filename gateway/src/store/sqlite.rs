//! Embedded SQLite backend: one file, WAL journal, `synchronous=FULL` so that a committed
//! transaction survives a power cut. rusqlite is blocking, so every call runs on tokio's blocking
//! pool; one connection behind a mutex serialises writers, which SQLite does anyway.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use motcua_domain::wire::{DossierStatus, DossierStatusView};
use rusqlite::types::ToSqlOutput;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use super::authorization::{self, BLOB_SITE_INSERT, BLOB_SIZE_OF_SITE};
use super::feed;
use super::ingest;
use super::limits::{self, UploadCreation, UploadQuota};
use super::value::{sql_int, Value};
use super::{
    pending_migrations, queries, status_name, status_view, Ingest, IngestOutcome, Stats, Upload,
};
use crate::GatewayError;

/// Why a call on the connection failed: SQLite's error, or a check of what a write wrote. A
/// transaction the call returns from without committing is rolled back when dropped.
pub(super) enum CallError {
    Sql(rusqlite::Error),
    /// See `feed::FeedCounterMissing`.
    FeedCounterMissing,
}

impl From<rusqlite::Error> for CallError {
    fn from(e: rusqlite::Error) -> Self {
        CallError::Sql(e)
    }
}

impl From<feed::FeedCounterMissing> for CallError {
    fn from(_: feed::FeedCounterMissing) -> Self {
        CallError::FeedCounterMissing
    }
}

pub(crate) struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

/// How long a start waits for the data folder's lock (a gateway restarted in the same process
/// may still be letting its previous store go).
const INSTANCE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the single-instance lock of a serving gateway on the SQLite database `db`
/// (`<db>.lock`, held until the returned file is dropped), or says which file another gateway
/// holds. The embedded mode is one serving process per data folder; several instances need
/// PostgreSQL and S3 storage. The technician's tools (`gateway provision`) take no lock: they
/// run beside the serving gateway, as SQLite allows.
pub(crate) async fn lock_instance(db: &Path) -> Result<std::fs::File, GatewayError> {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = PathBuf::from(name);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| GatewayError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| GatewayError::file("open the instance lock", &path, e))?;
    let deadline = tokio::time::Instant::now() + INSTANCE_LOCK_WAIT;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(GatewayError::Config(format!(
                    "thư mục dữ liệu đang được một gateway khác dùng ({}); chế độ SQLite chỉ \
                     chạy một tiến trình / another gateway uses this data folder (it holds {}): \
                     the embedded SQLite mode runs one instance per data folder; several \
                     instances need PostgreSQL (--database-url) and S3 storage (--s3-bucket)",
                    path.display(),
                    path.display()
                )))
            }
            Err(e) => return Err(GatewayError::file("lock", &path, e.into())),
        }
    }
}

impl SqliteStore {
    pub async fn open(path: &Path) -> Result<Self, GatewayError> {
        let path = path.to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection, GatewayError> {
            let open_err = |source| GatewayError::OpenSqlite {
                path: p.clone(),
                source,
            };
            let mut conn = Connection::open(&p).map_err(open_err)?;
            // journal_mode returns a row, so it is read rather than executed.
            let mode: String = conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .map_err(open_err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %p.display(), mode, "SQLite refused WAL journal mode");
            }
            // secure_delete: what is deleted or overwritten (an applicant blanked after the
            // retention) is zeroed in the file's free space instead of lingering there.
            conn.execute_batch(
                "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;
                 PRAGMA secure_delete=ON;",
            )
            .map_err(open_err)?;
            migrate(&mut conn, &p)?;
            Ok(conn)
        })
        .await
        .map_err(|e| GatewayError::join("open the SQLite database", e))??;
        Ok(Self {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection in the blocking pool.
    pub(super) async fn call<T, F>(&self, action: &'static str, f: F) -> Result<T, GatewayError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.call_checked(action, move |c| f(c).map_err(CallError::Sql))
            .await
    }

    /// [`Self::call`] for a write that also checks what it wrote (a feed event, see `feed`).
    pub(super) async fn call_checked<T, F>(
        &self,
        action: &'static str,
        f: F,
    ) -> Result<T, GatewayError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, CallError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half transaction behind (rusqlite
            // rolls back on drop), so a poisoned mutex is safe to reuse.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard).map_err(|e| match e {
                CallError::Sql(source) => GatewayError::Sqlite {
                    path,
                    action,
                    source,
                },
                CallError::FeedCounterMissing => GatewayError::FeedCounterMissing {
                    location: path.display().to_string(),
                },
            })
        })
        .await
        .map_err(|e| GatewayError::join(action, e))?
    }

    pub async fn create_upload(
        &self,
        upload: &Upload,
        now: &str,
        quota: &UploadQuota,
    ) -> Result<UploadCreation, GatewayError> {
        let u = upload.clone();
        let now = now.to_string();
        let quota = quota.clone();
        self.call("create an upload", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let same = tx
                .query_row(
                    limits::UPLOAD_OPEN_SAME,
                    params![
                        u.device_id,
                        u.sha256,
                        sql_int(u.length),
                        quota.live_since_unix
                    ],
                    |r| queries::upload(r),
                )
                .optional()?;
            if let Some(same) = same {
                // The device asks again for a blob it is uploading (a lost 201, a restart
                // after a checksum mismatch): its upload, not another open one.
                tx.execute(limits::UPLOAD_TOUCH, params![quota.now_unix, same.id])?;
                tx.commit()?;
                return Ok(UploadCreation::Created(same));
            }
            let open: i64 = tx.query_row(limits::OPEN_UPLOADS, [&u.device_id], |r| r.get(0))?;
            if open >= quota.max_open {
                return Ok(UploadCreation::TooManyOpen(open));
            }
            let reserved: Option<i64> = tx
                .query_row(
                    limits::UPLOAD_BYTES_RESERVE,
                    params![
                        u.device_id,
                        quota.day,
                        sql_int(u.length),
                        quota.bytes_per_day_sql()
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            if reserved.is_none_or(|b| b > quota.bytes_per_day_sql()) {
                let spent: i64 = tx.query_row(
                    limits::UPLOAD_BYTES_OF_DAY,
                    params![u.device_id, quota.day],
                    |r| r.get(0),
                )?;
                return Ok(UploadCreation::DailyBytesSpent(spent.max(0).unsigned_abs()));
            }
            tx.execute(
                queries::UPLOAD_INSERT,
                params![
                    u.id,
                    u.device_id,
                    u.sha256,
                    sql_int(u.length),
                    sql_int(u.offset),
                    u.complete,
                    now,
                    u.site,
                    quota.now_unix
                ],
            )?;
            tx.commit()?;
            Ok(UploadCreation::Created(u))
        })
        .await
    }

    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, GatewayError> {
        let id = id.to_string();
        self.call("read an upload", move |c| {
            c.query_row(queries::UPLOAD_SELECT, [id], |r| queries::upload(r))
                .optional()
        })
        .await
    }

    #[cfg(test)]
    pub async fn set_upload_offset(
        &self,
        id: &str,
        offset: u64,
        now_unix: i64,
    ) -> Result<(), GatewayError> {
        let id = id.to_string();
        self.call("record an upload offset", move |c| {
            c.execute(
                queries::UPLOAD_SET_OFFSET,
                params![sql_int(offset), now_unix, id],
            )
            .map(|_| ())
        })
        .await
    }

    pub async fn complete_upload(&self, upload: &Upload, now: &str) -> Result<(), GatewayError> {
        let (u, now) = (upload.clone(), now.to_string());
        self.call("mark an upload complete", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                queries::BLOB_INSERT,
                params![u.sha256, sql_int(u.length), now],
            )?;
            tx.execute(BLOB_SITE_INSERT, params![u.sha256, u.site])?;
            tx.execute(queries::UPLOAD_MARK_COMPLETE, params![u.id])?;
            tx.commit()
        })
        .await
    }

    pub async fn blob_exists(&self, sha256: &str) -> Result<bool, GatewayError> {
        let sha = sha256.to_string();
        self.call("look up a blob", move |c| blob_exists(c, &sha))
            .await
    }

    pub async fn ingest(&self, ingest: &Ingest) -> Result<IngestOutcome, GatewayError> {
        let ing = ingest.clone();
        self.call_checked("store an ingest", move |c| {
            // IMMEDIATE takes the write lock first, so the checks below cannot race another
            // writer; that is why SQLite may look the key up first and claim it last.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored = tx
                .query_row(
                    queries::IDEMPOTENCY_KEY_SELECT,
                    [&ing.device_id, &ing.key],
                    |r| queries::stored_key(r),
                )
                .optional()?;
            if let Some(stored) = stored {
                return Ok(ingest::replay(&ing, &stored));
            }
            let plan = ingest::plan(&ing);
            for check in &plan.checks {
                let (sql, values) = check.query(&ing);
                let (found, count): (Option<String>, i64) =
                    tx.query_row(sql, params_from_iter(&values), |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                if let Some(refusal) = check.refusal(&ing, found, count) {
                    return Ok(refusal);
                }
            }
            let mut sizes = Vec::new();
            for (sha, _) in &plan.needs_blobs {
                sizes.push(
                    tx.query_row(BLOB_SIZE_OF_SITE, params![sha, ing.site], |r| r.get(0))
                        .optional()?,
                );
            }
            if let Some(refusal) = authorization::blob_refusal(&plan.needs_blobs, &sizes) {
                return Ok(refusal);
            }
            for insert in plan.inserts.into_iter().chain([plan.claim]) {
                let n = tx.execute(insert.sql, params_from_iter(&insert.params))?;
                if let Some(outcome) = insert.if_none.after(n as u64)? {
                    return Ok(outcome);
                }
            }
            tx.commit()?;
            Ok(IngestOutcome::Created)
        })
        .await
    }

    pub async fn dossier_status(
        &self,
        code: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let code = code.to_string();
        self.call("read a dossier status", move |c| read_status(c, &code))
            .await
    }

    pub async fn set_dossier_status(
        &self,
        code: &str,
        status: DossierStatus,
        now: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let (code, now) = (code.to_string(), now.to_string());
        self.call_checked("change a dossier status", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(before) = tx
                .query_row(feed::DOSSIER_STATUS_HOLD, [&code], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
            else {
                return Ok(None);
            };
            let new = status_name(status);
            tx.execute(queries::DOSSIER_SET_STATUS, params![new, now, code])?;
            let finished = limits::is_finished(status).then(|| chrono::Utc::now().timestamp());
            tx.execute(limits::DOSSIER_FINISHED, params![finished, code])?;
            let view = read_status(&tx, &code)?;
            if before != new {
                // Last, as in an ingest; a repeated status (a retry) is no event.
                let next = tx.execute(feed::FEED_NEXT, [])?;
                let append = tx.execute(
                    feed::FEED_APPEND,
                    params![feed::STATUS_CHANGED, "", "", now, code],
                )?;
                feed::appended(next as u64, append as u64)?;
            }
            tx.commit()?;
            Ok(view)
        })
        .await
    }

    pub async fn stats(&self) -> Result<Stats, GatewayError> {
        self.call("count stored records", |c| {
            c.query_row(queries::STATS, [], |r| queries::stats(r))
        })
        .await
    }
}

impl queries::Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, i: usize) -> rusqlite::Result<String> {
        self.get(i)
    }
    fn int(&self, i: usize) -> rusqlite::Result<i64> {
        self.get(i)
    }
    fn flag(&self, i: usize) -> rusqlite::Result<bool> {
        self.get(i)
    }
    fn opt_text(&self, i: usize) -> rusqlite::Result<Option<String>> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(s) => ToSqlOutput::from(s.as_str()),
            Value::Int(i) => ToSqlOutput::from(*i),
        })
    }
}

fn blob_exists(c: &Connection, sha256: &str) -> rusqlite::Result<bool> {
    c.query_row(queries::BLOB_EXISTS, [sha256], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
}

fn read_status(c: &Connection, code: &str) -> rusqlite::Result<Option<DossierStatusView>> {
    let Some(row) = c
        .query_row(queries::DOSSIER_SELECT, [code], |r| queries::dossier_row(r))
        .optional()?
    else {
        return Ok(None);
    };
    let documents = c
        .prepare(queries::DOCUMENTS_SELECT)?
        .query_map([code], |r| queries::document(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let digitized = c
        .prepare(queries::DIGITIZED_SELECT)?
        .query_map([code], |r| queries::digitized(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(status_view(
        code.to_string(),
        row,
        documents,
        digitized,
    )))
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), GatewayError> {
    let err = |action: &'static str| {
        move |source| GatewayError::Sqlite {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(err("start the schema migration"))?;
    tx.execute_batch(queries::SCHEMA_VERSION_CREATE)
        .map_err(err("create the schema_version table"))?;
    let current: i64 = tx
        .query_row(queries::SCHEMA_VERSION_CURRENT, [], |r| r.get(0))
        .map_err(err("read the schema version"))?;
    for (version, sql) in pending_migrations(current, || path.display().to_string())? {
        tx.execute_batch(sql)
            .map_err(err("apply a schema migration"))?;
        tx.execute(
            queries::SCHEMA_VERSION_RECORD,
            params![version, chrono::Utc::now().to_rfc3339()],
        )
        .map_err(err("record a schema migration"))?;
        tracing::info!(path = %path.display(), version, "applied SQLite schema migration");
    }
    tx.commit().map_err(err("commit the schema migration"))
}
