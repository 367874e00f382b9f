//! Refusals: every error answer of the API is a [`Failure`], which renders as an [`ApiError`]
//! JSON body with a stable `error` code (kiosks branch on it), plus the JSON body parser that
//! turns axum's plain-text rejections into such refusals.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
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
