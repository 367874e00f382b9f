//! The province's certificate authority: made once (`gateway ca init`), then loaded by the
//! gateway to sign device certificates at enrolment and renewal, and by `gateway ca issue` for
//! the people and systems that hold a role.

use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData,
    SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::{IdentityError, PeerIdentity, Role};

/// A certificate just made.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Who it names, read back from the certificate itself (serial, validity, …).
    pub identity: PeerIdentity,
}

/// A loaded CA: its certificate and its signing key.
pub struct Authority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// End of the CA certificate's validity, Unix seconds.
    not_after: i64,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

fn sign_err(e: rcgen::Error) -> IdentityError {
    IdentityError::Sign(e.to_string())
}

/// A random positive 128-bit serial: unguessable, so a serial names one certificate for good.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

/// The latest end of validity a certificate can state: 9999-12-31 23:59:59 UTC, which RFC 5280
/// (4.1.2.5) reserves for "no well-defined expiration date".
pub const FAR_FUTURE_UNIX: i64 = 253_402_300_799;

fn far_future() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(FAR_FUTURE_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Validity from a little before now (a peer whose clock is slightly behind still accepts it)
/// to `lifetime` after now, or to [`FAR_FUTURE_UNIX`] if that is later (a huge lifetime is
/// clamped, never an overflow).
fn validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = OffsetDateTime::now_utc();
    let life = time::Duration::try_from(lifetime).unwrap_or(time::Duration::MAX);
    let backdate: time::Duration = (life / 10_i32).min(time::Duration::minutes(5));
    params.not_before = now - backdate;
    params.not_after = now
        .checked_add(life)
        .filter(|end| *end <= far_future())
        .unwrap_or_else(far_future);
}

fn leaf_params(cn: &str, role: Role, site: Option<&str>, lifetime: Duration) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationalUnitName, role.as_str());
    if let Some(site) = site {
        dn.push(DnType::OrganizationName, site);
    }
    params.distinguished_name = dn;
    params.serial_number = Some(random_serial());
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, lifetime);
    params
}

impl Authority {
    /// Makes a new CA named `name` (e.g. "motcua Tỉnh X"), valid for `lifetime`; returns it and
    /// its private key (PEM, PKCS#8) for the caller to store readable by the gateway only.
    pub fn create(name: &str, lifetime: Duration) -> Result<(Self, String), IdentityError> {
        let key = KeyPair::generate().map_err(sign_err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "motcua");
        params.distinguished_name = dn;
        params.serial_number = Some(random_serial());
        // It signs only leaf certificates: the server's, devices' and roles'.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, lifetime);
        let cert = params.self_signed(&key).map_err(sign_err)?;
        let key_pem = key.serialize_pem();
        let not_after = params.not_after.unix_timestamp();
        Ok((
            Self {
                cert_pem: cert.pem(),
                issuer: Issuer::new(params, key),
                not_after,
            },
            key_pem,
        ))
    }

    /// Loads a CA from its certificate and private key (both PEM).
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Self, IdentityError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| IdentityError::Malformed {
            what: "the CA's private key",
            detail: e.to_string(),
        })?;
        let der = crate::first_certificate_der(cert_pem)?;
        let issuer = Issuer::from_ca_cert_der(&der.clone().into(), key).map_err(|e| {
            IdentityError::Malformed {
                what: "the CA certificate",
                detail: e.to_string(),
            }
        })?;
        // A key that does not belong to the certificate would sign certificates nobody accepts.
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| IdentityError::Malformed {
                what: "the CA certificate",
                detail: e.to_string(),
            })?;
        if cert.public_key().raw != issuer.key().subject_public_key_info().as_slice() {
            return Err(IdentityError::Malformed {
                what: "the CA's private key",
                detail: "it does not belong to the CA certificate".into(),
            });
        }
        let not_after = cert.validity().not_after.timestamp();
        Ok(Self {
            cert_pem: cert_pem.to_owned(),
            issuer,
            not_after,
        })
    }

    /// End of the CA certificate's validity, Unix seconds: no certificate it signs is accepted
    /// after it, whatever that certificate says.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// The CA certificate, PEM: the kiosks' trust anchor, and what the gateway verifies client
    /// certificates against.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Signs a device certificate for the public key of `csr_pem`, naming `device_id` and its
    /// `site`. The request's own subject is ignored: the gateway decides the names. The
    /// request's signature is checked, so only the holder of the private key can ask.
    pub fn sign_device(
        &self,
        csr_pem: &str,
        device_id: &str,
        site: &str,
        lifetime: Duration,
    ) -> Result<Issued, IdentityError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| {
            IdentityError::Malformed {
                what: "the certificate signing request",
                detail: e.to_string(),
            }
        })?;
        let params = leaf_params(device_id, Role::Device, Some(site), lifetime);
        let cert = params
            .signed_by(&csr.public_key, &self.issuer)
            .map_err(sign_err)?;
        issued(cert.pem(), cert.der())
    }

    /// Makes a key pair and a certificate for a role holder (technician, auditor, the
    /// provincial system): returns the certificate and the private key (PEM) to hand over.
    pub fn issue_role(
        &self,
        role: Role,
        name: &str,
        lifetime: Duration,
    ) -> Result<(Issued, String), IdentityError> {
        if role == Role::Device {
            return Err(IdentityError::Sign(
                "devices make their own key and enrol; they get no role certificate".into(),
            ));
        }
        let key = KeyPair::generate().map_err(sign_err)?;
        let params = leaf_params(name, role, None, lifetime);
        let cert = params.signed_by(&key, &self.issuer).map_err(sign_err)?;
        Ok((issued(cert.pem(), cert.der())?, key.serialize_pem()))
    }

    /// Makes the gateway's server key pair and certificate for the given host names and IP
    /// addresses; returns the certificate and its private key (PEM).
    pub fn issue_server(
        &self,
        hosts: &[String],
        lifetime: Duration,
    ) -> Result<(String, String), IdentityError> {
        let first = hosts
            .first()
            .ok_or_else(|| IdentityError::Sign("a server certificate needs a host name".into()))?;
        let mut params = CertificateParams::new(hosts.to_vec()).map_err(sign_err)?;
        for san in &params.subject_alt_names {
            if let SanType::DnsName(name) = san {
                if name.as_str().is_empty() {
                    return Err(IdentityError::Sign("an empty host name".into()));
                }
            }
        }
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, first.as_str());
        dn.push(DnType::OrganizationName, "motcua");
        params.distinguished_name = dn;
        params.serial_number = Some(random_serial());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, lifetime);
        let key = KeyPair::generate().map_err(sign_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(sign_err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn issued(pem: String, der: &[u8]) -> Result<Issued, IdentityError> {
    Ok(Issued {
        identity: PeerIdentity::from_der(der)?,
        cert_pem: pem,
    })
}
