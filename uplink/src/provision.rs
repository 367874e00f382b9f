//! Joining the province with a setup code, and the device routes of provisioning.
//!
//! A fresh kiosk knows only the provisioning public key it was installed with. The setup code
//! (checked by the kiosk before this module is used) names the gateway and the SHA-256 of the
//! province's CA, so the CA itself is fetched from the gateway over TLS *without* verification,
//! for that one request only, and trusted only if its fingerprint matches the code: whoever
//! answers that request cannot substitute another CA without the code's signature breaking.
//! Every later request is mutual TLS with that CA alone.
//!
//! The device's key pair is made before the first enrolment request and kept in
//! `identity/device.pending.key` (0600) until the certificate is saved: a kiosk that lost the
//! gateway's answer (network cut, power) sends a request for the same key again, which is what
//! the gateway accepts a used token for; any other key would be refused as `token_used`.

use std::time::Duration;

use motcua_domain::provisioning::{
    DeviceProfile, ProvisionRequest, Provisioned, RemoteActionResult, RemoteActions, SequenceBlocks,
};
use motcua_identity::setup_code::SetupCode;
use motcua_identity::{DeviceKey, PeerIdentity};
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::client::{GatewayClient, GatewayError};
use crate::identity::{check_issued, IdentityFileError, IdentityFiles, TrustAnchor};

/// Why a provisioning step failed, in words for the technician (Vietnamese first).
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The CA the gateway serves is not the one the setup code names.
    #[error("mã không khớp CA của tỉnh / the gateway's CA does not match the setup code (the code names {expected}, {url} serves {served}); check the gateway address, nothing was sent")]
    CaMismatch {
        /// The gateway URL.
        url: String,
        /// The code's fingerprint.
        expected: String,
        /// The served CA's fingerprint.
        served: String,
    },
    /// The gateway refused the setup code's token (or the agency's numbers are used up).
    #[error("{words} ({code})")]
    Refused {
        /// The gateway's error code.
        code: String,
        /// What the technician reads.
        words: String,
    },
    /// The profile the gateway serves is not the one the sheet was printed for.
    #[error("hồ sơ cấu hình đã đổi sau khi in phiếu; in phiếu mới / the profile changed after the sheet was printed; print a new sheet (profile {name}: the code says {expected}, the gateway serves {served})")]
    ProfileChanged {
        /// The profile's name.
        name: String,
        /// The code's SHA-256.
        expected: String,
        /// The served text's SHA-256.
        served: String,
    },
    /// Any other gateway failure (unreachable, unexpected answer).
    #[error(transparent)]
    Gateway(GatewayError),
    /// The identity files cannot be written, or the certificate issued is not this kiosk's.
    #[error(transparent)]
    Files(#[from] IdentityFileError),
    /// The key pair or its request cannot be made.
    #[error("không tạo được cặp khoá của ki-ốt / cannot make the device's key pair: {0}")]
    Key(#[from] motcua_identity::IdentityError),
}

impl From<GatewayError> for ProvisionError {
    fn from(e: GatewayError) -> Self {
        let words = match e.code() {
            Some("token_used") => {
                "mã này đã được dùng cho ki-ốt khác / this code was already used by another kiosk"
            }
            Some("token_spent") => {
                "mã này đã dùng xong cho ki-ốt này; muốn cài lại hãy in phiếu mới / this code was already used up by this kiosk; to set it up again, print a new sheet"
            }
            Some("token_withdrawn") => {
                "mã cấu hình đã bị thu hồi; hãy xin phiếu mới / the setup code was withdrawn: ask for a new sheet"
            }
            Some("token_expired") => {
                "mã cấu hình đã hết hạn; hãy in phiếu mới / the setup code has expired; print a new sheet"
            }
            Some("token_unknown") => {
                "cổng không biết mã này (đã bị thu hồi hoặc của tỉnh khác) / the gateway does not know this code (withdrawn, or another province's)"
            }
            Some("sequence_exhausted") => {
                "đơn vị đã hết dải số hồ sơ trong ngày; liên hệ quản trị tỉnh / the agency's daily dossier numbers are all allocated; ask the province's administrator"
            }
            Some("too_many_blocks") => {
                "ki-ốt đã giữ đủ số dải số / this kiosk holds as many sequence blocks as allowed"
            }
            Some("invalid_csr") => {
                "cổng không nhận yêu cầu chứng thư / the gateway refused the certificate request"
            }
            _ => return Self::Gateway(e),
        };
        Self::Refused {
            code: e.code().unwrap_or_default().to_owned(),
            words: words.to_owned(),
        }
    }
}

impl ProvisionError {
    /// The gateway's error code, when it refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            Self::Gateway(e) => e.code(),
            _ => None,
        }
    }
}

/// What enrolment with a setup code gave.
#[derive(Debug, Clone)]
pub struct ProvisionOutcome {
    /// Who the saved certificate names.
    pub peer: PeerIdentity,
    /// The device's sequence blocks and profile name, as the gateway answered.
    pub provisioned: Provisioned,
}

/// SHA-256 (lowercase hex) of a text's UTF-8 bytes: how a profile is named in a setup code.
pub fn text_sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Fetches the province's CA from `gateway_url` (`GET /v1/ca.pem`, the server's certificate
/// not verified for this one request) and returns it as the trust anchor if its SHA-256 is
/// `expected_sha256`.
pub async fn fetch_ca(
    gateway_url: &str,
    expected_sha256: &str,
    timeout: Duration,
) -> Result<TrustAnchor, ProvisionError> {
    let base = gateway_url.trim_end_matches('/');
    let url = format!("{base}/v1/ca.pem");
    let setup = |detail: String| GatewayError::Setup {
        url: base.to_owned(),
        detail,
    };
    if !base.starts_with("https://") {
        return Err(setup("the gateway is reached over https:// only".into()).into());
    }
    // Unverified on purpose, and only here: what is read is checked against the signed code.
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .danger_accept_invalid_certs(true)
        .https_only(true)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("motcua-kiosk/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| setup(e.to_string()))?;
    let unreachable = |e: reqwest::Error| GatewayError::Unreachable {
        url: url.clone(),
        detail: if e.is_timeout() {
            "no answer in time (timeout)".into()
        } else if e.is_connect() {
            "connection refused or network down".into()
        } else {
            e.to_string()
        },
    };
    let resp = http.get(&url).send().await.map_err(unreachable)?;
    if resp.status() != StatusCode::OK {
        return Err(GatewayClient::error_from(resp, &url).await.into());
    }
    // Fetched before the peer is trusted: a certificate is a few KiB, and nothing more is read.
    let pem = match crate::client::read_capped(resp, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(crate::client::Capped::TooLarge(_)) => {
            return Err(GatewayError::Garbage {
                url: url.clone(),
                detail: "the CA answer is larger than a certificate (more than 64 KiB): not the province's gateway".into(),
            }
            .into())
        }
        Err(crate::client::Capped::Transport(e)) => return Err(unreachable(e).into()),
    };
    let served =
        motcua_identity::certificate_fingerprint(&pem).map_err(|e| GatewayError::Garbage {
            url: url.clone(),
            detail: format!("not a certificate: {e}"),
        })?;
    let expected = expected_sha256.trim().to_ascii_lowercase();
    if served != expected {
        return Err(ProvisionError::CaMismatch {
            url: base.to_owned(),
            expected,
            served,
        });
    }
    Ok(TrustAnchor::from_pem(&pem, &url)?)
}

/// Enrols with the setup code's token: the kept pending key pair (made now on the first
/// attempt), its request, the certificate checked against the code's device id and site and
/// the anchor, then `ca.crt` and `device.pem` saved atomically and the pending key dropped.
pub async fn enrol_with_token(
    code: &SetupCode,
    anchor: &TrustAnchor,
    files: &IdentityFiles,
    timeout: Duration,
) -> Result<ProvisionOutcome, ProvisionError> {
    let key_pem = match files.pending_key()? {
        Some(pem) => pem,
        None => {
            let fresh = DeviceKey::generate(&code.device_id, &code.site)?;
            files.save_pending_key(&fresh.key_pem)?;
            fresh.key_pem
        }
    };
    let key = DeviceKey::from_key_pem(&key_pem, &code.device_id, &code.site)?;
    let client = GatewayClient::new(&code.gateway_url, anchor, None, timeout)?;
    let provisioned = client.provision(&code.token, &key.csr_pem).await?;
    let peer = check_issued(
        &provisioned.certificate,
        &code.device_id,
        &code.site,
        anchor,
    )?;
    let _lock = files
        .lock_renewal(timeout * 2 + Duration::from_secs(10))
        .await?;
    files.save_anchor(anchor)?;
    files.save_device(&key.key_pem, &provisioned.certificate.certificate_pem)?;
    files.forget_pending_key()?;
    Ok(ProvisionOutcome { peer, provisioned })
}

/// Downloads the device's profile and checks it is the one the setup code was printed for.
pub async fn fetch_profile(
    client: &GatewayClient,
    name: &str,
    expected_sha256: &str,
) -> Result<DeviceProfile, ProvisionError> {
    let profile = client.profile().await?;
    let served = text_sha256(&profile.toml);
    let expected = expected_sha256.trim().to_ascii_lowercase();
    if served != expected || !profile.sha256.eq_ignore_ascii_case(&expected) || profile.name != name
    {
        return Err(ProvisionError::ProfileChanged {
            name: name.to_owned(),
            expected,
            served,
        });
    }
    Ok(profile)
}

impl GatewayClient {
    /// `POST /v1/devices/provision`: the token and a request for the kiosk's key pair.
    pub async fn provision(&self, token: &str, csr_pem: &str) -> Result<Provisioned, GatewayError> {
        let url = self.url("/v1/devices/provision");
        let rb = self.request(Method::POST, &url).json(&ProvisionRequest {
            token: token.to_owned(),
            csr_pem: csr_pem.to_owned(),
        });
        self.answer(rb, &url).await
    }

    /// `GET /v1/devices/profile`: this device's config profile.
    pub async fn profile(&self) -> Result<DeviceProfile, GatewayError> {
        let url = self.url("/v1/devices/profile");
        self.answer(self.request(Method::GET, &url), &url).await
    }

    /// `POST /v1/devices/sequence-blocks`: one more block; answers with every block held.
    pub async fn request_sequence_block(&self) -> Result<SequenceBlocks, GatewayError> {
        let url = self.url("/v1/devices/sequence-blocks");
        let rb = self
            .request(Method::POST, &url)
            .json(&serde_json::json!({}));
        self.answer(rb, &url).await
    }

    /// `GET /v1/devices/actions`: the actions a technician queued for this device.
    pub async fn remote_actions(&self) -> Result<RemoteActions, GatewayError> {
        let url = self.url("/v1/devices/actions");
        self.answer(self.request(Method::GET, &url), &url).await
    }

    /// `POST /v1/devices/actions/{id}/result`.
    pub async fn report_action(
        &self,
        id: i64,
        result: &RemoteActionResult,
    ) -> Result<(), GatewayError> {
        let url = self.url(&format!("/v1/devices/actions/{id}/result"));
        let rb = self.request(Method::POST, &url).json(result);
        let resp = self.send(rb, &url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, &url).await);
        }
        Ok(())
    }

    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<T, GatewayError> {
        let resp = self.send(rb, url).await?;
        if !resp.status().is_success() {
            return Err(Self::error_from(resp, url).await);
        }
        self.json(resp, url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_refusals_become_a_technicians_words() {
        let refusal = |code: &str, status: u16| GatewayError::Status {
            url: "https://g/v1/devices/provision".into(),
            status,
            code: code.into(),
            message: "m".into(),
        };
        let e = ProvisionError::from(refusal("token_used", 409));
        assert!(
            e.to_string().starts_with(
                "mã này đã được dùng cho ki-ốt khác / this code was already used by another kiosk"
            ),
            "{e}"
        );
        assert_eq!(e.code(), Some("token_used"));
        for code in ["token_expired", "token_unknown", "sequence_exhausted"] {
            let e = ProvisionError::from(refusal(code, 403));
            assert!(matches!(e, ProvisionError::Refused { .. }), "{e}");
            assert!(e.to_string().contains(" / "), "{e}");
        }
        assert!(matches!(
            ProvisionError::from(refusal("internal", 500)),
            ProvisionError::Gateway(_)
        ));
        assert_eq!(
            text_sha256(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
