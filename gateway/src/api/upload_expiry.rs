//! tus `expiration`: an unfinished upload expires once idle (no accepted PATCH) for the
//! gateway's expiry (`--upload-expiry-hours`). Creation, HEAD and PATCH answers say when, in
//! `Upload-Expires`; an expired upload answers 410 Gone (`upload_expired`) until the sweep
//! removes it, and 404 after, as tus allows. A finished upload never expires.

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use super::failure::Failure;
use super::state::AppState;
use super::tus::{TusFailure, UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_OFFSET};
use crate::store::Upload;

/// The expiry in seconds, as the clock's integers.
fn expiry_s(state: &AppState) -> i64 {
    i64::try_from(state.0.limits.upload_expiry.as_secs()).unwrap_or(i64::MAX / 2)
}

/// An RFC 7231 date (`Tue, 01 Dec 2026 10:00:00 GMT`), as tus asks of `Upload-Expires`.
fn http_date(unix: i64) -> Option<HeaderValue> {
    let t = chrono::DateTime::from_timestamp(unix, 0)?;
    HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

/// For HEAD and before a PATCH: refuses `upload` if it expired (410 `upload_expired`), else
/// gives its `Upload-Expires` (none for a finished upload, or one not yet stamped).
pub(super) async fn unexpired(
    state: &AppState,
    upload: &Upload,
) -> Result<Option<HeaderValue>, Failure> {
    if upload.complete {
        return Ok(None);
    }
    let Some(active) = state.0.store.upload_active_since(upload).await? else {
        return Ok(None);
    };
    let expires = active.saturating_add(expiry_s(state));
    // Strictly after, as the sweep counts: the stored times are whole seconds.
    if chrono::Utc::now().timestamp() > expires {
        return Err(Failure::new(
            StatusCode::GONE,
            "upload_expired",
            format!(
                "tệp gửi dở {} đã hết hạn; tạo lần gửi mới / upload {} expired (idle for more \
                 than {} h): create a new one",
                upload.id,
                upload.id,
                state.0.limits.upload_expiry.as_secs() / 3600
            ),
        )
        .tus());
    }
    Ok(http_date(expires))
}

/// Refuses a PATCH to `device`'s upload `id` if the upload expired; anything else (unknown,
/// another device's) is left to the PATCH itself to answer.
pub(super) async fn refuse_expired(
    state: &AppState,
    device: &str,
    id: &str,
) -> Result<(), Failure> {
    match state.0.store.upload(id).await? {
        Some(upload) if upload.device_id == device => unexpired(state, &upload).await.map(drop),
        _ => Ok(()),
    }
}

/// Stamps a PATCH's answer with `Upload-Expires` when the upload is still unfinished: the
/// PATCH made it active now, so it expires one expiry from now.
pub(super) fn stamp_after_patch(state: &AppState, response: &mut Response) {
    let number = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let (Some(offset), Some(length)) = (number(&UPLOAD_OFFSET), number(&UPLOAD_LENGTH)) {
        if offset < length {
            if let Some(v) = http_date(
                chrono::Utc::now()
                    .timestamp()
                    .saturating_add(expiry_s(state)),
            ) {
                response.headers_mut().insert(UPLOAD_EXPIRES, v);
            }
        }
    }
}
