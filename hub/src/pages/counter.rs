//! The counter officer's API: sign in with the staff PIN at a counter and its areas, then call
//! next, call again, no-show, transfer and finish, with the waiting list and how long each
//! citizen has waited.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{
    cookie, new_pairing_code, new_token, not_now, require_json, PinGuard, SignedIn, PAIRING_VALID,
    SESSION_COOKIE,
};
use crate::hall::{ApiError, Hall, Officer};
use crate::store::{ScreenKind, Ticket, TicketSource, TransferTarget};

/// Sessions last a working day at most.
const SESSION_SECS: u64 = 12 * 3600;

#[derive(Deserialize)]
pub(super) struct Login {
    name: String,
    pin: String,
    counter: String,
    #[serde(default)]
    areas: Vec<String>,
}

/// What the sign-in form offers: names and counters (never hashes).
pub(super) async fn login_options(State(hall): State<Arc<Hall>>) -> Json<serde_json::Value> {
    Json(json!({
        "staff": hall.config.staff.iter().map(|s| &s.name).collect::<Vec<_>>(),
        "counters": hall.config.counters.iter().map(|c| json!({
            "code": c.code, "number": c.number, "areas": c.areas,
        })).collect::<Vec<_>>(),
    }))
}

pub(super) async fn login(
    State(hall): State<Arc<Hall>>,
    Extension(guard): Extension<Arc<PinGuard>>,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong_pin",
            "Tên hoặc mã PIN không đúng / wrong name or PIN",
        )
    };
    let permit = guard.begin(&login.name).map_err(not_now)?;
    let staff = hall
        .config
        .staff
        .iter()
        .find(|s| s.name == login.name)
        .ok_or_else(refused)?;
    let right = tokio::task::block_in_place(|| {
        motcua_identity::pin::verify_pin(&staff.pin_hash, &login.pin)
    });
    drop(permit);
    if !right {
        tracing::warn!(name = %login.name, "wrong staff PIN at the hub");
        return Err(refused());
    }
    guard.right(&login.name);
    let counter = hall.config.counter(&login.counter).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            format!(
                "không có quầy {} / no counter {}",
                login.counter, login.counter
            ),
        )
    })?;
    let areas = if login.areas.is_empty() {
        counter.areas.clone()
    } else if login.areas.iter().all(|a| counter.areas.contains(a)) {
        login.areas
    } else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            "quầy này không phục vụ lĩnh vực đã chọn / this counter does not serve that area",
        ));
    };
    let (token, hash) = new_token();
    tracing::info!(name = %staff.name, counter = %counter.code, ?areas, "officer signed in");
    hall.sign_in(
        hash,
        Officer {
            name: staff.name.clone(),
            counter: counter.code.clone(),
            areas,
            last_seen: Instant::now(),
        },
    );
    Ok((
        [(
            header::SET_COOKIE,
            cookie(SESSION_COOKIE, &token, SESSION_SECS),
        )],
        Json(json!({ "ok": true })),
    )
        .into_response())
}

pub(super) async fn logout(State(hall): State<Arc<Hall>>, signed: SignedIn) -> Response {
    hall.sign_out(&signed.token);
    (
        [(header::SET_COOKIE, cookie(SESSION_COOKIE, "", 0))],
        Json(json!({ "ok": true })),
    )
        .into_response()
}

#[derive(Serialize)]
struct TicketView {
    ticket_id: String,
    number: u32,
    area: String,
    waited_minutes: i64,
    calls: u32,
    offline: bool,
    for_counter: Option<String>,
}

fn view(t: &Ticket, now: DateTime<chrono::FixedOffset>) -> TicketView {
    TicketView {
        ticket_id: t.id.clone(),
        number: t.number,
        area: t.area.clone(),
        waited_minutes: (now - t.issued_at).num_minutes().max(0),
        calls: t.calls,
        offline: t.source == TicketSource::Fallback,
        for_counter: t.for_counter.clone(),
    }
}

/// The counter's state: who is signed in, the ticket called, the waiting list.
pub(super) async fn state(
    State(hall): State<Arc<Hall>>,
    signed: SignedIn,
) -> Result<Json<serde_json::Value>, ApiError> {
    let o = &signed.officer;
    let now = hall.now();
    let (current, waiting) = hall.store(|s| {
        let current = s.called_at(&o.counter)?;
        let mut waiting = Vec::new();
        for area in &o.areas {
            waiting.extend(s.waiting(area, now)?);
        }
        Ok((current, waiting))
    })?;
    let mut waiting: Vec<&Ticket> = waiting
        .iter()
        .filter(|t| t.for_counter.as_deref().is_none_or(|c| c == o.counter))
        .collect();
    waiting.sort_by_key(|t| (t.for_counter.is_none(), t.issued_at));
    let number = hall.config.counter(&o.counter).map_or(0, |c| c.number);
    Ok(Json(json!({
        "officer": o.name,
        "counter": o.counter,
        "counter_number": number,
        "areas": o.areas,
        "current": current.as_ref().map(|t| view(t, now)),
        "waiting": waiting.iter().map(|t| view(t, now)).collect::<Vec<_>>(),
        "other_counters": hall.config.counters.iter().filter(|c| c.code != o.counter)
            .map(|c| json!({"code": c.code, "number": c.number})).collect::<Vec<_>>(),
        "all_areas": all_areas(&hall),
    })))
}

fn all_areas(hall: &Hall) -> Vec<String> {
    let mut areas: Vec<String> = hall
        .config
        .counters
        .iter()
        .flat_map(|c| c.areas.iter().cloned())
        .collect();
    areas.sort();
    areas.dedup();
    areas
}

#[derive(Deserialize, Default)]
pub(super) struct ActBody {
    to_counter: Option<String>,
    to_area: Option<String>,
}

/// `next`, `again`, `no-show`, `finish`, `transfer`.
pub(super) async fn act(
    State(hall): State<Arc<Hall>>,
    signed: SignedIn,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Option<Json<ActBody>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_json(&headers)?;
    let o = signed.officer;
    let now = hall.now();
    let counter = o.counter.clone();
    let ticket = match action.as_str() {
        "next" => {
            let areas: Vec<&str> = o.areas.iter().map(String::as_str).collect();
            let called = hall.store(|s| s.call_next(&counter, &areas, now))?;
            if called.is_none() {
                return Ok(Json(json!({
                    "ticket": null,
                    "message": "Không còn ai chờ / nobody is waiting",
                })));
            }
            called
        }
        "again" => Some(hall.store(|s| s.call_again(&counter, now))?),
        "no-show" => Some(hall.store(|s| s.no_show(&counter, now))?),
        "finish" => Some(hall.store(|s| s.finish(&counter, now))?),
        "transfer" => {
            let body = body.map(|b| b.0).unwrap_or_default();
            let to = match (body.to_counter, body.to_area) {
                (Some(c), None) => TransferTarget::Counter(c),
                (None, Some(a)) => TransferTarget::Area(a),
                _ => {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "bad_request",
                        "chọn một quầy hoặc một lĩnh vực / choose one counter or one area",
                    ))
                }
            };
            if let TransferTarget::Counter(c) = &to {
                if hall.config.counter(c).is_none() {
                    return Err(ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "bad_request",
                        format!("không có quầy {c} / no counter {c}"),
                    ));
                }
            }
            Some(hall.store(|s| s.transfer(&counter, &to, now))?)
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "không có thao tác này / no such action",
            ))
        }
    };
    if let Some(t) = &ticket {
        if matches!(action.as_str(), "next" | "again") {
            hall.announce(t);
        }
        tracing::info!(%action, ticket = %t.id, %counter, officer = %o.name, "counter action");
    }
    Ok(Json(
        json!({ "ticket": ticket.as_ref().map(|t| view(t, now)) }),
    ))
}

#[derive(Deserialize)]
pub(super) struct PairBody {
    kind: String,
}

/// A pairing code for the hall display or this counter's rating tablet, shown to the officer.
pub(super) async fn pair(
    State(hall): State<Arc<Hall>>,
    signed: SignedIn,
    headers: HeaderMap,
    Json(body): Json<PairBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_json(&headers)?;
    let (kind, counter) = match body.kind.as_str() {
        "display" => (ScreenKind::Display, None),
        "rating" => (ScreenKind::Rating, Some(signed.officer.counter.as_str())),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_request",
                "display or rating",
            ))
        }
    };
    let (code, hash) = new_pairing_code();
    let expires = hall.now() + chrono::Duration::from_std(PAIRING_VALID).unwrap_or_default();
    hall.store(|s| s.add_pairing_code(&hash, kind, counter, expires))?;
    Ok(Json(
        json!({ "code": code, "valid_minutes": PAIRING_VALID.as_secs() / 60 }),
    ))
}
