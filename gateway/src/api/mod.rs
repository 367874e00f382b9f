//! The HTTP API: routes, authentication, the tus upload protocol and idempotent ingest.
//!
//! Every refusal is an [`ApiError`] JSON body with a stable `error` code. The router is built
//! from one table ([`route_table`]) that also feeds [`served_routes`], so a test can check that
//! the OpenAPI document lists exactly the routes served.
//!
//! One file per resource; the files depend on each other in one direction only:
//! [`state`] (shared state, digests, clock) ← [`failure`] (refusals, JSON bodies) ← [`auth`]
//! (client-certificate and role extractors) ← the resources ([`enrolment`] ← [`provisioning`], [`actions`], [`catalog`], [`tus`] ← [`upload_expiry`] ← [`uploads`], [`uploads_delete`], [`blobs_held`],
//! [`ingest`], [`queue`], [`dossiers`], [`export_feed`], [`releases`], [`fleet_page`] ← [`admin`], [`fleet`], [`releases_admin`]; [`content_encoding`], the
//! gzip request bodies of every route) ← this file, which only assembles the route table and
//! the OpenAPI document.

mod actions;
mod admin;
mod auth;
mod blobs_held;
mod catalog;
mod content_encoding;
mod dossiers;
mod enrolment;
mod export_feed;
mod failure;
mod fleet;
mod fleet_page;
mod fleet_releases;
pub mod fuzzing;
mod held_documents;
mod html;
mod ingest;
mod openapi_limits;
mod provisioning;
mod queue;
mod releases;
mod releases_admin;
mod state;
mod sweep;
mod tus;
mod upload_append;
mod upload_checksum;
mod upload_expiry;
mod upload_finish;
mod upload_lease;
mod upload_quota;
mod uploads;
mod uploads_delete;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, head, options, patch, post, MethodRouter};
use axum::{Json, Router};
use motcua_domain::wire::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::SecurityScheme;
use utoipa::{Modify, OpenApi, ToSchema};

use crate::store::{
    FeedApplicant, FeedDocument, FeedEvent, FeedEventKind, FleetDevice, FleetEntry, FleetFlag,
    FleetView, HealthPoint, Stats,
};
use crate::MAX_JSON_BYTES;
use actions::{admin_actions, device_action_result, device_actions, queue_action};
use admin::{
    admin_devices, admin_dossier, admin_set_status, admin_stats, allow_reenrolment,
    revoke_certificate, revoke_device, withdraw_setup_codes,
};
use blobs_held::blobs_held;
use catalog::catalog;
use dossiers::dossier_status;
use enrolment::{enroll, renew};
use export_feed::export_feed;
use failure::Failure;
use fleet::admin_fleet;
use fleet_page::admin_fleet_page;
use held_documents::{admin_reused_documents, held_documents};
use ingest::{
    ingest_documents, ingest_dossier, ingest_health_report, ingest_rating, ingest_ticket,
};
use openapi_limits::LimitsAddon;
use provisioning::{admin_provisioning, ca_pem, device_profile, provision, sequence_blocks};
use queue::{queue_events, queue_reports};
use releases::{release_offer, release_package, release_report};
use releases_admin::{
    abort_release, admin_releases, pause_release, publish_release, resume_release,
};
use upload_append::upload_patch;
use uploads::{create_upload, get_blob, tus_options, upload_head};
use uploads_delete::upload_delete;

pub use admin::{ReenrolmentApproval, Revocation, StatusChange};
pub use export_feed::FEED_PAGE_BYTES_MAX;
pub(crate) use state::{AppState, CitizenKeys};
pub(crate) use sweep::spawn_sweeper;

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
        ("/v1/devices/renew", Method::POST, post(renew)),
        ("/v1/ca.pem", Method::GET, get(ca_pem)),
        ("/v1/devices/provision", Method::POST, post(provision)),
        ("/v1/devices/profile", Method::GET, get(device_profile)),
        (
            "/v1/devices/sequence-blocks",
            Method::POST,
            post(sequence_blocks),
        ),
        ("/v1/devices/actions", Method::GET, get(device_actions)),
        (
            "/v1/devices/actions/{id}/result",
            Method::POST,
            post(device_action_result),
        ),
        (
            "/v1/admin/provisioning",
            Method::POST,
            post(admin_provisioning),
        ),
        (
            "/v1/admin/devices/{id}/actions",
            Method::POST,
            post(queue_action),
        ),
        (
            "/v1/admin/devices/{id}/actions",
            Method::GET,
            get(admin_actions),
        ),
        ("/v1/releases/offer", Method::GET, get(release_offer)),
        (
            "/v1/releases/{version}/package",
            Method::GET,
            get(release_package),
        ),
        (
            "/v1/releases/{version}/report",
            Method::POST,
            post(release_report),
        ),
        ("/v1/admin/releases", Method::GET, get(admin_releases)),
        (
            "/v1/admin/releases",
            Method::POST,
            post(publish_release).layer(DefaultBodyLimit::max(releases_admin::PUBLISH_BODY_MAX)),
        ),
        (
            "/v1/admin/releases/{version}/pause",
            Method::POST,
            post(pause_release),
        ),
        (
            "/v1/admin/releases/{version}/resume",
            Method::POST,
            post(resume_release),
        ),
        (
            "/v1/admin/releases/{version}/abort",
            Method::POST,
            post(abort_release),
        ),
        ("/v1/catalog", Method::GET, get(catalog)),
        ("/v1/uploads", Method::OPTIONS, options(tus_options)),
        ("/v1/uploads", Method::POST, post(create_upload)),
        ("/v1/uploads/{id}", Method::HEAD, head(upload_head)),
        (
            "/v1/uploads/{id}",
            Method::PATCH,
            patch(upload_patch).layer(DefaultBodyLimit::disable()),
        ),
        ("/v1/uploads/{id}", Method::DELETE, delete(upload_delete)),
        ("/v1/blobs/held", Method::POST, post(blobs_held)),
        ("/v1/blobs/{sha256}", Method::GET, get(get_blob)),
        ("/v1/dossiers", Method::POST, post(ingest_dossier)),
        ("/v1/ratings", Method::POST, post(ingest_rating)),
        ("/v1/tickets", Method::POST, post(ingest_ticket)),
        (
            "/v1/health-reports",
            Method::POST,
            post(ingest_health_report),
        ),
        (
            "/v1/dossiers/{code}/documents",
            Method::POST,
            post(ingest_documents),
        ),
        ("/v1/dossiers/status", Method::POST, post(dossier_status)),
        ("/v1/held-documents", Method::POST, post(held_documents)),
        ("/v1/queue/events", Method::POST, post(queue_events)),
        ("/v1/queue/reports", Method::GET, get(queue_reports)),
        (
            "/v1/admin/dossiers/{code}/status",
            Method::POST,
            post(admin_set_status),
        ),
        ("/v1/admin/dossiers/{code}", Method::GET, get(admin_dossier)),
        (
            "/v1/admin/dossiers/{code}/reused",
            Method::GET,
            get(admin_reused_documents),
        ),
        ("/v1/admin/stats", Method::GET, get(admin_stats)),
        ("/v1/export/feed", Method::GET, get(export_feed)),
        ("/v1/admin/devices", Method::GET, get(admin_devices)),
        ("/v1/admin/fleet", Method::GET, get(admin_fleet)),
        ("/v1/admin/fleet.html", Method::GET, get(admin_fleet_page)),
        (
            "/v1/admin/devices/{id}/revoke",
            Method::POST,
            post(revoke_device),
        ),
        (
            "/v1/admin/devices/{id}/withdraw-setup-codes",
            Method::POST,
            post(withdraw_setup_codes),
        ),
        (
            "/v1/admin/devices/{id}/allow-reenrolment",
            Method::POST,
            post(allow_reenrolment),
        ),
        (
            "/v1/admin/certificates/{serial}/revoke",
            Method::POST,
            post(revoke_certificate),
        ),
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
        .layer(axum::middleware::from_fn(
            content_encoding::decode_request_body,
        ))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(state)
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "motcua gateway API", description = "Kiosk-to-province link over HTTPS with client certificates: enrolment by CSR and renewal, catalog, tus 1.0 resumable blob uploads, idempotent ingest of dossiers, ratings, queue tickets and kiosk health reports, the centre queue services' events and day reports, the fleet's health for technicians, the export feed the provincial one-stop system pulls (JSON lines from a cursor), and the calls of the provincial system, technicians and auditors (each by the role in its certificate), and software releases rolled out to the kiosks in waves (offer, package with byte ranges, progress reports). Refusals of a certificate are 401 `certificate_required`, `certificate_unknown`, `certificate_revoked` or `certificate_expired`; a certificate of the wrong role is 403 `forbidden_role`. A certificate not signed by the province's CA is refused at the TLS handshake."),
    paths(
        health, enrolment::enroll, enrolment::renew, catalog::catalog, uploads::tus_options, uploads::create_upload,
        uploads::upload_head, upload_append::upload_patch, uploads_delete::upload_delete, blobs_held::blobs_held, uploads::get_blob, ingest::ingest_dossier,
        ingest::ingest_documents, ingest::ingest_rating, ingest::ingest_ticket,
        ingest::ingest_health_report, fleet::admin_fleet, fleet_page::admin_fleet_page,
        dossiers::dossier_status, admin::admin_set_status, admin::admin_dossier,
        admin::admin_stats, admin::admin_devices, admin::revoke_device,
        admin::allow_reenrolment, admin::revoke_certificate, admin::withdraw_setup_codes,
        provisioning::ca_pem,
        provisioning::provision, provisioning::device_profile, provisioning::sequence_blocks,
        provisioning::admin_provisioning, actions::device_actions, actions::device_action_result,
        actions::queue_action, actions::admin_actions, export_feed::export_feed,
        releases::release_offer, releases::release_package, releases::release_report,
        releases_admin::admin_releases, releases_admin::publish_release, releases_admin::pause_release,
        releases_admin::resume_release, releases_admin::abort_release,
        queue::queue_events, queue::queue_reports,
        held_documents::held_documents, held_documents::admin_reused_documents
    ),
    components(schemas(ApiError, tus::TusResumable, provisioning::SheetKind, motcua_domain::provisioning::RemoteActionKind, motcua_domain::provisioning::SequenceBlock, motcua_domain::provisioning::IssuedSetupCode, Stats, FleetDevice, Revocation, ReenrolmentApproval, admin::SetupCodesWithdrawn, FleetView, FleetEntry, FleetFlag, HealthPoint, FeedEvent, FeedEventKind, FeedApplicant, FeedDocument, motcua_domain::wire::ReleaseOffer, motcua_domain::wire::OfferedRelease, motcua_domain::wire::ReleaseReport, motcua_domain::wire::ReleaseStage, releases_admin::Releases, releases_admin::ReleaseSummary, releases_admin::PublishedRelease, releases_admin::RolloutChangeRequest, crate::store::ReusedDocument)),
    modifiers(&SecurityAddon, &LimitsAddon)
)]
pub struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let schemes = [
            (
                "device_certificate",
                "A device certificate (OU=device) signed at POST /v1/devices/enroll or /v1/devices/renew",
            ),
            (
                "system_certificate",
                "A role certificate OU=system (the provincial one-stop system), from `gateway ca issue --role system`",
            ),
            (
                "technician_certificate",
                "A role certificate OU=technician, from `gateway ca issue --role technician`",
            ),
            (
                "auditor_certificate",
                "A role certificate OU=auditor, from `gateway ca issue --role auditor`",
            ),
        ];
        for (name, description) in schemes {
            components.add_security_scheme(
                name,
                SecurityScheme::MutualTls {
                    description: Some(description.to_string()),
                    extensions: None,
                },
            );
        }
    }
}

/// Liveness probe for load balancers and technicians; needs no client certificate.
#[utoipa::path(get, path = "/v1/health", tag = "gateway", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}
