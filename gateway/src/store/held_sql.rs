//! The schema and statements of "never asked twice" (see `held`), apart from the code that
//! runs them: the ingest plan and its checks use these without depending on the backends.

/// Migration 16: the applicant's MAC per dossier, the kinds of a dossier's required documents
/// by index, the held copy per MAC and kind, the copies linked to later dossiers, and the
/// questions asked per device.
pub(crate) const MIGRATION: &str = r#"
ALTER TABLE dossiers ADD COLUMN applicant_id_mac TEXT;
CREATE TABLE dossier_kinds (
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    document_index BIGINT NOT NULL,
    kind_code TEXT NOT NULL,
    PRIMARY KEY (dossier_code, document_index)
);
CREATE TABLE held_documents (
    id_mac TEXT NOT NULL,
    kind_code TEXT NOT NULL,
    document_code TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    site TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (id_mac, kind_code)
);
CREATE TABLE reused_documents (
    dossier_code TEXT NOT NULL REFERENCES dossiers(code),
    kind_code TEXT NOT NULL,
    document_code TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source_dossier TEXT NOT NULL,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (dossier_code, kind_code)
);
CREATE TABLE held_queries (
    device_id TEXT NOT NULL,
    asked_ms BIGINT NOT NULL
);
CREATE INDEX held_queries_by_device ON held_queries(device_id, asked_ms);
"#;

// --- ingest steps (run by `super::ingest`'s plan; placeholders in order of appearance)

/// `$1` MAC, `$2` code: the dossier's applicant, as the held documents know them.
pub(super) const APPLICANT_MAC_SET: &str =
    "UPDATE dossiers SET applicant_id_mac = $1 WHERE code = $2";
/// `$1` code, `$2` index of the required document, `$3` its kind code.
pub(super) const DOSSIER_KIND_INSERT: &str =
    "INSERT INTO dossier_kinds (dossier_code, document_index, kind_code) VALUES ($1, $2, $3)
     ON CONFLICT (dossier_code, document_index) DO NOTHING";
/// `$1` document code, `$2` sha256, `$3` site, `$4` now, `$5` dossier code, `$6` document
/// index: a digitized document of a required document with a kind, of a dossier whose
/// applicant has an ID number, becomes the held copy of that kind (replacing an older one).
pub(super) const HELD_UPSERT: &str =
    "INSERT INTO held_documents (id_mac, kind_code, document_code, sha256, dossier_code, site,
                                 stored_at)
     SELECT d.applicant_id_mac, k.kind_code, $1, $2, d.code, $3, $4
     FROM dossiers d JOIN dossier_kinds k ON k.dossier_code = d.code
     WHERE d.code = $5 AND k.document_index = $6 AND d.applicant_id_mac IS NOT NULL
     ON CONFLICT (id_mac, kind_code) DO UPDATE SET document_code = excluded.document_code,
         sha256 = excluded.sha256, dossier_code = excluded.dossier_code, site = excluded.site,
         stored_at = excluded.stored_at";
/// `$1` MAC, `$2` kind: the held copy's document code, and how many (0 or 1): a check.
pub(super) const HELD_CHECK: &str = "SELECT MAX(document_code), COUNT(*) FROM held_documents
     WHERE id_mac = $1 AND kind_code = $2";
/// `$1` new dossier, `$2` now, `$3` MAC, `$4` kind: links the held copy to the new dossier.
pub(super) const REUSE_LINK: &str =
    "INSERT INTO reused_documents (dossier_code, kind_code, document_code, sha256,
                                   source_dossier, linked_at)
     SELECT $1, kind_code, document_code, sha256, dossier_code, $2 FROM held_documents
     WHERE id_mac = $3 AND kind_code = $4
     ON CONFLICT (dossier_code, kind_code) DO NOTHING";

// --- the kiosks' question

/// `$1` device, `$2` start of the window (ms): questions asked in it, and the oldest.
pub(super) const ASKED_SINCE: &str = "SELECT COUNT(*), MIN(asked_ms) FROM held_queries
     WHERE device_id = $1 AND asked_ms > $2";
/// `$1` device, `$2` now (ms).
pub(super) const ASKED_INSERT: &str =
    "INSERT INTO held_queries (device_id, asked_ms) VALUES ($1, $2)";
/// `$1` oldest time still in the window (ms).
pub(super) const ASKED_PRUNE: &str = "DELETE FROM held_queries WHERE asked_ms <= $1";
/// `$1` MAC: the kinds held for it.
pub(super) const HELD_KINDS: &str = "SELECT kind_code FROM held_documents WHERE id_mac = $1";
/// `$1` dossier: the copies linked to it, by kind.
pub(super) const REUSED_OF: &str = "SELECT kind_code, document_code, sha256, source_dossier
     FROM reused_documents WHERE dossier_code = $1 ORDER BY kind_code";
