//! The paired screens: the hall display (current call per counter, last calls, a push of each
//! new call as a server-sent event, the call-out audio) and the rating tablet of a counter (the
//! ticket just finished there, rated once).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::stream::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::auth::{
    cookie, new_token, not_now, require_json, token_hash, PinGuard, Screen, SCREEN_COOKIE,
};
use crate::hall::{ApiError, Hall};
use crate::store::ScreenKind;

/// A paired screen stays paired for years (until the hub's database is reset).
const SCREEN_SECS: u64 = 10 * 365 * 24 * 3600;
/// The guard's name for pairing attempts (one count for the whole LAN).
const PAIRING: &str = "\u{0}pairing";

#[derive(Deserialize)]
pub(super) struct PairBody {
    code: String,
}

/// Pairs this browser with a code made on the hub.
pub(super) async fn pair(
    State(hall): State<Arc<Hall>>,
    Extension(guard): Extension<Arc<PinGuard>>,
    headers: HeaderMap,
    Json(body): Json<PairBody>,
) -> Result<Response, ApiError> {
    require_json(&headers)?;
    // Counted before the lookup, like a PIN (see `PinGuard`).
    let permit = guard.begin(PAIRING).map_err(not_now)?;
    let (token, hash) = new_token();
    let now = hall.now();
    let code = token_hash(body.code.trim());
    let redeemed = hall.store(|s| s.redeem_pairing_code(&code, &hash, now))?;
    drop(permit);
    let Some((kind, counter)) = redeemed else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong_code",
            "Mã ghép nối không đúng hoặc đã hết hạn / wrong or expired pairing code",
        ));
    };
    guard.right(PAIRING);
    tracing::info!(kind = <&str>::from(kind), ?counter, "screen paired");
    let page = match kind {
        ScreenKind::Display => "/display",
        ScreenKind::Rating => "/rating",
    };
    Ok((
        [(
            header::SET_COOKIE,
            cookie(SCREEN_COOKIE, &token, SCREEN_SECS),
        )],
        Json(json!({ "page": page, "counter": counter })),
    )
        .into_response())
}

fn display_only(screen: &Screen) -> Result<(), ApiError> {
    if screen.kind == ScreenKind::Display {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_screen",
            "đây là máy đánh giá, không phải màn hình sảnh / this is a rating tablet, not the hall display",
        ))
    }
}

/// What the display shows when it (re)connects: the current call per counter, the last calls.
pub(super) async fn display_state(
    State(hall): State<Arc<Hall>>,
    screen: Screen,
) -> Result<Json<serde_json::Value>, ApiError> {
    display_only(&screen)?;
    let today = hall.today();
    let (current, recent) = hall.store(|s| {
        let mut current = Vec::new();
        for c in &hall.config.counters {
            current.push((c, s.called_at(&c.code)?));
        }
        Ok((current, s.recent_calls(today, 8)?))
    })?;
    let number_of = |code: &str| hall.config.counter(code).map_or(0, |c| c.number);
    Ok(Json(json!({
        "language": match hall.config.language {
            motcua_domain::queue::callout::CalloutLanguage::Vietnamese => "vi",
            motcua_domain::queue::callout::CalloutLanguage::English => "en",
        },
        "counters": current.iter().map(|(c, t)| json!({
            "code": c.code, "number": c.number, "ticket": t.as_ref().map(|t| t.number),
        })).collect::<Vec<_>>(),
        "recent": recent.iter().map(|r| json!({
            "number": r.number, "counter": r.counter, "counter_number": number_of(&r.counter),
            "at": r.at.to_rfc3339(),
        })).collect::<Vec<_>>(),
    })))
}

/// The push channel: one `call` event per call, as it happens.
pub(super) async fn events(
    State(hall): State<Arc<Hall>>,
    screen: Screen,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    display_only(&screen)?;
    let calls = hall.subscribe();
    let stream = futures_util::stream::unfold(calls, |mut calls| async move {
        match calls.recv().await {
            Ok(call) => {
                let event = Event::default()
                    .event("call")
                    .json_data(&call)
                    .unwrap_or_else(|_| Event::default().comment("unserialisable call"));
                Some((Ok(event), calls))
            }
            // A display that fell behind reloads the state instead.
            Err(RecvError::Lagged(_)) => {
                Some((Ok(Event::default().event("resync").data("{}")), calls))
            }
            Err(RecvError::Closed) => None,
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The call-out WAV named in a call event.
pub(super) async fn audio(
    State(hall): State<Arc<Hall>>,
    screen: Screen,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    display_only(&screen)?;
    let name = file.strip_suffix(".wav").unwrap_or("");
    let made = tokio::task::block_in_place(|| hall.audio.file(name));
    let path = match made {
        Ok(Some(path)) => path,
        Ok(None) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "không có / not found",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "call-out audio not made");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Không tạo được âm thanh gọi số / the call-out audio cannot be made",
            ));
        }
    };
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::error!(error = %e, file = %path.display(), "call-out audio unreadable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "audio unreadable",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}

fn rating_counter(screen: &Screen) -> Result<&str, ApiError> {
    match (screen.kind, screen.counter.as_deref()) {
        (ScreenKind::Rating, Some(c)) => Ok(c),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_screen",
            "đây không phải máy đánh giá của một quầy / this is not a counter's rating tablet",
        )),
    }
}

/// The ticket the tablet offers now, if any.
pub(super) async fn rating_current(
    State(hall): State<Arc<Hall>>,
    screen: Screen,
) -> Result<Json<serde_json::Value>, ApiError> {
    let counter = rating_counter(&screen)?.to_owned();
    let today = hall.today();
    let offered = hall.store(|s| s.offered_for_rating(&counter, today))?;
    let scale = hall.config.rating;
    Ok(Json(json!({
        "counter": counter,
        "counter_number": hall.config.counter(&counter).map_or(0, |c| c.number),
        "ticket": offered.map(|t| json!({ "ticket_id": t.id, "number": t.number })),
        "levels": scale.levels(),
        "labels_vi": scale.labels_vi(),
        "labels_en": scale.labels_en(),
    })))
}

#[derive(Deserialize)]
pub(super) struct RateBody {
    ticket_id: String,
    level: u8,
}

/// Rates the ticket offered at this tablet's counter, once.
pub(super) async fn rate(
    State(hall): State<Arc<Hall>>,
    screen: Screen,
    headers: HeaderMap,
    Json(body): Json<RateBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    require_json(&headers)?;
    let counter = rating_counter(&screen)?.to_owned();
    let now = hall.now();
    let scale = hall.config.rating;
    let score = hall.store(|s| {
        // Only the ticket the tablet offers now: its counter's last one, today, before the
        // next call (the next citizen cannot rate the previous one's service).
        let offered = s.offered_for_rating(&counter, now.date_naive())?;
        if offered.as_ref().map(|t| t.id.as_str()) != Some(body.ticket_id.as_str()) {
            let t = s.ticket(&body.ticket_id)?;
            if t.counter.as_deref() == Some(counter.as_str()) && s.is_rated(&t.id)? {
                return Err(crate::store::HubError::AlreadyRated(t.id));
            }
            return Err(crate::store::HubError::UnknownTicket(
                body.ticket_id.clone(),
            ));
        }
        s.rate(&body.ticket_id, body.level, scale, now)
    })?;
    tracing::info!(ticket = %body.ticket_id, %counter, score, "ticket rated");
    Ok(Json(json!({ "ticket_id": body.ticket_id, "score": score })))
}
