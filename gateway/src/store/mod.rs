//! Durable state of the gateway: devices, uploads, blobs and ingested records.
//!
//! Two backends stand behind one enum: embedded SQLite (the default, one file next to the blobs,
//! nothing to administer at a small province) and PostgreSQL (production, several gateways behind
//! a load balancer). An enum rather than a trait object keeps the calls plain `async fn`s and lets
//! the compiler check that both backends implement every operation.
//!
//! Invariants both backends keep:
//! - every method that changes state commits its transaction before returning `Ok`, so a caller
//!   may acknowledge to a kiosk as soon as it returns;
//! - an ingest stores its idempotency key, its record and (for a dossier) its documents in one
//!   transaction: a kiosk's retry finds either everything or nothing;
//! - the offset recorded for an upload never exceeds the bytes fsynced in its `.part` file.
//!
//! What the backends share is written once: the SQL text and the meaning of its columns in
//! [`queries`], what an ingest checks and writes in [`ingest`], and the helpers below (status
//! names, the status view, which migrations are pending). The backend files hold only what
//! really differs: connections, transactions, and the few statements noted in [`queries`].

mod ingest;
mod postgres;
mod queries;
mod sqlite;

use motcua_domain::wire::{DigitizedDocument, DigitizedDocuments, DocumentRef, DossierSubmission};
use motcua_domain::wire::{DossierStatus, DossierStatusView, RatingSubmission, TicketIssued};
use serde::Serialize;
use std::path::Path;

use crate::GatewayError;

pub(crate) use postgres::PgStore;
pub(crate) use sqlite::SqliteStore;

/// One tus upload as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    pub id: String,
    pub device_id: String,
    pub sha256: String,
    pub length: u64,
    pub offset: u64,
    pub complete: bool,
}

/// What an ingest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IngestOutcome {
    /// Stored now.
    Created,
    /// The same key and body were stored before: nothing new.
    Duplicate,
    /// The key was stored before with another body or kind.
    KeyReused,
    /// The dossier refers to blobs that are not completely uploaded.
    MissingBlobs(Vec<String>),
    /// Another record with the same natural key (dossier code, ticket id) exists under another
    /// idempotency key.
    Conflict(String),
    /// The transaction was already rated.
    AlreadyRated(String),
    /// Documents were sent for a dossier the gateway does not hold (yet).
    UnknownDossier(String),
}

/// The three kinds of ingested record.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Dossier(DossierSubmission),
    Rating(RatingSubmission),
    Ticket(TicketIssued),
    Documents(DigitizedDocuments),
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Dossier(_) => "dossier",
            Record::Rating(_) => "rating",
            Record::Ticket(_) => "ticket",
            Record::Documents(_) => "documents",
        }
    }

    pub fn device_id(&self) -> &str {
        match self {
            Record::Dossier(d) => &d.device_id,
            Record::Rating(r) => &r.device_id,
            Record::Ticket(t) => &t.device_id,
            Record::Documents(d) => &d.device_id,
        }
    }
}

/// An ingest request after authentication and parsing.
#[derive(Debug, Clone)]
pub(crate) struct Ingest {
    pub key: String,
    pub device_id: String,
    /// SHA-256 (hex) of the canonical JSON of the record: equal bodies, equal hashes.
    pub body_sha256: String,
    /// Canonical JSON of the record, kept for the provincial system.
    pub body_json: String,
    pub record: Record,
    pub now: String,
}

/// Counts returned by `GET /v1/admin/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Stats {
    /// Dossiers stored.
    pub dossiers: i64,
    /// Documents stored across all dossiers.
    pub documents: i64,
    /// Completely uploaded, verified blobs.
    pub blobs: i64,
    /// Ratings stored.
    pub ratings: i64,
    /// Queue tickets stored.
    pub tickets: i64,
    /// Documents digitized at intake counters and added to dossiers.
    pub digitized_documents: i64,
    /// Enrolled devices.
    pub devices: i64,
    /// Uploads created but not yet complete.
    pub uploads_in_progress: i64,
}

/// The gateway's database, whichever backend.
pub(crate) enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call.await,
            Store::Postgres($s) => $call.await,
        }
    };
}

impl Store {
    /// Opens (and migrates) the database: PostgreSQL when a URL is given, else SQLite in `data_dir`.
    pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Self, GatewayError> {
        match database_url {
            Some(url) => Ok(Store::Postgres(PgStore::open(url).await?)),
            None => Ok(Store::Sqlite(
                SqliteStore::open(&data_dir.join("gateway.sqlite3")).await?,
            )),
        }
    }

    /// Records a device and the hash of its new token. An already enrolled device keeps its
    /// token unless `replace` (the admin allowed a re-enrolment); returns whether it was stored.
    pub async fn enroll(
        &self,
        device_id: &str,
        token_sha256: &str,
        now: &str,
        replace: bool,
    ) -> Result<bool, GatewayError> {
        dispatch!(self, s => s.enroll(device_id, token_sha256, now, replace))
    }

    /// The device a token hash belongs to.
    pub async fn device_for_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<String>, GatewayError> {
        dispatch!(self, s => s.device_for_token(token_sha256))
    }

    /// Creates an upload; if a complete blob with this hash exists the upload is born complete.
    pub async fn create_upload(&self, upload: &Upload, now: &str) -> Result<Upload, GatewayError> {
        dispatch!(self, s => s.create_upload(upload, now))
    }

    /// One upload by id.
    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, GatewayError> {
        dispatch!(self, s => s.upload(id))
    }

    /// Records the durable offset of an upload (the `.part` file is fsynced up to it).
    pub async fn set_upload_offset(&self, id: &str, offset: u64) -> Result<(), GatewayError> {
        dispatch!(self, s => s.set_upload_offset(id, offset))
    }

    /// Marks the upload complete and its blob present (the blob file is already in place).
    pub async fn complete_upload(
        &self,
        id: &str,
        sha256: &str,
        size: u64,
        now: &str,
    ) -> Result<(), GatewayError> {
        dispatch!(self, s => s.complete_upload(id, sha256, size, now))
    }

    /// Whether a verified blob is stored.
    pub async fn blob_exists(&self, sha256: &str) -> Result<bool, GatewayError> {
        dispatch!(self, s => s.blob_exists(sha256))
    }

    /// Stores an ingest exactly once (see [`IngestOutcome`]).
    pub async fn ingest(&self, ingest: &Ingest) -> Result<IngestOutcome, GatewayError> {
        dispatch!(self, s => s.ingest(ingest))
    }

    /// The status of a dossier.
    pub async fn dossier_status(
        &self,
        code: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        dispatch!(self, s => s.dossier_status(code))
    }

    /// Changes the status of a dossier; `None` if it is unknown.
    pub async fn set_dossier_status(
        &self,
        code: &str,
        status: DossierStatus,
        now: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        dispatch!(self, s => s.set_dossier_status(code, status, now))
    }

    /// Counts of everything stored.
    pub async fn stats(&self) -> Result<Stats, GatewayError> {
        dispatch!(self, s => s.stats())
    }
}

/// Status names as stored in the database (the serde names of [`DossierStatus`]).
pub(crate) fn status_name(status: DossierStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "submitted".to_string())
}

/// Parses a stored status name; unknown names (a newer gateway wrote them) read as submitted.
pub(crate) fn parse_status(name: &str) -> DossierStatus {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .unwrap_or(DossierStatus::Submitted)
}

/// Builds the view of a dossier from its stored columns.
fn status_view(
    code: String,
    row: queries::DossierRow,
    documents: Vec<DocumentRef>,
    digitized: Vec<DigitizedDocument>,
) -> DossierStatusView {
    let status = parse_status(&row.status);
    DossierStatusView {
        code,
        procedure_code: row.procedure_code,
        status,
        status_code: status.code(),
        appointment_date: row.appointment_date.parse().unwrap_or_default(),
        updated_at: chrono::DateTime::parse_from_rfc3339(&row.updated_at)
            .unwrap_or_else(|_| chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset())),
        documents,
        digitized,
    }
}

/// The migrations a database at schema version `current` still needs, or an error if a newer
/// gateway migrated it past what this one knows (`location` names the database in the error).
fn pending_migrations(
    current: i64,
    location: impl FnOnce() -> String,
) -> Result<impl Iterator<Item = &'static (i64, &'static str)>, GatewayError> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > latest {
        return Err(GatewayError::SchemaTooNew {
            location: location(),
            found: current,
            supported: latest,
        });
    }
    Ok(MIGRATIONS.iter().filter(move |(v, _)| *v > current))
}

/// Versioned schema migrations shared by both backends (their SQL dialects agree on these).
/// Never edit a released entry: add a new one.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL
);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    length BIGINT NOT NULL,
    upload_offset BIGINT NOT NULL,
    complete BOOLEAN NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    device_id TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE dossiers (
    code TEXT PRIMARY KEY,
    procedure_code TEXT NOT NULL,
    agency_code TEXT NOT NULL,
    device_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    appointment_date TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE documents (
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    file_name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (dossier_code, position)
);
CREATE TABLE ratings (
    transaction_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE TABLE tickets (
    ticket_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE digitized_documents (
    document_code TEXT PRIMARY KEY,
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    document_index BIGINT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    pages BIGINT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    device_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    stored_at TEXT NOT NULL
);
CREATE INDEX digitized_documents_by_dossier ON digitized_documents(dossier_code);
"#,
    ),
];
