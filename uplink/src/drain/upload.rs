//! Blob uploads by tus: ask the gateway first which blobs its site holds already
//! (`POST /v1/blobs/held`, a dossier's documents in one question) and send none of those; resume
//! the upload the gateway knows (HEAD for its offset), create one only when there is none, send
//! the rest in chunks at the configured rate. A gateway older than the question (404 or 405) is
//! asked again only after [`HELD_RECHECK`], and meanwhile just sent every blob.
//!
//! Under a daily upload budget ([`crate::budget`]) each PATCH is cut to what is left today and
//! counted before it is sent; when nothing is left the upload stops with
//! [`DeliveryError::BudgetUsedUp`] before any request (and before the local copy is read), so
//! an entry waiting for the budget costs the link nothing.

use std::io::SeekFrom;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use motcua_domain::wire::MAX_HELD_QUERY;

use super::{now, DeliveryError, Uplink};
use crate::budget::Allowance;
use crate::client::GatewayError;
use crate::UplinkSettings;

/// How long a gateway that does not know `POST /v1/blobs/held` is not asked again (it may be
/// upgraded meanwhile).
pub(super) const HELD_RECHECK: Duration = Duration::from_secs(3600);
/// How long a blob's upload goes on before it makes way for small records due behind it
/// (ratings, tickets, health reports): long enough that it always advances, short enough that
/// a rating waits seconds, not the minutes a scanned dossier takes on a 3G link.
pub(super) const MAKE_WAY_AFTER: Duration = Duration::from_secs(10);

impl Uplink {
    /// Makes sure the gateway holds the complete blob: nothing is sent if the gateway says its
    /// site holds it, else a previous upload is resumed or a new one made. Public so that
    /// benchmarks and tools can upload one blob without a whole outbox entry.
    pub async fn ensure_uploaded(&mut self, sha256: &str, size: u64) -> Result<(), DeliveryError> {
        self.skip_held(&[(sha256.to_owned(), size)]).await?;
        self.upload_unless_done(sha256, size).await
    }

    /// Uploads every blob of `blobs` (SHA-256, size) the gateway does not hold yet, asking
    /// about all of them in one question first.
    pub(super) async fn ensure_all_uploaded(
        &mut self,
        blobs: &[(String, u64)],
    ) -> Result<(), DeliveryError> {
        let mut incomplete = false;
        for (sha256, _) in blobs {
            incomplete |= !self
                .store
                .upload_state(sha256)?
                .is_some_and(|s| s.completed);
        }
        if incomplete {
            self.budget_left()?;
        }
        self.skip_held(blobs).await?;
        for (sha256, size) in blobs {
            self.upload_unless_done(sha256, *size).await?;
        }
        Ok(())
    }

    /// Asks the gateway which of `blobs` not uploaded yet (and with no upload under way) its
    /// site holds, and records those as uploaded: they are not sent. A held blob whose size
    /// differs from the kiosk's is not taken as held (the dossier would be refused for it).
    /// A gateway without the question, or one refusing it as malformed, is no error: every
    /// blob is then sent as before.
    async fn skip_held(&mut self, blobs: &[(String, u64)]) -> Result<(), DeliveryError> {
        if self
            .held_unknown_since
            .is_some_and(|t| t.elapsed() < HELD_RECHECK)
        {
            return Ok(());
        }
        let mut ask = Vec::new();
        for (sha256, size) in blobs {
            let state = self.store.upload_state(sha256)?;
            let started = state
                .as_ref()
                .is_some_and(|s| s.completed || s.upload_url.is_some());
            if !started && !ask.iter().any(|(h, _)| h == sha256) {
                // The kiosk's own copy is checked first, as before any upload: a missing or
                // damaged file is the technician's to see, whatever the gateway holds.
                self.check_local(sha256)?;
                ask.push((sha256.clone(), *size));
            }
        }
        for batch in ask.chunks(MAX_HELD_QUERY) {
            let hashes: Vec<String> = batch.iter().map(|(h, _)| h.clone()).collect();
            let held = match self.link.client().blobs_held(&hashes).await {
                Ok(Some(held)) => held,
                Ok(None) => {
                    tracing::info!("the gateway does not answer which blobs it holds (an older gateway): every blob is sent");
                    self.held_unknown_since = Some(Instant::now());
                    return Ok(());
                }
                Err(e) if matches!(e.status(), Some(400 | 422)) => {
                    tracing::warn!(
                        "the gateway refused the question which blobs it holds; they are sent: {e}"
                    );
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            self.beat();
            for blob in held {
                if batch
                    .iter()
                    .any(|(h, s)| *h == blob.sha256 && *s == blob.size)
                {
                    self.store.mark_upload_complete(&blob.sha256, now())?;
                    tracing::info!(sha256 = %blob.sha256, "the gateway holds this blob for the site: not sent");
                }
            }
        }
        Ok(())
    }

    /// The kiosk's file of a blob, if it is there and its content is its hash.
    fn check_local(&self, sha256: &str) -> Result<std::path::PathBuf, DeliveryError> {
        let path = self.store.blobs().path(sha256);
        if !path.is_file() {
            return Err(DeliveryError::BlobMissing {
                sha256: sha256.to_owned(),
                path: path.display().to_string(),
            });
        }
        if !self.store.blobs().verify(sha256)? {
            return Err(DeliveryError::BlobDamaged(sha256.to_owned()));
        }
        Ok(path)
    }

    /// Uploads the blob unless the store says it is uploaded.
    async fn upload_unless_done(&mut self, sha256: &str, size: u64) -> Result<(), DeliveryError> {
        let state = self.store.upload_state(sha256)?;
        if state.as_ref().is_some_and(|s| s.completed) {
            return Ok(());
        }
        self.budget_left()?;
        // Check the local copy before sending any of it: a truncated or altered file would
        // otherwise fail at the gateway's checksum (or short of its length) on every retry,
        // with nothing saying that the kiosk's own copy is the problem. Reading it once per
        // attempt of an unfinished upload is cheap next to sending it.
        let path = self.check_local(sha256)?;
        let known = state.as_ref().map_or(0, |s| s.uploaded_bytes);
        let mut url = state.and_then(|s| s.upload_url);
        // Two rounds at most: an upload the gateway forgot is created again once.
        for _ in 0..2 {
            let upload_url = match url.take() {
                Some(u) => u,
                None => {
                    let u = self.link.client().create_upload(sha256, size).await?;
                    self.beat();
                    self.store.set_upload_url(sha256, Some(&u))?;
                    u
                }
            };
            let offset = self.link.client().upload_offset(&upload_url).await?;
            self.beat();
            let Some(offset) = offset else {
                self.store.set_upload_url(sha256, None)?;
                continue;
            };
            if offset > known {
                // The gateway kept bytes of a PATCH that was cut.
                self.progressed = true;
            }
            self.store.set_uploaded_bytes(sha256, offset)?;
            match self
                .send_from(&upload_url, &path, sha256, offset, size)
                .await
            {
                Ok(()) => {
                    self.store.mark_upload_complete(sha256, now())?;
                    return Ok(());
                }
                Err(DeliveryError::Gateway(e)) if e.status() == Some(460) => {
                    if !self.store.blobs().verify(sha256)? {
                        return Err(DeliveryError::BlobDamaged(sha256.to_owned()));
                    }
                    // The gateway restarted this upload at offset 0: the next attempt sends
                    // it again there (HEAD says 0). A new upload would leave this one open at
                    // the gateway, counting against the device's open uploads and its bytes.
                    self.store.set_uploaded_bytes(sha256, 0)?;
                    return Err(DeliveryError::Gateway(e));
                }
                Err(e) => return Err(e),
            }
        }
        Err(DeliveryError::Gateway(GatewayError::Garbage {
            url: self.config.gateway_url.clone(),
            detail: "the gateway forgot an upload it had just created".into(),
        }))
    }

    async fn send_from(
        &mut self,
        upload_url: &str,
        path: &Path,
        sha256: &str,
        mut offset: u64,
        size: u64,
    ) -> Result<(), DeliveryError> {
        let read_err = |source| DeliveryError::BlobRead {
            path: path.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::open(path).await.map_err(read_err)?;
        let started = Instant::now();
        let mut sent: u64 = 0;
        while offset < size {
            let wanted = (size - offset).min(self.sizer.next());
            // Cut to what is left of today's budget, and counted before it goes: the bodies
            // sent on a day never add up to more than the budget (see `crate::budget`).
            let len = crate::budget::cut(wanted, self.budget_left()?);
            self.meter.count(&mut self.store, len)?;
            let len = len as usize;
            let mut buf = vec![0u8; len];
            file.seek(SeekFrom::Start(offset)).await.map_err(read_err)?;
            file.read_exact(&mut buf).await.map_err(read_err)?;
            let patch_started = Instant::now();
            let answer = self
                .link
                .client()
                .patch(upload_url, offset, Bytes::from(buf))
                .await;
            let new_offset = match answer {
                Ok(o) => o,
                Err(e) => {
                    if matches!(e, GatewayError::Unreachable { .. }) {
                        // Cut or timed out: the gateway kept what arrived (HEAD says how
                        // much on the next attempt); the next PATCH is smaller.
                        self.sizer.failed();
                    }
                    return Err(e.into());
                }
            };
            if new_offset <= offset || new_offset > size {
                return Err(GatewayError::Garbage {
                    url: upload_url.to_owned(),
                    detail: format!("offset went from {offset} to {new_offset} of {size}"),
                }
                .into());
            }
            self.sizer
                .succeeded(new_offset - offset, patch_started.elapsed());
            tracing::debug!(
                sha256,
                offset = new_offset,
                next_chunk = self.sizer.next(),
                bytes_per_s = self.sizer.throughput().unwrap_or_default() as u64,
                "chunk stored"
            );
            sent += new_offset - offset;
            offset = new_offset;
            self.progressed = true;
            self.store.set_uploaded_bytes(sha256, offset)?;
            self.beat();
            if offset < size
                && started.elapsed() >= MAKE_WAY_AFTER
                && self
                    .store
                    .small_record_due(chrono::Utc::now().timestamp_millis())?
            {
                return Err(DeliveryError::MadeWay);
            }
            if self.config.max_rate_bytes_per_sec > 0 {
                let due = Duration::from_secs_f64(
                    sent as f64 / self.config.max_rate_bytes_per_sec as f64,
                );
                while let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait.min(Duration::from_secs(1))).await;
                    self.beat();
                }
            }
        }
        Ok(())
    }
}

impl Uplink {
    /// What is left of today's upload budget (`None`: no budget);
    /// [`DeliveryError::BudgetUsedUp`] when nothing is.
    fn budget_left(&mut self) -> Result<Option<u64>, DeliveryError> {
        match self.meter.allowance(&mut self.store)? {
            Allowance::UsedUp(state) => {
                let wait = (state.renews_at - self.meter.now())
                    .to_std()
                    .unwrap_or_default()
                    .max(Duration::from_secs(1));
                Err(DeliveryError::BudgetUsedUp {
                    resumes_at: state.renews_at,
                    wait,
                })
            }
            Allowance::Left(left) => Ok(Some(left)),
            Allowance::Unlimited => Ok(None),
        }
    }
}

/// The largest PATCH: the configured chunk, but with a rate cap no more than ~2 s of sending,
/// so the cap smooths the traffic instead of sending bursts at full line speed. The size of
/// each PATCH under it is learnt from the link (see `chunk_size`).
pub(super) fn chunk_ceiling(config: &UplinkSettings) -> u64 {
    let configured = config.chunk_bytes as u64;
    match config.max_rate_bytes_per_sec {
        0 => configured,
        rate => configured.min(rate.saturating_mul(2)).max(4096),
    }
}
