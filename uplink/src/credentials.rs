//! Getting and keeping the device's certificate: enrolment (once, by a technician with the
//! province's enrolment key), renewal (on its own in the last third of the certificate's life,
//! or when a technician asks), and the [`DeviceLink`] the uplink holds: the client, rebuilt
//! whenever `device.pem` is replaced, by a renewal here or by `kioskctl` beside a running kioskd.
//!
//! Every renewal makes a new key pair on the device. The gateway keeps the old certificate
//! valid until the new one is first used, so a crash between the answer and the save loses
//! nothing: the old pair still works and the renewal is simply asked again. For the same
//! reason the old pair is kept as `device.prev.pem` until a request with the new certificate
//! has succeeded: should the gateway answer `certificate_unknown` to the new one, the link goes
//! back to the old one and renews again later.
//!
//! A renewal and its save hold the identity folder's lock (`identity/.lock`): kioskd's own
//! renewal does not wait for it (when `kioskctl identity renew` holds it, kioskd picks up the
//! file it writes), `kioskctl` waits a bounded time and then says another renewal is running.

use std::time::{Duration, Instant};

use motcua_identity::{DeviceKey, IdentityError, PeerIdentity};

use crate::client::{GatewayClient, GatewayError};
use crate::drain::backoff;
use crate::identity::{
    check_issued, DeviceCredential, FileStamp, IdentityFileError, IdentityFiles, RenewalLock,
    TrustAnchor,
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
/// `ca.crt` and `device.pem` (under the renewal lock). Nothing is written unless all of that
/// succeeded.
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
    // Not in the middle of a renewal's save by a kioskd still running on the old identity.
    let _lock = files
        .lock_renewal(timeout * 2 + Duration::from_secs(10))
        .await?;
    files.save_anchor(anchor)?;
    files.save_device(&key.key_pem, &issued.certificate_pem)?;
    Ok(peer)
}

/// Renews with `client` (which presents the current certificate, naming `current`), holding
/// the renewal `lock`: a new key pair, its signing request, the certificate checked, the
/// current pair kept as `device.prev.pem` and `device.pem` replaced atomically.
pub async fn renew(
    client: &GatewayClient,
    files: &IdentityFiles,
    lock: &RenewalLock,
    anchor: &TrustAnchor,
    current: &PeerIdentity,
) -> Result<DeviceCredential, CredentialError> {
    let site = current.site.as_deref().unwrap_or_default();
    let key = DeviceKey::generate(&current.name, site)?;
    let issued = client.renew(&key.csr_pem).await?;
    check_issued(&issued, &current.name, site, anchor)?;
    Ok(files.save_renewed(lock, &key.key_pem, &issued.certificate_pem)?)
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
    /// The pair a renewal replaced, while `device.prev.pem` keeps it.
    previous: Option<DeviceCredential>,
    /// The `device.pem` in use.
    loaded: Option<FileStamp>,
    /// A replaced `device.pem` found unusable: not read (nor warned about) again.
    rejected: Option<FileStamp>,
    reload_problem: Option<String>,
    renewal_wait: Duration,
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
        let loaded = files.device_stamp();
        let anchor = files.anchor()?;
        let credential = files.device()?;
        let client = GatewayClient::new(url, &anchor, Some(&credential), timeout)?;
        let previous = kept_previous(&files, &credential);
        Ok(Self {
            files,
            url: url.to_owned(),
            timeout,
            anchor,
            credential,
            client,
            previous,
            loaded,
            rejected: None,
            reload_problem: None,
            renewal_wait: timeout * 2 + Duration::from_secs(10),
            renewal_failures: 0,
            renewal_not_before: None,
            renewal_problem: None,
        })
    }

    /// How long [`Self::renew_now`] waits for another process's renewal to finish (by default
    /// twice the request timeout and ten seconds).
    pub fn with_renewal_wait(mut self, wait: Duration) -> Self {
        self.renewal_wait = wait;
        self
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

    /// Why the replaced `device.pem` was not taken, until a usable one replaces it (for the
    /// status line).
    pub fn reload_problem(&self) -> Option<&str> {
        self.reload_problem.as_deref()
    }

    /// The pair a renewal replaced, while it is kept (until the new certificate has been used).
    pub fn previous(&self) -> Option<&PeerIdentity> {
        self.previous.as_ref().map(DeviceCredential::peer)
    }

    fn install(
        &mut self,
        anchor: TrustAnchor,
        credential: DeviceCredential,
        stamp: Option<FileStamp>,
    ) -> Result<(), CredentialError> {
        self.client = GatewayClient::new(&self.url, &anchor, Some(&credential), self.timeout)?;
        self.previous = kept_previous(&self.files, &credential);
        self.anchor = anchor;
        self.credential = credential;
        self.loaded = stamp;
        self.rejected = None;
        self.reload_problem = None;
        Ok(())
    }

    /// Loads the files again when `device.pem` changed since they were loaded (a renewal by
    /// `kioskctl identity renew`, a re-enrolment); returns whether it did. A replaced file that
    /// cannot be used is an error, once: the current certificate stays in use, and that file
    /// is not tried again (nor reported again) until it is replaced once more.
    pub fn reload_if_changed(&mut self) -> Result<bool, CredentialError> {
        let stamp = self.files.device_stamp();
        if stamp.is_none() || stamp == self.loaded || stamp == self.rejected {
            return Ok(false);
        }
        let loaded = self
            .files
            .anchor()
            .and_then(|a| Ok((a, self.files.device()?)));
        let installed = loaded
            .map_err(CredentialError::from)
            .and_then(|(anchor, credential)| self.install(anchor, credential, stamp));
        if let Err(e) = installed {
            self.rejected = stamp;
            self.reload_problem = Some(format!(
                "tệp chứng thư mới không dùng được / the replaced device certificate is not usable, \
                 the one loaded before stays in use: {e}"
            ));
            return Err(e);
        }
        self.renewal_failures = 0;
        self.renewal_not_before = None;
        self.renewal_problem = None;
        tracing::info!(serial = %self.peer().serial, "device certificate reloaded from its file");
        Ok(true)
    }

    /// A request with the current certificate succeeded: the gateway knows it, so a kept
    /// previous pair is no longer needed and `device.prev.pem` goes. Does nothing while another
    /// process holds the renewal lock (it is tried again at the next success).
    pub fn confirm_current(&mut self) {
        if self.previous.is_none() {
            return;
        }
        let forgotten = match self.files.try_lock_renewal() {
            Ok(Some(lock)) if self.files.device_stamp() == self.loaded => {
                self.files.forget_previous(&lock).map(|()| true)
            }
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        match forgotten {
            Ok(true) => {
                tracing::info!(serial = %self.peer().serial, "renewed certificate in use; the previous one is forgotten");
                self.previous = None;
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot remove the previous device certificate: {e}"),
        }
    }

    /// The gateway answered `certificate_unknown` to the current certificate: when the pair
    /// it replaced is still kept, it goes back into `device.pem` and into use, and renewal is
    /// asked again after a backoff. Returns whether it went back.
    pub fn fall_back_to_previous(&mut self) -> Result<bool, CredentialError> {
        if self.previous.is_none() {
            return Ok(false);
        }
        let Some(lock) = self.files.try_lock_renewal()? else {
            return Ok(false);
        };
        if self.files.device_stamp() != self.loaded {
            // Replaced since it was loaded: the next reload takes the new file.
            return Ok(false);
        }
        let refused = self.peer().serial.clone();
        let Some(previous) = self.files.restore_previous(&lock)? else {
            self.previous = None;
            return Ok(false);
        };
        let stamp = self.files.device_stamp();
        let anchor = self.anchor.clone();
        self.install(anchor, previous, stamp)?;
        drop(lock);
        let wait = backoff(
            self.renewal_failures,
            RENEWAL_RETRY_INITIAL,
            RENEWAL_RETRY_MAX,
        );
        self.renewal_failures = self.renewal_failures.saturating_add(1);
        self.renewal_not_before = Some(Instant::now() + wait);
        self.renewal_problem = Some(format!(
            "cổng không biết chứng thư mới / the gateway does not know the renewed certificate {refused}: \
             back to the previous one {}, renewal is asked again later",
            self.peer().serial
        ));
        tracing::warn!(refused = %refused, serial = %self.peer().serial, "the gateway does not know the renewed certificate; back to the previous one");
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
        match self.renew_if_still_due(now).await {
            Ok(peer) => Ok(peer),
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

    /// Takes the renewal lock without waiting (another process renewing writes a file the
    /// next reload takes), picks up a file replaced meanwhile, and renews if still due.
    async fn renew_if_still_due(
        &mut self,
        now: i64,
    ) -> Result<Option<PeerIdentity>, CredentialError> {
        let Some(lock) = self.files.try_lock_renewal()? else {
            tracing::info!("another process is renewing the device certificate");
            return Ok(None);
        };
        self.reload_quietly();
        if !self.peer().renewal_due(now) {
            return Ok(None);
        }
        self.renew_with(lock).await.map(Some)
    }

    fn reload_quietly(&mut self) {
        if let Err(e) = self.reload_if_changed() {
            tracing::warn!(
                "the replaced device certificate is not usable, renewing the current one: {e}"
            );
        }
    }

    /// Renews now, whether due or not; the new client is in use when it returns. Waits for a
    /// renewal by another process to end (see [`Self::with_renewal_wait`]), then takes the
    /// file it wrote and renews that one.
    pub async fn renew_now(&mut self) -> Result<PeerIdentity, CredentialError> {
        let lock = self.files.lock_renewal(self.renewal_wait).await?;
        self.reload_quietly();
        self.renew_with(lock).await
    }

    async fn renew_with(&mut self, lock: RenewalLock) -> Result<PeerIdentity, CredentialError> {
        let credential = renew(
            &self.client,
            &self.files,
            &lock,
            &self.anchor,
            self.credential.peer(),
        )
        .await?;
        let stamp = self.files.device_stamp();
        drop(lock);
        let anchor = self.anchor.clone();
        self.install(anchor, credential, stamp)?;
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

/// The pair `device.prev.pem` keeps, when it is readable and not the current one.
fn kept_previous(files: &IdentityFiles, current: &DeviceCredential) -> Option<DeviceCredential> {
    match files.previous() {
        Ok(Some(previous)) if previous.peer().serial != current.peer().serial => Some(previous),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("the previous device certificate is not usable, not kept: {e}");
            None
        }
    }
}

/// A Unix time as a technician reads it (UTC).
pub fn unix_time_text(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}
