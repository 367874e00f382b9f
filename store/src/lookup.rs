//! The receipt's lookup secret on the kiosk (issue 14, item 2): derived, never stored.
//!
//! The secret of a dossier is the first 40 bits of the data key's derivation for the purpose
//! `receipt-lookup-secret` over the dossier code, so a reprint (remote or at the counter) prints
//! the same secret without the database ever holding it; the `dossiers` row keeps only its hash
//! (`lookup_sha256`, the same hash the gateway receives). The status last learnt from the
//! gateway is kept beside it for lookups while offline. Offline, the cached status of a dossier
//! is shown only to whoever shows the secret, the rule the gateway applies online.

use motcua_domain::lookup_secret::{hashes_equal, lookup_hash, LookupSecret};
use rusqlite::{params, OptionalExtension};

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::wire::DossierStatus;

use crate::{DataKey, Store, StoreError, StoreResult};

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

/// The schema migration of lookup hashes.
pub(crate) const MIGRATION: &str = "ALTER TABLE dossiers ADD COLUMN lookup_sha256 TEXT;";

/// The secret of `code` under `key`.
fn secret_of(key: &DataKey, code: &str) -> LookupSecret {
    let d = key.derive(PURPOSE, code.as_bytes());
    LookupSecret::from_bytes([d[0], d[1], d[2], d[3], d[4]])
}

/// The hash of `code`'s lookup secret under `key`, as stored and sent to the gateway.
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
        let stored: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT lookup_sha256 FROM dossiers WHERE code = ?1",
                [code],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?;
        let typed = lookup_hash(code, secret);
        let stored = stored.flatten();
        let equal = hashes_equal(&typed, stored.as_deref().unwrap_or_default());
        if !equal || stored.is_none() {
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

/// Records the hash of a dossier being stored, inside its transaction.
pub(crate) fn record_hash(
    tx: &rusqlite::Transaction<'_>,
    code: &str,
    hash: &str,
) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE dossiers SET lookup_sha256 = ?1 WHERE code = ?2",
        params![hash, code],
    )
}
