//! `printer-bench`: median time to lay out, raster and encode a receipt and a ticket, with
//! references measured in the same run (encoding an already-rastered receipt; the QR alone).
//! It asserts nothing; run it in release: `cargo run --release -p motcua-printer --bin printer-bench`.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone};
use motcua_domain::qr_payload::{render_receipt, ReceiptFields, DEFAULT_RECEIPT_TEMPLATE};
use motcua_printer::qr::QrModules;
use motcua_printer::{
    escpos, EncodeOptions, FontConfig, Paper, ReceiptContent, Renderer, SubmittedDocument,
    TicketContent,
};

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    f(); // warm-up (glyph cache)
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[t.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tz = motcua_domain::vietnam_offset();
    let received_at = tz
        .with_ymd_and_hms(2026, 11, 23, 9, 5, 7)
        .single()
        .ok_or("bad date")?;
    let appointment = tz
        .with_ymd_and_hms(2026, 11, 26, 14, 0, 0)
        .single()
        .ok_or("bad date")?;
    let fields = ReceiptFields {
        dossier_code: "000.17.22.H56-261123-0001".into(),
        procedure_code: "1.001193".into(),
        applicant_id: Some("094186000123".into()),
        document_name: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả".into(),
        issuer: "MOTCUA:KIOSK-H56-0001".into(),
        issued_at: received_at,
        appointment_date: NaiveDate::from_ymd_opt(2026, 11, 26).ok_or("bad date")?,
        lookup_secret: motcua_domain::lookup_secret::LookupSecret::parse("7KQ2-M9XD").ok(),
    };
    let doc = |name: &str| SubmittedDocument {
        name: name.into(),
        kind: "Bản chính".into(),
        count: 1,
    };
    let receipt = ReceiptContent {
        agency_parent: "UBND TỈNH SÓC TRĂNG".into(),
        agency_name: "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng".into(),
        place: "Sóc Trăng".into(),
        dossier_code: fields.dossier_code.clone(),
        applicant_name: "Nguyễn Thị Phượng".into(),
        applicant_address:
            "Số 123/45 đường Nguyễn Huệ, khóm 4, phường Khánh Hòa, thị xã Vĩnh Châu, tỉnh Sóc Trăng"
                .into(),
        applicant_phone: "0912 345 678".into(),
        applicant_email: String::new(),
        procedure_name: "Đăng ký khai sinh".into(),
        documents: vec![
            doc("Tờ khai đăng ký khai sinh theo mẫu"),
            doc("Giấy chứng sinh"),
        ],
        sets: 1,
        processing_time: "03 ngày làm việc".into(),
        received_at,
        appointment,
        result_place: "Quầy số 3, Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng".into(),
        received_by: "Ki-ốt tự phục vụ KIOSK-H56-0001".into(),
        footer: vec!["Tra cứu hồ sơ: quét mã QR tại ki-ốt".into()],
        qr_payload: render_receipt(DEFAULT_RECEIPT_TEMPLATE, &fields)?,
        lookup_code: "7KQ2-M9XD".into(),
    };
    let ticket = TicketContent {
        centre_name: "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG TỈNH SÓC TRĂNG".into(),
        number: 1012,
        service_area_vi: "Hộ tịch".into(),
        service_area_en: "Civil status".into(),
        counter_vi: "Quầy số 3".into(),
        counter_en: "Counter 3".into(),
        printed_at: received_at,
        waiting: Some(5),
        expected_wait_min: Some(15),
        wait_text: None,
        notice: None,
        qr_payload: Some("HT-20261123-1012".into()),
        footer: vec![],
    };
    let renderer = Renderer::new(&FontConfig::default())?;
    let opts = EncodeOptions::default();
    let runs = 51;
    println!("printer-bench: median of {runs} runs (after one warm-up)");
    for paper in [Paper::Mm80, Paper::Mm58] {
        let mut bytes = 0;
        let t = median(
            || {
                bytes = renderer
                    .receipt_job(&receipt, paper, &opts)
                    .map(|j| j.bytes.len())
                    .unwrap_or(0)
            },
            runs,
        );
        println!(
            "receipt {:>3} dots: layout + raster + encode {:>8.2} ms ({bytes} bytes)",
            paper.dots(),
            t.as_secs_f64() * 1e3
        );
        let t = median(
            || {
                bytes = renderer
                    .ticket_job(&ticket, paper, &opts)
                    .map(|j| j.bytes.len())
                    .unwrap_or(0)
            },
            runs,
        );
        println!(
            "ticket  {:>3} dots: layout + raster + encode {:>8.2} ms ({bytes} bytes)",
            paper.dots(),
            t.as_secs_f64() * 1e3
        );
    }
    let bitmap = renderer.receipt(&receipt, Paper::Mm80)?;
    let t = median(|| bytes_len(escpos::encode_raster(&bitmap, &opts)), runs);
    println!(
        "reference: encode an already-rastered 80 mm receipt   {:>8.3} ms",
        t.as_secs_f64() * 1e3
    );
    let t = median(
        || {
            let _ = QrModules::encode(&receipt.qr_payload);
        },
        runs,
    );
    println!(
        "reference: QR code alone (receipt payload)              {:>8.3} ms",
        t.as_secs_f64() * 1e3
    );
    Ok(())
}

fn bytes_len(v: Vec<u8>) {
    std::hint::black_box(v);
}
