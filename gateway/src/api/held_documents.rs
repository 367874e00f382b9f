//! "Never asked twice" (Circular 01/2023/TT-VPCP, issue #19 part 5): a kiosk asks which of a
//! procedure's document kinds the province already holds digitized for the ID number read from
//! the citizen's chip card, and the provincial system sees which stored copies a dossier reuses.
//!
//! The answer names kinds only, never a document's code, hash or content, and only for the ID
//! number asked. The ID number travels in the body (URLs reach logs) and is never logged; each
//! device's questions are counted in the database and refused past `store::HeldLimits` (a stolen
//! kiosk walking through ID numbers is slowed down and shows in the log, by device).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::catalog::is_kind_code;
use motcua_domain::wire::{
    is_id_number, ApiError, HeldDocuments, HeldDocumentsQuery, MAX_KINDS_QUERY,
};

use super::auth::{ActAsSystem, Caller, Device};
use super::failure::{parse_json, ApiResult, Failure, Path};
use super::state::AppState;
use crate::store::{HeldAnswer, ReusedDocument};

/// Which of the asked document kinds the province holds digitized for this ID number.
#[utoipa::path(post, path = "/v1/held-documents", tag = "dossiers", security(("device_certificate" = [])),
    request_body = HeldDocumentsQuery,
    responses(
        (status = 200, body = HeldDocuments, description = "the asked kinds held for this ID number (kinds only, in the order asked)"),
        (status = 400, body = ApiError, description = "`invalid_body`: invalid JSON, an ID number that is not 12 digits, a malformed kind code, or more than 50 kinds"),
        (status = 401, body = ApiError),
        (status = 429, body = ApiError, description = "`too_many_questions`: this device asked more than 30 times in an hour",
            headers(("Retry-After" = u64, description = "seconds until a question is accepted again"))),
    ))]
pub(super) async fn held_documents(
    State(state): State<AppState>,
    device: Device,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let query: HeldDocumentsQuery = parse_json(body)?;
    if !is_id_number(&query.id_number) {
        return Err(Failure::bad_request(
            "invalid_body",
            "id_number phải gồm đúng 12 chữ số / id_number must be exactly 12 digits",
        ));
    }
    if query.kind_codes.len() > MAX_KINDS_QUERY || query.kind_codes.iter().any(|k| !is_kind_code(k))
    {
        return Err(Failure::bad_request(
            "invalid_body",
            format!(
                "kind_codes: at most {MAX_KINDS_QUERY} codes of 1–64 characters a-z, 0-9 and _"
            ),
        ));
    }
    let mac = state.0.id_key.mac(&query.id_number);
    let now_ms = chrono::Utc::now().timestamp_millis();
    match state
        .0
        .store
        .held_kinds(
            &device.id,
            &mac,
            &query.kind_codes,
            now_ms,
            state.0.held_limits,
        )
        .await?
    {
        HeldAnswer::Held(held) => {
            // Never the ID number, nor its MAC (which would link a citizen's visits in logs).
            tracing::info!(device_id = %device.id, asked = query.kind_codes.len(), held = held.len(), "held documents asked");
            Ok(Json(HeldDocuments { held }).into_response())
        }
        HeldAnswer::TooMany { retry_after_s } => {
            tracing::warn!(device_id = %device.id, site = %device.site, "held-documents questions refused: too many from this device");
            let minutes = (retry_after_s + 59) / 60;
            Err(Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_questions",
                format!(
                    "ki-ốt này đã tra cứu quá nhiều lần; thử lại sau {minutes} phút / this kiosk \
                     asked too often; try again in {minutes} minutes"
                ),
            )
            .with_header(header::RETRY_AFTER, retry_after_s))
        }
    }
}

/// The stored copies a dossier reuses in place of uploaded files (the provincial system).
#[utoipa::path(get, path = "/v1/admin/dossiers/{code}/reused", tag = "admin", security(("system_certificate" = [])),
    params(("code" = String, Path, description = "dossier code")),
    responses(
        (status = 200, body = Vec<ReusedDocument>, description = "by kind code; empty when the dossier reuses none"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
    ))]
pub(super) async fn admin_reused_documents(
    State(state): State<AppState>,
    _caller: Caller<ActAsSystem>,
    Path(code): Path<String>,
) -> ApiResult {
    Ok(Json(state.0.store.reused_documents(&code).await?).into_response())
}
