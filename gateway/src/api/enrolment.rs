//! Device enrolment and renewal: the kiosk makes its own key pair and sends a certificate
//! signing request; the gateway's CA signs a device certificate naming the device and its site.
//! The private key never leaves the kiosk.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::wire::{ApiError, DeviceCertificate, EnrollRequest, RenewRequest};
use motcua_identity::{IdentityError, Issued};

use super::auth::Device;
use super::failure::{parse_limited, ApiResult, Failure};
use super::state::{now_vn, sha256, AppState};
use crate::provision::{valid_device_id, valid_site};
use crate::store::{rfc3339, Enrolment, NewCertificate};

/// Whether two digests are equal, in time that does not depend on where they differ: every byte
/// pair is XORed and the differences ORed together before the one comparison at the end.
/// (The `subtle` crate does the same; this saves a dependency for one 32-byte comparison. The
/// inputs are SHA-256 digests, so even a leak would tell little, but the comparison stays free
/// of early exits on principle.)
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Signs the CSR for `device_id` at `site`; a CSR that cannot be read or whose signature is
/// wrong is the client's fault (400 `invalid_csr`).
pub(super) fn sign(
    state: &AppState,
    csr_pem: &str,
    device_id: &str,
    site: &str,
) -> Result<Issued, Failure> {
    state
        .0
        .authority
        .sign_device(csr_pem, device_id, site, state.0.device_cert_lifetime)
        .map_err(|e| match e {
            IdentityError::Malformed { .. } => Failure::bad_request(
                "invalid_csr",
                format!("csr_pem is not a valid certificate signing request (PEM): {e}"),
            ),
            other => {
                tracing::error!(error = %other, device_id, "cannot sign a device certificate");
                Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the gateway could not sign the certificate; its log names the cause",
                )
            }
        })
}

pub(super) fn certificate_body(
    state: &AppState,
    issued: &Issued,
    device_id: &str,
    site: &str,
) -> DeviceCertificate {
    DeviceCertificate {
        device_id: device_id.to_string(),
        site: site.to_string(),
        serial: issued.identity.serial.clone(),
        certificate_pem: issued.cert_pem.clone(),
        ca_pem: state.0.authority.cert_pem().to_string(),
        not_after: rfc3339(issued.identity.not_after),
    }
}

fn answer(state: &AppState, issued: &Issued, device_id: &str, site: &str) -> ApiResult {
    Ok(Json(certificate_body(state, issued, device_id, site)).into_response())
}

/// The body of a route anyone may call (enrolment, provisioning), within the gateway's
/// deadline (the router's body limit caps its size): a peer trickling bytes is answered 408.
/// Authenticated routes need a live certificate first, which a revocation cuts.
pub(super) async fn body_with_deadline(
    state: &AppState,
    request: Request,
) -> Result<Result<Bytes, BytesRejection>, Failure> {
    let deadline = state.0.enrollment_body_timeout;
    tokio::time::timeout(deadline, Bytes::from_request(request, state))
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request's body did not arrive within {} s",
                    deadline.as_secs_f32()
                ),
            )
        })
}

/// Enrols a device with the province's enrolment key: signs the device's CSR and returns its
/// certificate. The key alone enrols only a device id the gateway has never seen: a known id
/// (enrolled before, even if its certificates were revoked or have expired since) is enrolled
/// again only after a technician approved it (`POST /v1/admin/devices/{id}/allow-reenrolment`);
/// that revokes its older certificates and closes their connections. The body must arrive
/// within the gateway's deadline (20 s by default; else 408 `request_timeout`).
#[utoipa::path(post, path = "/v1/devices/enroll", tag = "devices", request_body = EnrollRequest,
    responses(
        (status = 200, body = DeviceCertificate),
        (status = 400, body = ApiError, description = "invalid body, device id (`invalid_device_id`), site (`invalid_site`) or CSR (`invalid_csr`)"),
        (status = 403, body = ApiError, description = "wrong enrolment key"),
        (status = 408, body = ApiError, description = "`request_timeout`: the body did not arrive in time"),
        (status = 409, body = ApiError, description = "`already_enrolled`: the device id is known; enrolling it again needs a technician's approval"),
    ))]
pub(super) async fn enroll(State(state): State<AppState>, request: Request) -> ApiResult {
    let body = body_with_deadline(&state, request).await?;
    let req: EnrollRequest = parse_limited(body)?;
    let id = req.device_id.trim();
    if !valid_device_id(id) {
        return Err(Failure::bad_request(
            "invalid_device_id",
            "device_id must be 1–128 characters of letters, digits, '-', '_', '.' or ':'",
        ));
    }
    let site = req.site.trim();
    if !valid_site(site) {
        return Err(Failure::bad_request(
            "invalid_site",
            "site must be 1–64 characters of letters, digits, '.', '-' or '_' (the agency code)",
        ));
    }
    // Digests compared in constant time: the time taken tells nothing about the key.
    if !digests_equal(
        &sha256(req.enrollment_key.as_bytes()),
        &state.0.enrollment_key_sha256,
    ) {
        tracing::warn!(device_id = id, "enrolment refused: wrong enrolment key");
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "wrong enrolment key",
        ));
    }
    let issued = sign(&state, &req.csr_pem, id, site)?;
    let now = now_vn();
    let record = NewCertificate::from_identity(&issued.identity, &now);
    match state.0.store.enroll_device(&record, &now).await? {
        Enrolment::NeedsApproval => {
            tracing::warn!(
                device_id = id,
                "enrolment refused: known device id, no approval"
            );
            Err(Failure::new(
                StatusCode::CONFLICT,
                "already_enrolled",
                format!(
                    "device {id} is already enrolled (the gateway knows this device id, whether \
                     or not its certificate is still valid or was revoked); enrolling it again \
                     needs a technician's approval first (POST \
                     /v1/admin/devices/{id}/allow-reenrolment with a technician certificate)"
                ),
            ))
        }
        Enrolment::Enrolled { revoked } => {
            let closed = state.0.connections.close(&revoked);
            tracing::info!(device_id = id, site, serial = %issued.identity.serial, ?revoked, closed, "device enrolled");
            answer(&state, &issued, id, site)
        }
    }
}

/// Signs a new certificate for the calling device (same device id and site as the certificate
/// it presents; the request names nothing else). The current certificate stays valid until the
/// device first uses the new one, so a kiosk that dies before saving it loses nothing. The new
/// certificate is recorded only if the presented one is still not revoked at that moment (a
/// revocation racing the renewal wins: 401 `certificate_revoked`).
#[utoipa::path(post, path = "/v1/devices/renew", tag = "devices", request_body = RenewRequest,
    security(("device_certificate" = [])),
    responses(
        (status = 200, body = DeviceCertificate),
        (status = 400, body = ApiError, description = "invalid body or CSR (`invalid_csr`)"),
        (status = 401, body = ApiError, description = "`certificate_required`, `certificate_unknown`, `certificate_revoked` or `certificate_expired`"),
        (status = 403, body = ApiError, description = "`forbidden_role`: not a device certificate"),
    ))]
pub(super) async fn renew(
    State(state): State<AppState>,
    device: Device,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let req: RenewRequest = parse_limited(body)?;
    let issued = sign(&state, &req.csr_pem, &device.id, &device.site)?;
    let now = now_vn();
    let recorded = state
        .0
        .store
        .renew_certificate(
            &device.serial,
            &NewCertificate::from_identity(&issued.identity, &now),
        )
        .await?;
    if !recorded {
        tracing::warn!(device_id = %device.id, old = %device.serial, "renewal refused: the presented certificate was revoked meanwhile");
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            "certificate_revoked",
            format!(
                "the client certificate {} was revoked while it asked for renewal: a \
                 technician must re-enrol the device (`kioskctl enroll`)",
                device.serial
            ),
        ));
    }
    tracing::info!(device_id = %device.id, old = %device.serial, new = %issued.identity.serial, "device certificate renewed");
    answer(&state, &issued, &device.id, &device.site)
}

#[cfg(test)]
mod tests {
    use super::{digests_equal, valid_device_id, valid_site};

    #[test]
    fn digests() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(digests_equal(&a, &b));
        b[31] ^= 1;
        assert!(!digests_equal(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!digests_equal(&a, &b));
    }

    #[test]
    fn names() {
        assert!(valid_device_id("KIOSK-H56-0001"));
        assert!(!valid_device_id(""));
        assert!(!valid_device_id("a b"));
        assert!(valid_site("000.17.22.H56"));
        assert!(valid_site("site_1-a"));
        assert!(!valid_site(""));
        assert!(!valid_site("a:b"));
        assert!(!valid_site("Hà Nội"));
        assert!(!valid_site(&"x".repeat(65)));
    }
}
