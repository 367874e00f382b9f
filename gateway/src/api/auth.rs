//! Authentication and authorisation extractors: a handler that takes a [`Device`] or a
//! [`Caller<P>`] argument cannot run for a peer without the matching client certificate, so no
//! handler can forget the check.
//!
//! TLS has already verified that a presented certificate was signed by the province's CA and is
//! within its validity (see `crate::tls`); what is decided here, per request, is whether it is
//! still good (recorded, not revoked) and whether its role may call the route. Refusals carry
//! stable codes kiosks branch on: `certificate_required`, `certificate_unknown`,
//! `certificate_revoked`, `certificate_expired` (401) and `forbidden_role` (403).

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use motcua_identity::{PeerIdentity, Role};

use super::failure::Failure;
use super::state::{now_vn, AppState};
use crate::store::NewCertificate;
use crate::tls::Peer;

fn refused(error: &'static str, message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::UNAUTHORIZED, error, message)
}

pub(super) fn forbidden_role(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::FORBIDDEN, "forbidden_role", message)
}

/// The verified identity of the request's client certificate, or why there is none.
fn identity(parts: &Parts) -> Result<Arc<PeerIdentity>, Failure> {
    match parts.extensions.get::<Peer>() {
        Some(Peer::Identified(identity)) => Ok(Arc::clone(identity)),
        Some(Peer::Unreadable(why)) => Err(refused(
            "certificate_unknown",
            format!("the client certificate is not a motcua certificate: {why}"),
        )),
        Some(Peer::Anonymous) | None => Err(refused(
            "certificate_required",
            "this call needs a client certificate: enrol the kiosk with `kioskctl enroll` (or \
             use the role certificate `gateway ca issue` made)",
        )),
    }
}

fn expired(identity: &PeerIdentity) -> Option<Failure> {
    (identity.not_after <= chrono::Utc::now().timestamp()).then(|| {
        refused(
            "certificate_expired",
            format!(
                "the client certificate {} has expired: a technician must re-enrol the device",
                identity.serial
            ),
        )
    })
}

fn revoked(serial: &str, reason: Option<&str>) -> Failure {
    refused(
        "certificate_revoked",
        format!(
            "the client certificate {serial} was revoked ({}): a technician must re-enrol the \
             device (`kioskctl enroll`) or issue a new certificate",
            reason.unwrap_or("no reason given")
        ),
    )
}

/// A kiosk or intake station, known by a recorded, live device certificate.
pub(crate) struct Device {
    /// The device id (the certificate's CN).
    pub(super) id: String,
    /// Its site (the certificate's O).
    pub(super) site: String,
    /// The serial of the certificate it presented.
    pub(super) serial: String,
}

impl FromRequestParts<AppState> for Device {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let identity = identity(parts)?;
        if identity.role != Role::Device {
            return Err(forbidden_role(format!(
                "a {} certificate cannot make a device's calls",
                identity.role
            )));
        }
        if let Some(refusal) = expired(&identity) {
            return Err(refusal);
        }
        let store = &state.0.store;
        let Some(row) = store.certificate(&identity.serial).await? else {
            return Err(refused(
                "certificate_unknown",
                format!(
                    "the gateway has no record of the device certificate {}: enrol the device \
                     (`kioskctl enroll`)",
                    identity.serial
                ),
            ));
        };
        if row.revoked_at.is_some() {
            return Err(revoked(&identity.serial, row.revoked_reason.as_deref()));
        }
        if row.role != Role::Device.as_str() || row.name != identity.name {
            return Err(refused(
                "certificate_unknown",
                format!(
                    "the device certificate {} does not match the gateway's record of it",
                    identity.serial
                ),
            ));
        }
        let site = identity.site.clone().unwrap_or_default();
        let now = now_vn();
        if !row.first_used {
            // A renewed certificate's first use: the device has it safely, so the ones before
            // it go. Their open connections are left to end: every request on them is refused
            // from now on by the check above.
            let superseded = store
                .first_use(&identity.serial, &identity.name, row.issued_us, &now)
                .await?;
            if !superseded.is_empty() {
                tracing::info!(device_id = %identity.name, serial = %identity.serial, ?superseded, "new device certificate in use; older ones revoked");
            }
        }
        if state.seen_due(&identity.name) {
            store.touch_device(&identity.name, &now).await?;
        }
        rate_limit(state, &identity.name).await?;
        Ok(Device {
            id: identity.name.clone(),
            site,
            serial: identity.serial.clone(),
        })
    }
}

/// Counts the request in the device's current window (in the database, so every gateway on
/// one PostgreSQL counts into the same window) and refuses it past the limit: 429
/// `rate_limited` with `Retry-After` (the seconds until the window ends). Only device calls
/// are counted: the unauthenticated routes have no device to count for (see the README), and
/// role certificates are the province's own systems and people.
async fn rate_limit(state: &AppState, device_id: &str) -> Result<(), Failure> {
    let limits = &state.0.limits;
    let window = i64::try_from(limits.rate_window.as_secs().max(1)).unwrap_or(60);
    let now = chrono::Utc::now().timestamp();
    let start = now - now.rem_euclid(window);
    let count = state.0.store.count_request(device_id, start).await?;
    if count > i64::from(limits.requests_per_window) {
        let retry_after = (start + window - now).max(1);
        if count == i64::from(limits.requests_per_window) + 1 {
            tracing::warn!(
                device_id,
                limit = limits.requests_per_window,
                window_s = window,
                "device over its request rate; refused until the window ends"
            );
        }
        return Err(Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "ki-ốt gửi quá {} yêu cầu trong {window} giây; thử lại sau {retry_after} giây / \
                 this device sent more than {} requests in {window} s; retry in {retry_after} s \
                 (the kiosk waits on its own; if it keeps happening, look for a loop in its log)",
                limits.requests_per_window, limits.requests_per_window
            ),
        )
        .with_header(axum::http::header::RETRY_AFTER, retry_after));
    }
    Ok(())
}

/// What a role may do; each route names one, and [`Caller`] checks it.
pub(crate) trait Permission {
    /// The roles allowed.
    const ROLES: &'static [Role];
    /// What the permission covers, for the refusal ("read scanned documents").
    const WHAT: &'static str;
    /// A refusal in particular words for a role, if any.
    fn refusal(_role: Role) -> Option<&'static str> {
        None
    }
}

/// Read uploaded blobs (citizens' scans): the provincial system's export feed and auditors.
pub(crate) struct ReadBlobs;
impl Permission for ReadBlobs {
    const ROLES: &'static [Role] = &[Role::System, Role::Auditor];
    const WHAT: &'static str = "read scanned documents";
    fn refusal(role: Role) -> Option<&'static str> {
        (role == Role::Technician).then_some(
            "technicians cannot read citizens' scans: only the provincial system and auditors can",
        )
    }
}

/// Read the counts of stored records.
pub(crate) struct ReadStats;
impl Permission for ReadStats {
    const ROLES: &'static [Role] = &[Role::System, Role::Technician, Role::Auditor];
    const WHAT: &'static str = "read the statistics";
}

/// Act for the provincial one-stop system: status changes, full dossier views.
pub(crate) struct ActAsSystem;
impl Permission for ActAsSystem {
    const ROLES: &'static [Role] = &[Role::System];
    const WHAT: &'static str = "make the provincial system's calls";
}

/// Read the export feed: the provincial one-stop system only.
pub(crate) struct ReadFeed;
impl Permission for ReadFeed {
    const ROLES: &'static [Role] = &[Role::System];
    const WHAT: &'static str = "read the export feed";
    fn refusal(role: Role) -> Option<&'static str> {
        match role {
            Role::Technician => Some(
                "kỹ thuật viên không được đọc dữ liệu của công dân / technicians cannot read \
                 citizens' data: the export feed is the provincial one-stop system's (a \
                 certificate of role system)",
            ),
            Role::Device => Some(
                "ki-ốt không đọc được luồng xuất dữ liệu / a kiosk cannot read the export feed: \
                 it is the provincial one-stop system's (a certificate of role system)",
            ),
            Role::Auditor => Some(
                "kiểm toán viên không đọc luồng xuất dữ liệu / auditors cannot read the export \
                 feed: it is the provincial one-stop system's (a certificate of role system); \
                 auditors read statistics and documents by hash",
            ),
            _ => None,
        }
    }
}

/// Read the day reports of the centres' queue services: the provincial system and technicians.
pub(crate) struct ReadQueueReports;
impl Permission for ReadQueueReports {
    const ROLES: &'static [Role] = &[Role::System, Role::Technician];
    const WHAT: &'static str = "read the queue's day reports";
}

/// Manage the fleet: list devices, approve re-enrolments, revoke certificates.
pub(crate) struct ManageFleet;
impl Permission for ManageFleet {
    const ROLES: &'static [Role] = &[Role::Technician];
    const WHAT: &'static str = "manage the kiosk fleet";
}

/// A role holder allowed `P`, known by a live role certificate. Role certificates are made
/// offline (`gateway ca issue`), so one first seen is recorded; a revoked serial is refused.
pub(crate) struct Caller<P> {
    pub(super) identity: Arc<PeerIdentity>,
    _permission: PhantomData<P>,
}

impl<P: Permission + Send + Sync> FromRequestParts<AppState> for Caller<P> {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let identity = identity(parts)?;
        if !P::ROLES.contains(&identity.role) {
            let allowed: Vec<&str> = P::ROLES.iter().map(|r| r.as_str()).collect();
            return Err(forbidden_role(P::refusal(identity.role).map_or_else(
                || {
                    format!(
                        "a {} certificate cannot {}; this needs a certificate of role {}",
                        identity.role,
                        P::WHAT,
                        allowed.join(" or ")
                    )
                },
                str::to_string,
            )));
        }
        if let Some(refusal) = expired(&identity) {
            return Err(refusal);
        }
        let store = &state.0.store;
        match store.certificate(&identity.serial).await? {
            Some(row) if row.revoked_at.is_some() => {
                return Err(revoked(&identity.serial, row.revoked_reason.as_deref()))
            }
            Some(_) => {}
            None => {
                let now = now_vn();
                store
                    .record_certificate(&NewCertificate::from_identity(&identity, &now))
                    .await?;
                tracing::info!(role = %identity.role, name = %identity.name, serial = %identity.serial, "role certificate seen for the first time");
            }
        }
        Ok(Caller {
            identity,
            _permission: PhantomData,
        })
    }
}
