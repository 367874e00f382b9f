//! The HTTP API: routes, authentication, the tus upload protocol and idempotent ingest.
//!
//! Every refusal is an [`ApiError`] JSON body with a stable `error` code. The router is built
//! from one table ([`route_table`]) that also feeds [`served_routes`], so a test can check that
//! the OpenAPI document lists exactly the routes served.
//!
//! One file per resource; the files depend on each other in one direction only:
//! [`state`] (shared state, digests, clock) ← [`failure`] (refusals, JSON bodies) ← [`auth`]
//! (bearer-token extractors) ← the resources ([`enrolment`], [`catalog`], [`tus`] ← [`uploads`],
//! [`ingest`], [`dossiers`], [`admin`]) ← this file, which only assembles the route table and
//! the OpenAPI document.

mod admin;
mod auth;
mod catalog;
mod dossiers;
mod enrolment;
mod failure;
mod ingest;
mod state;
mod tus;
mod uploads;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::routing::{get, head, options, patch, post, MethodRouter};
use axum::{Json, Router};
use motcua_domain::wire::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::store::Stats;
use crate::MAX_JSON_BYTES;
use admin::{admin_set_status, admin_stats};
use catalog::catalog;
use dossiers::dossier_status;
use enrolment::enroll;
use failure::Failure;
use ingest::{ingest_documents, ingest_dossier, ingest_rating, ingest_ticket};
use uploads::{create_upload, get_blob, tus_options, upload_head, upload_patch};

pub use admin::StatusChange;
pub(crate) use state::AppState;

/// `GET /v1/health` answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the gateway answers.
    pub status: String,
}

type Route = (&'static str, Method, MethodRouter<AppState>);

/// Every route the gateway serves, once. The router and [`served_routes`] are both built from it.
fn route_table() -> Vec<Route> {
    vec![
        ("/v1/health", Method::GET, get(health)),
        ("/v1/devices/enroll", Method::POST, post(enroll)),
        ("/v1/catalog", Method::GET, get(catalog)),
        ("/v1/uploads", Method::OPTIONS, options(tus_options)),
        ("/v1/uploads", Method::POST, post(create_upload)),
        ("/v1/uploads/{id}", Method::HEAD, head(upload_head)),
        (
            "/v1/uploads/{id}",
            Method::PATCH,
            patch(upload_patch).layer(DefaultBodyLimit::disable()),
        ),
        ("/v1/blobs/{sha256}", Method::GET, get(get_blob)),
        ("/v1/dossiers", Method::POST, post(ingest_dossier)),
        ("/v1/ratings", Method::POST, post(ingest_rating)),
        ("/v1/tickets", Method::POST, post(ingest_ticket)),
        (
            "/v1/dossiers/{code}/documents",
            Method::POST,
            post(ingest_documents),
        ),
        ("/v1/dossiers/{code}", Method::GET, get(dossier_status)),
        (
            "/v1/admin/dossiers/{code}/status",
            Method::POST,
            post(admin_set_status),
        ),
        ("/v1/admin/stats", Method::GET, get(admin_stats)),
    ]
}

/// `(method, path)` of every route served, paths in OpenAPI template syntax (`{id}`).
pub fn served_routes() -> Vec<(String, String)> {
    route_table()
        .into_iter()
        .map(|(path, method, _)| (method.to_string(), path.to_string()))
        .collect()
}

pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, _, method_router) in route_table() {
        router = router.route(path, method_router);
    }
    router
        .fallback(|| async { Failure::not_found("no such route on this gateway") })
        .method_not_allowed_fallback(|| async {
            Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(state)
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "motcua gateway API", description = "Kiosk-to-province link: enrolment, catalog, tus 1.0 resumable blob uploads and idempotent ingest of dossiers, ratings and queue tickets."),
    paths(
        health, enrolment::enroll, catalog::catalog, uploads::tus_options, uploads::create_upload,
        uploads::upload_head, uploads::upload_patch, uploads::get_blob, ingest::ingest_dossier,
        ingest::ingest_documents, ingest::ingest_rating, ingest::ingest_ticket,
        dossiers::dossier_status, admin::admin_set_status, admin::admin_stats
    ),
    components(schemas(ApiError, Stats)),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "device_token",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Token returned by POST /v1/devices/enroll"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The gateway's admin key (provincial system)"))
                    .build(),
            ),
        );
    }
}

/// Liveness probe for load balancers and technicians; needs no token.
#[utoipa::path(get, path = "/v1/health", tag = "gateway", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}
