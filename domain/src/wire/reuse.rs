//! "Never asked twice" (Circular 01/2023/TT-VPCP, issue #19 part 5): which kinds of document the
//! province already holds digitized for a citizen, asked by a kiosk for the ID number read from
//! the chip card in the current session, with the citizen's consent on screen.
//!
//! The answer names document kinds only: never a document's content, code or hash, and never
//! anything of another ID number. A dossier then cites a held kind in
//! [`super::DossierSubmission::reused_documents`] instead of an uploaded file, and the gateway
//! links the stored copy to it.

use serde::{Deserialize, Serialize};

/// The most kind codes one question may carry (a procedure lists a handful of documents); more
/// is 400 `invalid_body`.
pub const MAX_KINDS_QUERY: usize = 50;

/// The question (`POST /v1/held-documents`): the card's ID number and the procedure's kind codes.
/// In the body, never the URL, which proxies and logs keep.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeldDocumentsQuery {
    /// The 12-digit ID number read from the chip card's QR in this session.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[0-9]{12}$", min_length = 12, max_length = 12)
    )]
    pub id_number: String,
    /// Kind codes of the procedure's required documents (catalog `kind_code`).
    #[cfg_attr(
        feature = "openapi",
        schema(max_items = 50, value_type = Vec<AskedKindCode>)
    )]
    pub kind_codes: Vec<String>,
}

/// `Debug` never shows the ID number (such a value may reach a log).
impl std::fmt::Debug for HeldDocumentsQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldDocumentsQuery")
            .field("id_number", &"<hidden>")
            .field("kind_codes", &self.kind_codes)
            .finish()
    }
}

/// One asked kind code, as the OpenAPI document describes it.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9_]{1,64}$")]
#[allow(dead_code)] // only the OpenAPI document names it
pub struct AskedKindCode(String);

/// The answer: those of the asked kinds the province holds for that ID number, in the order
/// asked, each once. Nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeldDocuments {
    /// Held kind codes.
    pub held: Vec<String>,
}

/// Whether an ID number has the shape of a chip card's: exactly 12 ASCII digits.
pub fn is_id_number(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}
