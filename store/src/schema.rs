//! The database schema: migrations applied in order, never edited once released (a kiosk in
//! the field may be at any version; `PRAGMA user_version` records how many ran).

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
pub(crate) const MIGRATIONS: &[&str] = &[
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
    // The technician's dead-letter states: an entry a retry cannot fix is held
    // (`needs_technician`, with the reason and since when) or set aside by a technician
    // (`set_aside`); either way it is never retried automatically and never delivered, but stays
    // undelivered for retention and the removal guard. Pending work is unheld and undelivered.
    r#"
ALTER TABLE outbox ADD COLUMN hold TEXT CHECK(hold IN ('needs_technician', 'set_aside'));
ALTER TABLE outbox ADD COLUMN hold_reason TEXT;
ALTER TABLE outbox ADD COLUMN held_at TEXT;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox(next_attempt_ms) WHERE delivered_at IS NULL AND hold IS NULL;
"#,
    // Health reports: a kiosk's own state for the province's fleet view, a new outbox kind
    // (the CHECK constraint changes, so the table is rebuilt as in migration 3). At most one
    // waits at a time: queueing one removes the earlier health entries (`health.rs`).
    r#"
CREATE TABLE outbox_new(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK(kind IN ('dossier', 'rating', 'ticket', 'documents', 'health')),
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at TEXT,
    hold TEXT CHECK(hold IN ('needs_technician', 'set_aside')),
    hold_reason TEXT,
    held_at TEXT
);
INSERT INTO outbox_new SELECT id, kind, idempotency_key, payload, created_at, attempts,
    next_attempt_ms, last_error, delivered_at, hold, hold_reason, held_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_pending ON outbox(next_attempt_ms) WHERE delivered_at IS NULL AND hold IS NULL;
CREATE INDEX outbox_by_payload ON outbox(kind, payload);
"#,
    // Provisioning: the dossier sequence blocks the gateway allocated to this device (numbers
    // of every day, `first..=last`; a provisioned kiosk has no block in its config), the
    // remote actions already carried out (so a crash between doing one and reporting it does
    // not print a receipt twice) and, in `meta`, the last self-test.
    r#"
CREATE TABLE sequence_blocks(
    first INTEGER PRIMARY KEY CHECK(first >= 1 AND first <= 9999),
    last INTEGER NOT NULL CHECK(last >= first AND last <= 9999),
    received_at TEXT NOT NULL
);
CREATE TABLE remote_actions_done(
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    done_at TEXT NOT NULL,
    result TEXT NOT NULL,
    reported_at TEXT
);
"#,
    // Citizens' data sealed at rest (issue 14): a dossier's applicant sealed with the device's
    // data key (`sealing.rs`, `applicant.rs`); the `submission` JSON then keeps a blank
    // applicant. Rows stored before this migration are sealed in Rust right after it (SQL
    // cannot seal). Retention clears the column with the rest of the personal data.
    r#"
ALTER TABLE dossiers ADD COLUMN applicant_sealed BLOB;
"#,
    // Wrong staff/technician PINs and the lockout they caused, kept across restarts of kioskd
    // (`pin_attempts.rs`): `locked_until_ms` is Unix time in milliseconds.
    r#"
CREATE TABLE pin_attempts(
    scope TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER
);
"#,
    // The hash of each dossier's receipt lookup secret (the secret itself is derived from the
    // data key, never stored; see `lookup`).
    crate::lookup::MIGRATION,
    // Consecutive lockouts of a PIN scope (`pin_attempts.rs`): each one lasts twice the one
    // before (capped), so a guesser does not get five tries every five minutes forever.
    r#"
ALTER TABLE pin_attempts ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;
"#,
    // The day's count of document upload bytes against the daily upload budget of a metered
    // link, so that a restart does not reset it (`upload_budget.rs`).
    crate::upload_budget::MIGRATION,
    // The centre hub's fallback block for this kiosk and the tickets numbered from it while
    // the hub was unreachable, until the hub recorded them (issue #18, `hub_fallback.rs`).
    crate::hub_fallback::MIGRATION,
    // Intake documents are sent only once signed by the officer who digitized them, and are
    // known by the hash of their pages (issue #19, `intake.rs`).
    crate::intake::MIGRATION,
];
