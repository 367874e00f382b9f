//! Why a request to the gateway did not succeed, classified so the uplink knows whether
//! retrying can help (and how long to wait), in words a technician reads.

use std::time::Duration;

/// The gateway's error codes for a device certificate it does not accept (HTTP 401).
pub const CERTIFICATE_REFUSALS: [&str; 3] = [
    "certificate_required",
    "certificate_unknown",
    "certificate_revoked",
];

/// Why a request to the gateway did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The client cannot be made (not an `https://` URL, an unusable TLS setup).
    #[error("cannot set up the link to the gateway at {url}: {detail}")]
    Setup {
        /// The gateway URL.
        url: String,
        /// What is wrong.
        detail: String,
    },
    /// No answer: network down, gateway stopped, timeout, connection cut.
    #[error("cannot reach the gateway at {url}: {detail}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the network layer said.
        detail: String,
    },
    /// The server's certificate does not prove it is the province's gateway: the connection
    /// was dropped during the handshake, before anything was sent.
    #[error("máy chủ không đáng tin / untrusted server at {url}: {detail}; this may not be the real gateway, nothing was delivered")]
    Untrusted {
        /// The URL tried.
        url: String,
        /// Why, in words (wrong CA, the kiosk's clock, another host name).
        detail: String,
    },
    /// The gateway does not accept this kiosk's certificate (revoked, unknown, missing), at the
    /// handshake or with a 401: retrying cannot help until a technician re-enrols the kiosk.
    #[error("{}: a technician must re-enrol this kiosk (kioskctl enroll); the gateway at {url}: {detail}", refusal_words(code))]
    CertificateRefused {
        /// The URL tried.
        url: String,
        /// The gateway's code (`certificate_revoked`, …) or the TLS alert's (`tls_…`).
        code: String,
        /// The gateway's explanation.
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
    /// The gateway asks the kiosk to slow down (429: its request rate, open uploads or bytes of
    /// the day): not a failure of the record, it is sent again after `retry_after`.
    #[error("máy chủ yêu cầu chờ {}s / the gateway at {url} asks to wait {}s ({code}): {message}", retry_after.as_secs(), retry_after.as_secs())]
    Busy {
        /// The URL tried.
        url: String,
        /// The gateway's code (`rate_limited`, `too_many_open_uploads`, `upload_quota_exceeded`).
        code: String,
        /// The gateway's explanation.
        message: String,
        /// How long to wait (the answer's `Retry-After`, 60 s when it has none).
        retry_after: Duration,
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

/// The status words of a certificate refusal, Vietnamese first.
fn refusal_words(code: &str) -> &'static str {
    match code {
        "certificate_revoked" | "tls_certificate_revoked" => {
            "chứng thư bị thu hồi / certificate revoked"
        }
        "certificate_required" | "tls_certificate_required" => {
            "thiếu chứng thư / certificate required"
        }
        "tls_certificate_expired" => "chứng thư hết hạn / certificate expired",
        _ => "chứng thư không được chấp nhận / certificate not accepted",
    }
}

impl GatewayError {
    /// The gateway's error code for an error status or a refused certificate.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. }
            | Self::CertificateRefused { code, .. }
            | Self::Busy { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, if the gateway answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Busy { .. } => Some(429),
            _ => None,
        }
    }

    /// How long the gateway asked to wait, for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether the gateway refuses this kiosk's certificate (a technician must re-enrol it).
    pub fn is_certificate_refused(&self) -> bool {
        matches!(self, Self::CertificateRefused { .. })
    }

    /// Whether the server could not prove it is the province's gateway.
    pub fn is_untrusted(&self) -> bool {
        matches!(self, Self::Untrusted { .. })
    }

    /// Whether the failure is about the link itself (network, trust, certificate) rather than
    /// about one request: what the kiosk's status line shows.
    pub fn is_link_problem(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Untrusted { .. } | Self::CertificateRefused { .. }
        )
    }
}
