//! Status lookups with the receipt's secret (issue 14, item 2), decided once for both backends:
//! the schema (the hash each dossier was delivered with, and failed lookups), the statements,
//! the limits on failed lookups, and the rule that makes a wrong secret, a dossier delivered
//! without a hash, an unknown code and another site's code one and the same answer.
//!
//! The two backends run the statements in `lookup_backends`.
//!
//! Failures are counted in the database, not in memory, so the limits hold across gateway
//! instances behind a load balancer. The count and the decision are not one transaction: two
//! instances racing may each let one more try through, which the limits' sizes absorb.

use super::Store;
use crate::GatewayError;
use motcua_domain::dossier::DossierCode;
use motcua_domain::lookup_secret::{hashes_equal, lookup_hash, LookupSecret};
use motcua_domain::wire::DossierStatusView;

/// Schema of status lookups: the hash each dossier was delivered with (`NULL` for kiosks older
/// than the secret: such a dossier answers lookups as unknown), and one row per failed lookup
/// per scope (`device:<id>`, `code:<code>`), pruned past the longest window.
pub(crate) const MIGRATION: &str = r#"
ALTER TABLE dossiers ADD COLUMN lookup_sha256 TEXT;
CREATE TABLE lookup_failures (
    scope TEXT NOT NULL,
    failed_ms BIGINT NOT NULL
);
CREATE INDEX lookup_failures_by_scope ON lookup_failures(scope, failed_ms);
"#;

/// `$1` hash, `$2` code: records the hash a dossier was delivered with (an ingest step).
pub(super) const LOOKUP_HASH_SET: &str = "UPDATE dossiers SET lookup_sha256 = $1 WHERE code = $2";
/// `$1` code: its site and its hash.
pub(super) const LOOKUP_ROW: &str =
    "SELECT agency_code, lookup_sha256 FROM dossiers WHERE code = $1";
/// `$1` scope, `$2` start of the window (ms): failures in it, and the oldest.
pub(super) const FAILURES_SINCE: &str = "SELECT COUNT(*), MIN(failed_ms) FROM lookup_failures
     WHERE scope = $1 AND failed_ms > $2";
/// `$1` scope, `$2` now (ms).
pub(super) const FAILURE_INSERT: &str =
    "INSERT INTO lookup_failures (scope, failed_ms) VALUES ($1, $2)";
/// `$1` oldest time still in a window (ms).
pub(super) const FAILURES_PRUNE: &str = "DELETE FROM lookup_failures WHERE failed_ms <= $1";

/// How many failed lookups are allowed, per device and per code, in their windows. Once over,
/// even the right secret is refused until the oldest failure leaves the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupLimits {
    /// Failures of one device allowed in `device_window_s`.
    pub per_device: i64,
    /// Window of the device's count, seconds.
    pub device_window_s: i64,
    /// Failures on one code (from any device) allowed in `code_window_s`.
    pub per_code: i64,
    /// Window of the code's count, seconds.
    pub code_window_s: i64,
}

impl Default for LookupLimits {
    /// 20 failures per device per 10 minutes (a kiosk where citizens mistype often), 5 per code
    /// per hour (a citizen's own typos; an attacker gets 5 tries per hour out of 2^40).
    fn default() -> Self {
        Self {
            per_device: 20,
            device_window_s: 600,
            per_code: 5,
            code_window_s: 3600,
        }
    }
}

/// Whose failures are over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitedBy {
    Device,
    Code,
}

/// The answer to a status lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookupOutcome {
    /// The right secret for a dossier of the device's site (documents not included).
    Found(Box<DossierStatusView>),
    /// Wrong secret, no hash stored, unknown code, another site's code: one answer.
    NotFound,
    /// Too many failures; retry after this many seconds.
    TooMany { retry_after_s: i64, by: LimitedBy },
}

/// Hash compared when the dossier has none (or is unknown), so every lookup hashes and compares
/// once: a miss takes the time of a hit.
const NO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether the typed secret opens this dossier for a device of `site`: its site, a stored hash,
/// and the hash of (code, secret) equal to it. The hash is computed and compared in every case.
fn opens(code: &str, secret: &str, site: &str, row: Option<&(String, Option<String>)>) -> bool {
    let parsed = LookupSecret::parse(secret);
    let typed = lookup_hash(
        code,
        &parsed.unwrap_or_else(|_| LookupSecret::from_bytes([0; 5])),
    );
    let stored = row.and_then(|r| r.1.as_deref()).unwrap_or(NO_HASH);
    let equal = hashes_equal(&typed, stored);
    let at_site = row.is_some_and(|r| r.0 == site);
    let has_hash = row.is_some_and(|r| r.1.is_some());
    equal & at_site & has_hash & parsed.is_ok()
}

/// Seconds until a scope with `count` failures since the window's start, the oldest at
/// `oldest_ms`, may try again; `None` while under the limit.
fn retry_after(
    count: i64,
    oldest_ms: Option<i64>,
    limit: i64,
    window_s: i64,
    now_ms: i64,
) -> Option<i64> {
    (count >= limit).then(|| {
        let until = oldest_ms.unwrap_or(now_ms) + window_s * 1000;
        ((until - now_ms + 999) / 1000).max(1)
    })
}

impl Store {
    /// A device's status lookup with a receipt's secret (see the module).
    pub(crate) async fn lookup_status(
        &self,
        device_id: &str,
        site: &str,
        code: &str,
        secret: &str,
        now_ms: i64,
        limits: &LookupLimits,
    ) -> Result<LookupOutcome, GatewayError> {
        let code = DossierCode::parse(code.trim())
            .map_or_else(|_| code.trim().to_string(), |c| c.to_string());
        let device_scope = format!("device:{device_id}");
        let code_scope = format!("code:{code}");
        for (scope, limit, window_s, by) in [
            (
                &device_scope,
                limits.per_device,
                limits.device_window_s,
                LimitedBy::Device,
            ),
            (
                &code_scope,
                limits.per_code,
                limits.code_window_s,
                LimitedBy::Code,
            ),
        ] {
            let since = now_ms - window_s * 1000;
            let (count, oldest) = match self {
                Store::Sqlite(s) => s.failures_since(scope, since).await?,
                Store::Postgres(s) => s.failures_since(scope, since).await?,
            };
            if let Some(retry_after_s) = retry_after(count, oldest, limit, window_s, now_ms) {
                return Ok(LookupOutcome::TooMany { retry_after_s, by });
            }
        }
        let row = match self {
            Store::Sqlite(s) => s.lookup_row(&code).await?,
            Store::Postgres(s) => s.lookup_row(&code).await?,
        };
        if opens(&code, secret, site, row.as_ref()) {
            if let Some(mut view) = self.dossier_status(&code).await? {
                view.documents.clear();
                view.digitized.clear();
                return Ok(LookupOutcome::Found(Box::new(view)));
            }
        }
        let prune = now_ms - limits.device_window_s.max(limits.code_window_s) * 1000;
        let scopes = [device_scope, code_scope];
        match self {
            Store::Sqlite(s) => s.record_failure(&scopes, now_ms, prune).await?,
            Store::Postgres(s) => s.record_failure(&scopes, now_ms, prune).await?,
        }
        Ok(LookupOutcome::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_prepares_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .expect("schema");
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).expect("migration");
        }
        for sql in [
            LOOKUP_HASH_SET,
            LOOKUP_ROW,
            FAILURES_SINCE,
            FAILURE_INSERT,
            FAILURES_PRUNE,
        ] {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(stmt.parameter_name(i), Some(format!("${i}").as_str()));
            }
        }
    }

    #[test]
    fn only_the_right_secret_at_the_right_site_with_a_stored_hash_opens() {
        let code = "S1-261123-0001";
        let secret = LookupSecret::parse("7KQ2-M9XD").unwrap();
        let row = ("S1".to_string(), Some(lookup_hash(code, &secret)));
        assert!(opens(code, "7kq2 m9xd", "S1", Some(&row)));
        assert!(!opens(code, "7KQ2-M9XE", "S1", Some(&row)));
        assert!(!opens(code, "not a secret", "S1", Some(&row)));
        assert!(!opens(code, "7KQ2-M9XD", "S2", Some(&row)));
        assert!(!opens(code, "7KQ2-M9XD", "S1", Some(&("S1".into(), None))));
        assert!(!opens(code, "7KQ2-M9XD", "S1", None));
        // The all-zero secret never opens a dossier without a hash either.
        assert!(!opens(code, "0000-0000", "S1", Some(&("S1".into(), None))));
    }

    #[test]
    fn retry_after_counts_from_the_oldest_failure_in_the_window() {
        assert_eq!(retry_after(4, Some(0), 5, 3600, 1_000), None);
        assert_eq!(retry_after(5, Some(0), 5, 3600, 1_000), Some(3599));
        assert_eq!(retry_after(5, Some(0), 5, 3600, 3_599_999), Some(1));
    }
}
