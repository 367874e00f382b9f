//! Shared state of all handlers, and the small helpers (digests, the clock) that several
//! resources use. It sits at the bottom of the `api` module graph: every other `api` file may
//! use it, it uses none of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use sha2::{Digest, Sha256};

use motcua_identity::Authority;

use crate::files::Files;
use crate::server::Connections;
use crate::store::Store;
use crate::{GatewayConfig, GatewayError};

/// The keys under which the gateway keeps what identifies a citizen: the receipts' lookup
/// hashes and the ID numbers of held documents.
pub(crate) struct CitizenKeys {
    pub(crate) lookup: crate::lookup_key::LookupKey,
    pub(crate) id: crate::id_key::IdKey,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub(crate) struct AppState(pub(super) Arc<Inner>);

pub(super) struct Inner {
    pub(super) store: Store,
    /// Keys the lookup hashes stored (see `crate::lookup_key`).
    pub(super) lookup_key: crate::lookup_key::LookupKey,
    /// Keys the ID numbers of held documents (see `crate::id_key`).
    pub(super) id_key: crate::id_key::IdKey,
    /// How often a device may ask which documents are held.
    pub(super) held_limits: crate::store::HeldLimits,
    /// The catalog, for the document kinds of a dossier's procedure.
    pub(super) catalog: motcua_domain::catalog::Catalog,
    pub(super) files: Files,
    pub(super) enrollment_key_sha256: [u8; 32],
    /// The province's CA: signs device certificates at enrolment and renewal.
    pub(super) authority: Authority,
    pub(super) device_cert_lifetime: Duration,
    /// Deadline of the unauthenticated enrolment request's body.
    pub(super) enrollment_body_timeout: Duration,
    /// Open connections by certificate serial, to close them on revocation.
    pub(super) connections: Arc<Connections>,
    /// When each device's `last_seen_at` was last written, so it is written once a minute at
    /// most rather than at every request.
    last_seen: Mutex<HashMap<String, Instant>>,
    pub(super) catalog_json: Bytes,
    pub(super) catalog_etag: String,
    pub(super) max_upload_bytes: u64,
    /// When the fleet view flags a device.
    pub(super) fleet: crate::store::FleetSettings,
    /// What signs releases published through the admin API (`None`: only the CLI publishes).
    pub(super) release_key: Option<Arc<motcua_identity::release::ReleaseKey>>,
    /// When a rollout pauses itself.
    pub(super) release_pause: motcua_domain::release::PausePolicy,
    /// What signs setup codes, or why they cannot be issued (503).
    pub(super) issuer: Result<crate::provision::Issuer, String>,
    /// Where config profiles are.
    pub(super) profiles_dir: std::path::PathBuf,
    /// Numbers in each sequence block.
    pub(super) block_size: u16,
    /// Fonts of the printable setup sheet.
    pub(super) sheet_fonts: crate::sheet::FontConfig,
    /// Request rate, upload quotas, expiry and retention.
    pub(super) limits: crate::Limits,
}

impl AppState {
    pub(crate) fn new(
        store: Store,
        files: Files,
        authority: Authority,
        issuer: Result<crate::provision::Issuer, String>,
        connections: Arc<Connections>,
        keys: CitizenKeys,
        config: &GatewayConfig,
    ) -> Result<Self, GatewayError> {
        let catalog_json = serde_json::to_vec(&config.catalog)
            .map_err(|e| GatewayError::Config(format!("the catalog cannot be serialised: {e}")))?;
        let catalog_etag = format!("\"{}\"", sha256_hex(&catalog_json));
        // Read at start: a key file that cannot be used stops the gateway with its name.
        let release_key = match &config.release_key_file {
            Some(path) => Some(Arc::new(crate::release::release_key(path)?)),
            None => None,
        };
        Ok(Self(Arc::new(Inner {
            store,
            lookup_key: keys.lookup,
            id_key: keys.id,
            held_limits: crate::store::HeldLimits::default(),
            catalog: config.catalog.clone(),
            files,
            enrollment_key_sha256: sha256(config.enrollment_key.as_bytes()),
            authority,
            device_cert_lifetime: config.device_cert_lifetime,
            enrollment_body_timeout: config.enrollment_body_timeout,
            connections,
            last_seen: Mutex::new(HashMap::new()),
            catalog_json: Bytes::from(catalog_json),
            catalog_etag,
            max_upload_bytes: config.max_upload_bytes,
            fleet: config.fleet,
            release_key,
            release_pause: config.release_pause,
            issuer,
            profiles_dir: config.profiles_dir.clone(),
            block_size: config.sequence_block_size,
            sheet_fonts: config.sheet_fonts.clone(),
            limits: config.limits,
        })))
    }

    /// Whether the device's `last_seen_at` is due to be written (once a minute).
    pub(super) fn seen_due(&self, device_id: &str) -> bool {
        let mut seen = self.0.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match seen.get(device_id) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(60) => false,
            _ => {
                if seen.len() > 100_000 {
                    seen.clear();
                }
                seen.insert(device_id.to_string(), now);
                true
            }
        }
    }
}

pub(super) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(super) fn now_vn() -> String {
    chrono::Utc::now()
        .with_timezone(&motcua_domain::vietnam_offset())
        .to_rfc3339()
}

pub(super) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
