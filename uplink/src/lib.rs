//! The kiosk's side of the link to the provincial gateway.
//!
//! - [`identity`]: the kiosk's identity files (`identity/device.pem`, `identity/ca.crt`, the
//!   previous pair `identity/device.prev.pem` after a renewal, the renewal lock `identity/.lock`);
//! - [`client`]: the HTTPS client of the gateway API (mutual TLS; enrolment and renewal,
//!   catalog, tus resumable uploads, idempotent ingest, dossier status), every failure
//!   classified as retryable or not and described in words a technician reads;
//! - [`credentials`]: enrolment, renewal, and the [`DeviceLink`] that rebuilds the client when
//!   the certificate is replaced;
//! - [`provision`]: joining the province with a setup code (the CA fetched and checked
//!   against the code, enrolment with its token, the profile), and the device routes of
//!   provisioning (sequence blocks, remote actions);
//! - [`release`]: the release downloader (the offer, the package resumed by byte ranges, its
//!   signed manifest and SHA-256 checked, the reports), for updates without a site visit;
//! - [`hub`]: the client of the centre's hub (issue #18) on the hall's LAN: queue numbers, the
//!   kiosk's fallback block, offline tickets, ratings by ticket QR; the hub's device
//!   certificate checked by its site;
//! - [`budget`]: the daily upload budget of a metered link (bytes of document uploads a day);
//! - [`drain`]: the [`Uplink`] task that drains the store's outbox through that client, with
//!   exponential backoff and jitter, marking an entry delivered only on the gateway's durable
//!   acknowledgement (the store's invariant 3).
//!
//! It depends on the domain (wire types), the store (the outbox it drains) and the identity
//! crate (certificates, key pairs), never on the kiosk's configuration file: the kiosk builds an
//! [`UplinkSettings`] from it.

pub mod budget;
pub mod client;
pub mod credentials;
pub mod drain;
pub mod held;
pub mod hub;
pub mod identity;
pub mod lookup;
mod pace;
pub mod provision;
pub mod release;
mod tls;

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use budget::BudgetState;
pub use client::{GatewayClient, GatewayError};
pub use credentials::{CredentialError, DeviceLink};
pub use drain::{backoff, DeliveryError, Heartbeat, Uplink, QUIET_ALLOWANCE};
pub use hub::{HubClient, HubError};
pub use identity::{DeviceCredential, IdentityFileError, IdentityFiles, TrustAnchor};
pub use lookup::LookupAnswer;
pub use provision::{ProvisionError, ProvisionOutcome};

/// What the uplink last learnt about its link, for the kiosk's status line: a problem with the
/// link itself (the gateway untrusted or unreachable, this kiosk's certificate refused) and a
/// failing renewal. Cheap to clone; shared between the uplink task and whoever shows status.
#[derive(Debug, Clone, Default)]
pub struct LinkStatus {
    inner: Arc<Mutex<LinkReport>>,
}

#[derive(Debug, Default)]
struct LinkReport {
    link: Option<String>,
    renewal: Option<String>,
}

impl LinkStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, LinkReport> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets (or clears, with `None`) the link problem.
    pub fn set_link(&self, problem: Option<String>) {
        self.lock().link = problem;
    }

    /// Sets (or clears) the renewal problem.
    pub fn set_renewal(&self, problem: Option<String>) {
        self.lock().renewal = problem;
    }

    /// The problems, Vietnamese first, joined; `None` when the link is well.
    pub fn line(&self) -> Option<String> {
        let r = self.lock();
        let parts: Vec<&str> = [r.link.as_deref(), r.renewal.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// How the outbox is delivered to the gateway.
#[derive(Debug, Clone)]
pub struct UplinkSettings {
    /// Base URL of the gateway, e.g. `https://gateway.local:8700` (https only).
    pub gateway_url: String,
    /// Bytes per tus PATCH request (a checkpoint for resuming).
    pub chunk_bytes: usize,
    /// Upload bandwidth cap in bytes per second (0 = no cap), for shared commune links.
    pub max_rate_bytes_per_sec: u64,
    /// Bytes of document uploads (tus PATCH bodies) a Vietnam day may send, for metered
    /// 3G/4G links (`None` = no budget); see [`budget`].
    pub daily_upload_budget_bytes: Option<u64>,
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
