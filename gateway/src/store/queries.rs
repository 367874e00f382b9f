//! The SQL that both backends run, written once, with the meaning of its result columns next to
//! it: a change to a query (or to the order of its columns) is made here and reaches SQLite and
//! PostgreSQL alike.
//!
//! Placeholders are `$1`, `$2`, …: PostgreSQL's own style. SQLite reads `$1` as a *named*
//! parameter whose index is the order in which the names first appear, so binding by position
//! gives the same meaning as in PostgreSQL only if every query numbers its placeholders in the
//! order they first appear. The test at the bottom prepares every query on SQLite and checks
//! exactly that; PostgreSQL runs them all in the gateway's integration tests.
//!
//! What stays in the backends, because the SQL really differs: SQLite's PRAGMAs, PostgreSQL's
//! advisory lock around migrations, and how a transaction is opened (`BEGIN IMMEDIATE` on
//! SQLite, READ COMMITTED plus claim-the-key-first on PostgreSQL).

use motcua_domain::wire::{DigitizedDocument, DocumentRef};

use super::{CertificateRow, FleetDevice, Stats, Upload};

/// Where a stored row is read from: a `rusqlite::Row` or a `tokio_postgres::Row` (the impls
/// sit in the backends). Only the column types the schema uses.
pub(super) trait Columns {
    type Error;
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    fn flag(&self, i: usize) -> Result<bool, Self::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
}

// --- schema_version (the migrations themselves are `super::MIGRATIONS`)

pub(super) const SCHEMA_VERSION_CREATE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL, applied_at TEXT NOT NULL)";
pub(super) const SCHEMA_VERSION_CURRENT: &str =
    "SELECT COALESCE(MAX(version), 0) FROM schema_version";
pub(super) const SCHEMA_VERSION_RECORD: &str =
    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)";

// --- devices and certificates

/// `$1` device id, `$2` site, `$3` now. Creates the row of a device id never seen before; one
/// row changed means "new", none means the id is known (enrolled before, whatever became of its
/// certificates since) and enrolling it needs a technician's approval. Two enrolments of one
/// new id cannot both see it new: the second insert waits for the first transaction (its row
/// lock on PostgreSQL, the write lock on SQLite) and then finds the row.
pub(super) const DEVICE_CREATE: &str =
    "INSERT INTO devices (device_id, site, enrolled_at) VALUES ($1, $2, $3)
     ON CONFLICT (device_id) DO NOTHING";
/// `$1` device id: takes the device row's lock (a no-op update; one row changed: the device
/// is known). Every change to a device's certificates (enrolment, renewal, revocation of the
/// device) takes it first, so on PostgreSQL they run one after the other and none misses a
/// certificate another one is adding (SQLite's `BEGIN IMMEDIATE` serialises them anyway).
pub(super) const DEVICE_LOCK: &str =
    "UPDATE devices SET device_id = device_id WHERE device_id = $1";
/// `$1` site, `$2` now, `$3` device id.
pub(super) const DEVICE_SET_ENROLLED: &str =
    "UPDATE devices SET site = $1, enrolled_at = $2 WHERE device_id = $3";
/// `$1` device id, `$2` now (Unix s): uses up a technician's approval that has not expired.
pub(super) const APPROVAL_TAKE: &str =
    "DELETE FROM reenrolment_approvals WHERE device_id = $1 AND expires_at > $2";
/// `$1` device id, `$2` technician, `$3` now, `$4` expiry (Unix s).
pub(super) const APPROVAL_UPSERT: &str =
    "INSERT INTO reenrolment_approvals (device_id, approved_by, approved_at, expires_at)
     VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO UPDATE SET
     approved_by = excluded.approved_by, approved_at = excluded.approved_at,
     expires_at = excluded.expires_at";
/// `$1` device id: its site.
pub(super) const DEVICE_SITE: &str = "SELECT site FROM devices WHERE device_id = $1";
/// `$1` now, `$2` device id.
pub(super) const DEVICE_TOUCH: &str = "UPDATE devices SET last_seen_at = $1 WHERE device_id = $2";
/// `$1` now, `$2` reason, `$3` device id: revokes every live certificate of the device.
pub(super) const DEVICE_CERTS_REVOKE: &str =
    "UPDATE certificates SET revoked_at = $1, revoked_reason = $2
     WHERE role = 'device' AND name = $3 AND revoked_at IS NULL RETURNING serial";
/// `$1` device id: every certificate serial it ever had (to close their connections).
pub(super) const DEVICE_SERIALS: &str =
    "SELECT serial FROM certificates WHERE role = 'device' AND name = $1";
/// `$1` now, `$2` device id, `$3` issued_us of the certificate first used: revokes the
/// device's certificates issued before it.
pub(super) const CERTS_SUPERSEDE: &str =
    "UPDATE certificates SET revoked_at = $1, revoked_reason = 'superseded'
     WHERE role = 'device' AND name = $2 AND issued_us < $3 AND revoked_at IS NULL
     RETURNING serial";
/// Read with [`new_certificate`]'s columns; a serial recorded already is left as it is.
pub(super) const CERT_INSERT: &str =
    "INSERT INTO certificates (serial, role, name, site, not_before, not_after, issued_at,
     issued_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (serial) DO NOTHING";
/// `$1` serial: takes the lock of a certificate that is not revoked (a no-op update; no row
/// changed: it is revoked, or unknown). A renewal holds it while it records the new
/// certificate, so a revocation of the one it presents cannot slip in between the check and
/// the insert: on PostgreSQL the revocation waits, or the renewal does and then finds it revoked.
pub(super) const CERT_HOLD_LIVE: &str =
    "UPDATE certificates SET revoked_at = NULL WHERE serial = $1 AND revoked_at IS NULL";
/// Read with [`certificate`].
pub(super) const CERT_SELECT: &str =
    "SELECT role, name, site, not_after, issued_us, first_used_at, revoked_at, revoked_reason
     FROM certificates WHERE serial = $1";
/// `$1` now, `$2` serial.
pub(super) const CERT_FIRST_USE: &str =
    "UPDATE certificates SET first_used_at = $1 WHERE serial = $2 AND first_used_at IS NULL";
/// `$1` now, `$2` reason, `$3` serial.
pub(super) const CERT_REVOKE: &str = "UPDATE certificates SET revoked_at = $1, revoked_reason = $2
     WHERE serial = $3 AND revoked_at IS NULL";
/// `$1` serial, `$2` now, `$3` reason: records the revocation of a certificate the gateway has
/// never seen (a role certificate issued offline), so it is refused when it shows up.
pub(super) const CERT_INSERT_REVOKED: &str =
    "INSERT INTO certificates (serial, role, name, site, not_before, not_after, issued_at,
     issued_us, revoked_at, revoked_reason) VALUES ($1, 'unknown', '', NULL, 0, 0, $2, 0, $2, $3)
     ON CONFLICT (serial) DO NOTHING";
/// The fleet, read with [`fleet_device`]: each device with its current certificate (the newest
/// live one in use, else the newest live one).
pub(super) const FLEET: &str =
    "SELECT d.device_id, d.site, d.enrolled_at, d.last_seen_at, c.serial, c.not_after,
     c.first_used_at
     FROM devices d LEFT JOIN certificates c ON c.serial = (
        SELECT serial FROM certificates WHERE role = 'device' AND name = d.device_id
        AND revoked_at IS NULL ORDER BY (first_used_at IS NOT NULL) DESC, issued_us DESC LIMIT 1)
     ORDER BY d.device_id";

/// One row of [`CERT_SELECT`].
pub(super) fn certificate<R: Columns>(r: &R) -> Result<CertificateRow, R::Error> {
    Ok(CertificateRow {
        role: r.text(0)?,
        name: r.text(1)?,
        site: r.opt_text(2)?,
        not_after: r.int(3)?,
        issued_us: r.int(4)?,
        first_used: r.opt_text(5)?.is_some(),
        revoked_at: r.opt_text(6)?,
        revoked_reason: r.opt_text(7)?,
    })
}

/// One row of [`FLEET`].
pub(super) fn fleet_device<R: Columns>(r: &R) -> Result<FleetDevice, R::Error> {
    let serial = r.opt_text(4)?;
    Ok(FleetDevice {
        device_id: r.text(0)?,
        site: r.text(1)?,
        enrolled_at: r.text(2)?,
        last_seen_at: r.opt_text(3)?,
        revoked: serial.is_none(),
        serial,
        not_after: r.opt_int(5)?.map(super::rfc3339),
        first_used_at: r.opt_text(6)?,
    })
}

// --- uploads and blobs

pub(super) const BLOB_EXISTS: &str = "SELECT 1 FROM blobs WHERE sha256 = $1";
pub(super) const BLOB_INSERT: &str =
    "INSERT INTO blobs (sha256, size, stored_at) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING";
/// `$8` the site of the device uploading, `$9` now (Unix s: its creation and its last
/// activity, from which the expiry counts).
pub(super) const UPLOAD_INSERT: &str =
    "INSERT INTO uploads (id, device_id, sha256, length, upload_offset, complete, created_at,
     site, created_unix, active_unix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
/// Read with [`upload`].
pub(super) const UPLOAD_SELECT: &str =
    "SELECT id, device_id, sha256, length, upload_offset, complete, COALESCE(site, '')
     FROM uploads WHERE id = $1";
/// `$1` offset, `$2` now (Unix s: the upload's last activity, so one being sent does not
/// expire), `$3` upload id.
#[cfg(test)]
pub(super) const UPLOAD_SET_OFFSET: &str =
    "UPDATE uploads SET upload_offset = $1, active_unix = $2 WHERE id = $3";
pub(super) const UPLOAD_MARK_COMPLETE: &str =
    "UPDATE uploads SET upload_offset = length, complete = TRUE WHERE id = $1";

/// One row of [`UPLOAD_SELECT`].
pub(super) fn upload<R: Columns>(r: &R) -> Result<Upload, R::Error> {
    Ok(Upload {
        id: r.text(0)?,
        device_id: r.text(1)?,
        sha256: r.text(2)?,
        length: r.int(3)? as u64,
        offset: r.int(4)? as u64,
        complete: r.flag(5)?,
        site: r.text(6)?,
    })
}

// --- ingest (the inserts of each record kind are planned in `super::ingest`)

/// Claims a key; inserts nothing if the key is stored already.
pub(super) const IDEMPOTENCY_KEY_CLAIM: &str =
    "INSERT INTO idempotency_keys (key, kind, device_id, body_sha256, created_at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id, key) DO NOTHING";
/// `$1` device id, `$2` key: keys live in their device's namespace. Read with [`stored_key`].
pub(super) const IDEMPOTENCY_KEY_SELECT: &str =
    "SELECT kind, device_id, body_sha256 FROM idempotency_keys WHERE device_id = $1 AND key = $2";
/// `$1` dossier code: its agency code (the site it was received at).
pub(super) const DOSSIER_INSERT: &str =
    "INSERT INTO dossiers (code, procedure_code, agency_code, device_id, idempotency_key, body,
     status, appointment_date, received_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (code) DO NOTHING";
pub(super) const DOCUMENT_INSERT: &str =
    "INSERT INTO documents (dossier_code, position, name, file_name, media_type, size, sha256)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(super) const DIGITIZED_INSERT: &str =
    "INSERT INTO digitized_documents (document_code, dossier_code, document_index, name,
     media_type, pages, size, sha256, device_id, idempotency_key, stored_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (document_code) DO NOTHING";
pub(super) const RATING_INSERT: &str =
    "INSERT INTO ratings (transaction_id, device_id, idempotency_key, body, stored_at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (transaction_id) DO NOTHING";
/// `$6` the site of the device that delivered it.
pub(super) const TICKET_INSERT: &str =
    "INSERT INTO tickets (ticket_id, device_id, idempotency_key, body, stored_at, site)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO NOTHING";

/// `$1` key, `$2` device id, `$3` generated_at (kiosk clock), `$4` received_at, `$5`
/// received_ms (gateway clock, Unix ms), `$6` offset_ms (kiosk minus gateway), `$7` outbox
/// depth, `$8` body: one report of a device's history.
pub(super) const HEALTH_INSERT: &str =
    "INSERT INTO health_reports (idempotency_key, device_id, generated_at, received_at,
     received_ms, offset_ms, outbox_pending, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// `$1` device id, `$2` key, `$3` received_at, `$4` received_ms, `$5` offset_ms, `$6` body:
/// the report becomes the device's latest.
pub(super) const HEALTH_LATEST_UPSERT: &str =
    "INSERT INTO device_health (device_id, idempotency_key, received_at, received_ms, offset_ms,
     body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device_id) DO UPDATE SET
     idempotency_key = excluded.idempotency_key, received_at = excluded.received_at,
     received_ms = excluded.received_ms, offset_ms = excluded.offset_ms, body = excluded.body";
/// `$1` device id, `$2` how many to keep: drops the device's reports older than its `$2`
/// newest (nothing while it has no more than that).
pub(super) const HEALTH_PRUNE: &str =
    "DELETE FROM health_reports WHERE device_id = $1 AND received_ms <= (
        SELECT received_ms FROM health_reports WHERE device_id = $1
        ORDER BY received_ms DESC LIMIT 1 OFFSET $2)";
/// Every device's latest report, read with `fleet::latest_report`.
pub(super) const HEALTH_LATEST: &str =
    "SELECT device_id, received_at, received_ms, offset_ms, body FROM device_health";
/// `$1` how many per device: each device's newest reports, oldest first, read with
/// `fleet::health_point`.
pub(super) const HEALTH_RECENT: &str =
    "SELECT device_id, generated_at, received_at, outbox_pending FROM (
        SELECT device_id, generated_at, received_at, outbox_pending, received_ms,
        ROW_NUMBER() OVER (PARTITION BY device_id ORDER BY received_ms DESC) AS n
        FROM health_reports) recent
     WHERE n <= $1 ORDER BY device_id, received_ms";

/// What an idempotency key was stored with: kind, device id, body hash.
pub(super) struct StoredKey {
    pub kind: String,
    pub device_id: String,
    pub body_sha256: String,
}

/// One row of [`IDEMPOTENCY_KEY_SELECT`].
pub(super) fn stored_key<R: Columns>(r: &R) -> Result<StoredKey, R::Error> {
    Ok(StoredKey {
        kind: r.text(0)?,
        device_id: r.text(1)?,
        body_sha256: r.text(2)?,
    })
}

// --- dossier status

/// `$1` status name, `$2` now, `$3` dossier code.
pub(super) const DOSSIER_SET_STATUS: &str =
    "UPDATE dossiers SET status = $1, updated_at = $2 WHERE code = $3";
/// Read with [`dossier_row`].
pub(super) const DOSSIER_SELECT: &str =
    "SELECT procedure_code, status, appointment_date, updated_at FROM dossiers WHERE code = $1";
/// Read with [`document`].
pub(super) const DOCUMENTS_SELECT: &str =
    "SELECT name, file_name, media_type, size, sha256 FROM documents WHERE dossier_code = $1 ORDER BY position";
/// Read with [`digitized`].
pub(super) const DIGITIZED_SELECT: &str =
    "SELECT document_code, document_index, name, media_type, pages, size, sha256
     FROM digitized_documents WHERE dossier_code = $1 ORDER BY stored_at, document_code";

/// The columns of a dossier that its status view shows, as stored.
pub(super) struct DossierRow {
    pub procedure_code: String,
    pub status: String,
    pub appointment_date: String,
    pub updated_at: String,
}

/// One row of [`DOSSIER_SELECT`].
pub(super) fn dossier_row<R: Columns>(r: &R) -> Result<DossierRow, R::Error> {
    Ok(DossierRow {
        procedure_code: r.text(0)?,
        status: r.text(1)?,
        appointment_date: r.text(2)?,
        updated_at: r.text(3)?,
    })
}

/// One row of [`DOCUMENTS_SELECT`].
pub(super) fn document<R: Columns>(r: &R) -> Result<DocumentRef, R::Error> {
    Ok(DocumentRef {
        name: r.text(0)?,
        file_name: r.text(1)?,
        media_type: r.text(2)?,
        size: r.int(3)? as u64,
        sha256: r.text(4)?,
    })
}

/// One row of [`DIGITIZED_SELECT`].
pub(super) fn digitized<R: Columns>(r: &R) -> Result<DigitizedDocument, R::Error> {
    Ok(DigitizedDocument {
        document_code: r.text(0)?,
        document_index: r.int(1)? as u32,
        name: r.text(2)?,
        media_type: r.text(3)?,
        pages: r.int(4)? as u32,
        size: r.int(5)? as u64,
        sha256: r.text(6)?,
    })
}

// --- statistics

/// One row, read with [`stats`].
pub(super) const STATS: &str =
    "SELECT (SELECT COUNT(*) FROM dossiers), (SELECT COUNT(*) FROM documents),
    (SELECT COUNT(*) FROM blobs), (SELECT COUNT(*) FROM ratings), (SELECT COUNT(*) FROM tickets),
    (SELECT COUNT(*) FROM digitized_documents), (SELECT COUNT(*) FROM devices),
    (SELECT COUNT(*) FROM uploads WHERE NOT complete)";

/// The row of [`STATS`].
pub(super) fn stats<R: Columns>(r: &R) -> Result<Stats, R::Error> {
    Ok(Stats {
        dossiers: r.int(0)?,
        documents: r.int(1)?,
        blobs: r.int(2)?,
        ratings: r.int(3)?,
        tickets: r.int(4)?,
        digitized_documents: r.int(5)?,
        devices: r.int(6)?,
        uploads_in_progress: r.int(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shared query, for the test below.
    const ALL: &[&str] = &[
        SCHEMA_VERSION_CURRENT,
        SCHEMA_VERSION_RECORD,
        DEVICE_CREATE,
        DEVICE_LOCK,
        DEVICE_SET_ENROLLED,
        APPROVAL_TAKE,
        APPROVAL_UPSERT,
        DEVICE_SITE,
        DEVICE_TOUCH,
        DEVICE_CERTS_REVOKE,
        DEVICE_SERIALS,
        CERTS_SUPERSEDE,
        CERT_INSERT,
        CERT_HOLD_LIVE,
        CERT_SELECT,
        CERT_FIRST_USE,
        CERT_REVOKE,
        CERT_INSERT_REVOKED,
        FLEET,
        BLOB_EXISTS,
        BLOB_INSERT,
        UPLOAD_INSERT,
        UPLOAD_SELECT,
        UPLOAD_SET_OFFSET,
        UPLOAD_MARK_COMPLETE,
        IDEMPOTENCY_KEY_CLAIM,
        IDEMPOTENCY_KEY_SELECT,
        DOSSIER_INSERT,
        DOCUMENT_INSERT,
        DIGITIZED_INSERT,
        RATING_INSERT,
        TICKET_INSERT,
        HEALTH_INSERT,
        HEALTH_LATEST_UPSERT,
        HEALTH_PRUNE,
        HEALTH_LATEST,
        HEALTH_RECENT,
        DOSSIER_SET_STATUS,
        DOSSIER_SELECT,
        DOCUMENTS_SELECT,
        DIGITIZED_SELECT,
        STATS,
    ];

    /// SQLite numbers `$n` parameters by first appearance: positional binding means what it
    /// means to PostgreSQL only if `$1`, `$2`, … first appear in that order, none skipped.
    #[test]
    fn every_query_prepares_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA_VERSION_CREATE).unwrap();
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        for sql in ALL {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "parameter {i} of {sql}"
                );
            }
        }
    }
}
