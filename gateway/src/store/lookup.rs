//! Status lookups with the receipt's secret (issue 14, item 2), decided once for both backends:
//! the schema (what each dossier's hash became under the lookup key, failed lookups), the
//! statements, the limits on failed lookups, and the rule that makes a wrong secret, a dossier
//! delivered without a hash, an unknown code and another site's code one and the same answer.
//!
//! The database holds no value an offline search of the 2^40 secrets could be checked against:
//! each dossier keeps `lookup_mac`, the HMAC of its lookup hash under the gateway's lookup key
//! (`crate::lookup_key`), never the hash itself. Rows stored before migration 11 (or by an older
//! gateway during a rolling upgrade) still hold the plain `lookup_sha256`: `lookup_convert`
//! replaces it by its MAC at every start, and a lookup meanwhile computes the MAC of what it finds.
//!
//! Failures are counted in the database, not in memory, so the limits hold across gateway
//! instances behind a load balancer. Counting, deciding and recording a failure are one
//! transaction that first takes the lock of both scopes (`pg_advisory_xact_lock` on PostgreSQL;
//! `BEGIN IMMEDIATE`, the database's write lock, on SQLite), so two gateways racing on one code
//! cannot both see the count under the limit: no more tries get through than the limit says.
//!
//! The two backends run the statements in `lookup_backends`.

use super::Store;
use crate::lookup_key::LookupKey;
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

/// Migration 11: the keyed form of each dossier's hash (`lookup_mac`; `lookup_sha256` is
/// emptied as rows are converted, see `lookup_convert`), and the fingerprint of the lookup key
/// the rows are keyed with (one row), so a gateway with another key refuses to start.
pub(crate) const MIGRATION_11: &str = r#"
ALTER TABLE dossiers ADD COLUMN lookup_mac TEXT;
CREATE TABLE lookup_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
"#;

/// `$1` MAC, `$2` code: records the keyed hash a dossier was delivered with (an ingest step).
pub(super) const LOOKUP_MAC_SET: &str = "UPDATE dossiers SET lookup_mac = $1 WHERE code = $2";
/// `$1` code: its site, its keyed hash, and its plain hash if not converted yet.
pub(super) const LOOKUP_ROW: &str =
    "SELECT agency_code, lookup_mac, lookup_sha256 FROM dossiers WHERE code = $1";
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

/// MAC compared when the dossier has none (or is unknown), so every lookup computes and compares
/// once: a miss takes the time of a hit.
const NO_MAC: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A dossier as a lookup reads it: its site, its keyed hash, its plain hash if not converted.
pub(super) type LookupRow = (String, Option<String>, Option<String>);

/// One scope of failures and its limit.
#[derive(Debug, Clone)]
pub(super) struct ScopeLimit {
    pub(super) scope: String,
    pub(super) limit: i64,
    pub(super) window_s: i64,
    pub(super) by: LimitedBy,
}

/// What a backend decided in its one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decision {
    /// A scope is over its limit: nothing was looked at.
    TooMany { retry_after_s: i64, by: LimitedBy },
    /// The secret opens the dossier.
    Opened,
    /// It does not: a failure was recorded in both scopes.
    Failed,
}

/// Everything a backend needs to decide a lookup inside its transaction, owned (the SQLite
/// backend runs it on a blocking thread).
pub(super) struct LookupAttempt {
    pub(super) code: String,
    site: String,
    /// The MAC of the typed secret's hash (of an all-zero secret when it does not parse).
    typed_mac: String,
    secret_parsed: bool,
    key: LookupKey,
    /// The device's scope first, then the code's.
    pub(super) scopes: [ScopeLimit; 2],
    pub(super) now_ms: i64,
    pub(super) prune_ms: i64,
}

impl LookupAttempt {
    fn new(
        key: &LookupKey,
        device_id: &str,
        site: &str,
        code: &str,
        secret: &str,
        now_ms: i64,
        limits: &LookupLimits,
    ) -> Self {
        let code = DossierCode::parse(code.trim())
            .map_or_else(|_| code.trim().to_string(), |c| c.to_string());
        let parsed = LookupSecret::parse(secret);
        let typed = lookup_hash(
            &code,
            &parsed.unwrap_or_else(|_| LookupSecret::from_bytes([0; 5])),
        );
        Self {
            scopes: [
                ScopeLimit {
                    scope: format!("device:{device_id}"),
                    limit: limits.per_device,
                    window_s: limits.device_window_s,
                    by: LimitedBy::Device,
                },
                ScopeLimit {
                    scope: format!("code:{code}"),
                    limit: limits.per_code,
                    window_s: limits.code_window_s,
                    by: LimitedBy::Code,
                },
            ],
            code,
            site: site.to_string(),
            typed_mac: key.mac(&typed),
            secret_parsed: parsed.is_ok(),
            key: key.clone(),
            now_ms,
            prune_ms: now_ms - limits.device_window_s.max(limits.code_window_s) * 1000,
        }
    }

    /// Start of a scope's window (ms).
    pub(super) fn since_ms(&self, scope: &ScopeLimit) -> i64 {
        self.now_ms - scope.window_s * 1000
    }

    /// `TooMany` if a scope, with these (count, oldest) failures in its window, is over its
    /// limit (the device's checked first).
    pub(super) fn over_limit(&self, counts: &[(i64, Option<i64>)]) -> Option<Decision> {
        self.scopes
            .iter()
            .zip(counts)
            .find_map(|(s, (count, oldest))| {
                retry_after(*count, *oldest, s.limit, s.window_s, self.now_ms).map(
                    |retry_after_s| Decision::TooMany {
                        retry_after_s,
                        by: s.by,
                    },
                )
            })
    }

    /// Whether the typed secret opens this dossier for a device of the attempt's site: its
    /// site, a stored hash, and the MACs equal. The MAC is compared (in constant time) in every
    /// case.
    pub(super) fn opens(&self, row: Option<&LookupRow>) -> bool {
        let stored = row.and_then(|(_, mac, plain)| {
            mac.clone()
                .or_else(|| plain.as_deref().map(|h| self.key.mac(h)))
        });
        let equal = hashes_equal(&self.typed_mac, stored.as_deref().unwrap_or(NO_MAC));
        let at_site = row.is_some_and(|r| r.0 == self.site);
        equal & at_site & stored.is_some() & self.secret_parsed
    }
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
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn lookup_status(
        &self,
        key: &LookupKey,
        device_id: &str,
        site: &str,
        code: &str,
        secret: &str,
        now_ms: i64,
        limits: &LookupLimits,
    ) -> Result<LookupOutcome, GatewayError> {
        let attempt = LookupAttempt::new(key, device_id, site, code, secret, now_ms, limits);
        let code = attempt.code.clone();
        let decision = match self {
            Store::Sqlite(s) => s.decide_lookup(attempt).await?,
            Store::Postgres(s) => s.decide_lookup(attempt).await?,
        };
        match decision {
            Decision::TooMany { retry_after_s, by } => {
                Ok(LookupOutcome::TooMany { retry_after_s, by })
            }
            Decision::Failed => Ok(LookupOutcome::NotFound),
            Decision::Opened => Ok(match self.dossier_status(&code).await? {
                Some(mut view) => {
                    view.documents.clear();
                    view.digitized.clear();
                    LookupOutcome::Found(Box::new(view))
                }
                None => LookupOutcome::NotFound,
            }),
        }
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
            LOOKUP_MAC_SET,
            LOOKUP_ROW,
            FAILURES_SINCE,
            FAILURE_INSERT,
            FAILURES_PRUNE,
            super::super::lookup_convert::UNCONVERTED,
            super::super::lookup_convert::CONVERT_ROW,
            super::super::lookup_convert::CONVERT_KEY_HASH,
            super::super::lookup_convert::FINGERPRINT_INSERT,
            super::super::lookup_convert::FINGERPRINT_READ,
        ] {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(stmt.parameter_name(i), Some(format!("${i}").as_str()));
            }
        }
    }

    fn attempt(key: &LookupKey, code: &str, secret: &str, site: &str) -> LookupAttempt {
        LookupAttempt::new(key, "K1", site, code, secret, 0, &LookupLimits::default())
    }

    #[test]
    fn only_the_right_secret_at_the_right_site_with_a_stored_hash_opens() {
        let key = LookupKey::from_bytes([7; 32]);
        let code = "S1-261123-0001";
        let secret = LookupSecret::parse("7KQ2-M9XD").unwrap();
        let plain = lookup_hash(code, &secret);
        let keyed: LookupRow = ("S1".into(), Some(key.mac(&plain)), None);
        let legacy: LookupRow = ("S1".into(), None, Some(plain.clone()));
        for row in [&keyed, &legacy] {
            assert!(attempt(&key, code, "7kq2 m9xd", "S1").opens(Some(row)));
            assert!(!attempt(&key, code, "7KQ2-M9XE", "S1").opens(Some(row)));
            assert!(!attempt(&key, code, "not a secret", "S1").opens(Some(row)));
            assert!(!attempt(&key, code, "7KQ2-M9XD", "S2").opens(Some(row)));
        }
        // Under another key the stored MAC does not open.
        let other = LookupKey::from_bytes([8; 32]);
        assert!(!attempt(&other, code, "7KQ2-M9XD", "S1").opens(Some(&keyed)));
        // A stored plain hash compared as if it were the MAC does not open either.
        let confused: LookupRow = ("S1".into(), Some(plain), None);
        assert!(!attempt(&key, code, "7KQ2-M9XD", "S1").opens(Some(&confused)));
        let none: LookupRow = ("S1".into(), None, None);
        assert!(!attempt(&key, code, "7KQ2-M9XD", "S1").opens(Some(&none)));
        assert!(!attempt(&key, code, "7KQ2-M9XD", "S1").opens(None));
        // The all-zero secret never opens a dossier without a hash either.
        assert!(!attempt(&key, code, "0000-0000", "S1").opens(Some(&none)));
    }

    #[test]
    fn the_device_scope_is_checked_before_the_code_scope() {
        let key = LookupKey::from_bytes([7; 32]);
        let a = attempt(&key, "S1-261123-0001", "x", "S1");
        assert_eq!(a.over_limit(&[(0, None), (4, Some(0))]), None);
        assert_eq!(
            a.over_limit(&[(0, None), (5, Some(0))]),
            Some(Decision::TooMany {
                retry_after_s: 3600,
                by: LimitedBy::Code
            })
        );
        assert!(matches!(
            a.over_limit(&[(20, Some(0)), (5, Some(0))]),
            Some(Decision::TooMany {
                by: LimitedBy::Device,
                ..
            })
        ));
    }

    #[test]
    fn retry_after_counts_from_the_oldest_failure_in_the_window() {
        assert_eq!(retry_after(4, Some(0), 5, 3600, 1_000), None);
        assert_eq!(retry_after(5, Some(0), 5, 3600, 1_000), Some(3599));
        assert_eq!(retry_after(5, Some(0), 5, 3600, 3_599_999), Some(1));
    }
}
