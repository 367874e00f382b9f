//! Administrative calls of the provincial system (admin key): status changes and statistics.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::wire::{ApiError, DossierStatus, DossierStatusView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Admin;
use super::failure::{parse_json, ApiResult, Failure};
use super::state::{now_vn, AppState};
use crate::store::Stats;

/// Body of `POST /v1/admin/dossiers/{code}/status`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    /// The new status.
    pub status: DossierStatus,
}

/// Changes a dossier's status (stands in for the provincial TTHC system).
#[utoipa::path(post, path = "/v1/admin/dossiers/{code}/status", tag = "admin", security(("admin_key" = [])),
    params(("code" = String, Path, description = "dossier code")),
    request_body = StatusChange,
    responses(
        (status = 200, body = DossierStatusView),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError),
    ))]
pub(super) async fn admin_set_status(
    State(state): State<AppState>,
    _admin: Admin,
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

/// Counts of stored records (tests and operators check "exactly one copy" with it).
#[utoipa::path(get, path = "/v1/admin/stats", tag = "admin", security(("admin_key" = [])),
    responses((status = 200, body = Stats), (status = 401, body = ApiError)))]
pub(super) async fn admin_stats(State(state): State<AppState>, _admin: Admin) -> ApiResult {
    Ok(Json(state.0.store.stats().await?).into_response())
}
