//! The test harness of the gateway's integration tests: an in-process gateway over real TLS on
//! loopback, with a throwaway CA, and HTTPS clients holding client certificates (a device's
//! from enrolment, the roles' from the CA).
//!
//! Every scenario is one `async fn scenario(backend)`; the `scenarios!` macro runs each against
//! embedded SQLite (a file in a temporary directory) and against PostgreSQL (a fresh database
//! per test on the server named by `MOTCUA_TEST_DATABASE_URL`). Without that variable the
//! PostgreSQL variants fail, telling how to run them, unless `MOTCUA_SKIP_POSTGRES=1`. A test
//! file takes the macro with `#[macro_use] mod harness;`.
//!
//! The records the scenarios send (the catalog, dossiers, ratings, tickets, blobs) are in
//! `records.rs`, the backends (PostgreSQL databases, S3 buckets, the stored files) in
//! `backends.rs`, both re-exported here.

// Each test file uses part of the harness.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use motcua_domain::wire::{DeviceCertificate, EnrollRequest};
use motcua_gateway::{GatewayConfig, LabPki, Role, RunningGateway};
use motcua_identity::DeviceKey;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod backends;
mod held;
mod provisioning;
mod records;
mod releases;
pub use backends::*;
#[allow(unused_imports)]
pub use provisioning::*;
pub use records::*;
#[allow(unused_imports)]
pub use releases::*;

pub const ENROLL_KEY: &str = "enrol-secret";
pub const SITE: &str = "000.17.22.H56";

/// A client certificate and an HTTPS client presenting it.
#[derive(Clone)]
pub struct Cred {
    pub client: reqwest::Client,
    pub serial: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDb>,
    pub pki: LabPki,
    pub ca_pem: String,
    pub gateway: Option<RunningGateway>,
    pub base: String,
    /// A client without a certificate (trusting the CA).
    pub http: reqwest::Client,
    pub system: Cred,
    pub technician: Cred,
    pub auditor: Cred,
}

/// An HTTPS client trusting only `ca_pem`, presenting `identity` (certificate, key) if given.
pub fn client(ca_pem: &str, identity: Option<(&str, &str)>) -> reqwest::Client {
    // No pooled connections: some scenarios make the server close a connection (a refused
    // oversized body, a revocation), and a reused dead connection would fail the next request.
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM"))
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0);
    if let Some((cert, key)) = identity {
        b = b.identity(
            reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).expect("identity PEM"),
        );
    }
    b.build().expect("http client")
}

/// A role certificate from `pki`, and a client presenting it.
pub fn role_cred(pki: &LabPki, role: Role, name: &str) -> Cred {
    let (issued, key_pem) = pki
        .issue_role(role, name, Duration::from_secs(3600))
        .expect("role certificate");
    let ca = pki.ca_cert_pem().expect("CA");
    Cred {
        client: client(&ca, Some((&issued.cert_pem, &key_pem))),
        serial: issued.identity.serial,
        cert_pem: issued.cert_pem,
        key_pem,
    }
}

/// A rustls client configuration trusting `ca_pem`, presenting `cred` if given.
pub fn rustls_client(ca_pem: &str, cred: Option<&Cred>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("CA");
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    Arc::new(match cred {
        Some(c) => b
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(c.cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("cert"),
                PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).expect("key"),
            )
            .expect("client auth"),
        None => b.with_no_client_auth(),
    })
}

/// A TLS connection to `addr` (127.0.0.1) with the given client configuration.
pub async fn tls_connect(
    addr: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")
        .expect("name")
        .to_owned();
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}

impl Harness {
    /// Starts a gateway on a fresh data directory (and database). `None`: PostgreSQL skipped.
    pub async fn start(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDb::create().await?),
        };
        let pki = motcua_gateway::lab_pki(
            &dir.path().join("pki"),
            &["localhost".to_string(), "127.0.0.1".to_string()],
        )
        .expect("lab CA");
        let ca_pem = pki.ca_cert_pem().expect("CA");
        let mut h = Harness {
            pg,
            http: client(&ca_pem, None),
            system: role_cred(&pki, Role::System, "Hệ thống một cửa tỉnh"),
            technician: role_cred(&pki, Role::Technician, "Trần Kỹ Thuật"),
            auditor: role_cred(&pki, Role::Auditor, "Lê Kiểm Toán"),
            ca_pem,
            pki,
            dir,
            gateway: None,
            base: String::new(),
        };
        h.boot().await;
        Some(h)
    }

    pub fn config(&self) -> GatewayConfig {
        let mut config = GatewayConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            self.dir.path(),
            ENROLL_KEY,
            &self.pki,
            catalog(),
        );
        config.database_url = self.pg.as_ref().map(|p| p.url.clone());
        if let Some((s3, bucket)) = self.pg.as_ref().and_then(|p| p.s3.as_ref()) {
            config.blob_storage = s3.storage(bucket);
        }
        config.max_upload_bytes = 1024 * 1024;
        self.with_provisioning(&mut config);
        config
    }

    pub async fn boot(&mut self) {
        let gateway = motcua_gateway::start(self.config())
            .await
            .expect("gateway starts");
        self.base = format!("https://{}", gateway.local_addr());
        self.gateway = Some(gateway);
    }

    /// Shuts the gateway down and starts it again (same data and database) with `change`
    /// applied to its configuration.
    pub async fn reboot_with(&mut self, change: impl FnOnce(&mut GatewayConfig)) {
        if let Some(g) = self.gateway.take() {
            g.shutdown().await;
        }
        let mut config = self.config();
        change(&mut config);
        let gateway = motcua_gateway::start(config).await.expect("gateway starts");
        self.base = format!("https://{}", gateway.local_addr());
        self.gateway = Some(gateway);
    }

    /// The gateway's address, `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("https://").to_string()
    }

    /// Shuts the gateway down and starts a new one on the same data directory and database.
    pub async fn restart(&mut self) {
        if let Some(g) = self.gateway.take() {
            g.shutdown().await;
        }
        self.boot().await;
    }

    pub async fn finish(mut self) {
        if let Some(g) = self.gateway.take() {
            g.shutdown().await;
        }
        if let Some(pg) = self.pg.take() {
            pg.drop_all().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request from `cred`'s client, or without a client certificate.
    pub fn req(&self, method: Method, path: &str, cred: Option<&Cred>) -> reqwest::RequestBuilder {
        cred.map_or(&self.http, |c| &c.client)
            .request(method, self.url(path))
    }

    /// Enrols `device` with a key made here; its credential.
    pub async fn enroll(&self, device: &str) -> Cred {
        let (r, key) = self.enroll_request(device).await;
        assert_eq!(r.status(), StatusCode::OK);
        self.cred_from(r, key, device).await
    }

    /// The credential of an enrolment or renewal answer.
    pub async fn cred_from(&self, r: reqwest::Response, key: DeviceKey, device: &str) -> Cred {
        let body: DeviceCertificate = r.json().await.expect("certificate body");
        assert_eq!(body.device_id, device);
        assert_eq!(body.site, SITE);
        assert_eq!(body.ca_pem, self.ca_pem);
        Cred {
            client: client(&self.ca_pem, Some((&body.certificate_pem, &key.key_pem))),
            serial: body.serial,
            cert_pem: body.certificate_pem,
            key_pem: key.key_pem,
        }
    }

    pub async fn enroll_request(&self, device: &str) -> (reqwest::Response, DeviceKey) {
        self.enroll_request_at(device, SITE).await
    }

    /// Enrols `device` at `site` (another than [`SITE`]); its credential.
    pub async fn enroll_at(&self, device: &str, site: &str) -> Cred {
        let (r, key) = self.enroll_request_at(device, site).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: DeviceCertificate = r.json().await.expect("certificate body");
        assert_eq!(
            (body.device_id.as_str(), body.site.as_str()),
            (device, site)
        );
        Cred {
            client: client(&self.ca_pem, Some((&body.certificate_pem, &key.key_pem))),
            serial: body.serial,
            cert_pem: body.certificate_pem,
            key_pem: key.key_pem,
        }
    }

    pub async fn enroll_request_at(
        &self,
        device: &str,
        site: &str,
    ) -> (reqwest::Response, DeviceKey) {
        let key = DeviceKey::generate(device, site).expect("device key");
        let r = self
            .req(Method::POST, "/v1/devices/enroll", None)
            .json(&EnrollRequest {
                device_id: device.into(),
                site: site.into(),
                enrollment_key: ENROLL_KEY.into(),
                csr_pem: key.csr_pem.clone(),
            })
            .send()
            .await
            .expect("enroll request");
        (r, key)
    }

    /// A technician approves `device`'s re-enrolment.
    pub async fn allow_reenrolment(&self, device: &str) {
        let r = self
            .req(
                Method::POST,
                &format!("/v1/admin/devices/{device}/allow-reenrolment"),
                Some(&self.technician),
            )
            .send()
            .await
            .expect("approve");
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// A technician revokes `device`.
    pub async fn revoke(&self, device: &str) -> Value {
        let r = self
            .req(
                Method::POST,
                &format!("/v1/admin/devices/{device}/revoke"),
                Some(&self.technician),
            )
            .send()
            .await
            .expect("revoke");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("revocation")
    }

    /// Renews `cred`'s certificate (device `device`): the answer and the new key.
    pub async fn renew_request(&self, cred: &Cred, device: &str) -> (reqwest::Response, DeviceKey) {
        let key = DeviceKey::generate(device, SITE).expect("device key");
        let r = self
            .req(Method::POST, "/v1/devices/renew", Some(cred))
            .json(&motcua_domain::wire::RenewRequest {
                csr_pem: key.csr_pem.clone(),
            })
            .send()
            .await
            .expect("renew request");
        (r, key)
    }

    pub async fn stats(&self) -> Value {
        let r = self
            .req(Method::GET, "/v1/admin/stats", Some(&self.system))
            .send()
            .await
            .expect("stats");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("stats body")
    }

    pub async fn create_upload(&self, token: &Cred, data: &[u8]) -> reqwest::Response {
        self.create_upload_claiming(token, data.len() as u64, &sha_hex(data))
            .await
    }

    pub async fn create_upload_claiming(
        &self,
        token: &Cred,
        length: u64,
        sha: &str,
    ) -> reqwest::Response {
        let meta = format!(
            "filename {},sha256 {}",
            base64::engine::general_purpose::STANDARD.encode("giay-chung-sinh.pdf"),
            base64::engine::general_purpose::STANDARD.encode(sha)
        );
        self.req(Method::POST, "/v1/uploads", Some(token))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", meta)
            .send()
            .await
            .expect("create upload")
    }

    /// Creates an upload and returns its Location.
    pub async fn new_upload(&self, token: &Cred, data: &[u8]) -> String {
        let r = self.create_upload(token, data).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        header(&r, "location")
    }

    pub async fn patch(
        &self,
        token: &Cred,
        location: &str,
        offset: u64,
        bytes: &[u8],
    ) -> reqwest::Response {
        self.req(Method::PATCH, location, Some(token))
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .body(bytes.to_vec())
            .send()
            .await
            .expect("patch")
    }

    pub async fn head_offset(&self, token: &Cred, location: &str) -> u64 {
        let r = self
            .req(Method::HEAD, location, Some(token))
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("head");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "cache-control"), "no-store");
        assert_eq!(header(&r, "tus-resumable"), "1.0.0");
        header(&r, "upload-offset").parse().expect("numeric offset")
    }

    /// Uploads `data` completely in one PATCH.
    pub async fn upload_all(&self, token: &Cred, data: &[u8]) {
        let loc = self.new_upload(token, data).await;
        if self.head_offset(token, &loc).await == data.len() as u64 {
            return;
        }
        let r = self.patch(token, &loc, 0, data).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: &Cred,
        key: Option<&str>,
        body: &impl serde::Serialize,
    ) -> reqwest::Response {
        let mut r = self.req(Method::POST, path, Some(token)).json(body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send().await.expect("post")
    }

    /// A device's status lookup with a receipt's secret (`POST /v1/dossiers/status`).
    pub async fn lookup(&self, token: &Cred, code: &str, secret: &str) -> reqwest::Response {
        self.req(Method::POST, "/v1/dossiers/status", Some(token))
            .json(&serde_json::json!({"code": code, "secret": secret}))
            .send()
            .await
            .expect("status lookup")
    }
}

pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has no {name} header"))
        .to_str()
        .expect("ascii header")
        .to_string()
}

pub fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub async fn error_code(r: reqwest::Response) -> String {
    let v: Value = r.json().await.expect("ApiError body");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error has a message: {v}"
    );
    v["error"].as_str().expect("error code").to_string()
}

/// Runs each named `async fn name(backend: Backend)` as two tests, `sqlite::name` and
/// `postgres::name`.
// A test file that keeps a macro of its own leaves this one unused.
#[allow(unused_macros)]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}
