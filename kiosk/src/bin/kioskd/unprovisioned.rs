//! kioskd on a fresh box: no `[device]`, nothing provisioned yet. It waits for a setup code at
//! the bootstrap's code reader, runs the provisioning steps (each logged, the progress on the
//! `STATUS=` line and the technician's screen state), and hands the provisioned config back
//! so the normal kiosk starts in the same process. A code that is not a setup code, or one
//! that fails a step, is answered with its reason and the kiosk keeps waiting: scanning again
//! resumes where it stopped.

use motcua_kiosk::config::BootstrapConfig;
use motcua_kiosk::provisioning::{self, ScreenState};
use motcua_kiosk::supervisor::{Condition, Supervisor};
use motcua_scanner::codes::{ReaderEvent, SerialReader};
use tokio::sync::watch;

/// Where the package's udev rules put the first USB CDC code reader.
const DEFAULT_READER: &str = "/dev/motcua/reader";

/// Waits for a setup code and provisions; `false` when shut down first. `true`: the
/// provisioned config is written (here, or by `kioskctl provision` beside a kiosk without a
/// code reader), the caller resolves the config again.
pub async fn wait_and_provision(
    bootstrap: &BootstrapConfig,
    supervisor: &Supervisor,
    mut shutdown: watch::Receiver<bool>,
    screen: watch::Sender<ScreenState>,
) -> anyhow::Result<bool> {
    // An unprovisioned kiosk is up as far as systemd is concerned: it is waiting for a
    // technician, like an unenrolled one.
    let store = super::open_sound_store(&bootstrap.store, supervisor)?;
    drop(store);
    supervisor.met(Condition::Uplink);
    supervisor.met(Condition::Printer);
    // A fresh box's package config has every table commented out: the setup code is then read
    // at the reader the package's udev rules name (/dev/motcua/reader), the reader a kiosk is
    // sold with. Without one plugged in, kioskd keeps waiting for it and for a config
    // `kioskctl provision` writes.
    let default_reader;
    let reader = match &bootstrap.peripherals.code_reader {
        Some(reader) => reader,
        None => {
            default_reader = motcua_kiosk::devices::CodeReaderConfig::Serial(
                motcua_scanner::codes::SerialConfig::new(DEFAULT_READER),
            );
            &default_reader
        }
    };
    let motcua_kiosk::devices::CodeReaderConfig::Serial(serial) = reader;
    let mut codes = SerialReader::spawn(serial.clone())?;
    let waiting = ScreenState::waiting();
    supervisor.set_health(waiting.status_line());
    let _ = screen.send(waiting);
    tracing::info!(reader = %serial.path.display(), "chưa cấu hình / not provisioned: quét mã cấu hình / scan the setup code");
    let provisioned = bootstrap.provisioned_path();
    loop {
        let event = tokio::select! {
            e = codes.next() => e,
            _ = shutdown.changed() => {
                codes.stop();
                return Ok(false);
            }
            // `kioskctl provision` beside this kioskd wrote the config.
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {
                if provisioned.is_file() {
                    codes.stop();
                    tracing::info!(config = %provisioned.display(), "provisioned by kioskctl");
                    return Ok(true);
                }
                continue;
            }
        };
        let payload = match event {
            Some(ReaderEvent::Code(payload)) => payload,
            Some(ReaderEvent::Connected) => {
                tracing::info!("code reader connected");
                continue;
            }
            Some(ReaderEvent::Disconnected(e)) => {
                tracing::warn!("code reader: {e}");
                continue;
            }
            None => anyhow::bail!("the code reader stopped"),
        };
        let seen = format!(
            "đã đọc mã cấu hình / read the setup code ({} bytes)",
            payload.len()
        );
        let mut state = ScreenState::waiting();
        let outcome = {
            let screen = screen.clone();
            let supervisor = supervisor.clone();
            let mut progress = move |p: &provisioning::Progress| {
                state.apply(p);
                supervisor.set_health(state.status_line());
                let _ = screen.send(state.clone());
            };
            provisioning::provision(
                bootstrap,
                payload.as_str(),
                chrono::Utc::now().timestamp(),
                Some(&seen),
                &mut progress,
            )
            .await
        };
        match outcome {
            Ok(report) => {
                codes.stop();
                tracing::info!(
                    device = %report.config.device.id,
                    profile = %report.profile,
                    blocks = %provisioning::blocks_text(&report.blocks),
                    config = %report.path.display(),
                    "đã cấu hình xong / provisioned: the kiosk starts"
                );
                return Ok(true);
            }
            Err(failure) => {
                tracing::warn!(
                    step = failure.step.name(),
                    "provisioning refused: {}; scan again after fixing it",
                    failure.message
                );
            }
        }
    }
}

/// `kioskd ui` on a fresh box: the technician's screen (title, the steps with their marks,
/// the last error) while [`wait_and_provision`] runs. Returns whether the kiosk got
/// provisioned; the window is closed then, and the caller exits so that systemd's
/// `Restart=on-failure` starts the touch screen on the provisioned config (the screen's
/// backend is chosen once per process).
pub fn with_technician_screen(
    runtime: &tokio::runtime::Runtime,
    bootstrap: &BootstrapConfig,
    supervisor: &Supervisor,
    fullscreen: bool,
) -> anyhow::Result<bool> {
    use slint::ComponentHandle;

    let chosen = motcua_kiosk::display::select(motcua_kiosk::display::DisplayChoice::Auto)?;
    let window = motcua_ui::ProvisioningWindow::new()?;
    show(&window, &ScreenState::waiting());
    let (screen_tx, mut screen_rx) = watch::channel(ScreenState::waiting());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = runtime.spawn({
        let (bootstrap, supervisor) = (bootstrap.clone(), supervisor.clone());
        let shutdown = {
            let _guard = runtime.enter();
            super::either(super::shutdown_on_signal(), stop_rx)
        };
        async move {
            let outcome = wait_and_provision(&bootstrap, &supervisor, shutdown, screen_tx).await;
            let _ = slint::invoke_from_event_loop(|| {
                let _ = slint::quit_event_loop();
            });
            outcome
        }
    });
    let timer = slint::Timer::default();
    timer.start(
        slint::TimerMode::Repeated,
        std::time::Duration::from_millis(200),
        {
            let weak = window.as_weak();
            move || {
                if screen_rx.has_changed().unwrap_or(false) {
                    let state = screen_rx.borrow_and_update().clone();
                    if let Some(w) = weak.upgrade() {
                        show(&w, &state);
                    }
                }
            }
        },
    );
    window.show()?;
    if fullscreen && chosen == motcua_kiosk::display::Chosen::X11 {
        window.window().set_fullscreen(true);
    }
    {
        let supervisor = supervisor.clone();
        slint::Timer::single_shot(std::time::Duration::from_millis(50), move || {
            supervisor.met(Condition::Screen);
        });
    }
    tracing::info!("technician's setup screen shown");
    slint::run_event_loop()?;
    let _ = stop_tx.send(true);
    let _ = window.hide();
    runtime.block_on(task)?
}

fn show(window: &motcua_ui::ProvisioningWindow, state: &ScreenState) {
    use motcua_kiosk::provisioning::Mark;
    let rows: Vec<motcua_ui::StepRow> = state
        .steps
        .iter()
        .map(|l| motcua_ui::StepRow {
            mark: l.mark.symbol().into(),
            label: l.label.as_str().into(),
            detail: l.detail.as_str().into(),
            failed: l.mark == Mark::Failed,
            done: l.mark == Mark::Done,
        })
        .collect();
    window.set_heading(state.title.as_str().into());
    window.set_steps(std::rc::Rc::new(slint::VecModel::from(rows)).into());
    window.set_error(state.last_error.clone().unwrap_or_default().into());
}
