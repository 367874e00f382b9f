//! The gateway's schema, as versioned migrations both backends apply in order (see
//! `super::pending_migrations`); the tables of the fleet's health and of provisioning are
//! defined beside their SQL, in `fleet` and `provisioning`.

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
    (
        3,
        // Devices authenticate with client certificates now: the bearer-token table goes (its
        // tokens no longer open anything; such a kiosk enrols again with a CSR) and comes back
        // keyed by device id with its site. `certificates` records every certificate the gateway
        // signed, role certificates when first seen, and revocations by serial. `issued_us`
        // (microseconds since the epoch) orders a device's certificates for renewal.
        r#"
DROP TABLE devices;
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    enrolled_at TEXT NOT NULL,
    last_seen_at TEXT
);
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    site TEXT,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    issued_at TEXT NOT NULL,
    issued_us BIGINT NOT NULL,
    first_used_at TEXT,
    revoked_at TEXT,
    revoked_reason TEXT
);
CREATE INDEX certificates_by_holder ON certificates(role, name);
CREATE TABLE reenrolment_approvals (
    device_id TEXT PRIMARY KEY,
    approved_by TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
"#,
    ),
    // Health reports: a bounded history and each device's latest (see `fleet`).
    (4, super::fleet::MIGRATION),
    // Setup codes, sequence blocks and remote actions (see `provisioning`).
    (5, super::provisioning::MIGRATION),
    // Idempotency keys per device, blob ownership per site, tickets' sites (see
    // `authorization`).
    (6, super::authorization::MIGRATION),
    // Withdrawn setup codes, reusable sequence ranges (see `provisioning`).
    (7, super::provisioning::MIGRATION_7),
    // Request windows, upload bytes per day, upload expiry, applicant retention (see `limits`).
    (8, super::limits::MIGRATION),
    // Upload activity time, from which the expiry counts (see `limits`).
    (9, super::limits::MIGRATION_9),
    // The receipt secret's hash per dossier, failed status lookups (see `lookup`).
    (10, super::lookup::MIGRATION),
    // The keyed form of lookup hashes and the lookup key's fingerprint (see `lookup`).
    (11, super::lookup::MIGRATION_11),
    // Upload segments in the object store, the PATCH lease (see `uploads`).
    (12, super::uploads::MIGRATION),
    // The export feed's event log and its counter, with events for what is stored (see `feed`).
    (13, super::feed::MIGRATION),
    // Published releases and each device's progress with them (see `releases`).
    (14, super::releases::MIGRATION),
    // The centre queue services' events, per site (see `queue`).
    (15, super::queue::MIGRATION),
    // "Never asked twice": held documents per citizen, their links to later dossiers (see
    // `held`).
    (16, super::held_sql::MIGRATION),
];
