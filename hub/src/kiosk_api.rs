//! The kiosk port's API (`/v1/hub/…`, see [`motcua_domain::wire::hub`]): join, issue, offline
//! tickets, ratings read from a ticket QR. Every request is authorized by the kiosk's client
//! certificate: a device of this hub's site, whose id is the kiosk id the ticket carries.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use motcua_domain::rating::RatingScale;
use motcua_domain::wire::hub::{
    HubIssueRequest, HubJoined, HubOfflineRecorded, HubOfflineTickets, HubRateRequest, HubRated,
    HubTicket, MAX_OFFLINE_TICKETS,
};
use motcua_identity::Role;

use crate::hall::{ApiError, Hall};
use crate::tls::KioskPeer;

/// A kiosk of this hub's site, by its certificate.
pub struct SiteKiosk(pub String);

impl FromRequestParts<Arc<Hall>> for SiteKiosk {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, hall: &Arc<Hall>) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<KioskPeer>()
            .and_then(|p| p.0.clone())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "no_certificate",
                    "Cần chứng thư thiết bị / a device certificate is required",
                )
            })?;
        if peer.role != Role::Device || peer.site.as_deref() != Some(hall.site.as_str()) {
            tracing::warn!(device = %peer.name, site = ?peer.site, "a device of another site was refused");
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "other_site",
                format!(
                    "Thiết bị {} không thuộc điểm {} của máy chủ quầy này / device {} is not of this hub's site {}",
                    peer.name, hall.site, peer.name, hall.site
                ),
            ));
        }
        Ok(Self(peer.name.clone()))
    }
}

/// The kiosk port's routes.
pub fn router(hall: Arc<Hall>) -> Router {
    Router::new()
        .route("/v1/hub/join", post(join))
        .route("/v1/hub/tickets", post(issue))
        .route("/v1/hub/offline-tickets", post(offline))
        .route("/v1/hub/ratings", post(rate))
        .with_state(hall)
}

async fn join(
    State(hall): State<Arc<Hall>>,
    SiteKiosk(kiosk): SiteKiosk,
) -> Result<Json<HubJoined>, ApiError> {
    let now = hall.now();
    let block = hall.store(|s| s.join(&kiosk, now))?;
    tracing::info!(%kiosk, first = block.first, last = block.last, "kiosk joined the hub");
    Ok(Json(HubJoined {
        kiosk_id: block.kiosk_id,
        first: block.first,
        last: block.last,
    }))
}

/// Areas are those the hall's counters serve: a ticket for another would wait for nobody.
fn served_area(hall: &Hall, area: &str) -> Result<(), ApiError> {
    if hall
        .config
        .counters
        .iter()
        .any(|c| c.areas.iter().any(|a| a == area))
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_request",
            format!("Không quầy nào phục vụ lĩnh vực {area} / no counter serves area {area}"),
        ))
    }
}

async fn issue(
    State(hall): State<Arc<Hall>>,
    SiteKiosk(kiosk): SiteKiosk,
    Json(request): Json<HubIssueRequest>,
) -> Result<Json<HubTicket>, ApiError> {
    served_area(&hall, &request.area)?;
    let (ticket, ahead, counters_open, wait) = hall.issue(&request.area, &kiosk)?;
    let rating_code = hall.new_rating_code(&ticket.id)?;
    tracing::info!(ticket = %ticket.id, ahead, counters_open, "ticket issued");
    Ok(Json(HubTicket {
        ticket_id: ticket.id,
        number: ticket.number,
        area: ticket.area,
        issued_at: ticket.issued_at,
        ahead,
        counters_open,
        wait,
        rating_code,
    }))
}

async fn offline(
    State(hall): State<Arc<Hall>>,
    SiteKiosk(kiosk): SiteKiosk,
    Json(request): Json<HubOfflineTickets>,
) -> Result<Json<HubOfflineRecorded>, ApiError> {
    if request.tickets.len() > MAX_OFFLINE_TICKETS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "bad_request",
            format!("at most {MAX_OFFLINE_TICKETS} tickets per request"),
        ));
    }
    // An offline ticket waits in its place by its print time: only a time of today, not in
    // the future, may claim one (a kiosk's clock that ran ahead or behind cannot jump the
    // queue or fill another day).
    let now = hall.now();
    for t in &request.tickets {
        served_area(&hall, &t.area)?;
        let issued = t.issued_at.with_timezone(&motcua_domain::vietnam_offset());
        if issued.date_naive() != now.date_naive() || issued > now + chrono::Duration::minutes(2) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_request",
                format!(
                    "vé {} in lúc {issued}: không phải hôm nay / ticket {} printed at {issued}: not today (check the kiosk's clock)",
                    t.number, t.number
                ),
            ));
        }
    }
    let ticket_ids = hall.store(|s| {
        request
            .tickets
            .iter()
            .map(|t| {
                s.record_offline(&kiosk, &t.area, t.number, t.issued_at)
                    .map(|t| t.id)
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    for (id, t) in ticket_ids.iter().zip(&request.tickets) {
        if let Some(code) = &t.rating_code {
            let hash = crate::tokens::token_hash(&code.to_ascii_lowercase());
            hall.store(|s| s.set_rating_code(id, &hash))?;
        }
    }
    tracing::info!(%kiosk, tickets = ticket_ids.len(), "offline tickets recorded");
    Ok(Json(HubOfflineRecorded { ticket_ids }))
}

async fn rate(
    State(hall): State<Arc<Hall>>,
    SiteKiosk(_kiosk): SiteKiosk,
    Json(request): Json<HubRateRequest>,
) -> Result<Json<HubRated>, ApiError> {
    let scale = match request.levels {
        3 => RatingScale::Three,
        5 => RatingScale::Five,
        other => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_request",
                format!("thang {other} mức không có / no {other}-level scale"),
            ))
        }
    };
    // The QR's rating code proves the ticket was printed (ids alone are sequential).
    if !hall.rating_code_matches(&request.ticket_id, request.rating_code.as_deref())? {
        let known = hall.store(|s| s.ticket(&request.ticket_id).map(|_| ()));
        known?;
        tracing::warn!(ticket = %request.ticket_id, "a rating with a wrong rating code was refused");
        return Err(crate::store::HubError::WrongRatingCode(request.ticket_id).into());
    }
    let now = hall.now();
    let score = hall.store(|s| {
        // A ticket QR is no secret: only a ticket finished today, in the last two hours, may be
        // rated at a kiosk (the counter's tablet is the usual way), so old tickets cannot be
        // rated in bulk with made-up codes.
        let t = s.ticket(&request.ticket_id)?;
        let recent = t.finished_at.is_some_and(|f| {
            f.date_naive() == now.date_naive() && now - f <= chrono::Duration::hours(2)
        });
        if t.finished_at.is_some() && !recent && !s.is_rated(&t.id)? {
            return Err(crate::store::HubError::RatingClosed(t.id));
        }
        s.rate(&request.ticket_id, request.level, scale, now)
    })?;
    Ok(Json(HubRated {
        ticket_id: request.ticket_id,
        score,
    }))
}
