//! The wire side of tus 1.0: header names, header parsing and the headers every tus answer
//! carries. Kept apart from the upload handlers ([`super::uploads`]) so that those read as the
//! storage logic they are.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use motcua_domain::wire::{TUS_SHA256_METADATA, TUS_VERSION};

use super::failure::Failure;
use super::state::is_sha256_hex;
use crate::store::Upload;

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub(super) const TUS_VERSION_H: HeaderName = HeaderName::from_static("tus-version");
pub(super) const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
pub(super) const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
pub(super) const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub(super) const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub(super) const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub(super) const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// Refusals of tus requests carry `Tus-Resumable` too, as the protocol asks of every answer.
pub(super) trait TusFailure {
    fn tus(self) -> Self;
}

impl TusFailure for Failure {
    fn tus(self) -> Self {
        self.with_header(TUS_RESUMABLE, TUS_VERSION)
    }
}

/// The values of `Tus-Resumable` a request may carry, for the OpenAPI document: only
/// [`TUS_VERSION`].
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // only the OpenAPI document names it
pub(super) enum TusResumable {
    /// tus 1.0.0.
    #[serde(rename = "1.0.0")]
    V1,
}

/// A request without `Tus-Resumable` is malformed (400 `tus_resumable_missing`); one naming
/// another version is 412 `tus_version` with `Tus-Version`, as tus 1.0 asks of an unsupported
/// version.
pub(super) fn require_tus(headers: &HeaderMap) -> Result<(), Failure> {
    match headers.get(TUS_RESUMABLE).map(|v| v.to_str()) {
        Some(Ok(TUS_VERSION)) => Ok(()),
        None => Err(Failure::bad_request(
            "tus_resumable_missing",
            format!("send 'Tus-Resumable: {TUS_VERSION}': every tus request names the protocol version"),
        )
        .with_header(TUS_VERSION_H, TUS_VERSION)
        .tus()),
        Some(_) => Err(Failure::new(
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
            format!("send 'Tus-Resumable: {TUS_VERSION}': it is the only tus version this gateway speaks"),
        )
        .with_header(TUS_VERSION_H, TUS_VERSION)
        .tus()),
    }
}

pub(super) fn header_u64(headers: &HeaderMap, name: &HeaderName) -> Result<u64, Failure> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            Failure::bad_request(
                "invalid_header",
                format!("missing or invalid {name} header (a byte count)"),
            )
            .tus()
        })
}

/// Extracts the hex SHA-256 from a tus `Upload-Metadata` header (`key base64,key base64`).
pub(super) fn metadata_sha256(headers: &HeaderMap) -> Result<String, Failure> {
    let bad = |m: &str| Failure::bad_request("invalid_metadata", m.to_string()).tus();
    let raw = headers
        .get(UPLOAD_METADATA)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("missing Upload-Metadata header: it must carry 'sha256 <base64 of the hex SHA-256>'"))?;
    for pair in raw.split(',') {
        let mut it = pair.trim().splitn(2, ' ');
        if it.next() == Some(TUS_SHA256_METADATA) {
            let value = it.next().unwrap_or("").trim();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| bad("the sha256 metadata value is not valid base64"))?;
            let hex = String::from_utf8(decoded)
                .map_err(|_| bad("the sha256 metadata value does not decode to text"))?
                .to_ascii_lowercase();
            if !is_sha256_hex(&hex) {
                return Err(bad(
                    "the sha256 metadata must be 64 hexadecimal characters once base64-decoded",
                ));
            }
            return Ok(hex);
        }
    }
    Err(bad(
        "Upload-Metadata has no sha256 entry: the gateway verifies every blob against it",
    ))
}

pub(super) fn tus_headers(response: &mut Response) {
    response
        .headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
}

pub(super) fn offset_response(status: StatusCode, upload: &Upload, offset: u64) -> Response {
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
    h.insert(UPLOAD_LENGTH, HeaderValue::from(upload.length));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    tus_headers(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_needs_a_base64_hex_sha256() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex);
        let mut h = HeaderMap::new();
        h.insert(
            UPLOAD_METADATA,
            HeaderValue::from_str(&format!("filename YS5wZGY=,sha256 {b64}")).unwrap(),
        );
        assert_eq!(metadata_sha256(&h).unwrap(), hex);
        h.insert(UPLOAD_METADATA, HeaderValue::from_static("sha256 bm90aGV4"));
        assert!(metadata_sha256(&h).is_err());
        h.insert(
            UPLOAD_METADATA,
            HeaderValue::from_static("filename YS5wZGY="),
        );
        assert!(metadata_sha256(&h).is_err());
    }
}
