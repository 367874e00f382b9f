//! The uplink: a tokio task that drains the outbox to the gateway.
//!
//! It takes the oldest due entry, uploads the blobs it needs with tus (resuming at the offset the
//! gateway confirms, so a restart of either side continues where it stopped), posts the entry
//! with its idempotency key, and marks it delivered only on the gateway's acknowledgement. A
//! failure is recorded with its reason and retried after an exponential backoff with jitter; it
//! never blocks other entries and never drops anything. A failure no retry can fix (see
//! [`DeliveryError::hold_reason`]) holds the entry for a technician instead: it is kept with its
//! reason and not attempted again until a technician retries it (`kioskctl outbox retry`).
//!
//! The same task keeps the device's certificate: it picks up a `device.pem` replaced beside it
//! (by `kioskctl`) and renews the certificate in the last third of its life, without holding up
//! deliveries (the current certificate works until it expires).
//!
//! With a daily upload budget ([`crate::budget`]) a document upload stops when today's budget
//! is used up: its entry is put off until the budget renews (neither failing nor held), and the
//! entries behind it still go.

use std::time::{Duration, Instant};

use motcua_domain::wire::{DigitizedDocuments, HealthReport, RatingSubmission, TicketIssued};
use tokio::sync::watch;

use motcua_store::{vietnam_now as now, OutboxEntry, OutboxKind, Store, StoreError};

mod chunk_size;
mod failure;
mod upload;

use crate::pace::while_beating;
pub use crate::pace::{backoff, Heartbeat, QUIET_ALLOWANCE};

use crate::client::GatewayError;
use crate::credentials::DeviceLink;
use crate::{LinkStatus, UplinkSettings};
pub use failure::DeliveryError;

/// The longest the uplink waits at once on a gateway's 429 before trying again.
const BUSY_WAIT_MAX: Duration = Duration::from_secs(60);

/// The uplink worker.
pub struct Uplink {
    store: Store,
    link: DeviceLink,
    config: UplinkSettings,
    heartbeat: Option<Heartbeat>,
    status: LinkStatus,
    health_delivered: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// When the gateway last answered that it does not know `POST /v1/blobs/held`.
    held_unknown_since: Option<Instant>,
    /// The size of the next PATCH, learnt from the link (see [`chunk_size`]).
    sizer: chunk_size::ChunkSizer,
    /// Whether the current attempt moved an upload forward (the gateway's offset grew).
    progressed: bool,
    /// The daily upload budget (see [`crate::budget`]).
    meter: crate::budget::Meter,
}

impl Uplink {
    /// A worker delivering `store`'s outbox over `link`.
    pub fn new(store: Store, link: DeviceLink, config: UplinkSettings) -> Self {
        let sizer = chunk_size::ChunkSizer::new(upload::chunk_ceiling(&config));
        let meter = crate::budget::Meter::new(
            config.daily_upload_budget_bytes,
            std::sync::Arc::new(motcua_store::vietnam_now),
        );
        Self {
            sizer,
            meter,
            progressed: false,
            store,
            link,
            config,
            heartbeat: None,
            status: LinkStatus::default(),
            health_delivered: None,
            held_unknown_since: None,
        }
    }

    /// Reads the days of the upload budget from `clock` instead of the kiosk's Vietnam time:
    /// for tests and tools that need tomorrow without waiting for it.
    pub fn with_clock(mut self, clock: crate::budget::Clock) -> Self {
        self.meter.set_clock(clock);
        self
    }

    /// Reports the link's problems to `status` (see [`LinkStatus`]).
    pub fn with_status(mut self, status: LinkStatus) -> Self {
        self.status = status;
        self
    }

    /// Notifies `delivered` after each delivered health report: kioskd asks for remote actions
    /// then, a technician's request being most likely right after the kiosk reported.
    pub fn with_health_delivered(mut self, delivered: std::sync::Arc<tokio::sync::Notify>) -> Self {
        self.health_delivered = Some(delivered);
        self
    }

    /// The link (its client and certificate).
    pub fn link(&self) -> &DeviceLink {
        &self.link
    }

    /// Shows `e` on the status line if it is about the link; clears the line on success. A
    /// success confirms a renewed certificate (the previous pair is forgotten); the gateway's
    /// `certificate_unknown` to a renewed one sends the link back to the previous pair.
    /// Returns whether it went back (the request is worth retrying soon).
    fn note_link(&mut self, outcome: Result<(), &GatewayError>) -> bool {
        match outcome {
            Ok(()) => {
                self.link.confirm_current();
                self.status.set_link(None);
                false
            }
            Err(e) if e.is_link_problem() => {
                if e.code() == Some("certificate_unknown") {
                    match self.link.fall_back_to_previous() {
                        Ok(true) => {
                            self.show_certificate_problems();
                            return true;
                        }
                        Ok(false) => {}
                        Err(fe) => tracing::warn!(
                            "cannot go back to the previous device certificate: {fe}"
                        ),
                    }
                }
                self.status.set_link(Some(link_words(e)));
                false
            }
            Err(_) => false,
        }
    }

    fn show_certificate_problems(&self) {
        let problems: Vec<&str> = [self.link.reload_problem(), self.link.renewal_problem()]
            .into_iter()
            .flatten()
            .collect();
        self.status
            .set_renewal((!problems.is_empty()).then(|| problems.join("; ")));
    }

    /// Picks up a replaced `device.pem` (one `stat` per turn), and renews the certificate when
    /// it is due. Whether it is due is a clock comparison, also asked at every turn: a
    /// short-lived certificate must not expire between two looks. A failed renewal waits for
    /// its own backoff. A replaced file that is not usable is warned about once (the status
    /// line keeps saying it until a usable one replaces it). Never fails the loop.
    async fn keep_certificate(&mut self) {
        if let Err(e) = self.link.reload_if_changed() {
            tracing::warn!(
                "the replaced device certificate is not usable, keeping the current one: {e}"
            );
        }
        match self.link.renew_if_due(chrono::Utc::now().timestamp()).await {
            Ok(Some(peer)) => tracing::info!(serial = %peer.serial, "certificate renewed"),
            Ok(None) => {}
            Err(e) => tracing::warn!("certificate renewal failed, retrying later: {e}"),
        }
        self.show_certificate_problems();
    }

    /// Reports progress to `heartbeat` (see [`Heartbeat`]).
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    fn beat(&self) {
        if let Some(beat) = &self.heartbeat {
            beat();
        }
    }

    /// Waits `duration` (or until shutdown), beating every second. Takes the heartbeat rather
    /// than `&self`: the store inside is not `Sync`, so no `&self` may live across an await.
    async fn idle(
        heartbeat: Option<Heartbeat>,
        duration: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let until = Instant::now() + duration;
        loop {
            if let Some(beat) = &heartbeat {
                beat();
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || *shutdown.borrow() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(left.min(Duration::from_secs(1))) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Runs until `shutdown` turns true. Store failures are logged and retried, never fatal.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut last_gc = Instant::now() - Duration::from_secs(3600);
        let mut last_catalog = Instant::now() - Duration::from_secs(3600);
        loop {
            self.beat();
            if *shutdown.borrow() {
                return;
            }
            let heartbeat = self.heartbeat.clone();
            if while_beating(self.keep_certificate(), heartbeat, &mut shutdown)
                .await
                .is_none()
            {
                return;
            }
            if last_catalog.elapsed() >= Duration::from_secs(600) {
                last_catalog = Instant::now();
                let heartbeat = self.heartbeat.clone();
                if while_beating(self.refresh_catalog(), heartbeat, &mut shutdown)
                    .await
                    .is_none()
                {
                    return;
                }
            }
            if last_gc.elapsed() >= Duration::from_secs(300) {
                last_gc = Instant::now();
                match self.store.collect_garbage(self.config.retention, now()) {
                    Ok(0) => self.beat(),
                    Ok(n) => tracing::info!(blobs = n, "deleted blobs past retention"),
                    Err(e) => tracing::warn!("garbage collection failed: {e}"),
                }
            }
            let due = self
                .store
                .next_due(chrono::Utc::now().timestamp_millis(), self.config.retry_max);
            let worked = match due {
                Ok(Some(entry)) => {
                    if !self.attempt(entry, &mut shutdown).await {
                        return;
                    }
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    tracing::error!("cannot read the outbox: {e}");
                    false
                }
            };
            if !worked {
                Self::idle(
                    self.heartbeat.clone(),
                    self.config.poll_interval,
                    &mut shutdown,
                )
                .await;
            }
        }
    }

    /// One turn of the loop's work without its waiting, for tools and tests: keeps the
    /// certificate (reload, renewal when due), then makes one delivery attempt at the next due
    /// entry, recording its outcome in the store as the loop does. Returns whether there was an
    /// entry to attempt.
    pub async fn turn(&mut self) -> Result<bool, StoreError> {
        self.keep_certificate().await;
        let (_never, mut no_shutdown) = watch::channel(false);
        let due = self
            .store
            .next_due(chrono::Utc::now().timestamp_millis(), self.config.retry_max)?;
        match due {
            Some(entry) => Ok(self.attempt(entry, &mut no_shutdown).await),
            None => Ok(false),
        }
    }

    /// One delivery attempt; `false` when shutdown came first (nothing is lost: tus resumes
    /// from the offset the gateway confirmed and ingest is idempotent).
    async fn attempt(&mut self, entry: OutboxEntry, shutdown: &mut watch::Receiver<bool>) -> bool {
        let started = Instant::now();
        self.progressed = false;
        let heartbeat = self.heartbeat.clone();
        let Some(outcome) = while_beating(self.deliver(&entry), heartbeat, shutdown).await else {
            tracing::info!(key = %entry.idempotency_key, "delivery interrupted by shutdown; it resumes on the next start");
            return false;
        };
        if let Err(e @ DeliveryError::MadeWay) = &outcome {
            // The small records due now come first (they are older than this entry's new
            // due time); the upload resumes from the gateway's offset right after them.
            tracing::info!(key = %entry.idempotency_key, "{e}");
            if let Err(se) = self.store.postpone(
                entry.id,
                &e.to_string(),
                chrono::Utc::now().timestamp_millis(),
                Duration::ZERO,
            ) {
                tracing::error!("cannot put off the entry: {se}");
            }
            return true;
        }
        if let Err(e @ DeliveryError::BudgetUsedUp { wait, .. }) = &outcome {
            // Said once when the budget ran out (`budget::Meter`); each entry that meets it is
            // put off until it renews, at most `retry_max` ahead (as for the gateway's quota
            // below): checking again costs a database read, no request.
            let wait = (*wait).min(self.config.retry_max);
            tracing::debug!(key = %entry.idempotency_key, wait_ms = wait.as_millis() as u64, "{e}");
            if let Err(se) = self.store.postpone(
                entry.id,
                &e.to_string(),
                chrono::Utc::now().timestamp_millis(),
                wait,
            ) {
                tracing::error!("cannot put off the entry: {se}");
            }
            return true;
        }
        if let Err(DeliveryError::Gateway(e)) = &outcome {
            if let (Some(wait), Some(code @ ("upload_quota_exceeded" | "too_many_open_uploads"))) =
                (e.retry_after(), e.code())
            {
                // This entry's documents wait for the device's upload quota (until midnight)
                // or its open uploads: the tickets, ratings and health reports behind it do
                // not. Its next attempt is put off (no failed attempt counted, nothing held),
                // at most `retry_max` ahead: further is what `next_due` takes for a clock that
                // was wrong, and would make it due again at once.
                let wait = wait.min(self.config.retry_max);
                tracing::info!(
                    key = %entry.idempotency_key,
                    code,
                    wait_ms = wait.as_millis() as u64,
                    "the gateway asks this entry to wait; the others go on: {e}"
                );
                self.status.set_link(None);
                if let Err(se) = self.store.postpone(
                    entry.id,
                    &e.to_string(),
                    chrono::Utc::now().timestamp_millis(),
                    wait,
                ) {
                    tracing::error!("cannot put off the entry: {se}");
                }
                return true;
            }
            if let Some(wait) = e.retry_after() {
                // The gateway asks the device to slow down (its request rate): the entry is
                // not at fault, so no failed attempt is recorded and nothing is held; the
                // uplink waits (at most a minute at a time, so shutdown and other work are not
                // held up) and the entry comes up again, first, as it was.
                let wait = wait.min(BUSY_WAIT_MAX);
                tracing::info!(
                    key = %entry.idempotency_key,
                    wait_ms = wait.as_millis() as u64,
                    "the gateway asks to wait: {e}"
                );
                self.status.set_link(None);
                Self::idle(self.heartbeat.clone(), wait, shutdown).await;
                return !*shutdown.borrow();
            }
        }
        let fell_back = match &outcome {
            Ok(_) => self.note_link(Ok(())),
            Err(DeliveryError::Gateway(e)) => self.note_link(Err(e)),
            Err(_) => false,
        };
        match outcome {
            Ok(duplicate) => {
                if let Err(e) = self.store.mark_delivered(entry.id, now()) {
                    // Delivered but not recorded: the next attempt is an idempotent replay.
                    tracing::error!(
                        "delivered {} but cannot record it: {e}",
                        entry.idempotency_key
                    );
                } else {
                    tracing::info!(
                        key = %entry.idempotency_key,
                        duplicate,
                        ms = started.elapsed().as_millis() as u64,
                        "delivered to the gateway"
                    );
                }
                if entry.kind == OutboxKind::Health {
                    if let Some(delivered) = &self.health_delivered {
                        delivered.notify_one();
                    }
                }
            }
            Err(e) => {
                // Refused for a renewed certificate the gateway does not know: the previous
                // one is in use again, so this is retried as usual, not left for a technician.
                if let Some(reason) = e.hold_reason().filter(|_| !fell_back) {
                    tracing::error!(
                        key = %entry.idempotency_key,
                        attempt = entry.attempts + 1,
                        "delivery held for a technician (kioskctl outbox list): {reason}"
                    );
                    if let Err(se) = self.store.hold_for_technician(entry.id, &reason, now()) {
                        tracing::error!("cannot hold the entry for a technician: {se}");
                    }
                    return true;
                }
                let needs_technician = e.needs_technician() && !fell_back;
                if self.progressed && !needs_technician && e.is_cut_link() {
                    // Cut after moving the upload forward (a dropped mobile link): not a
                    // failure that backing off helps with. The next attempt comes soon and
                    // resumes from the gateway's offset; the backoff stays where it was, so a
                    // link that drops every 30 s does not end up waiting a minute per drop.
                    tracing::info!(
                        key = %entry.idempotency_key,
                        retry_in_ms = self.config.retry_initial.as_millis() as u64,
                        "upload cut after progress, resuming: {e}"
                    );
                    if let Err(se) = self.store.postpone(
                        entry.id,
                        &e.to_string(),
                        chrono::Utc::now().timestamp_millis(),
                        self.config.retry_initial,
                    ) {
                        tracing::error!("cannot put off the entry: {se}");
                    }
                    return true;
                }
                let delay = if needs_technician {
                    // A refused certificate: keep trying slowly so a re-enrolment is picked
                    // up without a technician touching each entry, and say so plainly.
                    self.config.retry_max
                } else {
                    backoff(
                        entry.attempts,
                        self.config.retry_initial,
                        self.config.retry_max,
                    )
                };
                let e = if fell_back {
                    // Not the refusal's "re-enrol": the previous certificate is in use again.
                    self.link
                        .renewal_problem()
                        .map_or_else(|| e.to_string(), str::to_owned)
                } else if needs_technician && !is_certificate_refused(&e) {
                    format!("CẦN KỸ THUẬT VIÊN / needs a technician: {e}")
                } else {
                    e.to_string()
                };
                tracing::warn!(
                    key = %entry.idempotency_key,
                    attempt = entry.attempts + 1,
                    retry_in_ms = delay.as_millis() as u64,
                    "delivery failed: {e}"
                );
                if let Err(se) = self.store.record_failure(
                    entry.id,
                    &e,
                    chrono::Utc::now().timestamp_millis(),
                    delay,
                ) {
                    tracing::error!("cannot record the failed delivery: {se}");
                }
            }
        }
        true
    }

    /// Delivers one entry; returns whether the gateway had it already.
    async fn deliver(&mut self, entry: &OutboxEntry) -> Result<bool, DeliveryError> {
        let key = &entry.idempotency_key;
        let ack = match entry.kind {
            OutboxKind::Dossier => {
                let submission =
                    self.store
                        .dossier(&entry.payload)?
                        .ok_or_else(|| StoreError::Corrupt {
                            what: format!("outbox entry {}", entry.id),
                            detail: format!("dossier {} is missing", entry.payload),
                        })?;
                let blobs: Vec<(String, u64)> = submission
                    .documents
                    .iter()
                    .map(|d| (d.sha256.clone(), d.size))
                    .collect();
                self.ensure_all_uploaded(&blobs).await?;
                match self
                    .link
                    .client()
                    .ingest("/v1/dossiers", key, &submission)
                    .await
                {
                    Err(e) if e.code() == Some("missing_blobs") => {
                        // The gateway lost blobs we thought complete: upload them again.
                        for doc in &submission.documents {
                            self.store.set_upload_url(&doc.sha256, None)?;
                        }
                        return Err(e.into());
                    }
                    other => other?,
                }
            }
            OutboxKind::Rating => {
                let body: RatingSubmission = parse_payload(entry)?;
                match self.link.client().ingest("/v1/ratings", key, &body).await {
                    // Rated at the gateway already (e.g. by another device): nothing to add.
                    Err(e) if e.code() == Some("already_rated") => {
                        tracing::warn!(key = %key, "gateway already holds a rating for this transaction");
                        return Ok(true);
                    }
                    other => other?,
                }
            }
            OutboxKind::Ticket => {
                let body: TicketIssued = parse_payload(entry)?;
                self.link.client().ingest("/v1/tickets", key, &body).await?
            }
            OutboxKind::Health => {
                // Stamped at each attempt: the gateway reads the kiosk's clock offset from it,
                // and a report that waited offline must not look like a clock days behind.
                let mut body: HealthReport = parse_payload(entry)?;
                body.sent_at = Some(now());
                self.link
                    .client()
                    .ingest("/v1/health-reports", key, &body)
                    .await?
            }
            OutboxKind::Documents => {
                let body: DigitizedDocuments = parse_payload(entry)?;
                let blobs: Vec<(String, u64)> = body
                    .documents
                    .iter()
                    .map(|d| (d.sha256.clone(), d.size))
                    .collect();
                self.ensure_all_uploaded(&blobs).await?;
                let path = format!("/v1/dossiers/{}/documents", body.dossier_code);
                match self.link.client().ingest(&path, key, &body).await {
                    Err(e) if e.code() == Some("missing_blobs") => {
                        for doc in &body.documents {
                            self.store.set_upload_url(&doc.sha256, None)?;
                        }
                        return Err(e.into());
                    }
                    other => other?,
                }
            }
        };
        Ok(ack.duplicate)
    }

    async fn refresh_catalog(&mut self) {
        let etag = match self.store.cached_catalog() {
            Ok(c) => c.map(|(tag, _)| tag),
            Err(e) => {
                tracing::warn!("cached catalog unreadable, downloading it again: {e}");
                None
            }
        };
        let fetched = self.link.client().fetch_catalog(etag.as_deref()).await;
        self.note_link(fetched.as_ref().map(|_| ()));
        match fetched {
            Ok(Some((tag, body))) => match self.store.save_catalog(&tag, &body, now()) {
                Ok(()) => tracing::info!(etag = %tag, "catalog updated from the gateway"),
                Err(e) => tracing::warn!("cannot cache the catalog: {e}"),
            },
            Ok(None) => {}
            Err(e) => tracing::info!("catalog not refreshed: {e}"),
        }
    }
}

fn is_certificate_refused(e: &DeliveryError) -> bool {
    matches!(e, DeliveryError::Gateway(g) if g.is_certificate_refused())
}

/// A link problem as the status line says it, Vietnamese first.
fn link_words(e: &GatewayError) -> String {
    match e {
        GatewayError::Unreachable { .. } => format!("mất kết nối / {e}"),
        // Both already start in Vietnamese.
        _ => e.to_string(),
    }
}

fn parse_payload<T: serde::de::DeserializeOwned>(entry: &OutboxEntry) -> Result<T, DeliveryError> {
    serde_json::from_str(&entry.payload).map_err(|e| {
        DeliveryError::Store(StoreError::Corrupt {
            what: format!("outbox entry {}", entry.id),
            detail: e.to_string(),
        })
    })
}
