//! The receipt and appointment slip (Form 01, Circular 01/2018/TT-VPCP) of an accepted dossier:
//! its content is built from what the store holds, so a reprint is always possible and always
//! identical.

use chrono::{DateTime, FixedOffset, NaiveTime, TimeZone};
use motcua_domain::catalog::{DocumentKind, Procedure};
use motcua_domain::lookup_secret::LookupSecret;
use motcua_domain::qr_payload::ReceiptFields;
use motcua_domain::wire::DossierSubmission;
use motcua_printer::{receipt_qr_payload, PrinterError, ReceiptContent, SubmittedDocument};
use serde::Deserialize;

/// What a province prints around the dossier on every receipt (`[receipt]` in the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiptSettings {
    /// The body above the one-stop unit, e.g. "UBND TỈNH SÓC TRĂNG" (may be empty).
    pub agency_parent: String,
    /// The receiving agency, e.g. "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng".
    pub agency_name: String,
    /// Place named in the date line.
    pub place: String,
    /// (6) Where the citizen collects the result.
    pub result_place: String,
    /// Time of day printed with the appointment date, `HH:MM`.
    pub appointment_time: String,
    /// Footer lines (lookup hint, hotline).
    pub footer: Vec<String>,
}

impl Default for ReceiptSettings {
    fn default() -> Self {
        Self {
            agency_parent: String::new(),
            agency_name: "Bộ phận Một cửa".into(),
            place: String::new(),
            result_place: "Bộ phận tiếp nhận và trả kết quả".into(),
            appointment_time: "14:00".into(),
            footer: vec![
                "Tra cứu hồ sơ: quét mã QR tại ki-ốt / Scan the QR at the kiosk to check status"
                    .into(),
                "Giữ kín mã tra cứu; mất giấy này, mang căn cước đến quầy / Keep the lookup code \
                 private; lost this slip? Bring your ID card to the counter"
                    .into(),
            ],
        }
    }
}

/// A same-day procedure received after the hour results are handed out is due the next
/// working day: an appointment must never be earlier than the receipt.
pub fn effective_processing_days(
    procedure: &Procedure,
    settings: &ReceiptSettings,
    received_at: DateTime<FixedOffset>,
) -> u32 {
    let cutoff =
        NaiveTime::parse_from_str(&settings.appointment_time, "%H:%M").unwrap_or(NaiveTime::MIN);
    if procedure.processing_days == 0 && received_at.time() >= cutoff {
        1
    } else {
        procedure.processing_days
    }
}

/// How a document is handed in, in Vietnamese ("bản chính", ...).
pub fn kind_vi(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Original => "bản chính",
        DocumentKind::CertifiedCopy => "bản sao chứng thực",
        DocumentKind::Photocopy => "bản chụp",
    }
}

/// The receipt of a stored dossier, with its lookup secret (`Store::lookup_secret`, derived
/// again at every print, so a reprint shows the same one) in the QR and printed as text.
pub fn receipt_content(
    submission: &DossierSubmission,
    procedure: &Procedure,
    settings: &ReceiptSettings,
    qr_template: &str,
    lookup_secret: LookupSecret,
) -> Result<ReceiptContent, PrinterError> {
    let time =
        NaiveTime::parse_from_str(&settings.appointment_time, "%H:%M").unwrap_or(NaiveTime::MIN);
    let offset = *submission.received_at.offset();
    let appointment: DateTime<FixedOffset> = offset
        .from_local_datetime(&submission.appointment_date.and_time(time))
        .single()
        .unwrap_or(submission.received_at);
    let fields = ReceiptFields {
        dossier_code: submission.code.clone(),
        procedure_code: submission.procedure_code.clone(),
        applicant_id: submission.applicant.id_number.clone(),
        document_name: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả".into(),
        issuer: format!("MOTCUA:{}", submission.device_id),
        issued_at: submission.received_at,
        appointment_date: submission.appointment_date,
        lookup_secret: Some(lookup_secret),
    };
    let documents = submission
        .documents
        .iter()
        .map(|d| SubmittedDocument {
            kind: procedure
                .documents
                .iter()
                .find(|r| r.name_vi == d.name)
                .map_or("bản chụp", |r| kind_vi(r.kind))
                .to_owned(),
            name: d.name.clone(),
            count: 1,
        })
        .collect();
    Ok(ReceiptContent {
        agency_parent: settings.agency_parent.clone(),
        agency_name: settings.agency_name.clone(),
        place: settings.place.clone(),
        dossier_code: submission.code.clone(),
        applicant_name: submission.applicant.full_name.clone(),
        applicant_address: submission.applicant.address.clone(),
        applicant_phone: submission.applicant.phone.clone(),
        applicant_email: submission.applicant.email.clone(),
        procedure_name: procedure.name_vi.clone(),
        documents,
        sets: 1,
        processing_time: match procedure.processing_days {
            0 => "trong ngày làm việc".into(),
            n => format!("{n:02} ngày làm việc"),
        },
        received_at: submission.received_at,
        appointment,
        result_place: settings.result_place.clone(),
        received_by: format!("Ki-ốt tự phục vụ {}", submission.device_id),
        footer: settings.footer.clone(),
        qr_payload: receipt_qr_payload(qr_template, &fields)?,
        lookup_code: lookup_secret.to_string(),
    })
}

/// Why a receipt could not be printed; the dossier itself is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// No `[printer]` in the config.
    #[error("chưa cấu hình máy in / no printer is configured (section [printer])")]
    NoPrinter,
    /// The code is not in the store.
    #[error("không có hồ sơ {0} trên máy này / no dossier {0} on this kiosk")]
    UnknownDossier(String),
    /// The dossier's procedure is no longer in the catalog.
    #[error("procedure {0} of this dossier is not in the catalog any more")]
    UnknownProcedure(String),
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] motcua_store::error::StoreError),
    /// Rendering or printing failed (paper out, cover open, offline, timeout…).
    #[error("{0}; hồ sơ vẫn được lưu, có thể in lại / the dossier is kept and can be reprinted")]
    Printer(#[from] PrinterError),
}

/// Prints (or reprints) the receipt of a stored dossier on the configured printer.
/// Blocking: call it from a blocking thread under tokio.
pub fn print_receipt(
    printer: Option<&crate::devices::PrinterConfig>,
    settings: &ReceiptSettings,
    store: &motcua_store::Store,
    code: &str,
) -> Result<motcua_printer::Status, ReceiptError> {
    use motcua_printer::Printer;
    let printer = printer.ok_or(ReceiptError::NoPrinter)?;
    let submission = store
        .dossier(code)?
        .ok_or_else(|| ReceiptError::UnknownDossier(code.to_owned()))?;
    let catalog = store.catalog()?;
    let procedure = catalog
        .find(&submission.procedure_code)
        .ok_or_else(|| ReceiptError::UnknownProcedure(submission.procedure_code.clone()))?;
    let content = receipt_content(
        &submission,
        procedure,
        settings,
        &printer.qr_template,
        store.lookup_secret(code),
    )?;
    let renderer = motcua_printer::Renderer::new(&printer.fonts)?;
    let job = renderer.receipt_job(
        &content,
        printer.paper,
        &motcua_printer::EncodeOptions::default(),
    )?;
    let mut device = motcua_printer::EscPosPrinter::new(
        printer.transport.clone(),
        motcua_printer::Timeouts::default(),
    );
    Ok(device.print(&job)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_same_day_procedure_after_the_result_hour_is_due_the_next_working_day() {
        let mut p = motcua_domain::catalog::seed().procedures[0].clone();
        p.processing_days = 0;
        let settings = ReceiptSettings::default();
        let vn = motcua_domain::vietnam_offset();
        let morning = vn.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let evening = vn.with_ymd_and_hms(2026, 11, 23, 16, 30, 0).unwrap();
        assert_eq!(effective_processing_days(&p, &settings, morning), 0);
        assert_eq!(effective_processing_days(&p, &settings, evening), 1);
        p.processing_days = 3;
        assert_eq!(effective_processing_days(&p, &settings, evening), 3);
    }
}
