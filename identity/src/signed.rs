//! Ed25519-signed texts: `<PREFIX><base64url(payload)>.<base64url(signature of the payload)>`.
//!
//! Two things the gateway signs and a kiosk checks offline use this envelope: the provisioning
//! setup code ([`crate::setup_code`], signed with the provisioning key) and the release manifest
//! ([`crate::release`], signed with the release key). The keys are separate on purpose: whoever
//! may provision kiosks may not thereby push software to them. The signature covers the payload
//! bytes exactly as sent, so nothing is re-serialised before it is checked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};

/// How a public key is written in config files and on the command line.
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";

/// Why a key or a signed text could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    /// The key file or text cannot be read.
    #[error("{0}")]
    Key(String),
    /// The text does not start with the expected prefix.
    #[error("not the expected kind of signed text")]
    WrongPrefix,
    /// Starts right but cannot be read.
    #[error("{0}")]
    Malformed(String),
    /// The signature does not match the payload and key.
    #[error("the signature does not match")]
    BadSignature,
}

/// An Ed25519 private key, kept as PKCS#8 in a PEM block with a label naming its job.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
    label: &'static str,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, {})", self.label, self.public_key())
    }
}

impl SigningKey {
    /// A new random key whose PEM block will say `label`.
    pub fn generate(label: &'static str) -> Result<Self, SignedError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| SignedError::Key("the system random source failed".into()))?;
        Self::from_pkcs8(doc.as_ref(), label)
    }

    fn from_pkcs8(der: &[u8], label: &'static str) -> Result<Self, SignedError> {
        let pair = Ed25519KeyPair::from_pkcs8(der)
            .map_err(|e| SignedError::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        Ok(Self {
            pair,
            pkcs8: der.to_vec(),
            label,
        })
    }

    /// Reads the PEM block labelled `label` (written by [`SigningKey::to_pem`]).
    pub fn from_pem(text: &str, label: &'static str) -> Result<Self, SignedError> {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let body = text
            .split_once(&begin)
            .and_then(|(_, rest)| rest.split_once(&end))
            .map(|(b, _)| b)
            .ok_or_else(|| SignedError::Key(format!("no {label} block")))?;
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| SignedError::Key(format!("bad base64: {e}")))?;
        Self::from_pkcs8(&der, label)
    }

    /// The key as PEM (a secret: keep it 0600).
    pub fn to_pem(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.pkcs8);
        let mut out = format!("-----BEGIN {}-----\n", self.label);
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str(&format!("-----END {}-----\n", self.label));
        out
    }

    /// The public half, as written in config (`ed25519:<base64url>`).
    pub fn public_key(&self) -> String {
        format!(
            "{PUBLIC_KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref())
        )
    }

    /// The signed text of `payload`.
    pub fn seal(&self, prefix: &str, payload: &[u8]) -> String {
        let sig = self.pair.sign(payload);
        format!(
            "{prefix}{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        )
    }
}

/// The payload of a sealed text *without* checking its signature: only for the signer reading
/// back a text it sealed and keeps in its own store (the gateway choosing which release to
/// offer). Whoever receives a sealed text opens it with [`TrustedKey::open`].
pub fn own_payload(prefix: &str, text: &str) -> Result<Vec<u8>, SignedError> {
    let rest = text
        .trim()
        .strip_prefix(prefix)
        .ok_or(SignedError::WrongPrefix)?;
    let (payload, _sig) = rest
        .split_once('.')
        .ok_or_else(|| SignedError::Malformed("no signature part".into()))?;
    URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| SignedError::Malformed(format!("payload: {e}")))
}

/// An Ed25519 public key a kiosk trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey([u8; 32]);

impl std::str::FromStr for TrustedKey {
    type Err = SignedError;

    /// Reads `ed25519:<base64url>` (surrounding whitespace and `#` comment lines ignored, so a
    /// key file may say what it is).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let line = s
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default();
        let b64 = line
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .ok_or_else(|| SignedError::Key(format!("expected {PUBLIC_KEY_PREFIX}<base64url>")))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(b64.trim_end_matches('='))
            .map_err(|e| SignedError::Key(format!("bad base64url: {e}")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SignedError::Key("an Ed25519 public key is 32 bytes".into()))?;
        Ok(Self(key))
    }
}

impl TrustedKey {
    /// The payload of a text sealed with `prefix` by the matching private key, once its
    /// signature is checked.
    pub fn open(&self, prefix: &str, text: &str) -> Result<Vec<u8>, SignedError> {
        let rest = text
            .trim()
            .strip_prefix(prefix)
            .ok_or(SignedError::WrongPrefix)?;
        let (payload, sig) = rest
            .split_once('.')
            .ok_or_else(|| SignedError::Malformed("no signature part".into()))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|e| SignedError::Malformed(format!("payload: {e}")))?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|e| SignedError::Malformed(format!("signature: {e}")))?;
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(&payload, &sig)
            .map_err(|_| SignedError::BadSignature)?;
        Ok(payload)
    }
}
