//! What the identity files hold: the trust anchor, the device's key and certificate, and the
//! checks a certificate the gateway issued must pass before it is saved.

use motcua_domain::wire::DeviceCertificate;
use motcua_identity::{PeerIdentity, Role};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::IdentityFileError;

/// The province's CA certificate, the only thing the kiosk trusts the gateway's certificate by.
#[derive(Clone)]
pub struct TrustAnchor {
    pem: String,
    fingerprint: String,
    certificate: reqwest::Certificate,
}

impl std::fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchor")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl TrustAnchor {
    /// Reads a CA certificate (PEM, one certificate); `origin` names it in errors.
    pub fn from_pem(pem: &str, origin: &str) -> Result<Self, IdentityFileError> {
        let invalid = |detail: String| IdentityFileError::Invalid {
            path: origin.to_owned(),
            detail,
        };
        let count = CertificateDer::pem_slice_iter(pem.as_bytes())
            .filter(Result::is_ok)
            .count();
        if count != 1 {
            return Err(invalid(format!(
                "a trust anchor is exactly one PEM certificate (the province's CA), found {count}"
            )));
        }
        let fingerprint =
            motcua_identity::certificate_fingerprint(pem).map_err(|e| invalid(e.to_string()))?;
        let certificate =
            reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            pem: pem.to_owned(),
            fingerprint,
            certificate,
        })
    }

    /// The certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// SHA-256 of the certificate, lowercase hex: what a technician compares with the one the
    /// province published.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn certificate(&self) -> &reqwest::Certificate {
        &self.certificate
    }
}

/// The device's key and certificate, loaded: what the TLS client presents, and who it names.
#[derive(Clone)]
pub struct DeviceCredential {
    identity: reqwest::Identity,
    peer: PeerIdentity,
    /// The same key and chain for a rustls configuration of our own (the hub's client, whose
    /// server check reqwest's builder cannot express).
    certified: std::sync::Arc<rustls::sign::CertifiedKey>,
}

impl std::fmt::Debug for DeviceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("DeviceCredential")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl DeviceCredential {
    /// Reads a private key and a device certificate from one PEM text and checks that they
    /// belong together (the certificate's public key is the key's) and that the certificate
    /// names a device; `origin` names the text in errors.
    pub fn from_pem(pem: &str, origin: &str) -> Result<Self, IdentityFileError> {
        let invalid = |detail: String| IdentityFileError::Invalid {
            path: origin.to_owned(),
            detail,
        };
        let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| invalid("no private key in it".into()))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(format!("a certificate is unreadable: {e}")))?;
        let Some(first) = certs.first() else {
            return Err(invalid("no certificate in it".into()));
        };
        let peer = PeerIdentity::from_der(first).map_err(|e| invalid(e.to_string()))?;
        if peer.role != Role::Device {
            return Err(invalid(format!(
                "the certificate is a {} certificate, not a device's",
                peer.role
            )));
        }
        let provider = rustls::crypto::ring::default_provider();
        let certified =
            rustls::sign::CertifiedKey::from_der(certs, key, &provider).map_err(|e| {
                invalid(format!(
                    "the private key does not belong to the certificate ({e})"
                ))
            })?;
        let identity =
            reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            identity,
            peer,
            certified: std::sync::Arc::new(certified),
        })
    }

    /// Who the certificate names (serial, site, validity, …).
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    pub(crate) fn identity(&self) -> &reqwest::Identity {
        &self.identity
    }

    /// The key and chain, loaded for rustls.
    pub(crate) fn certified(&self) -> std::sync::Arc<rustls::sign::CertifiedKey> {
        self.certified.clone()
    }
}

/// Checks a certificate the gateway just issued (enrolment or renewal) before it is saved: it
/// must name this device at this site, and come from the CA this kiosk trusts. A gateway that
/// got the names wrong must not leave the kiosk with a certificate for another device.
pub fn check_issued(
    issued: &DeviceCertificate,
    device_id: &str,
    site: &str,
    anchor: &TrustAnchor,
) -> Result<PeerIdentity, IdentityFileError> {
    let invalid = |detail: String| IdentityFileError::Invalid {
        path: "the certificate the gateway issued".into(),
        detail,
    };
    let peer =
        PeerIdentity::from_pem(&issued.certificate_pem).map_err(|e| invalid(e.to_string()))?;
    if peer.role != Role::Device {
        return Err(invalid(format!("it is a {} certificate", peer.role)));
    }
    if peer.name != device_id {
        return Err(invalid(format!(
            "it names device {:?}, not this kiosk {device_id:?}",
            peer.name
        )));
    }
    if peer.site.as_deref() != Some(site) {
        return Err(invalid(format!(
            "it names site {:?}, not this kiosk's agency code {site:?}",
            peer.site.as_deref().unwrap_or("")
        )));
    }
    let ca = motcua_identity::certificate_fingerprint(&issued.ca_pem)
        .map_err(|e| invalid(format!("its CA certificate is unreadable: {e}")))?;
    if ca != anchor.fingerprint() {
        return Err(invalid(format!(
            "it comes from CA {ca}, not from the province's CA {} this kiosk trusts",
            anchor.fingerprint()
        )));
    }
    Ok(peer)
}

/// The two PEM texts as one `device.pem`: the key first, then the certificate.
pub fn device_pem(key_pem: &str, certificate_pem: &str) -> String {
    let mut text = String::with_capacity(key_pem.len() + certificate_pem.len() + 2);
    text.push_str(key_pem.trim_end());
    text.push('\n');
    text.push_str(certificate_pem.trim_end());
    text.push('\n');
    text
}
