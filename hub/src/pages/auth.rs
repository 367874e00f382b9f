//! Who may use a page: counter officers sign in with their staff PIN (a session cookie kept in
//! memory, by its hash), hall displays and rating tablets are paired once with a code an
//! officer or technician makes on the hub (a long-lived cookie whose hash the store keeps).
//!
//! Cookies are `HttpOnly; Secure; SameSite=Strict`, and every state-changing request must be
//! JSON (a cross-site form cannot send that without the browser asking first), so another page
//! on the LAN cannot act with an officer's session. Wrong PINs lock the name out: five in a
//! row lock it for a minute, doubling with each lockout in a row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::hall::{ApiError, Hall, Officer};
use crate::store::ScreenKind;

/// The officer's session cookie.
pub const SESSION_COOKIE: &str = "motcua_hub_session";
/// A paired screen's cookie.
pub const SCREEN_COOKIE: &str = "motcua_hub_screen";
/// Wrong PINs in a row before a lockout.
const TRIES: u32 = 5;
/// The first lockout.
const LOCKOUT: Duration = Duration::from_secs(60);

/// A fresh random token (32 bytes, base64url) and its SHA-256 (hex), which is what is kept.
pub fn new_token() -> (String, String) {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = token_hash(&token);
    (token, hash)
}

/// The SHA-256 (hex) of a token or code.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A `Set-Cookie` value for `name`.
pub fn cookie(name: &str, value: &str, max_age_secs: u64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_secs}")
}

/// The value of cookie `name` in the request's headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Wrong tries in a row, lockouts in a row, and the end of the current lockout.
type Tries = (u32, u32, Option<Instant>);

/// Wrong PIN counts per staff name.
#[derive(Default)]
pub struct PinGuard {
    by_name: Mutex<HashMap<String, Tries>>,
}

impl PinGuard {
    /// `Err` with the seconds left while `name` is locked.
    pub fn check(&self, name: &str) -> Result<(), u64> {
        let map = self.by_name.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(name) {
            Some((_, _, Some(until))) if *until > Instant::now() => {
                Err((*until - Instant::now()).as_secs() + 1)
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong PIN; returns whether the name is now locked.
    pub fn wrong(&self, name: &str) -> bool {
        let mut map = self.by_name.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(name.to_owned()).or_insert((0, 0, None));
        entry.0 += 1;
        if entry.0 >= TRIES {
            let factor = 1u32 << entry.1.min(6);
            entry.2 = Some(Instant::now() + LOCKOUT * factor);
            entry.1 += 1;
            entry.0 = 0;
            return true;
        }
        false
    }

    /// A right PIN clears the count.
    pub fn right(&self, name: &str) {
        self.by_name
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

/// The signed-in officer of a request.
pub struct SignedIn {
    /// The session's token hash.
    pub token: String,
    /// The officer.
    pub officer: Officer,
}

impl FromRequestParts<Arc<Hall>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hall: &Arc<Hall>) -> Result<Self, ApiError> {
        let token = cookie_value(&parts.headers, SESSION_COOKIE)
            .map(token_hash)
            .ok_or_else(signed_out)?;
        let officer = hall.officer(&token).ok_or_else(signed_out)?;
        Ok(Self { token, officer })
    }
}

fn signed_out() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "signed_out",
        "Vui lòng đăng nhập bằng mã PIN cán bộ / please sign in with your staff PIN",
    )
}

/// A paired screen of a request.
pub struct Screen {
    /// What it is.
    pub kind: ScreenKind,
    /// The counter of a rating tablet.
    pub counter: Option<String>,
}

impl FromRequestParts<Arc<Hall>> for Screen {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hall: &Arc<Hall>) -> Result<Self, ApiError> {
        let unpaired = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "not_paired",
                "Màn hình này chưa được ghép nối: nhập mã ghép nối tại /pair / this screen is not paired: enter a pairing code at /pair",
            )
        };
        let token = cookie_value(&parts.headers, SCREEN_COOKIE)
            .map(token_hash)
            .ok_or_else(unpaired)?;
        let (kind, counter) = hall.store(|s| s.screen(&token))?.ok_or_else(unpaired)?;
        Ok(Self { kind, counter })
    }
}

/// Refuses a state-changing request that is not JSON (see the module documentation).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "JSON only",
        ))
    }
}

/// A six-digit pairing code, its hash, valid for ten minutes.
pub fn new_pairing_code() -> (String, String) {
    let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
    let hash = token_hash(&code);
    (code, hash)
}

/// How long a pairing code is valid.
pub const PAIRING_VALID: Duration = Duration::from_secs(600);
