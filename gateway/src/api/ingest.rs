//! Idempotent ingest of dossiers, digitized documents, ratings and queue tickets: validate the
//! body, bind it to the certificate's device and site, and store it exactly once under its
//! `Idempotency-Key`.
//!
//! The certificate names the device (CN) and its site (O); the body may claim neither for
//! another: `device_id` must be the certificate's device (403 `device_mismatch`), a dossier's
//! `agency_code` its site (403 `site_mismatch`), its code must start with that site and carry a
//! number of the device's blocks (403 `code_not_yours`), digitized documents may be added only
//! to a dossier of that site (another site's code: 403 `site_mismatch`; a code of the site the
//! gateway does not hold there: 404 `unknown_dossier`, whether or not another site holds it), a
//! ticket must be issued at the site (403 `ticket_not_yours`), and a rating must rate a dossier
//! or ticket of the site (404 `rated_target_unknown`, retried by the kiosk: the ticket of
//! another kiosk of the centre may still be on its way). Idempotency keys are per device. The
//! rules the database decides are in `store::authorization`. A health report names no device
//! at all: it is stored as the certificate's device's.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::dossier::DossierCode;
use motcua_domain::wire::{
    is_id_number, ApiError, DigitizedDocuments, DossierSubmission, HealthReport, IngestAck,
    RatingSubmission, TicketIssued, IDEMPOTENCY_KEY_HEADER,
};
use serde::Serialize;

use super::auth::Device;
use super::failure::{parse_limited, ApiResult, Failure, Path};
use super::state::{is_sha256_hex, now_vn, sha256_hex, AppState};
use crate::store::{HeldContext, Ingest, IngestOutcome, Record};
use crate::GatewayError;

fn idempotency_key(headers: &HeaderMap) -> Result<String, Failure> {
    let key = headers
        .get(IDEMPOTENCY_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if key.is_empty() || key.len() > 255 {
        return Err(Failure::bad_request(
            "missing_idempotency_key",
            format!("send an {IDEMPOTENCY_KEY_HEADER} header (1–255 characters) so retries are recognised"),
        ));
    }
    Ok(key.to_string())
}

fn site_mismatch(device_site: &str, what: &str, site: &str) -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        "site_mismatch",
        format!(
            "this kiosk's certificate is for site {device_site}, but {what} is for site {site}: \
             a device delivers only its own site's records (check [device] agency_code in the \
             kiosk's configuration, or re-enrol it for the right site)"
        ),
    )
}

/// The body must name the certificate's device, if it names one.
fn require_device(device: &str, named: Option<&str>) -> Result<(), Failure> {
    match named {
        Some(named) if named != device => Err(Failure::new(
            StatusCode::FORBIDDEN,
            "device_mismatch",
            format!(
                "the body names device {named} but the client certificate is device {device}'s"
            ),
        )),
        _ => Ok(()),
    }
}

fn code_not_yours(code: &str, reason: &str) -> Failure {
    Failure::new(
        StatusCode::FORBIDDEN,
        "code_not_yours",
        format!(
            "mã hồ sơ {code} không phải của thiết bị này ({reason}); kiểm tra [device] \
             agency_code và dãy số được cấp của ki-ốt / dossier code {code} is not this \
             device's to issue ({reason}); check the kiosk's [device] agency_code and the \
             number blocks the gateway allocated to it"
        ),
    )
}

async fn ingest(
    state: &AppState,
    device: Device,
    headers: &HeaderMap,
    record: Record,
    body_json: String,
    held: HeldContext,
) -> ApiResult {
    let key = idempotency_key(headers)?;
    let Device {
        id: device,
        site: device_site,
        ..
    } = device;
    require_device(&device, record.device_id())?;
    let kind = record.kind();
    // A report's sending time is stamped anew at each attempt: it is not part of what a retry
    // must repeat, so the identity of a report is its body without it.
    let identity = match &record {
        Record::Health(h) => canonical(&HealthReport {
            sent_at: None,
            ..h.clone()
        })?,
        _ => body_json.clone(),
    };
    let ingest = Ingest {
        key: key.clone(),
        device_id: device.clone(),
        site: device_site.clone(),
        body_sha256: sha256_hex(identity.as_bytes()),
        body_json,
        record,
        now: now_vn(),
        held,
    };
    let outcome = state.0.store.ingest(&ingest).await?;
    let conflict =
        |error: &'static str, message: String| Failure::new(StatusCode::CONFLICT, error, message);
    match outcome {
        IngestOutcome::Created => {
            tracing::info!(device_id = %device, kind, key = %key, "ingested");
            Ok((
                StatusCode::CREATED,
                Json(IngestAck {
                    idempotency_key: key,
                    duplicate: false,
                }),
            )
                .into_response())
        }
        IngestOutcome::Duplicate => {
            tracing::info!(device_id = %device, kind, key = %key, "duplicate ingest acknowledged again");
            Ok((
                StatusCode::OK,
                Json(IngestAck {
                    idempotency_key: key,
                    duplicate: true,
                }),
            )
                .into_response())
        }
        IngestOutcome::KeyReused => Err(conflict(
            "idempotency_key_reused",
            format!("the {IDEMPOTENCY_KEY_HEADER} {key} was already used for a different request"),
        )),
        IngestOutcome::MissingBlobs(missing) => Err(conflict(
            "missing_blobs",
            format!(
                "these documents are not completely uploaded yet: {}",
                missing.join(", ")
            ),
        )),
        IngestOutcome::Conflict(natural) => Err(conflict(
            "conflict",
            format!("a {kind} {natural} is already stored under another {IDEMPOTENCY_KEY_HEADER}"),
        )),
        IngestOutcome::CodeNotYours { code, reason } => {
            tracing::warn!(device_id = %device, site = %device_site, %code, "dossier refused: a number outside the device's blocks");
            Err(code_not_yours(&code, &reason))
        }
        IngestOutcome::TicketNotYours(ticket) => {
            tracing::warn!(device_id = %device, site = %device_site, %ticket, "ticket refused: issued elsewhere");
            Err(Failure::new(
                StatusCode::FORBIDDEN,
                "ticket_not_yours",
                format!(
                    "vé {ticket} không được cấp tại điểm {device_site} (thiết bị sau dấu @ không \
                     thuộc điểm này) / ticket {ticket} was not issued at site {device_site}: the \
                     device after '@' is not a device of this site"
                ),
            ))
        }
        IngestOutcome::RatedTargetUnknown(transaction) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "rated_target_unknown",
            format!(
                "chưa có hồ sơ hay vé {transaction} của điểm này; gửi lại sau / no dossier or \
                 ticket {transaction} of this site is stored here (yet); retry later"
            ),
        )),
        IngestOutcome::BlobSizeMismatch {
            sha256,
            claimed,
            actual,
        } => Err(Failure::bad_request(
            "blob_size_mismatch",
            format!("document {sha256} is cited with size {claimed} but the uploaded blob has {actual} bytes"),
        )),
        IngestOutcome::UnknownDossier(code) => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "unknown_dossier",
            format!("no dossier {code} is stored here (yet); deliver the dossier first"),
        )),
        IngestOutcome::NothingHeld(kind) => {
            tracing::warn!(device_id = %device, %kind, "dossier refused: it cites a document kind not held for its applicant");
            Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "nothing_held",
                format!(
                    "tỉnh chưa lưu bản số hoá loại {kind} cho số định danh của người nộp; hãy nộp \
                     giấy tờ này / the province holds no digitized document of kind {kind} for \
                     the applicant's ID number; attach the document instead"
                ),
            ))
        }
        IngestOutcome::AlreadyRated(transaction) => Err(conflict(
            "already_rated",
            format!("transaction {transaction} has already been rated: one rating per transaction"),
        )),
    }
}

fn canonical<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| {
        Failure::from(GatewayError::Task {
            action: "re-serialise a request body",
            reason: e.to_string(),
        })
    })
}

fn require_text(value: &str, field: &str) -> Result<(), Failure> {
    if value.trim().is_empty() {
        return Err(Failure::bad_request(
            "invalid_body",
            format!("{field} must not be empty"),
        ));
    }
    Ok(())
}

/// A document's blob hash must be lowercase hex: it names the blob the kiosk uploaded.
fn require_sha256(sha256: &str, document: &str) -> Result<(), Failure> {
    if !is_sha256_hex(sha256) {
        return Err(Failure::bad_request(
            "invalid_body",
            format!(
                "document '{document}' has an invalid sha256 (64 lowercase hex characters expected)"
            ),
        ));
    }
    Ok(())
}

/// Stores a dossier exactly once. All of its documents must have been uploaded completely first.
#[utoipa::path(post, path = "/v1/dossiers", tag = "ingest", security(("device_certificate" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$", description = "unique per dossier delivery; retries reuse it")),
    request_body = DossierSubmission,
    responses(
        (status = 201, body = IngestAck, description = "stored durably"),
        (status = 200, body = IngestAck, description = "already stored under this key (duplicate = true)"),
        (status = 400, body = ApiError, description = "invalid JSON, a malformed code, missing Idempotency-Key, or `blob_size_mismatch`: a document's size is not its blob's"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`device_mismatch`: device_id is not the certificate's device; `site_mismatch`: agency_code is not the certificate's site; `code_not_yours`: the code does not start with the certificate's site, or its number is outside the device's blocks (or, for a device without blocks, inside another device's)"),
        (status = 409, body = ApiError, description = "idempotency_key_reused (this device used the key for another request), missing_blobs (not completely uploaded by a device of this site) or conflict (code already stored)"),
        (status = 422, body = ApiError, description = "`nothing_held`: a kind in reused_documents has no digitized copy held for the applicant's ID number; `not_required`: the procedure requires no document of that kind; `field_too_long`"),
    ))]
pub(super) async fn ingest_dossier(
    State(state): State<AppState>,
    device: Device,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let dossier: DossierSubmission = parse_limited(body)?;
    require_text(&dossier.code, "code")?;
    require_text(&dossier.procedure_code, "procedure_code")?;
    for doc in &dossier.documents {
        require_sha256(&doc.sha256, &doc.name)?;
    }
    if dossier
        .lookup_sha256
        .as_deref()
        .is_some_and(|h| !is_sha256_hex(h))
    {
        return Err(Failure::bad_request(
            "invalid_body",
            "lookup_sha256 must be 64 lowercase hex characters: the hash of the receipt's lookup \
             code, never the code itself",
        ));
    }
    require_device(&device.id, Some(&dossier.device_id))?;
    if dossier.agency_code != device.site {
        tracing::warn!(device_id = %device.id, site = %device.site, agency_code = %dossier.agency_code, "dossier refused: another site's agency code");
        return Err(site_mismatch(
            &device.site,
            &format!("dossier {}", dossier.code),
            &dossier.agency_code,
        ));
    }
    let code = DossierCode::parse(&dossier.code)
        .map_err(|e| Failure::bad_request("invalid_body", format!("code: {e}")))?;
    if code.agency() != device.site {
        tracing::warn!(device_id = %device.id, site = %device.site, code = %dossier.code, "dossier refused: a code of another site");
        return Err(code_not_yours(
            &dossier.code,
            &format!(
                "mã bắt đầu bằng {}, chứng thư là của điểm {} / the code starts with {}, the \
                 certificate is for site {}",
                code.agency(),
                device.site,
                code.agency(),
                device.site
            ),
        ));
    }
    // Only the keyed form of the hash is stored, in the row and in the body (whose SHA-256
    // the idempotency key keeps): the plain hash of a 40-bit secret could be searched offline.
    let dossier = DossierSubmission {
        lookup_sha256: dossier
            .lookup_sha256
            .as_deref()
            .map(|h| state.0.lookup_key.mac(h)),
        ..dossier
    };
    let held = held_context(&state, &dossier)?;
    let json = canonical(&dossier)?;
    ingest(
        &state,
        device,
        &headers,
        Record::Dossier(dossier),
        json,
        held,
    )
    .await
}

/// The applicant's ID number MAC and the procedure's document kinds of a dossier ("never asked
/// twice", see `store::held`); a cited kind must be one of the procedure's documents.
fn held_context(state: &AppState, dossier: &DossierSubmission) -> Result<HeldContext, Failure> {
    let kinds: Vec<(u32, String)> = state
        .0
        .catalog
        .find(&dossier.procedure_code)
        .map(|p| {
            p.documents
                .iter()
                .enumerate()
                // Intake numbers required documents from 1 (0: pages before any separator).
                .filter_map(|(i, d)| Some((u32::try_from(i + 1).ok()?, d.kind_code.clone()?)))
                .collect()
        })
        .unwrap_or_default();
    for kind in &dossier.reused_documents {
        if !kinds.iter().any(|(_, k)| k == kind) {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_required",
                format!(
                    "thủ tục {} không yêu cầu giấy tờ loại {kind} / procedure {} requires no \
                     document of kind {kind}",
                    dossier.procedure_code, dossier.procedure_code
                ),
            ));
        }
    }
    let id_mac = dossier
        .applicant
        .id_number
        .as_deref()
        .filter(|id| is_id_number(id))
        .map(|id| state.0.id_key.mac(id));
    Ok(HeldContext { id_mac, kinds })
}

/// Adds documents digitized at an intake counter to a stored dossier, exactly once. Their PDFs
/// must have been uploaded completely first; each document code is stored once, ever.
#[utoipa::path(post, path = "/v1/dossiers/{code}/documents", tag = "ingest", security(("device_certificate" = [])),
    params(
        ("code" = String, Path, description = "dossier code"),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$", description = "unique per delivery of these documents; retries reuse it"),
    ),
    request_body = DigitizedDocuments,
    responses(
        (status = 201, body = IngestAck, description = "stored durably"),
        (status = 200, body = IngestAck, description = "already stored under this key (duplicate = true)"),
        (status = 400, body = ApiError, description = "invalid JSON, no documents, path and body name different dossiers, missing Idempotency-Key, or `blob_size_mismatch`: a document's size is not its blob's"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`device_mismatch`: device_id is not the certificate's device; `site_mismatch`: the dossier code names another site than the certificate's"),
        (status = 404, body = ApiError, description = "unknown_dossier: no dossier of this site is stored under this code (yet); another site's dossier answers the same"),
        (status = 409, body = ApiError, description = "idempotency_key_reused, missing_blobs (not completely uploaded by a device of this site) or conflict (a document code already stored)"),
    ))]
pub(super) async fn ingest_documents(
    State(state): State<AppState>,
    device: Device,
    Path(code): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let docs: DigitizedDocuments = parse_limited(body)?;
    if docs.dossier_code != code {
        return Err(Failure::bad_request(
            "invalid_body",
            format!(
                "the path names dossier {code} but the body names {}",
                docs.dossier_code
            ),
        ));
    }
    if docs.documents.is_empty() {
        return Err(Failure::bad_request(
            "invalid_body",
            "documents must list at least one document",
        ));
    }
    for doc in &docs.documents {
        require_text(&doc.document_code, "document_code")?;
        require_sha256(&doc.sha256, &doc.document_code)?;
    }
    // Decided from the code's text alone, so it says nothing of what the gateway holds.
    if let Ok(parsed) = DossierCode::parse(&code) {
        if parsed.agency() != device.site {
            tracing::warn!(device_id = %device.id, site = %device.site, %code, "documents refused: another site's dossier code");
            return Err(site_mismatch(
                &device.site,
                &format!("dossier {code}"),
                parsed.agency(),
            ));
        }
    }
    let json = canonical(&docs)?;
    ingest(
        &state,
        device,
        &headers,
        Record::Documents(docs),
        json,
        HeldContext::default(),
    )
    .await
}

/// Stores a satisfaction rating exactly once; a transaction can be rated only once.
#[utoipa::path(post, path = "/v1/ratings", tag = "ingest", security(("device_certificate" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$", description = "unique per rating delivery")),
    request_body = RatingSubmission,
    responses(
        (status = 201, body = IngestAck),
        (status = 200, body = IngestAck, description = "duplicate"),
        (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`device_mismatch`: device_id is not the certificate's device"),
        (status = 404, body = ApiError, description = "`rated_target_unknown`: no dossier or ticket of this site is stored under this transaction (yet); retry later"),
        (status = 409, body = ApiError, description = "idempotency_key_reused or already_rated"),
    ))]
pub(super) async fn ingest_rating(
    State(state): State<AppState>,
    device: Device,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let rating: RatingSubmission = parse_limited(body)?;
    require_text(&rating.transaction, "transaction")?;
    if !(rating.scale_levels == 3 || rating.scale_levels == 5)
        || rating.level == 0
        || rating.level > rating.scale_levels
        || rating.score > 2
    {
        return Err(Failure::bad_request(
            "invalid_body",
            "a rating needs scale_levels 3 or 5, level between 1 and scale_levels, and score 0, 1 or 2",
        ));
    }
    let json = canonical(&rating)?;
    ingest(
        &state,
        device,
        &headers,
        Record::Rating(rating),
        json,
        HeldContext::default(),
    )
    .await
}

/// Stores a queue ticket exactly once.
#[utoipa::path(post, path = "/v1/tickets", tag = "ingest", security(("device_certificate" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$", description = "unique per ticket delivery")),
    request_body = TicketIssued,
    responses(
        (status = 201, body = IngestAck),
        (status = 200, body = IngestAck, description = "duplicate"),
        (status = 400, body = ApiError, description = "invalid JSON, or a ticket_id without `@<issuing device>`"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`device_mismatch`: device_id is not the certificate's device; `ticket_not_yours`: the issuing device is not of the certificate's site"),
        (status = 409, body = ApiError, description = "idempotency_key_reused or conflict (ticket id already stored)"),
    ))]
pub(super) async fn ingest_ticket(
    State(state): State<AppState>,
    device: Device,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let ticket: TicketIssued = parse_limited(body)?;
    require_text(&ticket.ticket_id, "ticket_id")?;
    let issuer = ticket
        .ticket_id
        .rsplit_once('@')
        .map_or("", |(_, issuer)| issuer.trim());
    if issuer.is_empty() {
        return Err(Failure::bad_request(
            "invalid_body",
            "ticket_id must name its issuing device: <area>-YYYYMMDD-<number>@<device>",
        ));
    }
    let json = canonical(&ticket)?;
    ingest(
        &state,
        device,
        &headers,
        Record::Ticket(ticket),
        json,
        HeldContext::default(),
    )
    .await
}

/// Stores a kiosk's health report exactly once, as the report of the certificate's device, and
/// makes it the device's latest (`GET /v1/admin/fleet`). The gateway's clock at receipt is
/// compared with `sent_at` to find a kiosk's wrong clock.
#[utoipa::path(post, path = "/v1/health-reports", tag = "ingest", security(("device_certificate" = [])),
    params(("Idempotency-Key" = String, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$", description = "unique per report; retries reuse it (with a later sent_at)")),
    request_body = HealthReport,
    responses(
        (status = 201, body = IngestAck),
        (status = 200, body = IngestAck, description = "duplicate"),
        (status = 400, body = ApiError, description = "invalid JSON, no sent_at or no software_version"),
        (status = 401, body = ApiError),
        (status = 409, body = ApiError, description = "idempotency_key_reused"),
    ))]
pub(super) async fn ingest_health_report(
    State(state): State<AppState>,
    device: Device,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    idempotency_key(&headers)?;
    let report: HealthReport = parse_limited(body)?;
    require_text(&report.software_version, "software_version")?;
    if report.sent_at.is_none() {
        return Err(Failure::bad_request(
            "invalid_body",
            "sent_at (the kiosk's clock when sending) is required",
        ));
    }
    let json = canonical(&report)?;
    ingest(
        &state,
        device,
        &headers,
        Record::Health(report),
        json,
        HeldContext::default(),
    )
    .await
}
