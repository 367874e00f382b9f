//! Dossier status for devices: the kiosk's status-lookup screen, with the receipt's secret.
//!
//! Dossier codes are sequential, so the code alone opens nothing: the kiosk posts the code with
//! the secret printed on the receipt (in the body: URLs end up in logs), and the gateway
//! compares its hash with the one the kiosk delivered the dossier with. A wrong secret, a
//! dossier without a stored hash, an unknown code and another site's code all get the same
//! 404, byte for byte; failed lookups are limited per device and per code (see
//! `store::lookup`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::wire::{ApiError, DossierLookup, DossierStatusView};

use super::auth::Device;
use super::failure::{parse_json, ApiResult, Failure};
use super::state::AppState;
use crate::store::{LimitedBy, LookupLimits, LookupOutcome};

/// Longest code or secret accepted (both are far shorter).
const MAX_FIELD: usize = 64;

/// The one answer of every lookup that does not open a dossier.
fn not_found() -> Failure {
    Failure::not_found(
        "không có hồ sơ nào khớp mã hồ sơ và mã tra cứu này / no dossier matches this dossier \
         code and lookup code",
    )
}

/// Status of a dossier for the kiosk's status-lookup screen, given the receipt's lookup secret.
/// Devices get no document list: a status lookup needs none.
#[utoipa::path(post, path = "/v1/dossiers/status", tag = "dossiers", security(("device_certificate" = [])),
    request_body = DossierLookup,
    responses(
        (status = 200, body = DossierStatusView, description = "the secret is the dossier's; `documents` and `digitized` are empty"),
        (status = 400, body = ApiError, description = "invalid JSON, or a code or secret longer than 64 characters"),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError, description = "`not_found`: a wrong secret, a dossier delivered without a secret, an unknown code and another site's code all get this same answer, byte for byte"),
        (status = 429, body = ApiError, description = "`too_many_lookups`: more than 20 failed lookups by this device in 10 minutes, or more than 5 on this code (from any device) in an hour; even the right secret is refused until `Retry-After` seconds have passed",
            headers(("Retry-After" = u64, description = "seconds until a lookup is accepted again"))),
    ))]
pub(super) async fn dossier_status(
    State(state): State<AppState>,
    device: Device,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let lookup: DossierLookup = parse_json(body)?;
    if lookup.code.chars().count() > MAX_FIELD || lookup.secret.chars().count() > MAX_FIELD {
        return Err(Failure::bad_request(
            "invalid_body",
            format!("code and secret have at most {MAX_FIELD} characters"),
        ));
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let outcome = state
        .0
        .store
        .lookup_status(
            &state.0.lookup_key,
            &device.id,
            &device.site,
            &lookup.code,
            &lookup.secret,
            now_ms,
            &LookupLimits::default(),
        )
        .await?;
    match outcome {
        LookupOutcome::Found(view) => Ok(Json(*view).into_response()),
        LookupOutcome::NotFound => Err(not_found()),
        LookupOutcome::TooMany { retry_after_s, by } => {
            let whose = match by {
                LimitedBy::Device => "ki-ốt này / this kiosk",
                LimitedBy::Code => "mã hồ sơ này / this dossier code",
            };
            let minutes = (retry_after_s + 59) / 60;
            tracing::warn!(device_id = %device.id, limited_by = ?by, "status lookups refused: too many failures");
            Err(Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_lookups",
                format!(
                    "quá nhiều lần tra cứu sai cho {whose}; thử lại sau {minutes} phút hoặc hỏi \
                     cán bộ tại quầy / too many failed lookups for {}; try again in {minutes} \
                     minutes or ask at the counter",
                    whose.split(" / ").nth(1).unwrap_or(whose)
                ),
            )
            .with_header(header::RETRY_AFTER, retry_after_s))
        }
    }
}
