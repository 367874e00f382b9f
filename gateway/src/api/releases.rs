//! Releases for devices: which release a kiosk should install now (its wave, its version), the
//! package with HTTP range requests (a download over a weak link resumes where it stopped), and
//! the kiosk's reports of how far it got, which pause a rollout by itself when too many
//! installs roll back ([`motcua_domain::release::PausePolicy`], `gateway serve
//! --release-pause-above-percent`).
//!
//! A device sees only what it may install: a release it was not offered is 404, an aborted
//! one 410. The offer carries the manifest as the gateway signed it; the kiosk trusts the
//! package's hash and size only from there.

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::release::{compare_versions, is_debian_version, wave_position, ReleaseManifest};
use motcua_domain::wire::{
    ApiError, OfferQuery, OfferedRelease, ReleaseOffer, ReleaseReport, ReleaseStage,
    REPORT_DETAIL_MAX,
};
use motcua_identity::release::own_manifest_json;

use super::auth::Device;
use super::failure::{parse_json, ApiResult, Failure, Path, Query};
use super::state::AppState;
use crate::release::package_key;
use crate::store::{OfferCandidate, RolloutState, StageChange};

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn manifest_of(c: &OfferCandidate) -> Result<ReleaseManifest, crate::GatewayError> {
    own_manifest_json(&c.manifest)
        .map_err(|e| e.to_string())
        .and_then(|json| ReleaseManifest::from_json(&json).map_err(|e| e.to_string()))
        .map_err(|e| {
            crate::GatewayError::Unreadable(format!("the manifest of release {}: {e}", c.version))
        })
}

/// The newest release of `package` this device may install now, if any.
#[utoipa::path(get, path = "/v1/releases/offer", tag = "releases", security(("device_certificate" = [])),
    params(OfferQuery),
    responses(
        (status = 200, body = ReleaseOffer, description = "`release` is null when nothing is offered to this device now: its wave has not come, the rollout is paused, or it runs the newest"),
        (status = 400, body = ApiError, description = "`invalid_query`: not a Debian package name and version"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
    ))]
pub(super) async fn release_offer(
    State(state): State<AppState>,
    device: Device,
    Query(query): Query<OfferQuery>,
) -> ApiResult {
    let name_ok = (2..=64).contains(&query.package.len())
        && query
            .package
            .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && query
            .package
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !name_ok || !is_debian_version(&query.running) {
        return Err(Failure::bad_request(
            "invalid_query",
            "package must be a Debian package name and running its Debian version",
        ));
    }
    let store = &state.0.store;
    let stages: HashMap<String, ReleaseStage> = store
        .device_release_stages(&device.id)
        .await?
        .into_iter()
        .collect();
    let position = wave_position(&device.id);
    let now = now_unix();
    let mut best: Option<(OfferCandidate, ReleaseManifest)> = None;
    for candidate in store.offer_candidates(&query.package).await? {
        if candidate.state != RolloutState::Rolling
            || stages.get(&candidate.version).is_some_and(|s| s.is_final())
        {
            continue;
        }
        let manifest = manifest_of(&candidate)?;
        if !manifest.offers(position, now) || !manifest.upgrades(&query.running) {
            continue;
        }
        let newer = best.as_ref().is_none_or(|(_, b)| {
            compare_versions(&manifest.version, &b.version) == Some(Ordering::Greater)
        });
        if newer {
            best = Some((candidate, manifest));
        }
    }
    let release = match best {
        None => None,
        Some((c, _)) => {
            if !stages.contains_key(&c.version) {
                store
                    .record_release_stage(&c.version, &device.id, ReleaseStage::Offered, None, now)
                    .await?;
                tracing::info!(device_id = %device.id, version = %c.version, "release offered");
            }
            Some(OfferedRelease {
                version: c.version,
                manifest: c.manifest,
                size: c.size,
                sha256: c.sha256,
            })
        }
    };
    Ok(Json(ReleaseOffer { release }).into_response())
}

/// A single byte range asked for by `Range: bytes=…` within `size`: `Ok(None)` for the whole
/// package (no header, several ranges, or a header that is not a byte range: RFC 9110 lets a
/// server ignore those), `Err(())` when it starts past the end (416).
fn asked_range(headers: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(text) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let range = match (first.trim().is_empty(), number(first), number(last)) {
        // `bytes=-N`: the last N bytes.
        (true, _, Some(n)) if n > 0 => size.saturating_sub(n)..size,
        (true, _, _) => return Err(()),
        (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
            if start >= size {
                return Err(());
            }
            let end = end.map_or(size, |e| e.saturating_add(1).min(size));
            if end <= start {
                return Ok(None);
            }
            start..end
        }
        _ => return Ok(None),
    };
    Ok(Some(range))
}

/// The package of a release offered to this device, whole or a byte range (`Range: bytes=N-`
/// to resume). Its `ETag` is the package's SHA-256; an `If-Range` that is not it gets the whole
/// package.
#[utoipa::path(get, path = "/v1/releases/{version}/package", tag = "releases", security(("device_certificate" = [])),
    params(
        ("version" = String, Path, description = "the release's Debian version"),
        ("Range" = Option<String>, Header, description = "`bytes=START-` or `bytes=START-END` (one range)"),
        ("If-Range" = Option<String>, Header, description = "the ETag the kiosk's partial download is of"),
    ),
    responses(
        (status = 200, description = "the whole package", content_type = "application/vnd.debian.binary-package", headers(("ETag" = String), ("Accept-Ranges" = String))),
        (status = 206, description = "the range asked for", content_type = "application/vnd.debian.binary-package", headers(("Content-Range" = String), ("ETag" = String))),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
        (status = 404, body = ApiError, description = "no such release offered to this device"),
        (status = 410, body = ApiError, description = "`release_aborted`: withdrawn for good"),
        (status = 416, body = ApiError, description = "`range_not_satisfiable`: the range starts past the end (`Content-Range: bytes */SIZE`)"),
    ))]
pub(super) async fn release_package(
    State(state): State<AppState>,
    device: Device,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let store = &state.0.store;
    let offered = store
        .device_release_stages(&device.id)
        .await?
        .into_iter()
        .any(|(v, _)| v == version);
    let release = match store.release(&version).await? {
        Some(r) if offered => r,
        _ => {
            return Err(Failure::not_found(format!(
                "no release {version} offered to this device"
            )))
        }
    };
    if release.state == RolloutState::Aborted {
        return Err(Failure::new(
            StatusCode::GONE,
            "release_aborted",
            format!("release {version} was withdrawn; do not install it"),
        ));
    }
    let etag = format!("\"{}\"", release.sha256);
    let size = release.size;
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let range = if if_range_ok {
        asked_range(&headers, size).map_err(|()| {
            Failure::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the package has {size} bytes"),
            )
            .with_header(header::CONTENT_RANGE, format!("bytes */{size}"))
        })?
    } else {
        None
    };
    let key = package_key(&release.sha256);
    let (status, range) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None => (StatusCode::OK, 0..size),
    };
    let stream = if range.is_empty() {
        futures_util::StreamExt::boxed(futures_util::stream::empty())
    } else {
        state.0.files.read_range(&key, range.clone()).await?
    };
    let mut response = (status, Body::from_stream(stream)).into_response();
    let h = response.headers_mut();
    let text = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.debian.binary-package"),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    h.insert(header::ETAG, text(etag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            text(format!(
                "bytes {}-{}/{size}",
                range.start,
                range.end.saturating_sub(1)
            )),
        );
    }
    Ok(response)
}

/// The device reports how far it got with a release it was offered. Stages only go forward;
/// the same stage again is a retry (204, nothing changes). A rollback may pause the rollout by
/// itself (the release's state then says why).
#[utoipa::path(post, path = "/v1/releases/{version}/report", tag = "releases", security(("device_certificate" = [])),
    params(("version" = String, Path, description = "the release's Debian version")),
    request_body = ReleaseReport,
    responses(
        (status = 204, description = "recorded (now or before)"),
        (status = 400, body = ApiError, description = "invalid JSON"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`"),
        (status = 404, body = ApiError, description = "no such release offered to this device"),
        (status = 409, body = ApiError, description = "`stage_refused`: not after the stage the device is at"),
        (status = 422, body = ApiError, description = "`invalid_stage` (`offered` is the gateway's) or `detail_too_long`"),
    ))]
pub(super) async fn release_report(
    State(state): State<AppState>,
    device: Device,
    Path(version): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let report: ReleaseReport = parse_json(body)?;
    let store = &state.0.store;
    let offered = store
        .device_release_stages(&device.id)
        .await?
        .into_iter()
        .any(|(v, _)| v == version);
    if !offered {
        return Err(Failure::not_found(format!(
            "no release {version} offered to this device"
        )));
    }
    if report.stage == ReleaseStage::Offered {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_stage",
            "offered is recorded by the gateway, not reported",
        ));
    }
    if report
        .detail
        .as_ref()
        .is_some_and(|d| d.chars().count() > REPORT_DETAIL_MAX)
    {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "detail_too_long",
            format!("detail is at most {REPORT_DETAIL_MAX} characters"),
        ));
    }
    let change = store
        .record_release_stage(
            &version,
            &device.id,
            report.stage,
            report.detail.as_deref(),
            now_unix(),
        )
        .await?;
    match change {
        StageChange::Recorded => {
            tracing::info!(device_id = %device.id, %version, stage = report.stage.as_str(), "release report");
        }
        StageChange::Repeated => return Ok(StatusCode::NO_CONTENT.into_response()),
        StageChange::Refused { current } => {
            return Err(Failure::new(
                StatusCode::CONFLICT,
                "stage_refused",
                format!(
                    "this device is at {} with release {version}; {} cannot come after it",
                    current.as_str(),
                    report.stage.as_str()
                ),
            ))
        }
    }
    if report.stage == ReleaseStage::RolledBack {
        let (committed, rolled_back) = store.release_outcomes(&version).await?;
        if state.0.release_pause.should_pause(committed, rolled_back) {
            let reason = format!(
                "tự tạm dừng: {rolled_back} trên {} máy đã quay lại bản cũ / paused by itself: \
                 {rolled_back} of {} devices rolled back",
                committed + rolled_back,
                committed + rolled_back
            );
            if store
                .set_release_state(
                    &version,
                    RolloutState::Rolling,
                    RolloutState::Paused,
                    Some(&reason),
                )
                .await?
            {
                tracing::warn!(%version, committed, rolled_back, "rollout paused by itself");
            }
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(value).expect("header"));
        asked_range(&h, size)
    }

    #[test]
    fn byte_ranges_read_as_rfc_9110_says() {
        assert_eq!(asked_range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(range("bytes=4-", 10), Ok(Some(4..10)));
        assert_eq!(range("bytes=0-0", 10), Ok(Some(0..1)));
        assert_eq!(range("bytes=2-99", 10), Ok(Some(2..10)));
        assert_eq!(range("bytes=-3", 10), Ok(Some(7..10)));
        assert_eq!(range("bytes=-30", 10), Ok(Some(0..10)));
        assert_eq!(range("bytes=10-", 10), Err(()));
        assert_eq!(range("bytes=-0", 10), Err(()));
        assert_eq!(
            range("bytes=5-2", 10),
            Ok(None),
            "an invalid range is ignored"
        );
        assert_eq!(range("bytes=0-1,4-5", 10), Ok(None));
        assert_eq!(range("items=0-1", 10), Ok(None));
        assert_eq!(range("bytes=x-", 10), Ok(None));
    }
}
