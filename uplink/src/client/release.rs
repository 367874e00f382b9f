//! The release routes of the gateway, for updates without a site visit: the offer
//! (`GET /v1/releases/offer`), the package by byte ranges (`GET /v1/releases/{version}/package`,
//! resumed with `Range: bytes=N-` and `If-Range` on the package's SHA-256 ETag), and the
//! device's report of how far it got (`POST /v1/releases/{version}/report`).
//!
//! These only speak HTTP; what is trusted (the manifest's signature, the package's hash) is
//! decided by [`crate::release`], never by an answer's fields.

use std::time::Duration;

use motcua_domain::wire::{ReleaseOffer, ReleaseReport, ReleaseStage, REPORT_DETAIL_MAX};
use reqwest::{header, Method, StatusCode};

use super::GatewayClient;
use crate::client::GatewayError;

/// The package's answer to a (range) request, its body not read yet.
pub struct PackageBody {
    /// The answer, to be read chunk by chunk ([`reqwest::Response::chunk`]).
    pub response: reqwest::Response,
    /// Where its first byte goes in the package: the offset asked for (206), or 0 when the
    /// gateway sent the whole package (200: an `If-Range` that did not match, or no range).
    pub start: u64,
    /// The URL asked (for errors).
    pub url: String,
}

/// The slowest a package may come before a request is cut (a poor commune link); the request's
/// time limit grows with what is left at this rate.
const SLOWEST_BYTES_PER_SEC: u64 = 32 * 1024;

/// Percent-encodes a Debian version for a path segment (`+`, `:` and `~` may occur in one).
fn segment(version: &str) -> String {
    version
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl GatewayClient {
    /// The release the gateway offers this device now, if any (the gateway records `offered`).
    pub async fn release_offer(
        &self,
        package: &str,
        running: &str,
    ) -> Result<ReleaseOffer, GatewayError> {
        let url = self.url("/v1/releases/offer");
        let rb = self
            .request(Method::GET, &url)
            .query(&[("package", package), ("running", running)]);
        let resp = self.send(rb, &url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        self.json(resp, &url).await
    }

    /// Asks for the package of `version` from `offset` on (`0`: the whole of it). With an
    /// `offset`, `etag` (the SHA-256 the partial file is of, quoted) goes as `If-Range`, so a
    /// package that changed comes whole instead of being spliced. `remaining` and `rate` (bytes
    /// per second, 0 = no cap) set the request's time limit. Errors: 404 not offered, 410
    /// `release_aborted`, 416 an offset past the end.
    pub async fn release_package(
        &self,
        version: &str,
        offset: u64,
        etag: &str,
        remaining: u64,
        rate: u64,
    ) -> Result<PackageBody, GatewayError> {
        let url = self.url(&format!("/v1/releases/{}/package", segment(version)));
        let slowest = match rate {
            0 => SLOWEST_BYTES_PER_SEC,
            r => r.min(SLOWEST_BYTES_PER_SEC),
        };
        let timeout = self.timeout + Duration::from_secs(remaining / slowest.max(1));
        let mut rb = self.request(Method::GET, &url).timeout(timeout);
        if offset > 0 {
            rb = rb
                .header(header::RANGE, format!("bytes={offset}-"))
                .header(header::IF_RANGE, etag);
        }
        let resp = self.send(rb, &url).await?;
        let start = match resp.status() {
            StatusCode::OK => 0,
            StatusCode::PARTIAL_CONTENT => {
                let range = resp
                    .headers()
                    .get(header::CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split_once('-'))
                    .and_then(|(first, _)| first.trim().parse::<u64>().ok());
                match range {
                    Some(first) if first == offset => first,
                    _ => {
                        return Err(GatewayError::Garbage {
                            url,
                            detail: format!(
                                "a partial answer that does not start at byte {offset}"
                            ),
                        })
                    }
                }
            }
            _ => return Err(Self::error_from(resp, &url).await),
        };
        Ok(PackageBody {
            response: resp,
            start,
            url,
        })
    }

    /// Reports how far this device got with `version`. The same stage again is a no-op at the
    /// gateway (204); a stage that cannot come after the device's is 409 `stage_refused`.
    /// `detail` is cut to [`REPORT_DETAIL_MAX`] bytes (at a character boundary).
    pub async fn report_release(
        &self,
        version: &str,
        stage: ReleaseStage,
        detail: Option<&str>,
    ) -> Result<(), GatewayError> {
        let url = self.url(&format!("/v1/releases/{}/report", segment(version)));
        let detail = detail.map(|d| {
            let mut end = d.len().min(REPORT_DETAIL_MAX);
            while !d.is_char_boundary(end) {
                end -= 1;
            }
            d[..end].to_owned()
        });
        let rb = self
            .request(Method::POST, &url)
            .json(&ReleaseReport { stage, detail });
        let resp = self.send(rb, &url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_are_encoded_for_a_path() {
        assert_eq!(super::segment("1:0.2.0~rc1+b1-1"), "1%3A0.2.0%7Erc1%2Bb1-1");
        assert_eq!(super::segment("0.2.0-1"), "0.2.0-1");
    }
}
