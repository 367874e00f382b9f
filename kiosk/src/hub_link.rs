//! The kiosk's link to its centre's hub (issue #18, `[hub]` in the config): the client made
//! from the kiosk's identity files, joining for the fallback block, and the background task of
//! kioskd that joins until it has a block and reports the tickets numbered from it while the
//! hub was unreachable.
//!
//! The task never blocks the citizen's screen: the screen asks the hub itself with short
//! limits and falls back to the block at once. What the task does is catch up: the block
//! first (a kiosk that never reached the hub cannot number a ticket when it goes down), then
//! every offline ticket, oldest first, until the hub has recorded it. Failures wait
//! [`RETRY_FIRST`] doubling to [`RETRY_MAX`] with jitter; once caught up it looks again every
//! [`POLL`].

use std::time::Duration;

use motcua_domain::wire::hub::{HubOfflineTicket, MAX_OFFLINE_TICKETS};
use motcua_store::{HubBlock, Store};
use motcua_uplink::{HubClient, HubError};
use tokio::sync::watch;

use crate::config::{HubSettings, KioskConfig};

/// The first wait after a failure.
pub const RETRY_FIRST: Duration = Duration::from_secs(2);
/// The longest wait after failures.
pub const RETRY_MAX: Duration = Duration::from_secs(120);
/// How often a caught-up kiosk looks for offline tickets to report.
pub const POLL: Duration = Duration::from_secs(30);

/// The hub's client from the kiosk's identity files (its device certificate and the
/// province's CA); an unenrolled kiosk has none ([`HubError::Setup`]).
pub fn hub_client(config: &KioskConfig, hub: &HubSettings) -> Result<HubClient, HubError> {
    let files = config.identity_files();
    let setup = |detail: String| HubError::Setup {
        url: hub.url.clone(),
        detail,
    };
    if !files.is_enrolled() {
        return Err(setup(
            "ki-ốt chưa đăng ký / the kiosk is not enrolled (kioskctl enroll)".into(),
        ));
    }
    let anchor = files.anchor().map_err(|e| setup(e.to_string()))?;
    let device = files.device().map_err(|e| setup(e.to_string()))?;
    HubClient::new(&hub.url, &anchor, &device, hub.device_id.as_deref())
}

/// Whether a rating's transaction is a queue ticket's id (`<area>-YYYYMMDD-<n>@<kiosk>`, what
/// the hub knows), not a dossier code.
pub fn looks_like_ticket_id(transaction: &str) -> bool {
    let (transaction, _) = motcua_domain::ticket::split_rating_qr(transaction);
    let Some((left, kiosk)) = transaction.split_once('@') else {
        return false;
    };
    let mut parts = left.splitn(3, '-');
    let (Some(area), Some(day), Some(number)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    motcua_domain::ticket::validate_service_area(area).is_ok()
        && day.len() == 8
        && day.bytes().all(|b| b.is_ascii_digit())
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !kiosk.is_empty()
}

/// Joins the hub and keeps the block it gave. Returns the block.
pub async fn join(client: &HubClient, store: &mut Store) -> anyhow::Result<HubBlock> {
    let joined = client.join().await?;
    let block = HubBlock {
        first: joined.first,
        last: joined.last,
    };
    if store.save_hub_block(block, motcua_store::vietnam_now())? {
        tracing::info!(
            first = block.first,
            last = block.last,
            hub = client.url(),
            "fallback block from the hub"
        );
    }
    Ok(block)
}

/// Reports every offline ticket not yet recorded, [`MAX_OFFLINE_TICKETS`] a request, and marks
/// those the hub recorded. Returns how many were reported.
pub async fn report_offline(
    client: &HubClient,
    store: &mut Store,
    device_id: &str,
) -> anyhow::Result<usize> {
    let mut reported = 0;
    // Bounded: each round marks its batch or returns the error; a day's tickets are a few
    // hundred, this is ample.
    for _ in 0..1000 {
        let batch = store.unreported_offline_tickets(device_id, MAX_OFFLINE_TICKETS as u32)?;
        if batch.is_empty() {
            break;
        }
        let wire: Vec<HubOfflineTicket> = batch
            .iter()
            .map(|t| HubOfflineTicket {
                area: t.area.clone(),
                number: t.number,
                issued_at: t.issued_at,
                rating_code: t.rating_code.clone(),
            })
            .collect();
        client.report_offline(&wire).await?;
        reported += store.mark_offline_reported(&batch, motcua_store::vietnam_now())?;
    }
    Ok(reported)
}

/// A ticket as `kioskctl ticket` issued it with a hub configured.
#[derive(Debug, Clone, PartialEq)]
pub enum Issued {
    /// The hub numbered it.
    Hub(motcua_domain::wire::hub::HubTicket),
    /// The hub was unavailable ([`HubError::hub_unavailable`]): numbered from the block.
    Offline(motcua_store::OfflineTicket),
}

/// Asks the hub for a ticket of `area`; when it is unavailable, numbers one from the block
/// (durably). A refusal of the hub is an error.
pub async fn issue_or_fall_back(
    client: Result<HubClient, HubError>,
    store: &mut Store,
    device_id: &str,
    area: &str,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> anyhow::Result<Issued> {
    let asked = match &client {
        Ok(c) => c.issue(area).await,
        Err(e) => Err(e.clone()),
    };
    match asked {
        Ok(t) => Ok(Issued::Hub(t)),
        Err(e) if e.hub_unavailable() => {
            tracing::warn!(error = %e, "hub unavailable: ticket from the fallback block");
            Ok(Issued::Offline(
                store.issue_offline_ticket(device_id, area, now)?,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// kioskd's hub task: joins until the kiosk has a block, then reports offline tickets whenever
/// there are some, until `shutdown`.
pub async fn keep_hub(config: KioskConfig, mut shutdown: watch::Receiver<bool>) {
    let Some(hub) = config.hub.clone() else {
        return;
    };
    let mut store = match Store::open(&config.store.data_dir, config.store.min_free_bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "hub: the store cannot be opened; no reports to the hub");
            return;
        }
    };
    let mut failures: u32 = 0;
    let mut joined = false;
    let mut said = String::new();
    loop {
        let outcome: anyhow::Result<usize> = async {
            let client = hub_client(&config, &hub)?;
            if !joined {
                join(&client, &mut store).await?;
                joined = true;
            }
            report_offline(&client, &mut store, &config.device.id).await
        }
        .await;
        let wait = match outcome {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(tickets = n, "offline tickets reported to the hub");
                }
                failures = 0;
                said.clear();
                POLL
            }
            Err(e) => {
                let words = e.to_string();
                if words != said {
                    tracing::warn!(error = %words, "hub: will try again");
                    said = words;
                }
                // A hub that came back may be a rebuilt one: ask for the block again.
                joined = false;
                failures = failures.saturating_add(1);
                backoff(failures)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The wait after `failures` failures in a row: doubling from [`RETRY_FIRST`], capped at
/// [`RETRY_MAX`], with full jitter in its upper half (kiosks of a hall that lost the hub at
/// once do not all come back in the same second).
pub fn backoff(failures: u32) -> Duration {
    let exp = RETRY_FIRST.saturating_mul(1u32 << failures.saturating_sub(1).min(10));
    let cap = exp.min(RETRY_MAX);
    let half = cap / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_are_told_from_dossier_codes() {
        assert!(looks_like_ticket_id("TP-20261203-12@KIOSK-H56-0001"));
        assert!(looks_like_ticket_id("HO_TICH.1-20261203-9100@K"));
        assert!(!looks_like_ticket_id("000.17.22.H56-261203-0001"));
        assert!(!looks_like_ticket_id("TP-2026123-12@K"));
        assert!(!looks_like_ticket_id("TP-20261203-@K"));
        assert!(!looks_like_ticket_id("TP-20261203-12@"));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for failures in 1..40 {
            let d = backoff(failures);
            assert!(d <= RETRY_MAX, "{failures}: {d:?}");
            assert!(d >= RETRY_FIRST / 2, "{failures}: {d:?}");
        }
        assert!(backoff(30) >= RETRY_MAX / 2);
    }
}
