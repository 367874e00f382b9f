//! The device's side: its own key pair, made on the device, and the request it sends to be
//! certified.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::IdentityError;

/// A key pair made on the device, with its certificate signing request.
pub struct DeviceKey {
    /// The private key, PEM (PKCS#8). It is written readable by the service user only and never
    /// sent anywhere.
    pub key_pem: String,
    /// The certificate signing request, PEM: what enrolment and renewal send.
    pub csr_pem: String,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("csr_pem", &self.csr_pem)
            .finish_non_exhaustive()
    }
}

impl DeviceKey {
    /// Makes a new ECDSA P-256 key pair and a request naming `device_id` at `site`. The gateway
    /// decides the names it certifies; these only help a person reading the request.
    pub fn generate(device_id: &str, site: &str) -> Result<Self, IdentityError> {
        let key = KeyPair::generate().map_err(|e| IdentityError::Sign(e.to_string()))?;
        Self::request_for(key, device_id, site)
    }

    /// A new request for a key pair made earlier (`key_pem`, PKCS#8 PEM): provisioning keeps
    /// its key pair until the certificate is saved, so a retry after a lost answer asks for the
    /// same key, which is what the gateway accepts a used token again for.
    pub fn from_key_pem(key_pem: &str, device_id: &str, site: &str) -> Result<Self, IdentityError> {
        let key = KeyPair::from_pem(key_pem).map_err(|e| IdentityError::Sign(e.to_string()))?;
        Self::request_for(key, device_id, site)
    }

    fn request_for(key: KeyPair, device_id: &str, site: &str) -> Result<Self, IdentityError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, device_id);
        dn.push(DnType::OrganizationName, site);
        params.distinguished_name = dn;
        let csr = params
            .serialize_request(&key)
            .and_then(|r| r.pem())
            .map_err(|e| IdentityError::Sign(e.to_string()))?;
        Ok(Self {
            key_pem: key.serialize_pem(),
            csr_pem: csr,
        })
    }
}
