//! Rollouts for technicians: the releases with their devices' progress, and pause, resume and
//! abort (also the fleet page's buttons, form posts answered 303 back to the page, refused
//! when another site made them). `gateway release …` on the gateway's machine does the same on
//! the store directly. Publishing through the API needs the release key given to `gateway
//! serve` (`--release-key-file`); without it only the CLI publishes.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::wire::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Caller, ManageFleet};
use super::failure::{parse_json, ApiResult, Failure, Path, Query};
use super::fleet_page::{back_to_page, is_form, same_origin};
use super::state::AppState;
use crate::release::{change_in, publish_on, Package, RolloutChange};
use crate::store::ReleaseRow;
use crate::GatewayError;
use motcua_domain::release::{is_debian_version, WavePlan};

/// A release and how far the fleet got with it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReleaseSummary {
    /// Debian package name.
    pub package: String,
    /// Debian version.
    pub version: String,
    /// SHA-256 of the package.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was published (RFC 3339).
    pub published_at: String,
    /// `rolling`, `paused` or `aborted`.
    pub state: String,
    /// Why it was paused or aborted.
    pub state_reason: Option<String>,
    /// Devices it was offered to.
    pub offered: u64,
    /// Devices that downloaded it.
    pub downloaded: u64,
    /// Devices that installed it.
    pub installed: u64,
    /// Devices that kept it, healthy.
    pub committed: u64,
    /// Devices that rolled it back.
    pub rolled_back: u64,
    /// Devices that refused it before installing.
    pub failed: u64,
}

impl From<ReleaseRow> for ReleaseSummary {
    fn from(r: ReleaseRow) -> Self {
        Self {
            package: r.package,
            version: r.version,
            sha256: r.sha256,
            size: r.size,
            published_at: crate::store::rfc3339(r.published_at),
            state: r.state.as_str().to_owned(),
            state_reason: r.state_reason,
            offered: r.devices,
            downloaded: r.downloaded,
            installed: r.installed,
            committed: r.committed,
            rolled_back: r.rolled_back,
            failed: r.failed,
        }
    }
}

/// `GET /v1/admin/releases` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Releases {
    /// Newest first.
    pub releases: Vec<ReleaseSummary>,
}

/// Why a technician changes a rollout (shown beside its state).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutChangeRequest {
    /// Free text, at most 500 characters.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// The largest package the admin API takes; a larger one is published with `gateway release
/// publish` on the gateway's machine (the body is held in memory while it is checked).
pub(crate) const PUBLISH_BODY_MAX: usize = 64 * 1024 * 1024;

/// `POST /v1/admin/releases` query.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PublishQuery {
    /// The waves, `1%@0h,10%@24h,100%@72h`.
    waves: String,
    /// The oldest installed version that may upgrade to it (none: any).
    min_from_version: Option<String>,
}

/// What was published.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublishedRelease {
    /// Debian package name.
    pub package: String,
    /// Debian version.
    pub version: String,
    /// SHA-256 of the package.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The waves, as the gateway reads them.
    pub waves: String,
    /// `false` when this very package was published under this version before.
    pub new: bool,
}

/// Publishes a release: the body is the `.deb` file (as `gateway release publish` does, with
/// the release key `gateway serve --release-key-file` was given). The same package again
/// changes nothing (200); another package under a published version is refused.
#[utoipa::path(post, path = "/v1/admin/releases", tag = "admin", security(("technician_certificate" = [])),
    params(PublishQuery),
    request_body(content = Vec<u8>, content_type = "application/vnd.debian.binary-package", description = "the .deb file, at most 64 MiB"),
    responses(
        (status = 201, body = PublishedRelease, description = "published, rolling"),
        (status = 200, body = PublishedRelease, description = "this package was published under this version before: nothing changed"),
        (status = 400, body = ApiError, description = "`invalid_waves` or `invalid_query`"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role` or `cross_site_request`"),
        (status = 413, body = ApiError, description = "more than 64 MiB"),
        (status = 422, body = ApiError, description = "`release_refused`: not a Debian package, or its version names another package"),
        (status = 503, body = ApiError, description = "`releases_unavailable`: the gateway was started without a release key"),
    ))]
pub(super) async fn publish_release(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Query(query): Query<PublishQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    same_origin(&headers)?;
    let key = state.0.release_key.clone().ok_or_else(|| {
        Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "releases_unavailable",
            "this gateway has no release key (gateway serve --release-key-file); publish with \
             `gateway release publish` on its machine",
        )
    })?;
    let waves: WavePlan =
        query
            .waves
            .parse()
            .map_err(|e: motcua_domain::release::WavePlanError| {
                Failure::bad_request("invalid_waves", e.to_string())
            })?;
    if let Some(min) = &query.min_from_version {
        if !is_debian_version(min) {
            return Err(Failure::bad_request(
                "invalid_query",
                "min_from_version is not a Debian version",
            ));
        }
    }
    let bytes = body.map_err(|e| {
        Failure::new(
            e.status(),
            "invalid_body",
            format!("the package could not be read: {e}"),
        )
    })?;
    let package = Package {
        bytes: bytes.to_vec(),
        shown: std::path::Path::new("the uploaded package"),
    };
    let published = match publish_on(
        &state.0.store,
        &state.0.files,
        &key,
        package,
        waves,
        query.min_from_version,
        chrono::Utc::now().timestamp(),
    )
    .await
    {
        Ok(p) => p,
        Err(GatewayError::ReleaseRefused(why)) => {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "release_refused",
                why,
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let m = &published.manifest;
    tracing::info!(package = %m.package, version = %m.version, sha256 = %m.sha256, waves = %m.waves, new = published.new, technician = %caller.identity.name, "release published");
    let status = if published.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(PublishedRelease {
            package: m.package.clone(),
            version: m.version.clone(),
            sha256: m.sha256.clone(),
            size: m.size,
            waves: m.waves.to_string(),
            new: published.new,
        }),
    )
        .into_response())
}

/// Every release, newest first, with its devices' progress.
#[utoipa::path(get, path = "/v1/admin/releases", tag = "admin", security(("technician_certificate" = [])),
    responses(
        (status = 200, body = Releases),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
    ))]
pub(super) async fn admin_releases(
    State(state): State<AppState>,
    _caller: Caller<ManageFleet>,
) -> ApiResult {
    let releases = state.0.store.releases().await?;
    Ok(Json(Releases {
        releases: releases.into_iter().map(ReleaseSummary::from).collect(),
    })
    .into_response())
}

async fn change_rollout(
    state: AppState,
    caller: Caller<ManageFleet>,
    version: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    change: RolloutChange,
) -> ApiResult {
    same_origin(&headers)?;
    let form = is_form(&headers);
    let reason = if form {
        None
    } else {
        match body {
            Ok(b) if b.is_empty() => None,
            body => parse_json::<Option<RolloutChangeRequest>>(body)?.and_then(|r| r.reason),
        }
    };
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
            "reason is at most 500 characters",
        ));
    }
    let reason = Some(match reason {
        Some(r) => format!("{r} ({})", caller.identity.name),
        None => format!("by {}", caller.identity.name),
    });
    if !change_in(&state.0.store, &version, change, reason.as_deref()).await? {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            "rollout_state",
            format!(
                "release {version} cannot be {change:?}d from its state now (or does not exist); \
                 see GET /v1/admin/releases"
            ),
        ));
    }
    tracing::info!(%version, ?change, technician = %caller.identity.name, "rollout changed");
    if form {
        return Ok(back_to_page());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Pauses a rolling release: offered to no device until resumed.
#[utoipa::path(post, path = "/v1/admin/releases/{version}/pause", tag = "admin", security(("technician_certificate" = [])),
    params(("version" = String, Path, description = "the release's Debian version")),
    request_body(content = Option<RolloutChangeRequest>, description = "optional; a form post from the fleet page has none"),
    responses(
        (status = 204, description = "paused"),
        (status = 303, description = "a form's action: back to `/v1/admin/fleet.html`"),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role` or `cross_site_request`"),
        (status = 409, body = ApiError, description = "`rollout_state`: not rolling, or no such release"),
        (status = 422, body = ApiError),
    ))]
pub(super) async fn pause_release(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    change_rollout(state, caller, version, headers, body, RolloutChange::Pause).await
}

/// Resumes a paused release (paused by a technician or by itself).
#[utoipa::path(post, path = "/v1/admin/releases/{version}/resume", tag = "admin", security(("technician_certificate" = [])),
    params(("version" = String, Path, description = "the release's Debian version")),
    request_body(content = Option<RolloutChangeRequest>, description = "optional; a form post from the fleet page has none"),
    responses(
        (status = 204, description = "rolling again"),
        (status = 303, description = "a form's action: back to `/v1/admin/fleet.html`"),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role` or `cross_site_request`"),
        (status = 409, body = ApiError, description = "`rollout_state`: not paused, or no such release"),
        (status = 422, body = ApiError),
    ))]
pub(super) async fn resume_release(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    change_rollout(state, caller, version, headers, body, RolloutChange::Resume).await
}

/// Aborts a release for good: offered to nobody again, its package refused (410).
#[utoipa::path(post, path = "/v1/admin/releases/{version}/abort", tag = "admin", security(("technician_certificate" = [])),
    params(("version" = String, Path, description = "the release's Debian version")),
    request_body(content = Option<RolloutChangeRequest>, description = "optional; a form post from the fleet page has none"),
    responses(
        (status = 204, description = "aborted"),
        (status = 303, description = "a form's action: back to `/v1/admin/fleet.html`"),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role` or `cross_site_request`"),
        (status = 409, body = ApiError, description = "`rollout_state`: aborted already, or no such release"),
        (status = 422, body = ApiError),
    ))]
pub(super) async fn abort_release(
    State(state): State<AppState>,
    caller: Caller<ManageFleet>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    change_rollout(state, caller, version, headers, body, RolloutChange::Abort).await
}
