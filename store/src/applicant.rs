//! The applicant of a dossier sealed at rest with the device's data key ([`crate::sealing`]).
//!
//! A copied `kiosk.sqlite3` (or its `-wal`) must not hand over the names, ID numbers,
//! addresses and phones of a commune's applicants. So the `submission` JSON of `dossiers`
//! keeps a blank applicant and `dossiers.applicant_sealed` holds the real one, sealed for
//! `applicant:<code>` (a sealed applicant moved to another dossier does not open); reads put
//! the two together ([`Store::dossier`](crate::Store::dossier)).
//!
//! The key's fingerprint is kept in `meta`. Once one is recorded, a missing or other key makes
//! the store refuse to open instead of making a new key: a new key would silently turn every
//! waiting dossier into noise (and the next ones of a kioskd still sealing with the old key). The technician restores the
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
/// the database; returns it with where it was found. A key is made only while no fingerprint is recorded and no sealed applicant
/// exists.
pub(crate) fn data_key(
    conn: &Connection,
    db_path: &Path,
    data_dir: &Path,
) -> StoreResult<(DataKey, std::path::PathBuf)> {
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
    // A key is made only for a store that never had one: no fingerprint recorded and no sealed
    // applicant. Once a fingerprint is recorded, a missing key is never made anew, even when no
    // row is sealed now: a running kioskd (or the unit with its credential) may still be
    // sealing with the recorded key, and a new one would turn its next dossiers into noise.
    let key = if sealed > 0 || recorded.is_some() {
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
        Some(r) => return Err(unusable(other_key(key.fingerprint(), &r))),
        None => {
            conn.execute(
                "INSERT INTO meta(key, value) VALUES(?1, ?2)
                 ON CONFLICT(key) DO NOTHING",
                params![FINGERPRINT_KEY, key.fingerprint()],
            )
            .map_err(&db)?;
            // Two processes opening a new store at once made the same key (it is linked into
            // place only once); a fingerprint written by another one in between must match.
            let now: String = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = ?1",
                    [FINGERPRINT_KEY],
                    |r| r.get(0),
                )
                .map_err(&db)?;
            if now != key.fingerprint() {
                return Err(unusable(other_key(key.fingerprint(), &now)));
            }
        }
    }
    Ok((key, path))
}

/// The detail of [`StoreError::DataKeyUnusable`] for a key that is not the recorded one.
fn other_key(found: &str, recorded: &str) -> String {
    format!(
        "khoá khác với khoá đã niêm phong dữ liệu / it is another key (fingerprint {found}, the database was sealed with {recorded})"
    )
}

/// Checks, inside the caller's write transaction, that the fingerprint recorded in `meta` is
/// still the one of `key`: another process may have found the key file missing and the store
/// must not seal a citizen's applicant with a key no later open accepts.
pub(crate) fn check_recorded(
    conn: &Connection,
    db_path: &Path,
    key_path: &Path,
    key: &DataKey,
) -> StoreResult<()> {
    let db = db_err(db_path);
    let recorded: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [FINGERPRINT_KEY],
            |r| r.get(0),
        )
        .optional()
        .map_err(&db)?;
    if recorded.as_deref() == Some(key.fingerprint()) {
        return Ok(());
    }
    let sealed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM dossiers WHERE applicant_sealed IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .map_err(&db)?;
    Err(StoreError::DataKeyUnusable {
        key: key_path.to_owned(),
        database: db_path.to_owned(),
        sealed,
        detail: match recorded {
            Some(r) => other_key(key.fingerprint(), &r),
            None => {
                "cơ sở dữ liệu không ghi dấu khoá / the database records no key fingerprint".into()
            }
        },
    })
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
        // One unreadable old row must not stop the kiosk: it is left as it is (not deleted,
        // for the technician) and said in the journal; every other row is sealed.
        let cleared = match clear_submission(&json) {
            Ok(c) => c,
            Err(detail) => {
                tracing::warn!(dossier = %code, %detail, "an old dossier row is unreadable: its applicant is left unsealed");
                continue;
            }
        };
        let (cleared, applicant) = cleared;
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

/// A stored `submission` JSON with its applicant blanked, and that applicant; `Err` says why
/// the row cannot be read.
fn clear_submission(json: &str) -> Result<(String, Applicant), String> {
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| "the submission is not a JSON object".to_owned())?;
    let applicant: Applicant = match object.get("applicant") {
        Some(a) => serde_json::from_value(a.clone()).map_err(|e| e.to_string())?,
        None => blank(),
    };
    object.insert(
        "applicant".to_owned(),
        serde_json::to_value(blank()).map_err(|e| e.to_string())?,
    );
    let cleared = serde_json::to_string(&value).map_err(|e| e.to_string())?;
    Ok((cleared, applicant))
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
