//! The running hub's shared state: the store behind one lock (each call is one short SQLite
//! transaction), the config, the officers signed in at counters, and the broadcast of calls to
//! the hall displays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::queue::callout::{callout_display_text, callout_text};
use motcua_domain::queue_hours::{estimate_in_hours, WaitEstimate, COMMUNE_SESSIONS};
use motcua_domain::queue_wait::{QueueNow, ServiceStats};
use motcua_domain::wire::hub::HubRefusal;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::audio::AudioCache;
use crate::config::HubConfig;
use crate::store::{HubError, HubStore, Ticket};

/// A counter page left without a request this long no longer counts its counter as open.
pub const OFFICER_IDLE: Duration = Duration::from_secs(2 * 3600);

/// A call as the hall display shows and speaks it.
#[derive(Debug, Clone, Serialize)]
pub struct CallEvent {
    /// The ticket.
    pub ticket_id: String,
    /// Its number.
    pub number: u32,
    /// The counter's code.
    pub counter: String,
    /// The counter's number as called.
    pub counter_number: u32,
    /// 1 for the first call, 2 for a call again…
    pub attempt: u32,
    /// The sentence shown (digits).
    pub text: String,
    /// Where the display fetches the call-out audio, when the voice is on.
    pub audio: Option<String>,
    /// When (RFC 3339, Vietnam time).
    pub at: String,
}

/// An officer signed in at a counter.
#[derive(Debug, Clone)]
pub struct Officer {
    /// Their name.
    pub name: String,
    /// The counter.
    pub counter: String,
    /// The areas they serve there.
    pub areas: Vec<String>,
    /// Their last request.
    pub last_seen: Instant,
}

/// An error a page or a kiosk gets: an HTTP status and a [`HubRefusal`].
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// The refusal.
    pub refusal: HubRefusal,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            refusal: HubRefusal {
                code: code.to_owned(),
                message: message.into(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.refusal)).into_response()
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        let (status, code) = match &e {
            HubError::Database { .. } | HubError::Corrupt { .. } => {
                tracing::error!(error = %e, "hub store failed");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            HubError::BadCode(_) | HubError::BadRating(_) | HubError::TransferToSelf(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "bad_request")
            }
            HubError::UnknownKiosk(_) => (StatusCode::CONFLICT, "not_joined"),
            HubError::OutsideBlock { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "outside_block"),
            HubError::Collision { .. } => (StatusCode::CONFLICT, "collision"),
            HubError::Exhausted(_) => (StatusCode::CONFLICT, "exhausted"),
            HubError::NothingCalled(_) => (StatusCode::CONFLICT, "nothing_called"),
            HubError::CounterBusy { .. } => (StatusCode::CONFLICT, "counter_busy"),
            HubError::UnknownTicket(_) => (StatusCode::NOT_FOUND, "unknown_ticket"),
            HubError::NotFinished { .. } => (StatusCode::CONFLICT, "not_finished"),
            HubError::AlreadyRated(_) => (StatusCode::CONFLICT, "already_rated"),
            HubError::RatingClosed(_) => (StatusCode::CONFLICT, "rating_closed"),
            HubError::WrongRatingCode(_) => (StatusCode::FORBIDDEN, "wrong_code"),
        };
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "Máy chủ quầy đang gặp sự cố lưu trữ, vui lòng báo kỹ thuật viên / The hub cannot store this now; please call the technician".to_owned()
        } else {
            e.to_string()
        };
        Self::new(status, code, message)
    }
}

/// The running hub.
pub struct Hall {
    /// The config.
    pub config: HubConfig,
    /// The site this hub serves (from its certificate).
    pub site: String,
    /// The hub's device id (from its certificate).
    pub device_id: String,
    store: Mutex<HubStore>,
    calls: broadcast::Sender<CallEvent>,
    officers: Mutex<HashMap<String, Officer>>,
    /// The call-out audio files.
    pub audio: AudioCache,
    clock: Box<dyn Fn() -> DateTime<FixedOffset> + Send + Sync>,
}

impl Hall {
    /// The hub over an open store.
    pub fn new(
        config: HubConfig,
        site: String,
        device_id: String,
        store: HubStore,
        clock: Box<dyn Fn() -> DateTime<FixedOffset> + Send + Sync>,
    ) -> Arc<Self> {
        let audio = AudioCache::new(
            config.state_dir.join("audio"),
            config.espeak.clone(),
            config.language,
        );
        Arc::new(Self {
            config,
            site,
            device_id,
            store: Mutex::new(store),
            calls: broadcast::channel(64).0,
            officers: Mutex::new(HashMap::new()),
            audio,
            clock,
        })
    }

    /// The hub's clock (Vietnam time).
    pub fn now(&self) -> DateTime<FixedOffset> {
        (self.clock)()
    }

    /// Today, in Vietnam.
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// Runs `f` on the store (a short transaction; the thread may block on fsync).
    pub fn store<T>(
        &self,
        f: impl FnOnce(&mut HubStore) -> Result<T, HubError>,
    ) -> Result<T, ApiError> {
        tokio::task::block_in_place(|| {
            let mut store = self.store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut store).map_err(ApiError::from)
        })
    }

    /// A new receiver of calls.
    pub fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.calls.subscribe()
    }

    /// Tells the displays about a call of `ticket` (its latest attempt) at its counter.
    pub fn announce(&self, ticket: &Ticket) {
        let Some(counter) = ticket
            .counter
            .as_deref()
            .and_then(|c| self.config.counter(c))
        else {
            return;
        };
        let audio = self.config.voice.then(|| {
            let spoken = callout_text(ticket.number, counter.number, self.config.language);
            format!("/audio/{}.wav", self.audio.name_for(&spoken))
        });
        let event = CallEvent {
            ticket_id: ticket.id.clone(),
            number: ticket.number,
            counter: counter.code.clone(),
            counter_number: counter.number,
            attempt: ticket.calls,
            text: callout_display_text(ticket.number, counter.number, self.config.language),
            audio,
            at: ticket
                .last_called_at
                .unwrap_or_else(|| self.now())
                .to_rfc3339(),
        };
        // No display listening is not an error: the call is in the store either way.
        let _ = self.calls.send(event);
    }

    /// Signs an officer in under the session token hash `token`.
    pub fn sign_in(&self, token: String, officer: Officer) {
        self.officers_lock().insert(token, officer);
    }

    /// Ends a session.
    pub fn sign_out(&self, token: &str) {
        self.officers_lock().remove(token);
    }

    /// The officer of a session (and marks it seen), while it is not idle.
    pub fn officer(&self, token: &str) -> Option<Officer> {
        let mut officers = self.officers_lock();
        officers.retain(|_, o| o.last_seen.elapsed() < OFFICER_IDLE);
        let o = officers.get_mut(token)?;
        o.last_seen = Instant::now();
        Some(o.clone())
    }

    /// Counters with an officer signed in serving `area`.
    pub fn counters_open_for(&self, area: &str) -> Vec<String> {
        let officers = self.officers_lock();
        let mut open: Vec<String> = officers
            .values()
            .filter(|o| o.last_seen.elapsed() < OFFICER_IDLE && o.areas.iter().any(|a| a == area))
            .map(|o| o.counter.clone())
            .collect();
        open.sort();
        open.dedup();
        open
    }

    fn officers_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Officer>> {
        self.officers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Issues the next ticket of `area` for `kiosk`, with the wait estimated from the live
    /// queue: people ahead, counters open for the area, today's measured service times.
    pub fn issue(
        &self,
        area: &str,
        kiosk: &str,
    ) -> Result<(Ticket, u32, u32, Option<WaitEstimate>), ApiError> {
        let open = self.counters_open_for(area);
        let now = self.now();
        self.store(|s| {
            let ahead = u32::try_from(s.waiting(area, now)?.len()).unwrap_or(u32::MAX);
            let mut free = 0u32;
            for c in &open {
                if s.called_at(c)?.is_none() {
                    free += 1;
                }
            }
            let counters_open = u32::try_from(open.len()).unwrap_or(u32::MAX);
            let stats = ServiceStats::from_service_secs(&s.service_secs(area, now.date_naive())?);
            let estimate = estimate_in_hours(
                QueueNow {
                    waiting_ahead: ahead,
                    counters_open,
                    counters_free: free,
                },
                stats,
                now.time(),
                &COMMUNE_SESSIONS,
            )
            .ok();
            let ticket = s.issue(area, kiosk, now, estimate.as_ref())?;
            Ok((ticket, ahead, counters_open, estimate))
        })
    }

    /// A new rating code for `ticket`, kept as its hash; the code goes in the QR.
    pub fn new_rating_code(&self, ticket: &str) -> Result<String, ApiError> {
        let code = motcua_domain::ticket::new_rating_code(rand::random());
        let hash = crate::tokens::token_hash(&code);
        self.store(|s| s.set_rating_code(ticket, &hash))?;
        Ok(code)
    }

    /// Whether `code` is the ticket's rating code.
    pub fn rating_code_matches(&self, ticket: &str, code: Option<&str>) -> Result<bool, ApiError> {
        let Some(code) = code else {
            return Ok(false);
        };
        let hash = crate::tokens::token_hash(&code.to_ascii_lowercase());
        self.store(|s| s.rating_code_matches(ticket, &hash))
    }
}
