//! tus resumable uploads of document blobs: discovery, creation (plain tus: a kiosk asks
//! `POST /v1/blobs/held` first to skip what its site holds, see [`super::blobs_held`]), offset,
//! and the read of a finished blob. Appending is `upload_append`, verification and
//! storing of the blob `upload_finish`, the one-request-at-a-time lease `upload_lease`.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use motcua_domain::wire::{ApiError, TUS_VERSION};

use super::auth::{Caller, Device, ReadBlobs};
use super::failure::{ApiResult, Failure, Path};
use super::state::{is_sha256_hex, AppState};
use super::tus::{
    header_u64, metadata_sha256, offset_response, require_tus, tus_headers, TusFailure,
    TusResumable, TUS_EXTENSION, TUS_MAX_SIZE, TUS_VERSION_H, UPLOAD_EXPIRES, UPLOAD_LENGTH,
    UPLOAD_OFFSET,
};
use super::upload_checksum;
use super::upload_expiry;
use super::upload_finish::{finish, Finish};
use super::upload_lease::Lease;
use super::upload_quota::{quota_now, quota_spent};
use crate::store::{Upload, UploadCreation};
use crate::GatewayError;

/// SHA-256 of zero bytes.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// `Retry-After` of `too_many_open_uploads`: the kiosk finishes its open upload meanwhile.
const OPEN_UPLOADS_RETRY_S: u64 = 60;

/// tus discovery: protocol version, the `creation`, `expiration` (an upload idle for the expiry
/// is removed, see [`super::upload_expiry`]), `termination` ([`super::uploads_delete`]) and
/// `checksum` ([`super::upload_checksum`], sha256 only) extensions, and the size limit.
#[utoipa::path(options, path = "/v1/uploads", tag = "uploads",
    responses((status = 204, headers(("Tus-Resumable" = String), ("Tus-Version" = String), ("Tus-Extension" = String, description = "`creation,expiration,termination,checksum`"), ("Tus-Checksum-Algorithm" = String, description = "`sha256`: the only algorithm `Upload-Checksum` may name"), ("Tus-Max-Size" = u64)))))]
pub(super) async fn tus_options(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(TUS_VERSION_H, HeaderValue::from_static(TUS_VERSION));
    h.insert(
        TUS_EXTENSION,
        HeaderValue::from_static("creation,expiration,termination,checksum"),
    );
    upload_checksum::advertise(h);
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
        let Some(lease) = Lease::take(&state, &upload.id).await? else {
            return Err(Failure::from(GatewayError::Task {
                action: "store an empty blob",
                reason: "another request holds the upload".into(),
            }));
        };
        let finished = finish(&state, &upload, &lease).await;
        lease.release().await;
        if !matches!(finished?, Finish::Complete) {
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
    // Every byte arrived but the verification did not run (a crash, a gateway killed): run it
    // now, unless a request (on any instance) holds the upload.
    if !upload.complete && upload.offset == upload.length {
        if let Some(lease) = Lease::take(&state, &id).await? {
            let finished = async {
                let upload = owned_upload(&state, &device, &id).await?;
                if upload.complete || upload.offset != upload.length {
                    return Ok(upload);
                }
                match finish(&state, &upload, &lease).await? {
                    Finish::Complete => Ok(Upload {
                        complete: true,
                        ..upload
                    }),
                    Finish::Mismatch | Finish::Restarted => Ok(Upload {
                        offset: 0,
                        ..upload
                    }),
                    Finish::LeaseLost => owned_upload(&state, &device, &id).await,
                    Finish::MismatchOverQuota => {
                        Err(Failure::not_found(format!("no upload {id} for this device")).tus())
                    }
                }
            }
            .await;
            lease.release().await;
            upload = finished?;
        }
    }
    let mut response = offset_response(StatusCode::OK, &upload, upload.offset);
    if let Some(expires) = expires.filter(|_| !upload.complete) {
        response.headers_mut().insert(UPLOAD_EXPIRES, expires);
    }
    Ok(response)
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
    let (len, stream) = state.0.files.blob(&sha256).await?;
    let body = Body::from_stream(stream);
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
