//! The records the scenarios send: the catalog the gateway serves, dossiers, ratings, tickets
//! and the bytes of blobs, all at the test site and time.

use motcua_domain::catalog::{Catalog, DocumentKind, Procedure, RequiredDocument};
use motcua_domain::wire::{
    Applicant, DocumentRef, DossierSubmission, RatingSubmission, TicketIssued,
};

use super::sha_hex;

pub fn catalog() -> Catalog {
    Catalog {
        version: "2026.1".into(),
        procedures: vec![Procedure {
            code: "1.001193".into(),
            name_vi: "Đăng ký khai sinh".into(),
            name_en: "Birth registration".into(),
            field_vi: "Hộ tịch".into(),
            field_en: "Civil status".into(),
            processing_days: 0,
            fee_vnd: 0,
            agency_code: "000.17.22.H56".into(),
            documents: vec![RequiredDocument {
                name_vi: "Giấy chứng sinh".into(),
                name_en: "Birth certificate".into(),
                kind: DocumentKind::Original,
                count: 1,
                mandatory: true,
                kind_code: None,
            }],
        }],
    }
}

pub fn document(data: &[u8]) -> DocumentRef {
    DocumentRef {
        name: "Giấy chứng sinh".into(),
        file_name: "giay-chung-sinh.pdf".into(),
        media_type: "application/pdf".into(),
        size: data.len() as u64,
        sha256: sha_hex(data),
    }
}

pub fn vn_time() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-05-31T09:15:00+07:00").expect("time")
}

/// The lookup secret printed on every test receipt; [`dossier`] delivers its hash.
pub const SECRET: &str = "7KQ2-M9XD";

/// The hash a kiosk delivers for `code` with [`SECRET`].
pub fn secret_hash(code: &str) -> String {
    let secret = motcua_domain::lookup_secret::LookupSecret::parse(SECRET).expect("secret");
    motcua_domain::lookup_secret::lookup_hash(code, &secret)
}

pub fn dossier(device: &str, code: &str, docs: Vec<DocumentRef>) -> DossierSubmission {
    DossierSubmission {
        code: code.into(),
        procedure_code: "1.001193".into(),
        agency_code: "000.17.22.H56".into(),
        device_id: device.into(),
        applicant: Applicant {
            full_name: "Nguyễn Văn An".into(),
            id_number: Some("079201001234".into()),
            birth_date: None,
            address: "Phường 1, Sóc Trăng".into(),
            phone: "0900000000".into(),
            email: String::new(),
        },
        received_at: vn_time(),
        appointment_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 5).expect("date"),
        documents: docs,
        lookup_sha256: Some(secret_hash(code)),
        reused_documents: Vec::new(),
    }
}

pub fn rating(device: &str, transaction: &str, level: u8) -> RatingSubmission {
    RatingSubmission {
        transaction: transaction.into(),
        device_id: device.into(),
        scale_levels: 5,
        level,
        score: 2,
        rated_at: vn_time(),
    }
}

pub fn ticket(device: &str, id: &str, number: u32) -> TicketIssued {
    TicketIssued {
        ticket_id: id.into(),
        service_area: "HT".into(),
        number,
        device_id: device.into(),
        issued_at: vn_time(),
    }
}

pub fn blob(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
