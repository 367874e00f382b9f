//! Getting and keeping the device's certificate: enrolment (once, by a technician with the
//! province's enrolment key), renewal (on its own in the last third of the certificate's life,
//! or when a technician asks), and the [`DeviceLink`] the uplink holds: the client, rebuilt
//! whenever `device.pem` is replaced, by a renewal here or by `kioskctl` beside a running kioskd.
//!
//! Every renewal makes a new key pair on the device. The gateway keeps the old certificate
//! valid until the new one is first used, so a crash between the answer and the save loses
//! nothing: the old pair still works and the renewal is simply asked again.

use std::time::{Duration, Instant, SystemTime};

use motcua_identity::{DeviceKey, IdentityError, PeerIdentity};

use crate::client::{GatewayClient, GatewayError};
use crate::drain::backoff;
use crate::identity::{
    check_issued, DeviceCredential, IdentityFileError, IdentityFiles, TrustAnchor,
};

/// First wait after a failed renewal; doubles up to [`RENEWAL_RETRY_MAX`]. Renewal starts with
/// a third of the certificate's life left, so slow retries are still in time.
pub const RENEWAL_RETRY_INITIAL: Duration = Duration::from_secs(60);
/// Longest wait between renewal attempts.
pub const RENEWAL_RETRY_MAX: Duration = Duration::from_secs(3600);

/// Why enrolment or renewal failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The gateway refused or could not be reached.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The key pair or signing request could not be made.
    #[error("cannot make the device's key pair: {0}")]
    Key(#[from] IdentityError),
    /// The identity files cannot be read or written, or the issued certificate is wrong.
    #[error(transparent)]
    Files(#[from] IdentityFileError),
}

impl CredentialError {
    /// The gateway's error code, if the gateway refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Gateway(e) => e.code(),
            _ => None,
        }
    }
}

/// Enrols the device: makes its key pair, sends the signing request with the enrolment key,
/// checks that the certificate names `device_id` at `site` and comes from `anchor`, then saves
/// `ca.crt` and `device.pem`. Nothing is written unless all of that succeeded.
pub async fn enroll(
    gateway_url: &str,
    timeout: Duration,
    files: &IdentityFiles,
    anchor: &TrustAnchor,
    device_id: &str,
    site: &str,
    enrollment_key: &str,
) -> Result<PeerIdentity, CredentialError> {
    let client = GatewayClient::new(gateway_url, anchor, None, timeout)?;
    let key = DeviceKey::generate(device_id, site)?;
    let issued = client
        .enroll(device_id, site, enrollment_key, &key.csr_pem)
        .await?;
    let peer = check_issued(&issued, device_id, site, anchor)?;
    files.save_anchor(anchor)?;
    files.save_device(&key.key_pem, &issued.certificate_pem)?;
    Ok(peer)
}

/// Renews with `client` (which presents the current certificate, naming `current`): a new key
/// pair, its signing request, the certificate checked, `device.pem` replaced atomically.
pub async fn renew(
    client: &GatewayClient,
    files: &IdentityFiles,
    anchor: &TrustAnchor,
    current: &PeerIdentity,
) -> Result<DeviceCredential, CredentialError> {
    let site = current.site.as_deref().unwrap_or_default();
    let key = DeviceKey::generate(&current.name, site)?;
    let issued = client.renew(&key.csr_pem).await?;
    check_issued(&issued, &current.name, site, anchor)?;
    Ok(files.save_device(&key.key_pem, &issued.certificate_pem)?)
}

/// The device's link as a long-running task holds it: the identity files, what was loaded from
/// them, and the client built from that.
pub struct DeviceLink {
    files: IdentityFiles,
    url: String,
    timeout: Duration,
    anchor: TrustAnchor,
    credential: DeviceCredential,
    client: GatewayClient,
    loaded: Option<SystemTime>,
    renewal_failures: u32,
    renewal_not_before: Option<Instant>,
    renewal_problem: Option<String>,
}

impl std::fmt::Debug for DeviceLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceLink")
            .field("url", &self.url)
            .field("peer", self.credential.peer())
            .finish_non_exhaustive()
    }
}

impl DeviceLink {
    /// Loads `ca.crt` and `device.pem` and builds the client for `url`.
    pub fn open(
        files: IdentityFiles,
        url: &str,
        timeout: Duration,
    ) -> Result<Self, CredentialError> {
        let loaded = files.device_modified();
        let anchor = files.anchor()?;
        let credential = files.device()?;
        let client = GatewayClient::new(url, &anchor, Some(&credential), timeout)?;
        Ok(Self {
            files,
            url: url.to_owned(),
            timeout,
            anchor,
            credential,
            client,
            loaded,
            renewal_failures: 0,
            renewal_not_before: None,
            renewal_problem: None,
        })
    }

    /// The client presenting the current certificate.
    pub fn client(&self) -> &GatewayClient {
        &self.client
    }

    /// Who the current certificate names.
    pub fn peer(&self) -> &PeerIdentity {
        self.credential.peer()
    }

    /// The trust anchor in use.
    pub fn anchor(&self) -> &TrustAnchor {
        &self.anchor
    }

    /// The identity files.
    pub fn files(&self) -> &IdentityFiles {
        &self.files
    }

    /// Why the last renewal failed, while it has not succeeded since (for the status line).
    pub fn renewal_problem(&self) -> Option<&str> {
        self.renewal_problem.as_deref()
    }

    fn install(
        &mut self,
        anchor: TrustAnchor,
        credential: DeviceCredential,
    ) -> Result<(), CredentialError> {
        self.client = GatewayClient::new(&self.url, &anchor, Some(&credential), self.timeout)?;
        self.anchor = anchor;
        self.credential = credential;
        self.loaded = self.files.device_modified();
        Ok(())
    }

    /// Loads the files again when `device.pem` changed since they were loaded (a renewal by
    /// `kioskctl identity renew`, a re-enrolment); returns whether it did. A replaced file that
    /// cannot be used is an error and the current certificate stays in use.
    pub fn reload_if_changed(&mut self) -> Result<bool, CredentialError> {
        let modified = self.files.device_modified();
        if modified.is_none() || modified == self.loaded {
            return Ok(false);
        }
        let anchor = self.files.anchor()?;
        let credential = self.files.device()?;
        self.install(anchor, credential)?;
        self.renewal_failures = 0;
        self.renewal_not_before = None;
        self.renewal_problem = None;
        tracing::info!(serial = %self.peer().serial, "device certificate reloaded from its file");
        Ok(true)
    }

    /// Renews when the certificate is due at `now` (Unix seconds; see
    /// [`PeerIdentity::renewal_due`]) and no earlier failure asks to wait; returns the new
    /// identity when it renewed. A failure keeps the current certificate (it works until it
    /// expires) and sets the next attempt after a backoff.
    pub async fn renew_if_due(
        &mut self,
        now: i64,
    ) -> Result<Option<PeerIdentity>, CredentialError> {
        if !self.peer().renewal_due(now) {
            return Ok(None);
        }
        if self.renewal_not_before.is_some_and(|t| Instant::now() < t) {
            return Ok(None);
        }
        match self.renew_now().await {
            Ok(peer) => Ok(Some(peer)),
            Err(e) => {
                let wait = backoff(
                    self.renewal_failures,
                    RENEWAL_RETRY_INITIAL,
                    RENEWAL_RETRY_MAX,
                );
                self.renewal_failures = self.renewal_failures.saturating_add(1);
                self.renewal_not_before = Some(Instant::now() + wait);
                self.renewal_problem = Some(format!(
                    "gia hạn chứng thư chưa được / certificate renewal failed (the current one works until {}): {e}",
                    unix_time_text(self.peer().not_after)
                ));
                Err(e)
            }
        }
    }

    /// Renews now, whether due or not; the new client is in use when it returns.
    pub async fn renew_now(&mut self) -> Result<PeerIdentity, CredentialError> {
        let credential = renew(
            &self.client,
            &self.files,
            &self.anchor,
            self.credential.peer(),
        )
        .await?;
        let anchor = self.anchor.clone();
        self.install(anchor, credential)?;
        self.renewal_failures = 0;
        self.renewal_not_before = None;
        self.renewal_problem = None;
        tracing::info!(
            serial = %self.peer().serial,
            not_after = self.peer().not_after,
            "device certificate renewed"
        );
        Ok(self.peer().clone())
    }
}

/// A Unix time as a technician reads it (UTC).
pub fn unix_time_text(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}
