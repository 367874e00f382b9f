//! What devices reported of a release (`release_reports`, made by migration 14 in
//! [`super::releases`]): the gateway records `offered` itself when it first offers a release
//! to a device, the device reports the stages after it, forward only. Which release to offer
//! is decided in `crate::api::releases` from [`OfferCandidate`]s.

use motcua_domain::wire::ReleaseStage;

use super::queries::Columns;
use super::releases::RolloutState;
use super::value::Value;
use crate::GatewayError;

/// `$1` package: its releases that are not aborted.
const CANDIDATES: &str = "SELECT version, state, manifest, sha256, size FROM releases
    WHERE package = $1 AND state <> 'aborted'";
/// `$1` version: the release's package facts.
const RELEASE_ONE: &str = "SELECT version, state, manifest, sha256, size FROM releases
    WHERE version = $1";
/// `$1` device: the stage it reached with each release.
const STAGES_OF_DEVICE: &str = "SELECT version, stage FROM release_reports WHERE device_id = $1";
/// `$1` version, `$2` device, `$3` stage, `$4` detail (empty: none), `$5` when (Unix s): the
/// first report.
const STAGE_INSERT: &str = "INSERT INTO release_reports
    (version, device_id, stage, detail, reported_at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (version, device_id) DO NOTHING";
/// `$1` new stage, `$2` detail, `$3` when, `$4` version, `$5` device, `$6` the stage it must
/// be at now (so two racing reports cannot both move it).
const STAGE_ADVANCE: &str = "UPDATE release_reports SET stage = $1, detail = $2, reported_at = $3
    WHERE version = $4 AND device_id = $5 AND stage = $6";
/// `$1` version: devices that committed it and devices that rolled it back.
const OUTCOMES: &str = "SELECT
    (SELECT COUNT(*) FROM release_reports WHERE version = $1 AND stage = 'committed'),
    (SELECT COUNT(*) FROM release_reports WHERE version = $1 AND stage = 'rolled_back')";

/// A release that may be offered: not aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferCandidate {
    /// Debian version.
    pub version: String,
    /// Rolling or paused.
    pub state: RolloutState,
    /// The signed manifest text.
    pub manifest: String,
    /// SHA-256 of the package (its blob's name).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Reads one row of a statement here, on either backend (a trait, not a generic function,
/// so the reader is the same for every lifetime of the backends' rows).
trait RowReader {
    type Out: Send + 'static;
    fn read<R: Columns>(r: &R) -> Result<Self::Out, R::Error>;
}

/// A release's row: version, state, manifest, sha256, size.
struct CandidateRow;
impl RowReader for CandidateRow {
    type Out = (String, String, String, String, i64);
    fn read<R: Columns>(r: &R) -> Result<Self::Out, R::Error> {
        Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?, r.int(4)?))
    }
}

/// Two texts (version, stage).
struct StageRow;
impl RowReader for StageRow {
    type Out = (String, String);
    fn read<R: Columns>(r: &R) -> Result<Self::Out, R::Error> {
        Ok((r.text(0)?, r.text(1)?))
    }
}

/// Two counts.
struct PairRow;
impl RowReader for PairRow {
    type Out = (i64, i64);
    fn read<R: Columns>(r: &R) -> Result<Self::Out, R::Error> {
        Ok((r.int(0)?, r.int(1)?))
    }
}

fn to_candidate(
    raw: (String, String, String, String, i64),
) -> Result<OfferCandidate, GatewayError> {
    let (version, state, manifest, sha256, size) = raw;
    let state = RolloutState::parse(&state).ok_or_else(|| {
        GatewayError::Unreadable(format!("release {version} has an unknown state {state:?}"))
    })?;
    Ok(OfferCandidate {
        version,
        state,
        manifest,
        sha256,
        size: size.max(0).unsigned_abs(),
    })
}

fn to_stage(word: &str) -> Result<ReleaseStage, GatewayError> {
    ReleaseStage::parse(word)
        .ok_or_else(|| GatewayError::Unreadable(format!("unknown release stage {word:?}")))
}

/// What became of a device's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageChange {
    /// Recorded: the device is at the new stage now.
    Recorded,
    /// The device was at that stage already (a retry after a lost answer): nothing changed.
    Repeated,
    /// Not after the stage the device is at (stages only go forward; final ones stay).
    Refused {
        /// Where the device is.
        current: ReleaseStage,
    },
}

impl super::Store {
    /// Rows of `sql` with `params`, each read by `Rd`.
    async fn release_rows<Rd: RowReader>(
        &self,
        action: &'static str,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<Vec<Rd::Out>, GatewayError> {
        match self {
            super::Store::Sqlite(s) => {
                s.call(action, move |c| {
                    c.prepare(sql)?
                        .query_map(rusqlite::params_from_iter(params.iter()), |r| Rd::read(r))?
                        .collect()
                })
                .await
            }
            super::Store::Postgres(s) => {
                let read = s.err(action);
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                s.client()
                    .await?
                    .query(sql, &refs)
                    .await
                    .map_err(&read)?
                    .iter()
                    .map(|r| Rd::read(r))
                    .collect::<Result<_, _>>()
                    .map_err(read)
            }
        }
    }

    /// Runs a change; the rows it changed.
    async fn release_execute(
        &self,
        action: &'static str,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<usize, GatewayError> {
        match self {
            super::Store::Sqlite(s) => {
                s.call(action, move |c| {
                    c.execute(sql, rusqlite::params_from_iter(params.iter()))
                })
                .await
            }
            super::Store::Postgres(s) => {
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                let n = s
                    .client()
                    .await?
                    .execute(sql, &refs)
                    .await
                    .map_err(s.err(action))?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// The releases of `package` that are not aborted, in no order (the caller orders them by
    /// Debian version).
    pub async fn offer_candidates(
        &self,
        package: &str,
    ) -> Result<Vec<OfferCandidate>, GatewayError> {
        self.release_rows::<CandidateRow>(
            "read the releases to offer",
            CANDIDATES,
            vec![package.into()],
        )
        .await?
        .into_iter()
        .map(to_candidate)
        .collect()
    }

    /// One release by version, aborted or not (`None`: no such version).
    pub async fn release(&self, version: &str) -> Result<Option<OfferCandidate>, GatewayError> {
        self.release_rows::<CandidateRow>("read a release", RELEASE_ONE, vec![version.into()])
            .await?
            .into_iter()
            .next()
            .map(to_candidate)
            .transpose()
    }

    /// The stage `device` reached with each release it was offered.
    pub async fn device_release_stages(
        &self,
        device: &str,
    ) -> Result<Vec<(String, ReleaseStage)>, GatewayError> {
        self.release_rows::<StageRow>(
            "read a device's releases",
            STAGES_OF_DEVICE,
            vec![device.into()],
        )
        .await?
        .into_iter()
        .map(|(v, s)| Ok((v, to_stage(&s)?)))
        .collect()
    }

    /// Records that `device` reached `stage` with `version` (`offered` only if the device has
    /// no report yet). Stages only go forward: see [`StageChange`].
    pub async fn record_release_stage(
        &self,
        version: &str,
        device: &str,
        stage: ReleaseStage,
        detail: Option<&str>,
        now: i64,
    ) -> Result<StageChange, GatewayError> {
        let detail = detail.map(str::to_owned);
        let inserted = self
            .release_execute(
                "record a release report",
                STAGE_INSERT,
                vec![
                    version.into(),
                    device.into(),
                    stage.as_str().into(),
                    Value::Text(detail.clone().unwrap_or_default()),
                    now.into(),
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(StageChange::Recorded);
        }
        // A report exists: move it forward from where it is, if that is allowed.
        for _ in 0..3 {
            let current = self
                .device_release_stages(device)
                .await?
                .into_iter()
                .find_map(|(v, s)| (v == version).then_some(s));
            let Some(current) = current else {
                continue;
            };
            if current == stage {
                return Ok(StageChange::Repeated);
            }
            if !current.may_become(stage) {
                return Ok(StageChange::Refused { current });
            }
            let moved = self
                .release_execute(
                    "record a release report",
                    STAGE_ADVANCE,
                    vec![
                        stage.as_str().into(),
                        Value::Text(detail.clone().unwrap_or_default()),
                        now.into(),
                        version.into(),
                        device.into(),
                        current.as_str().into(),
                    ],
                )
                .await?;
            if moved == 1 {
                return Ok(StageChange::Recorded);
            }
        }
        Err(GatewayError::Unreadable(format!(
            "the report of {device} on release {version} kept changing while it was recorded"
        )))
    }

    /// Devices that committed `version`, and devices that rolled it back.
    pub async fn release_outcomes(&self, version: &str) -> Result<(u64, u64), GatewayError> {
        let rows = self
            .release_rows::<PairRow>("count a release's outcomes", OUTCOMES, vec![version.into()])
            .await?;
        let (committed, rolled_back) = rows.into_iter().next().unwrap_or_default();
        Ok((
            committed.max(0).unsigned_abs(),
            rolled_back.max(0).unsigned_abs(),
        ))
    }
}

/// Every statement here, for the placeholder-order test in [`super::releases`].
#[cfg(test)]
pub(super) const STATEMENTS: [&str; 6] = [
    CANDIDATES,
    RELEASE_ONE,
    STAGES_OF_DEVICE,
    STAGE_INSERT,
    STAGE_ADVANCE,
    OUTCOMES,
];
