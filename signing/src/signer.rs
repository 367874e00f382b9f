//! Who signs: a key that signs bytes, and its certificate. The officer's key lives on a
//! PKCS#11 token ([`crate::TokenSigner`]); [`SoftwareSigner`] reads a key file and exists for
//! the demo and tests only.

use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair};

use crate::certificate::{KeyKind, SignerCertificate};
use crate::error::io_error;
use crate::SigningError;

/// A signing key with its certificate.
pub trait Signer {
    /// The signer's certificate.
    fn certificate(&self) -> &SignerCertificate;

    /// Signs `data` (SHA-256 is computed here or on the token): RSASSA-PKCS1-v1_5 bytes for an
    /// RSA key, a DER `ECDSA-Sig-Value` for an EC key.
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SigningError>;
}

enum SoftwareKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A key read from a PKCS#8 file, for the demo and tests: an officer's key belongs on a token.
pub struct SoftwareSigner {
    key: SoftwareKey,
    certificate: SignerCertificate,
    rng: SystemRandom,
}

/// The DER inside a PEM file's first block, or the bytes themselves when they are DER.
fn pem_or_der(bytes: &[u8], label: &str) -> Result<Vec<u8>, SigningError> {
    use base64::Engine;
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let Some(start) = text.find(&begin) else {
        return Err(SigningError::Unusable(format!("no {begin}")));
    };
    let body = &text[start + begin.len()..];
    let Some(stop) = body.find(&end) else {
        return Err(SigningError::Unusable(format!("no {end}")));
    };
    let body: String = body[..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|e| SigningError::Unusable(format!("{label}: {e}")))
}

impl SoftwareSigner {
    /// Reads a PKCS#8 private key (PEM or DER; RSA or P-256) and its certificate (PEM or DER).
    pub fn from_files(key: &Path, certificate: &Path) -> Result<Self, SigningError> {
        let key_bytes = std::fs::read(key).map_err(io_error("reading", key))?;
        let cert_bytes = std::fs::read(certificate).map_err(io_error("reading", certificate))?;
        Self::from_der(
            &pem_or_der(&key_bytes, "PRIVATE KEY")?,
            &pem_or_der(&cert_bytes, "CERTIFICATE")?,
        )
    }

    /// A signer from PKCS#8 and certificate DER; the key must match the certificate.
    pub fn from_der(pkcs8: &[u8], certificate: &[u8]) -> Result<Self, SigningError> {
        let certificate = SignerCertificate::from_der(certificate)?;
        let rng = SystemRandom::new();
        let (key, public) = match certificate.key {
            KeyKind::Rsa => {
                let key = RsaKeyPair::from_pkcs8(pkcs8)
                    .map_err(|e| SigningError::Unusable(format!("RSA PKCS#8: {e}")))?;
                let public = key.public_key().as_ref().to_vec();
                (SoftwareKey::Rsa(key), public)
            }
            KeyKind::EcP256 => {
                let key = EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    pkcs8,
                    &rng,
                )
                .map_err(|e| SigningError::Unusable(format!("EC PKCS#8: {e}")))?;
                let public = key.public_key().as_ref().to_vec();
                (SoftwareKey::Ec(key), public)
            }
        };
        let in_certificate = certificate
            .certificate()
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        if in_certificate != public.as_slice() {
            return Err(SigningError::Unusable(
                "the key does not match the certificate".to_owned(),
            ));
        }
        Ok(Self {
            key,
            certificate,
            rng,
        })
    }
}

impl Signer for SoftwareSigner {
    fn certificate(&self) -> &SignerCertificate {
        &self.certificate
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.key {
            SoftwareKey::Rsa(key) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    data,
                    &mut out,
                )
                .map_err(|e| SigningError::Token(e.to_string()))?;
                Ok(out)
            }
            SoftwareKey::Ec(key) => key
                .sign(&self.rng, data)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| SigningError::Token(e.to_string())),
        }
    }
}
