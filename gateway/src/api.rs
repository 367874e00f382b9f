//! The HTTP API: routes, authentication, the tus upload protocol and idempotent ingest.
//!
//! Every refusal is an [`ApiError`] JSON body with a stable `error` code. The router is built
//! from one table ([`route_table`]) that also feeds [`served_routes`], so a test can check that
//! the OpenAPI document lists exactly the routes served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, head, options, patch, post, MethodRouter};
use axum::{Json, Router};
use base64::Engine;
use futures_util::StreamExt;
use motcua_domain::wire::{
    ApiError, DigitizedDocuments, DossierStatus, DossierStatusView, DossierSubmission,
    EnrollRequest, EnrollResponse, IngestAck, RatingSubmission, TicketIssued,
    IDEMPOTENCY_KEY_HEADER, TUS_SHA256_METADATA, TUS_VERSION,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::files::Files;
use crate::store::{Ingest, IngestOutcome, Record, Stats, Store, Upload};
use crate::{GatewayConfig, GatewayError, MAX_JSON_BYTES};

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION_H: HeaderName = HeaderName::from_static("tus-version");
const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// A PATCH whose body stalls this long is treated as interrupted, so a half-open connection from
/// a kiosk that lost its network cannot hold the upload forever (its bytes so far are kept).
const PATCH_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// SHA-256 of zero bytes.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// During a long PATCH the offset is recorded (after an fsync) every this many bytes.
const CHECKPOINT_BYTES: u64 = 8 * 1024 * 1024;
/// tus checksum extension's status for a checksum mismatch.
const CHECKSUM_MISMATCH: u16 = 460;

/// Shared state of all handlers.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

struct Inner {
    store: Store,
    files: Files,
    enrollment_key_sha256: [u8; 32],
    admin_key_sha256: [u8; 32],
    catalog_json: Bytes,
    catalog_etag: String,
    max_upload_bytes: u64,
    /// One lock per upload id, so two PATCH requests for one upload never interleave.
    upload_locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl AppState {
    pub(crate) fn new(
        store: Store,
        files: Files,
        config: &GatewayConfig,
    ) -> Result<Self, GatewayError> {
        let catalog_json = serde_json::to_vec(&config.catalog)
            .map_err(|e| GatewayError::Config(format!("the catalog cannot be serialised: {e}")))?;
        let catalog_etag = format!("\"{}\"", sha256_hex(&catalog_json));
        Ok(Self(Arc::new(Inner {
            store,
            files,
            enrollment_key_sha256: sha256(config.enrollment_key.as_bytes()),
            admin_key_sha256: sha256(config.admin_key.as_bytes()),
            catalog_json: Bytes::from(catalog_json),
            catalog_etag,
            max_upload_bytes: config.max_upload_bytes,
            upload_locks: Mutex::new(HashMap::new()),
        })))
    }

    fn upload_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .0
            .upload_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        if locks.len() > 1024 {
            locks.retain(|_, weak| weak.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(id.to_string(), Arc::downgrade(&lock));
        lock
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn now_vn() -> String {
    chrono::Utc::now()
        .with_timezone(&motcua_domain::vietnam_offset())
        .to_rfc3339()
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

// ---------------------------------------------------------------------------------------------
// Errors

/// A refusal: HTTP status plus the [`ApiError`] body.
#[derive(Debug)]
pub(crate) struct Failure(Box<FailureParts>);

/// The contents of a [`Failure`], boxed so that `Result<_, Failure>` stays small.
#[derive(Debug)]
pub(crate) struct FailureParts {
    status: StatusCode,
    error: &'static str,
    message: String,
    headers: HeaderMap,
}

impl Failure {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(FailureParts {
            status,
            error,
            message: message.into(),
            headers: HeaderMap::new(),
        }))
    }

    fn with_header(mut self, name: HeaderName, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.0.headers.insert(name, v);
        }
        self
    }

    fn bad_request(error: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            .with_header(header::WWW_AUTHENTICATE, "Bearer")
    }

    fn tus(mut self) -> Self {
        self.0
            .headers
            .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
        self
    }
}

impl From<GatewayError> for Failure {
    fn from(e: GatewayError) -> Self {
        tracing::error!(error = %e, "request failed inside the gateway");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the gateway could not complete the request; its log names the cause. Retry later.",
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = ApiError {
            error: self.0.error.to_string(),
            message: self.0.message,
        };
        let mut response = (self.0.status, Json(body)).into_response();
        response.headers_mut().extend(self.0.headers);
        response
    }
}

type ApiResult = Result<Response, Failure>;

// ---------------------------------------------------------------------------------------------
// Authentication

/// The device a valid bearer token belongs to.
pub(crate) struct Device(String);

fn bearer(parts: &Parts) -> Result<&str, Failure> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        Failure::unauthorized("missing Authorization header: send 'Authorization: Bearer <token>'")
    })?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Failure::unauthorized("the Authorization header is not 'Bearer <token>'"))
}

impl FromRequestParts<AppState> for Device {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let hash = sha256_hex(token.as_bytes());
        match state.0.store.device_for_token(&hash).await? {
            Some(device) => Ok(Device(device)),
            None => Err(Failure::unauthorized(
                "unknown or revoked device token: enrol the device again",
            )),
        }
    }
}

/// The caller presented the admin key.
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        // Comparing digests keeps the comparison time independent of where the keys differ.
        if sha256(token.as_bytes()) == state.0.admin_key_sha256 {
            Ok(Admin)
        } else {
            Err(Failure::unauthorized("wrong admin key"))
        }
    }
}

/// Parses a JSON body with a helpful 400 (or 413) instead of axum's plain-text rejection.
fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Failure> {
    let bytes = body.map_err(|e| {
        Failure::new(
            e.status(),
            "invalid_body",
            format!("the request body could not be read: {e}"),
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::bad_request(
            "invalid_json",
            format!(
                "the request body is not valid JSON for this endpoint: {}",
                motcua_domain::wire::describe_json_error(&e)
            ),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Router

/// `GET /v1/health` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the gateway answers.
    pub status: String,
}

/// Body of `POST /v1/admin/dossiers/{code}/status`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    /// The new status.
    pub status: DossierStatus,
}

type Route = (&'static str, Method, MethodRouter<AppState>);

/// Every route the gateway serves, once. The router and [`served_routes`] are both built from it.
fn route_table() -> Vec<Route> {
    vec![
        ("/v1/health", Method::GET, get(health)),
        ("/v1/devices/enroll", Method::POST, post(enroll)),
        ("/v1/catalog", Method::GET, get(catalog)),
        ("/v1/uploads", Method::OPTIONS, options(tus_options)),
        ("/v1/uploads", Method::POST, post(create_upload)),
        ("/v1/uploads/{id}", Method::HEAD, head(upload_head)),
        (
            "/v1/uploads/{id}",
            Method::PATCH,
            patch(upload_patch).layer(DefaultBodyLimit::disable()),
        ),
        ("/v1/blobs/{sha256}", Method::GET, get(get_blob)),
        ("/v1/dossiers", Method::POST, post(ingest_dossier)),
        ("/v1/ratings", Method::POST, post(ingest_rating)),
        ("/v1/tickets", Method::POST, post(ingest_ticket)),
        (
            "/v1/dossiers/{code}/documents",
            Method::POST,
            post(ingest_documents),
        ),
        ("/v1/dossiers/{code}", Method::GET, get(dossier_status)),
        (
            "/v1/admin/dossiers/{code}/status",
            Method::POST,
            post(admin_set_status),
        ),
        ("/v1/admin/stats", Method::GET, get(admin_stats)),
    ]
}

/// `(method, path)` of every route served, paths in OpenAPI template syntax (`{id}`).
pub fn served_routes() -> Vec<(String, String)> {
    route_table()
        .into_iter()
        .map(|(path, method, _)| (method.to_string(), path.to_string()))
        .collect()
}

pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, _, method_router) in route_table() {
        router = router.route(path, method_router);
    }
    router
        .fallback(|| async { Failure::not_found("no such route on this gateway") })
        .method_not_allowed_fallback(|| async {
            Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(state)
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "motcua gateway API", description = "Kiosk-to-province link: enrolment, catalog, tus 1.0 resumable blob uploads and idempotent ingest of dossiers, ratings and queue tickets."),
    paths(
        health, enroll, catalog, tus_options, create_upload, upload_head, upload_patch, get_blob,
        ingest_dossier, ingest_documents, ingest_rating, ingest_ticket, dossier_status, admin_set_status,
        admin_stats
    ),
    components(schemas(ApiError, Stats)),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Token returned by POST /v1/devices/enroll"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The gateway's admin key (provincial system)"))
                    .build(),
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Health, enrolment, catalog

/// Liveness probe for load balancers and technicians; needs no token.
#[utoipa::path(get, path = "/v1/health", tag = "gateway", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Enrols a device with the province's enrolment key and returns its bearer token. Enrolling the
/// same device again replaces (revokes) its previous token.
#[utoipa::path(post, path = "/v1/devices/enroll", tag = "devices", request_body = EnrollRequest,
    responses(
        (status = 200, body = EnrollResponse),
        (status = 400, body = ApiError, description = "invalid body or device id"),
        (status = 403, body = ApiError, description = "wrong enrolment key"),
        (status = 409, body = ApiError, description = "already enrolled: re-enrolling needs the admin key as bearer token"),
    ))]
async fn enroll(
    State(state): State<AppState>,
    admin: Result<Admin, Failure>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let req: EnrollRequest = parse_json(body)?;
    let id = req.device_id.trim();
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(Failure::bad_request(
            "invalid_device_id",
            "device_id must be 1–128 characters of letters, digits, '-', '_', '.' or ':'",
        ));
    }
    if sha256(req.enrollment_key.as_bytes()) != state.0.enrollment_key_sha256 {
        tracing::warn!(device_id = id, "enrolment refused: wrong enrolment key");
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "wrong enrolment key",
        ));
    }
    let token = {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        hex::encode(bytes)
    };
    // Re-enrolling a known device replaces its token, which would cut off the real kiosk: only
    // the province's admin may allow that (the enrolment key is shared by its technicians).
    let stored = state
        .0
        .store
        .enroll(id, &sha256_hex(token.as_bytes()), &now_vn(), admin.is_ok())
        .await?;
    if !stored {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            "already_enrolled",
            format!(
                "device {id} is already enrolled; re-enrolling it needs the province's admin key \
                 (kioskctl enroll --admin-key …)"
            ),
        ));
    }
    tracing::info!(device_id = id, "device enrolled");
    Ok(Json(EnrollResponse {
        device_id: id.to_string(),
        token,
    })
    .into_response())
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// The procedure catalog, with a strong ETag (quoted hex SHA-256 of the body) so a kiosk polls
/// cheaply with `If-None-Match`.
#[utoipa::path(get, path = "/v1/catalog", tag = "catalog", security(("device_token" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "ETag of the catalog the kiosk holds")),
    responses(
        (status = 200, body = motcua_domain::catalog::Catalog, headers(("ETag" = String))),
        (status = 304, description = "the kiosk's catalog is current"),
        (status = 401, body = ApiError),
    ))]
async fn catalog(State(state): State<AppState>, _device: Device, headers: HeaderMap) -> ApiResult {
    let etag = &state.0.catalog_etag;
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        if etag_matches(inm, etag) {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag.clone())]).into_response());
        }
    }
    Ok((
        StatusCode::OK,
        [
            (header::ETAG, etag.clone()),
            (header::CONTENT_TYPE, "application/json".to_string()),
        ],
        state.0.catalog_json.clone(),
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// tus uploads

fn require_tus(headers: &HeaderMap) -> Result<(), Failure> {
    match headers.get(TUS_RESUMABLE).and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(Failure::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            format!("send 'Tus-Resumable: {TUS_VERSION}': it is the only tus version this gateway speaks"),
        )
        .with_header(TUS_VERSION_H, TUS_VERSION)
        .tus()),
    }
}

fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Result<u64, Failure> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            Failure::bad_request(
                "invalid_header",
                format!("missing or invalid {name} header (a byte count)"),
            )
            .tus()
        })
}

/// Extracts the hex SHA-256 from a tus `Upload-Metadata` header (`key base64,key base64`).
fn metadata_sha256(headers: &HeaderMap) -> Result<String, Failure> {
    let bad = |m: &str| Failure::bad_request("invalid_metadata", m.to_string()).tus();
    let raw = headers
        .get(UPLOAD_METADATA)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("missing Upload-Metadata header: it must carry 'sha256 <base64 of the hex SHA-256>'"))?;
    for pair in raw.split(',') {
        let mut it = pair.trim().splitn(2, ' ');
        if it.next() == Some(TUS_SHA256_METADATA) {
            let value = it.next().unwrap_or("").trim();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| bad("the sha256 metadata value is not valid base64"))?;
            let hex = String::from_utf8(decoded)
                .map_err(|_| bad("the sha256 metadata value does not decode to text"))?
                .to_ascii_lowercase();
            if !is_sha256_hex(&hex) {
                return Err(bad(
                    "the sha256 metadata must be 64 hexadecimal characters once base64-decoded",
                ));
            }
            return Ok(hex);
        }
    }
    Err(bad(
        "Upload-Metadata has no sha256 entry: the gateway verifies every blob against it",
    ))
}

fn tus_headers(response: &mut Response) {
    response
        .headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
}

/// tus discovery: protocol version, the `creation` extension and the size limit.
#[utoipa::path(options, path = "/v1/uploads", tag = "uploads",
    responses((status = 204, headers(("Tus-Resumable" = String), ("Tus-Version" = String), ("Tus-Extension" = String), ("Tus-Max-Size" = u64)))))]
async fn tus_options(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(TUS_VERSION_H, HeaderValue::from_static(TUS_VERSION));
    h.insert(TUS_EXTENSION, HeaderValue::from_static("creation"));
    h.insert(TUS_MAX_SIZE, HeaderValue::from(state.0.max_upload_bytes));
    tus_headers(&mut response);
    response
}

/// Creates a tus upload for a blob of known length and SHA-256. If the gateway already holds a
/// verified blob with that hash the upload is created complete (offset = length): the kiosk
/// sends no bytes.
#[utoipa::path(post, path = "/v1/uploads", tag = "uploads", security(("device_token" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "size of the blob in bytes"),
        ("Upload-Metadata" = String, Header, description = "must contain `sha256 <base64 of the lowercase hex SHA-256>`"),
    ),
    responses(
        (status = 201, description = "created", headers(("Location" = String), ("Upload-Offset" = u64), ("Tus-Resumable" = String))),
        (status = 400, body = ApiError, description = "missing or invalid Upload-Length or Upload-Metadata"),
        (status = 401, body = ApiError),
        (status = 412, body = ApiError, description = "missing or unsupported Tus-Resumable"),
        (status = 413, body = ApiError, description = "Upload-Length above Tus-Max-Size"),
    ))]
async fn create_upload(
    State(state): State<AppState>,
    Device(device): Device,
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
    };
    let mut upload = state.0.store.create_upload(&upload, &now_vn()).await?;
    if !upload.complete && length == 0 {
        // Nothing will ever be PATCHed: store the (verified above) empty blob now.
        state.0.files.open_part_at(&upload.id, 0).await?;
        if let Finish::Mismatch = finish(&state, &upload).await? {
            return Err(Failure::from(GatewayError::Task {
                action: "store an empty blob",
                reason: "its hash did not verify".into(),
            }));
        }
        upload.offset = 0;
        upload.complete = true;
    }
    tracing::info!(device_id = %device, upload = %upload.id, length, dedup = upload.complete, "upload created");
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/uploads/{}", upload.id)) {
        h.insert(header::LOCATION, v);
    }
    h.insert(UPLOAD_OFFSET, HeaderValue::from(upload.offset));
    tus_headers(&mut response);
    Ok(response)
}

/// Loads an upload owned by `device`; anyone else's upload is reported as unknown.
async fn owned_upload(state: &AppState, device: &str, id: &str) -> Result<Upload, Failure> {
    match state.0.store.upload(id).await? {
        Some(u) if u.device_id == device => Ok(u),
        _ => Err(Failure::not_found(format!("no upload {id} for this device")).tus()),
    }
}

enum Finish {
    Complete,
    Mismatch,
}

/// Verifies a fully received upload and moves it into the blob store, or resets it to offset 0
/// if its content does not match the announced SHA-256. Also finishes an upload whose blob was
/// renamed into place but whose database commit was lost in a crash. Caller holds the upload lock.
async fn finish(state: &AppState, upload: &Upload) -> Result<Finish, GatewayError> {
    let files = &state.0.files;
    let part = files.part_path(&upload.id);
    let actual = if tokio::fs::try_exists(&part).await.unwrap_or(false) {
        Some(Files::sha256_of(part).await?)
    } else if files.blob_file_exists(&upload.sha256).await {
        let found = Files::sha256_of(files.blob_path(&upload.sha256)).await?;
        if found == upload.sha256 {
            state
                .0
                .store
                .complete_upload(&upload.id, &upload.sha256, upload.length, &now_vn())
                .await?;
            return Ok(Finish::Complete);
        }
        None
    } else {
        None
    };
    if actual.as_deref() == Some(upload.sha256.as_str()) {
        files.promote(&upload.id, &upload.sha256).await?;
        state
            .0
            .store
            .complete_upload(&upload.id, &upload.sha256, upload.length, &now_vn())
            .await?;
        tracing::info!(upload = %upload.id, size = upload.length, "blob stored");
        Ok(Finish::Complete)
    } else {
        files.remove_part(&upload.id).await?;
        state.0.store.set_upload_offset(&upload.id, 0).await?;
        tracing::warn!(upload = %upload.id, "upload content does not match its sha256; reset to offset 0");
        Ok(Finish::Mismatch)
    }
}

fn offset_response(status: StatusCode, upload: &Upload, offset: u64) -> Response {
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    h.insert(UPLOAD_LENGTH, HeaderValue::from(upload.length));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tus_headers(&mut response);
    response
}

/// The durable offset of an upload: where the kiosk resumes after any interruption.
#[utoipa::path(head, path = "/v1/uploads/{id}", tag = "uploads", security(("device_token" = [])),
    params(("id" = String, Path, description = "upload id from the Location header")),
    responses(
        (status = 200, headers(("Upload-Offset" = u64), ("Upload-Length" = u64), ("Cache-Control" = String), ("Tus-Resumable" = String))),
        (status = 401, description = "missing or unknown token"),
        (status = 404, description = "unknown upload, or another device's"),
    ))]
async fn upload_head(
    State(state): State<AppState>,
    Device(device): Device,
    Path(id): Path<String>,
) -> ApiResult {
    let mut upload = owned_upload(&state, &device, &id).await?;
    if !upload.complete {
        // Repair only when no PATCH is running: a running PATCH is the one moving the offset.
        let lock = state.upload_lock(&id);
        let guard = lock.try_lock();
        if guard.is_ok() {
            upload = owned_upload(&state, &device, &id).await?;
            if !upload.complete {
                if upload.offset == upload.length {
                    if let Finish::Complete = finish(&state, &upload).await? {
                        upload.offset = upload.length;
                    } else {
                        upload.offset = 0;
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
    Ok(offset_response(StatusCode::OK, &upload, upload.offset))
}

/// Appends bytes at `Upload-Offset`. The body is streamed to disk, never held in memory; if the
/// connection drops mid-body the bytes received are kept and the offset recorded. When the
/// offset reaches the length the blob is verified against its SHA-256 (460 on mismatch, and the
/// upload restarts at 0) and stored.
#[utoipa::path(patch, path = "/v1/uploads/{id}", tag = "uploads", security(("device_token" = [])),
    params(
        ("id" = String, Path, description = "upload id"),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Offset" = u64, Header, description = "must equal the current offset"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "bytes stored durably", headers(("Upload-Offset" = u64), ("Tus-Resumable" = String))),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError),
        (status = 409, body = ApiError, description = "Upload-Offset differs from the current offset"),
        (status = 412, body = ApiError),
        (status = 413, body = ApiError, description = "more bytes than Upload-Length"),
        (status = 415, body = ApiError, description = "Content-Type is not application/offset+octet-stream"),
        (status = 460, body = ApiError, description = "checksum mismatch: content differs from the announced sha256; the upload restarts at offset 0"),
    ))]
async fn upload_patch(
    State(state): State<AppState>,
    Device(device): Device,
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
    // The work runs in its own task: if the client disconnects, hyper may drop this handler, but
    // the task still records how many bytes arrived.
    let lock = state.upload_lock(&id);
    let task = tokio::spawn(async move {
        let _guard = lock.lock_owned().await;
        append(&state, &device, &id, offset, body).await
    });
    task.await
        .map_err(|e| Failure::from(GatewayError::join("append to an upload", e)))?
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
    if upload.offset == upload.length {
        // All bytes arrived before a crash interrupted the verification.
        return match finish(state, &upload).await? {
            Finish::Complete => Ok(offset_response(
                StatusCode::NO_CONTENT,
                &upload,
                upload.length,
            )),
            Finish::Mismatch => Err(mismatch()),
        };
    }
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
        };
    }
    Ok(offset_response(StatusCode::NO_CONTENT, &upload, written))
}

/// The bytes of a completely uploaded, verified blob, for the provincial system only (admin
/// key): scanned documents are personal data, and a device token must not be a key to every
/// citizen's papers.
#[utoipa::path(get, path = "/v1/blobs/{sha256}", tag = "uploads", security(("admin_key" = [])),
    params(("sha256" = String, Path, description = "lowercase hex SHA-256")),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError, description = "no complete blob with this hash"),
    ))]
async fn get_blob(
    State(state): State<AppState>,
    _admin: Admin,
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

// ---------------------------------------------------------------------------------------------
// Ingest

fn idempotency_key(headers: &HeaderMap) -> Result<String, Failure> {
    let key = headers
        .get(IDEMPOTENCY_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if key.is_empty() || key.len() > 255 {
        return Err(Failure::bad_request(
            "missing_idempotency_key",
            format!("send an {IDEMPOTENCY_KEY_HEADER} header (1–255 characters) so retries are recognised"),
        ));
    }
    Ok(key.to_string())
}

async fn ingest(
    state: &AppState,
    device: String,
    headers: &HeaderMap,
    record: Record,
    body_json: String,
) -> ApiResult {
    let key = idempotency_key(headers)?;
    if record.device_id() != device {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "device_mismatch",
            format!(
                "the body names device {} but the token belongs to {device}",
                record.device_id()
            ),
        ));
    }
    let kind = record.kind();
    let ingest = Ingest {
        key: key.clone(),
        device_id: device.clone(),
        body_sha256: sha256_hex(body_json.as_bytes()),
        body_json,
        record,
        now: now_vn(),
    };
    let outcome = state.0.store.ingest(&ingest).await?;
    let conflict =
        |error: &'static str, message: String| Failure::new(StatusCode::CONFLICT, error, message);
    match outcome {
        IngestOutcome::Created => {
            tracing::info!(device_id = %device, kind, key = %key, "ingested");
            Ok((
                StatusCode::CREATED,
                Json(IngestAck {
                    idempotency_key: key,
                    duplicate: false,
                }),
            )
                .into_response())
        }
        IngestOutcome::Duplicate => {
            tracing::info!(device_id = %device, kind, key = %key, "duplicate ingest acknowledged again");
            Ok((
                StatusCode::OK,
                Json(IngestAck {
                    idempotency_key: key,
                    duplicate: true,
                }),
            )
                .into_response())
        }
        IngestOutcome::KeyReused => Err(conflict(
            "idempotency_key_reused",
            format!("the {IDEMPOTENCY_KEY_HEADER} {key} was already used for a different request"),
        )),
        IngestOutcome::MissingBlobs(missing) => Err(conflict(
            "missing_blobs",
            format!(
                "these documents are not completely uploaded yet: {}",
                missing.join(", ")
            ),
        )),
        IngestOutcome::Conflict(natural) => Err(conflict(
            "conflict",
            format!("a {kind} {natural} is already stored under another {IDEMPOTENCY_KEY_HEADER}"),
        )),
        IngestOutcome::UnknownDossier(code) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "unknown_dossier",
            format!("no dossier {code} is stored here (yet); deliver the dossier first"),
        )),
        IngestOutcome::AlreadyRated(transaction) => Err(conflict(
            "already_rated",
            format!("transaction {transaction} has already been rated: one rating per transaction"),
        )),
    }
}

fn canonical<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| {
        Failure::from(GatewayError::Task {
            action: "re-serialise a request body",
            reason: e.to_string(),
        })
    })
}

fn require_text(value: &str, field: &str) -> Result<(), Failure> {
    if value.trim().is_empty() {
        return Err(Failure::bad_request(
            "invalid_body",
            format!("{field} must not be empty"),
        ));
    }
    Ok(())
}

/// Stores a dossier exactly once. All of its documents must have been uploaded completely first.
#[utoipa::path(post, path = "/v1/dossiers", tag = "ingest", security(("device_token" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per dossier delivery; retries reuse it")),
    request_body = DossierSubmission,
    responses(
        (status = 201, body = IngestAck, description = "stored durably"),
        (status = 200, body = IngestAck, description = "already stored under this key (duplicate = true)"),
        (status = 400, body = ApiError, description = "invalid JSON or missing Idempotency-Key"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "device_id is not the token's device"),
        (status = 409, body = ApiError, description = "idempotency_key_reused, missing_blobs or conflict (code already stored)"),
    ))]
async fn ingest_dossier(
    State(state): State<AppState>,
    Device(device): Device,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let dossier: DossierSubmission = parse_json(body)?;
    require_text(&dossier.code, "code")?;
    require_text(&dossier.procedure_code, "procedure_code")?;
    for doc in &dossier.documents {
        if !is_sha256_hex(&doc.sha256) {
            return Err(Failure::bad_request(
                "invalid_body",
                format!(
                    "document '{}' has an invalid sha256 (64 lowercase hex characters expected)",
                    doc.name
                ),
            ));
        }
    }
    let json = canonical(&dossier)?;
    ingest(&state, device, &headers, Record::Dossier(dossier), json).await
}

/// Adds documents digitized at an intake counter to a stored dossier, exactly once. Their PDFs
/// must have been uploaded completely first; each document code is stored once, ever.
#[utoipa::path(post, path = "/v1/dossiers/{code}/documents", tag = "ingest", security(("device_token" = [])),
    params(
        ("code" = String, Path, description = "dossier code"),
        ("Idempotency-Key" = String, Header, description = "unique per delivery of these documents; retries reuse it"),
    ),
    request_body = DigitizedDocuments,
    responses(
        (status = 201, body = IngestAck, description = "stored durably"),
        (status = 200, body = IngestAck, description = "already stored under this key (duplicate = true)"),
        (status = 400, body = ApiError, description = "invalid JSON, no documents, path and body name different dossiers, or missing Idempotency-Key"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "device_id is not the token's device"),
        (status = 404, body = ApiError, description = "unknown_dossier: the dossier is not stored (yet)"),
        (status = 409, body = ApiError, description = "idempotency_key_reused, missing_blobs or conflict (a document code already stored)"),
    ))]
async fn ingest_documents(
    State(state): State<AppState>,
    Device(device): Device,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let docs: DigitizedDocuments = parse_json(body)?;
    if docs.dossier_code != code {
        return Err(Failure::bad_request(
            "invalid_body",
            format!(
                "the path names dossier {code} but the body names {}",
                docs.dossier_code
            ),
        ));
    }
    if docs.documents.is_empty() {
        return Err(Failure::bad_request(
            "invalid_body",
            "documents must list at least one document",
        ));
    }
    for doc in &docs.documents {
        require_text(&doc.document_code, "document_code")?;
        if !is_sha256_hex(&doc.sha256) {
            return Err(Failure::bad_request(
                "invalid_body",
                format!(
                    "document '{}' has an invalid sha256 (64 lowercase hex characters expected)",
                    doc.document_code
                ),
            ));
        }
    }
    let json = canonical(&docs)?;
    ingest(&state, device, &headers, Record::Documents(docs), json).await
}

/// Stores a satisfaction rating exactly once; a transaction can be rated only once.
#[utoipa::path(post, path = "/v1/ratings", tag = "ingest", security(("device_token" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per rating delivery")),
    request_body = RatingSubmission,
    responses(
        (status = 201, body = IngestAck),
        (status = 200, body = IngestAck, description = "duplicate"),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError),
        (status = 409, body = ApiError, description = "idempotency_key_reused or already_rated"),
    ))]
async fn ingest_rating(
    State(state): State<AppState>,
    Device(device): Device,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let rating: RatingSubmission = parse_json(body)?;
    require_text(&rating.transaction, "transaction")?;
    if !(rating.scale_levels == 3 || rating.scale_levels == 5)
        || rating.level == 0
        || rating.level > rating.scale_levels
        || rating.score > 2
    {
        return Err(Failure::bad_request(
            "invalid_body",
            "a rating needs scale_levels 3 or 5, level between 1 and scale_levels, and score 0, 1 or 2",
        ));
    }
    let json = canonical(&rating)?;
    ingest(&state, device, &headers, Record::Rating(rating), json).await
}

/// Stores a queue ticket exactly once.
#[utoipa::path(post, path = "/v1/tickets", tag = "ingest", security(("device_token" = [])),
    params(("Idempotency-Key" = String, Header, description = "unique per ticket delivery")),
    request_body = TicketIssued,
    responses(
        (status = 201, body = IngestAck),
        (status = 200, body = IngestAck, description = "duplicate"),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError),
        (status = 409, body = ApiError, description = "idempotency_key_reused or conflict (ticket id already stored)"),
    ))]
async fn ingest_ticket(
    State(state): State<AppState>,
    Device(device): Device,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let ticket: TicketIssued = parse_json(body)?;
    require_text(&ticket.ticket_id, "ticket_id")?;
    let json = canonical(&ticket)?;
    ingest(&state, device, &headers, Record::Ticket(ticket), json).await
}

// ---------------------------------------------------------------------------------------------
// Status

/// Status of a dossier, for the kiosk's status-lookup screen. Devices get no document list:
/// a status lookup needs none, and dossier codes are easy to guess.
#[utoipa::path(get, path = "/v1/dossiers/{code}", tag = "dossiers", security(("device_token" = [])),
    params(("code" = String, Path, description = "dossier code")),
    responses(
        (status = 200, body = DossierStatusView),
        (status = 401, body = ApiError),
        (status = 404, body = ApiError),
    ))]
async fn dossier_status(
    State(state): State<AppState>,
    _device: Device,
    Path(code): Path<String>,
) -> ApiResult {
    match state.0.store.dossier_status(&code).await? {
        Some(mut view) => {
            view.documents.clear();
            view.digitized.clear();
            Ok(Json(view).into_response())
        }
        None => Err(Failure::not_found(format!("no dossier {code}"))),
    }
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
async fn admin_set_status(
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
async fn admin_stats(State(state): State<AppState>, _admin: Admin) -> ApiResult {
    Ok(Json(state.0.store.stats().await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_lists_weak_forms_and_star() {
        let etag = "\"abc\"";
        assert!(etag_matches("\"abc\"", etag));
        assert!(etag_matches("\"x\", W/\"abc\"", etag));
        assert!(etag_matches("*", etag));
        assert!(!etag_matches("\"abd\"", etag));
    }

    #[test]
    fn metadata_needs_a_base64_hex_sha256() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex);
        let mut h = HeaderMap::new();
        h.insert(
            UPLOAD_METADATA,
            HeaderValue::from_str(&format!("filename YS5wZGY=,sha256 {b64}")).unwrap(),
        );
        assert_eq!(metadata_sha256(&h).unwrap(), hex);
        h.insert(UPLOAD_METADATA, HeaderValue::from_static("sha256 bm90aGV4"));
        assert!(metadata_sha256(&h).is_err());
        h.insert(
            UPLOAD_METADATA,
            HeaderValue::from_static("filename YS5wZGY="),
        );
        assert!(metadata_sha256(&h).is_err());
    }
}
