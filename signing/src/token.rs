//! The officer's key on a PKCS#11 token (a USB token from a licensed CA, or SoftHSM2 in tests),
//! through the token maker's PKCS#11 module and the `cryptoki` crate.
//!
//! The PIN is used once, for the login, and not kept: what stays is the logged-in session,
//! until the batch is signed and [`TokenSigner::close`] (or drop, at the session wipe) logs out.
//! The key never leaves the token: the token hashes and signs.

use std::path::Path;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use crate::certificate::{KeyKind, SignerCertificate};
use crate::signer::Signer;
use crate::SigningError;

/// Which token to use.
#[derive(Debug, Clone)]
pub struct TokenChoice<'a> {
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`, or the CA's library).
    pub module: &'a Path,
    /// Only a token with this label; the first token present when `None`.
    pub label: Option<&'a str>,
}

/// A logged-in session on the officer's token, with the key and certificate found on it.
pub struct TokenSigner {
    // Field order matters: the session is closed before the library is finalized.
    session: Option<Session>,
    key: ObjectHandle,
    certificate: SignerCertificate,
    token_label: String,
    _context: Pkcs11,
}

fn token_error(error: CkError) -> SigningError {
    match error {
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _) => {
            SigningError::WrongPin
        }
        CkError::Pkcs11(RvError::PinLocked, _) => SigningError::PinLocked,
        CkError::Pkcs11(
            RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SessionHandleInvalid,
            _,
        ) => SigningError::TokenMissing(String::new()),
        other => SigningError::Token(other.to_string()),
    }
}

impl TokenSigner {
    /// Opens the token, logs in with `pin` and finds the signing key with its certificate.
    /// The certificate must be valid now.
    pub fn open(choice: &TokenChoice<'_>, pin: &str) -> Result<Self, SigningError> {
        if pin.is_empty() {
            return Err(SigningError::NoPin);
        }
        let context = Pkcs11::new(choice.module).map_err(|e| SigningError::Module {
            module: choice.module.to_path_buf(),
            detail: e.to_string(),
        })?;
        context
            .initialize(CInitializeArgs::OsThreads)
            .map_err(|e| SigningError::Module {
                module: choice.module.to_path_buf(),
                detail: e.to_string(),
            })?;
        let missing = || {
            SigningError::TokenMissing(match choice.label {
                Some(label) => format!(" \"{label}\""),
                None => String::new(),
            })
        };
        let mut found = None;
        for slot in context.get_slots_with_token().map_err(token_error)? {
            let Ok(info) = context.get_token_info(slot) else {
                continue;
            };
            if !info.token_initialized() {
                continue;
            }
            let label = info.label().trim().to_owned();
            if choice.label.is_none_or(|wanted| wanted == label) {
                found = Some((slot, label));
                break;
            }
        }
        let (slot, token_label) = found.ok_or_else(missing)?;
        let session = context.open_ro_session(slot).map_err(token_error)?;
        session
            .login(UserType::User, Some(&AuthPin::new(pin.into())))
            .map_err(token_error)?;
        let (key, certificate) = find_key_and_certificate(&session)?;
        certificate.check_valid_at(chrono::Utc::now())?;
        tracing::info!(token = %token_label, signer = %certificate.name, "signing token opened");
        Ok(Self {
            session: Some(session),
            key,
            certificate,
            token_label,
            _context: context,
        })
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// Logs out and closes the session (also done on drop).
    pub fn close(mut self) {
        self.logout();
    }

    fn logout(&mut self) {
        if let Some(session) = self.session.take() {
            if let Err(error) = session.logout() {
                tracing::debug!(%error, "token logout");
            }
        }
    }
}

impl Drop for TokenSigner {
    fn drop(&mut self) {
        self.logout();
    }
}

/// The first private signing key whose `CKA_ID` has an X.509 certificate beside it.
fn find_key_and_certificate(
    session: &Session,
) -> Result<(ObjectHandle, SignerCertificate), SigningError> {
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Sign(true),
        ])
        .map_err(token_error)?;
    for key in keys {
        let Some(id) = session
            .get_attributes(key, &[AttributeType::Id])
            .map_err(token_error)?
            .into_iter()
            .find_map(|a| match a {
                Attribute::Id(id) => Some(id),
                _ => None,
            })
        else {
            continue;
        };
        let certificates = session
            .find_objects(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Id(id),
            ])
            .map_err(token_error)?;
        for certificate in certificates {
            let value = session
                .get_attributes(certificate, &[AttributeType::Value])
                .map_err(token_error)?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Value(v) => Some(v),
                    _ => None,
                });
            if let Some(der) = value {
                return Ok((key, SignerCertificate::from_der(&der)?));
            }
        }
    }
    Err(SigningError::NoKey)
}

/// A raw `r || s` ECDSA signature (what PKCS#11 returns) as the DER `ECDSA-Sig-Value` CMS
/// carries.
fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, SigningError> {
    if raw.len() % 2 != 0 || raw.is_empty() {
        return Err(SigningError::Token(format!(
            "an ECDSA signature of {} bytes",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    fn integer(bytes: &[u8]) -> Result<der::asn1::UintRef<'_>, SigningError> {
        der::asn1::UintRef::new(bytes).map_err(|e| SigningError::Token(e.to_string()))
    }
    #[derive(der::Sequence)]
    struct EcdsaSig<'a> {
        r: der::asn1::UintRef<'a>,
        s: der::asn1::UintRef<'a>,
    }
    der::Encode::to_der(&EcdsaSig {
        r: integer(r)?,
        s: integer(s)?,
    })
    .map_err(|e| SigningError::Token(e.to_string()))
}

impl Signer for TokenSigner {
    fn certificate(&self) -> &SignerCertificate {
        &self.certificate
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SigningError> {
        let session = self
            .session
            .as_ref()
            .ok_or_else(|| SigningError::TokenMissing(String::new()))?;
        match self.certificate.key {
            KeyKind::Rsa => session
                .sign(&Mechanism::Sha256RsaPkcs, self.key, data)
                .map_err(token_error),
            KeyKind::EcP256 => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(data);
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.key, &digest)
                    .map_err(token_error)?;
                ecdsa_raw_to_der(&raw)
            }
        }
    }
}
