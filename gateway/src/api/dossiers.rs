//! Dossier status for devices: the kiosk's status-lookup screen. A device reads only its own
//! site's dossiers; another site's code answers exactly like an unknown one, so sequential
//! codes cannot be walked across the province.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::dossier::DossierCode;
use motcua_domain::wire::{ApiError, DossierStatusView};

use super::auth::Device;
use super::failure::{ApiResult, Failure, Path};
use super::state::AppState;

/// Status of a dossier, for the kiosk's status-lookup screen. Devices get no document list:
/// a status lookup needs none, and dossier codes are easy to guess.
#[utoipa::path(get, path = "/v1/dossiers/{code}", tag = "dossiers", security(("device_certificate" = [])),
    params(("code" = String, Path, description = "dossier code")),
    responses(
        (status = 200, body = DossierStatusView),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError, description = "no dossier of the certificate's site under this code (another site's answers the same)"),
    ))]
pub(super) async fn dossier_status(
    State(state): State<AppState>,
    device: Device,
    Path(code): Path<String>,
) -> ApiResult {
    let unknown = || Failure::not_found(format!("no dossier {code}"));
    if DossierCode::parse(&code).is_ok_and(|c| c.agency() != device.site) {
        return Err(unknown());
    }
    if state.0.store.dossier_site(&code).await?.as_deref() != Some(device.site.as_str()) {
        return Err(unknown());
    }
    match state.0.store.dossier_status(&code).await? {
        Some(mut view) => {
            view.documents.clear();
            view.digitized.clear();
            Ok(Json(view).into_response())
        }
        None => Err(unknown()),
    }
}
