//! Entry points for the fuzz targets (`fuzz/fuzz_targets/tus_headers.rs`, `gateway_json.rs`):
//! the gateway's own readers of what a device sends, run on arbitrary bytes. Not an API: the
//! fuzz crate is its only caller, and each function checks the promises its reader makes.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use motcua_domain::limits::Limited;
use motcua_domain::provisioning::{ProvisionRequest, RemoteActionResult, SetupSheetRequest};
use motcua_domain::wire::{
    DigitizedDocuments, DossierSubmission, EnrollRequest, HealthReport, RatingSubmission,
    RenewRequest, TicketIssued,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::admin::StatusChange;
use super::failure::{parse_json, parse_limited, Failure};
use super::state::is_sha256_hex;
use super::tus::{header_u64, metadata_sha256, require_tus, UPLOAD_LENGTH, UPLOAD_OFFSET};

/// A refusal is a client error with a stable code and words, never a server error.
fn refused_well(failure: Failure) {
    let response = failure.into_response();
    assert!(
        response.status().is_client_error(),
        "a bad request answered {}",
        response.status()
    );
}

/// Headers from `name: value` lines; lines that are no valid header are skipped, as hyper
/// would never hand them to a handler.
fn headers(data: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    map
}

/// The tus headers of an upload: `Tus-Resumable`, `Upload-Length`, `Upload-Offset` and the
/// `Upload-Metadata` that names the blob's SHA-256.
pub fn tus_headers(data: &[u8]) {
    let map = headers(data);
    if let Err(f) = require_tus(&map) {
        refused_well(f);
    }
    for name in [&UPLOAD_LENGTH, &UPLOAD_OFFSET] {
        if let Err(f) = header_u64(&map, name) {
            refused_well(f);
        }
    }
    match metadata_sha256(&map) {
        Ok(hex) => assert!(is_sha256_hex(&hex), "accepted metadata {hex:?}"),
        Err(f) => refused_well(f),
    }
}

/// Reads `bytes` as the gateway reads a body of type `T`; what it accepts serialises to a
/// text that reads back to the same text (the gateway compares a retry's body with the stored
/// one by that text).
fn body<T: DeserializeOwned + Serialize>(
    bytes: &[u8],
    read: fn(Result<Bytes, axum::extract::rejection::BytesRejection>) -> Result<T, Failure>,
) {
    match read(Ok(Bytes::copy_from_slice(bytes))) {
        Ok(value) => {
            let Ok(text) = serde_json::to_string(&value) else {
                panic!("an accepted body does not serialise");
            };
            let again: T = match read(Ok(Bytes::from(text.clone()))) {
                Ok(v) => v,
                Err(f) => panic!(
                    "an accepted body is refused once re-serialised ({}): {text}",
                    f.into_response().status()
                ),
            };
            let again = serde_json::to_string(&again).unwrap_or_default();
            assert_eq!(text, again, "canonical text is not stable");
        }
        Err(f) => refused_well(f),
    }
}

fn limited<T: DeserializeOwned + Serialize + Limited>(bytes: &[u8]) {
    body::<T>(bytes, parse_limited::<T>);
}

/// Every JSON body a peer posts: the first byte picks the body type, the rest is the body.
pub fn json_bodies(data: &[u8]) {
    let Some((kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 11 {
        0 => limited::<DossierSubmission>(bytes),
        1 => limited::<DigitizedDocuments>(bytes),
        2 => limited::<RatingSubmission>(bytes),
        3 => limited::<TicketIssued>(bytes),
        4 => limited::<HealthReport>(bytes),
        5 => limited::<EnrollRequest>(bytes),
        6 => limited::<RenewRequest>(bytes),
        7 => limited::<ProvisionRequest>(bytes),
        8 => limited::<RemoteActionResult>(bytes),
        9 => limited::<SetupSheetRequest>(bytes),
        _ => body::<StatusChange>(bytes, parse_json::<StatusChange>),
    }
}
