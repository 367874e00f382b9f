//! PAdES signatures made with a software P-256 key on PDFs of the real page pipeline: the
//! original bytes are kept, the structure is one the signer reads back, refusals are clear.
//! (Validation by pdfsig and pyHanko, and SoftHSM2 tokens, are in `tests/tests/signed_copies.rs`.)

use std::path::Path;

use motcua_scanner::pipeline::encode::encode_group4;
use motcua_scanner::pipeline::pdf::{PdfFile, PdfOptions};
use motcua_scanner::pipeline::synth::text_page;
use motcua_signing::{sign_pdf, SignatureDetails, SigningError, SoftwareSigner};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A test CA and an officer certificate (P-256) valid from `not_before` to `not_after`.
fn officer(not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> SoftwareSigner {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(DnType::CommonName, "CA thử nghiệm / test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("officer key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "Nguyễn Thị Hoa");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::ContentCommitment,
    ];
    params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = params
        .signed_by(&key, &issuer)
        .expect("officer certificate");
    SoftwareSigner::from_der(&key.serialize_der(), cert.der()).expect("signer")
}

fn pipeline_pdf(path: &Path, pages: u32) {
    let mut pdf = PdfFile::create_with(path, "HS-1 – GT-1 – Giấy khai sinh", PdfOptions::default())
        .expect("pdf");
    for n in 1..=pages {
        let page = text_page(150, n, u64::from(n));
        pdf.add_page(&encode_group4(&page, 150, 128)).expect("page");
    }
    pdf.finish().expect("finish");
}

fn details() -> SignatureDetails {
    SignatureDetails {
        reason: "Số hoá bản sao tại Bộ phận Một cửa / digitized at the one-stop desk".to_owned(),
        location: "UBND xã Tân Lập".to_owned(),
        signing_time: chrono::DateTime::parse_from_rfc3339("2026-12-03T09:30:00+07:00")
            .expect("time"),
    }
}

#[test]
fn the_signature_is_an_update_after_the_unchanged_original() {
    let dir = tempfile::tempdir().expect("tmp");
    let unsigned = dir.path().join("doc.pdf");
    let signed = dir.path().join("doc.signed.pdf");
    pipeline_pdf(&unsigned, 2);
    let signer = officer((2026, 1, 1), (2028, 1, 1));
    let size = sign_pdf(&unsigned, &signed, &signer, &details()).expect("signed");
    let original = std::fs::read(&unsigned).expect("original");
    let out = std::fs::read(&signed).expect("signed bytes");
    assert_eq!(out.len() as u64, size);
    assert!(
        out.starts_with(&original),
        "the original bytes come first, unchanged"
    );
    let update = String::from_utf8_lossy(&out[original.len()..]);
    assert!(update.contains("/SubFilter /ETSI.CAdES.detached"));
    assert!(update.contains("/Prev "));
    assert!(update.contains("/AcroForm "));
    // The byte range covers the whole file but the contents' hex string.
    let at = update.find("/ByteRange [").expect("byte range") + "/ByteRange [".len();
    let numbers: Vec<u64> = update[at..]
        .split(']')
        .next()
        .expect("range")
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    assert_eq!(numbers.len(), 4);
    assert_eq!(numbers[0], 0);
    assert_eq!(out[numbers[1] as usize], b'<');
    assert_eq!(out[numbers[2] as usize - 1], b'>');
    assert_eq!(numbers[2] + numbers[3], out.len() as u64);
    // A second signature on top is refused: only the pipeline's own PDFs are extended.
    let again = sign_pdf(&signed, &dir.path().join("twice.pdf"), &signer, &details());
    assert!(
        matches!(again, Err(SigningError::NotOurPdf(_))),
        "{again:?}"
    );
}

#[test]
fn an_expired_certificate_signs_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let unsigned = dir.path().join("doc.pdf");
    pipeline_pdf(&unsigned, 1);
    let signer = officer((2020, 1, 1), (2021, 1, 1));
    let out = dir.path().join("signed.pdf");
    let err = sign_pdf(&unsigned, &out, &signer, &details()).expect_err("expired");
    assert!(
        matches!(err, SigningError::CertificateNotValid { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("Nguyễn Thị Hoa") && message.contains("hết hạn"),
        "{message}"
    );
    assert!(!out.exists());
}

#[test]
fn a_file_that_is_not_a_pipeline_pdf_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let other = dir.path().join("other.pdf");
    std::fs::write(
        &other,
        b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\ntrailer\n<< >>\n%%EOF\n",
    )
    .expect("write");
    let signer = officer((2026, 1, 1), (2028, 1, 1));
    let err =
        sign_pdf(&other, &dir.path().join("o.pdf"), &signer, &details()).expect_err("refused");
    assert!(matches!(err, SigningError::NotOurPdf(_)), "{err}");
}
