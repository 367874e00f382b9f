//! The hub's two TLS faces.
//!
//! - **Kiosk port**: the hub presents the enrolled device certificate of the device it runs on
//!   (the province's CA signed it and it names the site) and requires a client certificate of
//!   that CA from every kiosk. Who the kiosk is and whether it is of this site is then read from
//!   its certificate per request ([`KioskPeer`]); nothing in a body can claim another kiosk.
//! - **Page port**: browsers on the counter PC, the hall TV and the rating tablets do not hold
//!   the province's CA and check host names, so the hub makes its own page certificate for the
//!   names in `page_hosts` (kept in its folder, key 0600) and prints the pin of its public key
//!   (`motcua-hub page-pin`), which a technician gives the browser once
//!   (`--ignore-certificate-errors-spki-list`, or accepts after comparing the fingerprint).
//!   Who may use a page is decided by sign-in and pairing, not by TLS.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use motcua_identity::PeerIdentity;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};

/// Why TLS cannot be set up, in words for the technician.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is missing or unreadable.
    #[error("không đọc được {path} / cannot read {path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// The certificate or key is unusable.
    #[error("chứng thư hoặc khóa không dùng được / unusable certificate or key: {0}")]
    Unusable(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

fn unusable(e: impl std::fmt::Display) -> TlsError {
    TlsError::Unusable(e.to_string())
}

/// The identity of a kiosk on the kiosk port, from its client certificate.
#[derive(Debug, Clone)]
pub struct KioskPeer(pub Option<Arc<PeerIdentity>>);

/// The kiosk port's TLS: the device's own certificate (`device.pem`: key and certificate) and
/// client certificates required, verified against `ca.crt`. Returns the config and who the
/// hub is (its site is the only site whose kiosks it serves).
pub fn kiosk_server_config(
    device_pem: &Path,
    ca_file: &Path,
) -> Result<(Arc<ServerConfig>, PeerIdentity), TlsError> {
    let device = read(device_pem)?;
    let chain = CertificateDer::pem_slice_iter(&device)
        .collect::<Result<Vec<_>, _>>()
        .map_err(unusable)?;
    let first = chain.first().ok_or_else(|| TlsError::File {
        path: device_pem.display().to_string(),
        detail: "no certificate: enrol the device first (kioskctl enroll)".into(),
    })?;
    let own = PeerIdentity::from_der(first).map_err(unusable)?;
    let key = PrivateKeyDer::from_pem_slice(&device).map_err(unusable)?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&read(ca_file)?) {
        roots.add(ca.map_err(unusable)?).map_err(unusable)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(unusable)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(unusable)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), own))
}

/// The page certificate and what a technician checks it by.
pub struct PageTls {
    /// The server config.
    pub config: Arc<ServerConfig>,
    /// base64 SHA-256 of the certificate's public key (Chromium's
    /// `--ignore-certificate-errors-spki-list`).
    pub spki_pin: String,
    /// SHA-256 of the certificate, hex with colons (what a browser's certificate view shows).
    pub fingerprint: String,
}

/// The page port's TLS from `page.crt`/`page.key` in `dir`, made for `hosts` when missing (or
/// when `hosts` changed).
pub fn page_server_config(dir: &Path, hosts: &[String]) -> Result<PageTls, TlsError> {
    let cert_file = dir.join("page.crt");
    let key_file = dir.join("page.key");
    let hosts_file = dir.join("page.hosts");
    let wanted = hosts.join("\n");
    let current = std::fs::read_to_string(&hosts_file).ok();
    if !cert_file.exists() || !key_file.exists() || current.as_deref() != Some(wanted.as_str()) {
        make_page_certificate(&cert_file, &key_file, hosts)?;
        write_file(&hosts_file, wanted.as_bytes(), 0o644)?;
    }
    let cert_pem = read(&cert_file)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(unusable)?;
    let first = chain
        .first()
        .ok_or_else(|| unusable("page.crt holds no certificate"))?
        .clone();
    let key = PrivateKeyDer::from_pem_slice(&read(&key_file)?).map_err(unusable)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(unusable)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let (_, parsed) = x509_parser::parse_x509_certificate(&first).map_err(unusable)?;
    let spki = parsed.tbs_certificate.subject_pki.raw;
    let spki_pin = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki));
    let fingerprint = Sha256::digest(&first)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(PageTls {
        config: Arc::new(config),
        spki_pin,
        fingerprint,
    })
}

fn make_page_certificate(
    cert_file: &Path,
    key_file: &Path,
    hosts: &[String],
) -> Result<(), TlsError> {
    let mut params = rcgen::CertificateParams::new(hosts.to_vec()).map_err(unusable)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, hosts[0].as_str());
    dn.push(rcgen::DnType::OrganizationName, "motcua hub");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let key = rcgen::KeyPair::generate().map_err(unusable)?;
    let cert = params.self_signed(&key).map_err(unusable)?;
    write_file(key_file, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(cert_file, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

/// Writes a file whole (temporary file, fsync, rename), created with `mode`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let err = |e: std::io::Error| TlsError::File {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
