//! Length limits of every text field of the gateway's JSON bodies, and the check the gateway
//! runs on each body before it stores anything.
//!
//! The limits sit with the wire types so that the kiosk (which builds the bodies) and the
//! gateway (which refuses what is longer) read one number; the OpenAPI document states the same
//! numbers as `maxLength` on the wire types (`#[schema(max_length = ..)]` takes only a literal,
//! so the gateway's OpenAPI test compares every documented `maxLength` with these constants).
//! Lengths count characters (Unicode scalar values), as JSON Schema's `maxLength` does: a
//! Vietnamese name with tone marks is not penalised for its UTF-8 bytes.
//!
//! The numbers are generous for real data: a CCCD name is at most a few dozen characters, a
//! permanent address on the card about 150, a dossier code `000.17.22.H56-210531-0001` 25.

/// A person's full name (the applicant).
pub const NAME_MAX: usize = 200;
/// A postal address.
pub const ADDRESS_MAX: usize = 500;
/// A phone number, with spaces, `+84` or an extension.
pub const PHONE_MAX: usize = 32;
/// An e-mail address (RFC 5321's path limit).
pub const EMAIL_MAX: usize = 254;
/// A personal identification number (CCCD: 12 digits; an old CMND: 9).
pub const ID_NUMBER_MAX: usize = 12;
/// Codes and identifiers: dossier, procedure, agency (site), device, document and service-area
/// codes, idempotency keys.
pub const CODE_MAX: usize = 64;
/// A queue ticket id `<area>-YYYYMMDD-<number>@<device>`, or a rated transaction (a dossier
/// code or a ticket id): two codes and a date.
pub const TICKET_ID_MAX: usize = 160;
/// A document's name (the catalog's required-document names run to a sentence or two).
pub const DOCUMENT_NAME_MAX: usize = 500;
/// An original file name.
pub const FILE_NAME_MAX: usize = 255;
/// A MIME type (RFC 6838: 127 + `/` + 127).
pub const MEDIA_TYPE_MAX: usize = 255;
/// Free text a kiosk writes: a printer's detail, a remote action's answer, a self-test name, a
/// software version.
pub const TEXT_MAX: usize = 2000;
/// A remote action's log tail (64 Ki characters).
pub const LOG_TAIL_MAX: usize = 65_536;
/// A PEM certificate signing request (a P-256 or RSA-4096 CSR is 1–4 KiB).
pub const CSR_PEM_MAX: usize = 16_384;
/// A shared secret typed or scanned: the enrolment key, a setup code's token.
pub const SECRET_MAX: usize = 256;
/// A queue event's idempotency key and the ticket (or day) it is about
/// ([`crate::wire::hub::QueueEvent`]).
pub const QUEUE_EVENT_ID_MAX: usize = 200;
/// A queue event's kind.
pub const QUEUE_EVENT_KIND_MAX: usize = 32;
/// Documents in one dossier or one delivery of digitized documents.
pub const DOCUMENTS_MAX: usize = 200;
/// Names of failed self-test checks in one health report.
pub const FAILED_CHECKS_MAX: usize = 100;

/// A field longer than its limit, or a list with more items than allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "trường {field} dài {len} ký tự, tối đa {max} / field {field} has {len} characters (or \
     items), at most {max} are accepted"
)]
pub struct TooLong {
    /// The field's path in the body, e.g. `applicant.full_name`, `documents[2].name`.
    pub field: String,
    /// Its length (characters, or items for a list).
    pub len: usize,
    /// The limit.
    pub max: usize,
}

/// A body whose text fields have limits.
pub trait Limited {
    /// The first field over its limit, if any.
    fn check_limits(&self) -> Result<(), TooLong>;
}

/// `value` has at most `max` characters.
pub fn check(field: &str, value: &str, max: usize) -> Result<(), TooLong> {
    // Counting stops past the limit: a 1 MiB string costs no more than a short one.
    let len = value.chars().take(max + 1).count();
    if len > max {
        return Err(TooLong {
            field: field.to_string(),
            len: value.chars().count(),
            max,
        });
    }
    Ok(())
}

/// `items` has at most `max` entries.
pub fn check_items<T>(field: &str, items: &[T], max: usize) -> Result<(), TooLong> {
    if items.len() > max {
        return Err(TooLong {
            field: field.to_string(),
            len: items.len(),
            max,
        });
    }
    Ok(())
}

/// The same, for an optional field.
pub fn check_opt(field: &str, value: Option<&str>, max: usize) -> Result<(), TooLong> {
    value.map_or(Ok(()), |v| check(field, v, max))
}

use crate::provisioning::{ProvisionRequest, RemoteActionResult, SetupSheetRequest};
use crate::wire::hub::{QueueEventBatch, MAX_QUEUE_EVENTS};
use crate::wire::{
    Applicant, DigitizedDocument, DigitizedDocuments, DocumentRef, DossierSubmission,
    EnrollRequest, HealthReport, RatingSubmission, RenewRequest, TicketIssued,
};

impl Limited for Applicant {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("applicant.full_name", &self.full_name, NAME_MAX)?;
        check_opt(
            "applicant.id_number",
            self.id_number.as_deref(),
            ID_NUMBER_MAX,
        )?;
        check("applicant.address", &self.address, ADDRESS_MAX)?;
        check("applicant.phone", &self.phone, PHONE_MAX)?;
        check("applicant.email", &self.email, EMAIL_MAX)
    }
}

fn check_document(i: usize, d: &DocumentRef) -> Result<(), TooLong> {
    check(&format!("documents[{i}].name"), &d.name, DOCUMENT_NAME_MAX)?;
    check(
        &format!("documents[{i}].file_name"),
        &d.file_name,
        FILE_NAME_MAX,
    )?;
    check(
        &format!("documents[{i}].media_type"),
        &d.media_type,
        MEDIA_TYPE_MAX,
    )?;
    check(&format!("documents[{i}].sha256"), &d.sha256, 64)
}

impl Limited for DossierSubmission {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("code", &self.code, CODE_MAX)?;
        check("procedure_code", &self.procedure_code, CODE_MAX)?;
        check("agency_code", &self.agency_code, CODE_MAX)?;
        check("device_id", &self.device_id, CODE_MAX)?;
        self.applicant.check_limits()?;
        check_items("documents", &self.documents, DOCUMENTS_MAX)?;
        self.documents
            .iter()
            .enumerate()
            .try_for_each(|(i, d)| check_document(i, d))?;
        check_items(
            "reused_documents",
            &self.reused_documents,
            crate::wire::MAX_KINDS_QUERY,
        )?;
        self.reused_documents
            .iter()
            .enumerate()
            .try_for_each(|(i, k)| check(&format!("reused_documents[{i}]"), k, CODE_MAX))
    }
}

fn check_digitized(i: usize, d: &DigitizedDocument) -> Result<(), TooLong> {
    check(
        &format!("documents[{i}].document_code"),
        &d.document_code,
        CODE_MAX,
    )?;
    check(&format!("documents[{i}].name"), &d.name, DOCUMENT_NAME_MAX)?;
    check(
        &format!("documents[{i}].media_type"),
        &d.media_type,
        MEDIA_TYPE_MAX,
    )?;
    check(&format!("documents[{i}].sha256"), &d.sha256, 64)
}

impl Limited for DigitizedDocuments {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("dossier_code", &self.dossier_code, CODE_MAX)?;
        check("device_id", &self.device_id, CODE_MAX)?;
        check_items("documents", &self.documents, DOCUMENTS_MAX)?;
        self.documents
            .iter()
            .enumerate()
            .try_for_each(|(i, d)| check_digitized(i, d))
    }
}

impl Limited for RatingSubmission {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("transaction", &self.transaction, TICKET_ID_MAX)?;
        check("device_id", &self.device_id, CODE_MAX)
    }
}

impl Limited for TicketIssued {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("ticket_id", &self.ticket_id, TICKET_ID_MAX)?;
        check("service_area", &self.service_area, CODE_MAX)?;
        check("device_id", &self.device_id, CODE_MAX)
    }
}

impl Limited for HealthReport {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("software_version", &self.software_version, TEXT_MAX)?;
        if let Some(printer) = &self.printer {
            check("printer.detail", &printer.detail, TEXT_MAX)?;
        }
        if let Some(test) = &self.last_self_test {
            check_items("last_self_test.failed", &test.failed, FAILED_CHECKS_MAX)?;
            for (i, name) in test.failed.iter().enumerate() {
                check(&format!("last_self_test.failed[{i}]"), name, TEXT_MAX)?;
            }
        }
        Ok(())
    }
}

impl Limited for EnrollRequest {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("device_id", &self.device_id, CODE_MAX)?;
        check("site", &self.site, CODE_MAX)?;
        check("enrollment_key", &self.enrollment_key, SECRET_MAX)?;
        check("csr_pem", &self.csr_pem, CSR_PEM_MAX)
    }
}

impl Limited for RenewRequest {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("csr_pem", &self.csr_pem, CSR_PEM_MAX)
    }
}

impl Limited for ProvisionRequest {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("token", &self.token, SECRET_MAX)?;
        check("csr_pem", &self.csr_pem, CSR_PEM_MAX)
    }
}

impl Limited for RemoteActionResult {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("detail", &self.detail, TEXT_MAX)?;
        check_opt("log_tail", self.log_tail.as_deref(), LOG_TAIL_MAX)
    }
}

impl Limited for SetupSheetRequest {
    fn check_limits(&self) -> Result<(), TooLong> {
        check("site", &self.site, CODE_MAX)?;
        check("profile", &self.profile, CODE_MAX)?;
        check_items("device_ids", &self.device_ids, 50)?;
        for (i, id) in self.device_ids.iter().enumerate() {
            check(&format!("device_ids[{i}]"), id, CODE_MAX)?;
        }
        Ok(())
    }
}

impl Limited for QueueEventBatch {
    fn check_limits(&self) -> Result<(), TooLong> {
        check_items("events", &self.events, MAX_QUEUE_EVENTS)?;
        for (i, e) in self.events.iter().enumerate() {
            check(&format!("events[{i}].key"), &e.key, QUEUE_EVENT_ID_MAX)?;
            check(&format!("events[{i}].kind"), &e.kind, QUEUE_EVENT_KIND_MAX)?;
            check(
                &format!("events[{i}].ticket_id"),
                &e.ticket_id,
                QUEUE_EVENT_ID_MAX,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_not_bytes_are_counted() {
        // 5 characters, 7 bytes.
        assert!(check("x", "Nguễn", 5).is_ok());
        assert!(check("x", "Nguyễn", 5).is_err());
        let e = check("applicant.full_name", &"ễ".repeat(NAME_MAX + 1), NAME_MAX).unwrap_err();
        assert_eq!(e.field, "applicant.full_name");
        assert_eq!((e.len, e.max), (NAME_MAX + 1, NAME_MAX));
        assert!(e.to_string().contains("applicant.full_name"), "{e}");
        assert!(check("x", &"ễ".repeat(NAME_MAX), NAME_MAX).is_ok());
        assert!(check_items("documents", &[1, 2, 3], 2).is_err());
        assert!(check_opt("id_number", None, 1).is_ok());
    }
}
