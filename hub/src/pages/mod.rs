//! The page port: the counter officer's page, the hall display, the rating tablets, the day's
//! report, and the sign-in and pairing that guard them. Pages are static HTML and JavaScript
//! compiled into the binary (`hub/web/`); what they show comes from the JSON API beside them.

mod auth;
mod counter;
mod screens;

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use motcua_domain::queue_report::build_report;
use serde::Deserialize;

use auth::SignedIn;
pub use auth::{new_pairing_code, token_hash, PinGuard, PAIRING_VALID};

use crate::hall::{ApiError, Hall};

/// The page port's routes.
pub fn router(hall: Arc<Hall>) -> Router {
    let guard = Arc::new(PinGuard::default());
    Router::new()
        .route("/", get(|| async { Redirect::to("/counter") }))
        .route("/login", get(|| page(include_str!("../../web/login.html"))))
        .route(
            "/counter",
            get(|| page(include_str!("../../web/counter.html"))),
        )
        .route(
            "/display",
            get(|| page(include_str!("../../web/display.html"))),
        )
        .route(
            "/rating",
            get(|| page(include_str!("../../web/rating.html"))),
        )
        .route(
            "/report",
            get(|| page(include_str!("../../web/report.html"))),
        )
        .route("/pair", get(|| page(include_str!("../../web/pair.html"))))
        .route(
            "/static/hub.css",
            get(|| asset("text/css", include_str!("../../web/hub.css"))),
        )
        .route(
            "/static/hub.js",
            get(|| asset("text/javascript", include_str!("../../web/hub.js"))),
        )
        .route(
            "/static/login.js",
            get(|| asset("text/javascript", include_str!("../../web/login.js"))),
        )
        .route(
            "/static/counter.js",
            get(|| asset("text/javascript", include_str!("../../web/counter.js"))),
        )
        .route(
            "/static/display.js",
            get(|| asset("text/javascript", include_str!("../../web/display.js"))),
        )
        .route(
            "/static/rating.js",
            get(|| asset("text/javascript", include_str!("../../web/rating.js"))),
        )
        .route(
            "/static/report.js",
            get(|| asset("text/javascript", include_str!("../../web/report.js"))),
        )
        .route(
            "/static/pair.js",
            get(|| asset("text/javascript", include_str!("../../web/pair.js"))),
        )
        .route(
            "/api/login",
            post(counter::login).layer(axum::Extension(Arc::clone(&guard))),
        )
        .route("/api/login/options", get(counter::login_options))
        .route("/api/logout", post(counter::logout))
        .route("/api/counter", get(counter::state))
        .route("/api/counter/{action}", post(counter::act))
        .route("/api/counter/pair", post(counter::pair))
        .route(
            "/api/pair",
            post(screens::pair).layer(axum::Extension(guard)),
        )
        .route("/api/display/state", get(screens::display_state))
        .route("/api/display/events", get(screens::events))
        .route("/audio/{file}", get(screens::audio))
        .route("/api/rating/current", get(screens::rating_current))
        .route("/api/rating", post(screens::rate))
        .route("/api/report", get(report))
        .with_state(hall)
}

fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; media-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn page(html: &'static str) -> Response {
    security_headers(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

async fn asset(kind: &'static str, body: &'static str) -> Response {
    security_headers(([(header::CONTENT_TYPE, kind)], body).into_response())
}

#[derive(Deserialize)]
struct ReportQuery {
    day: Option<chrono::NaiveDate>,
}

/// The day's figures (today by default), for a signed-in officer.
async fn report(
    State(hall): State<Arc<Hall>>,
    _officer: SignedIn,
    Query(q): Query<ReportQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let day = q.day.unwrap_or_else(|| hall.today());
    let records = hall.store(|s| s.day_records(day))?;
    let report = build_report(&records);
    let day_report = report.days.into_iter().next();
    Ok(Json(serde_json::json!({
        "day": day,
        "site": hall.site,
        "report": day_report,
    })))
}
