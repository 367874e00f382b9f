//! Provisioning a fresh kiosk with one signed setup code: the steps kioskd (scanning the code
//! at its code reader) and `kioskctl provision` (reading it from a file) both run, each step
//! reporting its progress so the technician's screen and the terminal show the same list.
//!
//! A failed step says what to fix, and running the steps again with the same code resumes:
//! an identity already saved with this same code is kept (the key pair made for the
//! first attempt is kept until then too, see `motcua_uplink::provision`), blocks already stored
//! are kept, and a config file that already holds exactly the composed config is left as it
//! is. The config is written last: its presence is what makes the kiosk provisioned, so a kiosk
//! stopped half-way is still unprovisioned and scanning again finishes the job.

pub mod config_file;
pub mod screen;
mod slip;

use std::path::PathBuf;
use std::time::Duration;

use motcua_domain::provisioning::SequenceBlock;
use motcua_identity::setup_code::SetupCode;
use motcua_store::Store;
use motcua_uplink::provision::{enrol_with_token, fetch_ca, fetch_profile};
use motcua_uplink::{DeviceLink, IdentityFiles};

use crate::config::{BootstrapConfig, KioskConfig};
use crate::devices::SelfTestResult;
use config_file::ConfigParts;
pub use screen::{Mark, ScreenState};

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The code's signature and expiry, against the installed provisioning key.
    VerifyCode,
    /// The province's CA from the gateway, checked against the code's fingerprint.
    FetchCa,
    /// The one-time token and the kiosk's own key pair: a certificate.
    Enrol,
    /// `identity/device.pem` and `identity/ca.crt`.
    SaveIdentity,
    /// The profile, checked against the code's hash.
    DownloadProfile,
    /// The dossier sequence blocks, into the store.
    StoreBlocks,
    /// The procedure catalog, so the kiosk serves at once.
    Catalog,
    /// `<data_dir>/kiosk.toml`: written after the blocks, so a kiosk whose config exists
    /// always has them (the config is what makes it "provisioned").
    WriteConfig,
    /// Every configured peripheral, recorded for the health report; the slip printed.
    SelfTest,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 9] = [
        Step::VerifyCode,
        Step::FetchCa,
        Step::Enrol,
        Step::SaveIdentity,
        Step::DownloadProfile,
        Step::StoreBlocks,
        Step::Catalog,
        Step::WriteConfig,
        Step::SelfTest,
    ];

    /// What the technician reads, Vietnamese first.
    pub fn label(self) -> &'static str {
        match self {
            Step::VerifyCode => "Kiểm tra mã / Verify the code",
            Step::FetchCa => "Lấy CA của tỉnh / Fetch the province's CA",
            Step::Enrol => "Đăng ký thiết bị / Enrol the device",
            Step::SaveIdentity => "Lưu chứng thư / Save the identity",
            Step::DownloadProfile => "Tải hồ sơ cấu hình / Download the profile",
            Step::WriteConfig => "Ghi cấu hình / Write the config",
            Step::StoreBlocks => "Lưu dải số hồ sơ / Store the sequence blocks",
            Step::Catalog => "Tải danh mục thủ tục / Download the catalog",
            Step::SelfTest => "Tự kiểm tra thiết bị / Self-test the peripherals",
        }
    }

    /// Its short name in logs.
    pub fn name(self) -> &'static str {
        match self {
            Step::VerifyCode => "verify_code",
            Step::FetchCa => "fetch_ca",
            Step::Enrol => "enrol",
            Step::SaveIdentity => "save_identity",
            Step::DownloadProfile => "download_profile",
            Step::WriteConfig => "write_config",
            Step::StoreBlocks => "store_blocks",
            Step::Catalog => "catalog",
            Step::SelfTest => "self_test",
        }
    }
}

/// One step's news.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The step began.
    Started(Step),
    /// The step is done; what it did (or that it was done already).
    Done(Step, String),
    /// The step failed: what to fix.
    Failed(Step, String),
}

/// A failed provisioning: the step and what to fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", step.label())]
pub struct ProvisionFailure {
    /// The step that failed.
    pub step: Step,
    /// What went wrong and what to do, Vietnamese first.
    pub message: String,
}

/// A provisioned kiosk.
#[derive(Debug, Clone)]
pub struct ProvisionReport {
    /// The config it runs on now.
    pub config: KioskConfig,
    /// Where it was written.
    pub path: PathBuf,
    /// The profile's name.
    pub profile: String,
    /// The device's sequence blocks.
    pub blocks: Vec<SequenceBlock>,
    /// The self-test.
    pub self_test: Vec<SelfTestResult>,
}

/// The gateway's time limit for each provisioning request.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Runs every step for the setup code `text` (scanned, or read from a file) at Unix time
/// `now`, reporting to `progress`. `code_seen` is what the code reader's self-test says when
/// the code came through it.
pub async fn provision(
    bootstrap: &BootstrapConfig,
    text: &str,
    now: i64,
    code_seen: Option<&str>,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> Result<ProvisionReport, ProvisionFailure> {
    let mut run = Runner { progress };
    let code = run.step(Step::VerifyCode, || {
        if bootstrap.hand_configured {
            return Err(format!(
                "{} có [device]: ki-ốt này được cấu hình tay / {} has [device]: this kiosk is configured by hand, remove [device] and [gateway] to provision it",
                bootstrap.path.display(),
                bootstrap.path.display()
            ));
        }
        let code = bootstrap.key.open(text, now).map_err(|e| e.to_string())?;
        let detail = format!(
            "thiết bị / device {} — đơn vị / site {} — hồ sơ / profile {}",
            code.device_id, code.site, code.profile
        );
        Ok((code, detail))
    })?;
    let files = IdentityFiles::in_data_dir(&bootstrap.store.data_dir);
    let mut blocks = identity(&mut run, &code, &files).await?;

    run.started(Step::DownloadProfile);
    let link = DeviceLink::open(files.clone(), &code.gateway_url, TIMEOUT)
        .map_err(|e| run.failed(Step::DownloadProfile, e.to_string()))?;
    let profile = fetch_profile(link.client(), &code.profile, &code.profile_sha256)
        .await
        .map_err(|e| run.failed(Step::DownloadProfile, e.to_string()))?;
    run.done(
        Step::DownloadProfile,
        format!("{} ({} bytes)", profile.name, profile.toml.len()),
    );

    run.started(Step::StoreBlocks);
    let mut store = Store::open(&bootstrap.store.data_dir, bootstrap.store.min_free_bytes)
        .map_err(|e| run.failed(Step::StoreBlocks, e.to_string()))?;
    if blocks.is_empty() {
        blocks = store
            .sequence_blocks()
            .map_err(|e| run.failed(Step::StoreBlocks, e.to_string()))?;
    }
    if blocks.is_empty() {
        blocks = link
            .client()
            .request_sequence_block()
            .await
            .map_err(|e| {
                run.failed(
                    Step::StoreBlocks,
                    motcua_uplink::ProvisionError::from(e).to_string(),
                )
            })?
            .blocks;
    }
    store
        .save_sequence_blocks(&blocks, motcua_store::vietnam_now())
        .map_err(|e| run.failed(Step::StoreBlocks, e.to_string()))?;
    run.done(Step::StoreBlocks, blocks_text(&blocks));

    run.started(Step::Catalog);
    match link.client().fetch_catalog(None).await {
        Ok(Some((tag, body))) => {
            store
                .save_catalog(&tag, &body, motcua_store::vietnam_now())
                .map_err(|e| run.failed(Step::Catalog, e.to_string()))?;
            run.done(Step::Catalog, format!("ETag {tag}"));
        }
        Ok(None) => run.done(Step::Catalog, "không đổi / unchanged".into()),
        // The uplink refreshes the catalog on its own; the kiosk serves the built-in one meanwhile.
        Err(e) => run.done(
            Step::Catalog,
            format!("chưa tải được, sẽ thử lại / not yet, retried by the uplink: {e}"),
        ),
    }

    let config = run.step(Step::WriteConfig, || {
        let (config, path, already) = config_file::write(
            bootstrap,
            &ConfigParts {
                device_id: &code.device_id,
                site: &code.site,
                gateway_url: &code.gateway_url,
                profile_name: &profile.name,
                profile_sha256: &profile.sha256,
                profile_toml: &profile.toml,
            },
        )
        .map_err(|e| e.to_string())?;
        let detail = if already {
            format!("đã có / already written: {}", path.display())
        } else {
            path.display().to_string()
        };
        Ok((config, detail))
    })?;
    let path = bootstrap.provisioned_path();
    // `kioskctl provision` run as root: the database it opened and what the store made are
    // given to the data folder's owner, the service user.
    match config_file::give_back_to_owner(&bootstrap.store.data_dir) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            entries = n,
            "provisioning files given to the data folder's owner"
        ),
        Err(e) => tracing::warn!("cannot give the data folder's files to its owner: {e}"),
    }

    run.started(Step::SelfTest);
    let results = crate::devices::unattended_self_test(
        &config.peripherals,
        &config.device.id,
        &config.store.data_dir,
        code_seen,
    )
    .await;
    let summary = crate::devices::summary(&results, motcua_store::vietnam_now());
    store
        .record_self_test(&summary)
        .map_err(|e| run.failed(Step::SelfTest, e.to_string()))?;
    let verdict = if summary.passed {
        "đạt / passed".to_owned()
    } else {
        format!("lỗi / failed: {}", summary.failed.join(", "))
    };
    if let Some(printer) = config.peripherals.printer.clone() {
        let lines = slip::lines(&config, &profile.name, &blocks, &verdict);
        let id = config.device.id.clone();
        let printed = tokio::task::spawn_blocking(move || slip::print(&printer, &id, lines))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        if let Err(e) = printed {
            tracing::warn!("the provisioning slip was not printed: {e}");
        }
    }
    run.done(Step::SelfTest, verdict);
    Ok(ProvisionReport {
        config,
        path,
        profile: profile.name,
        blocks,
        self_test: results,
    })
}

/// Which setup code the saved identity was enrolled with: the SHA-256 of its token, in the
/// identity folder. A re-run with that same code keeps the identity; any other code (a new
/// sheet after a revocation, a replaced box) enrols again.
const MADE_WITH: &str = "setup-code.sha256";

/// The identity steps: skipped when `device.pem` names the code's device and site and was made
/// with this very code. Returns the blocks the enrolment answered with (none when skipped).
async fn identity(
    run: &mut Runner<'_>,
    code: &SetupCode,
    files: &IdentityFiles,
) -> Result<Vec<SequenceBlock>, ProvisionFailure> {
    let token_sha256 = motcua_uplink::provision::text_sha256(&code.token);
    let marker = files.dir().join(MADE_WITH);
    let made_with_this_code =
        std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == token_sha256);
    let present = files
        .device()
        .ok()
        .filter(|_| made_with_this_code)
        .filter(|c| c.peer().name == code.device_id && c.peer().site.as_deref() == Some(&code.site))
        .filter(|_| {
            files
                .anchor()
                .is_ok_and(|a| a.fingerprint() == code.ca_sha256.to_ascii_lowercase())
        });
    if let Some(credential) = present {
        let already = format!(
            "đã có / already present (serial {})",
            credential.peer().serial
        );
        for step in [Step::FetchCa, Step::Enrol, Step::SaveIdentity] {
            run.started(step);
            run.done(step, already.clone());
        }
        return Ok(Vec::new());
    }
    run.started(Step::FetchCa);
    let anchor = fetch_ca(&code.gateway_url, &code.ca_sha256, TIMEOUT)
        .await
        .map_err(|e| run.failed(Step::FetchCa, e.to_string()))?;
    run.done(Step::FetchCa, format!("CA {}", anchor.fingerprint()));
    run.started(Step::Enrol);
    let outcome = enrol_with_token(code, &anchor, files, TIMEOUT)
        .await
        .map_err(|e| run.failed(Step::Enrol, e.to_string()))?;
    run.done(
        Step::Enrol,
        format!(
            "chứng thư / certificate {} for {}",
            outcome.peer.serial, outcome.peer.name
        ),
    );
    run.started(Step::SaveIdentity);
    config_file::write_atomically(&marker, format!("{token_sha256}\n").as_bytes())
        .map_err(|e| run.failed(Step::SaveIdentity, format!("{}: {e}", marker.display())))?;
    run.done(
        Step::SaveIdentity,
        files.device_path().display().to_string(),
    );
    Ok(outcome.provisioned.blocks)
}

/// The blocks as a technician reads them.
pub fn blocks_text(blocks: &[SequenceBlock]) -> String {
    if blocks.is_empty() {
        return "không có / none".into();
    }
    blocks
        .iter()
        .map(|b| format!("{:04}–{:04}", b.first, b.last))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Runner<'a> {
    progress: &'a mut (dyn FnMut(&Progress) + Send),
}

impl Runner<'_> {
    fn started(&mut self, step: Step) {
        tracing::info!(step = step.name(), "provisioning step started");
        (self.progress)(&Progress::Started(step));
    }

    fn done(&mut self, step: Step, detail: String) {
        tracing::info!(step = step.name(), detail = %detail, "provisioning step done");
        (self.progress)(&Progress::Done(step, detail));
    }

    fn failed(&mut self, step: Step, message: String) -> ProvisionFailure {
        tracing::warn!(step = step.name(), error = %message, "provisioning step failed");
        (self.progress)(&Progress::Failed(step, message.clone()));
        ProvisionFailure { step, message }
    }

    fn step<T>(
        &mut self,
        step: Step,
        f: impl FnOnce() -> Result<(T, String), String>,
    ) -> Result<T, ProvisionFailure> {
        self.started(step);
        match f() {
            Ok((value, detail)) => {
                self.done(step, detail);
                Ok(value)
            }
            Err(message) => Err(self.failed(step, message)),
        }
    }
}
