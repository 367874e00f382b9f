//! Looking after a provisioned kiosk from the province: the remote actions a technician
//! queues at the gateway (self-test, reprint the last receipt, send the log's tail, refresh
//! the config), and topping up the dossier sequence blocks before a busy day runs out.
//!
//! kioskd asks for actions every `[uplink] actions_poll_s` and after each delivered health
//! report. An action is carried out once: its result is recorded in the store before it is
//! reported, so a kiosk that stops in between reports the recorded result on its next poll
//! instead of printing a receipt twice. Offline, nothing here happens and the kiosk keeps
//! numbering with the blocks it has.

use std::path::PathBuf;
use std::sync::Arc;

use motcua_domain::provisioning::{RemoteAction, RemoteActionKind, RemoteActionResult};
use motcua_store::{vietnam_now, Store};
use motcua_uplink::{DeviceLink, GatewayClient};
use tokio::sync::{watch, Notify};

use crate::config::{BootstrapConfig, KioskConfig};

/// A remote reprint prints only a receipt at most this old (see `reprint`).
const REPRINT_WITHIN_MINUTES: i64 = 15;

/// How many log lines `send_log_tail` sends.
pub const LOG_TAIL_LINES: usize = 200;
/// The most a log tail may weigh (the gateway keeps at most 64 KiB).
const LOG_TAIL_MAX: usize = 60 * 1024;

/// What the remote care loop needs.
#[derive(Clone)]
pub struct RemoteCare {
    /// The running config.
    pub config: KioskConfig,
    /// The bootstrap file (`--config`) when the kiosk is provisioned: `refresh_config`
    /// rewrites `<data_dir>/kiosk.toml` from it and the new profile. `None`: hand-configured,
    /// refresh is refused.
    pub bootstrap: Option<PathBuf>,
    /// kioskd's own log tail.
    pub log: Option<motcua_logging::LogTail>,
    /// Told after a self-test so a health report is queued at once.
    pub health_now: Arc<Notify>,
    /// Set to true after a refreshed config is written: kioskd restarts its services with it.
    pub reload: watch::Sender<bool>,
}

impl RemoteCare {
    /// Runs until `shutdown`, polling on the schedule and whenever `wake` is notified.
    pub async fn run(self, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        let files = self.config.identity_files();
        loop {
            if files.is_enrolled() {
                match DeviceLink::open(
                    files.clone(),
                    &self.config.uplink.gateway_url,
                    self.config.uplink.request_timeout,
                ) {
                    Ok(link) => self.once(link.client()).await,
                    Err(e) => tracing::debug!("no remote care yet: {e}"),
                }
            }
            if *self.reload.borrow() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.actions_poll) => {}
                _ = wake.notified() => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One round: top up the blocks when low, then carry out and report pending actions.
    pub async fn once(&self, client: &GatewayClient) {
        if let Err(e) = self.top_up_blocks(client).await {
            tracing::info!("sequence blocks not topped up (kept using those held): {e}");
        }
        let actions = match client.remote_actions().await {
            Ok(a) => a.actions,
            Err(e) => {
                tracing::info!("remote actions not fetched: {e}");
                return;
            }
        };
        for action in actions {
            if action.completed_at.is_some() {
                continue;
            }
            if let Err(e) = self.handle(client, &action).await {
                tracing::warn!(
                    id = action.id,
                    kind = action.kind.as_str(),
                    "remote action: {e}"
                );
            }
        }
    }

    fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(
            &self.config.store.data_dir,
            self.config.store.min_free_bytes,
        )?)
    }

    /// Asks for one more block when less than a fifth of today's numbers is left (provisioned
    /// kiosks only: a hand-configured block is the technician's).
    async fn top_up_blocks(&self, client: &GatewayClient) -> anyhow::Result<()> {
        if self.config.device.sequence.is_some() {
            return Ok(());
        }
        let left = self
            .store()?
            .numbers_left(&self.config.device, vietnam_now())?;
        if !left.running_low() {
            return Ok(());
        }
        let blocks = client
            .request_sequence_block()
            .await
            .map_err(motcua_uplink::ProvisionError::from)?;
        self.store()?
            .save_sequence_blocks(&blocks.blocks, vietnam_now())?;
        tracing::info!(
            left = left.left,
            total = left.total,
            blocks = %crate::provisioning::blocks_text(&blocks.blocks),
            "sequence block added"
        );
        Ok(())
    }

    async fn handle(&self, client: &GatewayClient, action: &RemoteAction) -> anyhow::Result<()> {
        let done = self.store()?.remote_action_done(action.id)?;
        let fresh = done.is_none();
        let result = match done {
            Some(result) => {
                tracing::info!(
                    id = action.id,
                    "remote action done already; reporting it again"
                );
                result
            }
            None => {
                tracing::info!(id = action.id, kind = action.kind.as_str(), by = %action.requested_by, "remote action");
                let result = self.carry_out(action.kind).await;
                self.store()?.record_remote_action(
                    action.id,
                    action.kind.as_str(),
                    &result,
                    vietnam_now(),
                )?;
                result
            }
        };
        client.report_action(action.id, &result).await?;
        self.store()?
            .mark_remote_action_reported(action.id, vietnam_now())?;
        tracing::info!(id = action.id, ok = result.ok, detail = %result.detail, "remote action reported");
        if action.kind == RemoteActionKind::RefreshConfig && result.ok && fresh {
            let _ = self.reload.send(true);
        }
        Ok(())
    }

    async fn carry_out(&self, kind: RemoteActionKind) -> RemoteActionResult {
        let outcome = match kind {
            RemoteActionKind::SelfTest => self.self_test().await,
            RemoteActionKind::ReprintLastReceipt => self.reprint().await,
            RemoteActionKind::SendLogTail => Ok((
                "đã gửi nhật ký / log tail sent".to_owned(),
                self.log.as_ref().map(|l| {
                    let mut text = l.tail(LOG_TAIL_LINES);
                    if text.len() > LOG_TAIL_MAX {
                        let mut cut = text.len() - LOG_TAIL_MAX;
                        while !text.is_char_boundary(cut) {
                            cut += 1;
                        }
                        text = text.split_off(cut);
                    }
                    text
                }),
            )),
            RemoteActionKind::RefreshConfig => self.refresh_config().await.map(|d| (d, None)),
            // A newer gateway's action this kiosk does not know: reported, not guessed at.
            RemoteActionKind::Unsupported => Err(anyhow::anyhow!(
                "ki-ốt này chưa hỗ trợ việc này; cập nhật phần mềm / this kiosk does not support this action: update its software"
            )),
        };
        match outcome {
            Ok((detail, log_tail)) => RemoteActionResult {
                ok: true,
                detail,
                log_tail,
            },
            Err(e) => RemoteActionResult {
                ok: false,
                detail: format!("{e:#}"),
                log_tail: None,
            },
        }
    }

    async fn self_test(&self) -> anyhow::Result<(String, Option<String>)> {
        let results = crate::devices::unattended_self_test(
            &self.config.peripherals,
            &self.config.device.id,
            &self.config.store.data_dir,
            None,
        )
        .await;
        let summary = crate::devices::summary(&results, vietnam_now());
        self.store()?.record_self_test(&summary)?;
        self.health_now.notify_one();
        let lines: Vec<String> = results
            .iter()
            .map(|r| {
                let mark = if r.skipped {
                    "–"
                } else if r.passed {
                    "✓"
                } else {
                    "✗"
                };
                format!("{mark} {}: {}", r.device, r.message)
            })
            .collect();
        let verdict = if summary.passed {
            "đạt / passed"
        } else {
            "lỗi / failed"
        };
        Ok((format!("{verdict}; {}", lines.join("; ")), None))
    }

    async fn reprint(&self) -> anyhow::Result<(String, Option<String>)> {
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || {
            let store = Store::open(&config.store.data_dir, config.store.min_free_bytes)?;
            let last = store.list_dossiers(1)?.into_iter().next().ok_or_else(|| {
                anyhow::anyhow!("chưa có hồ sơ nào / no dossier on this kiosk yet")
            })?;
            // A receipt carries the citizen's name and dossier: printed on request from far
            // away at an unattended kiosk, anyone passing could take it. Only a receipt of the
            // last few minutes (the citizen is likely still there: a jam, a torn slip) is
            // printed again; an older one is for the counter.
            let age = chrono::DateTime::parse_from_rfc3339(&last.received_at)
                .map(|at| vietnam_now().signed_duration_since(at))
                .map_err(|e| anyhow::anyhow!("received_at of {}: {e}", last.code))?;
            if age > chrono::Duration::minutes(REPRINT_WITHIN_MINUTES) {
                anyhow::bail!(
                    "biên nhận cuối ({}) đã cũ hơn {REPRINT_WITHIN_MINUTES} phút, không in lại từ xa ở ki-ốt không người trông / the last receipt ({}) is older than {REPRINT_WITHIN_MINUTES} minutes: not reprinted remotely at an unattended kiosk",
                    last.code,
                    last.code
                );
            }
            motcua_kiosk_receipt(&config, &store, &last.code)?;
            Ok((format!("đã in lại / reprinted {}", last.code), None))
        })
        .await?
    }

    async fn refresh_config(&self) -> anyhow::Result<String> {
        let bootstrap_path = self.bootstrap.as_ref().ok_or_else(|| {
            anyhow::anyhow!("ki-ốt cấu hình tay, không làm mới được / a hand-configured kiosk has no profile to refresh")
        })?;
        let bootstrap = BootstrapConfig::load(bootstrap_path)?;
        let link = DeviceLink::open(
            self.config.identity_files(),
            &self.config.uplink.gateway_url,
            self.config.uplink.request_timeout,
        )?;
        let profile = link.client().profile().await?;
        let served = motcua_uplink::provision::text_sha256(&profile.toml);
        anyhow::ensure!(
            served == profile.sha256,
            "the profile's text does not match its SHA-256 ({served} ≠ {})",
            profile.sha256
        );
        let (_, path, _) = crate::provisioning::config_file::write(
            &bootstrap,
            &crate::provisioning::config_file::ConfigParts {
                device_id: &self.config.device.id,
                site: &self.config.device.agency_code,
                gateway_url: &self.config.uplink.gateway_url,
                profile_name: &profile.name,
                profile_sha256: &profile.sha256,
                profile_toml: &profile.toml,
            },
        )?;
        Ok(format!(
            "đã ghi cấu hình mới / config rewritten: {} (profile {} {}); services restart",
            path.display(),
            profile.name,
            &profile.sha256[..12.min(profile.sha256.len())]
        ))
    }
}

fn motcua_kiosk_receipt(config: &KioskConfig, store: &Store, code: &str) -> anyhow::Result<()> {
    crate::receipt::print_receipt(
        config.peripherals.printer.as_ref(),
        &config.receipt,
        store,
        code,
    )?;
    Ok(())
}
