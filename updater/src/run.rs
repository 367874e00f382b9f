//! One run of the updater: resume what a power cut interrupted, else take kioskd's request.
//! Every step is recorded in the updater's folder before it is taken, kioskd's spool shows the
//! phase (`state.json`), and a release's request ends with one `result.json`.
//!
//! An install: verify (the copy, the signature, the hash) → keep the running version's
//! package (the one the updater installed, or `dpkg-repack` of it) → stop kioskd and copy the
//! store → `dpkg -i` → start → the health gate → commit, or roll back by itself: reinstall the
//! kept package and, only when the new version migrated the store and accepted nothing since,
//! put the store's copy back (else stay, with an alert: a dossier is never lost to a rollback).
//! The steps are in [`crate::steps`].
//!
//! The request is first renamed to `.request.taken` in the spool: a request kioskd writes while
//! this one runs waits for the next run, and a power cut never replays a finished one.

use std::path::PathBuf;

use motcua_domain::update::{
    UpdateOutcome, UpdatePhase, UpdateRequest, UpdateResult, UpdateState, UPDATE_REQUEST_FILE,
    UPDATE_RESULT_FILE, UPDATE_SPOOL_DIR, UPDATE_STATE_FILE,
};
use motcua_identity::release::TrustedReleaseKey;

use crate::config::UpdaterConfig;
use crate::files::Folder;
use crate::progress::{InProgress, Step, WorkDir, MAX_ATTEMPTS};
use crate::store_copy;
use crate::system;
use crate::verify::{self, Asked};

/// The largest request file read (the manifest is a few hundred bytes).
const REQUEST_MAX: u64 = 64 * 1024;
/// The request being carried out, renamed out of kioskd's way.
pub(crate) const TAKEN_FILE: &str = ".request.taken";

/// The updater with its folders open.
pub struct Updater {
    pub(crate) config: UpdaterConfig,
    pub(crate) work: WorkDir,
    pub(crate) data: Folder,
    pub(crate) spool: Folder,
    /// kioskd's user and group (the owner of its data folder).
    pub(crate) owner: (u32, u32),
}

pub(crate) fn now() -> String {
    chrono::Utc::now()
        .with_timezone(&motcua_domain::vietnam_offset())
        .to_rfc3339()
}

impl Updater {
    /// Opens the folders (kioskd's spool is made, as kioskd's, when it is missing).
    pub fn open(config: UpdaterConfig) -> anyhow::Result<Self> {
        let work = WorkDir::open(&config.work_dir)?;
        let data = Folder::open(&config.data_dir)?;
        let owner = data.owner()?;
        let spool = data.sub_or_make(UPDATE_SPOOL_DIR, owner)?;
        Ok(Self {
            config,
            work,
            data,
            spool,
            owner,
        })
    }

    /// Resumes an interrupted request, else carries out kioskd's request, if any.
    pub fn run(&self) -> anyhow::Result<()> {
        if let Some(mut p) = self.work.in_progress().map_err(anyhow::Error::msg)? {
            p.attempts += 1;
            if p.attempts > MAX_ATTEMPTS {
                return self.give_up(&p);
            }
            self.work.save(&p).map_err(anyhow::Error::msg)?;
            tracing::warn!(version = %p.version, step = ?p.step, attempt = p.attempts, "tiếp tục cập nhật bị gián đoạn / resuming an interrupted update");
            if let Err(e) = system::dpkg_configure_pending() {
                tracing::warn!("{e}");
            }
            return self.guarded(p);
        }
        let taken = self.spool.rename(UPDATE_REQUEST_FILE, TAKEN_FILE)?;
        let bytes = match self.spool.read(TAKEN_FILE, REQUEST_MAX) {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::info!(taken, "không có yêu cầu / nothing was asked");
                self.settle_stale_state();
                return Ok(());
            }
            Err(e) => {
                self.spool.remove(TAKEN_FILE)?;
                self.note(&format!(
                    "yêu cầu không đọc được / the request cannot be read: {e}"
                ));
                return Ok(());
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
                self.spool.remove(TAKEN_FILE)?;
                self.note(&format!("yêu cầu không đọc được / unreadable request: {e}"));
                Ok(())
            }
        }
    }

    /// Carries a record on; whatever fails, kioskd is not left stopped.
    fn guarded(&self, p: InProgress) -> anyhow::Result<()> {
        let unit = p.unit.clone();
        let done = self.carry_on(p);
        if done.is_err() {
            self.start(&unit);
        }
        done
    }

    /// A record taken up [`MAX_ATTEMPTS`] times: kioskd is started on whatever is installed,
    /// the record set aside, and a technician called.
    fn give_up(&self, p: &InProgress) -> anyhow::Result<()> {
        self.start(&p.unit);
        self.work.give_up().map_err(anyhow::Error::msg)?;
        let _ = self.spool.remove(TAKEN_FILE);
        self.result(&p.version, UpdateOutcome::KeptWithAlert, Some(format!(
            "CẦN KỸ THUẬT VIÊN / NEEDS A TECHNICIAN: the update to {} could not be finished after {MAX_ATTEMPTS} tries (step {:?}); {} is what dpkg has now; the record is /var/lib/motcua-updater/in-progress.failed.json",
            p.version, p.step, self.running()
        )))
    }

    pub(crate) fn running(&self) -> String {
        system::installed_version(&self.config.package).unwrap_or_else(|| "none".into())
    }

    pub(crate) fn state(&self, phase: UpdatePhase, version: Option<&str>, previous: Option<&str>) {
        self.write_state(UpdateState {
            phase,
            version: version.map(str::to_owned),
            previous_version: previous.map(str::to_owned),
            since: now(),
            note: None,
        });
    }

    fn write_state(&self, state: UpdateState) {
        let json = serde_json::to_vec_pretty(&state).unwrap_or_default();
        if let Err(e) = self.spool.replace(UPDATE_STATE_FILE, &json, 0o644, None) {
            tracing::warn!("cannot write the state for kioskd: {e}");
        }
    }

    /// Idle, with a note for `kioskctl update status` about something that is no release's
    /// outcome (so kioskd reports nothing to the gateway for it).
    fn note(&self, note: &str) {
        tracing::warn!("{note}");
        self.write_state(UpdateState {
            phase: UpdatePhase::Idle,
            version: None,
            previous_version: None,
            since: now(),
            note: Some(note.to_owned()),
        });
    }

    /// A state left busy by a run that ended without a record (killed before it was written)
    /// would make kioskd wait for ever: it is set idle.
    fn settle_stale_state(&self) {
        let stale = self
            .spool
            .read(UPDATE_STATE_FILE, REQUEST_MAX)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<UpdateState>(&b).ok())
            .is_some_and(|s| s.phase != UpdatePhase::Idle);
        if stale {
            self.note("lần chạy trước dừng giữa chừng / the last run stopped before it began; nothing was changed");
        }
    }

    pub(crate) fn result(
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
        self.spool.remove(TAKEN_FILE)?;
        self.state(UpdatePhase::Idle, None, None);
        Ok(())
    }

    /// A release refused before anything changed.
    pub(crate) fn refuse(&self, version: &str, running: &str, why: &str) -> anyhow::Result<()> {
        tracing::warn!(version, running, "từ chối cập nhật / update refused: {why}");
        self.result(version, UpdateOutcome::Failed, Some(why.to_owned()))
    }

    fn take_install(
        &self,
        version: &str,
        package_file: &str,
        manifest: &str,
    ) -> anyhow::Result<()> {
        if let Err(e) = system::dpkg_configure_pending() {
            tracing::warn!("{e}");
        }
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
            attempts: 0,
        };
        self.work.save(&p).map_err(anyhow::Error::msg)?;
        tracing::info!(version = %p.version, from = %running, unit = %p.unit, "cài bản mới / installing");
        self.guarded(p)
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
        let refused = |why: String| {
            let _ = self.spool.remove(TAKEN_FILE);
            let _ = self.work.finish();
            self.note(&format!("không quay lại được / rollback refused: {why}"));
            Ok(())
        };
        let previous = match self.work.previous() {
            Ok(Some(p)) if p.version != running && p.package.exists() => p,
            Ok(_) => return refused("không có bản trước / no previous version is kept".into()),
            Err(e) => return refused(e),
        };
        let unit = system::kioskd_unit(&self.config.units);
        self.state(
            UpdatePhase::RollingBack,
            Some(&running),
            Some(&previous.version),
        );
        let _ = system::systemctl(&["stop", &unit]);
        // Past a migration the older version cannot open the store: refused, nothing changed.
        let why = match store_copy::copy_out(&self.data, &self.work.path("store-now")) {
            _ if !system::unit_stopped(&unit) => Some(format!("{unit} did not stop")),
            Err(e) => Some(e),
            Ok(Some(_)) if previous.store_schema.is_none() => Some(format!(
                "the store's schema under {} is not known",
                previous.version
            )),
            Ok(Some(mark)) if Some(mark.schema_version) > previous.store_schema => Some(format!(
                "the store was migrated since {} (schema {} → {}): going back would lose records",
                previous.version,
                previous.store_schema.unwrap_or(0),
                mark.schema_version
            )),
            Ok(_) => None,
        };
        if let Some(why) = why {
            self.start(&unit);
            return refused(why);
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
            attempts: 0,
        };
        self.work.save(&p).map_err(anyhow::Error::msg)?;
        self.guarded(p)
    }
}
