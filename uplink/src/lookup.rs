//! The status lookup with the receipt's secret (`POST /v1/dossiers/status`): the secret goes in
//! the body, never in the URL, and the gateway's three answers (the status, "no such dossier
//! for this secret", too many failed tries) are told apart for the kiosk's screen.

use motcua_domain::wire::{DossierLookup, DossierStatusView};
use reqwest::{Method, StatusCode};

use crate::client::{GatewayClient, GatewayError};

/// What the gateway answered to a status lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupAnswer {
    /// The secret is the dossier's: its status (no documents).
    Found(DossierStatusView),
    /// No dossier of this site matches the code and the secret (the gateway does not say which
    /// of the two is wrong, nor whether the code exists).
    NotFound,
    /// Too many failed lookups by this kiosk or on this code: wait this many seconds.
    TooMany {
        /// The gateway's `Retry-After`.
        retry_after_s: u64,
    },
}

impl GatewayClient {
    /// Asks for the status of `code`, showing the receipt's `secret`.
    pub async fn lookup_status(
        &self,
        code: &str,
        secret: &str,
    ) -> Result<LookupAnswer, GatewayError> {
        let url = self.url("/v1/dossiers/status");
        let body = DossierLookup {
            code: code.to_owned(),
            secret: secret.to_owned(),
        };
        let resp = self
            .send(self.request(Method::POST, &url).json(&body), &url)
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(LookupAnswer::NotFound),
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after_s = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
                    // No usable header: the longest window of the gateway's limits.
                    .unwrap_or(3600);
                Ok(LookupAnswer::TooMany { retry_after_s })
            }
            s if s.is_success() => self.json(resp, &url).await.map(LookupAnswer::Found),
            _ => Err(GatewayClient::error_from(resp, &url).await),
        }
    }
}
