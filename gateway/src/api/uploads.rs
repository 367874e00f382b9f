//! tus resumable uploads of document blobs: discovery, creation (plain tus: a kiosk asks
//! `POST /v1/blobs/held` first to skip what its site holds, see [`super::blobs_held`]),
//! offset, append (streamed to disk, fsynced before the offset is recorded), verification and
//! promotion into the content-addressed blob store, and the admin's read of a finished blob.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use motcua_domain::wire::{ApiError, TUS_VERSION};
use tokio::io::AsyncWriteExt;

use super::auth::{Caller, Device, ReadBlobs};
use super::failure::{ApiResult, Failure, Path};
use super::state::{is_sha256_hex, now_vn, AppState};
use super::tus::{
    header_u64, metadata_sha256, offset_response, require_tus, tus_headers, TusFailure,
    TusResumable, OFFSET_OCTET_STREAM, TUS_EXTENSION, TUS_MAX_SIZE, TUS_VERSION_H, UPLOAD_EXPIRES,
    UPLOAD_LENGTH, UPLOAD_OFFSET,
};
use super::upload_expiry;
use crate::files::Files;
use crate::store::{Upload, UploadCreation, UploadQuota};
use crate::GatewayError;

/// A PATCH whose body stalls this long is treated as interrupted, so a half-open connection from
/// a kiosk that lost its network cannot hold the upload forever (its bytes so far are kept).
const PATCH_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// SHA-256 of zero bytes.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// During a long PATCH the offset is recorded (after an fsync) every this many bytes.
const CHECKPOINT_BYTES: u64 = 8 * 1024 * 1024;
/// `Retry-After` of `too_many_open_uploads`: the kiosk finishes its open upload meanwhile.
const OPEN_UPLOADS_RETRY_S: u64 = 60;

/// Seconds from `now` to the next midnight in Vietnam, when the day's upload quota renews.
fn seconds_to_vietnam_midnight(now: chrono::DateTime<chrono::FixedOffset>) -> i64 {
    let next = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0));
    next.and_then(|n| n.and_local_timezone(*now.offset()).single())
        .map_or(3600, |n| (n - now).num_seconds().max(1))
}

/// tus checksum extension's status for a checksum mismatch.
const CHECKSUM_MISMATCH: u16 = 460;

/// tus discovery: protocol version, the `creation`, `expiration` (an upload idle for the expiry
/// is removed, see [`super::upload_expiry`]) and `termination` ([`super::uploads_delete`])
/// extensions, and the size limit.
#[utoipa::path(options, path = "/v1/uploads", tag = "uploads",
    responses((status = 204, headers(("Tus-Resumable" = String), ("Tus-Version" = String), ("Tus-Extension" = String), ("Tus-Max-Size" = u64)))))]
pub(super) async fn tus_options(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(TUS_VERSION_H, HeaderValue::from_static(TUS_VERSION));
    h.insert(
        TUS_EXTENSION,
        HeaderValue::from_static("creation,expiration,termination"),
    );
    h.insert(TUS_MAX_SIZE, HeaderValue::from(state.0.max_upload_bytes));
    tus_headers(&mut response);
    response
}

/// Creates a tus upload for a blob of known length and SHA-256, always at offset 0, as any tus
/// client expects, even for a blob the gateway holds already (its bytes are verified and the
/// blob stored once; ask `POST /v1/blobs/held` first to send nothing). If this device has an
/// unfinished upload of the same blob still at offset 0 (same SHA-256 and length: a lost
/// answer, a restart after a checksum mismatch) that upload is handed back instead of a new one:
/// to the client the answer is the same.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", security(("device_certificate" = [])),
    params(
        ("Tus-Resumable" = TusResumable, Header, description = "the tus version: 1.0.0, the only one served (a missing header is 400, another version 412 with `Tus-Version`)"),
        ("Upload-Length" = u64, Header, description = "size of the blob in bytes"),
        ("Upload-Metadata" = String, Header, format = "tus-sha256-metadata", description = "tus metadata (`key base64,key base64`) that must contain `sha256 <base64 of the lowercase hex SHA-256>`; with Upload-Length 0 it must be the SHA-256 of empty content"),
    ),
    responses(
        (status = 201, description = "created", headers(("Location" = String), ("Upload-Offset" = u64), ("Upload-Expires" = String, description = "when an unfinished upload is removed (RFC 7231 date; `gateway serve --upload-expiry-hours`)"), ("Tus-Resumable" = String))),
        (status = 400, body = ApiError, description = "missing Tus-Resumable, or missing or invalid Upload-Length or Upload-Metadata"),
        (status = 401, body = ApiError),
        (status = 412, body = ApiError, description = "`tus_version`: a Tus-Resumable other than 1.0.0 (the answer's `Tus-Version` names the one served)"),
        (status = 413, body = ApiError, description = "Upload-Length above Tus-Max-Size"),
    ))]
pub(super) async fn create_upload(
    State(state): State<AppState>,
    Device {
        id: device, site, ..
    }: Device,
    headers: HeaderMap,
) -> ApiResult {
    require_tus(&headers)?;
    let length = header_u64(&headers, &UPLOAD_LENGTH)?;
    if length > state.0.max_upload_bytes {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "Upload-Length {length} exceeds this gateway's limit of {} bytes",
                state.0.max_upload_bytes
            ),
        )
        .tus());
    }
    let sha256 = metadata_sha256(&headers)?;
    if length == 0 && sha256 != EMPTY_SHA256 {
        return Err(Failure::bad_request(
            "invalid_metadata",
            "Upload-Length is 0 but the sha256 is not the hash of empty content",
        )
        .tus());
    }
    let id = {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    let upload = Upload {
        id,
        device_id: device.clone(),
        sha256,
        length,
        offset: 0,
        complete: false,
        site,
    };
    let limits = &state.0.limits;
    let (quota, vn_now) = quota_now(&state);
    let mut upload = match state
        .0
        .store
        .create_upload(&upload, &vn_now.to_rfc3339(), &quota)
        .await?
    {
        UploadCreation::Created(upload) => upload,
        UploadCreation::TooManyOpen(open) => {
            tracing::warn!(device_id = %device, open, "upload refused: too many unfinished uploads");
            return Err(Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_open_uploads",
                format!(
                    "ki-ốt đang có {open} tệp gửi dở (tối đa {}); gửi xong tệp đang dở hoặc chờ \
                     chúng hết hạn / this device has {open} unfinished uploads (at most {}): \
                     finish them (HEAD, then PATCH from the offset) or wait until they expire \
                     after {} h",
                    limits.max_open_uploads,
                    limits.max_open_uploads,
                    limits.upload_expiry.as_secs() / 3600
                ),
            )
            .with_header(header::RETRY_AFTER, OPEN_UPLOADS_RETRY_S)
            .tus());
        }
        UploadCreation::DailyBytesSpent(spent) => {
            tracing::warn!(device_id = %device, spent, length, "upload refused: the day's upload quota is spent");
            return Err(quota_spent(&state, vn_now, Some(spent), length));
        }
    };
    if !upload.complete && length == 0 {
        // Nothing will ever be PATCHed: store the (verified above) empty blob now.
        state.0.files.open_part_at(&upload.id, 0).await?;
        if !matches!(finish(&state, &upload).await?, Finish::Complete) {
            return Err(Failure::from(GatewayError::Task {
                action: "store an empty blob",
                reason: "its hash did not verify".into(),
            }));
        }
        upload.offset = 0;
        upload.complete = true;
    }
    tracing::info!(device_id = %device, upload = %upload.id, length, "upload created");
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/uploads/{}", upload.id)) {
        h.insert(header::LOCATION, v);
    }
    h.insert(UPLOAD_OFFSET, HeaderValue::from(upload.offset));
    if !upload.complete {
        let expires = chrono::Utc::now()
            + chrono::Duration::seconds(
                i64::try_from(limits.upload_expiry.as_secs()).unwrap_or(i64::MAX / 2),
            );
        if let Ok(v) =
            HeaderValue::from_str(&expires.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        {
            h.insert(UPLOAD_EXPIRES, v);
        }
    }
    tus_headers(&mut response);
    Ok(response)
}

/// The device's upload quota as of now, and now in Vietnam.
fn quota_now(state: &AppState) -> (UploadQuota, chrono::DateTime<chrono::FixedOffset>) {
    let limits = &state.0.limits;
    let vn_now = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    let quota = UploadQuota {
        max_open: i64::from(limits.max_open_uploads),
        bytes_per_day: limits.upload_bytes_per_day,
        day: vn_now.format("%Y-%m-%d").to_string(),
        now_unix: vn_now.timestamp(),
        live_since_unix: vn_now
            .timestamp()
            .saturating_sub(i64::try_from(limits.upload_expiry.as_secs()).unwrap_or(i64::MAX / 2)),
    };
    (quota, vn_now)
}

/// 429 `upload_quota_exceeded`, `Retry-After` until midnight in Vietnam: `length` more bytes
/// would pass the day's quota (`spent` so far, when known).
fn quota_spent(
    state: &AppState,
    vn_now: chrono::DateTime<chrono::FixedOffset>,
    spent: Option<u64>,
    length: u64,
) -> Failure {
    let retry_after = seconds_to_vietnam_midnight(vn_now);
    let quota = state.0.limits.upload_bytes_per_day;
    let (vi, en) = match spent {
        Some(spent) => (
            format!("ki-ốt đã gửi {spent} byte hôm nay, "),
            format!("this device has uploaded {spent} bytes today and "),
        ),
        None => Default::default(),
    };
    Failure::new(
        StatusCode::TOO_MANY_REQUESTS,
        "upload_quota_exceeded",
        format!(
            "{vi}tệp {length} byte vượt hạn mức {quota} byte mỗi ngày; gửi tiếp sau nửa đêm / \
             {en}this {length}-byte upload would pass the quota of {quota} bytes a day; retry \
             after midnight (Vietnam time), in {retry_after} s"
        ),
    )
    .with_header(header::RETRY_AFTER, retry_after)
    .tus()
}

/// Loads an upload owned by `device`; anyone else's upload is reported as unknown.
pub(super) async fn owned_upload(
    state: &AppState,
    device: &str,
    id: &str,
) -> Result<Upload, Failure> {
    match state.0.store.upload(id).await? {
        Some(u) if u.device_id == device => Ok(u),
        _ => Err(Failure::not_found(format!("no upload {id} for this device")).tus()),
    }
}

enum Finish {
    Complete,
    Mismatch,
    /// A mismatch, and the upload's restart would pass the day's quota: it was removed.
    MismatchOverQuota,
}

/// Verifies a fully received upload and moves it into the blob store, or resets it to offset 0
/// if its content does not match the announced SHA-256; the restart is charged to the day's
/// bytes like a new upload (past the quota the upload is removed instead). Also finishes an upload whose blob was
/// renamed into place but whose database commit was lost in a crash. Caller holds the upload lock.
async fn finish(state: &AppState, upload: &Upload) -> Result<Finish, GatewayError> {
    let files = &state.0.files;
    let part = files.part_path(&upload.id);
    let actual = if tokio::fs::try_exists(&part).await.unwrap_or(false) {
        Some(Files::sha256_of(part).await?)
    } else if files.blob_file_exists(&upload.sha256).await {
        let found = Files::sha256_of(files.blob_path(&upload.sha256)).await?;
        if found == upload.sha256 {
            state.0.store.complete_upload(upload, &now_vn()).await?;
            return Ok(Finish::Complete);
        }
        None
    } else {
        None
    };
    if actual.as_deref() == Some(upload.sha256.as_str()) {
        files.promote(&upload.id, &upload.sha256).await?;
        state.0.store.complete_upload(upload, &now_vn()).await?;
        tracing::info!(upload = %upload.id, size = upload.length, "blob stored");
        Ok(Finish::Complete)
    } else {
        let (quota, _) = quota_now(state);
        let charged = state.0.store.charge_reset(upload, &quota).await?;
        files.remove_part(&upload.id).await?;
        if !charged {
            tracing::warn!(upload = %upload.id, device_id = %upload.device_id, "upload content does not match its sha256; its restart would pass the day's quota: removed");
            return Ok(Finish::MismatchOverQuota);
        }
        state.0.store.set_upload_offset(&upload.id, 0).await?;
        tracing::warn!(upload = %upload.id, "upload content does not match its sha256; reset to offset 0");
        Ok(Finish::Mismatch)
    }
}

/// The durable offset of an upload: where the kiosk resumes after any interruption.
#[utoipa::path(head, path = "/v1/uploads/{id}", tag = "uploads", security(("device_certificate" = [])),
    params(("id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "upload id from the Location header")),
    responses(
        (status = 200, headers(("Upload-Offset" = u64), ("Upload-Length" = u64), ("Upload-Expires" = String, description = "when the unfinished upload expires if no PATCH comes (RFC 7231 date)"), ("Cache-Control" = String), ("Tus-Resumable" = String))),
        (status = 401, description = "no, unknown or revoked client certificate"),
        (status = 404, description = "unknown upload, or another device's"),
        (status = 410, description = "`upload_expired`: idle past the expiry, removed at the next sweep"),
    ))]
pub(super) async fn upload_head(
    State(state): State<AppState>,
    Device { id: device, .. }: Device,
    Path(id): Path<String>,
) -> ApiResult {
    let mut upload = owned_upload(&state, &device, &id).await?;
    let expires = upload_expiry::unexpired(&state, &upload).await?;
    if !upload.complete {
        // Repair only when no PATCH is running: a running PATCH is the one moving the offset.
        let lock = state.upload_lock(&id);
        let guard = lock.try_lock();
        if guard.is_ok() {
            upload = owned_upload(&state, &device, &id).await?;
            if !upload.complete {
                if upload.offset == upload.length {
                    match finish(&state, &upload).await? {
                        Finish::Complete => upload.offset = upload.length,
                        Finish::Mismatch => upload.offset = 0,
                        Finish::MismatchOverQuota => {
                            return Err(Failure::not_found(format!(
                                "no upload {id} for this device"
                            ))
                            .tus())
                        }
                    }
                } else if !state.0.files.repair_part(&id, upload.offset).await? {
                    state.0.files.remove_part(&id).await?;
                    state.0.store.set_upload_offset(&id, 0).await?;
                    upload.offset = 0;
                }
            }
        }
        drop(guard);
    }
    let mut response = offset_response(StatusCode::OK, &upload, upload.offset);
    if let Some(expires) = expires.filter(|_| !upload.complete) {
        response.headers_mut().insert(UPLOAD_EXPIRES, expires);
    }
    Ok(response)
}

/// Appends bytes at `Upload-Offset`. The body is streamed to disk, never held in memory; if the
/// connection drops mid-body the bytes received are kept and the offset recorded. When the
/// offset reaches the length the blob is verified against its SHA-256 (460 on mismatch, and the
/// upload restarts at 0) and stored.
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "uploads", security(("device_certificate" = [])),
    params(
        ("id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "upload id from the Location header"),
        ("Tus-Resumable" = TusResumable, Header, description = "the tus version: 1.0.0, the only one served (a missing header is 400, another version 412 with `Tus-Version`)"),
        ("Upload-Offset" = u64, Header, description = "must equal the current offset"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "bytes stored durably", headers(("Upload-Offset" = u64), ("Upload-Expires" = String, description = "while unfinished: when it expires if no further PATCH comes (RFC 7231 date)"), ("Tus-Resumable" = String))),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError),
        (status = 409, body = ApiError, description = "Upload-Offset differs from the current offset"),
        (status = 410, body = ApiError, description = "`upload_expired`: idle past the expiry; create a new upload"),
        (status = 412, body = ApiError, description = "`tus_version`: a Tus-Resumable other than 1.0.0 (the answer's `Tus-Version` names the one served)"),
        (status = 413, body = ApiError, description = "more bytes than Upload-Length"),
        (status = 415, body = ApiError, description = "Content-Type is not application/offset+octet-stream"),
        (status = 460, body = ApiError, description = "checksum mismatch: content differs from the announced sha256; the upload restarts at offset 0, its length charged again to the device's bytes of the day"),
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
    upload_expiry::refuse_expired(&state, &device, &id).await?;
    let stamp = state.clone();
    // The work runs in its own task: if the client disconnects, hyper may drop this handler, but
    // the task still records how many bytes arrived.
    let lock = state.upload_lock(&id);
    let task = tokio::spawn(async move {
        let _guard = lock.lock_owned().await;
        append(&state, &device, &id, offset, body).await
    });
    let mut response = task
        .await
        .map_err(|e| Failure::from(GatewayError::join("append to an upload", e)))??;
    upload_expiry::stamp_after_patch(&stamp, &mut response);
    Ok(response)
}

/// Flushes and fsyncs an upload file: only then may its length be recorded as the offset.
async fn sync_file(file: &mut tokio::fs::File, path: &std::path::Path) -> Result<(), GatewayError> {
    file.flush()
        .await
        .map_err(|e| GatewayError::file("write the upload file", path, e))?;
    file.sync_all()
        .await
        .map_err(|e| GatewayError::file("fsync the upload file", path, e))
}

async fn append(state: &AppState, device: &str, id: &str, offset: u64, body: Body) -> ApiResult {
    let upload = owned_upload(state, device, id).await?;
    let conflict = |current: u64| {
        Failure::new(
            StatusCode::CONFLICT,
            "offset_mismatch",
            format!("Upload-Offset {offset} does not match the upload's offset {current}: send HEAD and resume from there"),
        )
        .with_header(UPLOAD_OFFSET, current)
        .tus()
    };
    if upload.complete {
        return if offset == upload.length {
            Ok(offset_response(
                StatusCode::NO_CONTENT,
                &upload,
                upload.length,
            ))
        } else {
            Err(conflict(upload.length))
        };
    }
    if offset != upload.offset {
        return Err(conflict(upload.offset));
    }
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
    if upload.offset == upload.length {
        // All bytes arrived before a crash interrupted the verification.
        return match finish(state, &upload).await? {
            Finish::Complete => Ok(offset_response(
                StatusCode::NO_CONTENT,
                &upload,
                upload.length,
            )),
            Finish::Mismatch => Err(mismatch()),
            Finish::MismatchOverQuota => Err(over_quota()),
        };
    }
    // Accepted: the upload is active now, whatever the body brings.
    state.0.store.set_upload_offset(id, upload.offset).await?;
    let Some(file) = state.0.files.open_part_at(id, upload.offset).await? else {
        state.0.files.remove_part(id).await?;
        state.0.store.set_upload_offset(id, 0).await?;
        return Err(conflict(0));
    };
    let part = state.0.files.part_path(id);
    let mut file = tokio::fs::File::from_std(file);
    let mut written = upload.offset;
    let mut recorded = upload.offset;
    let mut too_long = false;
    let mut disconnected: Option<String> = None;
    let mut stream = body.into_data_stream();
    loop {
        let chunk = match tokio::time::timeout(PATCH_IDLE_TIMEOUT, stream.next()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                disconnected = Some(format!("no data for {} s", PATCH_IDLE_TIMEOUT.as_secs()));
                break;
            }
        };
        match chunk {
            Ok(bytes) => {
                if written + bytes.len() as u64 > upload.length {
                    too_long = true;
                    break;
                }
                file.write_all(&bytes)
                    .await
                    .map_err(|e| GatewayError::file("append to the upload file", &part, e))?;
                written += bytes.len() as u64;
                // Record progress now and then, so a crash during a long PATCH loses little.
                if written - recorded >= CHECKPOINT_BYTES {
                    sync_file(&mut file, &part).await?;
                    state.0.store.set_upload_offset(id, written).await?;
                    recorded = written;
                }
            }
            Err(e) => {
                disconnected = Some(e.to_string());
                break;
            }
        }
    }
    sync_file(&mut file, &part).await?;
    drop(file);
    if written != recorded {
        state.0.store.set_upload_offset(id, written).await?;
    }
    if let Some(e) = disconnected {
        tracing::info!(upload = %id, offset = written, error = %e, "upload interrupted; bytes received are kept");
        return Err(Failure::bad_request(
            "interrupted",
            format!("the request body ended early: {e}"),
        )
        .with_header(UPLOAD_OFFSET, written)
        .tus());
    }
    if too_long {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "the body goes past Upload-Length {}; bytes up to offset {written} were kept",
                upload.length
            ),
        )
        .with_header(UPLOAD_OFFSET, written)
        .tus());
    }
    if written == upload.length {
        return match finish(state, &upload).await? {
            Finish::Complete => Ok(offset_response(StatusCode::NO_CONTENT, &upload, written)),
            Finish::Mismatch => Err(mismatch()),
            Finish::MismatchOverQuota => Err(over_quota()),
        };
    }
    Ok(offset_response(StatusCode::NO_CONTENT, &upload, written))
}

/// The bytes of a completely uploaded, verified blob, for the provincial system's export feed
/// and auditors only: scanned documents are personal data, and neither a device nor a
/// technician certificate may be a key to every citizen's papers (`forbidden_role`).
#[utoipa::path(get, path = "/v1/blobs/{sha256}", tag = "uploads", security(("system_certificate" = []), ("auditor_certificate" = [])),
    params(("sha256" = String, Path, pattern = "^[0-9a-f]{64}$", description = "lowercase hex SHA-256")),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`: technicians and devices cannot read scans"),
        (status = 404, body = ApiError, description = "no complete blob with this hash"),
    ))]
pub(super) async fn get_blob(
    State(state): State<AppState>,
    _caller: Caller<ReadBlobs>,
    Path(sha256): Path<String>,
) -> ApiResult {
    if !is_sha256_hex(&sha256) || !state.0.store.blob_exists(&sha256).await? {
        return Err(Failure::not_found(format!("no complete blob {sha256}")));
    }
    let path = state.0.files.blob_path(&sha256);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| GatewayError::file("open the blob", &path, e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| GatewayError::file("read the size of", &path, e))?
        .len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        body,
    )
        .into_response())
}
