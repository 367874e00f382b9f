//! The hub's outbox to the gateway: tickets, calls, transfers, finishes, no-shows, ratings and
//! the day's report (refreshed a few seconds after the queue moved), in order, in batches, each event under its idempotency key, over the
//! gateway's mutual TLS with the device identity the hub runs as. A batch is marked delivered
//! only after the gateway answered that it stored it, so a crash or a dead link in between
//! sends it again and the gateway counts it a duplicate: nothing lost, nothing twice.

use std::sync::Arc;
use std::time::Duration;

use motcua_domain::queue_report::build_report;
use motcua_domain::wire::hub::{QueueEvent, QueueEventBatch, MAX_QUEUE_EVENTS};
use motcua_uplink::credentials::DeviceLink;
use motcua_uplink::identity::IdentityFiles;
use motcua_uplink::GatewayError;
use tokio::sync::watch;

use crate::hall::Hall;

/// Waits between rounds when there is nothing to send.
const IDLE: Duration = Duration::from_secs(5);
/// The longest wait after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The day's report is refreshed in the outbox at most this often, after the queue moved.
const REPORT_GAP: Duration = Duration::from_secs(10);

/// Sends the outbox until `stop` turns true.
pub async fn run(hall: Arc<Hall>, url: String, mut stop: watch::Receiver<bool>) {
    let files = IdentityFiles::in_data_dir(&hall.config.kiosk_data_dir);
    let mut link: Option<DeviceLink> = None;
    let mut failures = 0u32;
    let mut last_report: Option<tokio::time::Instant> = None;
    // Whether events other than the report were delivered since the report was refreshed.
    let mut moved = true;
    loop {
        if moved && last_report.is_none_or(|t| t.elapsed() >= REPORT_GAP) {
            last_report = Some(tokio::time::Instant::now());
            moved = false;
            queue_report(&hall);
        }
        let wait = match round(&hall, &files, &url, &mut link).await {
            Ok((0, _)) => {
                failures = 0;
                IDLE.min(REPORT_GAP)
            }
            Ok((_, activity)) => {
                failures = 0;
                moved |= activity;
                Duration::ZERO
            }
            Err(e) => {
                failures += 1;
                let wait = (IDLE * 2u32.saturating_pow(failures.min(6))).min(MAX_BACKOFF);
                tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "hub outbox not delivered; kept for later");
                wait
            }
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Puts today's figures in the outbox (replacing an earlier version of them): the centre's
/// under `report:<day>`, each counter's and area's under a part of its own.
fn queue_report(hall: &Hall) {
    let today = hall.today();
    let now = hall.now();
    let done = hall.store(|s| {
        let records = s.day_records(today)?;
        let Some(day) = build_report(&records).days.into_iter().next() else {
            return Ok(());
        };
        let base = |extra: serde_json::Value| {
            let mut v = serde_json::json!({ "site": hall.site, "day": today });
            if let (Some(v), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            v
        };
        s.queue_day_report(
            today,
            "",
            &base(serde_json::json!({ "total": day.total })),
            now,
        )?;
        for c in &day.counters {
            let part = format!("counter:{}", c.counter);
            let value = base(serde_json::json!({ "counter": c.counter, "stats": c.stats }));
            s.queue_day_report(today, &part, &value, now)?;
        }
        for a in &day.areas {
            let part = format!("area:{}", a.area);
            let value = base(serde_json::json!({ "area": a.area, "stats": a.stats }));
            s.queue_day_report(today, &part, &value, now)?;
        }
        Ok(())
    });
    if let Err(e) = done {
        tracing::warn!(error = %e.refusal.message, "day report not queued");
    }
}

/// Whether the gateway refused the request as malformed: sending it again cannot help.
fn refused_for_good(e: &GatewayError) -> bool {
    matches!(e.status(), Some(400 | 413 | 422))
}

/// Sends one batch; returns how many events it delivered and whether any was not a report.
async fn round(
    hall: &Hall,
    files: &IdentityFiles,
    url: &str,
    link: &mut Option<DeviceLink>,
) -> anyhow::Result<(usize, bool)> {
    let pending = hall
        .store(|s| s.pending_events(MAX_QUEUE_EVENTS as u32))
        .map_err(|e| anyhow::anyhow!(e.refusal.message))?;
    if pending.is_empty() {
        return Ok((0, false));
    }
    if link.is_none() {
        *link = Some(DeviceLink::open(
            files.clone(),
            url,
            Duration::from_secs(30),
        )?);
    }
    let Some(current) = link.as_mut() else {
        return Ok((0, false));
    };
    // kioskd renews the certificate: use the new one when it is replaced.
    current.reload_if_changed()?;
    let events = pending
        .iter()
        .map(|e| {
            Ok(QueueEvent {
                key: e.key.clone(),
                kind: e.kind.clone(),
                ticket_id: e.ticket_id.clone(),
                payload: serde_json::from_str(&e.payload)?,
            })
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let client = current.client().clone();
    let accepted = match client
        .send_queue_events(&QueueEventBatch {
            events: events.clone(),
        })
        .await
    {
        Ok(a) => a,
        Err(e) if refused_for_good(&e) => {
            // One bad event must not hold back the rest: find it by sending them one by one,
            // set it aside with the gateway's words, and deliver the others.
            tracing::error!(error = %e, "the gateway refused a batch of the hub's outbox; sending its events one by one");
            return isolate(hall, &client, &pending, events).await;
        }
        Err(e) => return Err(e.into()),
    };
    let now = hall.now();
    hall.store(|s| {
        for e in &pending {
            s.mark_delivered(&e.key, now)?;
        }
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!(e.refusal.message))?;
    tracing::info!(
        stored = accepted.stored,
        duplicates = accepted.duplicates,
        "hub outbox delivered"
    );
    Ok((
        pending.len(),
        pending.iter().any(|e| e.kind != "day_report"),
    ))
}

/// Sends a refused batch's events one at a time; those refused alone are set aside.
async fn isolate(
    hall: &Hall,
    client: &motcua_uplink::GatewayClient,
    pending: &[crate::store::OutboxEvent],
    events: Vec<QueueEvent>,
) -> anyhow::Result<(usize, bool)> {
    for (e, event) in pending.iter().zip(events) {
        match client
            .send_queue_events(&QueueEventBatch {
                events: vec![event],
            })
            .await
        {
            Ok(_) => {
                let now = hall.now();
                hall.store(|s| s.mark_delivered(&e.key, now))
                    .map_err(|e| anyhow::anyhow!(e.refusal.message))?;
            }
            Err(refusal) if refused_for_good(&refusal) => {
                tracing::error!(key = %e.key, error = %refusal, "outbox event set aside: the gateway refuses it");
                let reason = refusal.to_string();
                hall.store(|s| s.set_aside_event(&e.key, &reason))
                    .map_err(|e| anyhow::anyhow!(e.refusal.message))?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok((pending.len(), true))
}
