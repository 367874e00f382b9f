//! The kiosk's durable local store: one SQLite database (WAL, `synchronous=FULL`) beside the
//! content-addressed blob folder.
//!
//! Invariants, in the spirit of a disk buffer that never loses an acknowledged record:
//! 1. Nothing is acknowledged to a citizen before the transaction that holds it committed; the
//!    blobs it refers to were fsynced before that transaction began.
//! 2. Every accepted dossier, rating and ticket has exactly one outbox entry, created in the same
//!    transaction, keyed by an idempotency key the gateway deduplicates on.
//! 3. An outbox entry is marked delivered only after the gateway's durable acknowledgement; a blob
//!    is deleted only after every dossier using it was delivered and the retention period passed.
//! 4. Dossier numbers are never reused: the per-agency, per-day counter and the latest date used
//!    are advanced in the same transaction that stores the dossier.
//!
//! Several processes (kioskd and kioskctl) may open the store at once; SQLite's locking and a
//! busy timeout serialise their writes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::{Catalog, Procedure};
use motcua_domain::dossier::{code_date, DossierCode};
use motcua_domain::rating::RatingScale;
use motcua_domain::ticket::{ticket_id, validate_service_area};
use motcua_domain::wire::{
    Applicant, DocumentRef, DossierStatus, DossierSubmission, RatingSubmission, TicketIssued,
};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::blobs::{BlobInfo, BlobStore};
use crate::config::DeviceConfig;
use crate::error::{io_err, StoreError, StoreResult};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE dossiers(
    code TEXT PRIMARY KEY,
    procedure_code TEXT NOT NULL,
    submission TEXT NOT NULL,
    received_at TEXT NOT NULL,
    appointment_date TEXT NOT NULL,
    status INTEGER NOT NULL DEFAULT 1,
    status_checked_at TEXT,
    personal_data_purged INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE dossier_documents(
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    position INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY(dossier_code, position)
);
CREATE INDEX dossier_documents_by_blob ON dossier_documents(sha256);
CREATE TABLE code_sequences(
    agency TEXT NOT NULL,
    day TEXT NOT NULL,
    last_sequence INTEGER NOT NULL,
    PRIMARY KEY(agency, day)
);
CREATE TABLE ticket_sequences(
    area TEXT NOT NULL,
    day TEXT NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY(area, day)
);
CREATE TABLE ratings(
    transaction_id TEXT PRIMARY KEY,
    level INTEGER NOT NULL,
    score INTEGER NOT NULL,
    rated_at TEXT NOT NULL
);
CREATE TABLE outbox(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK(kind IN ('dossier', 'rating', 'ticket')),
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TEXT
);
CREATE INDEX outbox_pending ON outbox(next_attempt_ms) WHERE delivered_at IS NULL;
CREATE TABLE uploads(
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    upload_url TEXT,
    uploaded_bytes INTEGER NOT NULL DEFAULT 0,
    completed_at TEXT
);
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE catalog_cache(
    id INTEGER PRIMARY KEY CHECK(id = 1),
    etag TEXT NOT NULL,
    body TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
"#,
    r#"
CREATE INDEX outbox_by_payload ON outbox(kind, payload);
"#,
    // Intake digitization: documents added to a dossier at the counter, and the outbox kind
    // that delivers them (SQLite cannot change a CHECK constraint: the table is rebuilt).
    r#"
CREATE TABLE outbox_new(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK(kind IN ('dossier', 'rating', 'ticket', 'documents')),
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TEXT
);
INSERT INTO outbox_new SELECT * FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_pending ON outbox(next_attempt_ms) WHERE delivered_at IS NULL;
CREATE INDEX outbox_by_payload ON outbox(kind, payload);
CREATE TABLE intake_documents(
    document_code TEXT PRIMARY KEY,
    dossier_code TEXT NOT NULL,
    document_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    pages INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    outbox_key TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX intake_documents_by_dossier ON intake_documents(dossier_code);
CREATE INDEX intake_documents_by_blob ON intake_documents(sha256);
"#,
];

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
}

impl OutboxKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Dossier => "dossier",
            Self::Rating => "rating",
            Self::Ticket => "ticket",
            Self::Documents => "documents",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "dossier" => Some(Self::Dossier),
            "rating" => Some(Self::Rating),
            "ticket" => Some(Self::Ticket),
            "documents" => Some(Self::Documents),
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
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutboxStatus {
    /// Entries waiting for delivery.
    pub pending: u64,
    /// Entries delivered.
    pub delivered: u64,
    /// Pending entries that failed at least once.
    pub failing: u64,
    /// The most recent delivery error, if any entry is failing.
    pub last_error: Option<String>,
    /// Upload progress of blobs not yet complete.
    pub uploads: Vec<UploadState>,
}

/// A dossier as listed on the kiosk (no personal data).
#[derive(Debug, Clone, Serialize)]
pub struct DossierSummary {
    /// Dossier code.
    pub code: String,
    /// Procedure code.
    pub procedure_code: String,
    /// When it was received.
    pub received_at: String,
    /// Appointment date.
    pub appointment_date: String,
    /// Number of documents.
    pub documents: u32,
    /// Whether the gateway acknowledged it.
    pub delivered: bool,
}

/// A document the citizen attached, already stored as a blob.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Document name (usually the catalog's required-document name).
    pub name: String,
    /// Original file name.
    pub file_name: String,
    /// MIME type.
    pub media_type: String,
    /// The stored blob.
    pub blob: BlobInfo,
}

/// A dossier's status as last learnt, for offline lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedStatus {
    /// The appointment date (always known: set at submission).
    pub appointment_date: NaiveDate,
    /// The status learnt from the gateway, if it was ever asked.
    pub status: Option<DossierStatus>,
    /// When it was learnt.
    pub checked_at: Option<DateTime<FixedOffset>>,
}

/// A document digitized at intake, its PDF already stored as a blob.
#[derive(Debug, Clone)]
pub struct NewDigitized {
    /// Its document code (from the configured template).
    pub document_code: String,
    /// Index of the required document (0 for unsorted pages).
    pub document_index: u32,
    /// Document name.
    pub name: String,
    /// Number of pages.
    pub pages: u32,
    /// The stored PDF.
    pub blob: BlobInfo,
}

/// What [`Store::add_digitized_documents`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DigitizedOutcome {
    /// Document codes stored and queued now.
    pub stored: Vec<String>,
    /// Document codes that were already stored with the same content (a repeated command).
    pub already_stored: Vec<String>,
}

/// The kiosk's store: database plus blobs.
pub struct Store {
    conn: Connection,
    db_path: PathBuf,
    blobs: BlobStore,
}

/// Maps a SQLite error to a store error naming the database file.
fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Database {
        path: path.to_owned(),
        source,
    }
}

/// Whether SQLite said another connection holds a lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Opens (creating and migrating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path, min_free_bytes: u64) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        let db_path = data_dir.join("kiosk.sqlite3");
        // Switching a new database to WAL and migrating it take locks that SQLite's busy
        // handler does not always wait for when kioskd and kioskctl open the store together:
        // retry the whole setup for a while instead of failing a citizen's submission.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let conn = loop {
            match Self::setup(&db_path) {
                Err(StoreError::Database { source, .. })
                    if is_busy(&source) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20 + rand::random::<u64>() % 30));
                }
                other => break other?,
            }
        };
        let blobs = BlobStore::open(data_dir, min_free_bytes)?;
        Ok(Self {
            conn,
            db_path,
            blobs,
        })
    }

    fn setup(db_path: &Path) -> StoreResult<Connection> {
        let db = db_err(db_path);
        let mut conn = Connection::open(db_path).map_err(&db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(&db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&db)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(&db)?;
        // Purged personal data must not linger in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(&db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let version: usize = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(&db)?;
        if version > MIGRATIONS.len() {
            return Err(StoreError::Corrupt {
                what: db_path.display().to_string(),
                detail: format!(
                    "schema version {version} is newer than this program ({}); install the newer kiosk software",
                    MIGRATIONS.len()
                ),
            });
        }
        for sql in &MIGRATIONS[version..] {
            tx.execute_batch(sql).map_err(&db)?;
        }
        tx.pragma_update(None, "user_version", MIGRATIONS.len())
            .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(conn)
    }

    /// The blob files.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        db_err(&self.db_path)
    }

    /// Accepts a dossier durably: allocates its code, computes its appointment date, stores it
    /// with its documents and queues it for upload, all in one transaction. The documents' blobs
    /// must already be stored. Returns what was stored: only now may the citizen be told.
    pub fn submit_dossier(
        &mut self,
        device: &DeviceConfig,
        procedure: &Procedure,
        calendar: &WorkingCalendar,
        applicant: Applicant,
        documents: Vec<NewDocument>,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<DossierSubmission> {
        if applicant.full_name.trim().is_empty() {
            return Err(StoreError::Rejected(
                "the applicant's full name is required".into(),
            ));
        }
        self.blobs.check_free_space(0)?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        // Checked under the write lock: garbage collection, which takes the same lock, cannot
        // delete a blob between this check and the commit.
        for doc in &documents {
            if !self.blobs.contains(&doc.blob.sha256) {
                return Err(StoreError::Rejected(format!(
                    "document {:?} has no stored content",
                    doc.name
                )));
            }
        }

        let key = format!("latest_code_date:{}", device.agency_code);
        let latest: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [&key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(&db)?;
        let latest = latest.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok());
        let date = code_date(now.date_naive(), latest);
        let day = date.format("%Y-%m-%d").to_string();
        let last: Option<u16> = tx
            .query_row(
                "SELECT last_sequence FROM code_sequences WHERE agency = ?1 AND day = ?2",
                params![device.agency_code, day],
                |r| r.get(0),
            )
            .optional()
            .map_err(&db)?;
        let sequence =
            device
                .sequence
                .next_after(last)
                .ok_or_else(|| StoreError::SequenceExhausted {
                    agency: device.agency_code.clone(),
                    date,
                    first: device.sequence.first,
                    last: device.sequence.last,
                })?;
        let code = DossierCode::new(&device.agency_code, date, u32::from(sequence))
            .map_err(|e| StoreError::Rejected(e.to_string()))?
            .to_string();
        tx.execute(
            "INSERT INTO code_sequences(agency, day, last_sequence) VALUES(?1, ?2, ?3)
             ON CONFLICT(agency, day) DO UPDATE SET last_sequence = excluded.last_sequence",
            params![device.agency_code, day, sequence],
        )
        .map_err(&db)?;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES(?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, day],
        )
        .map_err(&db)?;

        let appointment_date = calendar.appointment_date(date, procedure.processing_days);
        let submission = DossierSubmission {
            code: code.clone(),
            procedure_code: procedure.code.clone(),
            agency_code: device.agency_code.clone(),
            device_id: device.id.clone(),
            applicant,
            received_at: now,
            appointment_date,
            documents: documents
                .iter()
                .map(|d| DocumentRef {
                    name: d.name.clone(),
                    file_name: d.file_name.clone(),
                    media_type: d.media_type.clone(),
                    size: d.blob.size,
                    sha256: d.blob.sha256.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_string(&submission).map_err(|e| StoreError::Corrupt {
            what: code.clone(),
            detail: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO dossiers(code, procedure_code, submission, received_at, appointment_date)
             VALUES(?1, ?2, ?3, ?4, ?5)",
            params![
                code,
                procedure.code,
                json,
                now.to_rfc3339(),
                appointment_date.to_string()
            ],
        )
        .map_err(&db)?;
        for (position, doc) in documents.iter().enumerate() {
            tx.execute(
                "INSERT INTO dossier_documents(dossier_code, position, sha256, size) VALUES(?1, ?2, ?3, ?4)",
                params![code, position as i64, doc.blob.sha256, doc.blob.size as i64],
            )
            .map_err(&db)?;
            tx.execute(
                "INSERT OR IGNORE INTO uploads(sha256, size) VALUES(?1, ?2)",
                params![doc.blob.sha256, doc.blob.size as i64],
            )
            .map_err(&db)?;
        }
        insert_outbox(
            &tx,
            OutboxKind::Dossier,
            &format!("{}:dossier:{code}", device.id),
            &code,
            now,
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(submission)
    }

    /// Adds documents digitized at the intake counter to dossier `dossier_code` durably and
    /// queues them for the gateway, in one transaction: the blobs must already be stored. A
    /// document code already stored with the same content is skipped (running an intake twice
    /// adds nothing); with other content it is refused, since a document code, once given,
    /// names one content forever. The outbox entry's idempotency key is derived from the
    /// documents, so the gateway stores them exactly once however often delivery is retried.
    pub fn add_digitized_documents(
        &mut self,
        device: &DeviceConfig,
        dossier_code: &str,
        documents: &[NewDigitized],
        now: DateTime<FixedOffset>,
    ) -> StoreResult<DigitizedOutcome> {
        use sha2::{Digest, Sha256};
        self.blobs.check_free_space(0)?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let mut outcome = DigitizedOutcome::default();
        let mut fresh = Vec::new();
        for doc in documents {
            if !self.blobs.contains(&doc.blob.sha256) {
                return Err(StoreError::Rejected(format!(
                    "giấy tờ {} chưa được lưu / document {} has no stored content",
                    doc.document_code, doc.document_code
                )));
            }
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT dossier_code, sha256 FROM intake_documents WHERE document_code = ?1",
                    [&doc.document_code],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(&db)?;
            match existing {
                Some((d, sha)) if d == dossier_code && sha == doc.blob.sha256 => {
                    outcome.already_stored.push(doc.document_code.clone());
                }
                Some(_) => {
                    return Err(StoreError::Rejected(format!(
                        "mã giấy tờ {0} đã được dùng cho nội dung khác / document code {0} is already used for other content; delete the stored document first or scan it under another document",
                        doc.document_code
                    )))
                }
                None => fresh.push(doc),
            }
        }
        if fresh.is_empty() {
            return Ok(outcome);
        }
        let mut hasher = Sha256::new();
        for doc in &fresh {
            hasher.update(doc.document_code.as_bytes());
            hasher.update([0]);
            hasher.update(doc.blob.sha256.as_bytes());
            hasher.update([0]);
        }
        let key = format!(
            "{}:documents:{dossier_code}:{}",
            device.id,
            &hex::encode(hasher.finalize())[..16]
        );
        let body = motcua_domain::wire::DigitizedDocuments {
            dossier_code: dossier_code.to_owned(),
            device_id: device.id.clone(),
            digitized_at: now,
            documents: fresh
                .iter()
                .map(|d| motcua_domain::wire::DigitizedDocument {
                    document_code: d.document_code.clone(),
                    document_index: d.document_index,
                    name: d.name.clone(),
                    media_type: "application/pdf".to_owned(),
                    pages: d.pages,
                    size: d.blob.size,
                    sha256: d.blob.sha256.clone(),
                })
                .collect(),
        };
        let json = serde_json::to_string(&body).map_err(|e| StoreError::Corrupt {
            what: key.clone(),
            detail: e.to_string(),
        })?;
        for doc in &fresh {
            tx.execute(
                "INSERT INTO intake_documents(document_code, dossier_code, document_index, name, pages,
                 sha256, size, outbox_key, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    doc.document_code,
                    dossier_code,
                    doc.document_index,
                    doc.name,
                    doc.pages,
                    doc.blob.sha256,
                    doc.blob.size as i64,
                    key,
                    now.to_rfc3339()
                ],
            )
            .map_err(&db)?;
            tx.execute(
                "INSERT OR IGNORE INTO uploads(sha256, size) VALUES(?1, ?2)",
                params![doc.blob.sha256, doc.blob.size as i64],
            )
            .map_err(&db)?;
            outcome.stored.push(doc.document_code.clone());
        }
        insert_outbox(&tx, OutboxKind::Documents, &key, &json, now).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(outcome)
    }

    /// Document codes already digitized for a dossier on this kiosk, with their required
    /// document index.
    pub fn digitized_documents(&self, dossier_code: &str) -> StoreResult<Vec<(String, u32)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT document_code, document_index FROM intake_documents
                 WHERE dossier_code = ?1 ORDER BY document_code",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([dossier_code], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db())?;
        rows.collect::<Result<_, _>>().map_err(self.db())
    }

    /// Issues the next queue ticket of a service area for today, durably, and queues it.
    pub fn issue_ticket(
        &mut self,
        device: &DeviceConfig,
        service_area: &str,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<TicketIssued> {
        validate_service_area(service_area).map_err(|e| StoreError::Rejected(e.to_string()))?;
        self.blobs.check_free_space(0)?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let date = now.date_naive();
        let day = date.format("%Y-%m-%d").to_string();
        let number: u32 = tx
            .query_row(
                "INSERT INTO ticket_sequences(area, day, last_number) VALUES(?1, ?2, 1)
                 ON CONFLICT(area, day) DO UPDATE SET last_number = last_number + 1
                 RETURNING last_number",
                params![service_area, day],
                |r| r.get(0),
            )
            .map_err(&db)?;
        let ticket = TicketIssued {
            ticket_id: ticket_id(&device.id, service_area, date, number),
            service_area: service_area.to_owned(),
            number,
            device_id: device.id.clone(),
            issued_at: now,
        };
        let json = serde_json::to_string(&ticket).map_err(|e| StoreError::Corrupt {
            what: ticket.ticket_id.clone(),
            detail: e.to_string(),
        })?;
        insert_outbox(
            &tx,
            OutboxKind::Ticket,
            &format!("{}:ticket:{}", device.id, ticket.ticket_id),
            &json,
            now,
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(ticket)
    }

    /// Records a citizen's rating of one transaction (once only) and queues it.
    pub fn rate(
        &mut self,
        device: &DeviceConfig,
        scale: RatingScale,
        transaction: &str,
        level: u8,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<RatingSubmission> {
        let transaction = transaction.trim();
        if transaction.is_empty() || transaction.len() > 160 {
            return Err(StoreError::Rejected(
                "a rating needs the ticket or dossier code it is about".into(),
            ));
        }
        let score = scale
            .score(level)
            .map_err(|e| StoreError::Rejected(e.to_string()))?;
        let rating = RatingSubmission {
            transaction: transaction.to_owned(),
            device_id: device.id.clone(),
            scale_levels: scale.levels(),
            level,
            score,
            rated_at: now,
        };
        let json = serde_json::to_string(&rating).map_err(|e| StoreError::Corrupt {
            what: transaction.to_owned(),
            detail: e.to_string(),
        })?;
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO ratings(transaction_id, level, score, rated_at) VALUES(?1, ?2, ?3, ?4)",
                params![transaction, level, score, now.to_rfc3339()],
            )
            .map_err(&db)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyRated(transaction.to_owned()));
        }
        insert_outbox(
            &tx,
            OutboxKind::Rating,
            &format!("{}:rating:{transaction}", device.id),
            &json,
            now,
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(rating)
    }

    /// The stored submission of a dossier.
    pub fn dossier(&self, code: &str) -> StoreResult<Option<DossierSubmission>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT submission FROM dossiers WHERE code = ?1",
                [code],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
                what: format!("dossier {code}"),
                detail: e.to_string(),
            })
        })
        .transpose()
    }

    /// Dossiers on this kiosk, newest first, without personal data.
    pub fn list_dossiers(&self, limit: u32) -> StoreResult<Vec<DossierSummary>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.code, d.procedure_code, d.received_at, d.appointment_date,
                        (SELECT COUNT(*) FROM dossier_documents x WHERE x.dossier_code = d.code),
                        (SELECT o.delivered_at IS NOT NULL FROM outbox o
                          WHERE o.kind = 'dossier' AND o.payload = d.code)
                 FROM dossiers d ORDER BY d.received_at DESC, d.code DESC LIMIT ?1",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(DossierSummary {
                    code: r.get(0)?,
                    procedure_code: r.get(1)?,
                    received_at: r.get(2)?,
                    appointment_date: r.get(3)?,
                    documents: r.get(4)?,
                    delivered: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                })
            })
            .map_err(self.db())?;
        rows.collect::<Result<_, _>>().map_err(self.db())
    }

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
                 WHERE delivered_at IS NULL AND (next_attempt_ms <= ?1 OR next_attempt_ms > ?2)
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

    /// When the next pending entry becomes due (Unix ms), if any is pending.
    pub fn next_due_at(&self) -> StoreResult<Option<i64>> {
        self.conn
            .query_row(
                "SELECT MIN(next_attempt_ms) FROM outbox WHERE delivered_at IS NULL",
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

    /// Records a failed attempt and when to try again.
    pub fn record_failure(&self, id: i64, error: &str, retry_in: Duration) -> StoreResult<()> {
        let next = now_ms().saturating_add(i64::try_from(retry_in.as_millis()).unwrap_or(i64::MAX));
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 WHERE id = ?1",
                params![id, error, next],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Makes every pending entry due now (`kioskctl retry`).
    pub fn retry_now(&self) -> StoreResult<u64> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET next_attempt_ms = 0 WHERE delivered_at IS NULL",
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
        let (pending, delivered, failing): (u64, u64, u64) = self
            .conn
            .query_row(
                "SELECT COALESCE(SUM(delivered_at IS NULL), 0), COALESCE(SUM(delivered_at IS NOT NULL), 0),
                        COALESCE(SUM(delivered_at IS NULL AND attempts > 0), 0) FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.db())?;
        let last_error = self
            .conn
            .query_row(
                "SELECT last_error FROM outbox WHERE delivered_at IS NULL AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
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
        Ok(OutboxStatus {
            pending,
            delivered,
            failing,
            last_error,
            uploads,
        })
    }

    /// Deletes what the gateway confirmed longer than `retention` ago: blob files no pending
    /// dossier needs, and the applicant's personal data (the code, dates and status stay for
    /// status lookups). Also deletes orphan blobs that no dossier refers to and that are older
    /// than `retention` (attachments of a dossier that was refused or abandoned before it was
    /// accepted). Runs under the write lock so no dossier can start using a blob being deleted.
    /// Returns the number of blobs deleted.
    pub fn collect_garbage(
        &mut self,
        retention: Duration,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<u64> {
        let cutoff =
            now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(3650));
        let cutoff = cutoff.to_rfc3339();
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let done: Vec<String> = {
            let mut stmt = tx
                .prepare(
                    "SELECT u.sha256 FROM uploads u
                     WHERE u.completed_at IS NOT NULL
                       AND NOT EXISTS (
                         SELECT 1 FROM dossier_documents x JOIN outbox o
                           ON o.kind = 'dossier' AND o.payload = x.dossier_code
                         WHERE x.sha256 = u.sha256
                           AND (o.delivered_at IS NULL OR o.delivered_at > ?1))
                       AND NOT EXISTS (
                         SELECT 1 FROM intake_documents i JOIN outbox o
                           ON o.idempotency_key = i.outbox_key
                         WHERE i.sha256 = u.sha256
                           AND (o.delivered_at IS NULL OR o.delivered_at > ?1))",
                )
                .map_err(&db)?;
            let rows = stmt.query_map([&cutoff], |r| r.get(0)).map_err(&db)?;
            rows.collect::<Result<_, _>>().map_err(&db)?
        };
        let mut deleted = 0;
        for sha in &done {
            self.blobs.remove(sha)?;
            tx.execute("DELETE FROM uploads WHERE sha256 = ?1", [sha])
                .map_err(&db)?;
            deleted += 1;
        }
        for (sha, age) in self.blobs.list()? {
            if age < retention {
                continue;
            }
            let used: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM dossier_documents WHERE sha256 = ?1)
                         OR EXISTS(SELECT 1 FROM intake_documents WHERE sha256 = ?1)",
                    [&sha],
                    |r| r.get(0),
                )
                .map_err(&db)?;
            if !used {
                self.blobs.remove(&sha)?;
                deleted += 1;
            }
        }
        tx.execute(
            r#"UPDATE dossiers SET submission = json_set(submission, '$.applicant',
                 json('{"full_name":"","address":"","phone":"","email":""}')),
                 personal_data_purged = 1
             WHERE personal_data_purged = 0 AND code IN (
               SELECT payload FROM outbox WHERE kind = 'dossier'
               AND delivered_at IS NOT NULL AND delivered_at <= ?1)"#,
            [&cutoff],
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(deleted)
    }

    /// Caches the catalog downloaded from the gateway.
    pub fn save_catalog(
        &self,
        etag: &str,
        body: &str,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO catalog_cache(id, etag, body, fetched_at) VALUES(1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET etag = excluded.etag, body = excluded.body, fetched_at = excluded.fetched_at",
                params![etag, body, now.to_rfc3339()],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The cached catalog and its ETag, if one was downloaded.
    pub fn cached_catalog(&self) -> StoreResult<Option<(String, Catalog)>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT etag, body FROM catalog_cache WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db())?;
        row.map(|(etag, body)| {
            serde_json::from_str(&body)
                .map(|c| (etag, c))
                .map_err(|e| StoreError::Corrupt {
                    what: "cached catalog".into(),
                    detail: e.to_string(),
                })
        })
        .transpose()
    }

    /// The catalog to use: the gateway's cached copy, else the seed shipped with the software.
    pub fn catalog(&self) -> StoreResult<Catalog> {
        Ok(self
            .cached_catalog()?
            .map(|(_, c)| c)
            .unwrap_or_else(motcua_domain::catalog::seed))
    }

    /// When today's earlier tickets of a service area were issued (for the wait estimate).
    pub fn ticket_times(
        &self,
        service_area: &str,
        day: NaiveDate,
    ) -> StoreResult<Vec<DateTime<FixedOffset>>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT json_extract(payload, '$.issued_at') FROM outbox
                 WHERE kind = 'ticket' AND json_extract(payload, '$.service_area') = ?1
                 ORDER BY id",
            )
            .map_err(self.db())?;
        let times = stmt
            .query_map([service_area], |r| r.get::<_, String>(0))
            .map_err(self.db())?
            .filter_map(|t| t.ok())
            .filter_map(|t| DateTime::parse_from_rfc3339(&t).ok())
            .filter(|t| t.date_naive() == day)
            .collect();
        Ok(times)
    }

    /// What this kiosk knows of a dossier it received, for a lookup while offline.
    pub fn cached_status(&self, code: &str) -> StoreResult<Option<CachedStatus>> {
        self.conn
            .query_row(
                "SELECT appointment_date, status, status_checked_at FROM dossiers WHERE code = ?1",
                [code],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<u8>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(self.db())?
            .map(|(appointment, status, checked)| {
                let appointment_date = NaiveDate::parse_from_str(&appointment, "%Y-%m-%d")
                    .map_err(|e| StoreError::Corrupt {
                        what: code.to_owned(),
                        detail: e.to_string(),
                    })?;
                Ok(CachedStatus {
                    appointment_date,
                    status: status.and_then(DossierStatus::from_code),
                    checked_at: checked.and_then(|c| DateTime::parse_from_rfc3339(&c).ok()),
                })
            })
            .transpose()
    }

    /// Records a status learnt from the gateway, for offline lookups.
    pub fn save_status(
        &self,
        code: &str,
        status: DossierStatus,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<()> {
        self.conn
            .execute(
                "UPDATE dossiers SET status = ?2, status_checked_at = ?3 WHERE code = ?1",
                params![code, status.code(), now.to_rfc3339()],
            )
            .map_err(self.db())?;
        Ok(())
    }
}

fn row_to_upload(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadState> {
    Ok(UploadState {
        sha256: r.get(0)?,
        size: r.get::<_, i64>(1)? as u64,
        upload_url: r.get(2)?,
        uploaded_bytes: r.get::<_, i64>(3)? as u64,
        completed: r.get(4)?,
    })
}

fn insert_outbox(
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
