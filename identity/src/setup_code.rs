//! The provisioning QR ("setup code"): everything a fresh kiosk needs to join the province, in
//! one signed line a technician scans from a printed sheet.
//!
//! A setup code names the gateway, the CA the kiosk must trust (its SHA-256 fingerprint), the
//! site (agency code) and device id of the slot, a one-time enrolment token with its expiry,
//! and the config profile (name and SHA-256 of its text) the kiosk downloads over the
//! authenticated link. It is signed with the gateway's provisioning key (Ed25519): a kiosk
//! accepts only codes signed by the key it was installed with (`/etc/motcua/provisioning.pub`,
//! not a secret), so a code printed by anyone else, or one with a single character changed, is
//! refused before the kiosk talks to anybody.
//!
//! Text form (QR byte mode, about 520 characters: a version 17 code at level M, 85 modules, 8.5 cm
//! wide at 1 mm a module):
//!
//! ```text
//! MOTCUA-SETUP1.<base64url(JSON)>.<base64url(Ed25519 signature of the JSON bytes)>
//! ```
//!
//! ODK's project QR compresses its JSON; this one does not: the payload is mostly digests and a
//! token, which do not compress, and a plain JSON keeps the format readable with `base64 -d`.
//! The token is a bearer secret until used: the gateway keeps only its SHA-256, takes it once
//! (bound to the key pair of the kiosk that used it, so that kiosk can retry), and refuses it
//! after its expiry.

use serde::{Deserialize, Serialize};

use crate::signed::{SignedError, SigningKey, TrustedKey};

/// The prefix of every setup code; the digit is the format's version.
pub const SETUP_CODE_PREFIX: &str = "MOTCUA-SETUP1.";
/// How a provisioning public key is written (config files, `gateway provision key`).
pub use crate::signed::PUBLIC_KEY_PREFIX;
const PEM_LABEL: &str = "MOTCUA PROVISIONING PRIVATE KEY";

/// What a setup code carries. Field names are one letter on the wire to keep the QR small.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupCode {
    /// The gateway's `https://` address.
    #[serde(rename = "u")]
    pub gateway_url: String,
    /// SHA-256 (lowercase hex) of the province CA certificate's DER bytes: the kiosk fetches
    /// the CA from the gateway and trusts it only if it matches.
    #[serde(rename = "ca")]
    pub ca_sha256: String,
    /// The site (agency code) the device will serve.
    #[serde(rename = "s")]
    pub site: String,
    /// The device id of this slot.
    #[serde(rename = "d")]
    pub device_id: String,
    /// The one-time enrolment token (base64url, 32 random bytes).
    #[serde(rename = "t")]
    pub token: String,
    /// End of the token's validity, seconds since the Unix epoch.
    #[serde(rename = "x")]
    pub expires_at: i64,
    /// The config profile's name.
    #[serde(rename = "p")]
    pub profile: String,
    /// SHA-256 (lowercase hex) of the profile's text as the gateway serves it.
    #[serde(rename = "h")]
    pub profile_sha256: String,
}

impl std::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupCode")
            .field("gateway_url", &self.gateway_url)
            .field("ca_sha256", &self.ca_sha256)
            .field("site", &self.site)
            .field("device_id", &self.device_id)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("profile", &self.profile)
            .field("profile_sha256", &self.profile_sha256)
            .finish()
    }
}

/// Why a setup code was refused (before any network use), in words for the technician's
/// screen: Vietnamese first, then English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupCodeError {
    /// Not a setup code at all (another QR, a receipt, a separator sheet).
    #[error("đây không phải mã cấu hình motcua / this is not a motcua setup code")]
    NotASetupCode,
    /// Starts like one but cannot be read (damaged, cut short).
    #[error("mã cấu hình bị hỏng, không đọc được / the setup code is damaged: {0}")]
    Malformed(String),
    /// The signature does not match: changed, or signed by a key this kiosk does not trust.
    #[error("chữ ký của mã cấu hình không hợp lệ (mã bị sửa hoặc không do tỉnh cấp) / the setup code's signature is not valid: it was altered or not issued by this province")]
    BadSignature,
    /// Past its expiry.
    #[error("mã cấu hình đã hết hạn lúc {} (giờ Việt Nam, theo đồng hồ ki-ốt: nếu phiếu mới in, hãy chỉnh đồng hồ); hãy in phiếu mới / the setup code expired at {} (Vietnam time, by this kiosk's clock: if the sheet is new, set the clock); print a new sheet", vietnam_time(*expired_at), vietnam_time(*expired_at))]
    Expired {
        /// When it expired (Unix seconds).
        expired_at: i64,
    },
    /// The key file or text cannot be read.
    #[error("khoá cấu hình của tỉnh / provisioning key: {0}")]
    Key(String),
}

/// `YYYY-MM-DD HH:MM` in Vietnam time (UTC+7) of a Unix time, for a technician's screen.
fn vietnam_time(unix: i64) -> String {
    let offset = time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC);
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            let t = t.to_offset(offset);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => format!("{unix} (Unix)"),
    }
}

/// The gateway's provisioning signing key (Ed25519).
pub struct ProvisioningKey(SigningKey);

impl std::fmt::Debug for ProvisioningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProvisioningKey({})", self.public_key())
    }
}

impl ProvisioningKey {
    /// A new random key.
    pub fn generate() -> Result<Self, SetupCodeError> {
        Ok(Self(SigningKey::generate(PEM_LABEL)?))
    }

    /// Reads the PEM text written by [`ProvisioningKey::to_pem`].
    pub fn from_pem(text: &str) -> Result<Self, SetupCodeError> {
        Ok(Self(SigningKey::from_pem(text, PEM_LABEL)?))
    }

    /// The key as PEM (keep it 0600: whoever has it can provision kiosks).
    pub fn to_pem(&self) -> String {
        self.0.to_pem()
    }

    /// The public half, as written in kiosk config (`ed25519:<base64url>`).
    pub fn public_key(&self) -> String {
        self.0.public_key()
    }

    /// The setup code's text for `code`.
    pub fn seal(&self, code: &SetupCode) -> String {
        // Serialising a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(code).unwrap_or_default();
        self.0.seal(SETUP_CODE_PREFIX, &json)
    }
}

/// A provisioning public key a kiosk trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProvisioningKey(TrustedKey);

impl std::str::FromStr for TrustedProvisioningKey {
    type Err = SetupCodeError;

    /// Reads `ed25519:<base64url>` (surrounding whitespace and `#` comment lines ignored, so a
    /// key file may say what it is).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.parse()?))
    }
}

impl TrustedProvisioningKey {
    /// Reads, checks the signature of, and checks the expiry (against `now`, Unix seconds) of a
    /// scanned setup code. Whether its token was used already only the gateway knows.
    pub fn open(&self, text: &str, now: i64) -> Result<SetupCode, SetupCodeError> {
        let json = self.0.open(SETUP_CODE_PREFIX, text)?;
        let code: SetupCode = serde_json::from_slice(&json)
            .map_err(|e| SetupCodeError::Malformed(format!("payload: {e}")))?;
        if now >= code.expires_at {
            return Err(SetupCodeError::Expired {
                expired_at: code.expires_at,
            });
        }
        Ok(code)
    }
}

impl From<SignedError> for SetupCodeError {
    fn from(e: SignedError) -> Self {
        match e {
            SignedError::Key(detail) => Self::Key(detail),
            SignedError::WrongPrefix => Self::NotASetupCode,
            SignedError::Malformed(detail) => Self::Malformed(detail),
            SignedError::BadSignature => Self::BadSignature,
        }
    }
}

/// A fresh one-time enrolment token (base64url of 32 random bytes).
pub fn new_enrolment_token() -> Result<String, SetupCodeError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SetupCodeError::Key("the system random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> SetupCode {
        SetupCode {
            gateway_url: "https://motcua-gateway.example.gov.vn".into(),
            ca_sha256: "ab".repeat(32),
            site: "000.17.22.H56".into(),
            device_id: "000.17.22.H56-K001".into(),
            token: new_enrolment_token().unwrap(),
            expires_at: 2_000_000_000,
            profile: "commune-desk".into(),
            profile_sha256: "cd".repeat(32),
        }
    }

    #[test]
    fn sealed_codes_open_with_the_public_key_only() {
        let key = ProvisioningKey::generate().unwrap();
        let trusted: TrustedProvisioningKey = key.public_key().parse().unwrap();
        let c = code();
        let text = key.seal(&c);
        assert!(text.starts_with(SETUP_CODE_PREFIX), "{text}");
        assert!(text.len() < 600, "{} characters", text.len());
        assert_eq!(trusted.open(&text, 1_900_000_000).unwrap(), c);
        // The key survives its PEM form.
        let again = ProvisioningKey::from_pem(&key.to_pem()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(trusted.open(&again.seal(&c), 0).unwrap(), c);
        assert!(!format!("{c:?}").contains(&c.token));
    }

    #[test]
    fn tampered_foreign_expired_and_other_codes_are_refused() {
        let key = ProvisioningKey::generate().unwrap();
        let trusted: TrustedProvisioningKey = key.public_key().parse().unwrap();
        let text = key.seal(&code());
        // One payload character changed.
        let (head, tail) = text.split_at(SETUP_CODE_PREFIX.len() + 10);
        let flipped = if tail.starts_with('A') { 'B' } else { 'A' };
        let tampered = format!("{head}{flipped}{}", &tail[1..]);
        assert!(matches!(
            trusted.open(&tampered, 0),
            Err(SetupCodeError::BadSignature | SetupCodeError::Malformed(_))
        ));
        // Another key's signature over the same payload.
        let other = ProvisioningKey::generate().unwrap();
        assert_eq!(
            trusted.open(&other.seal(&code()), 0),
            Err(SetupCodeError::BadSignature)
        );
        assert_eq!(
            trusted.open(&text, 2_000_000_000),
            Err(SetupCodeError::Expired {
                expired_at: 2_000_000_000
            })
        );
        assert_eq!(
            trusted.open("MOTCUA-SEP1|x|1|y", 0),
            Err(SetupCodeError::NotASetupCode)
        );
        assert!(matches!(
            trusted.open(&text[..text.len() - 30], 0),
            Err(SetupCodeError::Malformed(_) | SetupCodeError::BadSignature)
        ));
        let expired = trusted.open(&text, 2_000_000_000).unwrap_err().to_string();
        // 2_000_000_000 is 2033-05-18 03:33 UTC, 10:33 in Vietnam.
        assert!(expired.contains("2033-05-18 10:33"), "{expired}");
        assert!("ed25519:abc".parse::<TrustedProvisioningKey>().is_err());
        assert!(format!("# provisioning key\n{}\n", key.public_key())
            .parse::<TrustedProvisioningKey>()
            .is_ok());
    }
}
