//! PostgreSQL backend (production): a deadpool connection pool, READ COMMITTED transactions and
//! `INSERT … ON CONFLICT DO NOTHING` so that two gateways behind a load balancer receiving the
//! same retry at once still store it exactly once (the second insert waits for the first commit,
//! then sees the row). Migrations take an advisory lock so concurrent starts apply them once.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use motcua_domain::wire::{DigitizedDocument, DocumentRef, DossierStatus, DossierStatusView};
use tokio_postgres::NoTls;

use super::{
    natural_key, status_name, status_view, Ingest, IngestOutcome, Record, Stats, Upload, MIGRATIONS,
};
use crate::error::redact_url;
use crate::GatewayError;

/// Arbitrary constant naming the migration advisory lock.
const MIGRATION_LOCK: i64 = 0x6d6f_7463_7561;

pub(crate) struct PgStore {
    url: String,
    pool: Pool,
}

impl PgStore {
    pub async fn open(url: &str) -> Result<Self, GatewayError> {
        let shown = redact_url(url);
        let config: tokio_postgres::Config =
            url.parse().map_err(
                |e: tokio_postgres::Error| GatewayError::InvalidDatabaseUrl {
                    url: shown.clone(),
                    reason: e.to_string(),
                },
            )?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager).max_size(16).build().map_err(|e| {
            GatewayError::ConnectPostgres {
                url: shown.clone(),
                reason: e.to_string(),
            }
        })?;
        let store = Self { url: shown, pool };
        store.migrate().await?;
        Ok(store)
    }

    fn err(&self, action: &'static str) -> impl Fn(tokio_postgres::Error) -> GatewayError + '_ {
        move |source| GatewayError::Postgres {
            url: self.url.clone(),
            action,
            source,
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, GatewayError> {
        self.pool
            .get()
            .await
            .map_err(|e| GatewayError::ConnectPostgres {
                url: self.url.clone(),
                reason: e.to_string(),
            })
    }

    async fn migrate(&self) -> Result<(), GatewayError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start the schema migration"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(self.err("take the migration lock"))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL, applied_at TEXT NOT NULL)")
            .await
            .map_err(self.err("create the schema_version table"))?;
        let current: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .await
            .map_err(self.err("read the schema version"))?
            .get(0);
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > latest {
            return Err(GatewayError::SchemaTooNew {
                location: self.url.clone(),
                found: current,
                supported: latest,
            });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            tx.batch_execute(sql)
                .await
                .map_err(self.err("apply a schema migration"))?;
            tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                &[version, &chrono::Utc::now().to_rfc3339()],
            )
            .await
            .map_err(self.err("record a schema migration"))?;
            tracing::info!(url = %self.url, version, "applied PostgreSQL schema migration");
        }
        tx.commit()
            .await
            .map_err(self.err("commit the schema migration"))
    }

    pub async fn enroll(
        &self,
        device_id: &str,
        token_sha256: &str,
        now: &str,
        replace: bool,
    ) -> Result<bool, GatewayError> {
        let sql = if replace {
            "INSERT INTO devices (device_id, token_sha256, enrolled_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id) DO UPDATE SET token_sha256 = excluded.token_sha256,
             enrolled_at = excluded.enrolled_at"
        } else {
            "INSERT INTO devices (device_id, token_sha256, enrolled_at) VALUES ($1, $2, $3)
             ON CONFLICT (device_id) DO NOTHING"
        };
        self.client()
            .await?
            .execute(sql, &[&device_id, &token_sha256, &now])
            .await
            .map(|n| n == 1)
            .map_err(self.err("record the device enrolment"))
    }

    pub async fn device_for_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<String>, GatewayError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT device_id FROM devices WHERE token_sha256 = $1",
                &[&token_sha256],
            )
            .await
            .map_err(self.err("look up a device token"))?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn create_upload(&self, upload: &Upload, now: &str) -> Result<Upload, GatewayError> {
        let mut u = upload.clone();
        let client = self.client().await?;
        let exists = client
            .query_opt("SELECT 1 FROM blobs WHERE sha256 = $1", &[&u.sha256])
            .await
            .map_err(self.err("look up a blob"))?
            .is_some();
        if exists {
            u.offset = u.length;
            u.complete = true;
        }
        client
            .execute(
                "INSERT INTO uploads (id, device_id, sha256, length, upload_offset, complete, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&u.id, &u.device_id, &u.sha256, &(u.length as i64), &(u.offset as i64), &u.complete, &now],
            )
            .await
            .map_err(self.err("create an upload"))?;
        Ok(u)
    }

    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, GatewayError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT id, device_id, sha256, length, upload_offset, complete FROM uploads WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(self.err("read an upload"))?;
        Ok(row.map(|r| Upload {
            id: r.get(0),
            device_id: r.get(1),
            sha256: r.get(2),
            length: r.get::<_, i64>(3) as u64,
            offset: r.get::<_, i64>(4) as u64,
            complete: r.get(5),
        }))
    }

    pub async fn set_upload_offset(&self, id: &str, offset: u64) -> Result<(), GatewayError> {
        self.client()
            .await?
            .execute(
                "UPDATE uploads SET upload_offset = $1 WHERE id = $2",
                &[&(offset as i64), &id],
            )
            .await
            .map(|_| ())
            .map_err(self.err("record an upload offset"))
    }

    pub async fn complete_upload(
        &self,
        id: &str,
        sha256: &str,
        size: u64,
        now: &str,
    ) -> Result<(), GatewayError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start a transaction"))?;
        tx.execute(
            "INSERT INTO blobs (sha256, size, stored_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
            &[&sha256, &(size as i64), &now],
        )
        .await
        .map_err(self.err("record a blob"))?;
        tx.execute(
            "UPDATE uploads SET upload_offset = length, complete = TRUE WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(self.err("mark an upload complete"))?;
        tx.commit()
            .await
            .map_err(self.err("commit a completed upload"))
    }

    pub async fn blob_exists(&self, sha256: &str) -> Result<bool, GatewayError> {
        Ok(self
            .client()
            .await?
            .query_opt("SELECT 1 FROM blobs WHERE sha256 = $1", &[&sha256])
            .await
            .map_err(self.err("look up a blob"))?
            .is_some())
    }

    pub async fn ingest(&self, ing: &Ingest) -> Result<IngestOutcome, GatewayError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start a transaction"))?;
        // Claim the key first: a concurrent claim of the same key waits here for our commit.
        let claimed = tx
            .execute(
                "INSERT INTO idempotency_keys (key, kind, device_id, body_sha256, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
                &[
                    &ing.key,
                    &ing.record.kind(),
                    &ing.device_id,
                    &ing.body_sha256,
                    &ing.now,
                ],
            )
            .await
            .map_err(self.err("claim an idempotency key"))?;
        if claimed == 0 {
            drop(tx);
            let row = client
                .query_one(
                    "SELECT kind, device_id, body_sha256 FROM idempotency_keys WHERE key = $1",
                    &[&ing.key],
                )
                .await
                .map_err(self.err("read an idempotency key"))?;
            let same = row.get::<_, String>(0) == ing.record.kind()
                && row.get::<_, String>(1) == ing.device_id
                && row.get::<_, String>(2) == ing.body_sha256;
            return Ok(if same {
                IngestOutcome::Duplicate
            } else {
                IngestOutcome::KeyReused
            });
        }
        let nk = natural_key(&ing.record);
        match &ing.record {
            Record::Dossier(d) => {
                let wanted: Vec<String> =
                    d.documents.iter().map(|doc| doc.sha256.clone()).collect();
                let present: Vec<String> = tx
                    .query(
                        "SELECT sha256 FROM blobs WHERE sha256 = ANY($1)",
                        &[&wanted],
                    )
                    .await
                    .map_err(self.err("look up blobs"))?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let mut missing: Vec<String> = Vec::new();
                for sha in wanted {
                    if !present.contains(&sha) && !missing.contains(&sha) {
                        missing.push(sha);
                    }
                }
                if !missing.is_empty() {
                    return Ok(IngestOutcome::MissingBlobs(missing));
                }
                let n = tx
                    .execute(
                        "INSERT INTO dossiers (code, procedure_code, agency_code, device_id, idempotency_key, body,
                         status, appointment_date, received_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (code) DO NOTHING",
                        &[
                            &d.code,
                            &d.procedure_code,
                            &d.agency_code,
                            &ing.device_id,
                            &ing.key,
                            &ing.body_json,
                            &status_name(DossierStatus::Submitted),
                            &d.appointment_date.to_string(),
                            &d.received_at.to_rfc3339(),
                            &ing.now,
                        ],
                    )
                    .await
                    .map_err(self.err("store a dossier"))?;
                if n == 0 {
                    return Ok(IngestOutcome::Conflict(nk));
                }
                for (i, doc) in d.documents.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO documents (dossier_code, position, name, file_name, media_type, size, sha256)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        &[&d.code, &(i as i64), &doc.name, &doc.file_name, &doc.media_type, &(doc.size as i64), &doc.sha256],
                    )
                    .await
                    .map_err(self.err("store a document"))?;
                }
            }
            Record::Documents(d) => {
                let known = tx
                    .query_opt("SELECT 1 FROM dossiers WHERE code = $1", &[&d.dossier_code])
                    .await
                    .map_err(self.err("look up a dossier"))?
                    .is_some();
                if !known {
                    return Ok(IngestOutcome::UnknownDossier(d.dossier_code.clone()));
                }
                let wanted: Vec<String> =
                    d.documents.iter().map(|doc| doc.sha256.clone()).collect();
                let present: Vec<String> = tx
                    .query(
                        "SELECT sha256 FROM blobs WHERE sha256 = ANY($1)",
                        &[&wanted],
                    )
                    .await
                    .map_err(self.err("look up blobs"))?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let mut missing: Vec<String> = Vec::new();
                for sha in wanted {
                    if !present.contains(&sha) && !missing.contains(&sha) {
                        missing.push(sha);
                    }
                }
                if !missing.is_empty() {
                    return Ok(IngestOutcome::MissingBlobs(missing));
                }
                for doc in &d.documents {
                    let n = tx
                        .execute(
                            "INSERT INTO digitized_documents (document_code, dossier_code, document_index, name,
                             media_type, pages, size, sha256, device_id, idempotency_key, stored_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (document_code) DO NOTHING",
                            &[
                                &doc.document_code,
                                &d.dossier_code,
                                &i64::from(doc.document_index),
                                &doc.name,
                                &doc.media_type,
                                &i64::from(doc.pages),
                                &(doc.size as i64),
                                &doc.sha256,
                                &ing.device_id,
                                &ing.key,
                                &ing.now,
                            ],
                        )
                        .await
                        .map_err(self.err("store a digitized document"))?;
                    if n == 0 {
                        return Ok(IngestOutcome::Conflict(doc.document_code.clone()));
                    }
                }
            }
            Record::Rating(_) => {
                let n = tx
                    .execute(
                        "INSERT INTO ratings (transaction_id, device_id, idempotency_key, body, stored_at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (transaction_id) DO NOTHING",
                        &[&nk, &ing.device_id, &ing.key, &ing.body_json, &ing.now],
                    )
                    .await
                    .map_err(self.err("store a rating"))?;
                if n == 0 {
                    return Ok(IngestOutcome::AlreadyRated(nk));
                }
            }
            Record::Ticket(_) => {
                let n = tx
                    .execute(
                        "INSERT INTO tickets (ticket_id, device_id, idempotency_key, body, stored_at)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticket_id) DO NOTHING",
                        &[&nk, &ing.device_id, &ing.key, &ing.body_json, &ing.now],
                    )
                    .await
                    .map_err(self.err("store a ticket"))?;
                if n == 0 {
                    return Ok(IngestOutcome::Conflict(nk));
                }
            }
        }
        tx.commit().await.map_err(self.err("commit an ingest"))?;
        Ok(IngestOutcome::Created)
    }

    pub async fn dossier_status(
        &self,
        code: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let client = self.client().await?;
        self.read_status(&client, code).await
    }

    async fn read_status(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        code: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let Some(row) = client
            .query_opt(
                "SELECT procedure_code, status, appointment_date, updated_at FROM dossiers WHERE code = $1",
                &[&code],
            )
            .await
            .map_err(self.err("read a dossier status"))?
        else {
            return Ok(None);
        };
        let documents = client
            .query(
                "SELECT name, file_name, media_type, size, sha256 FROM documents WHERE dossier_code = $1 ORDER BY position",
                &[&code],
            )
            .await
            .map_err(self.err("read a dossier's documents"))?
            .iter()
            .map(|r| DocumentRef {
                name: r.get(0),
                file_name: r.get(1),
                media_type: r.get(2),
                size: r.get::<_, i64>(3) as u64,
                sha256: r.get(4),
            })
            .collect();
        let digitized = client
            .query(
                "SELECT document_code, document_index, name, media_type, pages, size, sha256
                 FROM digitized_documents WHERE dossier_code = $1 ORDER BY stored_at, document_code",
                &[&code],
            )
            .await
            .map_err(self.err("read a dossier's digitized documents"))?
            .iter()
            .map(|r| DigitizedDocument {
                document_code: r.get(0),
                document_index: r.get::<_, i64>(1) as u32,
                name: r.get(2),
                media_type: r.get(3),
                pages: r.get::<_, i64>(4) as u32,
                size: r.get::<_, i64>(5) as u64,
                sha256: r.get(6),
            })
            .collect();
        Ok(Some(status_view(
            code.to_string(),
            row.get(0),
            row.get::<_, &str>(1),
            row.get::<_, &str>(2),
            row.get::<_, &str>(3),
            documents,
            digitized,
        )))
    }

    pub async fn set_dossier_status(
        &self,
        code: &str,
        status: DossierStatus,
        now: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start a transaction"))?;
        let n = tx
            .execute(
                "UPDATE dossiers SET status = $1, updated_at = $2 WHERE code = $3",
                &[&status_name(status), &now, &code],
            )
            .await
            .map_err(self.err("change a dossier status"))?;
        if n == 0 {
            return Ok(None);
        }
        let view = self.read_status(&tx, code).await?;
        tx.commit()
            .await
            .map_err(self.err("commit a status change"))?;
        Ok(view)
    }

    pub async fn stats(&self) -> Result<Stats, GatewayError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT (SELECT COUNT(*) FROM dossiers), (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM blobs),
                        (SELECT COUNT(*) FROM ratings), (SELECT COUNT(*) FROM tickets), (SELECT COUNT(*) FROM devices),
                        (SELECT COUNT(*) FROM uploads WHERE NOT complete), (SELECT COUNT(*) FROM digitized_documents)",
                &[],
            )
            .await
            .map_err(self.err("count stored records"))?;
        Ok(Stats {
            dossiers: row.get(0),
            documents: row.get(1),
            blobs: row.get(2),
            ratings: row.get(3),
            tickets: row.get(4),
            devices: row.get(5),
            uploads_in_progress: row.get(6),
            digitized_documents: row.get(7),
        })
    }
}
