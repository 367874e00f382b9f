//! The uplink's pace: the retry backoff, and the heartbeat that tells a waiting uplink from a
//! hung one.

use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

/// How long a working uplink may go without a beat: while it waits on the network it beats
/// every second ([`while_beating`]); only synchronous store work holds the beats up (SQLite's
/// busy timeout is 10 s, garbage collection deletes files). A supervisor that hears nothing
/// for longer may take the uplink for hung.
pub const QUIET_ALLOWANCE: Duration = Duration::from_secs(30);

/// Runs `work`, beating every second while it is pending: a request that waits on the network
/// (each bounded by its time limit) is waiting, not hanging; only a task that is no longer
/// polled, stuck in a blocking call, stops the beats. Gives up (`None`) when shutdown comes, so
/// SIGTERM never waits for a slow upload.
pub(crate) async fn while_beating<T>(
    work: impl std::future::Future<Output = T>,
    heartbeat: Option<Heartbeat>,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<T> {
    tokio::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut watching = !*shutdown.borrow();
    if !watching {
        return None;
    }
    loop {
        tokio::select! {
            out = &mut work => return Some(out),
            _ = tick.tick() => {
                if let Some(beat) = &heartbeat {
                    beat();
                }
            }
            changed = shutdown.changed(), if watching => match changed {
                Ok(()) if *shutdown.borrow() => return None,
                Ok(()) => {}
                // The sender is gone: no shutdown can come any more; finish the work.
                Err(_) => watching = false,
            },
        }
    }
}

/// The delay before retry number `attempts + 1`: doubling from `initial` up to `max`, with the
/// upper half jittered so that a fleet coming back online does not retry in lockstep.
pub fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX));
    let capped = exp.min(max);
    let half = capped / 2;
    half + rand::rng().random_range(Duration::ZERO..=half)
}

/// Called whenever the uplink shows progress (a loop turn, a request answered or timed out,
/// a second of waiting), so a supervisor can tell a working uplink from a hung one.
pub type Heartbeat = std::sync::Arc<dyn Fn() + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_stays_capped_and_jitters() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for attempts in 0..40 {
            let d = backoff(attempts, initial, max);
            let cap = (initial * 2u32.pow(attempts.min(10))).min(max);
            assert!(
                d >= cap / 2 && d <= cap,
                "attempt {attempts}: {d:?} vs cap {cap:?}"
            );
        }
        let samples: std::collections::HashSet<_> =
            (0..20).map(|_| backoff(5, initial, max)).collect();
        assert!(samples.len() > 1, "backoff must be jittered");
    }
}
