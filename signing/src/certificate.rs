//! The signer's certificate: who it names, when it is valid, and which kind of key it holds.

use chrono::{DateTime, Utc};
use der::asn1::{PrintableStringRef, Utf8StringRef};
use der::{Decode, Encode};
use x509_cert::name::Name;
use x509_cert::Certificate;

use crate::SigningError;

const COMMON_NAME: der::asn1::ObjectIdentifier = const_oid::db::rfc4519::CN;
const RSA_ENCRYPTION: der::asn1::ObjectIdentifier = const_oid::db::rfc5912::RSA_ENCRYPTION;
const EC_PUBLIC_KEY: der::asn1::ObjectIdentifier = const_oid::db::rfc5912::ID_EC_PUBLIC_KEY;

/// The kind of key behind a certificate, which decides the signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, signed as RSASSA-PKCS1-v1_5 with SHA-256 (what Vietnamese CA tokens hold).
    Rsa,
    /// ECDSA on P-256 with SHA-256.
    EcP256,
}

/// A parsed signing certificate.
#[derive(Debug, Clone)]
pub struct SignerCertificate {
    der: Vec<u8>,
    cert: Certificate,
    /// The subject's common name (the officer's name, as the CA wrote it).
    pub name: String,
    /// The issuer's common name.
    pub issuer: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// The key's kind.
    pub key: KeyKind,
}

fn common_name(name: &Name) -> Option<String> {
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find_map(|atv| {
        if atv.oid != COMMON_NAME {
            return None;
        }
        let value = &atv.value;
        Utf8StringRef::try_from(value)
            .map(|s| s.as_str().to_owned())
            .or_else(|_| PrintableStringRef::try_from(value).map(|s| s.as_str().to_owned()))
            .ok()
    })
}

fn to_utc(time: x509_cert::time::Time) -> DateTime<Utc> {
    let secs = time.to_unix_duration().as_secs() as i64;
    DateTime::from_timestamp(secs, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

impl SignerCertificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, SigningError> {
        let cert = Certificate::from_der(der)
            .map_err(|e| SigningError::Unusable(format!("certificate: {e}")))?;
        let tbs = &cert.tbs_certificate;
        let algorithm = tbs.subject_public_key_info.algorithm.oid;
        let key = if algorithm == RSA_ENCRYPTION {
            KeyKind::Rsa
        } else if algorithm == EC_PUBLIC_KEY {
            let curve = tbs
                .subject_public_key_info
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
            if curve != Some(const_oid::db::rfc5912::SECP_256_R_1) {
                return Err(SigningError::Unusable("an EC key not on P-256".to_owned()));
            }
            KeyKind::EcP256
        } else {
            return Err(SigningError::Unusable(format!("key algorithm {algorithm}")));
        };
        Ok(Self {
            name: common_name(&tbs.subject).unwrap_or_else(|| tbs.subject.to_string()),
            issuer: common_name(&tbs.issuer).unwrap_or_else(|| tbs.issuer.to_string()),
            not_before: to_utc(tbs.validity.not_before),
            not_after: to_utc(tbs.validity.not_after),
            key,
            der: der.to_vec(),
            cert,
        })
    }

    /// The certificate's DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The issuer and serial number naming this certificate in a CMS signer info.
    pub fn issuer_and_serial(&self) -> cms::cert::IssuerAndSerialNumber {
        cms::cert::IssuerAndSerialNumber {
            issuer: self.cert.tbs_certificate.issuer.clone(),
            serial_number: self.cert.tbs_certificate.serial_number.clone(),
        }
    }

    /// Refuses a certificate that is expired or not yet valid at `now`: a signature made
    /// with it would not be accepted as the officer's.
    pub fn check_valid_at(&self, now: DateTime<Utc>) -> Result<(), SigningError> {
        if now > self.not_after {
            return Err(SigningError::CertificateNotValid {
                name: self.name.clone(),
                state: "đã hết hạn",
                state_en: "expired",
                date: self.not_after.to_rfc3339(),
            });
        }
        if now < self.not_before {
            return Err(SigningError::CertificateNotValid {
                name: self.name.clone(),
                state: "chưa có hiệu lực",
                state_en: "is not valid yet",
                date: self.not_before.to_rfc3339(),
            });
        }
        Ok(())
    }

    /// DER length, to size the signature's placeholder.
    pub fn encoded_len(&self) -> usize {
        self.cert
            .encoded_len()
            .map(|l| u32::from(l) as usize)
            .unwrap_or(self.der.len())
    }
}
