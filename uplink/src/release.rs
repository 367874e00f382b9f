//! The release downloader: kioskd asks the gateway which release it should install, fetches
//! the package in the background (resuming where it stopped, even across restarts of kioskd)
//! and keeps it only once the manifest's signature and the package's SHA-256 check out. What it
//! leaves in `<data_dir>/update/downloads/` is what the root updater is later asked to install.
//!
//! The folder:
//! - `<version>.deb.part`: the download in progress; its length is where the next request
//!   resumes (`Range: bytes=N-`, `If-Range` with the package's SHA-256, so a changed package
//!   comes whole instead of being spliced);
//! - `<version>.deb` and `<version>.manifest` (the signed text): a verified download;
//! - `offer.json`: the last offer whose manifest opened (version, size), for `kioskctl`;
//! - `refused.json`: versions not to download again (a manifest that does not open, a package
//!   that does not match it, an aborted release, an install that failed or rolled back), each
//!   with why and whether the gateway was told.
//!
//! Only the newest offered version is kept: a new offer deletes the files of any other.
//! Nothing here trusts an answer's `size` or `sha256`: they come from the manifest, opened with
//! the release public key of the kiosk's config.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use motcua_domain::release::ReleaseManifest;
use motcua_domain::wire::{OfferedRelease, ReleaseStage};
use motcua_identity::release::TrustedReleaseKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::client::{GatewayClient, GatewayError};

/// The offer file (the last offer whose manifest opened).
pub const OFFER_FILE: &str = "offer.json";
/// The versions not to download again.
pub const REFUSED_FILE: &str = "refused.json";

/// What the downloader needs to know.
#[derive(Debug, Clone)]
pub struct DownloadSettings {
    /// `<data_dir>/update/downloads`.
    pub dir: PathBuf,
    /// The Debian package this kiosk runs (`motcua-kiosk`).
    pub package: String,
    /// The version installed now (`dpkg-query`).
    pub running: String,
    /// The release public key of the kiosk's config.
    pub key: TrustedReleaseKey,
    /// Download bandwidth cap in bytes per second (0 = none): the uplink's
    /// `max_rate_bytes_per_sec`, so an update never takes a shared commune link whole.
    pub max_rate_bytes_per_sec: u64,
}

/// Why a download could not go on this turn (it is tried again on the next).
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The gateway could not be asked, or answered with an error.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// A file of the download folder could not be read or written.
    #[error("tải bản cập nhật / update download: {action} {path}: {source}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn file_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError {
    let path = path.to_owned();
    move |source| DownloadError::File {
        action,
        path,
        source,
    }
}

/// What one turn of the downloader came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// Nothing newer is offered.
    NothingOffered,
    /// The offered version was refused before (or now: see [`refused`]).
    Refused {
        /// The version.
        version: String,
        /// Why, for a technician.
        detail: String,
    },
    /// The gateway withdrew the release (410): its files were deleted.
    Withdrawn {
        /// The version.
        version: String,
    },
    /// A verified download is ready for the updater.
    Ready {
        /// The version.
        version: String,
        /// Where the package's download resumed in this turn (0: from the start; `None`: it
        /// was already complete before this turn).
        resumed_from: Option<u64>,
        /// Bytes received in this turn.
        received: u64,
    },
}

/// A version not to download again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedVersion {
    /// The version.
    pub version: String,
    /// Why.
    pub detail: String,
    /// Whether the gateway has been told (`failed`), or needs no telling.
    pub reported: bool,
}

/// The verified download in `dir`, if one is complete: its version and signed manifest text.
/// The manifest is opened again with `key` (a file on disk is trusted no more than an answer).
pub fn ready_download(
    dir: &Path,
    key: &TrustedReleaseKey,
) -> Option<(String, ReleaseManifest, String)> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut found: Vec<(String, ReleaseManifest, String)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_suffix(".manifest")?.to_owned();
            if !dir.join(format!("{version}.deb")).is_file() {
                return None;
            }
            let text = std::fs::read_to_string(e.path()).ok()?;
            let manifest = ReleaseManifest::from_json(&key.open(text.trim()).ok()?).ok()?;
            (manifest.version == version).then(|| (version, manifest, text.trim().to_owned()))
        })
        .collect();
    found.sort_by(|a, b| {
        motcua_domain::release::compare_versions(&a.0, &b.0).unwrap_or(std::cmp::Ordering::Equal)
    });
    found.pop()
}

/// The versions not to download again.
pub fn refused(dir: &Path) -> Vec<RefusedVersion> {
    std::fs::read(dir.join(REFUSED_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Remembers `version` as not to be downloaded again (its files are deleted), with why.
pub fn refuse(
    dir: &Path,
    version: &str,
    detail: &str,
    reported: bool,
) -> Result<(), DownloadError> {
    let mut list = refused(dir);
    list.retain(|r| r.version != version);
    list.push(RefusedVersion {
        version: version.to_owned(),
        detail: detail.to_owned(),
        reported,
    });
    write_atomically(
        dir,
        REFUSED_FILE,
        &serde_json::to_vec_pretty(&list).unwrap_or_default(),
    )?;
    remove_version(dir, version);
    Ok(())
}

fn mark_reported(dir: &Path, version: &str) -> Result<(), DownloadError> {
    let mut list = refused(dir);
    for r in &mut list {
        if r.version == version {
            r.reported = true;
        }
    }
    write_atomically(
        dir,
        REFUSED_FILE,
        &serde_json::to_vec_pretty(&list).unwrap_or_default(),
    )
}

/// Deletes every file of `version` (its part, package, manifest); nothing for a text that is
/// not a Debian version (it could name a path outside the folder).
pub fn remove_version(dir: &Path, version: &str) {
    if !motcua_domain::release::is_debian_version(version) {
        return;
    }
    for suffix in [".deb.part", ".deb", ".manifest"] {
        let _ = std::fs::remove_file(dir.join(format!("{version}{suffix}")));
    }
}

/// The last offer whose manifest opened, as `kioskctl update status` shows it.
pub fn last_offer(dir: &Path) -> Option<OfferedRelease> {
    std::fs::read(dir.join(OFFER_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Writes `name` in `dir` as a whole: a temporary file, fsynced, renamed over it, the folder
/// fsynced (a crash leaves the old file or the new, never half of one).
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), DownloadError> {
    std::fs::create_dir_all(dir).map_err(file_error("create", dir))?;
    let target = dir.join(name);
    let temp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&temp).map_err(file_error("create", &temp))?;
    f.write_all(bytes).map_err(file_error("write", &temp))?;
    f.sync_all().map_err(file_error("fsync", &temp))?;
    std::fs::rename(&temp, &target).map_err(file_error("rename", &target))?;
    sync_dir(dir);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// SHA-256 (lowercase hex) and length of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), len))
}

/// The downloader: one [`ReleaseDownloader::turn`] per check interval.
#[derive(Debug)]
pub struct ReleaseDownloader {
    settings: DownloadSettings,
    /// A version downloaded in more than one request whose hash did not match is downloaded
    /// once more whole before it is refused (a torn write at a power cut, not a bad package).
    retried_whole: Vec<String>,
    /// Versions whose `downloaded` the gateway acknowledged in this process.
    reported: Vec<String>,
}

impl ReleaseDownloader {
    /// A downloader with `settings`.
    pub fn new(settings: DownloadSettings) -> Self {
        Self {
            settings,
            retried_whole: Vec::new(),
            reported: Vec::new(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &DownloadSettings {
        &self.settings
    }

    /// Asks for the offer, opens and checks its manifest, downloads (or resumes) its package,
    /// checks it, reports `downloaded` or `failed`.
    pub async fn turn(&mut self, client: &GatewayClient) -> Result<Turn, DownloadError> {
        let dir = self.settings.dir.clone();
        std::fs::create_dir_all(&dir).map_err(file_error("create", &dir))?;
        self.report_refusals(client).await;
        let offer = client
            .release_offer(&self.settings.package, &self.settings.running)
            .await?;
        let Some(offered) = offer.release else {
            return self.withdrawn_or_nothing(client).await;
        };
        let version = offered.version.clone();
        // The version names files in the download folder: one that is not a Debian version
        // (a path, a `..`) is never used, whoever sent it.
        if !motcua_domain::release::is_debian_version(&version) {
            tracing::warn!(
                "máy chủ mời một phiên bản không hợp lệ, bỏ qua / the gateway offered a version that is not a Debian version: ignored"
            );
            return Ok(Turn::NothingOffered);
        }
        if let Some(r) = refused(&dir).into_iter().find(|r| r.version == version) {
            return Ok(Turn::Refused {
                version,
                detail: r.detail,
            });
        }
        let manifest = match self.check_manifest(&offered) {
            Ok(m) => m,
            Err(detail) => return self.fail(client, &version, detail).await,
        };
        // Only the newest is kept: another version's files go.
        self.remove_others(&version);
        write_atomically(
            &dir,
            OFFER_FILE,
            &serde_json::to_vec_pretty(&offered).unwrap_or_default(),
        )?;
        let deb = dir.join(format!("{version}.deb"));
        let resumed_from;
        let mut received = 0;
        if deb.is_file() && dir.join(format!("{version}.manifest")).is_file() {
            resumed_from = None;
        } else {
            let part = dir.join(format!("{version}.deb.part"));
            let (from, got, requests) = match self.download(client, &manifest, &part).await {
                Ok(done) => done,
                Err(DownloadError::Gateway(e)) if e.status() == Some(410) => {
                    tracing::warn!(%version, "bản cập nhật đã bị thu hồi / the release was withdrawn: its download is deleted");
                    refuse(
                        &dir,
                        &version,
                        "withdrawn by the gateway (410 release_aborted)",
                        true,
                    )?;
                    return Ok(Turn::Withdrawn { version });
                }
                Err(DownloadError::Gateway(e)) if e.status() == Some(416) => {
                    // The part is past the end of the package: start again next turn.
                    let _ = std::fs::remove_file(&part);
                    return Err(DownloadError::Gateway(e));
                }
                Err(e) => return Err(e),
            };
            resumed_from = Some(from);
            received = got;
            let (sha256, len) = hash_file(&part).map_err(file_error("read", &part))?;
            if len != manifest.size || sha256 != manifest.sha256 {
                let detail = format!(
                    "the package does not match its signed manifest: {len} bytes with SHA-256 {sha256}, the manifest says {} bytes with SHA-256 {}",
                    manifest.size, manifest.sha256
                );
                let _ = std::fs::remove_file(&part);
                if requests > 1 && !self.retried_whole.contains(&version) {
                    self.retried_whole.push(version.clone());
                    tracing::warn!(%version, "{detail}; downloading it once more from the start");
                    return Box::pin(self.turn(client)).await;
                }
                return self.fail(client, &version, detail).await;
            }
            write_atomically(
                &dir,
                &format!("{version}.manifest"),
                offered.manifest.trim().as_bytes(),
            )?;
            std::fs::rename(&part, &deb).map_err(file_error("rename", &part))?;
            sync_dir(&dir);
            tracing::info!(%version, size = manifest.size, "đã tải bản cập nhật / release downloaded and verified");
        }
        if !self.reported.contains(&version) {
            match client
                .report_release(&version, ReleaseStage::Downloaded, None)
                .await
            {
                Ok(()) => self.reported.push(version.clone()),
                // The gateway has it further already (installed after a lost answer).
                Err(e) if e.code() == Some("stage_refused") => self.reported.push(version.clone()),
                Err(e) => tracing::warn!(%version, "cannot report the download yet: {e}"),
            }
        }
        Ok(Turn::Ready {
            version,
            resumed_from,
            received,
        })
    }

    /// Nothing is offered: a release whose files are here may have been withdrawn (an aborted
    /// release is offered no more), which only its package's 410 says; one byte is asked.
    async fn withdrawn_or_nothing(
        &mut self,
        client: &GatewayClient,
    ) -> Result<Turn, DownloadError> {
        let dir = &self.settings.dir;
        let Some(last) = last_offer(dir) else {
            return Ok(Turn::NothingOffered);
        };
        let has_files = [".deb.part", ".deb"]
            .iter()
            .any(|s| dir.join(format!("{}{s}", last.version)).exists());
        if !has_files {
            return Ok(Turn::NothingOffered);
        }
        let etag = format!("\"{}\"", last.sha256);
        match client
            .release_package(&last.version, last.size.saturating_sub(1), &etag, 1, 0)
            .await
        {
            Err(e) if e.status() == Some(410) => {
                tracing::warn!(version = %last.version, "bản cập nhật đã bị thu hồi / the release was withdrawn: its download is deleted");
                refuse(
                    dir,
                    &last.version,
                    "withdrawn by the gateway (410 release_aborted)",
                    true,
                )?;
                let _ = std::fs::remove_file(dir.join(OFFER_FILE));
                Ok(Turn::Withdrawn {
                    version: last.version,
                })
            }
            _ => Ok(Turn::NothingOffered),
        }
    }

    /// The manifest of an offer, opened with the trusted key and checked against the offer and
    /// this kiosk; `Err` says why not, for the report.
    fn check_manifest(&self, offered: &OfferedRelease) -> Result<ReleaseManifest, String> {
        let json = self
            .settings
            .key
            .open(offered.manifest.trim())
            .map_err(|e| e.to_string())?;
        let m = ReleaseManifest::from_json(&json).map_err(|e| e.to_string())?;
        if m.package != self.settings.package {
            return Err(format!(
                "the manifest is for package {}, this kiosk runs {}",
                m.package, self.settings.package
            ));
        }
        if m.version != offered.version {
            return Err(format!(
                "the manifest is for version {}, the offer says {}",
                m.version, offered.version
            ));
        }
        if m.size != offered.size || m.sha256 != offered.sha256 {
            return Err("the offer's size or SHA-256 is not the signed manifest's".into());
        }
        if !m.upgrades(&self.settings.running) {
            return Err(format!(
                "version {} does not upgrade the running {} (older, or below its min_from_version)",
                m.version, self.settings.running
            ));
        }
        Ok(m)
    }

    /// Refuses `version` for good and tells the gateway `failed`.
    async fn fail(
        &mut self,
        client: &GatewayClient,
        version: &str,
        detail: String,
    ) -> Result<Turn, DownloadError> {
        tracing::error!(%version, "bản cập nhật bị từ chối / release refused: {detail}");
        refuse(&self.settings.dir, version, &detail, false)?;
        self.report_refusals(client).await;
        Ok(Turn::Refused {
            version: version.to_owned(),
            detail,
        })
    }

    /// Tells the gateway `failed` for every refusal not told yet.
    async fn report_refusals(&mut self, client: &GatewayClient) {
        for r in refused(&self.settings.dir)
            .into_iter()
            .filter(|r| !r.reported)
        {
            let told = match client
                .report_release(&r.version, ReleaseStage::Failed, Some(&r.detail))
                .await
            {
                Ok(()) => true,
                // Not offered to this device, or already final: nothing to tell.
                Err(e) if matches!(e.status(), Some(404 | 409)) => true,
                Err(e) => {
                    tracing::warn!(version = %r.version, "cannot report the refusal yet: {e}");
                    false
                }
            };
            if told {
                if let Err(e) = mark_reported(&self.settings.dir, &r.version) {
                    tracing::warn!("{e}");
                }
            }
        }
    }

    fn remove_others(&self, version: &str) {
        let Ok(entries) = std::fs::read_dir(&self.settings.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let other = [".deb.part", ".deb", ".manifest"]
                .iter()
                .find_map(|s| name.strip_suffix(s));
            if other.is_some_and(|v| v != version) {
                tracing::info!(file = %name, "an older download is deleted: {version} is offered now");
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Downloads the package into `part`, resuming from its length; returns where it resumed,
    /// the bytes received and how many requests the part was assembled from (1: one whole
    /// download).
    async fn download(
        &self,
        client: &GatewayClient,
        manifest: &ReleaseManifest,
        part: &Path,
    ) -> Result<(u64, u64, u32), DownloadError> {
        let mut offset = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if offset > manifest.size {
            std::fs::remove_file(part).map_err(file_error("remove", part))?;
            offset = 0;
        }
        let resumed_from = offset;
        if offset == manifest.size {
            return Ok((resumed_from, 0, 2));
        }
        let rate = self.settings.max_rate_bytes_per_sec;
        let body = client
            .release_package(
                &manifest.version,
                offset,
                &format!("\"{}\"", manifest.sha256),
                manifest.size - offset,
                rate,
            )
            .await?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .map_err(file_error("open", part))?;
        if body.start == 0 && offset > 0 {
            // The whole package came (it changed since the part began): start over.
            tracing::info!(version = %manifest.version, "the gateway sent the whole package: the partial download is replaced");
            file.set_len(0).map_err(file_error("truncate", part))?;
        }
        let mut at = body.start;
        let requests = if body.start > 0 { 2 } else { 1 };
        let started = Instant::now();
        let mut received = 0u64;
        let mut response = body.response;
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    let _ = file.sync_data();
                    return Err(client.transport(&e, &body.url).into());
                }
            };
            if at + chunk.len() as u64 > manifest.size {
                drop(file);
                let _ = std::fs::remove_file(part);
                return Err(GatewayError::Garbage {
                    url: body.url,
                    detail: format!(
                        "the package is longer than its manifest's {} bytes",
                        manifest.size
                    ),
                }
                .into());
            }
            file.write_all(&chunk).map_err(file_error("write", part))?;
            at += chunk.len() as u64;
            received += chunk.len() as u64;
            if rate > 0 {
                let due = Duration::from_secs_f64(received as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        file.sync_all().map_err(file_error("fsync", part))?;
        Ok((resumed_from, received, requests))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_that_is_a_path_deletes_nothing_outside_the_folder() {
        let root = tempfile::tempdir().expect("temporary folder");
        let downloads = root.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads");
        let victim = root.path().join("store.deb");
        std::fs::write(&victim, b"not ours").expect("file");
        remove_version(&downloads, "../store");
        assert!(victim.exists(), "a path is not a version");
        std::fs::write(downloads.join("0.2.0.deb"), b"ours").expect("file");
        remove_version(&downloads, "0.2.0");
        assert!(!downloads.join("0.2.0.deb").exists());
    }
}
