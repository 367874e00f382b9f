//! tus PATCH: appends a request body to an upload under the upload's lease (see
//! `upload_lease`), as segment objects of at most [`SEGMENT_BYTES`], each recorded with a
//! compare-and-set of the offset once the object store confirmed it. Any gateway instance can
//! continue an upload another one started, and two PATCHes racing on one upload cannot both
//! write: one holds the lease, the other gets 409 with the offset.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::BytesMut;
use futures_util::StreamExt;
use motcua_domain::wire::ApiError;

use super::auth::Device;
use super::failure::{ApiResult, Failure, Path};
use super::state::AppState;
use super::tus::{
    header_u64, offset_response, require_tus, TusFailure, TusResumable, OFFSET_OCTET_STREAM,
    UPLOAD_OFFSET,
};
use super::upload_checksum::{
    patch_mismatch, upload_checksum, Checksum, Pending, CHECKSUM_MISMATCH,
};
use super::upload_expiry;
use super::upload_finish::{checked_segments, finish, restart, Finish};
use super::upload_lease::Lease;
use super::upload_quota::{quota_now, quota_spent};
use super::uploads::owned_upload;
use crate::files::Files;
use crate::store::{Segment, Upload};
use crate::GatewayError;

/// A PATCH whose body stalls this long is treated as interrupted, so a half-open connection from
/// a kiosk that lost its network cannot hold the upload forever (its bytes so far are kept).
const PATCH_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Bytes of a PATCH body held in memory before they are stored as one segment (and the offset
/// recorded): what a crash of this gateway mid-PATCH can lose at most, and the memory one
/// running PATCH takes.
pub(super) const SEGMENT_BYTES: usize = 4 * 1024 * 1024;
/// A body that sends nothing for this long has its buffered bytes stored (and the offset
/// recorded) while the request goes on waiting, if they are at least [`STALL_MIN_BYTES`].
const STALL_STORE: std::time::Duration = std::time::Duration::from_secs(1);
/// The fewest buffered bytes a stall stores: otherwise a body trickling a byte every
/// [`STALL_STORE`] would make an object (and a database row) per byte. Fewer bytes wait for
/// more, for the end of the body, a dropped connection or [`PATCH_IDLE_TIMEOUT`], all of which
/// store whatever arrived.
const STALL_MIN_BYTES: usize = 256 * 1024;
/// How long a PATCH waits for the lease another request holds (a kiosk back after a drop finds
/// its previous PATCH still closing) before answering 409 `upload_busy`.
const LEASE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// Appends bytes at `Upload-Offset`. The body is streamed to the object store in segments,
/// never held in memory whole; if the connection drops mid-body the bytes received are kept and
/// the offset recorded. When the offset reaches the length the blob is verified against its
/// SHA-256 (460 on mismatch, and the upload restarts at 0) and stored. Any gateway instance on
/// the same database and object store continues an upload; one PATCH at a time appends.
/// With `Upload-Checksum` (tus `checksum` extension) the PATCH is kept whole or not at all: see
/// [`super::upload_checksum`].
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "uploads", security(("device_certificate" = [])),
    params(
        ("id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "upload id from the Location header"),
        ("Tus-Resumable" = TusResumable, Header, description = "the tus version: 1.0.0, the only one served (a missing header is 400, another version 412 with `Tus-Version`)"),
        ("Upload-Offset" = u64, Header, description = "must equal the current offset"),
        ("Upload-Checksum" = Option<String>, Header, pattern = r"^sha256 [A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$", description = "tus `checksum` extension: `sha256 <base64 of the 32-byte SHA-256 of this PATCH's body>`; the body is then kept only if it matches (460 `patch_checksum_mismatch` otherwise), and an interrupted or too long body keeps nothing"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "bytes stored durably", headers(("Upload-Offset" = u64), ("Upload-Expires" = String, description = "while unfinished: when it expires if no further PATCH comes (RFC 7231 date)"), ("Tus-Resumable" = String))),
        (status = 400, body = ApiError, description = "`checksum_algorithm`: Upload-Checksum names an algorithm other than sha256 (the answer's `Tus-Checksum-Algorithm` names it); `invalid_checksum`: its value is not the base64 of 32 bytes; `interrupted`: the body ended early; also missing or invalid headers"),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError),
        (status = 409, body = ApiError, description = "`offset_mismatch`: Upload-Offset differs from the current offset; `upload_busy`: another request (on any gateway instance) is appending to this upload. Both carry the current `Upload-Offset`"),
        (status = 410, body = ApiError, description = "`upload_expired`: idle past the expiry; create a new upload"),
        (status = 412, body = ApiError, description = "`tus_version`: a Tus-Resumable other than 1.0.0 (the answer's `Tus-Version` names the one served)"),
        (status = 413, body = ApiError, description = "more bytes than Upload-Length"),
        (status = 415, body = ApiError, description = "Content-Type is not application/offset+octet-stream"),
        (status = 460, body = ApiError, description = "`patch_checksum_mismatch`: the body differs from its Upload-Checksum; nothing of it was kept, `Upload-Offset` is unchanged. `checksum_mismatch`: the finished blob differs from the sha256 announced at creation; the upload restarts at offset 0, its length charged again to the device's bytes of the day"),
    ))]
pub(super) async fn upload_patch(
    State(state): State<AppState>,
    Device { id: device, .. }: Device,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    require_tus(&headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some(OFFSET_OCTET_STREAM) {
        return Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("PATCH bodies must have Content-Type: {OFFSET_OCTET_STREAM}"),
        )
        .tus());
    }
    let offset = header_u64(&headers, &UPLOAD_OFFSET)?;
    let checksum = upload_checksum(&headers)?;
    upload_expiry::refuse_expired(&state, &device, &id).await?;
    let stamp = state.clone();
    // The work runs in its own task: if the client disconnects, hyper may drop this handler, but
    // the task still stores and records the bytes that arrived, and releases the lease.
    let task =
        tokio::spawn(async move { patch(&state, &device, &id, offset, body, checksum).await });
    let mut response = task
        .await
        .map_err(|e| Failure::from(GatewayError::join("append to an upload", e)))??;
    upload_expiry::stamp_after_patch(&stamp, &mut response);
    Ok(response)
}

fn conflict(offset: u64, current: u64) -> Failure {
    Failure::new(
        StatusCode::CONFLICT,
        "offset_mismatch",
        format!("Upload-Offset {offset} does not match the upload's offset {current}: send HEAD and resume from there"),
    )
    .with_header(UPLOAD_OFFSET, current)
    .tus()
}

/// The answer to a PATCH of an upload that is complete already, or whose offset differs.
fn settled(upload: &Upload, offset: u64) -> Option<ApiResult> {
    if upload.complete {
        return Some(if offset == upload.length {
            Ok(offset_response(
                StatusCode::NO_CONTENT,
                upload,
                upload.length,
            ))
        } else {
            Err(conflict(offset, upload.length))
        });
    }
    (offset != upload.offset).then(|| Err(conflict(offset, upload.offset)))
}

async fn patch(
    state: &AppState,
    device: &str,
    id: &str,
    offset: u64,
    body: Body,
    checksum: Option<Checksum>,
) -> ApiResult {
    let upload = owned_upload(state, device, id).await?;
    if let Some(answer) = settled(&upload, offset) {
        return answer;
    }
    let Some(lease) = Lease::wait(state, id, LEASE_PATIENCE).await? else {
        let upload = owned_upload(state, device, id).await?;
        if let Some(answer) = settled(&upload, offset) {
            return answer;
        }
        let retry = state.0.limits.upload_lease.as_secs().max(1);
        return Err(Failure::new(
            StatusCode::CONFLICT,
            "upload_busy",
            format!(
                "tệp này đang được gửi trong một yêu cầu khác; gửi HEAD rồi thử lại sau {retry} \
                 giây / another request is appending to this upload: send HEAD and retry in \
                 {retry} s"
            ),
        )
        .with_header(UPLOAD_OFFSET, upload.offset)
        .with_header(header::RETRY_AFTER, retry)
        .tus());
    };
    let result = async {
        // Read again under the lease: the previous holder may have moved the offset.
        let upload = owned_upload(state, device, id).await?;
        if let Some(answer) = settled(&upload, offset) {
            return answer;
        }
        append(state, &upload, body, &lease, checksum).await
    }
    .await;
    lease.release().await;
    result
}

/// Appends `body` to the leased `upload` (whose offset the request named); with a checksum, its
/// segments are written unrecorded ([`Pending`]) and recorded only once the body matched.
async fn append(
    state: &AppState,
    upload: &Upload,
    body: Body,
    lease: &Lease,
    checksum: Option<Checksum>,
) -> ApiResult {
    let id = upload.id.as_str();
    let mismatch = || {
        Failure::new(
            StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
            "checksum_mismatch",
            "the uploaded bytes do not match the sha256 given at creation; the upload was reset to offset 0",
        )
        .with_header(UPLOAD_OFFSET, 0)
        .tus()
    };
    let over_quota = || quota_spent(state, quota_now(state).1, None, upload.length);
    // Every caller below has the upload at its full length.
    let finished = |finish: Finish| async move {
        match finish {
            Finish::Complete => Ok(offset_response(
                StatusCode::NO_CONTENT,
                upload,
                upload.length,
            )),
            Finish::Mismatch => Err(mismatch()),
            Finish::MismatchOverQuota => Err(over_quota()),
            Finish::Restarted => Err(conflict(upload.length, 0)),
            Finish::LeaseLost => Err(taken_over(state, upload, upload.length).await?),
        }
    };
    if upload.offset == upload.length {
        // All bytes arrived before a crash interrupted the verification.
        return finished(finish(state, upload, lease).await?).await;
    }
    // Accepted: the upload is active now, whatever the body brings.
    state.0.store.touch_leased(id, lease.holder()).await?;
    if checked_segments(state, upload, lease).await?.is_none() {
        if !restart(state, upload, lease).await? {
            return Err(taken_over(state, upload, upload.offset).await?);
        }
        return Err(conflict(upload.offset, 0));
    }
    let mut stored = upload.offset;
    let mut pending = checksum.map(|c| Pending::new(c, upload.offset));
    let mut buffer = BytesMut::new();
    let mut too_long = false;
    let mut disconnected: Option<String> = None;
    let mut stream = body.into_data_stream();
    let mut idle = std::time::Duration::ZERO;
    loop {
        // While enough bytes wait in the buffer, a stall of STALL_STORE stores them: a weak
        // link that stops sending keeps what it sent, even if the connection never ends
        // cleanly (fewer bytes are stored when the idle timeout ends the request).
        let left = PATCH_IDLE_TIMEOUT.saturating_sub(idle);
        let wait = if pending.is_none() && buffer.len() >= STALL_MIN_BYTES {
            STALL_STORE.min(left)
        } else {
            left
        };
        let chunk = match tokio::time::timeout(wait, stream.next()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                idle += wait;
                if pending.is_none() {
                    stored = store_segment(state, upload, lease, stored, &mut buffer).await?;
                }
                if idle >= PATCH_IDLE_TIMEOUT {
                    disconnected = Some(format!("no data for {} s", PATCH_IDLE_TIMEOUT.as_secs()));
                    break;
                }
                continue;
            }
        };
        idle = std::time::Duration::ZERO;
        match chunk {
            Ok(bytes) => {
                let written = pending.as_ref().map_or(0, Pending::written);
                let received = stored + written + buffer.len() as u64;
                if received + bytes.len() as u64 > upload.length {
                    too_long = true;
                    break;
                }
                buffer.extend_from_slice(&bytes);
                if buffer.len() >= SEGMENT_BYTES {
                    match pending.as_mut() {
                        Some(p) => p.write(state, upload, lease, &mut buffer).await?,
                        None => {
                            stored =
                                store_segment(state, upload, lease, stored, &mut buffer).await?
                        }
                    }
                }
            }
            Err(e) => {
                disconnected = Some(e.to_string());
                break;
            }
        }
    }
    if let Some(mut p) = pending {
        // Kept whole or not at all: an early end or an excess cannot be checked.
        if disconnected.is_some() || too_long {
            p.discard(state, upload).await;
        } else {
            p.write(state, upload, lease, &mut buffer).await?;
            if !p.matches() {
                p.discard(state, upload).await;
                tracing::info!(upload = %id, offset = stored, "a PATCH did not match its Upload-Checksum; nothing of it was kept");
                return Err(patch_mismatch(stored));
            }
            match p.record(state, upload, lease).await? {
                Some(end) => stored = end,
                None => return Err(taken_over(state, upload, stored).await?),
            }
        }
        buffer.clear();
    }
    // What arrived before the end, a drop or an excess is kept (without a checksum).
    stored = store_segment(state, upload, lease, stored, &mut buffer).await?;
    if let Some(e) = disconnected {
        tracing::info!(upload = %id, offset = stored, error = %e, "upload interrupted; bytes received are kept");
        return Err(Failure::bad_request(
            "interrupted",
            format!("the request body ended early: {e}"),
        )
        .with_header(UPLOAD_OFFSET, stored)
        .tus());
    }
    if too_long {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body goes past Upload-Length {}; bytes up to offset {stored} were kept",
                upload.length
            ),
        )
        .with_header(UPLOAD_OFFSET, stored)
        .tus());
    }
    if stored == upload.length {
        let upload = Upload {
            offset: stored,
            ..upload.clone()
        };
        return finished(finish(state, &upload, lease).await?).await;
    }
    Ok(offset_response(StatusCode::NO_CONTENT, upload, stored))
}

/// 409 with the recorded offset: another request took the upload's lease over.
async fn taken_over(state: &AppState, upload: &Upload, offset: u64) -> Result<Failure, Failure> {
    let current = state
        .0
        .store
        .upload(&upload.id)
        .await?
        .map_or(0, |u| u.offset);
    Ok(conflict(offset, current))
}

/// Stores the buffered bytes as the segment starting at `start` and records it (offset
/// compare-and-set under the lease); returns the new offset. Refused (the lease was taken over,
/// the offset moved): the object is deleted and the answer is 409 with the recorded offset.
async fn store_segment(
    state: &AppState,
    upload: &Upload,
    lease: &Lease,
    start: u64,
    buffer: &mut BytesMut,
) -> Result<u64, Failure> {
    if buffer.is_empty() {
        return Ok(start);
    }
    let bytes = buffer.split().freeze();
    let length = bytes.len() as u64;
    let key = Files::segment_key(&upload.id, start, lease.holder());
    if !lease.is_lost() {
        state.0.files.put(&key, bytes).await?;
        let segment = Segment {
            start,
            length,
            key: key.to_string(),
        };
        if state
            .0
            .store
            .record_segment(&upload.id, lease.holder(), start, &segment)
            .await?
        {
            return Ok(start + length);
        }
        if let Err(e) = state.0.files.delete(&key).await {
            tracing::warn!(upload = %upload.id, error = %e, "an unrecorded segment was not deleted; the sweep removes it");
        }
    }
    tracing::warn!(upload = %upload.id, offset = start, "the upload's lease was taken over mid-PATCH; the bytes after the recorded offset are dropped");
    Err(taken_over(state, upload, start).await?)
}
