//! Remote actions: a technician queues one for a kiosk (from the API or the fleet page's
//! buttons), the kiosk picks up its pending ones on its next contact and reports each result
//! once. A device sees and completes only its own actions; an action of another device is
//! answered as if it did not exist (404), so ids tell nothing across devices.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::provisioning::{
    RemoteAction, RemoteActionKind, RemoteActionRequest, RemoteActionResult, RemoteActions,
};
use motcua_domain::wire::ApiError;

use super::auth::{Caller, Device, ManageFleet};
use super::failure::{parse_json, parse_limited, ApiResult, Failure, Path};
use super::fleet_page::{back_to_page, is_form, same_origin};
use super::state::{now_vn, AppState};
use crate::store::Completion;

/// Largest log tail a kiosk may send with a result.
const MAX_LOG_TAIL: usize = 64 * 1024;

fn invalid_kind() -> Failure {
    let known: Vec<&str> = RemoteActionKind::ALL.iter().map(|k| k.as_str()).collect();
    Failure::bad_request(
        "invalid_kind",
        format!(
            "loại thao tác không được hỗ trợ; chọn một trong: {0} / the action kind is not \
             supported: one of {0}",
            known.join(", ")
        ),
    )
}

/// The action kind of a fleet-page form body (`kind=self_test`).
fn form_kind(body: &[u8]) -> Option<RemoteActionKind> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("kind="))
        .and_then(RemoteActionKind::parse)
}

/// The calling device's pending actions, oldest first.
#[utoipa::path(get, path = "/v1/devices/actions", tag = "devices", security(("device_certificate" = [])),
    responses(
        (status = 200, body = RemoteActions),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
    ))]
pub(super) async fn device_actions(State(state): State<AppState>, device: Device) -> ApiResult {
    let actions = state.0.store.actions(&device.id, true).await?;
    Ok(Json(RemoteActions { actions }).into_response())
}

/// The calling device reports the result of one of its actions. Reporting again changes
/// nothing (the first result stays): a kiosk may retry after a lost answer.
#[utoipa::path(post, path = "/v1/devices/actions/{id}/result", tag = "devices", security(("device_certificate" = [])),
    params(("id" = i64, Path, minimum = 1, maximum = 9223372036854775807i64, description = "the action's id")),
    request_body = RemoteActionResult,
    responses(
        (status = 204, description = "recorded (now or before)"),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
        (status = 404, body = ApiError, description = "no such action of this device"),
    ))]
pub(super) async fn device_action_result(
    State(state): State<AppState>,
    device: Device,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let result: RemoteActionResult = parse_limited(body)?;
    if result
        .log_tail
        .as_ref()
        .is_some_and(|t| t.len() > MAX_LOG_TAIL)
    {
        return Err(Failure::bad_request(
            "log_tail_too_long",
            format!("log_tail is at most {MAX_LOG_TAIL} bytes"),
        ));
    }
    match state
        .0
        .store
        .complete_action(&device.id, id, &result, &now_vn())
        .await?
    {
        Completion::Done => {
            tracing::info!(device_id = %device.id, action = id, ok = result.ok, "remote action completed");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Completion::Unknown => Err(Failure::not_found(format!(
            "no action {id} for device {}",
            device.id
        ))),
    }
}

/// Queues an action for a device. The fleet page's buttons post here too (a form body
/// `kind=…`): answered 303 back to the page; a browser request made by another site is refused
/// (403 `cross_site_request`), as for the revoke form.
#[utoipa::path(post, path = "/v1/admin/devices/{id}/actions", tag = "admin", security(("technician_certificate" = [])),
    params(("id" = String, Path, description = "device id")),
    request_body = RemoteActionRequest,
    responses(
        (status = 201, body = RemoteAction),
        (status = 303, description = "a form's action: back to `/v1/admin/fleet.html`"),
        (status = 400, body = ApiError, description = "`invalid_kind` (`unsupported` or a kind this gateway does not know) or an invalid body"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role` or `cross_site_request`"),
        (status = 404, body = ApiError, description = "no such device"),
    ))]
pub(super) async fn queue_action(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    same_origin(&headers)?;
    let form = is_form(&headers);
    let kind = if form {
        let bytes = body.map_err(|e| {
            Failure::new(
                e.status(),
                "invalid_body",
                format!("the form could not be read: {e}"),
            )
        })?;
        form_kind(&bytes).ok_or_else(invalid_kind)?
    } else {
        parse_json::<RemoteActionRequest>(body)?.kind
    };
    // An unknown kind reads as `unsupported` (so older kiosks parse newer lists): never queued.
    if kind == RemoteActionKind::Unsupported {
        return Err(invalid_kind());
    }
    let Some(action) = state
        .0
        .store
        .queue_action(&id, kind, &caller.identity.name, &now_vn())
        .await?
    else {
        return Err(Failure::not_found(format!("no device {id}")));
    };
    tracing::info!(device_id = %id, action = action.id, kind = kind.as_str(), technician = %caller.identity.name, "remote action queued");
    if form {
        return Ok(back_to_page());
    }
    Ok((StatusCode::CREATED, Json(action)).into_response())
}

/// A device's recent actions (the last 20) with their results, oldest first.
#[utoipa::path(get, path = "/v1/admin/devices/{id}/actions", tag = "admin", security(("technician_certificate" = [])),
    params(("id" = String, Path, description = "device id")),
    responses(
        (status = 200, body = RemoteActions),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
    ))]
pub(super) async fn admin_actions(
    State(state): State<AppState>,
    _caller: Caller<ManageFleet>,
    Path(id): Path<String>,
) -> ApiResult {
    let actions = state.0.store.actions(&id, false).await?;
    Ok(Json(RemoteActions { actions }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_name_a_kind() {
        assert_eq!(
            form_kind(b"kind=self_test"),
            Some(RemoteActionKind::SelfTest)
        );
        assert_eq!(
            form_kind(b"x=1&kind=refresh_config"),
            Some(RemoteActionKind::RefreshConfig)
        );
        assert_eq!(form_kind(b"kind=reboot"), None);
        assert_eq!(form_kind(b"kind=unsupported"), None);
    }

    #[test]
    fn unknown_kinds_read_as_unsupported_and_are_not_queueable() {
        let read: RemoteActionKind = serde_json::from_str("\"reboot_now\"").expect("reads");
        assert_eq!(read, RemoteActionKind::Unsupported);
        assert_eq!(read.as_str(), "unsupported");
        assert_eq!(read.label(), "Không hỗ trợ / Not supported");
        assert!(!RemoteActionKind::ALL.contains(&RemoteActionKind::Unsupported));
        assert_eq!(RemoteActionKind::parse("unsupported"), None);
        assert_eq!(form_kind(b""), None);
    }
}
