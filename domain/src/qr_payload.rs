//! What the QR codes we print carry, and how a scanned payload is recognised.
//!
//! Circular 01/2023/TT-VPCP art. 26 asks the receipt QR to carry at least the dossier code,
//! procedure code, applicant identifier, document name, issuing system, time of issue and
//! appointment date, but no national encoding exists: the receipt payload is a configurable
//! template. Separator sheets (intake digitization) use a fixed, versioned format of our own.

use std::fmt::Write;

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::dossier::DossierCode;
use crate::lookup_secret::LookupSecret;

/// Default receipt QR template: pipe-separated fields, masked applicant id, lookup secret last.
///
/// The applicant's full ID number is available as `{applicant_id}`, but a lost receipt should
/// not hand a stranger someone's ID number, so the default prints only its last 4 digits.
/// `{lookup_secret}` lets the kiosk read the status from a scan alone; a template without it
/// still works, the citizen then types the code printed on the receipt.
pub const DEFAULT_RECEIPT_TEMPLATE: &str =
    "{dossier_code}|{procedure_code}|{applicant_id_masked}|{document_name}|{issuer}|{issued_at}|{appointment_date}|{lookup_secret}";

/// Prefix of a separator sheet payload (version 1).
pub const SEPARATOR_PREFIX: &str = "MOTCUA-SEP1";

/// Fields that can appear in a receipt QR template.
#[derive(Debug, Clone)]
pub struct ReceiptFields {
    /// Dossier code.
    pub dossier_code: String,
    /// Procedure code.
    pub procedure_code: String,
    /// Applicant's 12-digit ID number, if known.
    pub applicant_id: Option<String>,
    /// Document name, e.g. "Giấy tiếp nhận hồ sơ và hẹn trả kết quả".
    pub document_name: String,
    /// Issuing system / device, e.g. "MOTCUA:KIOSK-H56-0001".
    pub issuer: String,
    /// Time of issue.
    pub issued_at: DateTime<FixedOffset>,
    /// Appointment date.
    pub appointment_date: NaiveDate,
    /// The receipt's lookup secret (see [`crate::lookup_secret`]); `{lookup_secret}` is empty
    /// without one.
    pub lookup_secret: Option<LookupSecret>,
}

/// A template naming an unknown field, or unbalanced braces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` that is not a field.
    #[error("unknown field {{{0}}} in the receipt QR template; known: dossier_code, procedure_code, applicant_id, applicant_id_masked, document_name, issuer, issued_at, appointment_date, lookup_secret")]
    UnknownField(String),
    /// A `{` without `}`.
    #[error("unclosed '{{' in the receipt QR template")]
    Unclosed,
}

/// Renders a receipt QR payload from a template (dates `yyyyMMddHHmmss` / `yyyyMMdd`, as the
/// national portal writes them). `|` in values is replaced so fields stay separable.
pub fn render_receipt(template: &str, fields: &ReceiptFields) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or(TemplateError::Unclosed)?;
        let name = &after[..close];
        let value = match name {
            "dossier_code" => fields.dossier_code.clone(),
            "procedure_code" => fields.procedure_code.clone(),
            "applicant_id" => fields.applicant_id.clone().unwrap_or_default(),
            "applicant_id_masked" => fields
                .applicant_id
                .as_deref()
                .map(mask_id)
                .unwrap_or_default(),
            "document_name" => fields.document_name.clone(),
            "issuer" => fields.issuer.clone(),
            "issued_at" => fields.issued_at.format("%Y%m%d%H%M%S").to_string(),
            "appointment_date" => fields.appointment_date.format("%Y%m%d").to_string(),
            "lookup_secret" => fields
                .lookup_secret
                .map(|s| s.to_string())
                .unwrap_or_default(),
            other => return Err(TemplateError::UnknownField(other.to_owned())),
        };
        out.push_str(&value.replace('|', "/"));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `094186000123` → `********0123`.
pub fn mask_id(id: &str) -> String {
    let n = id.chars().count();
    let keep = 4.min(n);
    let mut s = String::with_capacity(n);
    for (i, c) in id.chars().enumerate() {
        s.push(if i < n - keep { '*' } else { c });
    }
    s
}

/// A separator sheet: pages after it (until the next one) belong to this document of a dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Separator {
    /// The dossier.
    pub dossier_code: String,
    /// 1-based index of the required document in the procedure.
    pub document_index: u32,
    /// Document name (informative).
    pub document_name: String,
}

impl Separator {
    /// The payload printed on the sheet: `MOTCUA-SEP1|<dossier code>|<index>|<name>`.
    pub fn payload(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{SEPARATOR_PREFIX}|{}|{}|{}",
            self.dossier_code,
            self.document_index,
            self.document_name.replace('|', "/")
        );
        s
    }

    /// Reads a separator payload, if it is one.
    pub fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.trim().splitn(4, '|');
        if parts.next()? != SEPARATOR_PREFIX {
            return None;
        }
        let code = DossierCode::parse(parts.next()?).ok()?;
        let document_index = parts.next()?.parse().ok().filter(|i| *i >= 1)?;
        Some(Self {
            dossier_code: code.to_string(),
            document_index,
            document_name: parts.next().unwrap_or_default().to_owned(),
        })
    }
}

/// The dossier code inside a receipt payload made from any template: the first `|`-separated
/// field (or the whole payload) that is a valid dossier code.
pub fn dossier_code_in(payload: &str) -> Option<DossierCode> {
    receipt_in(payload).map(|r| r.code)
}

/// What a scanned receipt carries for a status lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedReceipt {
    /// Its dossier code.
    pub code: DossierCode,
    /// Its lookup secret, when the province's template prints one in the QR.
    pub secret: Option<LookupSecret>,
}

/// The dossier code and the lookup secret inside a receipt payload made from any template: the
/// first `|`-separated field that is a valid dossier code, and the first field in the exact
/// printed form of a secret (`XXXX-XXXX`, so a date or a number is never taken for one).
pub fn receipt_in(payload: &str) -> Option<ScannedReceipt> {
    let code = payload
        .split('|')
        .find_map(|field| DossierCode::parse(field).ok())?;
    let secret = payload
        .split('|')
        .find_map(|field| LookupSecret::parse_printed(field.trim()));
    Some(ScannedReceipt { code, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ReceiptFields {
        ReceiptFields {
            dossier_code: "000.17.22.H56-261123-0001".into(),
            procedure_code: "1.001193".into(),
            applicant_id: Some("094186000123".into()),
            document_name: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả".into(),
            issuer: "MOTCUA:KIOSK-1".into(),
            issued_at: crate::vietnam_offset()
                .with_ymd_and_hms(2026, 11, 23, 9, 5, 7)
                .unwrap(),
            appointment_date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            lookup_secret: LookupSecret::parse("7KQ2-M9XD").ok(),
        }
    }

    use chrono::TimeZone;

    #[test]
    fn default_template_carries_the_circular_fields_with_a_masked_id() {
        let p = render_receipt(DEFAULT_RECEIPT_TEMPLATE, &fields()).unwrap();
        assert_eq!(
            p,
            "000.17.22.H56-261123-0001|1.001193|********0123|Giấy tiếp nhận hồ sơ và hẹn trả kết quả|MOTCUA:KIOSK-1|20261123090507|20261126|7KQ2-M9XD"
        );
        assert_eq!(
            dossier_code_in(&p).unwrap().to_string(),
            "000.17.22.H56-261123-0001"
        );
        let r = receipt_in(&p).unwrap();
        assert_eq!(r.code.to_string(), "000.17.22.H56-261123-0001");
        assert_eq!(r.secret, LookupSecret::parse("7KQ2-M9XD").ok());
    }

    #[test]
    fn the_classifier_finds_the_secret_in_any_template_or_none() {
        // An older receipt (template without the secret): the code alone.
        let old = "000.17.22.H56-261123-0001|1.001193|********0123|x|MOTCUA:KIOSK-1|20261123090507|20261126";
        assert_eq!(receipt_in(old).unwrap().secret, None);
        // Another province's order of fields.
        let other = "7KQ2-M9XD|HS:x|000.17.22.H56-261123-0001";
        let r = receipt_in(other).unwrap();
        assert_eq!(r.code.to_string(), "000.17.22.H56-261123-0001");
        assert_eq!(r.secret, LookupSecret::parse("7KQ2-M9XD").ok());
        // A secret alone is not a receipt; a lower-case look-alike is not a secret.
        assert_eq!(receipt_in("7KQ2-M9XD"), None);
        assert_eq!(
            receipt_in("000.17.22.H56-261123-0001|7kq2-m9xd")
                .unwrap()
                .secret,
            None
        );
        // Without a secret the field renders empty.
        let mut f = fields();
        f.lookup_secret = None;
        let p = render_receipt(DEFAULT_RECEIPT_TEMPLATE, &f).unwrap();
        assert!(p.ends_with("|20261126|"));
        assert_eq!(receipt_in(&p).unwrap().secret, None);
    }

    #[test]
    fn templates_are_checked() {
        assert_eq!(
            render_receipt("{nope}", &fields()),
            Err(TemplateError::UnknownField("nope".into()))
        );
        assert_eq!(
            render_receipt("{dossier_code", &fields()),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            render_receipt("HS:{dossier_code};", &fields()).unwrap(),
            "HS:000.17.22.H56-261123-0001;"
        );
    }

    #[test]
    fn separators_round_trip_and_reject_others() {
        let s = Separator {
            dossier_code: "000.17.22.H56-261123-0001".into(),
            document_index: 2,
            document_name: "Giấy chứng sinh".into(),
        };
        assert_eq!(Separator::parse(&s.payload()), Some(s));
        assert_eq!(Separator::parse("MOTCUA-SEP1|bad|1|x"), None);
        assert_eq!(
            Separator::parse("MOTCUA-SEP1|000.17.22.H56-261123-0001|0|x"),
            None
        );
        assert_eq!(Separator::parse("https://example.com"), None);
    }
}
