//! Classification of payloads, one test per kind.

use motcua_domain::cccd::{CccdError, CccdField, Sex, SAMPLE_PAYLOAD as CCCD};
use motcua_scanner::codes::{classify, CodeKind, MAX_PAYLOAD_BYTES};

#[test]
fn a_valid_cccd_is_a_card() {
    // Readers add a BOM or a terminator; both are tolerated.
    for p in [CCCD.to_owned(), format!("\u{feff}{CCCD}\r\n")] {
        match classify(&p) {
            CodeKind::Cccd(card) => {
                assert_eq!(card.full_name, "Nguyễn Thị Phượng");
                assert_eq!(card.sex, Sex::Female);
                assert_eq!(card.id_number, "079190001234");
            }
            other => panic!("{other:?}"),
        }
    }
    let six = "066305001234|H'Hen Niê|01012005|Nữ|Buôn Ko Tam, xã Ea Tu, Đắk Lắk|10052022";
    assert_eq!(classify(six).name(), "cccd");
}

#[test]
fn a_broken_cccd_is_a_cccd_error_for_the_citizen() {
    let cases = [
        (
            CCCD.replace("|05091990|", "|31021990|"),
            CccdError::InvalidDate {
                field: CccdField::BirthDate,
            },
        ),
        (CCCD.replace("|Nữ|", "|Nam|"), CccdError::SexMismatch),
        (
            "079090012345|only|three".to_owned(),
            CccdError::FieldCount { found: 3 },
        ),
        (
            format!("{CCCD}|{}", "x".repeat(600)),
            CccdError::TooLong {
                bytes: CCCD.len() + 601,
            },
        ),
    ];
    for (payload, expected) in cases {
        assert_ne!(payload, CCCD, "the case changes the sample");
        match classify(&payload) {
            CodeKind::CccdInvalid(e) => {
                assert_eq!(e, expected);
                assert!(e.message_vi().contains("Vui lòng quét lại"));
            }
            other => panic!("{other:?}"),
        }
    }
    // Eleven digits is not a CCCD look-alike: it is unknown.
    assert_eq!(classify("07909001234|a|b").name(), "unknown");
}

#[test]
fn our_receipt_is_recognised_by_its_dossier_code() {
    let p = "000.17.22.H56-261123-0001|1.001193|********0123|Giấy tiếp nhận hồ sơ và hẹn trả kết quả|MOTCUA:KIOSK-1|20261123090507|20261126";
    match classify(p) {
        CodeKind::Receipt(r) => {
            assert_eq!(r.code.to_string(), "000.17.22.H56-261123-0001");
            assert_eq!(
                r.secret, None,
                "a receipt printed before the secret was in its QR"
            );
        }
        other => panic!("{other:?}"),
    }
    // Another template with the code elsewhere, and the bare code.
    assert_eq!(classify("HS|000.17.22.H56-261123-0042").name(), "receipt");
    assert_eq!(classify("000.17.22.H56-261123-0042\r").name(), "receipt");
    // Not a real date: not a receipt.
    assert_eq!(classify("000.17.22.H56-261332-0042").name(), "unknown");
}

/// The default template ends with `{lookup_secret}`: the classifier hands the secret on, so a
/// citizen who scans the receipt need not type it, and never shows it in logs.
#[test]
fn a_receipt_carries_its_lookup_secret_when_the_qr_has_one() {
    let p = "000.17.22.H56-261123-0001|1.001193|********0123|Giấy tiếp nhận hồ sơ và hẹn trả kết quả|MOTCUA:KIOSK-1|20261123090507|20261126|7KQ2-M9XD";
    let kind = classify(p);
    match &kind {
        CodeKind::Receipt(r) => {
            assert_eq!(r.code.to_string(), "000.17.22.H56-261123-0001");
            assert_eq!(
                r.secret.map(|s| s.to_string()).as_deref(),
                Some("7KQ2-M9XD")
            );
        }
        other => panic!("{other:?}"),
    }
    let shown = format!("{kind:?}");
    assert!(
        !shown.contains("7KQ2") && !shown.contains("M9XD"),
        "{shown}"
    );
    // Only the printed form is a secret: a bare number in another field is not one.
    match classify("HS|000.17.22.H56-261123-0042|12345678") {
        CodeKind::Receipt(r) => assert_eq!(r.secret, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn separator_sheets_are_recognised() {
    match classify("MOTCUA-SEP1|000.17.22.H56-261123-0001|2|Giấy chứng sinh") {
        CodeKind::Separator(s) => {
            assert_eq!(s.document_index, 2);
            assert_eq!(s.document_name, "Giấy chứng sinh");
        }
        other => panic!("{other:?}"),
    }
    // A separator is checked before receipts although it holds a dossier code.
    assert_eq!(
        classify("MOTCUA-SEP1|000.17.22.H56-261123-0001|0|x").name(),
        "receipt"
    );
}

#[test]
fn urls_are_recognised_and_not_logged() {
    match classify("HTTPS://dichvucong.gov.vn/p/home/dvc-tra-cuu-ho-so.html?ma=abc") {
        CodeKind::Url(u) => assert!(u.starts_with("HTTPS://dichvucong")),
        other => panic!("{other:?}"),
    }
    assert_eq!(classify("http://10.0.0.1/").name(), "url");
    let k = classify("https://example.invalid/secret-token-123");
    assert!(!format!("{k:?}").contains("secret"), "{k:?}");
    for not_url in [
        "https://",
        "https://a b",
        "ftp://x",
        "httpx://y",
        "mailto:a@b",
    ] {
        assert_eq!(classify(not_url).name(), "unknown", "{not_url}");
    }
}

#[test]
fn unknown_empty_and_overlong_payloads() {
    assert_eq!(classify("Xin chào").name(), "unknown");
    assert_eq!(classify("").name(), "unknown");
    assert_eq!(classify(" \u{feff}\r\n").name(), "unknown");
    let big = format!("079090012345|{}", "9".repeat(MAX_PAYLOAD_BYTES));
    assert_eq!(classify(&big), CodeKind::TooLong { bytes: big.len() });
    let at_limit = "a".repeat(MAX_PAYLOAD_BYTES);
    assert_eq!(classify(&at_limit).name(), "unknown");
}

#[test]
fn debug_output_never_shows_personal_data() {
    let shown = format!("{:?}", classify(CCCD));
    for secret in ["Nguyễn", "Phượng", "Lê Lợi", "079190001", "0509"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}
