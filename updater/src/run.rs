//! One run of the updater: resume what a power cut interrupted, else take kioskd's request.
//! Every step is recorded in the updater's folder before it is taken, kioskd's spool shows the
//! phase (`state.json`), and the request ends with one `result.json`.
//!
//! An install: verify (the copy, the signature, the hash) → keep the running version's
//! package (the one the updater installed, or `dpkg-repack` of it) → stop kioskd and copy the
//! store → `dpkg -i` → start → the health gate → commit, or roll back by itself: reinstall the
//! kept package and, only when the new version migrated the store and accepted nothing since,
//! put the store's copy back (else stay, with an alert: a dossier is never lost to a rollback).

use std::path::PathBuf;

use motcua_domain::update::{
    UpdateOutcome, UpdatePhase, UpdateRequest, UpdateResult, UpdateState, UPDATE_REQUEST_FILE,
    UPDATE_RESULT_FILE, UPDATE_SPOOL_DIR, UPDATE_STATE_FILE,
};
use motcua_identity::release::TrustedReleaseKey;

use crate::config::UpdaterConfig;
use crate::files::Folder;
use crate::health::{self, Verdict};
use crate::progress::{InProgress, Previous, Step, WorkDir};
use crate::store_copy::{self, StoreAction};
use crate::system;
use crate::verify::{self, Asked};

/// The largest request file read (the manifest is a few hundred bytes).
const REQUEST_MAX: u64 = 64 * 1024;
/// How many of the new version's log lines a rollback report carries.
const LOG_LINES: usize = 15;

/// The updater with its folders open.
pub struct Updater {
    config: UpdaterConfig,
    work: WorkDir,
    data: Folder,
    spool: Folder,
    /// kioskd's user and group (the owner of its data folder).
    owner: (u32, u32),
}

fn now() -> String {
    chrono::Utc::now()
        .with_timezone(&motcua_domain::vietnam_offset())
        .to_rfc3339()
}

impl Updater {
    /// Opens the folders; `Ok(None)` when kioskd has no spool yet (nothing was ever asked).
    pub fn open(config: UpdaterConfig) -> anyhow::Result<Option<Self>> {
        let work = WorkDir::open(&config.work_dir)?;
        let data = Folder::open(&config.data_dir)?;
        let spool = match data.sub(UPDATE_SPOOL_DIR) {
            Ok(s) => s,
            Err(_) if !data.has(UPDATE_SPOOL_DIR) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let owner = data.owner()?;
        Ok(Some(Self {
            config,
            work,
            data,
            spool,
            owner,
        }))
    }

    /// Resumes an interrupted request, else carries out kioskd's request, if any.
    pub fn run(&self) -> anyhow::Result<()> {
        if let Some(p) = self.work.in_progress().map_err(anyhow::Error::msg)? {
            tracing::warn!(version = %p.version, step = ?p.step, "tiếp tục cập nhật bị gián đoạn / resuming an interrupted update");
            if let Err(e) = system::dpkg_configure_pending() {
                tracing::warn!("{e}");
            }
            return self.carry_on(p);
        }
        let bytes = match self.spool.read(UPDATE_REQUEST_FILE, REQUEST_MAX) {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::info!("không có yêu cầu / nothing was asked");
                return Ok(());
            }
            Err(e) => {
                self.spool.remove(UPDATE_REQUEST_FILE)?;
                return self.refuse("unknown", &self.running(), &format!("the request: {e}"));
            }
        };
        match serde_json::from_slice::<UpdateRequest>(&bytes) {
            Ok(UpdateRequest::Install {
                version,
                package_file,
                manifest,
                ..
            }) => self.take_install(&version, &package_file, &manifest),
            Ok(UpdateRequest::Rollback { reason, .. }) => self.take_rollback(&reason),
            Err(e) => {
                self.spool.remove(UPDATE_REQUEST_FILE)?;
                self.refuse(
                    "unknown",
                    &self.running(),
                    &format!("unreadable request: {e}"),
                )
            }
        }
    }

    fn running(&self) -> String {
        system::installed_version(&self.config.package).unwrap_or_else(|| "none".into())
    }

    fn state(&self, phase: UpdatePhase, version: Option<&str>, previous: Option<&str>) {
        let state = UpdateState {
            phase,
            version: version.map(str::to_owned),
            previous_version: previous.map(str::to_owned),
            since: now(),
        };
        let json = serde_json::to_vec_pretty(&state).unwrap_or_default();
        if let Err(e) = self.spool.replace(UPDATE_STATE_FILE, &json, 0o644, None) {
            tracing::warn!("cannot write the state for kioskd: {e}");
        }
    }

    fn result(
        &self,
        version: &str,
        outcome: UpdateOutcome,
        detail: Option<String>,
    ) -> anyhow::Result<()> {
        // The gateway takes a report's detail up to its limit; the log's end matters most.
        let detail = detail.map(|d| {
            let max = motcua_domain::wire::REPORT_DETAIL_MAX / 2;
            let n = d.chars().count();
            if n > max {
                d.chars().skip(n - max).collect()
            } else {
                d
            }
        });
        let result = UpdateResult {
            version: version.to_owned(),
            outcome,
            running_version: self.running(),
            detail,
            finished_at: now(),
        };
        tracing::info!(version, outcome = ?outcome, running = %result.running_version, detail = result.detail.as_deref().unwrap_or(""), "kết quả cập nhật / update result");
        let json = serde_json::to_vec_pretty(&result)?;
        self.spool.replace(UPDATE_RESULT_FILE, &json, 0o644, None)?;
        self.state(UpdatePhase::Idle, None, None);
        Ok(())
    }

    /// Refused before anything changed.
    fn refuse(&self, version: &str, running: &str, why: &str) -> anyhow::Result<()> {
        tracing::warn!(version, running, "từ chối cập nhật / update refused: {why}");
        self.result(version, UpdateOutcome::Failed, Some(why.to_owned()))
    }

    fn take_install(
        &self,
        version: &str,
        package_file: &str,
        manifest: &str,
    ) -> anyhow::Result<()> {
        let running = self.running();
        self.state(UpdatePhase::Installing, Some(version), Some(&running));
        let checked = (|| {
            let file_name = verify::package_name(package_file)?;
            let key: TrustedReleaseKey =
                std::fs::read_to_string(&self.config.release_public_key_file)
                    .map_err(|e| format!("{}: {e}", self.config.release_public_key_file.display()))?
                    .parse()
                    .map_err(|e| format!("{e}"))?;
            let downloads = self.spool.sub("downloads").map_err(|e| e.to_string())?;
            let incoming = self.work.path("incoming");
            std::fs::create_dir_all(&incoming).map_err(|e| e.to_string())?;
            let asked = Asked {
                manifest,
                version,
                file_name,
            };
            let verified = verify::verify(
                &key,
                &self.config.package,
                &running,
                asked,
                &downloads,
                &incoming.join(format!("{version}.deb")),
            )?;
            let from_package = self.keep_running_package(&running)?;
            Ok::<_, String>((verified, from_package))
        })();
        let (verified, from_package) = match checked {
            Ok(v) => v,
            Err(why) => {
                self.spool.remove(UPDATE_REQUEST_FILE)?;
                let _ = self.work.finish();
                return self.refuse(version, &running, &why);
            }
        };
        let p = InProgress {
            version: verified.version.clone(),
            from_version: running.clone(),
            from_package,
            package: Some(verified.package),
            unit: system::kioskd_unit(&self.config.units),
            step: Step::Prepared,
            reason: None,
            store_before: None,
            started_at: now(),
        };
        // Recorded before the request goes: a power cut now resumes from the record.
        self.work.save(&p).map_err(anyhow::Error::msg)?;
        self.spool.remove(UPDATE_REQUEST_FILE)?;
        tracing::info!(version = %p.version, from = %running, unit = %p.unit, "cài bản mới / installing");
        self.carry_on(p)
    }

    /// The running version's package, kept for the fallback: the copy kept when it was
    /// installed by the updater, else rebuilt from the installed files by `dpkg-repack`.
    fn keep_running_package(&self, running: &str) -> Result<PathBuf, String> {
        let kept = self.work.kept_package(running);
        if kept.exists() {
            return Ok(kept);
        }
        let temp = self.work.path("repack");
        let _ = std::fs::remove_dir_all(&temp);
        let made = system::repack(&self.config.package, &temp).map_err(|e| {
            format!("cannot keep the running version {running} for a rollback: {e}")
        })?;
        let dir = self.work.path("packages");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::rename(&made, &kept).map_err(|e| format!("{}: {e}", kept.display()))?;
        let _ = std::fs::remove_dir_all(&temp);
        Ok(kept)
    }

    fn take_rollback(&self, reason: &str) -> anyhow::Result<()> {
        let running = self.running();
        self.spool.remove(UPDATE_REQUEST_FILE)?;
        let previous =
            match self.work.previous() {
                Ok(Some(p)) if p.version != running && p.package.exists() => p,
                Ok(_) => return self.refuse(
                    &running,
                    &running,
                    "không có bản trước để quay lại / no previous version is kept to go back to",
                ),
                Err(e) => return self.refuse(&running, &running, &e),
            };
        let unit = system::kioskd_unit(&self.config.units);
        self.state(
            UpdatePhase::RollingBack,
            Some(&running),
            Some(&previous.version),
        );
        // Past a migration the older version cannot open the store: refused, nothing changed.
        let _ = system::systemctl(&["stop", &unit]);
        let now_mark = store_copy::copy_out(&self.data, &self.work.path("store-now"));
        if let (Ok(Some(mark)), Some(schema)) = (&now_mark, previous.store_schema) {
            if mark.schema_version > schema {
                let _ = system::systemctl(&["start", "--no-block", &unit]);
                let _ = self.work.finish();
                return self.refuse(&running, &running, &format!(
                    "kho dữ liệu đã nâng cấp sau bản {} / the store was migrated since {} (schema {schema} → {}): going back would lose records, refused",
                    previous.version, previous.version, mark.schema_version
                ));
            }
        }
        let p = InProgress {
            version: running,
            from_version: previous.version.clone(),
            from_package: previous.package.clone(),
            package: None,
            unit,
            step: Step::RollingBack,
            reason: Some(format!(
                "kỹ thuật viên yêu cầu / asked by a technician: {reason}"
            )),
            store_before: None,
            started_at: now(),
        };
        self.work.save(&p).map_err(anyhow::Error::msg)?;
        self.carry_on(p)
    }

    /// Carries a recorded request on from its step to its end.
    fn carry_on(&self, mut p: InProgress) -> anyhow::Result<()> {
        loop {
            match p.step {
                Step::Prepared => {
                    self.state(
                        UpdatePhase::Installing,
                        Some(&p.version),
                        Some(&p.from_version),
                    );
                    let _ = system::systemctl(&["stop", &p.unit]);
                    p.store_before =
                        match store_copy::copy_out(&self.data, &self.work.path("store-before")) {
                            Ok(mark) => mark,
                            Err(why) => {
                                let _ = system::systemctl(&["start", "--no-block", &p.unit]);
                                self.work.finish().map_err(anyhow::Error::msg)?;
                                return self.refuse(&p.version, &p.from_version, &why);
                            }
                        };
                    p.step = Step::Installing;
                }
                Step::Installing => {
                    let Some(package) = p.package.clone() else {
                        p.step = Step::RollingBack;
                        continue;
                    };
                    match system::dpkg_install(&package) {
                        Ok(_) => {
                            self.start(&p.unit);
                            p.step = Step::Probation;
                        }
                        Err(why) => {
                            p.reason = Some(format!("dpkg: {why}"));
                            p.step = Step::RollingBack;
                        }
                    }
                }
                Step::Probation => {
                    self.state(
                        UpdatePhase::Probation,
                        Some(&p.version),
                        Some(&p.from_version),
                    );
                    let since = format!("@{}", chrono::Utc::now().timestamp());
                    match health::watch(&p.unit, self.config.ready_within, self.config.healthy_for)
                    {
                        Verdict::Healthy => return self.commit(&p),
                        Verdict::Waiting => continue,
                        Verdict::Unhealthy(why) => {
                            let log = system::journal_tail(&p.unit, &since, LOG_LINES);
                            tracing::warn!(version = %p.version, "bản mới không khoẻ, quay lại / the new version is not healthy, rolling back: {why}");
                            p.reason = Some(format!("{why}\n--- {} ---\n{log}", p.unit));
                            p.step = Step::RollingBack;
                        }
                    }
                }
                Step::RollingBack => {
                    self.work.save(&p).map_err(anyhow::Error::msg)?;
                    return self.roll_back(&p);
                }
            }
            self.work.save(&p).map_err(anyhow::Error::msg)?;
        }
    }

    /// `daemon-reload`, forget earlier failures, start (without waiting: the gate watches).
    fn start(&self, unit: &str) {
        for args in [
            &["daemon-reload"][..],
            &["reset-failed", unit],
            &["start", "--no-block", unit],
        ] {
            if let Err(e) = system::systemctl(args) {
                tracing::warn!("{e}");
            }
        }
    }

    fn commit(&self, p: &InProgress) -> anyhow::Result<()> {
        if let Some(package) = &p.package {
            let kept = self.work.kept_package(&p.version);
            if let Some(dir) = kept.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(package, &kept)?;
        }
        let previous = Previous {
            version: p.from_version.clone(),
            package: p.from_package.clone(),
            store_schema: p.store_before.map(|m| m.schema_version),
        };
        self.work
            .set_previous(Some(&previous), &p.version)
            .map_err(anyhow::Error::msg)?;
        self.work.finish().map_err(anyhow::Error::msg)?;
        self.result(&p.version, UpdateOutcome::Committed, None)
    }

    fn roll_back(&self, p: &InProgress) -> anyhow::Result<()> {
        let reason = p
            .reason
            .clone()
            .unwrap_or_else(|| "no reason recorded".into());
        self.state(
            UpdatePhase::RollingBack,
            Some(&p.version),
            Some(&p.from_version),
        );
        let _ = system::systemctl(&["stop", &p.unit]);
        let now_mark = store_copy::copy_out(&self.data, &self.work.path("store-now"));
        match store_copy::decide(p.store_before, now_mark) {
            StoreAction::Keep => {}
            StoreAction::Restore => {
                store_copy::restore(&self.data, &self.work.path("store-before"), self.owner)
                    .map_err(anyhow::Error::msg)?;
                tracing::info!("kho dữ liệu trước cập nhật được khôi phục / the store from before the update is back");
            }
            StoreAction::StayWithAlert => {
                self.start(&p.unit);
                if let Some(package) = &p.package {
                    let kept = self.work.kept_package(&p.version);
                    let _ = std::fs::rename(package, &kept);
                }
                self.work.finish().map_err(anyhow::Error::msg)?;
                return self.result(&p.version, UpdateOutcome::KeptWithAlert, Some(format!(
                    "CẦN KỸ THUẬT VIÊN / NEEDS A TECHNICIAN: {} migrated the store and accepted records since; rolling back to {} would lose them, so it stays. Why it is not healthy: {reason}",
                    p.version, p.from_version
                )));
            }
        }
        let mut detail = reason;
        match system::dpkg_install(&p.from_package) {
            Ok(_) => {
                self.start(&p.unit);
                if let Verdict::Unhealthy(why) = health::watch(
                    &p.unit,
                    self.config.ready_within,
                    std::time::Duration::from_secs(1),
                ) {
                    detail.push_str(&format!(
                        "\nbản cũ {} cũng không sẵn sàng / the previous version {} is not ready either: {why}",
                        p.from_version, p.from_version
                    ));
                }
            }
            Err(why) => {
                self.start(&p.unit);
                self.work.finish().map_err(anyhow::Error::msg)?;
                return self.result(&p.version, UpdateOutcome::KeptWithAlert, Some(format!(
                    "CẦN KỸ THUẬT VIÊN / NEEDS A TECHNICIAN: reinstalling {} failed ({why}); the device stays on {}. Why: {detail}",
                    p.from_version, p.version
                )));
            }
        }
        // A technician's rollback leaves no fallback behind it.
        if p.package.is_none() {
            self.work
                .set_previous(None, &p.from_version)
                .map_err(anyhow::Error::msg)?;
        }
        self.work.finish().map_err(anyhow::Error::msg)?;
        self.result(&p.version, UpdateOutcome::RolledBack, Some(detail))
    }
}
