//! A TLS server on loopback for the uplink's tests: real rustls with certificates from a real
//! CA (`motcua_identity::Authority`), speaking just enough HTTP/1.1 of the gateway's protocol to
//! acknowledge an ingest (201 with the idempotency key), renew a device certificate by CSR
//! (reading the device from its client certificate, as the gateway does), or refuse every
//! request with a given 401 code or any other status and code; it also serves its CA
//! (`GET /v1/ca.pem`) and provisions with a token (`POST /v1/devices/provision`, signing the
//! CSR for [`DEVICE`] at [`SITE`] with one sequence block). The real gateway's end-to-end tests live in `tests/`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use motcua_domain::provisioning::{ProvisionRequest, Provisioned, SequenceBlock};
use motcua_domain::wire::{DeviceCertificate, IngestAck, RenewRequest};
use motcua_identity::{Authority, DeviceKey, PeerIdentity};
use motcua_uplink::{IdentityFiles, TrustAnchor};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub const DEVICE: &str = "KIOSK-T-0001";
pub const SITE: &str = "000.17.22.H56";
pub const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// A CA with its certificate.
pub fn authority(name: &str) -> Arc<Authority> {
    let (ca, _key) = Authority::create(name, YEAR).expect("a CA");
    Arc::new(ca)
}

pub fn anchor(ca: &Authority) -> TrustAnchor {
    TrustAnchor::from_pem(ca.cert_pem(), "test CA").expect("an anchor")
}

/// Enrols a kiosk's identity files as `kioskctl enroll` leaves them: key made here, certificate
/// signed by `ca`, `ca.crt` the same CA.
pub fn enrol_files(data_dir: &Path, ca: &Authority) -> (IdentityFiles, PeerIdentity) {
    let files = IdentityFiles::in_data_dir(data_dir);
    let key = DeviceKey::generate(DEVICE, SITE).expect("a key");
    let issued = ca
        .sign_device(&key.csr_pem, DEVICE, SITE, YEAR)
        .expect("a certificate");
    files.save_anchor(&anchor(ca)).expect("ca.crt saved");
    let saved = files
        .save_device(&key.key_pem, &issued.cert_pem)
        .expect("device.pem saved");
    (files, saved.peer().clone())
}

/// How the test server answers.
#[derive(Clone)]
pub enum Answer {
    /// As the gateway would: acknowledgements, renewals, catalog unchanged.
    Normal,
    /// 401 with this code to everything.
    Refuse(&'static str),
    /// This status line (`"409 Conflict"`) and gateway code to every request.
    Status(&'static str, &'static str),
    /// As `Normal`, but a certificate it issued by renewal is unknown to it afterwards (401
    /// `certificate_unknown`), as a gateway restored from a backup taken before the renewal.
    ForgetRenewed,
    /// 429 with this code and `Retry-After: 1` to every request, as a gateway over its limits.
    Busy(&'static str),
    /// A tus gateway whose every PATCH ends in a checksum mismatch (460, the upload reset to
    /// offset 0): creation answers `/v1/uploads/u1`, HEAD offset 0.
    Mismatch,
    /// A peer that never stops talking: every answer is 200 with a chunked body of spaces that
    /// goes on (up to 256 MiB) for as long as the client reads.
    Endless,
}

/// A running test server.
pub struct Server {
    pub addr: SocketAddr,
    /// `METHOD PATH` of every request it answered.
    pub requests: Arc<Mutex<Vec<String>>>,
    /// The CSRs it was sent for renewal.
    pub csrs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Starts a server whose certificate `server_ca` signed for `hosts`; with `client_ca` it
/// requires a client certificate signed by it (and signs renewals with it).
pub async fn serve(
    server_ca: &Authority,
    hosts: &[&str],
    client_ca: Option<Arc<Authority>>,
    answer: Answer,
) -> Server {
    serve_with(server_ca, hosts, client_ca, false, answer).await
}

/// [`serve`] as the gateway is for provisioning: a client certificate signed by `client_ca`
/// is checked when one is presented, and a kiosk without one (provisioning) is let in.
pub async fn serve_provisioning(server_ca: &Arc<Authority>, answer: Answer) -> Server {
    serve_with(
        server_ca,
        &["127.0.0.1"],
        Some(server_ca.clone()),
        true,
        answer,
    )
    .await
}

async fn serve_with(
    server_ca: &Authority,
    hosts: &[&str],
    client_ca: Option<Arc<Authority>>,
    optional_client: bool,
    answer: Answer,
) -> Server {
    let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
    let (cert_pem, key_pem) = server_ca.issue_server(&hosts, YEAR).expect("server cert");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("server cert pem");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("server key pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocols");
    let builder = match &client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("ca pem"))
                .expect("root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if optional_client {
                verifier.allow_unauthenticated()
            } else {
                verifier
            }
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs, key).expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let csrs = Arc::new(Mutex::new(Vec::new()));
    let renewed: Arc<Mutex<Vec<String>>> = Arc::default();
    let ca_pem = server_ca.cert_pem().to_owned();
    {
        let (requests, csrs) = (requests.clone(), csrs.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, answer, renewed, ca_pem) = (
                    acceptor.clone(),
                    answer.clone(),
                    renewed.clone(),
                    ca_pem.clone(),
                );
                let (requests, csrs, signer) = (requests.clone(), csrs.clone(), client_ca.clone());
                tokio::spawn(async move {
                    // A refused handshake ends here: no request is ever read.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| PeerIdentity::from_der(c).ok());
                    let answer = match answer {
                        Answer::ForgetRenewed
                            if peer
                                .as_ref()
                                .is_some_and(|p| renewed.lock().unwrap().contains(&p.serial)) =>
                        {
                            Answer::Refuse("certificate_unknown")
                        }
                        other => other,
                    };
                    let _ = connection(tls, peer, answer, signer, requests, csrs, renewed, ca_pem)
                        .await;
                });
            }
        });
    }
    Server {
        addr,
        requests,
        csrs,
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    peer: Option<PeerIdentity>,
    answer: Answer,
    signer: Option<Arc<Authority>>,
    requests: Arc<Mutex<Vec<String>>>,
    csrs: Arc<Mutex<Vec<String>>>,
    renewed: Arc<Mutex<Vec<String>>>,
    ca_pem: String,
) -> std::io::Result<()> {
    let mut stream = BufReader::new(tls);
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_owned(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let (mut length, mut key) = (0usize, String::new());
        loop {
            let mut header = String::new();
            stream.read_line(&mut header).await?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "idempotency-key" => key = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await?;
        requests.lock().unwrap().push(format!("{method} {path}"));
        let mut extra = "";
        let (status, json) = match (&answer, method.as_str(), path.as_str()) {
            (Answer::Mismatch, "POST", "/v1/uploads") => {
                extra = "location: /v1/uploads/u1\r\ntus-resumable: 1.0.0\r\nupload-offset: 0\r\n";
                ("201 Created", serde_json::json!({}))
            }
            (Answer::Mismatch, "HEAD", _) => {
                let inner = stream.get_mut();
                inner
                    .write_all(b"HTTP/1.1 200 OK\r\ntus-resumable: 1.0.0\r\nupload-offset: 0\r\nupload-length: 10000\r\ncontent-length: 0\r\n\r\n")
                    .await?;
                inner.flush().await?;
                continue;
            }
            (Answer::Mismatch, "PATCH", _) => {
                extra = "tus-resumable: 1.0.0\r\nupload-offset: 0\r\n";
                (
                    "460 Checksum Mismatch",
                    serde_json::json!({"error": "checksum_mismatch", "message": "the bytes do not match; reset to offset 0"}),
                )
            }
            (Answer::Refuse(code), _, _) => (
                "401 Unauthorized",
                serde_json::json!({"error": code, "message": "refused by the test server"}),
            ),
            (Answer::Status(line, code), _, _) => (
                *line,
                serde_json::json!({"error": code, "message": "refused by the test server"}),
            ),
            (Answer::Busy(code), _, _) => (
                "429 Too Many Requests",
                serde_json::json!({"error": code, "message": "slow down, says the test server"}),
            ),
            (Answer::Endless, _, _) => {
                let inner = stream.get_mut();
                inner
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await?;
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
                for _ in 0..4096 {
                    if inner.write_all(chunk.as_bytes()).await.is_err() {
                        break;
                    }
                }
                return Ok(());
            }
            (_, "GET", "/v1/ca.pem") => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-pem-file\r\ncontent-length: {}\r\n\r\n",
                    ca_pem.len()
                );
                let inner = stream.get_mut();
                inner.write_all(head.as_bytes()).await?;
                inner.write_all(ca_pem.as_bytes()).await?;
                inner.flush().await?;
                continue;
            }
            (Answer::Normal, "POST", "/v1/devices/provision") => {
                let request: ProvisionRequest =
                    serde_json::from_slice(&body).expect("provision body");
                csrs.lock().unwrap().push(request.csr_pem.clone());
                let signer = signer.as_ref().expect("a signing CA");
                let issued = signer
                    .sign_device(&request.csr_pem, DEVICE, SITE, YEAR)
                    .expect("signed");
                let answer = Provisioned {
                    certificate: DeviceCertificate {
                        device_id: DEVICE.into(),
                        site: SITE.into(),
                        serial: issued.identity.serial.clone(),
                        certificate_pem: issued.cert_pem,
                        ca_pem: signer.cert_pem().to_owned(),
                        not_after: issued.identity.not_after.to_string(),
                    },
                    blocks: vec![SequenceBlock {
                        first: 501,
                        last: 1000,
                    }],
                    profile: "commune-desk".into(),
                };
                ("200 OK", serde_json::to_value(answer).expect("json"))
            }
            (Answer::Normal | Answer::ForgetRenewed, "POST", "/v1/devices/renew") => {
                let request: RenewRequest = serde_json::from_slice(&body).expect("renew body");
                csrs.lock().unwrap().push(request.csr_pem.clone());
                let (Some(signer), Some(peer)) = (&signer, &peer) else {
                    panic!("renewal without a client certificate");
                };
                let site = peer.site.clone().unwrap_or_default();
                let issued = signer
                    .sign_device(&request.csr_pem, &peer.name, &site, YEAR)
                    .expect("signed");
                renewed.lock().unwrap().push(issued.identity.serial.clone());
                let cert = DeviceCertificate {
                    device_id: peer.name.clone(),
                    site,
                    serial: issued.identity.serial.clone(),
                    certificate_pem: issued.cert_pem,
                    ca_pem: signer.cert_pem().to_owned(),
                    not_after: issued.identity.not_after.to_string(),
                };
                ("200 OK", serde_json::to_value(cert).expect("json"))
            }
            (Answer::Normal | Answer::ForgetRenewed, "POST", _) => (
                "201 Created",
                serde_json::to_value(IngestAck {
                    idempotency_key: key,
                    duplicate: false,
                })
                .expect("json"),
            ),
            (Answer::Normal | Answer::ForgetRenewed | Answer::Mismatch, _, _) => (
                "404 Not Found",
                serde_json::json!({"error": "not_found", "message": "no such thing here"}),
            ),
        };
        let body = json.to_string();
        let retry = if matches!(answer, Answer::Busy(_)) {
            "retry-after: 1\r\n"
        } else {
            ""
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{retry}{extra}content-length: {}\r\n\r\n",
            body.len()
        );
        let inner = stream.get_mut();
        inner.write_all(head.as_bytes()).await?;
        inner.write_all(body.as_bytes()).await?;
        inner.flush().await?;
    }
}
