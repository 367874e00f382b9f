//! The release key: the gateway signs each release manifest with it, and a kiosk installs a
//! package only if its manifest opens with the release public key from its config (and the
//! package's SHA-256 is the manifest's).
//!
//! The signed text is `MOTCUA-RELEASE1.<base64url(manifest JSON)>.<base64url(signature)>`; the
//! manifest's meaning (`motcua_domain::release::ReleaseManifest`) is the domain's, this module
//! only seals and opens its bytes. A manifest on the wire or on the kiosk's disk is only ever
//! trusted after [`TrustedReleaseKey::open`].

use crate::signed::{SignedError, SigningKey, TrustedKey};

/// The prefix of every signed release manifest; the digit is the format's version.
pub const RELEASE_PREFIX: &str = "MOTCUA-RELEASE1.";
const PEM_LABEL: &str = "MOTCUA RELEASE PRIVATE KEY";

/// Why a release key or a signed manifest was refused, for a technician: Vietnamese first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseSignatureError {
    /// The key file or text cannot be read.
    #[error("khoá phát hành / release key: {0}")]
    Key(String),
    /// Not a signed manifest, or a damaged one.
    #[error("bản kê phát hành bị hỏng / the release manifest is damaged: {0}")]
    Malformed(String),
    /// Altered, or signed by another key.
    #[error("chữ ký bản kê phát hành không hợp lệ (bị sửa hoặc không do tỉnh ký) / the release manifest's signature is not valid: altered, or not signed by this province")]
    BadSignature,
}

impl From<SignedError> for ReleaseSignatureError {
    fn from(e: SignedError) -> Self {
        match e {
            SignedError::Key(d) => Self::Key(d),
            SignedError::WrongPrefix => {
                Self::Malformed(format!("it does not start with {RELEASE_PREFIX}"))
            }
            SignedError::Malformed(d) => Self::Malformed(d),
            SignedError::BadSignature => Self::BadSignature,
        }
    }
}

/// The gateway's release signing key (Ed25519), separate from the provisioning key.
#[derive(Debug)]
pub struct ReleaseKey(SigningKey);

impl ReleaseKey {
    /// A new random key.
    pub fn generate() -> Result<Self, ReleaseSignatureError> {
        Ok(Self(SigningKey::generate(PEM_LABEL)?))
    }

    /// Reads the PEM text written by [`ReleaseKey::to_pem`].
    pub fn from_pem(text: &str) -> Result<Self, ReleaseSignatureError> {
        Ok(Self(SigningKey::from_pem(text, PEM_LABEL)?))
    }

    /// The key as PEM (keep it 0600: whoever has it can install software on every kiosk).
    pub fn to_pem(&self) -> String {
        self.0.to_pem()
    }

    /// The public half, as written in kiosk config (`ed25519:<base64url>`).
    pub fn public_key(&self) -> String {
        self.0.public_key()
    }

    /// The signed text of a manifest's JSON bytes.
    pub fn seal(&self, manifest_json: &[u8]) -> String {
        self.0.seal(RELEASE_PREFIX, manifest_json)
    }
}

/// The manifest JSON of a text the gateway sealed itself and reads back from its own store,
/// without checking the signature (the gateway need not hold the key to serve). A kiosk never
/// uses this: it opens what it receives with [`TrustedReleaseKey::open`].
pub fn own_manifest_json(text: &str) -> Result<Vec<u8>, ReleaseSignatureError> {
    Ok(crate::signed::own_payload(RELEASE_PREFIX, text)?)
}

/// The release public key a kiosk trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedReleaseKey(TrustedKey);

impl std::str::FromStr for TrustedReleaseKey {
    type Err = ReleaseSignatureError;

    /// Reads `ed25519:<base64url>` (whitespace and `#` comment lines ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.parse()?))
    }
}

impl TrustedReleaseKey {
    /// The manifest JSON of a signed text, once its signature is checked.
    pub fn open(&self, text: &str) -> Result<Vec<u8>, ReleaseSignatureError> {
        Ok(self.0.open(RELEASE_PREFIX, text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup_code::ProvisioningKey;

    fn key() -> ReleaseKey {
        ReleaseKey::generate().unwrap_or_else(|e| panic!("{e}"))
    }

    fn trusted(k: &ReleaseKey) -> TrustedReleaseKey {
        k.public_key().parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_sealed_manifest_opens_with_the_public_key_and_the_pem_round_trips() {
        let k = key();
        let text = k.seal(br#"{"version":"0.2.0-1"}"#);
        assert!(text.starts_with(RELEASE_PREFIX));
        assert_eq!(
            trusted(&k).open(&text),
            Ok(br#"{"version":"0.2.0-1"}"#.to_vec())
        );
        assert_eq!(
            own_manifest_json(&text).ok(),
            Some(br#"{"version":"0.2.0-1"}"#.to_vec())
        );
        let again = ReleaseKey::from_pem(&k.to_pem()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.public_key(), k.public_key());
        assert_eq!(
            trusted(&again).open(&text).ok(),
            Some(br#"{"version":"0.2.0-1"}"#.to_vec())
        );
    }

    #[test]
    fn altered_foreign_and_provisioning_signed_manifests_are_refused() {
        let k = key();
        let text = k.seal(br#"{"version":"0.2.0-1","size":10}"#);
        // One payload character changed (still valid base64url).
        let (head, sig) = text.rsplit_once('.').unwrap_or_default();
        let mut payload: Vec<char> = head[RELEASE_PREFIX.len()..].chars().collect();
        payload[3] = if payload[3] == 'A' { 'B' } else { 'A' };
        let altered = format!(
            "{RELEASE_PREFIX}{}.{sig}",
            payload.iter().collect::<String>()
        );
        assert!(matches!(
            trusted(&k).open(&altered),
            Err(ReleaseSignatureError::BadSignature | ReleaseSignatureError::Malformed(_))
        ));
        assert_eq!(
            trusted(&key()).open(&text),
            Err(ReleaseSignatureError::BadSignature)
        );
        // The provisioning key's PEM is not a release key, and its public key does not open it.
        let provisioning = ProvisioningKey::generate().unwrap_or_else(|e| panic!("{e}"));
        assert!(ReleaseKey::from_pem(&provisioning.to_pem()).is_err());
        let foreign: TrustedReleaseKey = provisioning
            .public_key()
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            foreign.open(&text),
            Err(ReleaseSignatureError::BadSignature)
        );
        assert!(matches!(
            trusted(&k).open("MOTCUA-SETUP1.abc.def"),
            Err(ReleaseSignatureError::Malformed(_))
        ));
        assert!(matches!(
            trusted(&k).open(&format!("{RELEASE_PREFIX}no-signature")),
            Err(ReleaseSignatureError::Malformed(_))
        ));
    }
}
