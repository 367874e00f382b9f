//! The demo's signing key: a P-256 key file and a self-signed certificate naming a demo
//! officer, for `kioskd demo` (and a try-out kiosk's `[signing] demo_key`). It chains to no CA,
//! so no validator trusts it, and the kiosk marks every copy it signs as a demo copy.

use std::io::Write;
use std::path::Path;

use rcgen::{CertificateParams, DnType, KeyPair, KeyUsagePurpose};

use crate::error::io_error;
use crate::SigningError;

/// Writes a new demo key (PKCS#8 PEM, readable by its owner only) and its self-signed
/// certificate (PEM), valid for two years, for the officer `name`.
pub fn write_demo_key(key: &Path, certificate: &Path, name: &str) -> Result<(), SigningError> {
    let unusable = |e: rcgen::Error| SigningError::Unusable(e.to_string());
    let pair = KeyPair::generate().map_err(unusable)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(unusable)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.distinguished_name.push(
        DnType::OrganizationName,
        "motcua demo – không có giá trị pháp lý (no legal value)",
    );
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(730);
    let cert = params.self_signed(&pair).map_err(unusable)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(key).map_err(io_error("creating", key))?;
    file.write_all(pair.serialize_pem().as_bytes())
        .map_err(io_error("writing", key))?;
    std::fs::write(certificate, cert.pem()).map_err(io_error("writing", certificate))?;
    Ok(())
}
