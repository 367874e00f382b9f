//! Embedded SQLite backend: one file, WAL journal, `synchronous=FULL` so that a committed
//! transaction survives a power cut. rusqlite is blocking, so every call runs on tokio's blocking
//! pool; one connection behind a mutex serialises writers, which SQLite does anyway.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use motcua_domain::wire::{DigitizedDocument, DocumentRef, DossierStatus, DossierStatusView};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    natural_key, status_name, status_view, Ingest, IngestOutcome, Record, Stats, Upload, MIGRATIONS,
};
use crate::GatewayError;

pub(crate) struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
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
            conn.execute_batch(
                "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
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
    async fn call<T, F>(&self, action: &'static str, f: F) -> Result<T, GatewayError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half transaction behind (rusqlite
            // rolls back on drop), so a poisoned mutex is safe to reuse.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard).map_err(|source| GatewayError::Sqlite {
                path,
                action,
                source,
            })
        })
        .await
        .map_err(|e| GatewayError::join(action, e))?
    }

    pub async fn enroll(
        &self,
        device_id: &str,
        token_sha256: &str,
        now: &str,
        replace: bool,
    ) -> Result<bool, GatewayError> {
        let (d, t, n) = (
            device_id.to_string(),
            token_sha256.to_string(),
            now.to_string(),
        );
        self.call("record the device enrolment", move |c| {
            let sql = if replace {
                "INSERT INTO devices (device_id, token_sha256, enrolled_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id) DO UPDATE SET token_sha256 = excluded.token_sha256,
                 enrolled_at = excluded.enrolled_at"
            } else {
                "INSERT INTO devices (device_id, token_sha256, enrolled_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id) DO NOTHING"
            };
            c.execute(sql, params![d, t, n]).map(|n| n == 1)
        })
        .await
    }

    pub async fn device_for_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<String>, GatewayError> {
        let t = token_sha256.to_string();
        self.call("look up a device token", move |c| {
            c.query_row(
                "SELECT device_id FROM devices WHERE token_sha256 = ?1",
                [t],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    pub async fn create_upload(&self, upload: &Upload, now: &str) -> Result<Upload, GatewayError> {
        let mut u = upload.clone();
        let now = now.to_string();
        self.call("create an upload", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx
                .query_row("SELECT 1 FROM blobs WHERE sha256 = ?1", [&u.sha256], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                u.offset = u.length;
                u.complete = true;
            }
            tx.execute(
                "INSERT INTO uploads (id, device_id, sha256, length, upload_offset, complete, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![u.id, u.device_id, u.sha256, u.length as i64, u.offset as i64, u.complete, now],
            )?;
            tx.commit()?;
            Ok(u)
        })
        .await
    }

    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, GatewayError> {
        let id = id.to_string();
        self.call("read an upload", move |c| {
            c.query_row(
                "SELECT id, device_id, sha256, length, upload_offset, complete FROM uploads WHERE id = ?1",
                [id],
                |r| {
                    Ok(Upload {
                        id: r.get(0)?,
                        device_id: r.get(1)?,
                        sha256: r.get(2)?,
                        length: r.get::<_, i64>(3)? as u64,
                        offset: r.get::<_, i64>(4)? as u64,
                        complete: r.get(5)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    pub async fn set_upload_offset(&self, id: &str, offset: u64) -> Result<(), GatewayError> {
        let id = id.to_string();
        self.call("record an upload offset", move |c| {
            c.execute(
                "UPDATE uploads SET upload_offset = ?1 WHERE id = ?2",
                params![offset as i64, id],
            )
            .map(|_| ())
        })
        .await
    }

    pub async fn complete_upload(
        &self,
        id: &str,
        sha256: &str,
        size: u64,
        now: &str,
    ) -> Result<(), GatewayError> {
        let (id, sha, now) = (id.to_string(), sha256.to_string(), now.to_string());
        self.call("mark an upload complete", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO blobs (sha256, size, stored_at) VALUES (?1, ?2, ?3) ON CONFLICT (sha256) DO NOTHING",
                params![sha, size as i64, now],
            )?;
            tx.execute(
                "UPDATE uploads SET upload_offset = length, complete = TRUE WHERE id = ?1",
                params![id],
            )?;
            tx.commit()
        })
        .await
    }

    pub async fn blob_exists(&self, sha256: &str) -> Result<bool, GatewayError> {
        let sha = sha256.to_string();
        self.call("look up a blob", move |c| {
            c.query_row("SELECT 1 FROM blobs WHERE sha256 = ?1", [sha], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
        })
        .await
    }

    pub async fn ingest(&self, ingest: &Ingest) -> Result<IngestOutcome, GatewayError> {
        let ing = ingest.clone();
        self.call("store an ingest", move |c| {
            // IMMEDIATE takes the write lock first, so the checks below cannot race another writer.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let previous: Option<(String, String, String)> = tx
                .query_row(
                    "SELECT kind, device_id, body_sha256 FROM idempotency_keys WHERE key = ?1",
                    [&ing.key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((kind, device, body)) = previous {
                let same = kind == ing.record.kind() && device == ing.device_id && body == ing.body_sha256;
                return Ok(if same { IngestOutcome::Duplicate } else { IngestOutcome::KeyReused });
            }
            let nk = natural_key(&ing.record);
            match &ing.record {
                Record::Dossier(d) => {
                    let mut missing = Vec::new();
                    for doc in &d.documents {
                        let present = tx
                            .query_row("SELECT 1 FROM blobs WHERE sha256 = ?1", [&doc.sha256], |_| Ok(()))
                            .optional()?
                            .is_some();
                        if !present && !missing.contains(&doc.sha256) {
                            missing.push(doc.sha256.clone());
                        }
                    }
                    if !missing.is_empty() {
                        return Ok(IngestOutcome::MissingBlobs(missing));
                    }
                    let n = tx.execute(
                        "INSERT INTO dossiers (code, procedure_code, agency_code, device_id, idempotency_key, body,
                         status, appointment_date, received_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (code) DO NOTHING",
                        params![
                            d.code,
                            d.procedure_code,
                            d.agency_code,
                            ing.device_id,
                            ing.key,
                            ing.body_json,
                            status_name(DossierStatus::Submitted),
                            d.appointment_date.to_string(),
                            d.received_at.to_rfc3339(),
                            ing.now
                        ],
                    )?;
                    if n == 0 {
                        return Ok(IngestOutcome::Conflict(nk));
                    }
                    for (i, doc) in d.documents.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO documents (dossier_code, position, name, file_name, media_type, size, sha256)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![d.code, i as i64, doc.name, doc.file_name, doc.media_type, doc.size as i64, doc.sha256],
                        )?;
                    }
                }
                Record::Documents(d) => {
                    let known = tx
                        .query_row("SELECT 1 FROM dossiers WHERE code = ?1", [&d.dossier_code], |_| Ok(()))
                        .optional()?
                        .is_some();
                    if !known {
                        return Ok(IngestOutcome::UnknownDossier(d.dossier_code.clone()));
                    }
                    let mut missing = Vec::new();
                    for doc in &d.documents {
                        let present = tx
                            .query_row("SELECT 1 FROM blobs WHERE sha256 = ?1", [&doc.sha256], |_| Ok(()))
                            .optional()?
                            .is_some();
                        if !present && !missing.contains(&doc.sha256) {
                            missing.push(doc.sha256.clone());
                        }
                    }
                    if !missing.is_empty() {
                        return Ok(IngestOutcome::MissingBlobs(missing));
                    }
                    for doc in &d.documents {
                        let n = tx.execute(
                            "INSERT INTO digitized_documents (document_code, dossier_code, document_index, name,
                             media_type, pages, size, sha256, device_id, idempotency_key, stored_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (document_code) DO NOTHING",
                            params![
                                doc.document_code,
                                d.dossier_code,
                                i64::from(doc.document_index),
                                doc.name,
                                doc.media_type,
                                i64::from(doc.pages),
                                doc.size as i64,
                                doc.sha256,
                                ing.device_id,
                                ing.key,
                                ing.now
                            ],
                        )?;
                        if n == 0 {
                            return Ok(IngestOutcome::Conflict(doc.document_code.clone()));
                        }
                    }
                }
                Record::Rating(_) => {
                    let n = tx.execute(
                        "INSERT INTO ratings (transaction_id, device_id, idempotency_key, body, stored_at)
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (transaction_id) DO NOTHING",
                        params![nk, ing.device_id, ing.key, ing.body_json, ing.now],
                    )?;
                    if n == 0 {
                        return Ok(IngestOutcome::AlreadyRated(nk));
                    }
                }
                Record::Ticket(_) => {
                    let n = tx.execute(
                        "INSERT INTO tickets (ticket_id, device_id, idempotency_key, body, stored_at)
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (ticket_id) DO NOTHING",
                        params![nk, ing.device_id, ing.key, ing.body_json, ing.now],
                    )?;
                    if n == 0 {
                        return Ok(IngestOutcome::Conflict(nk));
                    }
                }
            }
            tx.execute(
                "INSERT INTO idempotency_keys (key, kind, device_id, body_sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![ing.key, ing.record.kind(), ing.device_id, ing.body_sha256, ing.now],
            )?;
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
        self.call("change a dossier status", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE dossiers SET status = ?1, updated_at = ?2 WHERE code = ?3",
                params![status_name(status), now, code],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let view = read_status(&tx, &code)?;
            tx.commit()?;
            Ok(view)
        })
        .await
    }

    pub async fn stats(&self) -> Result<Stats, GatewayError> {
        self.call("count stored records", |c| {
            let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
            Ok(Stats {
                dossiers: count("SELECT COUNT(*) FROM dossiers")?,
                documents: count("SELECT COUNT(*) FROM documents")?,
                blobs: count("SELECT COUNT(*) FROM blobs")?,
                ratings: count("SELECT COUNT(*) FROM ratings")?,
                tickets: count("SELECT COUNT(*) FROM tickets")?,
                digitized_documents: count("SELECT COUNT(*) FROM digitized_documents")?,
                devices: count("SELECT COUNT(*) FROM devices")?,
                uploads_in_progress: count("SELECT COUNT(*) FROM uploads WHERE NOT complete")?,
            })
        })
        .await
    }
}

fn read_status(c: &Connection, code: &str) -> rusqlite::Result<Option<DossierStatusView>> {
    let row: Option<(String, String, String, String)> = c
        .query_row(
            "SELECT procedure_code, status, appointment_date, updated_at FROM dossiers WHERE code = ?1",
            [code],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((procedure_code, status, appointment, updated)) = row else {
        return Ok(None);
    };
    let mut stmt = c.prepare(
        "SELECT name, file_name, media_type, size, sha256 FROM documents WHERE dossier_code = ?1 ORDER BY position",
    )?;
    let documents = stmt
        .query_map([code], |r| {
            Ok(DocumentRef {
                name: r.get(0)?,
                file_name: r.get(1)?,
                media_type: r.get(2)?,
                size: r.get::<_, i64>(3)? as u64,
                sha256: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = c.prepare(
        "SELECT document_code, document_index, name, media_type, pages, size, sha256
         FROM digitized_documents WHERE dossier_code = ?1 ORDER BY stored_at, document_code",
    )?;
    let digitized = stmt
        .query_map([code], |r| {
            Ok(DigitizedDocument {
                document_code: r.get(0)?,
                document_index: r.get::<_, i64>(1)? as u32,
                name: r.get(2)?,
                media_type: r.get(3)?,
                pages: r.get::<_, i64>(4)? as u32,
                size: r.get::<_, i64>(5)? as u64,
                sha256: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(status_view(
        code.to_string(),
        procedure_code,
        &status,
        &appointment,
        &updated,
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
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL, applied_at TEXT NOT NULL)")
        .map_err(err("create the schema_version table"))?;
    let current: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(err("read the schema version"))?;
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > latest {
        return Err(GatewayError::SchemaTooNew {
            location: path.display().to_string(),
            found: current,
            supported: latest,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)
            .map_err(err("apply a schema migration"))?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            params![version, chrono::Utc::now().to_rfc3339()],
        )
        .map_err(err("record a schema migration"))?;
        tracing::info!(path = %path.display(), version, "applied SQLite schema migration");
    }
    tx.commit().map_err(err("commit the schema migration"))
}
