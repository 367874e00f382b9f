//! Calls of the roles: the provincial system (status changes, full dossier views), technicians
//! (the fleet, re-enrolment approvals, revocation) and everyone's statistics. Each handler
//! takes a [`Caller`] of its permission, so the role check cannot be forgotten.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::wire::{ApiError, DossierStatus, DossierStatusView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{ActAsSystem, Caller, ManageFleet, ReadStats};
use super::failure::{parse_json, ApiResult, Failure, Path};
use super::fleet_page::{back_to_page, is_form, same_origin};
use super::state::{now_vn, AppState};
use crate::store::{rfc3339, FleetDevice, Stats};

/// How long a technician's approval of a re-enrolment stays usable.
const APPROVAL_LIFETIME_S: i64 = 24 * 3600;

/// Body of `POST /v1/admin/dossiers/{code}/status`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    /// The new status.
    pub status: DossierStatus,
}

/// Answer of the revoke endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Revocation {
    /// Every certificate serial concerned (a device's: all it ever had).
    pub serials: Vec<String>,
    /// Open connections closed now.
    pub connections_closed: usize,
}

/// Answer of `POST /v1/admin/devices/{id}/allow-reenrolment`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReenrolmentApproval {
    /// The device that may enrol again, once.
    pub device_id: String,
    /// Until when (RFC 3339).
    pub expires_at: String,
}

/// Changes a dossier's status (the provincial one-stop system).
#[utoipa::path(post, path = "/v1/admin/dossiers/{code}/status", tag = "admin", security(("system_certificate" = [])),
    params(("code" = String, Path, description = "dossier code")),
    request_body = StatusChange,
    responses(
        (status = 200, body = DossierStatusView),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
        (status = 404, body = ApiError),
    ))]
pub(super) async fn admin_set_status(
    State(state): State<AppState>,
    _caller: Caller<ActAsSystem>,
    Path(code): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let change: StatusChange = parse_json(body)?;
    match state
        .0
        .store
        .set_dossier_status(&code, change.status, &now_vn())
        .await?
    {
        Some(view) => {
            tracing::info!(dossier = %code, status = ?change.status, "dossier status changed");
            Ok(Json(view).into_response())
        }
        None => Err(Failure::not_found(format!("no dossier {code}"))),
    }
}

/// A dossier with its documents and digitized documents (the provincial system).
#[utoipa::path(get, path = "/v1/admin/dossiers/{code}", tag = "admin", security(("system_certificate" = [])),
    params(("code" = String, Path, description = "dossier code")),
    responses(
        (status = 200, body = DossierStatusView),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
        (status = 404, body = ApiError),
    ))]
pub(super) async fn admin_dossier(
    State(state): State<AppState>,
    _caller: Caller<ActAsSystem>,
    Path(code): Path<String>,
) -> ApiResult {
    match state.0.store.dossier_status(&code).await? {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(Failure::not_found(format!("no dossier {code}"))),
    }
}

/// Counts of stored records (tests and operators check "exactly one copy" with it).
#[utoipa::path(get, path = "/v1/admin/stats", tag = "admin",
    security(("system_certificate" = []), ("technician_certificate" = []), ("auditor_certificate" = [])),
    responses((status = 200, body = Stats), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(super) async fn admin_stats(
    State(state): State<AppState>,
    _caller: Caller<ReadStats>,
) -> ApiResult {
    Ok(Json(state.0.store.stats().await?).into_response())
}

/// The fleet: every enrolled device, its current certificate and when it was last seen.
#[utoipa::path(get, path = "/v1/admin/devices", tag = "admin", security(("technician_certificate" = [])),
    responses((status = 200, body = Vec<FleetDevice>), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(super) async fn admin_devices(
    State(state): State<AppState>,
    _caller: Caller<ManageFleet>,
) -> ApiResult {
    Ok(Json(state.0.store.fleet().await?).into_response())
}

/// Revokes every certificate of a device and closes its open connections at once (an upload in
/// progress stops), and withdraws its unused setup codes. The device's next request is refused with `certificate_revoked`, and a
/// renewal racing the revocation yields no usable certificate. The enrolment key alone does not
/// bring it back: it works again only once a technician approved its re-enrolment
/// (`allow-reenrolment`) and it enrolled anew. The fleet page's form posts here too (any
/// form-encoded body): it is answered 303 back to the page. A browser request made by another
/// site is refused (403 `cross_site_request`), since browsers send the client certificate
/// whoever asks them to post.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/revoke", tag = "admin", security(("technician_certificate" = [])),
    params(("id" = String, Path, description = "device id")),
    responses(
        (status = 200, body = Revocation),
        (status = 303, description = "a form's revocation: back to `/v1/admin/fleet.html`"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`, or `cross_site_request` (`Sec-Fetch-Site` or `Origin` not this gateway)"),
        (status = 404, body = ApiError, description = "no such device"),
    ))]
pub(super) async fn revoke_device(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    same_origin(&headers)?;
    let reason = format!("revoked by technician {}", caller.identity.name);
    let Some(serials) = state.0.store.revoke_device(&id, &reason, &now_vn()).await? else {
        return Err(Failure::not_found(format!("no device {id}")));
    };
    let connections_closed = state.0.connections.close(&serials);
    tracing::info!(device_id = %id, technician = %caller.identity.name, connections_closed, "device revoked");
    if is_form(&headers) {
        return Ok(back_to_page());
    }
    Ok(Json(Revocation {
        serials,
        connections_closed,
    })
    .into_response())
}

/// Answer of `POST /v1/admin/devices/{id}/withdraw-setup-codes`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SetupCodesWithdrawn {
    /// The device id.
    pub device_id: String,
    /// How many unused setup codes were withdrawn now.
    pub withdrawn: u64,
}

/// Withdraws every unused setup code of a device id (a leaked or lost sheet): a kiosk
/// presenting one is refused with `token_withdrawn`. The id need not be enrolled yet.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/withdraw-setup-codes", tag = "admin", security(("technician_certificate" = [])),
    params(("id" = String, Path, description = "device id")),
    responses(
        (status = 200, body = SetupCodesWithdrawn),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role` or `cross_site_request`"),
    ))]
pub(super) async fn withdraw_setup_codes(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    same_origin(&headers)?;
    let withdrawn = state.0.store.withdraw_setup_codes(&id, &now_vn()).await?;
    tracing::info!(device_id = %id, technician = %caller.identity.name, withdrawn, "setup codes withdrawn");
    Ok(Json(SetupCodesWithdrawn {
        device_id: id,
        withdrawn,
    })
    .into_response())
}

/// Revokes one certificate by serial (a device's or a role's; one the gateway never saw is
/// recorded as revoked) and closes its open connections.
#[utoipa::path(post, path = "/v1/admin/certificates/{serial}/revoke", tag = "admin", security(("technician_certificate" = [])),
    params(("serial" = String, Path, pattern = "^[0-9A-Fa-f]{1,64}$", description = "certificate serial in hex, as `gateway ca issue` printed it")),
    responses(
        (status = 200, body = Revocation),
        (status = 400, body = ApiError, description = "`invalid_serial`"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError),
    ))]
pub(super) async fn revoke_certificate(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Path(serial): Path<String>,
) -> ApiResult {
    let serial = serial.to_ascii_lowercase();
    if serial.is_empty() || serial.len() > 64 || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::bad_request(
            "invalid_serial",
            "the serial must be the certificate's serial number in hex, as `gateway ca issue` printed it",
        ));
    }
    let reason = format!("revoked by technician {}", caller.identity.name);
    state
        .0
        .store
        .revoke_certificate(&serial, &reason, &now_vn())
        .await?;
    let serials = vec![serial];
    let connections_closed = state.0.connections.close(&serials);
    tracing::info!(serial = %serials[0], technician = %caller.identity.name, connections_closed, "certificate revoked");
    Ok(Json(Revocation {
        serials,
        connections_closed,
    })
    .into_response())
}

/// Lets a known device id enrol again, once, within 24 hours (a replaced disk, a kiosk set up
/// anew, a device revoked or whose certificate expired): the enrolment key alone enrols only a
/// device id the gateway has never seen, so without this it can neither take over a working
/// kiosk nor undo a revocation.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/allow-reenrolment", tag = "admin", security(("technician_certificate" = [])),
    params(("id" = String, Path, description = "device id")),
    responses(
        (status = 200, body = ReenrolmentApproval),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError),
        (status = 404, body = ApiError, description = "no such device"),
    ))]
pub(super) async fn allow_reenrolment(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Path(id): Path<String>,
) -> ApiResult {
    let expires = chrono::Utc::now().timestamp() + APPROVAL_LIFETIME_S;
    let known = state
        .0
        .store
        .allow_reenrolment(&id, &caller.identity.name, &now_vn(), expires)
        .await?;
    if !known {
        return Err(Failure::not_found(format!("no device {id}")));
    }
    tracing::info!(device_id = %id, technician = %caller.identity.name, "re-enrolment approved");
    Ok(Json(ReenrolmentApproval {
        device_id: id,
        expires_at: rfc3339(expires),
    })
    .into_response())
}
