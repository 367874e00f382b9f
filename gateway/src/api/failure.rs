//! Refusals: every error answer of the API is a [`Failure`], which renders as an [`ApiError`]
//! JSON body with a stable `error` code (kiosks branch on it), plus the JSON body parser and the
//! path and query extractors ([`Path`], [`Query`]) that turn axum's plain-text rejections into
//! such refusals, so that every error answer is the documented `application/json` one.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use motcua_domain::wire::ApiError;

use crate::GatewayError;

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
    pub(super) fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(FailureParts {
            status,
            error,
            message: message.into(),
            headers: HeaderMap::new(),
        }))
    }

    pub(super) fn with_header(mut self, name: HeaderName, value: impl ToString) -> Self {
        if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
            self.0.headers.insert(name, v);
        }
        self
    }

    pub(super) fn bad_request(error: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, message)
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    #[cfg(test)]
    pub(super) fn status(&self) -> StatusCode {
        self.0.status
    }

    #[cfg(test)]
    pub(super) fn code(&self) -> &'static str {
        self.0.error
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

pub(super) type ApiResult = Result<Response, Failure>;

/// Parses a JSON body like [`parse_json`], then checks the length of every text field: one over
/// its limit is 422 `field_too_long`, naming the field and the limit (never its value, which
/// may be personal data).
pub(super) fn parse_limited<T>(body: Result<Bytes, BytesRejection>) -> Result<T, Failure>
where
    T: serde::de::DeserializeOwned + motcua_domain::limits::Limited,
{
    let value: T = parse_json(body)?;
    value.check_limits().map_err(|e| {
        Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "field_too_long",
            e.to_string(),
        )
    })?;
    Ok(value)
}

/// Parses a JSON body with a helpful 400 (or 413) instead of axum's plain-text rejection.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Failure> {
    let bytes = body.map_err(|e| {
        Failure::new(
            e.status(),
            "invalid_body",
            format!("the request body could not be read: {e}"),
        )
    })?;
    let refused = |e: serde_json::Error| {
        Failure::bad_request(
            "invalid_json",
            format!(
                "the request body is not valid JSON for this endpoint: {}",
                motcua_domain::wire::describe_json_error(&e)
            ),
        )
    };
    match serde_json::from_slice(&bytes) {
        Ok(value) => Ok(value),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            // JSON (and the OpenAPI document's JSON Schema) makes `2.0` the same integer as `2`;
            // serde takes only the second for an integer field, so the body is read again with
            // whole numbers spelled as such. The refusal names the position in the body as sent.
            let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(refused)?;
            if whole_floats_as_integers(&mut value) {
                if let Ok(parsed) = serde_json::from_value(value) {
                    return Ok(parsed);
                }
            }
            Err(refused(e))
        }
        Err(e) => Err(refused(e)),
    }
}

/// [`whole_floats_as_integers`] on each value, every one of them (no short circuit).
fn rewrite_all<'a>(values: impl Iterator<Item = &'a mut serde_json::Value>) -> bool {
    let mut any = false;
    for value in values {
        any |= whole_floats_as_integers(value);
    }
    any
}

/// Rewrites every float of `value` that is a whole number exactly (below 2^53) as an integer;
/// whether there was any.
fn whole_floats_as_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            #[allow(clippy::cast_possible_truncation)] // whole and below 2^53: exact
            Some(f) if f.fract() == 0.0 && f.abs() < EXACT => {
                *value = Value::from(f as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => rewrite_all(items.iter_mut()),
        Value::Object(fields) => rewrite_all(fields.values_mut()),
        _ => false,
    }
}

/// `axum::extract::Path` whose refusal (a segment that is not of the parameter's type, e.g. an
/// id past `i64`, or not UTF-8) is a 400 `invalid_path` [`ApiError`] instead of plain text.
#[derive(Debug)]
pub(super) struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|e| {
                Failure::new(
                    e.status(),
                    "invalid_path",
                    format!(
                        "the address of this request is not valid: {}",
                        e.body_text()
                    ),
                )
            })
    }
}

/// `axum::extract::Query` whose refusal is a 400 `invalid_query` [`ApiError`] instead of plain
/// text.
#[derive(Debug)]
pub(super) struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e| {
                Failure::new(
                    e.status(),
                    "invalid_query",
                    format!(
                        "the query string of this request is not valid: {}",
                        e.body_text()
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Counts {
        count: u32,
        ratio: f64,
        items: Vec<i64>,
    }

    #[test]
    fn whole_floats_are_the_integers_they_spell() {
        let body = br#"{"count": 17.0, "ratio": 2.0, "items": [-3.0, 4]}"#;
        let parsed: Counts = parse_json(Ok(Bytes::from_static(body))).expect("read");
        assert_eq!(
            parsed,
            Counts {
                count: 17,
                ratio: 2.0,
                items: vec![-3, 4]
            }
        );
        for bad in [
            &br#"{"count": 17.5, "ratio": 1, "items": []}"#[..],
            br#"{"count": -1.0, "ratio": 1, "items": []}"#,
            br#"{"count": "1", "ratio": 1, "items": []}"#,
        ] {
            let refused = parse_json::<Counts>(Ok(Bytes::copy_from_slice(bad))).unwrap_err();
            let response = refused.into_response();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        }
    }
}
