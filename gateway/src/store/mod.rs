//! Durable state of the gateway: devices and their certificates, uploads, blobs and ingested
//! records.
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
//! - the offset recorded for an upload never exceeds the bytes the object store confirmed for
//!   its recorded segments, and moves only by compare-and-set under the upload's lease
//!   ([`uploads`]).
//!
//! What the backends share is written once: the SQL text and the meaning of its columns in
//! [`queries`], what an ingest checks and writes in [`ingest`], which site may write what (the
//! lookups an ingest makes in its transaction before it writes, blob ownership by site,
//! idempotency keys per device) in [`authorization`], the fleet's health (its tables, flags and
//! view) in [`fleet`], provisioning (setup-code tokens, sequence blocks, remote actions) in
//! [`provisioning`], the export feed's event log (written in each change's transaction) in
//! [`feed`], the centre queue services' events in [`queue`], and the helpers below (status
//! names, the status view, which migrations are pending). The backend files hold only what really differs: connections, transactions, and
//! the few statements noted in [`queries`].

mod authorization;
mod blob_holdings;
mod feed;
mod feed_backends;
#[cfg(test)]
mod feed_tests;
mod feed_view;
mod fleet;
mod held;
mod held_sql;
mod ingest;
mod limits;
#[cfg(test)]
mod limits_tests;
mod lookup;
mod lookup_backends;
mod lookup_convert;
mod migrations;
mod postgres;
mod postgres_certs;
mod provisioning;
mod provisioning_pg;
mod provisioning_sqlite;
#[cfg(test)]
mod provisioning_tests;
mod queries;
mod queue;
mod release_reports;
mod releases;
mod sqlite;
mod sqlite_certs;
mod upload_life;
mod uploads;
mod value;

use motcua_domain::wire::HealthReport;
use motcua_domain::wire::{DigitizedDocument, DigitizedDocuments, DocumentRef, DossierSubmission};
use motcua_domain::wire::{DossierStatus, DossierStatusView, RatingSubmission, TicketIssued};
use motcua_identity::{PeerIdentity, Role};
use serde::Serialize;
use std::path::Path;

use crate::GatewayError;

pub(crate) use feed_view::FeedRead;
pub use feed_view::{FeedApplicant, FeedDocument, FeedEvent, FeedEventKind};
pub use fleet::{FleetEntry, FleetFlag, FleetSettings, FleetView, HealthPoint, CLOCK_SKEW_LIMIT};
pub(crate) use held::HeldAnswer;
pub use held::{HeldLimits, ReusedDocument};
pub(crate) use limits::{ResetCharge, UploadCreation, UploadQuota};
pub use lookup::LookupLimits;
pub(crate) use lookup::{LimitedBy, LookupOutcome};
pub(crate) use migrations::MIGRATIONS;
pub(crate) use postgres::PgStore;
pub(crate) use provisioning::{
    BlockOutcome, Completion, NewToken, Provision, ProvisionOutcome, MAX_LIVE_BLOCKS,
};
pub use release_reports::{OfferCandidate, StageChange};
pub use releases::{NewRelease, ReleaseRow, RolloutState};
pub(crate) use sqlite::{lock_instance, SqliteStore};
pub(crate) use uploads::Segment;

/// One tus upload as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    pub id: String,
    pub device_id: String,
    pub sha256: String,
    pub length: u64,
    pub offset: u64,
    pub complete: bool,
    /// The site of the device uploading: a completed upload makes the blob that site's.
    pub site: String,
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
    /// Documents were sent for a dossier the gateway does not hold (yet), or holds for another
    /// site (the two answer alike, so a guessed code reveals nothing).
    UnknownDossier(String),
    /// A dossier code whose sequence number is not the device's (see `authorization`).
    CodeNotYours {
        /// The code.
        code: String,
        /// Why, in Vietnamese then English.
        reason: String,
    },
    /// A ticket whose issuer is not a device of the device's site.
    TicketNotYours(String),
    /// A rating of a dossier or ticket the gateway does not hold at the device's site (yet).
    RatedTargetUnknown(String),
    /// A document cites a blob with another size than the blob has.
    BlobSizeMismatch {
        sha256: String,
        claimed: u64,
        actual: u64,
    },
    /// A dossier cites a document kind of which nothing is held for its applicant's ID number.
    NothingHeld(String),
}

/// The kinds of ingested record.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Dossier(DossierSubmission),
    Rating(RatingSubmission),
    Ticket(TicketIssued),
    Documents(DigitizedDocuments),
    /// A health report; it names no device (the certificate's is taken).
    Health(HealthReport),
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Dossier(_) => "dossier",
            Record::Rating(_) => "rating",
            Record::Ticket(_) => "ticket",
            Record::Documents(_) => "documents",
            Record::Health(_) => "health",
        }
    }

    /// The device the body names, if it names one (it must be the certificate's).
    pub fn device_id(&self) -> Option<&str> {
        match self {
            Record::Dossier(d) => Some(&d.device_id),
            Record::Rating(r) => Some(&r.device_id),
            Record::Ticket(t) => Some(&t.device_id),
            Record::Documents(d) => Some(&d.device_id),
            Record::Health(_) => None,
        }
    }
}

/// A certificate to record.
#[derive(Debug, Clone)]
pub(crate) struct NewCertificate {
    pub serial: String,
    pub role: Role,
    pub name: String,
    pub site: Option<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub issued_at: String,
    /// When it was recorded, microseconds since the epoch: orders a device's certificates.
    pub issued_us: i64,
}

impl NewCertificate {
    /// The record of a certificate described by `identity`, recorded now.
    pub fn from_identity(identity: &PeerIdentity, now: &str) -> Self {
        Self {
            serial: identity.serial.clone(),
            role: identity.role,
            name: identity.name.clone(),
            site: identity.site.clone(),
            not_before: identity.not_before,
            not_after: identity.not_after,
            issued_at: now.to_string(),
            issued_us: chrono::Utc::now().timestamp_micros(),
        }
    }
}

/// A recorded certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateRow {
    /// `device`, `system`, `technician`, `auditor`, or `unknown` (a revocation of a serial
    /// never seen).
    pub role: String,
    pub name: String,
    pub site: Option<String>,
    pub not_after: i64,
    pub issued_us: i64,
    pub first_used: bool,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
}

/// What an enrolment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Enrolment {
    /// Recorded; these older certificates of the device were revoked.
    Enrolled { revoked: Vec<String> },
    /// The device id is known (enrolled before, whether or not it still holds a live
    /// certificate) and no technician approved its re-enrolment: the enrolment key alone
    /// enrols only a device id never seen.
    NeedsApproval,
}

/// One device of `GET /v1/admin/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FleetDevice {
    /// The device id.
    pub device_id: String,
    /// Its site (agency code).
    pub site: String,
    /// When it last enrolled (RFC 3339).
    pub enrolled_at: String,
    /// When it last made an authenticated request (RFC 3339, to the minute), if ever.
    pub last_seen_at: Option<String>,
    /// Serial of its current certificate; `None` when it has none that is not revoked.
    pub serial: Option<String>,
    /// End of validity of the current certificate (RFC 3339).
    pub not_after: Option<String>,
    /// When the current certificate was first used (RFC 3339); `None`: a renewal not yet used.
    pub first_used_at: Option<String>,
    /// No live certificate: the device must be re-enrolled by a technician.
    pub revoked: bool,
}

/// Unix seconds as RFC 3339 in Vietnam's time.
pub(crate) fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .with_timezone(&motcua_domain::vietnam_offset())
        .to_rfc3339()
}

/// An ingest request after authentication and parsing.
#[derive(Debug, Clone)]
pub(crate) struct Ingest {
    pub key: String,
    pub device_id: String,
    /// The site of the device's certificate: what it sends must belong to that site.
    pub site: String,
    /// SHA-256 (hex) of the canonical JSON of the record: equal bodies, equal hashes.
    pub body_sha256: String,
    /// Canonical JSON of the record, kept for the provincial system.
    pub body_json: String,
    pub record: Record,
    pub now: String,
    /// What "never asked twice" needs of a dossier (see `held`); empty for other records.
    pub held: HeldContext,
}

/// A dossier's applicant and its procedure's document kinds, as `held` records them.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeldContext {
    /// `HMAC(id key, ID number)` of the applicant, when the dossier names an ID number.
    pub id_mac: Option<String>,
    /// (1-based index of the required document, as intake's `document_index`, its kind code)
    /// for each one with a kind.
    pub kinds: Vec<(u32, String)>,
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
    /// `database_ca_file` is a CA trusted (besides the system's) for PostgreSQL over TLS.
    pub async fn open(
        database_url: Option<&str>,
        database_ca_file: Option<&Path>,
        data_dir: &Path,
    ) -> Result<Self, GatewayError> {
        match database_url {
            Some(url) => Ok(Store::Postgres(PgStore::open(url, database_ca_file).await?)),
            None => Ok(Store::Sqlite(
                SqliteStore::open(&data_dir.join("gateway.sqlite3")).await?,
            )),
        }
    }

    /// Enrols a device with its first (or, once a technician approved, its next) certificate:
    /// a device id the gateway knows (a `devices` row, even one whose certificates were all
    /// revoked or have expired) needs a live approval, which this uses up; on success the
    /// device's older certificates are revoked (their serials are returned, to close their
    /// connections).
    pub async fn enroll_device(
        &self,
        cert: &NewCertificate,
        now: &str,
    ) -> Result<Enrolment, GatewayError> {
        dispatch!(self, s => s.enroll_device(cert, now))
    }

    /// Records a certificate (a renewal's, or a role certificate seen for the first time);
    /// a serial recorded already is left as it is.
    pub async fn record_certificate(&self, cert: &NewCertificate) -> Result<(), GatewayError> {
        dispatch!(self, s => s.record_certificate(cert))
    }

    /// Records a device's renewed certificate only if the certificate it presented (`old_serial`)
    /// is still not revoked, checked and inserted in one transaction that holds the device's and
    /// that certificate's row locks: a revocation racing the renewal either comes first (then
    /// nothing is recorded: `false`) or after (then it sees the new certificate too).
    pub async fn renew_certificate(
        &self,
        old_serial: &str,
        cert: &NewCertificate,
    ) -> Result<bool, GatewayError> {
        dispatch!(self, s => s.renew_certificate(old_serial, cert))
    }

    /// A recorded certificate by serial.
    pub async fn certificate(&self, serial: &str) -> Result<Option<CertificateRow>, GatewayError> {
        dispatch!(self, s => s.certificate(serial))
    }

    /// The first use of a device's certificate: records it and revokes (as superseded) the
    /// device's certificates issued before it; returns their serials. Nothing if it was used
    /// before.
    pub async fn first_use(
        &self,
        serial: &str,
        device_id: &str,
        issued_us: i64,
        now: &str,
    ) -> Result<Vec<String>, GatewayError> {
        dispatch!(self, s => s.first_use(serial, device_id, issued_us, now))
    }

    /// Revokes every certificate of a device and withdraws its unused setup codes, in one
    /// transaction; returns all its serials (revoked now or before), or `None` for an unknown
    /// device.
    pub async fn revoke_device(
        &self,
        device_id: &str,
        reason: &str,
        now: &str,
    ) -> Result<Option<Vec<String>>, GatewayError> {
        dispatch!(self, s => s.revoke_device(device_id, reason, now))
    }

    /// Revokes one certificate by serial, recording the serial if the gateway never saw it.
    pub async fn revoke_certificate(
        &self,
        serial: &str,
        reason: &str,
        now: &str,
    ) -> Result<(), GatewayError> {
        dispatch!(self, s => s.revoke_certificate(serial, reason, now))
    }

    /// Lets a device enrol again once until `expires_at` (Unix s); `false` for an unknown device.
    pub async fn allow_reenrolment(
        &self,
        device_id: &str,
        technician: &str,
        now: &str,
        expires_at: i64,
    ) -> Result<bool, GatewayError> {
        dispatch!(self, s => s.allow_reenrolment(device_id, technician, now, expires_at))
    }

    /// Records that a device was seen now.
    pub async fn touch_device(&self, device_id: &str, now: &str) -> Result<(), GatewayError> {
        dispatch!(self, s => s.touch_device(device_id, now))
    }

    /// Every enrolled device with its current certificate.
    pub async fn fleet(&self) -> Result<Vec<FleetDevice>, GatewayError> {
        dispatch!(self, s => s.fleet())
    }

    /// Creates an upload at offset 0, whether or not the blob is held already: creation stays
    /// plain tus for every client, and a kiosk asks [`Store::held_blobs`] first to skip what its
    /// site holds. The device's unfinished upload of the same blob still at offset 0 is
    /// handed back instead (see `limits::UPLOAD_OPEN_SAME`).
    ///
    /// The device's open uploads and its bytes of the day are checked against `quota` (and the
    /// bytes reserved) in the same transaction, under the device row's lock.
    pub async fn create_upload(
        &self,
        upload: &Upload,
        now: &str,
        quota: &UploadQuota,
    ) -> Result<UploadCreation, GatewayError> {
        dispatch!(self, s => s.create_upload(upload, now, quota))
    }

    /// One upload by id.
    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, GatewayError> {
        dispatch!(self, s => s.upload(id))
    }

    /// Records the offset of an upload, without compare-and-set (tests set up states with it;
    /// the PATCH path moves offsets with [`Store::record_segment`]). The upload is active now.
    #[cfg(test)]
    pub async fn set_upload_offset(&self, id: &str, offset: u64) -> Result<(), GatewayError> {
        let now_unix = chrono::Utc::now().timestamp();
        dispatch!(self, s => s.set_upload_offset(id, offset, now_unix))
    }

    /// Marks the upload complete and its blob present and its site's (the blob file is
    /// already in place).
    pub async fn complete_upload(&self, upload: &Upload, now: &str) -> Result<(), GatewayError> {
        dispatch!(self, s => s.complete_upload(upload, now))
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
