//! `POST /v1/blobs/held`: which of the asked blobs the gateway already holds for the asking
//! device's site. A kiosk asks before it creates an upload and skips what is held, so creation
//! and PATCH stay plain tus 1.0 for every client (a creation is never answered "complete").
//!
//! Only the site's own blobs are answered: one that only another site uploaded reads as not
//! held, so a hash tells a device nothing about other sites' documents. When this site then
//! uploads it, the bytes are verified like any upload and the blob is the site's too (both
//! sites may cite it; it is stored once). The device extractor applies the certificate checks
//! and the request rate like every device call; the list is bounded ([`MAX_HELD_QUERY`]).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::wire::{ApiError, BlobsHeld, BlobsHeldQuery, HeldBlob, MAX_HELD_QUERY};

use super::auth::Device;
use super::failure::{parse_json, ApiResult, Failure};
use super::state::{is_sha256_hex, AppState};

/// Which of these blobs a device of this site uploaded completely (and the gateway verified),
/// with their size; ask before creating an upload and skip those. Another site's blobs are
/// never listed.
#[utoipa::path(post, path = "/v1/blobs/held", tag = "uploads", security(("device_certificate" = [])),
    request_body = BlobsHeldQuery,
    responses(
        (status = 200, body = BlobsHeld, description = "the held ones among those asked, in the order asked"),
        (status = 400, body = ApiError, description = "`invalid_json`: not a JSON object with a `sha256` list; `invalid_sha256`: an entry is not 64 lowercase hexadecimal characters"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`: only devices ask"),
        (status = 422, body = ApiError, description = "`too_many_blobs`: more than 100 hashes in one question"),
    ))]
pub(super) async fn blobs_held(
    State(state): State<AppState>,
    Device { site, .. }: Device,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let query: BlobsHeldQuery = parse_json(body)?;
    if query.sha256.len() > MAX_HELD_QUERY {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_blobs",
            format!(
                "hỏi tối đa {MAX_HELD_QUERY} tệp một lần / ask about at most {MAX_HELD_QUERY} \
                 blobs at a time ({} asked)",
                query.sha256.len()
            ),
        ));
    }
    if let Some((i, _)) = query
        .sha256
        .iter()
        .enumerate()
        .find(|(_, h)| !is_sha256_hex(h))
    {
        return Err(Failure::bad_request(
            "invalid_sha256",
            format!("sha256[{i}] is not a SHA-256: 64 lowercase hexadecimal characters expected"),
        ));
    }
    let held = state
        .0
        .store
        .held_blobs(&site, &query.sha256)
        .await?
        .into_iter()
        .map(|(sha256, size)| HeldBlob { sha256, size })
        .collect();
    Ok((StatusCode::OK, Json(BlobsHeld { held })).into_response())
}
