//! HTTPS client of the provincial gateway: enrolment and renewal, catalog, tus uploads,
//! idempotent ingest, and a hub's queue events (`queue`).
//!
//! The link is mutual TLS: the gateway proves it is the province's with a certificate the
//! kiosk's trust anchor signed (nothing else is trusted: no system roots), and the kiosk proves
//! it is itself with its device certificate. A client cannot be made without the anchor, so no
//! answer from an untrusted server is ever read, let alone taken as an acknowledgement: the
//! handshake fails first.
//!
//! Every failure is classified so the uplink knows whether retrying can help, and described in
//! words a technician reads in `kioskctl status` (never with personal data).

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use motcua_domain::wire::{
    ApiError, BlobsHeld, BlobsHeldQuery, DeviceCertificate, EnrollRequest, HeldBlob, IngestAck,
    RenewRequest, IDEMPOTENCY_KEY_HEADER, TUS_SHA256_METADATA, TUS_VERSION,
};
use reqwest::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::identity::{DeviceCredential, TrustAnchor};
use crate::tls::{self, TlsFailure};

mod compress;
mod error;
mod queue;
mod release;
pub(crate) use compress::JsonBody;
pub use compress::COMPRESS_FROM;
pub use error::{GatewayError, CERTIFICATE_REFUSALS};
pub use release::PackageBody;

/// A client bound to one gateway, its trust anchor and (once enrolled) the device's certificate.
#[derive(Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: String,
    host: String,
    timeout: Duration,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GatewayClient {
    /// A client for `base` (`https://…` only) that trusts `anchor` alone and presents `device`
    /// (none before enrolment).
    pub fn new(
        base: &str,
        anchor: &TrustAnchor,
        device: Option<&DeviceCredential>,
        timeout: Duration,
    ) -> Result<Self, GatewayError> {
        let base = base.trim_end_matches('/').to_owned();
        let setup = |detail: String| GatewayError::Setup {
            url: base.clone(),
            detail,
        };
        let url = reqwest::Url::parse(&base).map_err(|e| setup(format!("not a URL: {e}")))?;
        if url.scheme() != "https" {
            return Err(setup(
                "the gateway is reached over https:// only (TLS with the province's CA)".into(),
            ));
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(anchor.certificate().clone())
            .https_only(true)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("motcua-kiosk/", env!("CARGO_PKG_VERSION")));
        if let Some(device) = device {
            builder = builder.identity(device.identity().clone());
        }
        let http = builder.build().map_err(|e| setup(describe(&e)))?;
        Ok(Self {
            http,
            base,
            host,
            timeout,
        })
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub(crate) fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    pub(crate) async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, GatewayError> {
        rb.send().await.map_err(|e| self.transport(&e, url))
    }

    /// A transport error in words: a TLS verdict when it is one, else the network's.
    pub(crate) fn transport(&self, e: &reqwest::Error, url: &str) -> GatewayError {
        match tls::classify(e, &self.host) {
            Some(TlsFailure::Untrusted(detail)) => GatewayError::Untrusted {
                url: url.to_owned(),
                detail,
            },
            Some(TlsFailure::Refused { code, detail }) => GatewayError::CertificateRefused {
                url: url.to_owned(),
                code,
                detail,
            },
            Some(TlsFailure::Failed(detail)) => GatewayError::Unreachable {
                url: url.to_owned(),
                detail,
            },
            None => GatewayError::Unreachable {
                url: url.to_owned(),
                detail: describe(e),
            },
        }
    }

    pub(crate) async fn error_from(resp: reqwest::Response, url: &str) -> GatewayError {
        let status = resp.status().as_u16();
        // Seconds (the gateway never sends an HTTP date); a missing or odd value waits 60 s.
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, |s| Duration::from_secs(s.max(1)));
        // An error's description is short; a longer body is not read further.
        let body = match read_capped(resp, MAX_ERROR_BYTES).await {
            Ok(bytes) | Err(Capped::TooLarge(bytes)) => {
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Err(Capped::Transport(_)) => String::new(),
        };
        match serde_json::from_str::<ApiError>(&body) {
            Ok(e) if status == 429 => GatewayError::Busy {
                url: url.to_owned(),
                code: e.error,
                message: e.message,
                retry_after,
            },
            Err(_) if status == 429 => GatewayError::Busy {
                url: url.to_owned(),
                code: "unknown".into(),
                message: "too many requests".into(),
                retry_after,
            },
            Ok(e) if status == 401 && CERTIFICATE_REFUSALS.contains(&e.error.as_str()) => {
                GatewayError::CertificateRefused {
                    url: url.to_owned(),
                    code: e.error,
                    detail: e.message,
                }
            }
            Ok(e) => GatewayError::Status {
                url: url.to_owned(),
                status,
                code: e.error,
                message: e.message,
            },
            Err(_) => GatewayError::Status {
                url: url.to_owned(),
                status,
                code: "unknown".into(),
                message: format!("no error description in the answer ({} bytes)", body.len()),
            },
        }
    }

    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        resp: reqwest::Response,
        url: &str,
    ) -> Result<T, GatewayError> {
        let body = read_capped(resp, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| e.into_error(self, url))?;
        serde_json::from_slice(&body).map_err(|e| GatewayError::Garbage {
            url: url.to_owned(),
            detail: format!("the answer is not the expected JSON: {e}"),
        })
    }

    /// Enrols this device with the province's enrolment key and a signing request for the key
    /// pair it made; returns the certificate the gateway issued (not yet checked or saved: see
    /// [`crate::credentials::enroll`]). A device id the gateway knows is refused with 409
    /// `already_enrolled` unless a technician approved its re-enrolment at the gateway.
    pub async fn enroll(
        &self,
        device_id: &str,
        site: &str,
        enrollment_key: &str,
        csr_pem: &str,
    ) -> Result<DeviceCertificate, GatewayError> {
        let url = self.url("/v1/devices/enroll");
        let rb = self.request(Method::POST, &url).json(&EnrollRequest {
            device_id: device_id.to_owned(),
            site: site.to_owned(),
            enrollment_key: enrollment_key.to_owned(),
            csr_pem: csr_pem.to_owned(),
        });
        self.post_for_certificate(rb, &url).await
    }

    /// Asks for a new certificate for a new key pair, authenticated by the current certificate
    /// (which stays valid at the gateway until the new one is first used).
    pub async fn renew(&self, csr_pem: &str) -> Result<DeviceCertificate, GatewayError> {
        let url = self.url("/v1/devices/renew");
        let rb = self.request(Method::POST, &url).json(&RenewRequest {
            csr_pem: csr_pem.to_owned(),
        });
        self.post_for_certificate(rb, &url).await
    }

    async fn post_for_certificate(
        &self,
        rb: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<DeviceCertificate, GatewayError> {
        let resp = self.send(rb, url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, url).await);
        }
        self.json(resp, url).await
    }

    /// Downloads the catalog unless it is unchanged since `etag`; returns the new ETag and body.
    pub async fn fetch_catalog(
        &self,
        etag: Option<&str>,
    ) -> Result<Option<(String, String)>, GatewayError> {
        let url = self.url("/v1/catalog");
        let mut rb = self.request(Method::GET, &url);
        if let Some(tag) = etag {
            rb = rb.header(header::IF_NONE_MATCH, tag);
        }
        let resp = self.send(rb, &url).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        let tag = resp
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = read_capped(resp, MAX_CATALOG_BYTES)
            .await
            .map_err(|e| e.into_error(self, &url))?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let catalog =
            serde_json::from_str::<motcua_domain::catalog::Catalog>(&body).map_err(|e| {
                GatewayError::Garbage {
                    url: url.clone(),
                    detail: format!("the catalog is not valid JSON: {e}"),
                }
            })?;
        catalog.validate().map_err(|e| GatewayError::Garbage {
            url: url.clone(),
            detail: format!("the catalog is not valid: {e}"),
        })?;
        Ok(Some((tag, body)))
    }

    /// Creates a tus upload for a blob; returns its URL.
    pub async fn create_upload(&self, sha256: &str, size: u64) -> Result<String, GatewayError> {
        let url = self.url("/v1/uploads");
        let meta = format!(
            "{TUS_SHA256_METADATA} {}",
            base64::engine::general_purpose::STANDARD.encode(sha256)
        );
        let rb = self
            .request(Method::POST, &url)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Length", size.to_string())
            .header("Upload-Metadata", meta);
        let resp = self.send(rb, &url).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(Self::error_from(resp, &url).await);
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|l| !l.is_empty())
            .ok_or_else(|| GatewayError::Garbage {
                url: url.clone(),
                detail: "upload created without a Location header".into(),
            })?;
        let upload_url = self.url(location);
        // Uploads go to this gateway only, never to a host the answer names.
        if !upload_url.starts_with(&format!("{}/", self.base)) {
            return Err(GatewayError::Garbage {
                url,
                detail: "the upload location points to another server".into(),
            });
        }
        Ok(upload_url)
    }

    /// Which of `sha256s` the gateway holds for this device's site (`POST /v1/blobs/held`), with
    /// their sizes; `None` from a gateway older than that route (404 or 405), which is asked
    /// nothing and simply sent every blob. At most [`motcua_domain::wire::MAX_HELD_QUERY`] hashes a call.
    pub async fn blobs_held(
        &self,
        sha256s: &[String],
    ) -> Result<Option<Vec<HeldBlob>>, GatewayError> {
        let url = self.url("/v1/blobs/held");
        let rb = self.request(Method::POST, &url).json(&BlobsHeldQuery {
            sha256: sha256s.to_vec(),
        });
        let resp = self.send(rb, &url).await?;
        if resp.status() == StatusCode::NOT_FOUND || resp.status() == StatusCode::METHOD_NOT_ALLOWED
        {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        let answer: BlobsHeld = self.json(resp, &url).await?;
        Ok(Some(answer.held))
    }

    /// The offset the gateway holds for an upload, or `None` if it does not know the upload.
    pub async fn upload_offset(&self, upload_url: &str) -> Result<Option<u64>, GatewayError> {
        let rb = self
            .request(Method::HEAD, upload_url)
            .header("Tus-Resumable", TUS_VERSION);
        let resp = self.send(rb, upload_url).await?;
        if resp.status() == StatusCode::NOT_FOUND || resp.status() == StatusCode::GONE {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, upload_url).await);
        }
        offset_header(&resp, upload_url).map(Some)
    }

    /// Sends one chunk at `offset`; returns the gateway's new offset. The time limit grows with
    /// the chunk (at least 32 KiB/s, a poor commune link) so slow links are not cut off.
    ///
    /// No `Upload-Checksum` (tus `checksum`) on purpose: the gateway keeps nothing of a
    /// checksummed PATCH that is cut, while it keeps what arrived of a plain one, and on a link
    /// with a reset every 30 s that is the difference between progress and none. TLS already
    /// protects the bytes in transit and the gateway checks the whole blob's SHA-256 (announced
    /// at creation) before it is visible; the extension is there for generic tus clients.
    pub async fn patch(
        &self,
        upload_url: &str,
        offset: u64,
        chunk: Bytes,
    ) -> Result<u64, GatewayError> {
        let timeout = self.timeout + Duration::from_secs(chunk.len() as u64 / (32 * 1024));
        let rb = self
            .request(Method::PATCH, upload_url)
            .timeout(timeout)
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Offset", offset.to_string())
            .header(header::CONTENT_TYPE, "application/offset+octet-stream")
            .body(chunk);
        let resp = self.send(rb, upload_url).await?;
        if resp.status() != StatusCode::NO_CONTENT && resp.status() != StatusCode::OK {
            return Err(Self::error_from(resp, upload_url).await);
        }
        offset_header(&resp, upload_url)
    }

    /// Posts an ingest request with its idempotency key; returns the gateway's acknowledgement.
    /// A body over [`COMPRESS_FROM`] bytes goes gzip-compressed when that is smaller.
    pub async fn ingest<T: Serialize>(
        &self,
        path: &str,
        key: &str,
        body: &T,
    ) -> Result<IngestAck, GatewayError> {
        let url = self.url(path);
        let body = JsonBody::new(body).map_err(|e| GatewayError::Setup {
            url: url.clone(),
            detail: format!("the record could not be written as JSON: {e}"),
        })?;
        tracing::debug!(
            url,
            bytes = body.len(),
            gzip = body.is_gzip(),
            "ingest body"
        );
        let rb = body.attach(
            self.request(Method::POST, &url)
                .header(IDEMPOTENCY_KEY_HEADER, key),
        );
        let resp = self.send(rb, &url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        let ack: IngestAck = self.json(resp, &url).await?;
        if ack.idempotency_key != key {
            return Err(GatewayError::Garbage {
                url,
                detail: "the acknowledgement is for another request".into(),
            });
        }
        Ok(ack)
    }
}

fn offset_header(resp: &reqwest::Response, url: &str) -> Result<u64, GatewayError> {
    resp.headers()
        .get("Upload-Offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| GatewayError::Garbage {
            url: url.to_owned(),
            detail: "missing or invalid Upload-Offset header".into(),
        })
}

/// A short description of a transport error, without the noise of nested sources.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time (timeout)".into()
    } else if e.is_connect() {
        "connection refused or network down".into()
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the answer".into()
    } else {
        let mut s = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        s
    }
}

/// The most of an answer the kiosk reads: the gateway's JSON answers are capped at 1 MiB on its
/// side too, the catalog is the one large answer, an error's description is a sentence. A peer
/// that sends more (a broken proxy, an attacker on the LAN answering the unverified CA fetch)
/// gets a clear error instead of the kiosk's memory.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The catalog's cap (a province's full procedure list with its texts is a few hundred KiB).
pub const MAX_CATALOG_BYTES: usize = 16 * 1024 * 1024;
/// An error description's cap.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// The wait of a 429 that says none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Why a capped read stopped.
pub(crate) enum Capped {
    /// More than the cap arrived; what was read up to it.
    TooLarge(Vec<u8>),
    /// The connection failed mid-body.
    Transport(reqwest::Error),
}

impl Capped {
    pub(crate) fn into_error(self, client: &GatewayClient, url: &str) -> GatewayError {
        match self {
            Capped::TooLarge(read) => GatewayError::Garbage {
                url: url.to_owned(),
                detail: format!(
                    "the answer is larger than this kiosk reads (more than {} bytes); nothing of it was used",
                    read.len()
                ),
            },
            Capped::Transport(e) => client.transport(&e, url),
        }
    }
}

/// Reads at most `cap` bytes of an answer's body, chunk by chunk; a longer one is refused
/// without reading the rest.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, Capped> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(Capped::TooLarge(Vec::new()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Capped::Transport)? {
        if body.len() + chunk.len() > cap {
            body.extend_from_slice(&chunk[..cap - body.len()]);
            return Err(Capped::TooLarge(body));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
