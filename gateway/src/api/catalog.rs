//! Catalog distribution: the procedure catalog, serialised once at start, with an ETag so that
//! kiosks poll it cheaply.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use motcua_domain::wire::ApiError;

use super::auth::Device;
use super::failure::ApiResult;
use super::state::AppState;

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// The procedure catalog, with a strong ETag (quoted hex SHA-256 of the body) so a kiosk polls
/// cheaply with `If-None-Match`.
#[utoipa::path(get, path = "/v1/catalog", tag = "catalog", security(("device_certificate" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "ETag of the catalog the kiosk holds")),
    responses(
        (status = 200, body = motcua_domain::catalog::Catalog, headers(("ETag" = String))),
        (status = 304, description = "the kiosk's catalog is current"),
        (status = 401, body = ApiError),
    ))]
pub(super) async fn catalog(
    State(state): State<AppState>,
    _device: Device,
    headers: HeaderMap,
) -> ApiResult {
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
}
