//! Sample slips and an independent QR reader (Debian `zbar-tools`' `zbarimg`) for the tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use chrono::{NaiveDate, TimeZone};
use motcua_domain::qr_payload::{ReceiptFields, DEFAULT_RECEIPT_TEMPLATE};
use motcua_printer::{receipt_qr_payload, ReceiptContent, SubmittedDocument, TicketContent};

/// A receipt for a birth registration, with a long address and a payload full of diacritics.
pub fn sample_receipt() -> ReceiptContent {
    let tz = motcua_domain::vietnam_offset();
    let received_at = tz.with_ymd_and_hms(2026, 11, 23, 9, 5, 7).unwrap();
    let appointment = tz.with_ymd_and_hms(2026, 11, 26, 14, 0, 0).unwrap();
    let fields = ReceiptFields {
        dossier_code: "000.17.22.H56-261123-0001".into(),
        procedure_code: "1.001193".into(),
        applicant_id: Some("094186000123".into()),
        document_name: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả — Nguyễn Thị Phượng".into(),
        issuer: "MOTCUA:KIOSK-H56-0001".into(),
        issued_at: received_at,
        appointment_date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
        lookup_secret: motcua_domain::lookup_secret::LookupSecret::parse("7KQ2-M9XD").ok(),
    };
    ReceiptContent {
        agency_parent: "UBND TỈNH SÓC TRĂNG".into(),
        agency_name: "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng".into(),
        place: "Sóc Trăng".into(),
        dossier_code: "000.17.22.H56-261123-0001".into(),
        // Decomposed on purpose (e + U+0302 + U+0303...): the printer must NFC-normalise.
        applicant_name: "Nguye\u{302}\u{303}n Thị Phượng".into(),
        applicant_address: "Số 123/45 đường Nguyễn Huệ, khóm 4, phường Khánh Hòa, thị xã Vĩnh Châu, tỉnh Sóc Trăng".into(),
        applicant_phone: "0912 345 678".into(),
        applicant_email: "phuong.nguyen@example.vn".into(),
        procedure_name: "Đăng ký khai sinh".into(),
        documents: vec![
            SubmittedDocument { name: "Tờ khai đăng ký khai sinh theo mẫu".into(), kind: "Bản chính".into(), count: 1 },
            SubmittedDocument { name: "Giấy chứng sinh do cơ sở y tế nơi trẻ em sinh ra cấp".into(), kind: "Bản chính".into(), count: 1 },
            SubmittedDocument { name: "Giấy chứng nhận kết hôn của cha, mẹ trẻ em".into(), kind: "Bản sao chứng thực".into(), count: 1 },
        ],
        sets: 1,
        processing_time: "03 ngày làm việc".into(),
        received_at,
        appointment,
        result_place: "Quầy số 3, Bộ phận Một cửa, Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng, hoặc qua dịch vụ bưu chính công ích".into(),
        received_by: "Ki-ốt tự phục vụ KIOSK-H56-0001".into(),
        footer: vec![
            "Tra cứu hồ sơ: quét mã QR tại ki-ốt".into(),
            "Đường dây nóng: 0299 3 822 222".into(),
        ],
        qr_payload: receipt_qr_payload(DEFAULT_RECEIPT_TEMPLATE, &fields).unwrap(),
        lookup_code: "7KQ2-M9XD".into(),
    }
}

/// A queue ticket.
pub fn sample_ticket() -> TicketContent {
    let tz = motcua_domain::vietnam_offset();
    TicketContent {
        centre_name: "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG TỈNH SÓC TRĂNG".into(),
        number: 1012,
        service_area_vi: "Hộ tịch – Chứng thực".into(),
        service_area_en: "Civil status – Certification".into(),
        counter_vi: "Quầy số 3".into(),
        counter_en: "Counter 3".into(),
        printed_at: tz.with_ymd_and_hms(2026, 11, 23, 9, 5, 7).unwrap(),
        waiting: Some(5),
        expected_wait_min: Some(15),
        wait_text: None,
        notice: None,
        qr_payload: Some("HT-20261123-1012|Hộ tịch|Đánh giá mức độ hài lòng".into()),
        footer: vec!["Xin cảm ơn quý ông/bà! / Thank you!".into()],
    }
}

/// Decodes every QR code in a PNG with `zbarimg`, as raw bytes turned into text.
pub fn zbar(png: &Path) -> Vec<String> {
    let out = Command::new("zbarimg")
        .args(["--raw", "-q", "-Sbinary", "--oneshot"])
        .arg(png)
        .output()
        .expect("zbarimg runs (Debian package zbar-tools)");
    assert!(
        out.status.success(),
        "zbarimg found no code in {}: {:?}",
        png.display(),
        out
    );
    let text = String::from_utf8(out.stdout).expect("QR payload is UTF-8");
    // With -Sbinary zbarimg prints the payload bytes as they are, followed by a newline.
    vec![text.strip_suffix('\n').unwrap_or(&text).to_owned()]
}
