//! Device identity on the wire: enrolment with the province's key, certificate renewal, and the
//! certificate the gateway's device CA signs for both.

use serde::{Deserialize, Serialize};

/// Enrolment of a new device: a technician enters the province's enrolment key once, and the
/// kiosk sends a certificate signing request for the key pair it made itself.
// `Debug` is written by hand below: it never shows the enrolment key (requests get logged).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollRequest {
    /// Unique device identifier chosen at provisioning, e.g. `KIOSK-H56-0001`: letters, digits,
    /// `-`, `_`, `.` or `:` (the gateway's `invalid_device_id` otherwise).
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 64, pattern = r"^[A-Za-z0-9_.:-]+$")
    )]
    pub device_id: String,
    /// The site the device serves: its agency code, e.g. `000.17.22.H56`: letters, digits, `.`,
    /// `-` or `_` (the gateway's `invalid_site` otherwise).
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$")
    )]
    pub site: String,
    /// Shared enrolment secret of the province.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub enrollment_key: String,
    /// PKCS#10 certificate signing request (PEM) for the device's own key pair; only its public
    /// key is used, the gateway decides the names.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 16384,
            pattern = r"^-----BEGIN CERTIFICATE REQUEST-----\r?\n"
        )
    )]
    pub csr_pem: String,
}

impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("device_id", &self.device_id)
            .field("site", &self.site)
            .field("enrollment_key", &"<redacted>")
            .field("csr_pem", &self.csr_pem)
            .finish()
    }
}

/// A device asking for a new certificate before its current one expires (or on a technician's
/// request to rotate its key), authenticated by its current certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenewRequest {
    /// PKCS#10 certificate signing request (PEM) for a new key pair made on the device.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 16384,
            pattern = r"^-----BEGIN CERTIFICATE REQUEST-----\r?\n"
        )
    )]
    pub csr_pem: String,
}

/// A client certificate the gateway's device CA just signed (enrolment and renewal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCertificate {
    /// The enrolled device.
    pub device_id: String,
    /// The site written in the certificate.
    pub site: String,
    /// The certificate's serial number (lowercase hex), as the gateway records it.
    pub serial: String,
    /// The certificate (PEM), signed by the device CA.
    pub certificate_pem: String,
    /// The device CA's certificate (PEM): what signed `certificate_pem`.
    pub ca_pem: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
}
