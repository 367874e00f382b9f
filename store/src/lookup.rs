//! The receipt's lookup secret on the kiosk (issue 14, item 2): derived, never stored, and
//! neither is its hash.
//!
//! The secret of a dossier is the first 40 bits of the data key's derivation for the purpose
//! `receipt-lookup-secret` over the dossier code, so a reprint (remote or at the counter) prints
//! the same secret without the database ever holding it. Its hash (`lookup_sha256`, what the
//! gateway receives) is not stored either: with 40 bits, whoever copied the database could
//! search it offline. A secret typed for an offline lookup is checked by deriving the right one
//! again and comparing the hashes in constant time, and the hash is put into the submission when
//! it is read for delivery ([`Store::dossier`]). The stored submission keeps, in place of the
//! hash, the marker [`DERIVED`], which says the dossier has a secret (dossiers from before the
//! secret have none, and are delivered and looked up without one, as before).
//!
//! Databases written before this kept the hash in `dossiers.lookup_sha256` and in the stored
//! submission: [`scrub_stored_hashes`] replaces both at every open (the column stays, always
//! NULL), and the write-ahead log is emptied of the old pages (`secure_delete` zeroes them in the
//! file). The status last learnt from the gateway is kept for lookups while offline, shown only
//! to whoever shows the secret, the rule the gateway applies online.

use motcua_domain::lookup_secret::{hashes_equal, lookup_hash, LookupSecret};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::wire::DossierStatus;

use crate::{db_err, DataKey, Store, StoreError, StoreResult};

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

/// Purpose of the data key's derivation that makes receipt secrets.
const PURPOSE: &str = "receipt-lookup-secret";

/// The schema migration of lookup hashes. The column is no longer written (see the module).
pub(crate) const MIGRATION: &str = "ALTER TABLE dossiers ADD COLUMN lookup_sha256 TEXT;";

/// What the stored submission holds in `lookup_sha256` for a dossier with a secret: the hash
/// itself is derived when the submission is read ([`Store::dossier`]).
pub(crate) const DERIVED: &str = "derived-from-the-data-key";

/// The secret of `code` under `key`.
fn secret_of(key: &DataKey, code: &str) -> LookupSecret {
    let d = key.derive(PURPOSE, code.as_bytes());
    LookupSecret::from_bytes([d[0], d[1], d[2], d[3], d[4]])
}

/// The hash of `code`'s lookup secret under `key`, as sent to the gateway.
pub(crate) fn hash_of(key: &DataKey, code: &str) -> String {
    lookup_hash(code, &secret_of(key, code))
}

impl Store {
    /// The lookup secret printed on the receipt of `code` (the same at every reprint).
    pub fn lookup_secret(&self, code: &str) -> LookupSecret {
        secret_of(&self.data_key, code)
    }

    /// What this kiosk knows of a dossier it received, for a lookup while offline, only if
    /// `secret` is its receipt's: a wrong secret, a dossier stored without a hash and a code
    /// this kiosk does not hold all answer `None`.
    pub fn cached_status_with_secret(
        &self,
        code: &str,
        secret: &LookupSecret,
    ) -> StoreResult<Option<CachedStatus>> {
        // Whether the kiosk holds the dossier and gave it a secret (the marker, or the hash
        // of a database not scrubbed yet).
        let has_secret: Option<bool> = self
            .conn
            .query_row(
                "SELECT CASE WHEN json_valid(submission)
                        THEN json_extract(submission, '$.lookup_sha256') IS NOT NULL ELSE 0 END
                 FROM dossiers WHERE code = ?1",
                [code],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?;
        // Both hashes are computed and compared whatever the row says.
        let equal = hashes_equal(&lookup_hash(code, secret), &hash_of(&self.data_key, code));
        if !equal || has_secret != Some(true) {
            return Ok(None);
        }
        self.cached_status(code)
    }

    /// What this kiosk knows of a dossier it received, whoever asks: only for
    /// [`Store::cached_status_with_secret`], which checks the receipt's secret first.
    fn cached_status(&self, code: &str) -> StoreResult<Option<CachedStatus>> {
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

/// Removes the lookup hashes a database written by an older kiosk holds (see the module):
/// `lookup_sha256` emptied, the stored submission's hash replaced by [`DERIVED`]. Idempotent;
/// looked at without the write lock first, as there is nothing to do after the first open.
pub(crate) fn scrub_stored_hashes(conn: &mut Connection, db_path: &Path) -> StoreResult<usize> {
    let db = db_err(db_path);
    // An unreadable row (not JSON) is left to `applicant::seal_clear_applicants`, which says
    // so in the journal; only its column is emptied.
    const STORED: &str = "lookup_sha256 IS NOT NULL
         OR (CASE WHEN json_valid(submission) THEN json_extract(submission, '$.lookup_sha256')
             END) != 'derived-from-the-data-key'";
    let any: bool = conn
        .query_row(
            &format!("SELECT EXISTS(SELECT 1 FROM dossiers WHERE {STORED})"),
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
    // A row with a hash in its column had it in its submission too (one transaction wrote
    // both); one with neither is from before the secret and keeps none.
    let scrubbed = tx
        .execute(
            &format!(
                "UPDATE dossiers SET lookup_sha256 = NULL,
                   submission = CASE WHEN NOT json_valid(submission)
                                       OR json_extract(submission, '$.lookup_sha256') IS NULL
                                     THEN submission
                                     ELSE json_set(submission, '$.lookup_sha256', ?1) END
                 WHERE {STORED}"
            ),
            params![DERIVED],
        )
        .map_err(&db)?;
    tx.commit().map_err(&db)?;
    crate::applicant::checkpoint(conn, db_path)?;
    tracing::info!(
        scrubbed,
        "removed stored lookup hashes (derived at delivery now)"
    );
    Ok(scrubbed)
}
