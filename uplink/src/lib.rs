//! The kiosk's side of the link to the provincial gateway.
//!
//! - [`client`]: the HTTP client of the gateway API (enrolment, catalog, tus resumable uploads,
//!   idempotent ingest, dossier status), every failure classified as retryable or not and
//!   described in words a technician reads;
//! - [`drain`]: the [`Uplink`] task that drains the store's outbox through that client, with
//!   exponential backoff and jitter, marking an entry delivered only on the gateway's durable
//!   acknowledgement (the store's invariant 3).
//!
//! It depends on the domain (wire types) and the store (the outbox it drains), never on the
//! kiosk's configuration file: the kiosk builds an [`UplinkSettings`] from it.

pub mod client;
pub mod drain;

use std::time::Duration;

pub use client::{GatewayClient, GatewayError};
pub use drain::{backoff, DeliveryError, Heartbeat, Uplink, QUIET_ALLOWANCE};

/// How the outbox is delivered to the gateway.
#[derive(Debug, Clone)]
pub struct UplinkSettings {
    /// Base URL of the gateway, e.g. `http://gateway.local:8700`.
    pub gateway_url: String,
    /// Bytes per tus PATCH request (a checkpoint for resuming).
    pub chunk_bytes: usize,
    /// Upload bandwidth cap in bytes per second (0 = no cap), for shared commune links.
    pub max_rate_bytes_per_sec: u64,
    /// First retry delay; doubles per failure, with full jitter.
    pub retry_initial: Duration,
    /// Largest retry delay.
    pub retry_max: Duration,
    /// Time limit of one HTTP request.
    pub request_timeout: Duration,
    /// How long delivered blobs and applicant data stay on the kiosk (for reprints).
    pub retention: Duration,
    /// How often an idle uplink looks for new work.
    pub poll_interval: Duration,
}
