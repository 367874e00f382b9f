//! HTTP client of the provincial gateway: enrolment, catalog, tus uploads and idempotent ingest.
//!
//! Every failure is classified so the uplink knows whether retrying can help, and described in
//! words a technician reads in `kioskctl status` (never with personal data).

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use motcua_domain::wire::{
    ApiError, DossierStatusView, EnrollRequest, EnrollResponse, IngestAck, IDEMPOTENCY_KEY_HEADER,
    TUS_SHA256_METADATA, TUS_VERSION,
};
use reqwest::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a request to the gateway did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No answer: network down, gateway stopped, timeout, connection cut.
    #[error("cannot reach the gateway at {url}: {detail}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the network layer said.
        detail: String,
    },
    /// The gateway answered with an error status.
    #[error("the gateway at {url} answered {status} ({code}): {message}")]
    Status {
        /// The URL tried.
        url: String,
        /// HTTP status.
        status: u16,
        /// The gateway's stable error code (or `unknown`).
        code: String,
        /// The gateway's explanation.
        message: String,
    },
    /// The gateway answered, but not with what the protocol says.
    #[error("the gateway at {url} answered something unexpected: {detail}")]
    Garbage {
        /// The URL tried.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

impl GatewayError {
    /// The gateway's error code for an error status, if that is what this is.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, if the gateway answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client bound to one gateway and one device token.
#[derive(Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    timeout: Duration,
}

impl GatewayClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8700`); `token` is the device's bearer token.
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Result<Self, GatewayError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("motcua-kiosk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Unreachable {
                url: base.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            timeout,
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, url);
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, GatewayError> {
        rb.send().await.map_err(|e| GatewayError::Unreachable {
            url: url.to_owned(),
            detail: describe(&e),
        })
    }

    async fn error_from(resp: reqwest::Response, url: &str) -> GatewayError {
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<ApiError>(&body) {
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

    async fn json<T: DeserializeOwned>(
        resp: reqwest::Response,
        url: &str,
    ) -> Result<T, GatewayError> {
        let body = resp.bytes().await.map_err(|e| GatewayError::Unreachable {
            url: url.to_owned(),
            detail: describe(&e),
        })?;
        serde_json::from_slice(&body).map_err(|e| GatewayError::Garbage {
            url: url.to_owned(),
            detail: format!("the answer is not the expected JSON: {e}"),
        })
    }

    /// Enrols this device with the province's enrolment key; returns the device token. A
    /// client built with the admin key as its token may re-enrol an already enrolled device.
    pub async fn enroll(
        &self,
        device_id: &str,
        enrollment_key: &str,
    ) -> Result<String, GatewayError> {
        let url = self.url("/v1/devices/enroll");
        let rb = self.request(Method::POST, &url).json(&EnrollRequest {
            device_id: device_id.to_owned(),
            enrollment_key: enrollment_key.to_owned(),
        });
        let resp = self.send(rb, &url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        let r: EnrollResponse = Self::json(resp, &url).await?;
        Ok(r.token)
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
        let body = resp.text().await.map_err(|e| GatewayError::Unreachable {
            url: url.clone(),
            detail: describe(&e),
        })?;
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
        // The device token must never be sent to another host.
        if !upload_url.starts_with(&format!("{}/", self.base)) {
            return Err(GatewayError::Garbage {
                url,
                detail: "the upload location points to another server".into(),
            });
        }
        Ok(upload_url)
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
    pub async fn ingest<T: Serialize>(
        &self,
        path: &str,
        key: &str,
        body: &T,
    ) -> Result<IngestAck, GatewayError> {
        let url = self.url(path);
        let rb = self
            .request(Method::POST, &url)
            .header(IDEMPOTENCY_KEY_HEADER, key)
            .json(body);
        let resp = self.send(rb, &url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        let ack: IngestAck = Self::json(resp, &url).await?;
        if ack.idempotency_key != key {
            return Err(GatewayError::Garbage {
                url,
                detail: "the acknowledgement is for another request".into(),
            });
        }
        Ok(ack)
    }

    /// The status of a dossier at the gateway, or `None` if the gateway does not know it.
    pub async fn dossier_status(
        &self,
        code: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let url = self.url(&format!("/v1/dossiers/{code}"));
        let resp = self.send(self.request(Method::GET, &url), &url).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        Self::json(resp, &url).await.map(Some)
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
