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

pub use crate::tokens::{new_token, token_hash};

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

/// Wrong PIN counts per staff name, and the one Argon2 check that may run at a time.
///
/// A try is counted *before* its PIN is checked (and forgiven when it was right), under one
/// lock with the lockout check, so a burst of parallel sign-ins gets no more tries than one
/// after the other; and only [`ARGON2_AT_ONCE`] checks run at once (19 MiB each), others are
/// told to try again, so a burst cannot exhaust the hub's memory.
pub struct PinGuard {
    by_name: Mutex<HashMap<String, Tries>>,
    checks: tokio::sync::Semaphore,
}

/// Argon2 checks running at once.
pub const ARGON2_AT_ONCE: usize = 2;

impl Default for PinGuard {
    fn default() -> Self {
        Self {
            by_name: Mutex::new(HashMap::new()),
            checks: tokio::sync::Semaphore::new(ARGON2_AT_ONCE),
        }
    }
}

/// Why a try may not go ahead.
pub enum NotNow {
    /// Locked for this many more seconds.
    Locked(u64),
    /// Other checks are running.
    Busy,
}

impl PinGuard {
    /// Counts a try of `name` and returns the permit to check it, or why not now.
    pub fn begin(&self, name: &str) -> Result<tokio::sync::SemaphorePermit<'_>, NotNow> {
        let permit = self.checks.try_acquire().map_err(|_| NotNow::Busy)?;
        let mut map = self.by_name.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(name.to_owned()).or_insert((0, 0, None));
        if let Some(until) = entry.2 {
            if until > Instant::now() {
                return Err(NotNow::Locked((until - Instant::now()).as_secs() + 1));
            }
        }
        entry.0 += 1;
        if entry.0 >= TRIES {
            let factor = 1u32 << entry.1.min(6);
            entry.2 = Some(Instant::now() + LOCKOUT * factor);
            entry.1 += 1;
            entry.0 = 0;
        }
        Ok(permit)
    }

    /// A right PIN forgives the tries counted.
    pub fn right(&self, name: &str) {
        self.by_name
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

/// The words for a try that may not go ahead.
pub fn not_now(why: NotNow) -> ApiError {
    match why {
        NotNow::Locked(secs) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            format!("Nhập sai quá nhiều lần, thử lại sau {secs} giây / too many wrong tries, try again in {secs} s"),
        ),
        NotNow::Busy => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "Máy chủ đang kiểm tra, thử lại sau giây lát / busy checking, try again in a moment",
        ),
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
