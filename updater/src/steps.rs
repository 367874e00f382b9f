//! The steps of a recorded request ([`crate::progress::Step`]), each taken again as a whole
//! when a power cut interrupted it: stop kioskd and copy its store, `dpkg -i`, the health gate,
//! then the commit or the rollback.

use std::time::Duration;

use motcua_domain::update::{UpdateOutcome, UpdatePhase};

use crate::health::{self, Verdict};
use crate::progress::{InProgress, Previous, Step};
use crate::run::Updater;
use crate::store_copy::{self, StoreAction};
use crate::system;

/// How many of the new version's log lines a rollback report carries.
const LOG_LINES: usize = 15;

impl Updater {
    /// Carries a recorded request on from its step to its end.
    pub(crate) fn carry_on(&self, mut p: InProgress) -> anyhow::Result<()> {
        loop {
            match p.step {
                Step::Prepared => {
                    self.state(
                        UpdatePhase::Installing,
                        Some(&p.version),
                        Some(&p.from_version),
                    );
                    let _ = system::systemctl(&["stop", &p.unit]);
                    let copied = if system::unit_stopped(&p.unit) {
                        store_copy::copy_out(&self.data, &self.work.path("store-before"))
                    } else {
                        Err(format!(
                            "{} did not stop: the store cannot be copied",
                            p.unit
                        ))
                    };
                    match copied {
                        Ok(mark) => p.store_before = mark,
                        Err(why) => {
                            self.start(&p.unit);
                            self.work.finish().map_err(anyhow::Error::msg)?;
                            return self.refuse(&p.version, &p.from_version, &why);
                        }
                    }
                    p.step = Step::Installing;
                }
                Step::Installing => {
                    let Some(package) = p.package.clone() else {
                        p.step = Step::RollingBack;
                        continue;
                    };
                    match system::dpkg_install(&package) {
                        Ok(_) => p.step = Step::Probation,
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
                    let since = format!("@{}", chrono::Utc::now().timestamp().saturating_sub(1));
                    // The package's scripts started it; after a power cut nobody did.
                    self.start(&p.unit);
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
    pub(crate) fn start(&self, unit: &str) {
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

    /// Keeps the new version's package, remembers the old one as the technician's fallback.
    fn keep_new(&self, p: &InProgress) -> anyhow::Result<()> {
        if let Some(package) = &p.package {
            let kept = self.work.kept_package(&p.version);
            if let Some(dir) = kept.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Taken again after a power cut: the package may be kept already.
            if package.exists() {
                std::fs::rename(package, &kept)?;
            }
        }
        let previous = Previous {
            version: p.from_version.clone(),
            package: p.from_package.clone(),
            store_schema: p.store_before.map(|m| m.schema_version),
        };
        self.work
            .set_previous(Some(&previous), &p.version)
            .map_err(anyhow::Error::msg)
    }

    fn commit(&self, p: &InProgress) -> anyhow::Result<()> {
        self.keep_new(p)?;
        self.work.finish().map_err(anyhow::Error::msg)?;
        self.result(&p.version, UpdateOutcome::Committed, None)
    }

    /// Stays on the new version (kioskd started again) with a technician's alert.
    fn stay_with_alert(&self, p: &InProgress, detail: String) -> anyhow::Result<()> {
        self.start(&p.unit);
        if p.package.is_some() {
            self.keep_new(p)?;
        }
        self.work.finish().map_err(anyhow::Error::msg)?;
        self.result(&p.version, UpdateOutcome::KeptWithAlert, Some(detail))
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
        let now_mark = if system::unit_stopped(&p.unit) {
            store_copy::copy_out(&self.data, &self.work.path("store-now"))
        } else {
            Err(format!("{} did not stop", p.unit))
        };
        match store_copy::decide(p.store_before, now_mark) {
            StoreAction::Keep => {}
            StoreAction::Restore => {
                store_copy::restore(&self.data, &self.work.path("store-before"), self.owner)
                    .map_err(anyhow::Error::msg)?;
                tracing::info!("kho dữ liệu trước cập nhật được khôi phục / the store from before the update is back");
            }
            StoreAction::StayWithAlert => {
                return self.stay_with_alert(p, format!(
                    "CẦN KỸ THUẬT VIÊN / NEEDS A TECHNICIAN: {} migrated the store and accepted records since (or the store cannot be read); rolling back to {} would lose them, so it stays. Why it is not healthy: {reason}",
                    p.version, p.from_version
                ));
            }
        }
        let mut detail = reason;
        if let Err(why) = system::dpkg_install(&p.from_package) {
            return self.stay_with_alert(p, format!(
                "CẦN KỸ THUẬT VIÊN / NEEDS A TECHNICIAN: reinstalling {} failed ({why}); the device stays on {}. Why: {detail}",
                p.from_version, p.version
            ));
        }
        self.start(&p.unit);
        if let Verdict::Unhealthy(why) =
            health::watch(&p.unit, self.config.ready_within, Duration::from_secs(1))
        {
            detail.push_str(&format!(
                "\nbản cũ {} cũng không sẵn sàng / the previous version {} is not ready either: {why}",
                p.from_version, p.from_version
            ));
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
