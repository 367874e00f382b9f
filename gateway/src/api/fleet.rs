//! The fleet's health for technicians: every enrolled device with its latest health report,
//! its recent outbox depth and what to look at (silent, out of paper, stuck outbox, wrong
//! clock). The flags are computed at each request with the gateway's clock (see
//! `store::fleet`), so a device that falls silent is flagged without anything being written.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::wire::ApiError;

use super::auth::{Caller, ManageFleet};
use super::failure::ApiResult;
use super::state::AppState;
use crate::store::FleetView;

/// The fleet view: every enrolled device, its latest health report, its recent history and
/// its flags.
#[utoipa::path(get, path = "/v1/admin/fleet", tag = "admin", security(("technician_certificate" = [])),
    responses((status = 200, body = FleetView), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(super) async fn admin_fleet(
    State(state): State<AppState>,
    _caller: Caller<ManageFleet>,
) -> ApiResult {
    let now = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    let view = state.0.store.fleet_view(&state.0.fleet, now).await?;
    Ok(Json(view).into_response())
}
