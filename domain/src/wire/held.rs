//! `POST /v1/blobs/held`: which blobs the gateway already holds for the asking device's site,
//! asked by a kiosk before it creates a tus upload, so that creation and PATCH stay plain tus
//! for every client while a kiosk still sends no byte twice.

use serde::{Deserialize, Serialize};

/// The most hashes one question may carry (a dossier's documents fit many times over); more is
/// 422 `too_many_blobs`.
pub const MAX_HELD_QUERY: usize = 100;

/// The question: blobs by SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BlobsHeldQuery {
    /// Lowercase hex SHA-256 of each blob (64 characters), at most [`MAX_HELD_QUERY`].
    #[cfg_attr(
        feature = "openapi",
        schema(max_items = 100, value_type = Vec<AskedSha256>)
    )]
    pub sha256: Vec<String>,
}

/// One asked hash, as the OpenAPI document describes it (so that a generated question carries
/// only what the gateway accepts; anything else is 400 `invalid_sha256`).
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
#[allow(dead_code)] // only the OpenAPI document names it
pub struct AskedSha256(String);

/// The answer: those of the asked blobs that a device of the asking device's site uploaded
/// completely and the gateway verified. A blob only another site uploaded is not listed: the
/// answer tells a site nothing about the others' documents (that site uploads the bytes once
/// itself, and then both may cite it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobsHeld {
    /// The held blobs, in the order asked (each once).
    pub held: Vec<HeldBlob>,
}

/// One blob the site holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldBlob {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Its size in bytes: a dossier citing it must give this size.
    pub size: u64,
}
