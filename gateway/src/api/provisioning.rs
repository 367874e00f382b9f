//! Provisioning with a setup code: the CA a fresh kiosk fetches before it trusts anything, the
//! one-time enrolment by token, the profile and sequence blocks of a provisioned device, and
//! the technician's setup sheet (JSON, or the printable PDF).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::provisioning::{
    DeviceProfile, ProvisionRequest, Provisioned, SequenceBlocks, SetupSheet, SetupSheetRequest,
};
use motcua_domain::wire::ApiError;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::{Caller, Device, ManageFleet};
use super::enrolment::{body_with_deadline, certificate_body, sign};
use super::failure::{parse_limited, ApiResult, Failure, Query};
use super::state::{now_vn, sha256_hex, AppState};
use crate::provision::{read_profile, ProvisionError};
use crate::store::{BlockOutcome, NewCertificate, Provision, ProvisionOutcome, MAX_LIVE_BLOCKS};

fn internal(what: &str, e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "{what}");
    Failure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("the gateway could not {what}; its log names the cause"),
    )
}

/// A refusal of the provisioning calls, in the technician's words.
pub(super) fn provision_failure(e: ProvisionError) -> Failure {
    match e {
        ProvisionError::Invalid { code, message } => Failure::bad_request(code, message),
        e @ ProvisionError::ProfileMissing { .. } => {
            Failure::new(StatusCode::NOT_FOUND, "profile_missing", e.to_string())
        }
        e @ ProvisionError::ProfileInvalid { .. } => {
            tracing::error!(error = %e, "a profile is not valid");
            Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "profile_invalid",
                e.to_string(),
            )
        }
        ProvisionError::DeviceExists(why) => {
            Failure::new(StatusCode::CONFLICT, "device_exists", why)
        }
        ProvisionError::Unavailable(why) => Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provisioning_unavailable",
            why,
        ),
        ProvisionError::Store(e) => Failure::from(e),
        e => internal("read the profile or draw a token", e),
    }
}

fn exhausted(site: &str) -> Failure {
    Failure::new(
        StatusCode::CONFLICT,
        "sequence_exhausted",
        format!(
            "đơn vị {site} đã hết số hồ sơ trong ngày để cấp khối mới / the site {site} has no \
             free range of dossier numbers (1..=9999) left for a new block: every number is in \
             a live block or one retired today (retired ranges are free again tomorrow); a \
             smaller --sequence-block-size leaves room"
        ),
    )
}

/// The province's CA certificate (PEM). Anyone may fetch it: a fresh kiosk does so before it
/// trusts the gateway, and keeps it only if its SHA-256 matches its setup code's.
#[utoipa::path(get, path = "/v1/ca.pem", tag = "devices",
    responses((status = 200, content_type = "application/x-pem-file", body = String, description = "the CA certificate, PEM")))]
pub(super) async fn ca_pem(State(state): State<AppState>) -> ApiResult {
    Ok((
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        state.0.authority.cert_pem().to_string(),
    )
        .into_response())
}

/// Enrols a kiosk with a setup code's one-time token: the token names its device id, site and
/// profile. The first use takes the token (bound to the CSR's key), enrols the device (a known
/// id: the token is the technician's approval, its older certificates are revoked and their
/// connections closed), retires the device's earlier sequence blocks and allocates a fresh one,
/// in one transaction. The same kiosk (same key) presenting the token again, while the
/// certificate it was given is still unused and not revoked (its answer was lost), gets a new
/// certificate and the same blocks. The body must arrive within the enrolment deadline.
#[utoipa::path(post, path = "/v1/devices/provision", tag = "devices", request_body = ProvisionRequest,
    responses(
        (status = 200, body = Provisioned),
        (status = 400, body = ApiError, description = "invalid body or CSR (`invalid_csr`)"),
        (status = 403, body = ApiError, description = "`token_unknown`, `token_expired` or `token_withdrawn` (the device was revoked, a newer code was issued for its id, or a technician withdrew it)"),
        (status = 408, body = ApiError, description = "`request_timeout`"),
        (status = 409, body = ApiError, description = "`token_used` (by another kiosk's key), `token_spent` (this kiosk's certificate from it is in use or revoked) or `sequence_exhausted`"),
    ))]
pub(super) async fn provision(State(state): State<AppState>, request: Request) -> ApiResult {
    let body = body_with_deadline(&state, request).await?;
    let req: ProvisionRequest = parse_limited(body)?;
    let token_sha256 = sha256_hex(req.token.trim().as_bytes());
    let unknown = || {
        Failure::new(
            StatusCode::FORBIDDEN,
            "token_unknown",
            "mã cấu hình không do cổng này cấp / this gateway issued no such setup code",
        )
    };
    let expired = || {
        Failure::new(
            StatusCode::FORBIDDEN,
            "token_expired",
            "mã cấu hình đã hết hạn; hãy in phiếu mới / the setup code has expired: print a new sheet",
        )
    };
    let withdrawn = || {
        Failure::new(
            StatusCode::FORBIDDEN,
            "token_withdrawn",
            "mã cấu hình đã bị thu hồi; hãy xin phiếu mới / the setup code was withdrawn: ask for a new sheet",
        )
    };
    let Some(token) = state.0.store.provisioning_token(&token_sha256).await? else {
        tracing::warn!("provisioning refused: unknown token");
        return Err(unknown());
    };
    // Checked again in the transaction; refused here without signing anything.
    if token.used_key_sha256.is_none() && token.withdrawn {
        tracing::warn!(device_id = %token.device_id, site = %token.site, "provisioning refused: token withdrawn");
        return Err(withdrawn());
    }
    if token.used_key_sha256.is_none() && token.expires_at <= chrono::Utc::now().timestamp() {
        tracing::warn!(device_id = %token.device_id, site = %token.site, "provisioning refused: token expired");
        return Err(expired());
    }
    let issued = sign(&state, &req.csr_pem, &token.device_id, &token.site)?;
    let key_sha256 = motcua_identity::certificate_key_sha256(&issued.cert_pem)
        .map_err(|e| internal("read the key of the signed certificate", e))?;
    let now = now_vn();
    let outcome = state
        .0
        .store
        .provision(&Provision {
            token_sha256,
            key_sha256,
            cert: NewCertificate::from_identity(&issued.identity, &now),
            block_size: state.0.block_size,
            now,
            now_unix: chrono::Utc::now().timestamp(),
        })
        .await?;
    let (device, site) = (token.device_id.as_str(), token.site.as_str());
    match outcome {
        ProvisionOutcome::Unknown => Err(unknown()),
        ProvisionOutcome::Expired => {
            tracing::warn!(
                device_id = device,
                site,
                "provisioning refused: token expired"
            );
            Err(expired())
        }
        ProvisionOutcome::Withdrawn => {
            tracing::warn!(
                device_id = device,
                site,
                "provisioning refused: token withdrawn"
            );
            Err(withdrawn())
        }
        ProvisionOutcome::AlreadyDone => {
            tracing::warn!(
                device_id = device,
                site,
                "provisioning refused: token used, its certificate in use or revoked"
            );
            Err(Failure::new(
                StatusCode::CONFLICT,
                "token_spent",
                "mã này đã dùng xong cho ki-ốt này; nếu cần cài lại, hãy in phiếu mới / this code \
                 was already used up by this kiosk; to set it up again, print a new sheet",
            ))
        }
        ProvisionOutcome::UsedByAnother => {
            tracing::warn!(
                device_id = device,
                site,
                "provisioning refused: token used by another key"
            );
            Err(Failure::new(
                StatusCode::CONFLICT,
                "token_used",
                "mã cấu hình này đã được một ki-ốt khác dùng / this setup code was already used by another kiosk: print a new sheet",
            ))
        }
        ProvisionOutcome::Exhausted => {
            tracing::warn!(
                device_id = device,
                site,
                "provisioning refused: sequence exhausted"
            );
            Err(exhausted(site))
        }
        ProvisionOutcome::Done {
            revoked,
            blocks,
            profile,
            retry,
        } => {
            let closed = state.0.connections.close(&revoked);
            tracing::info!(device_id = device, site, serial = %issued.identity.serial, %profile, retry, ?revoked, closed, "device provisioned");
            Ok(Json(Provisioned {
                certificate: certificate_body(&state, &issued, device, site),
                blocks,
                profile,
            })
            .into_response())
        }
    }
}

/// The config profile the calling device was provisioned with.
#[utoipa::path(get, path = "/v1/devices/profile", tag = "devices", security(("device_certificate" = [])),
    responses(
        (status = 200, body = DeviceProfile),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
        (status = 404, body = ApiError, description = "`profile_missing`: no profile for this device, or its file is gone"),
        (status = 422, body = ApiError, description = "`profile_invalid`: the profile file on the gateway is not valid"),
    ))]
pub(super) async fn device_profile(State(state): State<AppState>, device: Device) -> ApiResult {
    let Some(name) = state.0.store.device_profile(&device.id).await? else {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            "profile_missing",
            format!(
                "thiết bị {} không được cấp bằng mã cấu hình nên không có hồ sơ cấu hình / \
                 device {} was not provisioned with a setup code, so it has no profile",
                device.id, device.id
            ),
        ));
    };
    let profile = read_profile(&state.0.profiles_dir, &name).map_err(provision_failure)?;
    Ok(Json(profile).into_response())
}

/// Allocates one more dossier sequence block to the calling device (at its site) and returns
/// all its live blocks, oldest first.
#[utoipa::path(post, path = "/v1/devices/sequence-blocks", tag = "devices", security(("device_certificate" = [])),
    responses(
        (status = 200, body = SequenceBlocks),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
        (status = 409, body = ApiError, description = "`too_many_blocks` (8 live ones already) or `sequence_exhausted`"),
    ))]
pub(super) async fn sequence_blocks(State(state): State<AppState>, device: Device) -> ApiResult {
    let outcome = state
        .0
        .store
        .allocate_block(&device.id, &device.site, state.0.block_size, &now_vn())
        .await?;
    match outcome {
        BlockOutcome::TooMany => Err(Failure::new(
            StatusCode::CONFLICT,
            "too_many_blocks",
            format!(
                "thiết bị đã giữ {MAX_LIVE_BLOCKS} khối số / the device already holds \
                 {MAX_LIVE_BLOCKS} live sequence blocks; a technician should look at it"
            ),
        )),
        BlockOutcome::Exhausted => Err(exhausted(&device.site)),
        BlockOutcome::Blocks(blocks) => {
            tracing::info!(device_id = %device.id, site = %device.site, blocks = blocks.len(), "sequence block allocated");
            Ok(Json(SequenceBlocks { blocks }).into_response())
        }
    }
}

/// The values of `?format=` the document offers (the handler reads the text itself, so that
/// another value is its own 400 `invalid_format`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // only the OpenAPI document names it
pub(super) enum SheetKind {
    /// The codes as JSON.
    Json,
    /// The printable sheet.
    Pdf,
}

/// `?format=` of the setup sheet.
#[derive(Debug, Deserialize)]
pub(super) struct SheetFormat {
    format: Option<String>,
}

/// Issues a setup sheet: one signed setup code per device slot, each with a one-time token
/// valid for `valid_hours`. With `?format=pdf` the printable sheet (one A4 page per slot). A
/// new code for a device id withdraws its older unused ones; an id of a live device or of
/// another site's device needs `replace: true`.
#[utoipa::path(post, path = "/v1/admin/provisioning", tag = "admin", security(("technician_certificate" = [])),
    params(("format" = Option<SheetKind>, Query, description = "`pdf` for the printable sheet, `json` (the default) for the codes as JSON")),
    request_body = SetupSheetRequest,
    responses(
        (status = 200, body = SetupSheet, description = "JSON, or `application/pdf` with `?format=pdf`"),
        (status = 400, body = ApiError, description = "`invalid_site`, `invalid_device_id`, `invalid_count`, `invalid_valid_hours`, `invalid_profile`, `invalid_format`"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
        (status = 404, body = ApiError, description = "`profile_missing`"),
        (status = 409, body = ApiError, description = "`device_exists`: a device id asked for is live or of another site, and `replace` was not given"),
        (status = 422, body = ApiError, description = "`profile_invalid`: the profile file is not TOML or holds [device], [gateway], [store] or [provisioning]"),
        (status = 503, body = ApiError, description = "`provisioning_unavailable`: no provisioning key or public URL, or (PDF) the fonts cannot be loaded; no code was issued"),
    ))]
pub(super) async fn admin_provisioning(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Query(format): Query<SheetFormat>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let pdf = match format.format.as_deref() {
        None | Some("json") => false,
        Some("pdf") => true,
        Some(other) => {
            return Err(Failure::bad_request(
                "invalid_format",
                format!("format {other:?} is not json or pdf"),
            ))
        }
    };
    let req: SetupSheetRequest = parse_limited(body)?;
    let issuer = state.0.issuer.as_ref().map_err(|why| {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provisioning_unavailable",
            why.clone(),
        )
    })?;
    if pdf {
        crate::sheet::check_sheet_fonts(&state.0.sheet_fonts).map_err(|e| {
            tracing::error!(error = %e, "the setup sheet's fonts cannot be loaded");
            Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "provisioning_unavailable",
                format!(
                    "cổng không có phông chữ để in phiếu / the gateway cannot load the sheet's \
                     fonts ({e}): install fonts-dejavu-core or set --font-regular/--font-bold; \
                     no code was issued"
                ),
            )
        })?;
    }
    let sheet = crate::provision::issue(&state.0.store, issuer, &req, &caller.identity.name)
        .await
        .map_err(provision_failure)?;
    if !pdf {
        return Ok(Json(sheet).into_response());
    }
    let fonts = state.0.sheet_fonts.clone();
    let bytes = tokio::task::spawn_blocking(move || crate::sheet::setup_sheet_pdf(&sheet, &fonts))
        .await
        .map_err(|e| internal("render the setup sheet", e))?
        .map_err(|e| internal("render the setup sheet", e))?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], bytes).into_response())
}
