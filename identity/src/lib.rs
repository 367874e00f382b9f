//! Who is on the kiosk link, in certificates.
//!
//! Every peer of the gateway proves who it is with an X.509 client certificate signed by the
//! province's certificate authority ([`Authority`]); the gateway itself proves who it is with a
//! server certificate the kiosks' trust anchor (the province's CA, given at enrolment) signed.
//! This crate is the one place that knows how those certificates are named, so the gateway (which
//! issues and reads them) and the kiosk (which asks for and renews its own) cannot disagree:
//!
//! | who | subject `CN` | subject `OU` | subject `O` |
//! |---|---|---|---|
//! | a kiosk or intake station | its device id | `device` | its site (the agency code) |
//! | the provincial one-stop system | a name | `system` | — |
//! | a technician | the person | `technician` | — |
//! | an auditor | the person | `auditor` | — |
//!
//! A device's private key is made on the device ([`DeviceKey::generate`]) and never leaves it:
//! the gateway only sees the certificate signing request, and takes nothing from it but the
//! public key (the names in the certificate are the gateway's decision, not the requester's).

mod authority;
mod device;
pub mod pin;
pub mod release;
pub mod setup_code;
pub mod signed;

pub use authority::{Authority, Issued, FAR_FUTURE_UNIX};
pub use device::DeviceKey;

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Why a certificate, key or request could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The bytes are not a certificate / key / request in the expected format.
    #[error("{what} is not readable: {detail}")]
    Malformed {
        /// What was being read ("the certificate signing request", …).
        what: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// The certificate is readable but does not name a motcua peer the way this crate does.
    #[error("the certificate does not name a motcua peer: {0}")]
    NotOurs(String),
    /// Making or signing a certificate failed (a bug or an unusable key).
    #[error("cannot make the certificate: {0}")]
    Sign(String),
}

/// What a peer may do on the gateway, read from its certificate's `OU`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A kiosk or intake station: delivers its own records, reads the catalog.
    Device,
    /// The provincial one-stop system: status updates, the export feed.
    System,
    /// A technician: the fleet, enrolment approvals, revocation. Never citizens' scans.
    Technician,
    /// An auditor: reads scanned documents.
    Auditor,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [Role::Device, Role::System, Role::Technician, Role::Auditor];

    /// The name written in certificates and on command lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Device => "device",
            Role::System => "system",
            Role::Technician => "technician",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                IdentityError::NotOurs(format!(
                    "unknown role {s:?} (known: device, system, technician, auditor)"
                ))
            })
    }
}

/// Who a certificate names: what the gateway authorises by, and what the kiosk shows and
/// renews by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The certificate's serial number, lowercase hex of its bytes (how the gateway records and
    /// revokes certificates).
    pub serial: String,
    /// What the peer may do.
    pub role: Role,
    /// The device id (devices) or the person's or system's name (roles).
    pub name: String,
    /// The site (agency code) of a device; `None` for roles.
    pub site: Option<String>,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
    /// SHA-256 of the certificate's DER bytes, lowercase hex (what a technician compares).
    pub fingerprint: String,
}

impl PeerIdentity {
    /// Reads the identity out of a certificate (DER). Checks names only: that the certificate
    /// was signed by the province's CA is the TLS layer's job (the gateway's client verifier).
    pub fn from_der(der: &[u8]) -> Result<Self, IdentityError> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|e| IdentityError::Malformed {
                what: "the certificate",
                detail: e.to_string(),
            })?;
        let subject = cert.subject();
        fn first<'a>(
            mut it: impl Iterator<Item = &'a x509_parser::x509::AttributeTypeAndValue<'a>>,
        ) -> Option<String> {
            it.next().and_then(|a| a.as_str().ok()).map(str::to_owned)
        }
        let role: Role = first(subject.iter_organizational_unit())
            .ok_or_else(|| IdentityError::NotOurs("no OU (role) in the subject".into()))?
            .parse()?;
        let name = first(subject.iter_common_name())
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| IdentityError::NotOurs("no CN in the subject".into()))?;
        let site = first(subject.iter_organization());
        if role == Role::Device && site.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err(IdentityError::NotOurs(
                "a device certificate without its site (O)".into(),
            ));
        }
        let validity = cert.validity();
        Ok(Self {
            serial: hex::encode(cert.raw_serial()),
            role,
            name,
            site: if role == Role::Device { site } else { None },
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            fingerprint: hex::encode(sha256(der)),
        })
    }

    /// Reads the identity out of the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self, IdentityError> {
        Self::from_der(&first_certificate_der(pem)?)
    }

    /// Whether the certificate is in the last third of its life at `now` (Unix seconds), when a
    /// device asks for a new one: early enough that a kiosk offline for a while still renews in
    /// time, late enough that it does not renew at every start.
    pub fn renewal_due(&self, now: i64) -> bool {
        let life = (self.not_after - self.not_before).max(0);
        now >= self.not_after - life / 3
    }
}

/// The DER bytes of the first `CERTIFICATE` block of a PEM text.
pub fn first_certificate_der(pem: &str) -> Result<Vec<u8>, IdentityError> {
    let mut rest = pem.as_bytes();
    loop {
        let (left, block) =
            x509_parser::pem::parse_x509_pem(rest).map_err(|e| IdentityError::Malformed {
                what: "the PEM certificate",
                detail: e.to_string(),
            })?;
        if block.label == "CERTIFICATE" {
            return Ok(block.contents);
        }
        if left.is_empty() || left.len() == rest.len() {
            return Err(IdentityError::Malformed {
                what: "the PEM certificate",
                detail: "no CERTIFICATE block".into(),
            });
        }
        rest = left;
    }
}

/// SHA-256 fingerprint (lowercase hex) of the first certificate of a PEM text: how a
/// technician, or the provisioning QR, names the province's CA in a few characters.
pub fn certificate_fingerprint(pem: &str) -> Result<String, IdentityError> {
    Ok(hex::encode(sha256(&first_certificate_der(pem)?)))
}

/// SHA-256 (lowercase hex) of the SubjectPublicKeyInfo DER of the first certificate of a PEM
/// text: names the key pair a certificate was made for, whatever else differs between two
/// certificates of that key. The gateway binds a used setup-code token to it, so the kiosk that
/// used the token (and only that kiosk's key) may present it again after a lost answer.
pub fn certificate_key_sha256(pem: &str) -> Result<String, IdentityError> {
    let der = first_certificate_der(pem)?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| IdentityError::Malformed {
            what: "the certificate",
            detail: e.to_string(),
        })?;
    Ok(hex::encode(sha256(cert.public_key().raw)))
}
