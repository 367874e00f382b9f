//! Software releases the gateway rolls out (`gateway release …`): one row per published
//! version with its signed manifest and its rollout state, and one row per device and version
//! with how far that device got (offered, downloaded, installed, committed, rolled back).
//!
//! The package itself is an object in the gateway's blob storage (object store or local
//! files), `releases/<sha256>.deb`; the row says which.

use crate::GatewayError;

/// Migration 14: releases and what the devices reported of them.
pub(super) const MIGRATION: &str = "
CREATE TABLE releases (
    version TEXT PRIMARY KEY,
    package TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    manifest TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    state_reason TEXT
);
CREATE TABLE release_reports (
    version TEXT NOT NULL,
    device_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    detail TEXT,
    reported_at BIGINT NOT NULL,
    PRIMARY KEY (version, device_id)
);
";

/// `$1` version, `$2` package, `$3` sha256, `$4` size, `$5` signed manifest, `$6` published
/// at (Unix s): a new release, rolling; none changed if the version exists.
const RELEASE_INSERT: &str = "INSERT INTO releases
    (version, package, sha256, size, manifest, published_at, state)
    VALUES ($1, $2, $3, $4, $5, $6, 'rolling') ON CONFLICT (version) DO NOTHING";
/// Every release, newest first, with the devices at each stage.
const RELEASE_LIST: &str = "SELECT r.version, r.package, r.sha256, r.size, r.published_at,
    r.state, r.state_reason,
    (SELECT COUNT(*) FROM release_reports p WHERE p.version = r.version),
    (SELECT COUNT(*) FROM release_reports p WHERE p.version = r.version AND p.stage = 'committed'),
    (SELECT COUNT(*) FROM release_reports p WHERE p.version = r.version AND p.stage = 'rolled_back'),
    (SELECT COUNT(*) FROM release_reports p WHERE p.version = r.version
        AND p.stage IN ('downloaded', 'installed', 'committed', 'rolled_back')),
    (SELECT COUNT(*) FROM release_reports p WHERE p.version = r.version
        AND p.stage IN ('installed', 'committed', 'rolled_back')),
    (SELECT COUNT(*) FROM release_reports p WHERE p.version = r.version AND p.stage = 'failed')
    FROM releases r ORDER BY r.published_at DESC, r.version DESC";
/// `$1` new state, `$2` reason, `$3` version, `$4` the state it must be in now: an aborted
/// release stays aborted.
const RELEASE_SET_STATE: &str = "UPDATE releases SET state = $1, state_reason = $2
    WHERE version = $3 AND state = $4";

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutState {
    /// Offered to devices as its waves come.
    Rolling,
    /// Offered to no more devices until resumed (by a technician, or by itself on rollbacks).
    Paused,
    /// Withdrawn for good: offered to nobody again.
    Aborted,
}

impl RolloutState {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rolling => "rolling",
            Self::Paused => "paused",
            Self::Aborted => "aborted",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Self> {
        [Self::Rolling, Self::Paused, Self::Aborted]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A release to record.
#[derive(Debug, Clone)]
pub struct NewRelease {
    /// Debian version.
    pub version: String,
    /// Debian package name.
    pub package: String,
    /// SHA-256 of the `.deb`, lowercase hex (its blob's name).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The signed manifest text (`MOTCUA-RELEASE1.…`).
    pub manifest: String,
    /// Unix seconds.
    pub published_at: i64,
}

/// A release as listed, with its devices' progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRow {
    /// Debian version.
    pub version: String,
    /// Debian package name.
    pub package: String,
    /// SHA-256 of the `.deb`.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Unix seconds.
    pub published_at: i64,
    /// Where the rollout stands.
    pub state: RolloutState,
    /// Why it was paused or aborted.
    pub state_reason: Option<String>,
    /// Devices it was offered to (every device with a report of it).
    pub devices: u64,
    /// Devices that downloaded it (and may have gone further).
    pub downloaded: u64,
    /// Devices that installed it (committed, rolled back or still proving healthy).
    pub installed: u64,
    /// Devices that refused it before installing (a package that did not check out).
    pub failed: u64,
    /// Devices that committed it.
    pub committed: u64,
    /// Devices that rolled it back.
    pub rolled_back: u64,
}

type RawRow = (
    String,
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    [i64; 6],
);

fn release_row(raw: RawRow) -> Result<ReleaseRow, GatewayError> {
    let (version, package, sha256, size, published_at, state, state_reason, counts) = raw;
    let [devices, ok, back, downloaded, installed, failed] = counts;
    let state = RolloutState::parse(&state).ok_or_else(|| {
        GatewayError::Unreadable(format!("release {version} has an unknown state {state:?}"))
    })?;
    let count = |n: i64| n.max(0).unsigned_abs();
    Ok(ReleaseRow {
        version,
        package,
        sha256,
        size: count(size),
        published_at,
        state,
        state_reason,
        devices: count(devices),
        downloaded: count(downloaded),
        installed: count(installed),
        failed: count(failed),
        committed: count(ok),
        rolled_back: count(back),
    })
}

impl super::Store {
    /// Records a published release; `false` if that version was published before (nothing is
    /// changed: a version names one package for good).
    pub async fn publish_release(&self, r: &NewRelease) -> Result<bool, GatewayError> {
        let size = super::value::sql_int(r.size);
        let changed = match self {
            super::Store::Sqlite(s) => {
                let r = r.clone();
                s.call("record a release", move |c| {
                    c.execute(
                        RELEASE_INSERT,
                        rusqlite::params![
                            r.version,
                            r.package,
                            r.sha256,
                            size,
                            r.manifest,
                            r.published_at
                        ],
                    )
                })
                .await?
            }
            super::Store::Postgres(s) => {
                let row_err = s.err("record a release");
                let n = s
                    .client()
                    .await?
                    .execute(
                        RELEASE_INSERT,
                        &[
                            &r.version,
                            &r.package,
                            &r.sha256,
                            &size,
                            &r.manifest,
                            &r.published_at,
                        ],
                    )
                    .await
                    .map_err(row_err)?;
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        };
        Ok(changed == 1)
    }

    /// Every release, newest first.
    pub async fn releases(&self) -> Result<Vec<ReleaseRow>, GatewayError> {
        let raw: Vec<RawRow> = match self {
            super::Store::Sqlite(s) => {
                s.call("list the releases", |c| {
                    c.prepare(RELEASE_LIST)?
                        .query_map([], |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                                r.get(6)?,
                                [
                                    r.get(7)?,
                                    r.get(8)?,
                                    r.get(9)?,
                                    r.get(10)?,
                                    r.get(11)?,
                                    r.get(12)?,
                                ],
                            ))
                        })?
                        .collect()
                })
                .await?
            }
            super::Store::Postgres(s) => {
                let read = s.err("list the releases");
                s.client()
                    .await?
                    .query(RELEASE_LIST, &[])
                    .await
                    .map_err(&read)?
                    .iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0)?,
                            r.try_get(1)?,
                            r.try_get(2)?,
                            r.try_get(3)?,
                            r.try_get(4)?,
                            r.try_get(5)?,
                            r.try_get(6)?,
                            [
                                r.try_get(7)?,
                                r.try_get(8)?,
                                r.try_get(9)?,
                                r.try_get(10)?,
                                r.try_get(11)?,
                                r.try_get(12)?,
                            ],
                        ))
                    })
                    .collect::<Result<_, tokio_postgres::Error>>()
                    .map_err(read)?
            }
        };
        raw.into_iter().map(release_row).collect()
    }

    /// Moves a release from `from` to `to` with a reason; `false` if it is not in `from` (or
    /// does not exist).
    pub async fn set_release_state(
        &self,
        version: &str,
        from: RolloutState,
        to: RolloutState,
        reason: Option<&str>,
    ) -> Result<bool, GatewayError> {
        let (version, reason) = (version.to_owned(), reason.map(str::to_owned));
        let changed = match self {
            super::Store::Sqlite(s) => {
                s.call("change a release's state", move |c| {
                    c.execute(
                        RELEASE_SET_STATE,
                        rusqlite::params![to.as_str(), reason, version, from.as_str()],
                    )
                })
                .await?
            }
            super::Store::Postgres(s) => {
                let row_err = s.err("change a release's state");
                let n = s
                    .client()
                    .await?
                    .execute(
                        RELEASE_SET_STATE,
                        &[&to.as_str(), &reason, &version, &from.as_str()],
                    )
                    .await
                    .map_err(row_err)?;
                usize::try_from(n).unwrap_or(usize::MAX)
            }
        };
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    /// SQLite binds `$n` by order of first appearance: each statement must number its
    /// placeholders in that order to mean on SQLite what it means on PostgreSQL.
    #[test]
    fn the_statements_prepare_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .expect("schema");
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).expect("migration");
        }
        for sql in [
            super::RELEASE_INSERT,
            super::RELEASE_LIST,
            super::RELEASE_SET_STATE,
            super::super::release_reports::STATEMENTS[0],
            super::super::release_reports::STATEMENTS[1],
            super::super::release_reports::STATEMENTS[2],
            super::super::release_reports::STATEMENTS[3],
            super::super::release_reports::STATEMENTS[4],
            super::super::release_reports::STATEMENTS[5],
        ] {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "{sql}"
                );
            }
        }
    }
}
