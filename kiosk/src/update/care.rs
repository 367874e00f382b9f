//! kioskd's update task: asks the gateway for an offer every `check_interval` and downloads it
//! ([`motcua_uplink::release::ReleaseDownloader`]); every half minute mirrors the citizen
//! session into the spool, reports what the updater finished (`result.json`), reports
//! `installed` when this kioskd is the new version on probation, and asks for an install when
//! [`super::InstallCheck`] lets it.

use std::time::Duration;

use chrono::Utc;
use motcua_domain::update::{UpdateOutcome, UpdatePhase};
use motcua_domain::wire::ReleaseStage;
use motcua_identity::release::TrustedReleaseKey;
use motcua_uplink::release::{self as download, DownloadSettings, ReleaseDownloader, Turn};
use motcua_uplink::{DeviceLink, GatewayClient};
use std::sync::Arc;

use tokio::sync::{watch, Notify};

use super::{install_request, intake_open, InstallCheck, Presence, Spool, CHECK_NOW_FILE};
use crate::config::KioskConfig;

/// How often the spool is looked at (result, probation, install).
const SPOOL_EVERY: Duration = Duration::from_secs(30);

/// The update task of kioskd.
pub struct UpdateCare {
    /// The kiosk's config.
    pub config: KioskConfig,
    /// The version installed now ([`super::installed_version`], read once at start).
    pub running: String,
    /// Set by the touch screen while a citizen session is open.
    pub presence: Presence,
}

impl UpdateCare {
    /// The downloader's settings, with `key`.
    pub fn download_settings(&self, key: TrustedReleaseKey) -> DownloadSettings {
        DownloadSettings {
            dir: Spool::of(&self.config.store.data_dir).downloads(),
            package: self.config.update.package.clone(),
            running: self.running.clone(),
            key,
            max_rate_bytes_per_sec: self.config.uplink.max_rate_bytes_per_sec,
        }
    }

    /// Runs until `shutdown`.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let spool = Spool::of(&self.config.store.data_dir);
        // A session marker left by a kioskd that stopped is not a session.
        spool.mark_session(false);
        let key = loop {
            match self.config.update.key() {
                Ok(k) => break k,
                Err(why) => {
                    tracing::warn!("{why}");
                    tokio::select! {
                        _ = tokio::time::sleep(self.config.update.check_interval) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        };
        let Some(mut link) = self.link(&mut shutdown).await else {
            return;
        };
        // The download has its own task: a long download holds back neither the session
        // marker nor the spool's reports.
        let downloaded = Arc::new(Notify::new());
        if let Some(download_link) = self.link(&mut shutdown).await {
            let downloader = ReleaseDownloader::new(self.download_settings(key.clone()));
            let every = self.config.update.check_interval;
            tokio::spawn(keep_downloading(
                downloader,
                download_link,
                spool.clone(),
                every,
                downloaded.clone(),
                shutdown.clone(),
            ));
        }
        let mut installed_told = false;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_spool = None::<tokio::time::Instant>;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                // A new download: the spool is looked at now, not in up to 30 s.
                _ = downloaded.notified() => last_spool = None,
                _ = shutdown.changed() => return,
            }
            spool.mark_session(self.presence.is_open());
            if last_spool.is_some_and(|t| t.elapsed() < SPOOL_EVERY) {
                continue;
            }
            last_spool = Some(tokio::time::Instant::now());
            if let Err(e) = link.reload_if_changed() {
                tracing::warn!("update: {e}");
            }
            let client = link.client().clone();
            settle_result(&spool, &client).await;
            if !installed_told {
                installed_told = report_installed(&spool, &client, &self.running).await;
            }
            // quick_check reads the whole database: not on an async worker's time.
            let asked = tokio::task::block_in_place(|| {
                try_install(
                    &self.config,
                    &spool,
                    &key,
                    &self.running,
                    self.presence.is_open(),
                )
            });
            match asked {
                Ok(Some(version)) => {
                    tracing::info!(%version, "đã yêu cầu cài đặt / install requested from the updater")
                }
                Ok(None) => {}
                Err(why) => tracing::debug!("update waits: {why}"),
            }
        }
    }

    /// A link with the device's certificate, once the kiosk is enrolled (`None`: shutdown).
    async fn link(&self, shutdown: &mut watch::Receiver<bool>) -> Option<DeviceLink> {
        let files = self.config.identity_files();
        loop {
            if files.is_enrolled() {
                if let Ok(link) = DeviceLink::open(
                    files.clone(),
                    &self.config.uplink.gateway_url,
                    self.config.uplink.request_timeout,
                ) {
                    return Some(link);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(SPOOL_EVERY) => {}
                _ = shutdown.changed() => return None,
            }
        }
    }
}

/// Asks for the offer and downloads it every `every`, and at once when `kioskctl update
/// check` left [`CHECK_NOW_FILE`] in the spool.
async fn keep_downloading(
    mut downloader: ReleaseDownloader,
    mut link: DeviceLink,
    spool: Spool,
    every: Duration,
    downloaded: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut next_check = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let asked = spool.dir().join(CHECK_NOW_FILE);
        if asked.exists() {
            let _ = std::fs::remove_file(&asked);
            next_check = tokio::time::Instant::now();
        }
        if tokio::time::Instant::now() < next_check {
            continue;
        }
        next_check = tokio::time::Instant::now() + every;
        if let Err(e) = link.reload_if_changed() {
            tracing::warn!("update: {e}");
        }
        let client = link.client().clone();
        let turn = tokio::select! {
            t = downloader.turn(&client) => t,
            _ = shutdown.changed() => return,
        };
        match turn {
            Ok(Turn::Ready {
                version, received, ..
            }) if received > 0 => {
                tracing::info!(%version, received, "update downloaded");
                downloaded.notify_one();
            }
            Ok(_) => {}
            // The next check resumes where this one stopped.
            Err(e) => tracing::warn!("update download: {e}"),
        }
    }
}

/// Asks the updater to install the verified download if [`InstallCheck`] lets it and the store
/// passes `PRAGMA quick_check`; `Ok(Some(version))` when the request was written, `Ok(None)`
/// when there is nothing to install, `Err` why it waits.
pub fn try_install(
    config: &KioskConfig,
    spool: &Spool,
    key: &TrustedReleaseKey,
    running: &str,
    session_open: bool,
) -> Result<Option<String>, String> {
    request_install(
        config,
        spool,
        key,
        running,
        session_open,
        Some(&config.update.window),
        Utc::now(),
    )
}

/// [`try_install`] at `now`, the window ignored when `window` is `None` (`kioskctl update
/// apply --now`).
pub fn request_install(
    config: &KioskConfig,
    spool: &Spool,
    key: &TrustedReleaseKey,
    running: &str,
    session_open: bool,
    window: Option<&motcua_domain::maintenance::MaintenanceWindow>,
    now: chrono::DateTime<Utc>,
) -> Result<Option<String>, String> {
    let Some((version, manifest, text)) = download::ready_download(&spool.downloads(), key) else {
        return Ok(None);
    };
    if !manifest.upgrades(running) {
        return Ok(None);
    }
    let state = spool.state();
    let check = InstallCheck {
        now,
        window,
        session_open,
        intake_open: intake_open(&config.store.data_dir),
        state: state.as_ref(),
        pending: spool.request().is_some() || spool.result().is_some(),
    };
    if let Some(why) = check.waits_for() {
        return Err(why);
    }
    motcua_store::Store::open(&config.store.data_dir, 0)
        .and_then(|s| s.quick_check())
        .map_err(|e| {
            format!("kho dữ liệu không lành / the store does not pass quick_check, no update: {e}")
        })?;
    spool.write_request(&install_request(&version, &text, now))?;
    Ok(Some(version))
}

/// Reports the updater's final word and deletes it once the gateway has it (or cannot take it:
/// not offered to this device, or already final). Returns the stage reported.
pub async fn settle_result(spool: &Spool, client: &GatewayClient) -> Option<ReleaseStage> {
    let result = spool.result()?;
    let downloads = spool.downloads();
    let (stage, detail) = match result.outcome {
        UpdateOutcome::Committed => (ReleaseStage::Committed, result.detail.clone()),
        UpdateOutcome::KeptWithAlert => {
            let detail = format!(
                "kept with an alert (rolling back would lose records accepted after the migration): {}",
                result.detail.as_deref().unwrap_or("no detail")
            );
            tracing::warn!(version = %result.version, "bản mới không khoẻ nhưng được giữ, cần kỹ thuật viên / the new version is not healthy but was kept: {detail}");
            (ReleaseStage::Committed, Some(detail))
        }
        UpdateOutcome::RolledBack => (ReleaseStage::RolledBack, result.detail.clone()),
        UpdateOutcome::Failed => (ReleaseStage::Failed, result.detail.clone()),
    };
    let told = match client
        .report_release(&result.version, stage, detail.as_deref())
        .await
    {
        Ok(()) => true,
        Err(e) if matches!(e.status(), Some(404 | 409)) => {
            tracing::warn!(version = %result.version, "the gateway does not take this report: {e}");
            true
        }
        Err(e) => {
            tracing::warn!(version = %result.version, "cannot report the update's outcome yet: {e}");
            false
        }
    };
    if !told {
        return None;
    }
    match result.outcome {
        UpdateOutcome::Committed | UpdateOutcome::KeptWithAlert => {
            download::remove_version(&downloads, &result.version);
        }
        UpdateOutcome::RolledBack | UpdateOutcome::Failed => {
            // Not installed again: the next release is.
            let why = result
                .detail
                .as_deref()
                .unwrap_or("rolled back or refused by the updater");
            if let Err(e) = download::refuse(&downloads, &result.version, why, true) {
                tracing::warn!("{e}");
            }
        }
    }
    if let Err(e) = spool.remove_result() {
        tracing::warn!("cannot delete the reported result.json: {e}");
    }
    Some(stage)
}

/// Reports `installed` when the updater is proving this very version (kioskd started as the
/// new version); `true` once there is nothing (more) to tell.
pub async fn report_installed(spool: &Spool, client: &GatewayClient, running: &str) -> bool {
    let Some(state) = spool.state() else {
        return true;
    };
    if state.phase != UpdatePhase::Probation || state.version.as_deref() != Some(running) {
        return true;
    }
    match client
        .report_release(running, ReleaseStage::Installed, None)
        .await
    {
        Ok(()) => true,
        Err(e) if matches!(e.status(), Some(404 | 409)) => true,
        Err(e) => {
            tracing::warn!(version = running, "cannot report the install yet: {e}");
            false
        }
    }
}
