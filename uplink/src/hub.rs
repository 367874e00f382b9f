//! The kiosk's client of its centre's hub (issue #18): queue numbers, the fallback block,
//! offline tickets reported later, and ratings read from a ticket's QR.
//!
//! The hub is a device of the centre, not the provincial gateway: it presents its own DEVICE
//! certificate (the province's CA, extended key usage client authentication only, no DNS name),
//! so no stock server check fits. [`HubVerifier`] checks it the way the gateway checks a kiosk:
//! the chain to the province's CA ([`rustls::server::WebPkiClientVerifier`] over the kiosk's
//! trust anchor), then the names: a device certificate of the kiosk's own site (and, when the
//! kiosk's config names one, that hub's device id). Any other device of the province, a
//! certificate of another CA, or a laptop on the hall's LAN is refused before a byte of an
//! answer is read. The kiosk presents its own device certificate, which the hub reads its id
//! and site from.
//!
//! Timeouts are short on purpose (connect [`HUB_CONNECT_TIMEOUT`], whole request
//! [`HUB_REQUEST_TIMEOUT`]): a citizen is waiting at the screen, and an unreachable hub means
//! a number from the kiosk's own block, not a spinning wheel.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use motcua_domain::wire::hub::{
    HubIssueRequest, HubJoined, HubOfflineRecorded, HubOfflineTicket, HubOfflineTickets,
    HubRateRequest, HubRated, HubRefusal, HubTicket, MAX_OFFLINE_TICKETS,
};
use motcua_identity::{PeerIdentity, Role};
use reqwest::Method;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::{read_capped, Capped, MAX_ANSWER_BYTES};
use crate::identity::{DeviceCredential, TrustAnchor};

/// How long the kiosk waits for the hub's TCP connection.
pub const HUB_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one request to the hub may take in all.
pub const HUB_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// What went wrong talking to the hub, in words (Vietnamese / English) for the kiosk's log,
/// `kioskctl status` and, where it helps, the screen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HubError {
    /// The client could not be made (a bad URL, an unusable certificate).
    #[error("không dùng được máy chủ quầy {url} / the hub {url} cannot be used: {detail}")]
    Setup {
        /// The hub's URL.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// No answer: the hub is off, the LAN is down, or it did not answer in time.
    #[error("không kết nối được máy chủ quầy {url} / the hub {url} is unreachable: {detail}")]
    Unreachable {
        /// The hub's URL.
        url: String,
        /// The network's words.
        detail: String,
    },
    /// The peer answered but its certificate does not prove it is this centre's hub.
    #[error("{url} không phải máy chủ quầy của trung tâm này / {url} is not this centre's hub: {detail}")]
    NotOurHub {
        /// The hub's URL.
        url: String,
        /// Why its certificate was refused.
        detail: String,
    },
    /// The hub refused this kiosk's certificate during the handshake.
    #[error("máy chủ quầy {url} từ chối chứng thư của ki-ốt / the hub {url} refused this kiosk's certificate: {detail}")]
    KioskRefused {
        /// The hub's URL.
        url: String,
        /// The TLS alert in words.
        detail: String,
    },
    /// The hub answered with a refusal ([`HubRefusal`]).
    #[error("máy chủ quầy từ chối ({status} {}) / the hub refused ({status} {}): {}", .refusal.code, .refusal.code, .refusal.message)]
    Refused {
        /// The hub's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Its code and words.
        refusal: HubRefusal,
    },
    /// The answer was not what the contract says.
    #[error("câu trả lời của máy chủ quầy {url} không đọc được / the hub's answer from {url} is unreadable: {detail}")]
    Garbage {
        /// The hub's URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

impl HubError {
    /// Whether the kiosk should act as if the hub were not there (number from its own block,
    /// rate locally): the hub is unreachable or not provably ours, it refused the kiosk's
    /// certificate, it is unavailable (5xx, `unavailable`), or its answer is unreadable. A
    /// refusal about the request itself (`already_rated`, `bad_request`, …) is not: the kiosk
    /// shows it.
    pub fn hub_unavailable(&self) -> bool {
        match self {
            HubError::Setup { .. }
            | HubError::Unreachable { .. }
            | HubError::NotOurHub { .. }
            | HubError::KioskRefused { .. }
            | HubError::Garbage { .. } => true,
            HubError::Refused {
                status, refusal, ..
            } => *status >= 500 || refusal.code == "unavailable",
        }
    }

    /// The refusal's stable code, when the hub refused the request.
    pub fn refusal_code(&self) -> Option<&str> {
        match self {
            HubError::Refused { refusal, .. } => Some(&refusal.code),
            _ => None,
        }
    }
}

/// A client bound to one hub, the province's CA and this kiosk's device certificate.
#[derive(Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for HubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HubClient {
    /// A client of the hub at `url` (`https://host:port`) that accepts only a device
    /// certificate of `anchor` naming the site of `device` (and `hub_device_id`, when given),
    /// and presents `device`.
    pub fn new(
        url: &str,
        anchor: &TrustAnchor,
        device: &DeviceCredential,
        hub_device_id: Option<&str>,
    ) -> Result<Self, HubError> {
        let base = url.trim_end_matches('/').to_owned();
        let setup = |detail: String| HubError::Setup {
            url: base.clone(),
            detail,
        };
        let parsed = reqwest::Url::parse(&base).map_err(|e| setup(format!("not a URL: {e}")))?;
        if parsed.scheme() != "https" || parsed.host_str().is_none() {
            return Err(setup(
                "the hub is reached at https://host:port only (TLS with the province's CA)".into(),
            ));
        }
        let site = device.peer().site.clone().ok_or_else(|| {
            setup("this kiosk's certificate names no site, so no hub can be checked".into())
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = HubVerifier::new(anchor, site, hub_device_id, provider.clone())
            .map_err(|e| setup(e.to_string()))?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| setup(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_cert_resolver(Arc::new(Presents(device.certified())));
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .https_only(true)
            .connect_timeout(HUB_CONNECT_TIMEOUT)
            .timeout(HUB_REQUEST_TIMEOUT)
            .user_agent(concat!("motcua-kiosk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| setup(e.to_string()))?;
        Ok(Self { http, base })
    }

    /// The hub's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// `POST /v1/hub/join`: this kiosk's fallback block (the same on every call).
    pub async fn join(&self) -> Result<HubJoined, HubError> {
        let joined: HubJoined = self.post("/v1/hub/join", &serde_json::json!({})).await?;
        if joined.first == 0 || joined.last < joined.first {
            return Err(HubError::Garbage {
                url: self.base.clone(),
                detail: format!("an empty fallback block {}–{}", joined.first, joined.last),
            });
        }
        Ok(joined)
    }

    /// `POST /v1/hub/tickets`: the next number of `area` in the hall's sequence.
    pub async fn issue(&self, area: &str) -> Result<HubTicket, HubError> {
        let ticket: HubTicket = self
            .post(
                "/v1/hub/tickets",
                &HubIssueRequest {
                    area: area.to_owned(),
                },
            )
            .await?;
        if ticket.area != area || ticket.ticket_id.is_empty() {
            return Err(HubError::Garbage {
                url: self.base.clone(),
                detail: format!(
                    "a ticket for area {:?} was asked, one for {:?} came back",
                    area, ticket.area
                ),
            });
        }
        Ok(ticket)
    }

    /// `POST /v1/hub/offline-tickets`: tickets this kiosk numbered from its block, oldest first
    /// (at most [`MAX_OFFLINE_TICKETS`]; the caller sends the rest in later calls). Recording
    /// one twice is not an error at the hub.
    pub async fn report_offline(
        &self,
        tickets: &[HubOfflineTicket],
    ) -> Result<HubOfflineRecorded, HubError> {
        if tickets.len() > MAX_OFFLINE_TICKETS {
            return Err(HubError::Setup {
                url: self.base.clone(),
                detail: format!(
                    "at most {MAX_OFFLINE_TICKETS} offline tickets a request, {} given",
                    tickets.len()
                ),
            });
        }
        let recorded: HubOfflineRecorded = self
            .post(
                "/v1/hub/offline-tickets",
                &HubOfflineTickets {
                    tickets: tickets.to_vec(),
                },
            )
            .await?;
        if recorded.ticket_ids.len() != tickets.len() {
            return Err(HubError::Garbage {
                url: self.base.clone(),
                detail: format!(
                    "{} tickets sent, {} recorded",
                    tickets.len(),
                    recorded.ticket_ids.len()
                ),
            });
        }
        Ok(recorded)
    }

    /// `POST /v1/hub/ratings`: a rating of the ticket `ticket_id` (its QR), `level` 1 = best on
    /// a scale of `levels`. `already_rated`, `not_finished` and `unknown_ticket` come back as
    /// [`HubError::Refused`].
    pub async fn rate(
        &self,
        ticket_id: &str,
        rating_code: Option<&str>,
        level: u8,
        levels: u8,
    ) -> Result<HubRated, HubError> {
        self.post(
            "/v1/hub/ratings",
            &HubRateRequest {
                ticket_id: ticket_id.to_owned(),
                level,
                levels,
                rating_code: rating_code.map(str::to_owned),
            },
        )
        .await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, HubError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .request(Method::POST, &url)
            .json(body)
            .send()
            .await
            .map_err(|e| transport(&e, &self.base))?;
        let status = resp.status().as_u16();
        let ok = resp.status().is_success();
        let body = match read_capped(resp, MAX_ANSWER_BYTES).await {
            Ok(body) => body,
            Err(Capped::TooLarge(_)) => {
                return Err(HubError::Garbage {
                    url: self.base.clone(),
                    detail: format!("an answer of more than {MAX_ANSWER_BYTES} bytes"),
                })
            }
            Err(Capped::Transport(e)) => return Err(transport(&e, &self.base)),
        };
        if !ok {
            let refusal = serde_json::from_slice::<HubRefusal>(&body).unwrap_or_else(|_| {
                HubRefusal {
                    code: if status >= 500 { "unavailable" } else { "unknown" }.into(),
                    message: format!(
                        "trả lời {status} không có lời giải thích / status {status} without an explanation"
                    ),
                }
            });
            return Err(HubError::Refused {
                url: self.base.clone(),
                status,
                refusal,
            });
        }
        serde_json::from_slice(&body).map_err(|e| HubError::Garbage {
            url: self.base.clone(),
            detail: format!("not the expected JSON: {e}"),
        })
    }
}

/// A transport error in words: the hub's certificate refused by [`HubVerifier`], this kiosk's
/// refused by the hub, or the network.
fn transport(e: &reqwest::Error, url: &str) -> HubError {
    if let Some(tls) = crate::tls::find_rustls(e) {
        return match tls {
            rustls::Error::InvalidCertificate(c) => HubError::NotOurHub {
                url: url.to_owned(),
                detail: certificate_words(c),
            },
            rustls::Error::NoCertificatesPresented => HubError::NotOurHub {
                url: url.to_owned(),
                detail: "it presented no certificate".into(),
            },
            rustls::Error::AlertReceived(alert) => HubError::KioskRefused {
                url: url.to_owned(),
                detail: format!("TLS alert {alert:?}"),
            },
            other => HubError::Unreachable {
                url: url.to_owned(),
                detail: format!("the TLS handshake failed ({other}); is this the hub's port?"),
            },
        };
    }
    let detail = if e.is_timeout() {
        "không trả lời kịp / no answer in time".to_owned()
    } else if e.is_connect() {
        "kết nối bị từ chối hoặc mạng hỏng / connection refused or network down".to_owned()
    } else {
        let mut s = e.to_string();
        let mut src = StdError::source(e);
        while let Some(inner) = src {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            src = inner.source();
        }
        s
    };
    HubError::Unreachable {
        url: url.to_owned(),
        detail,
    }
}

fn certificate_words(c: &CertificateError) -> String {
    match c {
        CertificateError::Other(other) => match other.0.downcast_ref::<NotThisHub>() {
            Some(n) => n.0.clone(),
            None => other.to_string(),
        },
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            "its certificate is not signed by the province's CA (identity/ca.crt)".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "its certificate has expired, or this kiosk's clock is wrong".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "its certificate is not valid yet, or this kiosk's clock is wrong".into()
        }
        CertificateError::Revoked => "its certificate was revoked".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "its certificate is not a device certificate of the province".into()
        }
        other => format!("its certificate is not acceptable ({other:?})"),
    }
}

/// Why a certificate of the province's CA is still not this centre's hub.
#[derive(Debug)]
struct NotThisHub(String);

impl std::fmt::Display for NotThisHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for NotThisHub {}

/// The kiosk's check of the hub's certificate (see the module's words).
#[derive(Debug)]
pub struct HubVerifier {
    chain: Arc<dyn ClientCertVerifier>,
    site: String,
    hub_device_id: Option<String>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl HubVerifier {
    /// A verifier accepting a device certificate of `anchor` naming `site` (and
    /// `hub_device_id`, when given).
    pub fn new(
        anchor: &TrustAnchor,
        site: String,
        hub_device_id: Option<&str>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let root = CertificateDer::from_pem_slice(anchor.pem().as_bytes())
            .map_err(|e| format!("the province's CA is unreadable: {e}"))?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(root)
            .map_err(|e| format!("the province's CA is not usable as a root: {e}"))?;
        let algorithms = provider.signature_verification_algorithms;
        let chain =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("no certificate check can be made: {e}"))?;
        Ok(Self {
            chain,
            site,
            hub_device_id: hub_device_id.map(str::to_owned),
            algorithms,
        })
    }

    fn refuse(words: String) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            NotThisHub(words),
        ))))
    }
}

impl ServerCertVerifier for HubVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The hub's certificate names no host: who it is lies in its subject, checked below,
        // after the chain proved the province's CA made it.
        self.chain
            .verify_client_cert(end_entity, intermediates, now)?;
        let peer = PeerIdentity::from_der(end_entity).map_err(|e| Self::refuse(e.to_string()))?;
        if peer.role != Role::Device {
            return Err(Self::refuse(format!(
                "its certificate is a {} certificate, not a device's",
                peer.role
            )));
        }
        if peer.site.as_deref() != Some(self.site.as_str()) {
            return Err(Self::refuse(format!(
                "its certificate names site {:?}, not this kiosk's site {:?}",
                peer.site.as_deref().unwrap_or(""),
                self.site
            )));
        }
        if let Some(id) = &self.hub_device_id {
            if &peer.name != id {
                return Err(Self::refuse(format!(
                    "its certificate names device {:?}, not the hub {id:?} of [hub] device_id",
                    peer.name
                )));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Always presents the kiosk's device certificate (the hub requires one).
#[derive(Debug)]
struct Presents(Arc<rustls::sign::CertifiedKey>);

impl ResolvesClientCert for Presents {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
