//! What a failed TLS connection means, in words: the gateway's certificate is not the
//! province's (this may not be the real gateway), the kiosk's clock is off, or the gateway
//! refused this kiosk's certificate.
//!
//! reqwest hides the cause several layers down (hyper → an `io::Error` → `rustls::Error`), and
//! `io::Error::source()` skips the error it wraps, so the chain is walked by hand, looking
//! into every `io::Error` too.

use std::error::Error as StdError;

use rustls::{AlertDescription, CertificateError};

/// What a TLS failure says about the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The peer's certificate does not prove it is the province's gateway.
    Untrusted(String),
    /// The gateway refused this kiosk's certificate during the handshake (an alert).
    Refused {
        /// A stable code (`tls_certificate_revoked`, …).
        code: String,
        /// Words for a technician.
        detail: String,
    },
    /// Another TLS failure (a server that speaks no TLS, no common protocol version): the
    /// link is down as far as the kiosk can tell.
    Failed(String),
}

/// The rustls error in the chain of `e`, if any.
pub(crate) fn find_rustls<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut node: Option<&'a (dyn StdError + 'static)> = Some(e);
    while let Some(err) = node {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                let inner: &'a (dyn StdError + 'static) = inner;
                if let Some(r) = find_rustls(inner) {
                    return Some(r);
                }
            }
        }
        node = err.source();
    }
    None
}

/// Classifies a transport error by its TLS cause; `None` if it was not a TLS refusal (the
/// network, a timeout, a server that speaks no TLS).
pub(crate) fn classify(e: &(dyn StdError + 'static), host: &str) -> Option<TlsFailure> {
    match find_rustls(e)?.clone() {
        rustls::Error::InvalidCertificate(c) => Some(TlsFailure::Untrusted(certificate(&c, host))),
        rustls::Error::NoCertificatesPresented => {
            Some(TlsFailure::Untrusted("it presented no certificate".into()))
        }
        rustls::Error::AlertReceived(alert) => Some(refused(alert).unwrap_or_else(|| {
            TlsFailure::Failed(format!("the TLS handshake failed (alert {alert:?})"))
        })),
        other => Some(TlsFailure::Failed(format!(
            "the TLS handshake failed ({other}); is this the gateway's https port?"
        ))),
    }
}

fn certificate(c: &CertificateError, host: &str) -> String {
    match c {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            "its certificate is not signed by the province's CA (identity/ca.crt)".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "its certificate has expired, or this kiosk's clock is wrong: check the kiosk's date and time".into()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "its certificate is not valid yet, or this kiosk's clock is wrong: check the kiosk's date and time".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("its certificate is not for the name {host} (check [gateway] url)")
        }
        CertificateError::Revoked => "its certificate was revoked".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "its certificate is not a server certificate".into()
        }
        other => format!("its certificate is not acceptable ({other:?})"),
    }
}

fn refused(alert: AlertDescription) -> Option<TlsFailure> {
    let (code, detail) = match alert {
        AlertDescription::CertificateRevoked => (
            "tls_certificate_revoked",
            "the gateway says this kiosk's certificate was revoked",
        ),
        AlertDescription::CertificateExpired => (
            "tls_certificate_expired",
            "the gateway says this kiosk's certificate has expired (or the kiosk's clock is wrong)",
        ),
        AlertDescription::UnknownCA | AlertDescription::BadCertificate => (
            "tls_certificate_unknown",
            "the gateway does not know the CA of this kiosk's certificate",
        ),
        AlertDescription::CertificateRequired => (
            "tls_certificate_required",
            "the gateway requires this kiosk's certificate",
        ),
        AlertDescription::CertificateUnknown
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::AccessDenied => (
            "tls_certificate_unknown",
            "the gateway refused this kiosk's certificate",
        ),
        _ => return None,
    };
    Some(TlsFailure::Refused {
        code: code.into(),
        detail: detail.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: rustls::Error) -> Box<dyn StdError + Send + Sync> {
        // As hyper-rustls hands it up: an io::Error around the rustls error, inside another.
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl StdError for Outer {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        Box::new(Outer(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e,
        )))
    }

    fn untrusted(e: rustls::Error) -> String {
        match classify(wrapped(e).as_ref(), "gw.example") {
            Some(TlsFailure::Untrusted(d)) => d,
            other => panic!("expected untrusted, got {other:?}"),
        }
    }

    #[test]
    fn the_cause_is_found_inside_io_errors_and_said_in_words() {
        let d = untrusted(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(d.contains("not signed by the province's CA"), "{d}");
        let d = untrusted(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ));
        assert!(d.contains("not signed by the province's CA"), "{d}");
        let d = untrusted(rustls::Error::InvalidCertificate(CertificateError::Expired));
        assert!(d.contains("clock"), "{d}");
        let d = untrusted(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
        assert!(d.contains("clock"), "{d}");
        let d = untrusted(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert!(d.contains("gw.example"), "{d}");
    }

    #[test]
    fn alerts_about_the_kiosks_certificate_are_refusals_and_others_mere_failures() {
        let e = wrapped(rustls::Error::AlertReceived(
            AlertDescription::CertificateRevoked,
        ));
        assert!(matches!(
            classify(e.as_ref(), "h"),
            Some(TlsFailure::Refused { code, .. }) if code == "tls_certificate_revoked"
        ));
        let e = wrapped(rustls::Error::AlertReceived(
            AlertDescription::InternalError,
        ));
        assert!(matches!(
            classify(e.as_ref(), "h"),
            Some(TlsFailure::Failed(d)) if d.contains("InternalError")
        ));
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(classify(&plain, "h"), None);
    }
}
