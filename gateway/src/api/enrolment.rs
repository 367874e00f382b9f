//! Device enrolment: a technician's kiosk trades the province's enrolment key for its own bearer
//! token.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::wire::{ApiError, EnrollRequest, EnrollResponse};

use super::auth::Admin;
use super::failure::{parse_json, ApiResult, Failure};
use super::state::{now_vn, sha256, sha256_hex, AppState};

/// Enrols a device with the province's enrolment key and returns its bearer token. Enrolling the
/// same device again replaces (revokes) its previous token.
#[utoipa::path(post, path = "/v1/devices/enroll", tag = "devices", request_body = EnrollRequest,
    responses(
        (status = 200, body = EnrollResponse),
        (status = 400, body = ApiError, description = "invalid body or device id"),
        (status = 403, body = ApiError, description = "wrong enrolment key"),
        (status = 409, body = ApiError, description = "already enrolled: re-enrolling needs the admin key as bearer token"),
    ))]
pub(super) async fn enroll(
    State(state): State<AppState>,
    admin: Result<Admin, Failure>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let req: EnrollRequest = parse_json(body)?;
    let id = req.device_id.trim();
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(Failure::bad_request(
            "invalid_device_id",
            "device_id must be 1–128 characters of letters, digits, '-', '_', '.' or ':'",
        ));
    }
    if sha256(req.enrollment_key.as_bytes()) != state.0.enrollment_key_sha256 {
        tracing::warn!(device_id = id, "enrolment refused: wrong enrolment key");
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "wrong enrolment key",
        ));
    }
    let token = {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    // Re-enrolling a known device replaces its token, which would cut off the real kiosk: only
    // the province's admin may allow that (the enrolment key is shared by its technicians).
    let stored = state
        .0
        .store
        .enroll(id, &sha256_hex(token.as_bytes()), &now_vn(), admin.is_ok())
        .await?;
    if !stored {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            "already_enrolled",
            format!(
                "device {id} is already enrolled; re-enrolling it needs the province's admin key \
                 (kioskctl enroll --admin-key …)"
            ),
        ));
    }
    tracing::info!(device_id = id, "device enrolled");
    Ok(Json(EnrollResponse {
        device_id: id.to_string(),
        token,
    })
    .into_response())
}
