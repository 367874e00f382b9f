//! Authentication extractors: a handler that takes a [`Device`] or an [`Admin`] argument cannot
//! run for a caller without the matching bearer token, so no handler can forget the check.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::failure::Failure;
use super::state::{sha256, sha256_hex, AppState};

/// The device a valid bearer token belongs to.
pub(crate) struct Device(pub(super) String);

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
