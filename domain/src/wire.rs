//! Wire types of the gateway HTTP API, shared by the kiosk (client) and the gateway (server) so
//! both ends compile against one definition. The OpenAPI document in `gateway/openapi.json` is
//! generated from these types and checked in CI.
//!
//! Every ingest request carries an `Idempotency-Key` header (see [`IDEMPOTENCY_KEY_HEADER`]):
//! the gateway stores the first request under that key and answers every retry with the same
//! acknowledgement, so a kiosk may retry after any crash without creating a duplicate.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

mod health;
mod held;
pub mod hub;
mod identity;
mod release;
mod reuse;

pub use health::{HealthReport, PrinterCondition, PrinterHealth, SelfTestSummary};
pub use held::{BlobsHeld, BlobsHeldQuery, HeldBlob, MAX_HELD_QUERY};
pub use identity::{DeviceCertificate, EnrollRequest, RenewRequest};
pub use release::{
    OfferQuery, OfferedRelease, ReleaseOffer, ReleaseReport, ReleaseStage, REPORT_DETAIL_MAX,
};
pub use reuse::{is_id_number, HeldDocuments, HeldDocumentsQuery, MAX_KINDS_QUERY};

/// HTTP header carrying the idempotency key of an ingest request.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Metadata key (tus `Upload-Metadata`) carrying the hex SHA-256 the gateway verifies.
pub const TUS_SHA256_METADATA: &str = "sha256";
/// The tus protocol version spoken by both ends.
pub const TUS_VERSION: &str = "1.0.0";

/// The applicant of a dossier as entered (or prefilled from a CCCD card and confirmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Applicant {
    /// Full name as on the ID card.
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub full_name: String,
    /// 12-digit personal identification number, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 12))]
    pub id_number: Option<String>,
    /// Date of birth, if given (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))]
    pub birth_date: Option<NaiveDate>,
    /// Postal address.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub address: String,
    /// Phone number for the appointment.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub phone: String,
    /// E-mail, if any.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 254))]
    pub email: String,
}

/// A document attached to a dossier, referring to an uploaded blob by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocumentRef {
    /// Document name (usually the catalog's required-document name).
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub name: String,
    /// Original file name, kept for the officer.
    #[cfg_attr(feature = "openapi", schema(max_length = 255))]
    pub file_name: String,
    /// MIME type, e.g. `application/pdf`.
    #[cfg_attr(feature = "openapi", schema(max_length = 255))]
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the content; the blob must have been uploaded first.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// A dossier submitted at a kiosk, as delivered to the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DossierSubmission {
    /// Dossier code `<agency>-YYMMDD-XXXX` (Circular 01/2018 art. 19); not blank.
    #[cfg_attr(feature = "openapi", schema(max_length = 64, pattern = r"\S"))]
    pub code: String,
    /// Procedure code from the catalog; not blank.
    #[cfg_attr(feature = "openapi", schema(max_length = 64, pattern = r"\S"))]
    pub procedure_code: String,
    /// Receiving agency code.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub agency_code: String,
    /// Device that received it.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub device_id: String,
    /// The applicant.
    pub applicant: Applicant,
    /// When the kiosk durably accepted it (Vietnam time).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub received_at: DateTime<FixedOffset>,
    /// Appointment date for the result.
    pub appointment_date: NaiveDate,
    /// Attached documents.
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub documents: Vec<DocumentRef>,
    /// [`crate::lookup_secret::lookup_hash`] of the receipt's lookup secret (64 hex digits):
    /// the gateway answers `POST /v1/dossiers/status` only to whoever shows the secret. Never
    /// the secret itself. Absent from kiosks older than the secret, whose dossiers then answer
    /// status lookups as unknown (the citizen asks at the counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)
    )]
    pub lookup_sha256: Option<String>,
    /// Kind codes (catalog `kind_code`) of required documents not attached because the province
    /// already holds them digitized for the applicant's ID number ("never asked twice", see
    /// `POST /v1/held-documents`): the gateway links the stored copy of each to this dossier,
    /// and refuses the dossier (422 `nothing_held`) when it holds none of a kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "openapi",
        schema(max_items = 50, value_type = Vec<String>)
    )]
    pub reused_documents: Vec<String>,
}

/// A status lookup by a kiosk (`POST /v1/dossiers/status`): the code and the receipt's lookup
/// secret. The secret travels in the body, never in the URL, which proxies and logs keep.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DossierLookup {
    /// The dossier code printed on the receipt.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub code: String,
    /// The lookup secret printed on the receipt (`XXXX-XXXX`; case, spaces and the dash do not
    /// matter, O reads as 0, I and L as 1).
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub secret: String,
}

/// Hides the secret.
impl std::fmt::Debug for DossierLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DossierLookup")
            .field("code", &self.code)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// A satisfaction rating tied to one transaction (a dossier code or a queue ticket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RatingSubmission {
    /// The rated transaction: a dossier code or a ticket id (`<area>-YYYYMMDD-<n>@<device>`);
    /// not blank.
    #[cfg_attr(feature = "openapi", schema(max_length = 160, pattern = r"\S"))]
    pub transaction: String,
    /// Device that collected it.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub device_id: String,
    /// Number of levels on the scale shown: 3 or 5.
    // The document's `enum: [3, 5]` is set by the gateway's OpenAPI modifier (`openapi_limits`):
    // `#[schema]` has no enum of integers.
    #[cfg_attr(feature = "openapi", schema(minimum = 3, maximum = 5))]
    pub scale_levels: u8,
    /// Level chosen, 1 = best; at most `scale_levels`.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub level: u8,
    /// Indicator score per Circular 01/2018 (2, 1 or 0).
    #[cfg_attr(feature = "openapi", schema(maximum = 2))]
    pub score: u8,
    /// When the citizen rated.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub rated_at: DateTime<FixedOffset>,
}

/// A queue ticket issued at the entrance kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketIssued {
    /// Ticket id `<area>-YYYYMMDD-<number>@<device>` (see `ticket::ticket_id`): it ends with
    /// `@` and the issuing device.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 160, pattern = r"@[^@]*[^@\s][^@]*$")
    )]
    pub ticket_id: String,
    /// Service area code.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub service_area: String,
    /// Number printed on the ticket.
    pub number: u32,
    /// Device that issued it.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub device_id: String,
    /// When it was printed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub issued_at: DateTime<FixedOffset>,
}

/// The gateway's durable acknowledgement of an ingest request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestAck {
    /// The idempotency key the request carried.
    pub idempotency_key: String,
    /// True when this key had already been ingested (a retry): nothing new was stored.
    pub duplicate: bool,
}

/// Dossier status codes (TrangThaiHoSo) used when syncing with the national portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DossierStatus {
    /// 1 Mới tiếp nhận / newly submitted.
    Submitted,
    /// 2 Đã tiếp nhận / accepted.
    Accepted,
    /// 3 Không tiếp nhận / not accepted.
    NotAccepted,
    /// 4 Đang xử lý / processing.
    Processing,
    /// 5 Yêu cầu bổ sung / more documents requested.
    SupplementRequested,
    /// 6 Chờ thanh toán / payment required.
    PaymentRequired,
    /// 7 Công dân rút hồ sơ / withdrawn.
    Withdrawn,
    /// 8 Dừng xử lý / stopped.
    Stopped,
    /// 9 Đã xử lý xong / processed.
    Processed,
    /// 10 Đã trả kết quả / result returned.
    Returned,
}

impl DossierStatus {
    /// All statuses in code order.
    pub const ALL: [DossierStatus; 10] = [
        Self::Submitted,
        Self::Accepted,
        Self::NotAccepted,
        Self::Processing,
        Self::SupplementRequested,
        Self::PaymentRequired,
        Self::Withdrawn,
        Self::Stopped,
        Self::Processed,
        Self::Returned,
    ];

    /// The numeric TrangThaiHoSo code (1–10).
    pub fn code(self) -> u8 {
        Self::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i as u8 + 1)
    }

    /// The status for a numeric code, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }

    /// Label for a citizen, Vietnamese.
    pub fn label_vi(self) -> &'static str {
        match self {
            Self::Submitted => "Mới tiếp nhận",
            Self::Accepted => "Đã tiếp nhận",
            Self::NotAccepted => "Không tiếp nhận",
            Self::Processing => "Đang xử lý",
            Self::SupplementRequested => "Yêu cầu bổ sung hồ sơ",
            Self::PaymentRequired => "Chờ thanh toán",
            Self::Withdrawn => "Công dân đã rút hồ sơ",
            Self::Stopped => "Dừng xử lý",
            Self::Processed => "Đã xử lý xong",
            Self::Returned => "Đã trả kết quả",
        }
    }

    /// Label for a citizen, English.
    pub fn label_en(self) -> &'static str {
        match self {
            Self::Submitted => "Newly submitted",
            Self::Accepted => "Accepted",
            Self::NotAccepted => "Not accepted",
            Self::Processing => "Processing",
            Self::SupplementRequested => "More documents requested",
            Self::PaymentRequired => "Payment required",
            Self::Withdrawn => "Withdrawn by the citizen",
            Self::Stopped => "Processing stopped",
            Self::Processed => "Processed",
            Self::Returned => "Result returned",
        }
    }
}

/// Status of a dossier as the gateway knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DossierStatusView {
    /// The dossier code.
    pub code: String,
    /// Procedure code.
    pub procedure_code: String,
    /// Current status.
    pub status: DossierStatus,
    /// Numeric TrangThaiHoSo code of `status`.
    pub status_code: u8,
    /// Appointment date for the result.
    pub appointment_date: NaiveDate,
    /// When the status last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: DateTime<FixedOffset>,
    /// Documents stored for it.
    pub documents: Vec<DocumentRef>,
    /// Documents digitized at an intake counter and added later, in the order stored.
    #[serde(default)]
    pub digitized: Vec<DigitizedDocument>,
}

/// A paper document digitized at an intake counter (Circular 01/2023 art. 7–8): one PDF,
/// identified by its document code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DigitizedDocument {
    /// The document code, made by the kiosk's configured template; unique across dossiers; not
    /// blank.
    #[cfg_attr(feature = "openapi", schema(max_length = 64, pattern = r"\S"))]
    pub document_code: String,
    /// 1-based index of the required document in the procedure's list; 0 for pages that no
    /// separator sheet sorted (the officer kept them as "other documents").
    pub document_index: u32,
    /// Document name (the catalog's required-document name).
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub name: String,
    /// MIME type, `application/pdf`.
    #[cfg_attr(feature = "openapi", schema(max_length = 255))]
    pub media_type: String,
    /// Number of pages.
    pub pages: u32,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the PDF; the blob must have been uploaded first.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub sha256: String,
}

/// Documents digitized at an intake counter for a dossier the gateway already holds, sent to
/// `POST /v1/dossiers/{code}/documents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DigitizedDocuments {
    /// The dossier; must equal the code in the path.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub dossier_code: String,
    /// Device that digitized them.
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub device_id: String,
    /// When the officer committed them (Vietnam time).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub digitized_at: DateTime<FixedOffset>,
    /// The documents, at least one.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 200))]
    pub documents: Vec<DigitizedDocument>,
}

/// Error body of every non-2xx answer: a stable machine code and a sentence a technician reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// Stable code, e.g. `missing_blobs`, `unauthorized`, `conflict`.
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enroll_request_debug_redacts_the_key() {
        let req = EnrollRequest {
            device_id: "KIOSK-01".into(),
            site: "000.17.22.H56".into(),
            enrollment_key: "province-secret-42".into(),
            csr_pem: "-----BEGIN CERTIFICATE REQUEST-----".into(),
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("province-secret-42"), "{shown}");
        assert!(
            shown.contains("KIOSK-01") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert_eq!(req.clone(), req);
    }

    #[test]
    fn status_codes_round_trip_and_match_the_portal_numbering() {
        for (i, s) in DossierStatus::ALL.iter().enumerate() {
            assert_eq!(s.code() as usize, i + 1);
            assert_eq!(DossierStatus::from_code(s.code()), Some(*s));
        }
        assert_eq!(DossierStatus::Returned.code(), 10);
        assert_eq!(DossierStatus::from_code(0), None);
        assert_eq!(DossierStatus::from_code(11), None);
    }
}

/// Describes a JSON error without quoting the offending value: serde's messages for wrong types
/// and values repeat the value (`invalid type: string "Nguyễn …"`), which may be personal data
/// and would then reach logs and HTTP answers. Field names and positions are kept.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let names_only = [
        "missing field",
        "unknown field",
        "duplicate field",
        "unknown variant",
    ];
    let what = if names_only.iter().any(|p| message.starts_with(p)) {
        message
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_owned()
    } else {
        match e.classify() {
            serde_json::error::Category::Syntax => "malformed JSON".to_owned(),
            serde_json::error::Category::Eof => "the JSON ends too early".to_owned(),
            serde_json::error::Category::Io => "the JSON could not be read".to_owned(),
            serde_json::error::Category::Data => "a value has the wrong type or form".to_owned(),
        }
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

#[cfg(test)]
mod json_error_tests {
    use super::*;

    #[test]
    fn json_errors_never_repeat_values() {
        let e = serde_json::from_str::<Applicant>(r#"{"full_name": 1234567890}"#).unwrap_err();
        let d = describe_json_error(&e);
        assert!(!d.contains("1234567890"), "{d}");
        assert!(d.contains("line 1"), "{d}");
        let e = serde_json::from_str::<Applicant>(r#"{"address": "x"}"#).unwrap_err();
        assert!(describe_json_error(&e).starts_with("missing field `full_name`"));
        let e = serde_json::from_str::<DossierStatusView>(r#"{"code": "#).unwrap_err();
        assert!(describe_json_error(&e).contains("ends too early"));
    }
}
