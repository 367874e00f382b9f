//! The periodic sweep: removes uploads left idle past the expiry (their rows and their
//! objects, and objects no unfinished upload names), blanks the applicant data of dossiers
//! finished longer ago than the retention (then empties SQLite's write-ahead log, so the
//! blanked data is not kept there), and drops rate and quota counters nobody reads any more.
//!
//! Every gateway on one database sweeps; the statements are idempotent (a row another gateway
//! removed first is simply gone), so nothing needs electing. An upload some PATCH on any
//! gateway is writing to is skipped (its lease runs) and taken at a later sweep.

use std::time::Duration;

use super::state::{now_vn, AppState};
use crate::GatewayError;

/// The running sweep; dropping it stops the sweep.
pub(crate) struct Sweeper(tokio::task::JoinHandle<()>);

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the sweep: once right away, then every `sweep_interval`.
pub(crate) fn spawn_sweeper(state: AppState) -> Sweeper {
    let every = state.0.limits.sweep_interval;
    Sweeper(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sweep(&state).await {
                tracing::warn!(error = %e, "the sweep failed; it runs again at the next interval");
            }
        }
    }))
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// One sweep.
pub(crate) async fn sweep(state: &AppState) -> Result<(), GatewayError> {
    let limits = &state.0.limits;
    let store = &state.0.store;
    let now = chrono::Utc::now().timestamp();
    // An object store that is down (S3 unreachable) must not hold up the applicant retention
    // below: its cleanup is logged and tried again at the next sweep.
    match sweep_uploads(state, now).await {
        Ok(0) => {}
        Ok(expired) => tracing::info!(
            uploads = expired,
            expiry_h = limits.upload_expiry.as_secs() / 3600,
            "removed uploads left idle past the expiry with their objects (or objects no unfinished upload names)"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "expired uploads were not all removed; the next sweep goes on")
        }
    }
    let purged = store
        .purge_applicants(
            now,
            now.saturating_sub(secs(limits.applicant_retention)),
            &now_vn(),
        )
        .await?;
    if purged > 0 {
        tracing::info!(
            dossiers = purged,
            retention_days = limits.applicant_retention.as_secs() / 86_400,
            "blanked the applicant data of dossiers finished longer ago than the retention"
        );
    }
    // At every sweep, not only after a purge: a checkpoint a reader kept from finishing is
    // done at the next one, so no blanked applicant stays in the write-ahead log.
    store.checkpoint_wal().await?;
    let yesterday = (chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset())
        - chrono::Duration::days(1))
    .format("%Y-%m-%d")
    .to_string();
    store
        .prune_counters(
            now.saturating_sub(secs(limits.rate_window).saturating_mul(2)),
            &yesterday,
        )
        .await
}

/// Removes expired uploads and their objects, and objects no unfinished upload names; returns
/// how many uploads (or orphaned object sets) went.
async fn sweep_uploads(state: &AppState, now: i64) -> Result<usize, GatewayError> {
    let limits = &state.0.limits;
    let store = &state.0.store;
    let mut expired = 0;
    for idle in store
        .expired_uploads(now, now.saturating_sub(secs(limits.upload_expiry)))
        .await?
    {
        // The row first, and only if no PATCH (here or on another gateway) moved it since it
        // was read or holds its lease: from then on a HEAD or PATCH answers 404, and a crash
        // before the objects go leaves only objects no upload names (removed below at a later
        // sweep).
        if store.delete_upload(&idle).await? {
            state.0.files.delete_upload(&idle.id).await?;
            expired += 1;
        }
    }
    // Objects of uploads that finished or went, untouched for longer than the expiry.
    let before = chrono::Utc::now() - chrono::Duration::seconds(secs(limits.upload_expiry));
    for id in state.0.files.stale_uploads(before, 1000).await? {
        if !store.upload_open(&id).await? {
            state.0.files.delete_upload(&id).await?;
            expired += 1;
        }
    }
    store.prune_segments().await?;
    Ok(expired)
}
