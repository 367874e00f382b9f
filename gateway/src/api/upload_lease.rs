//! The lease of the one request allowed to change an upload at a time, held in the database
//! (see `crate::store`'s `uploads`) so that it holds across gateway instances: taken by
//! compare-and-set, renewed in the background while the request runs, released at its end,
//! and left to expire if the gateway holding it dies.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::state::AppState;
use crate::GatewayError;

/// How often a busy lease is tried again while a request waits for it.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// A held lease; [`Lease::release`] gives it up (dropping it only stops the renewal, and the
/// lease then expires on its own).
pub(super) struct Lease {
    state: AppState,
    id: String,
    holder: String,
    renewer: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

impl Lease {
    /// Takes the lease of upload `id` now, or `None` if another request holds it (or the
    /// upload finished or went).
    pub(super) async fn take(state: &AppState, id: &str) -> Result<Option<Self>, GatewayError> {
        let holder = random_token();
        let ttl = state.0.limits.upload_lease;
        let now = chrono::Utc::now().timestamp_millis();
        if !state
            .0
            .store
            .take_lease(id, &holder, now, now.saturating_add(millis(ttl)))
            .await?
        {
            return Ok(None);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = tokio::spawn(renew(
            state.clone(),
            id.to_string(),
            holder.clone(),
            Arc::clone(&lost),
        ));
        Ok(Some(Self {
            state: state.clone(),
            id: id.to_string(),
            holder,
            renewer,
            lost,
        }))
    }

    /// Takes the lease, waiting up to `patience` for a running request to end (a kiosk that
    /// lost its connection and comes back finds its previous PATCH still closing).
    pub(super) async fn wait(
        state: &AppState,
        id: &str,
        patience: Duration,
    ) -> Result<Option<Self>, GatewayError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(lease) = Self::take(state, id).await? {
                return Ok(Some(lease));
            }
            if tokio::time::Instant::now() + RETRY_EVERY > deadline {
                return Ok(None);
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }

    /// The holder token (in segment keys and every compare-and-set).
    pub(super) fn holder(&self) -> &str {
        &self.holder
    }

    /// Whether a renewal found the lease taken by another request (its writes would be
    /// refused anyway; this only lets the request stop early).
    pub(super) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Gives the lease up. A failure is only logged: the lease then expires on its own.
    pub(super) async fn release(self) {
        self.renewer.abort();
        if let Err(e) = self
            .state
            .0
            .store
            .release_lease(&self.id, &self.holder)
            .await
        {
            tracing::warn!(upload = %self.id, error = %e, "an upload's lease was not released; it expires on its own");
        }
    }
}

/// Renews the lease every third of its lifetime until aborted or lost.
async fn renew(state: AppState, id: String, holder: String, lost: Arc<AtomicBool>) {
    let ttl = state.0.limits.upload_lease;
    let every = (ttl / 3).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        let until = chrono::Utc::now()
            .timestamp_millis()
            .saturating_add(millis(ttl));
        match state.0.store.renew_lease(&id, &holder, until).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(upload = %id, "an upload's lease was taken over by another request");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            // The next renewal tries again; meanwhile the lease may lapse, and then the
            // request's next write is refused rather than trusted.
            Err(e) => {
                tracing::warn!(upload = %id, error = %e, "an upload's lease could not be renewed")
            }
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// 128 random bits, hex.
pub(super) fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
