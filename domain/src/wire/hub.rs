//! Wire types of the centre queue service (the hub, issue #18), shared by the hub (server), the
//! kiosks (its clients on the centre LAN) and the gateway (which receives the hub's outbox).
//!
//! # Kiosk → hub (HTTPS with the kiosk's device certificate, on the hub's kiosk port)
//! The hub takes the kiosk's id and site from its client certificate, never from a body, and
//! refuses a kiosk of another site. Kiosks check the hub's certificate the other way round: a
//! device certificate of the province's CA naming the kiosk's own site.
//! - `POST /v1/hub/join` → [`HubJoined`]: the kiosk's fallback block (the same on every call).
//! - `POST /v1/hub/tickets` [`HubIssueRequest`] → [`HubTicket`]: the next number of the area.
//! - `POST /v1/hub/offline-tickets` [`HubOfflineTickets`] → [`HubOfflineRecorded`]: tickets the
//!   kiosk numbered from its block while the hub was unreachable; recording one twice is not an
//!   error (the kiosk retries until it hears back).
//! - `POST /v1/hub/ratings` [`HubRateRequest`] → [`HubRated`] (a ticket QR read at the kiosk's
//!   rating screen); `409` with [`HubRefusal`] `already_rated` or `not_finished`, `404`
//!   `unknown_ticket`.
//!
//! # Hub → gateway (the gateway's mutual TLS, the hub's device certificate)
//! - `POST /v1/queue/events` [`QueueEventBatch`] → [`QueueEventsAccepted`]: the hub's outbox,
//!   in order. Each event's `key` is its idempotency key: a key already stored is counted as a
//!   duplicate and not stored again, so the hub may resend a batch after any failure. The
//!   gateway files every event under the site of the hub's certificate.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::queue_hours::WaitEstimate;

/// The kiosk's own block of numbers for when the hub cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubJoined {
    /// The kiosk's device id as the hub read it from the certificate.
    pub kiosk_id: String,
    /// First number of the block.
    pub first: u32,
    /// Last number of the block (inclusive).
    pub last: u32,
}

/// A kiosk asks for the next number of a service area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubIssueRequest {
    /// The service area's code ([`crate::ticket::validate_service_area`]).
    pub area: String,
}

/// A ticket the hub numbered, with what to print about the wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubTicket {
    /// `<area>-YYYYMMDD-<number>@<kiosk>`: the ticket's QR, what a rating names.
    pub ticket_id: String,
    /// The number printed.
    pub number: u32,
    /// The area.
    pub area: String,
    /// When the hub issued it.
    pub issued_at: DateTime<FixedOffset>,
    /// Citizens waiting ahead in the area.
    pub ahead: u32,
    /// Counters open for the area now.
    pub counters_open: u32,
    /// The expected wait from the live queue; `None` when no counter is open for the area (the
    /// ticket then says so instead of inventing a figure).
    pub wait: Option<WaitEstimate>,
    /// The ticket's rating code, printed in its QR ([`crate::ticket::rating_qr`]).
    #[serde(default)]
    pub rating_code: String,
}

/// One ticket a kiosk numbered from its block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubOfflineTicket {
    /// The area.
    pub area: String,
    /// The number printed (inside the kiosk's block).
    pub number: u32,
    /// When the kiosk printed it.
    pub issued_at: DateTime<FixedOffset>,
    /// The rating code the kiosk printed in its QR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_code: Option<String>,
}

/// Tickets a kiosk numbered offline, oldest first (at most 200 per request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubOfflineTickets {
    /// The tickets.
    pub tickets: Vec<HubOfflineTicket>,
}

/// The most offline tickets in one request.
pub const MAX_OFFLINE_TICKETS: usize = 200;

/// The hub's answer to [`HubOfflineTickets`]: every ticket is now in the hall's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubOfflineRecorded {
    /// Their ticket ids, in the order sent.
    pub ticket_ids: Vec<String>,
}

/// A rating read at the kiosk from the ticket's QR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubRateRequest {
    /// The ticket's id (its QR payload).
    pub ticket_id: String,
    /// Level, 1 = best.
    pub level: u8,
    /// Levels of the scale shown (3 or 5).
    pub levels: u8,
    /// The rating code from the ticket's QR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating_code: Option<String>,
}

/// The hub kept the rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubRated {
    /// The ticket.
    pub ticket_id: String,
    /// Its 2/1/0 indicator score.
    pub score: u8,
}

/// Why the hub refused a request, in a stable code and in words for the screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubRefusal {
    /// `already_rated`, `not_finished`, `unknown_ticket`, `bad_request`, `other_site`,
    /// `outside_block`, `exhausted`, `unavailable`.
    pub code: String,
    /// Vietnamese / English words for a citizen or technician.
    pub message: String,
}

/// One event of the hub's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueEvent {
    /// Idempotency key (`issued:<ticket>`, `called:<ticket>:<n>`, `report:<day>:<counter>`…).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub key: String,
    /// `issued`, `called`, `transferred`, `finished`, `no_show`, `rated` or `day_report`.
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub kind: String,
    /// The ticket it is about (for `day_report`: the Vietnam day, `YYYY-MM-DD`).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub ticket_id: String,
    /// The event's details (a JSON object, at most 16 KiB serialised).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
}

/// A batch of the hub's outbox, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueEventBatch {
    /// The events (1 to [`MAX_QUEUE_EVENTS`]).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 500))]
    pub events: Vec<QueueEvent>,
}

/// The most events in one batch.
pub const MAX_QUEUE_EVENTS: usize = 500;
/// The kinds of [`QueueEvent`] the gateway stores; it refuses a batch with any other.
pub const QUEUE_EVENT_KINDS: [&str; 7] = [
    "issued",
    "called",
    "transferred",
    "finished",
    "no_show",
    "rated",
    "day_report",
];
/// The kind whose later event replaces the stored one of the same key (the hub exports the
/// day's report again as the day goes on) instead of counting as a duplicate.
pub const DAY_REPORT_KIND: &str = "day_report";
/// The largest payload of one event, serialised.
pub const MAX_QUEUE_EVENT_PAYLOAD: usize = 16 * 1024;

/// The gateway's acknowledgement of a batch: every event is now stored (new or before).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueEventsAccepted {
    /// Events stored by this request.
    pub stored: u32,
    /// Events whose key was already stored.
    pub duplicates: u32,
}
