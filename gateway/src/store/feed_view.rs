//! The export feed as the provincial system reads it: each stored event (`super::feed`) with
//! its dossier, status in the national codes (TrangThaiHoSo 1–10), dates as the national
//! systems write them (`yyyyMMddHHmmss`, Vietnam time) and documents by link to
//! `GET /v1/blobs/{sha256}`.

use std::collections::BTreeMap;

use motcua_domain::wire::{Applicant, DossierStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::feed::{DocumentRow, EventRow, FeedRows, DOCUMENTS_ADDED, DOSSIER_RECEIVED};
use super::parse_status;

/// What happened to the dossier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedEventKind {
    /// A kiosk delivered the dossier (status 1); `documents` are those it was submitted with.
    DossierReceived,
    /// An intake counter added digitized documents; `documents` are those added.
    DocumentsAdded,
    /// The status changed (to `status_code`); `documents` is empty.
    StatusChanged,
}

/// The applicant, as the dossier holds it now (blank once the retention blanked it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FeedApplicant {
    /// Full name as on the ID card.
    pub full_name: String,
    /// 12-digit personal identification number, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// Date of birth, if given, as `yyyyMMdd000000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9]{14}$")]
    pub birth_date: Option<String>,
    /// Postal address.
    pub address: String,
    /// Phone number.
    pub phone: String,
    /// E-mail, if any (else empty).
    pub email: String,
}

/// A document of an event, fetched by its link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FeedDocument {
    /// A digitized document's code (`documents_added`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_code: Option<String>,
    /// Document name.
    pub name: String,
    /// The original file name of a document submitted at a kiosk (`dossier_received`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// MIME type, e.g. `application/pdf`.
    pub media_type: String,
    /// Pages of a digitized document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the content.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// Where to fetch it: `/v1/blobs/{sha256}` on this gateway, with the same certificate.
    pub link: String,
}

/// One line of `GET /v1/export/feed`: one event, with what the provincial system needs of its
/// dossier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FeedEvent {
    /// The event's cursor: pass the last one handled as `after` to read on from it.
    #[schema(minimum = 1)]
    pub cursor: i64,
    /// What happened.
    pub kind: FeedEventKind,
    /// When the gateway recorded it, `yyyyMMddHHmmss` (Asia/Ho_Chi_Minh); for records stored
    /// before the feed existed, when the kiosk received the dossier or the documents were stored.
    #[schema(pattern = "^[0-9]{14}$")]
    pub at: String,
    /// The dossier code (mã hồ sơ).
    pub dossier_code: String,
    /// The receiving site (agency code) of the dossier.
    pub site: String,
    /// The procedure code.
    pub procedure_code: String,
    /// National status code (TrangThaiHoSo, 1–10) after the event.
    #[schema(minimum = 1, maximum = 10)]
    pub status_code: u8,
    /// The status's name.
    pub status: DossierStatus,
    /// The status's label, Vietnamese.
    pub status_label_vi: String,
    /// The status's label, English.
    pub status_label_en: String,
    /// When the kiosk received the dossier, `yyyyMMddHHmmss` (Asia/Ho_Chi_Minh).
    #[schema(pattern = "^[0-9]{14}$")]
    pub received_at: String,
    /// The appointment date for the result, `yyyyMMdd000000`.
    #[schema(pattern = "^[0-9]{14}$")]
    pub appointment_date: String,
    /// The applicant.
    pub applicant: FeedApplicant,
    /// The retention blanked the applicant: the fields above are empty for that reason.
    pub applicant_purged: bool,
    /// The documents of the event (see `kind`).
    pub documents: Vec<FeedDocument>,
}

/// A page of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeedPage {
    /// The events after the cursor asked for, in cursor order.
    pub events: Vec<FeedEvent>,
    /// The cursor to ask with next: the last event's, or the one asked with if none.
    pub next_cursor: i64,
    /// More events follow (ask again at once).
    pub more: bool,
    /// The last event the gateway holds.
    pub last_event: i64,
}

/// What reading the feed found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FeedRead {
    Page(FeedPage),
    /// The cursor is past every event the gateway ever wrote (a consumer pointed at another
    /// gateway's database, or one restored from an older backup).
    CursorAhead {
        last_event: i64,
    },
}

/// A time (RFC 3339, any offset) as `yyyyMMddHHmmss` in Vietnam time; a value that does not
/// parse (not written by this gateway) is passed on as it is, and logged.
pub(crate) fn national_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&motcua_domain::vietnam_offset())
            .format("%Y%m%d%H%M%S")
            .to_string(),
        Err(e) => {
            tracing::warn!(value = rfc3339, error = %e, "a stored time is not RFC 3339");
            rfc3339.to_string()
        }
    }
}

/// A date (`YYYY-MM-DD`) as `yyyyMMdd000000`, likewise.
pub(crate) fn national_date(date: &str) -> String {
    match chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(d) => d.format("%Y%m%d000000").to_string(),
        Err(e) => {
            tracing::warn!(value = date, error = %e, "a stored date is not YYYY-MM-DD");
            date.to_string()
        }
    }
}

/// The applicant of a stored dossier body (the canonical JSON of the submission).
fn applicant(body: &str) -> FeedApplicant {
    let read = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::from_value::<Applicant>(v.get("applicant")?.clone()).ok());
    let a = read.unwrap_or_else(|| Applicant {
        full_name: String::new(),
        id_number: None,
        birth_date: None,
        address: String::new(),
        phone: String::new(),
        email: String::new(),
    });
    FeedApplicant {
        full_name: a.full_name,
        id_number: a.id_number,
        birth_date: a.birth_date.map(|d| d.format("%Y%m%d000000").to_string()),
        address: a.address,
        phone: a.phone,
        email: a.email,
    }
}

fn document(row: DocumentRow) -> FeedDocument {
    FeedDocument {
        link: format!("/v1/blobs/{}", row.sha256),
        document_code: row.document_code,
        name: row.name,
        file_name: row.file_name,
        media_type: row.media_type,
        pages: row.pages.and_then(|p| u32::try_from(p).ok()),
        size: u64::try_from(row.size).unwrap_or_default(),
        sha256: row.sha256,
    }
}

fn kind(stored: &str) -> FeedEventKind {
    match stored {
        DOSSIER_RECEIVED => FeedEventKind::DossierReceived,
        DOCUMENTS_ADDED => FeedEventKind::DocumentsAdded,
        _ => FeedEventKind::StatusChanged,
    }
}

fn event(row: EventRow, documents: Vec<FeedDocument>) -> FeedEvent {
    let status = parse_status(&row.status);
    FeedEvent {
        cursor: row.id,
        kind: kind(&row.kind),
        at: national_time(&row.at),
        status_code: status.code(),
        status,
        status_label_vi: status.label_vi().to_string(),
        status_label_en: status.label_en().to_string(),
        received_at: national_time(&row.received_at),
        appointment_date: national_date(&row.appointment_date),
        applicant: applicant(&row.body),
        applicant_purged: row.applicant_purged,
        dossier_code: row.code,
        site: row.site,
        procedure_code: row.procedure_code,
        documents,
    }
}

/// Shapes what a read found (`limit` events were asked for after `after`).
pub(crate) fn page(rows: FeedRows, after: i64) -> FeedRead {
    if after > rows.last_id {
        return FeedRead::CursorAhead {
            last_event: rows.last_id,
        };
    }
    let mut by_event: BTreeMap<i64, Vec<FeedDocument>> = BTreeMap::new();
    for row in rows.documents {
        by_event.entry(row.event).or_default().push(document(row));
    }
    let events: Vec<FeedEvent> = rows
        .events
        .into_iter()
        .map(|row| {
            let documents = by_event.remove(&row.id).unwrap_or_default();
            event(row, documents)
        })
        .collect();
    let next_cursor = events.last().map_or(after, |e| e.cursor);
    FeedRead::Page(FeedPage {
        more: next_cursor < rows.last_id,
        next_cursor,
        last_event: rows.last_id,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_the_national_systems_write_them() {
        assert_eq!(national_time("2026-05-31T09:15:07+07:00"), "20260531091507");
        // Another offset is the same instant in Vietnam time.
        assert_eq!(national_time("2026-05-31T23:30:00Z"), "20260601063000");
        assert_eq!(national_date("2026-06-05"), "20260605000000");
        assert_eq!(national_time("yesterday"), "yesterday");
    }

    #[test]
    fn a_blanked_or_unreadable_applicant_reads_as_blank() {
        let blank =
            applicant(r#"{"applicant":{"full_name":"","address":"","phone":"","email":""}}"#);
        assert_eq!(blank.full_name, "");
        assert_eq!(blank.id_number, None);
        assert_eq!(applicant("not json"), blank);
        let full = applicant(
            r#"{"applicant":{"full_name":"Nguyễn Văn An","id_number":"079201001234",
            "birth_date":"1990-02-03","address":"Phường 1","phone":"0900000000","email":""}}"#,
        );
        assert_eq!(full.full_name, "Nguyễn Văn An");
        assert_eq!(full.birth_date.as_deref(), Some("19900203000000"));
    }
}
