//! The applicant of a dossier sealed at rest with the device's data key ([`crate::sealing`]).
//!
//! A copied `kiosk.sqlite3` (or its `-wal`) must not hand over the names, ID numbers,
//! addresses and phones of a commune's applicants. So the `submission` JSON of `dossiers`
//! keeps a blank applicant and `dossiers.applicant_sealed` holds the real one, sealed for
//! `applicant:<code>` (a sealed applicant moved to another dossier does not open); reads put
//! the two together ([`Store::dossier`](crate::Store::dossier)).
//!
//! The key's fingerprint is kept in `meta`. When the database holds sealed applicants and the
//! key is missing or another one, the store refuses to open instead of making a new key:
//! a new key would silently turn every waiting dossier into noise. The technician restores the
//! key backed up with the database.

use std::path::Path;

use motcua_domain::wire::Applicant;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::io_err;
use crate::sealing::DataKey;
use crate::{db_err, StoreError, StoreResult};

/// `meta` key of the data key's fingerprint.
const FINGERPRINT_KEY: &str = "data_key_fingerprint";

/// The applicant a stored `submission` JSON carries: every personal field blank.
pub(crate) fn blank() -> Applicant {
    Applicant {
        full_name: String::new(),
        id_number: None,
        birth_date: None,
        address: String::new(),
        phone: String::new(),
        email: String::new(),
    }
}

/// The associated data an applicant is sealed under: bound to its dossier.
fn purpose(code: &str) -> String {
    format!("applicant:{code}")
}

/// Seals the applicant of dossier `code`.
pub(crate) fn seal(key: &DataKey, code: &str, applicant: &Applicant) -> StoreResult<Vec<u8>> {
    let json = serde_json::to_vec(applicant).map_err(|e| StoreError::Corrupt {
        what: format!("applicant of dossier {code}"),
        detail: e.to_string(),
    })?;
    Ok(key.seal(&purpose(code), &json))
}

/// Opens the sealed applicant of dossier `code`.
pub(crate) fn open(key: &DataKey, code: &str, sealed: &[u8]) -> StoreResult<Applicant> {
    let what = format!("applicant of dossier {code}");
    let json = key.open(&purpose(code), sealed, &what)?;
    serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// Loads the data key of the store in `data_dir` and checks it against the fingerprint kept in
/// the database. A key is made only while no sealed applicant exists.
pub(crate) fn data_key(conn: &Connection, db_path: &Path, data_dir: &Path) -> StoreResult<DataKey> {
    let db = db_err(db_path);
    let sealed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM dossiers WHERE applicant_sealed IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .map_err(&db)?;
    let recorded: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [FINGERPRINT_KEY],
            |r| r.get(0),
        )
        .optional()
        .map_err(&db)?;
    let path = DataKey::locate(data_dir);
    let unusable = |detail: String| StoreError::DataKeyUnusable {
        key: path.clone(),
        database: db_path.to_owned(),
        sealed,
        detail,
    };
    let key = if sealed > 0 {
        match std::fs::metadata(&path) {
            Ok(_) => DataKey::load(&path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(unusable(
                    "không có tệp khoá / the key file is missing".into(),
                ))
            }
            Err(e) => return Err(io_err(&path)(e)),
        }
    } else {
        DataKey::load_or_create(&path)?
    };
    match recorded {
        Some(r) if r == key.fingerprint() => {}
        Some(r) if sealed > 0 => {
            return Err(unusable(format!(
                "khoá khác với khoá đã niêm phong dữ liệu / it is another key (fingerprint {}, the database was sealed with {r})",
                key.fingerprint()
            )))
        }
        _ => {
            conn.execute(
                "INSERT INTO meta(key, value) VALUES(?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![FINGERPRINT_KEY, key.fingerprint()],
            )
            .map_err(&db)?;
        }
    }
    Ok(key)
}

/// Seals the applicants still in clear in `submission` (dossiers stored before sealing
/// existed) and checkpoints the WAL so the clear pages do not linger there. Returns how many
/// were sealed.
pub(crate) fn seal_clear_applicants(
    conn: &mut Connection,
    db_path: &Path,
    key: &DataKey,
) -> StoreResult<usize> {
    let db = db_err(db_path);
    const CLEAR: &str = "applicant_sealed IS NULL AND personal_data_purged = 0";
    // Looked at without the write lock first: after the first open there is never any, and
    // every kioskctl run opens the store.
    let any: bool = conn
        .query_row(
            &format!("SELECT EXISTS(SELECT 1 FROM dossiers WHERE {CLEAR})"),
            [],
            |r| r.get(0),
        )
        .map_err(&db)?;
    if !any {
        return Ok(0);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(&db)?;
    let rows: Vec<(String, String)> = {
        let mut stmt = tx
            .prepare(&format!(
                "SELECT code, submission FROM dossiers WHERE {CLEAR}"
            ))
            .map_err(&db)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&db)?;
        rows.collect::<Result<_, _>>().map_err(&db)?
    };
    let mut sealed = 0;
    for (code, json) in rows {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            what: format!("dossier {code}"),
            detail: e.to_string(),
        };
        let mut value: serde_json::Value = serde_json::from_str(&json).map_err(corrupt)?;
        let applicant: Applicant = match value.get("applicant") {
            Some(a) => serde_json::from_value(a.clone()).map_err(corrupt)?,
            None => blank(),
        };
        value["applicant"] = serde_json::to_value(blank()).map_err(corrupt)?;
        let cleared = serde_json::to_string(&value).map_err(corrupt)?;
        tx.execute(
            "UPDATE dossiers SET submission = ?2, applicant_sealed = ?3 WHERE code = ?1",
            params![code, cleared, seal(key, &code, &applicant)?],
        )
        .map_err(&db)?;
        sealed += 1;
    }
    tx.commit().map_err(&db)?;
    if sealed > 0 {
        checkpoint(conn, db_path)?;
    }
    Ok(sealed)
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: copies the WAL into the database file and empties it, so
/// pages that held personal data before a purge or a sealing are gone from the WAL
/// (`secure_delete` already overwrites them in the database file). A reader holding an old
/// snapshot can keep the checkpoint from finishing; it is then done at the next purge.
pub(crate) fn checkpoint(conn: &Connection, db_path: &Path) -> StoreResult<()> {
    // The row's first column says whether it was blocked (1); that is not an error.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(db_err(db_path))?;
    Ok(())
}
