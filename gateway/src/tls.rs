//! TLS of the gateway: the server's certificate (re-read on SIGHUP without a restart), the
//! client-certificate check against the province's CA, and TLS to PostgreSQL.
//!
//! The handshake lets a peer without a client certificate in (enrolment and `/v1/health` need
//! none) but refuses one whose certificate another CA signed, or that has expired: who may do
//! what is decided per request by the `api::auth` extractors, from the [`Peer`] each request
//! carries.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use motcua_identity::PeerIdentity;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::GatewayError;

/// Who is on the other end of a connection, as far as TLS knows; every request of the
/// connection carries it as an extension.
#[derive(Debug, Clone)]
pub(crate) enum Peer {
    /// No client certificate.
    Anonymous,
    /// A certificate our CA signed, and who it names.
    Identified(Arc<PeerIdentity>),
    /// A certificate our CA signed that does not name a motcua peer (why, in words).
    Unreadable(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(what: &str, path: &Path, detail: impl std::fmt::Display) -> GatewayError {
    GatewayError::Tls(format!("{what} {}: {detail}", path.display()))
}

/// The certificates of a PEM file, in order.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, GatewayError> {
    let bytes = std::fs::read(path).map_err(|e| GatewayError::file("read", path, e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err("cannot read the certificates in", path, e))?;
    if certs.is_empty() {
        return Err(tls_err(
            "no certificate (PEM) in",
            path,
            "the file is empty or not PEM",
        ));
    }
    Ok(certs)
}

/// The server's certificate chain and key from two PEM files, checked to belong together.
fn load_certified_key(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, GatewayError> {
    let chain = read_certificates(cert_file)?;
    let key_bytes = std::fs::read(key_file).map_err(|e| GatewayError::file("read", key_file, e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes)
        .map_err(|e| tls_err("cannot read the private key in", key_file, e))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| tls_err("unusable private key in", key_file, e))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        GatewayError::Tls(format!(
            "the key {} does not belong to the certificate {}: {e}",
            key_file.display(),
            cert_file.display()
        ))
    })?;
    Ok(certified)
}

/// The server certificate, swappable while connections are being accepted: new handshakes get
/// the new one, established connections keep theirs.
#[derive(Debug)]
pub(crate) struct ServerCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServerCert {
    pub(crate) fn load(cert_file: &Path, key_file: &Path) -> Result<Self, GatewayError> {
        Ok(Self {
            current: RwLock::new(Arc::new(load_certified_key(cert_file, key_file)?)),
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
        })
    }

    /// Re-reads both files; on any error the certificate in use stays and the error is returned.
    pub(crate) fn reload(&self) -> Result<(), GatewayError> {
        let new = Arc::new(load_certified_key(&self.cert_file, &self.key_file)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = new;
        Ok(())
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

/// The rustls configuration of the listener: the server certificate from `cert`, client
/// certificates optional but, when given, verified against `ca_pem`.
pub(crate) fn server_config(
    cert: Arc<ServerCert>,
    ca_pem: &str,
) -> Result<Arc<ServerConfig>, GatewayError> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let ca =
            ca.map_err(|e| GatewayError::Tls(format!("the CA certificate is not PEM: {e}")))?;
        roots
            .add(ca)
            .map_err(|e| GatewayError::Tls(format!("the CA certificate is unusable: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| GatewayError::Tls(format!("cannot check client certificates: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    // The API speaks HTTP/1.1 only (as axum is built here).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The peer of an established TLS connection.
pub(crate) fn peer_of(conn: &rustls::ServerConnection) -> Peer {
    match conn.peer_certificates().and_then(|c| c.first()) {
        None => Peer::Anonymous,
        Some(der) => match PeerIdentity::from_der(der) {
            Ok(identity) => Peer::Identified(Arc::new(identity)),
            Err(e) => Peer::Unreadable(e.to_string()),
        },
    }
}

/// The TLS connector for PostgreSQL: the system's roots plus `ca_file`, if given.
pub(crate) fn postgres_connector(
    ca_file: Option<&Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, GatewayError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "a system CA certificate could not be loaded");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(file) = ca_file {
        for cert in read_certificates(file)? {
            roots
                .add(cert)
                .map_err(|e| tls_err("unusable CA certificate in", file, e))?;
        }
    }
    if roots.is_empty() {
        return Err(GatewayError::Tls(
            "PostgreSQL over TLS needs a CA to verify the server: the system has none; give \
             --database-ca-file"
                .into(),
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}
