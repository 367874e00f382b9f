//! tus `termination`: `DELETE /v1/uploads/{id}` by the device that created the upload. The
//! upload's row goes first (from then on HEAD and PATCH answer 404), with the bytes it reserved
//! today and never received given back to the device's quota and its open-uploads place freed
//! (`store::upload_life`); then its part data goes, as the expiry sweep removes it. A
//! finished upload's record goes too, never its verified blob: dossiers of the site may cite
//! it. Another device's upload, or one gone, is 404, as for HEAD and PATCH.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use motcua_domain::wire::ApiError;

use super::auth::Device;
use super::failure::{ApiResult, Failure, Path};
use super::state::AppState;
use super::tus::{require_tus, tus_headers, TusFailure, TusResumable};
use super::upload_lease::Lease;

/// How long a termination waits for a PATCH still writing to the upload (one whose client
/// gave up usually ends within moments); after that it is 423 and the kiosk asks again.
const TERMINATION_WAIT: Duration = Duration::from_secs(5);

/// Terminates an upload: its received bytes are removed and it is unknown from then on.
#[utoipa::path(delete, path = "/v1/uploads/{id}", tag = "uploads", security(("device_certificate" = [])),
    params(
        ("id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "upload id from the Location header"),
        ("Tus-Resumable" = TusResumable, Header, description = "the tus version: 1.0.0, the only one served (a missing header is 400, another version 412 with `Tus-Version`)"),
    ),
    responses(
        (status = 204, description = "terminated: the upload and its received bytes are gone (a finished upload's verified blob stays)", headers(("Tus-Resumable" = String))),
        (status = 400, body = ApiError, description = "`tus_resumable_missing`"),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError, description = "unknown upload, or another device's"),
        (status = 412, body = ApiError, description = "`tus_version`: a Tus-Resumable other than 1.0.0"),
        (status = 423, body = ApiError, description = "`upload_busy`: a PATCH is still writing to it; retry after `Retry-After` seconds"),
    ))]
pub(super) async fn upload_delete(
    State(state): State<AppState>,
    Device { id: device, .. }: Device,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    require_tus(&headers)?;
    let unknown = || Failure::not_found(format!("no upload {id} for this device")).tus();
    let complete = match state.0.store.upload(&id).await? {
        Some(u) if u.device_id == device => u.complete,
        _ => return Err(unknown()),
    };
    // A PATCH on any instance holds the upload's lease while it writes; a finished upload has
    // none to take, and nothing writes to it any more.
    let lease = if complete {
        None
    } else {
        let Some(lease) = Lease::wait(&state, &id, TERMINATION_WAIT).await? else {
            return Err(Failure::new(
                StatusCode::LOCKED,
                "upload_busy",
                format!(
                    "tệp {id} đang được gửi; thử lại sau / upload {id} is still being written to \
                     by a PATCH; retry in a few seconds"
                ),
            )
            .with_header(header::RETRY_AFTER, TERMINATION_WAIT.as_secs())
            .tus());
        };
        Some(lease)
    };
    let today = chrono::Utc::now()
        .with_timezone(&motcua_domain::vietnam_offset())
        .format("%Y-%m-%d")
        .to_string();
    let gone = state.0.store.terminate_upload(&id, &device, &today).await;
    if let Some(lease) = lease {
        // The row (and the lease in it) is gone on success; on failure the lease is given back.
        lease.release().await;
    }
    let Some(gone) = gone? else {
        return Err(unknown());
    };
    state.0.files.delete_upload(&id).await?;
    tracing::info!(device_id = %device, upload = %id, complete = gone.complete, released = gone.released, "upload terminated by its device");
    let mut response = StatusCode::NO_CONTENT.into_response();
    tus_headers(&mut response);
    Ok(response)
}
