//! Which kiosk kioskd runs: the config resolved (hand-configured, provisioned, or provisioned
//! now from a scanned setup code), then `kioskd run`'s kiosk, started again in the same
//! process when a refreshed config was written; `kioskd ui`'s config, whose setup screen ends
//! the process once provisioned (the screen's backend is chosen once per process).

use std::path::PathBuf;

use motcua_kiosk::config::{resolve, KioskConfig, Resolved};
use motcua_kiosk::provisioning::ScreenState;
use motcua_kiosk::supervisor::Supervisor;
use tokio::sync::watch;

use super::{either, open_sound_store, run, shutdown_on_signal, unprovisioned};

/// What kioskd needs for remote care beside its config: the bootstrap file of a provisioned
/// kiosk (`refresh_config` rewrites the provisioned config from it) and its own log's tail.
#[derive(Clone)]
pub(crate) struct Care {
    pub(crate) bootstrap: Option<PathBuf>,
    pub(crate) log: Option<motcua_logging::LogTail>,
    /// Set by the touch screen while a citizen session is open (an update waits for it).
    pub(crate) presence: motcua_kiosk::update::Presence,
}

/// The config to run on, provisioning first when the kiosk is not provisioned yet (the code
/// read at the bootstrap's code reader). `None` when stopped before that ended.
pub(crate) async fn provisioned(
    path: &std::path::Path,
    supervisor: &Supervisor,
) -> anyhow::Result<Option<(KioskConfig, Option<PathBuf>)>> {
    let shutdown = shutdown_on_signal();
    loop {
        match resolve(path)? {
            Resolved::Provisioned(config, found) => {
                let bootstrap = (found != path).then(|| path.to_owned());
                return Ok(Some((*config, bootstrap)));
            }
            Resolved::Unprovisioned(bootstrap) => {
                let (screen, _) = watch::channel(ScreenState::waiting());
                if !unprovisioned::wait_and_provision(
                    &bootstrap,
                    supervisor,
                    shutdown.clone(),
                    screen,
                )
                .await?
                {
                    return Ok(None);
                }
            }
        }
    }
}

/// `kioskd ui`'s config: a provisioned kiosk's, or `None` after the technician's setup screen
/// (provisioned: kioskd exits with status 75 and systemd starts the screen on the new config;
/// or stopped).
pub(crate) fn screen_config(
    runtime: &tokio::runtime::Runtime,
    path: &std::path::Path,
    supervisor: &Supervisor,
    fullscreen: bool,
) -> anyhow::Result<Option<(KioskConfig, Option<PathBuf>)>> {
    match resolve(path)? {
        Resolved::Provisioned(config, found) => {
            let bootstrap = (found != path).then(|| path.to_owned());
            Ok(Some((*config, bootstrap)))
        }
        Resolved::Unprovisioned(bootstrap) => {
            if unprovisioned::with_technician_screen(runtime, &bootstrap, supervisor, fullscreen)? {
                tracing::info!(
                    "đã cấu hình xong, khởi động lại màn hình / provisioned: kioskd exits with status 75 so systemd (Restart=on-failure) starts the touch screen on {}",
                    bootstrap.provisioned_path().display()
                );
                supervisor.set_health("provisioned: restarting on the new config".into());
                supervisor.stopping();
                std::process::exit(RESTART_ON_NEW_CONFIG);
            }
            Ok(None)
        }
    }
}

/// kioskd's exit status when the touch screen's kiosk was provisioned or its config refreshed
/// (EX_TEMPFAIL): motcua-kioskd-screen.service restarts it on the new config
/// (`RestartForceExitStatus=75`, not counted as a failure: `SuccessExitStatus=75`).
pub(crate) const RESTART_ON_NEW_CONFIG: i32 = 75;

/// `kioskd run`: provisions when needed, then runs the kiosk until SIGTERM/SIGINT; a
/// refreshed config (the `refresh_config` remote action) restarts the kiosk's services with
/// it in the same process.
pub(crate) async fn serve(
    path: &std::path::Path,
    supervisor: Supervisor,
    log: motcua_logging::LogTail,
) -> anyhow::Result<()> {
    let shutdown = shutdown_on_signal();
    loop {
        let Some((config, bootstrap)) = provisioned(path, &supervisor).await? else {
            return Ok(());
        };
        let store = tokio::task::block_in_place(|| open_sound_store(&config.store, &supervisor))?;
        let (reload_tx, reload_rx) = watch::channel(false);
        let stop = either(shutdown.clone(), reload_rx.clone());
        let care = Care {
            bootstrap,
            log: Some(log.clone()),
            presence: Default::default(),
        };
        run(config, store, stop, supervisor.clone(), care, reload_tx).await?;
        if *shutdown.borrow() || !*reload_rx.borrow() {
            return Ok(());
        }
        tracing::info!(
            "cấu hình đã làm mới / config refreshed: restarting the kiosk's services with it"
        );
    }
}
