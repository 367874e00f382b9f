//! `kioskd`: the kiosk daemon. It keeps the outbox flowing to the gateway, refreshes the
//! catalog, and cleans up after the retention period. `kioskd ui` does the same and shows the
//! citizens' touch screen. `kioskd demo` runs a complete kiosk with an embedded gateway on
//! localhost and simulated devices, on embedded defaults, for trying it out.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use motcua_domain::wire::PrinterHealth;
use std::sync::Arc;

use motcua_kiosk::config::{KioskConfig, StoreConfig};
use motcua_kiosk::display::{Chosen, DisplayChoice};
use motcua_kiosk::health_report::{self, HealthSample, HealthSchedule};
use motcua_kiosk::remote::RemoteCare;
use motcua_kiosk::supervisor::{health_line, Condition, Supervisor};
use motcua_kiosk::update::care::UpdateCare;
use motcua_store::Store;
use motcua_uplink::{DeviceLink, LinkStatus, Uplink};
use tokio::sync::{watch, Notify};

/// The motcua kiosk daemon.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Kiosk configuration file.
    #[arg(
        long,
        short,
        env = "MOTCUA_CONFIG",
        default_value = "/etc/motcua/kiosk.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the kiosk without a screen (the default; intake stations, headless boxes).
    Run,
    /// Run the kiosk with the citizens' touch screen: on the console (DRM/KMS, no X) or in an
    /// X11 window, as `[ui] display` says (auto: X11 when DISPLAY is set).
    Ui {
        /// A normal window instead of full screen (for a technician's laptop).
        #[arg(long)]
        windowed: bool,
    },
    /// Run a demo kiosk with an embedded gateway on localhost and embedded defaults.
    #[cfg(feature = "demo")]
    Demo {
        /// Folder for the demo's data (kept between runs).
        #[arg(long, default_value = "motcua-demo")]
        data_dir: PathBuf,
        /// Stop after this many seconds (0 = run until Ctrl-C or the window is closed).
        #[arg(long, default_value_t = 0)]
        seconds: u64,
        /// Do not open the touch-screen window (also the case when there is no display).
        #[arg(long)]
        no_window: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let log = motcua_logging::init_with_tail("info", 500);
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let supervisor = Supervisor::new();
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            // Every condition is declared before any can be met, so READY=1 cannot come from a
            // set that is only partly known.
            supervisor.await_conditions(&[Condition::Store, Condition::Uplink, Condition::Printer]);
            let _watchdog = supervisor.start_watchdog();
            let result = runtime.block_on(serve::serve(&cli.config, supervisor.clone(), log));
            finish(&supervisor, result)
        }
        Command::Ui { windowed } => {
            supervisor.await_conditions(&[
                Condition::Store,
                Condition::Uplink,
                Condition::Printer,
                Condition::Screen,
            ]);
            let _watchdog = supervisor.start_watchdog();
            let result =
                screen_config(&runtime, &cli.config, &supervisor, !windowed).and_then(|found| {
                    let Some((config, bootstrap)) = found else {
                        return Ok(());
                    };
                    let display = config.screen.display;
                    let care = Care {
                        bootstrap,
                        log: Some(log),
                        presence: Default::default(),
                    };
                    with_screen(&runtime, config, display, !windowed, 0, &supervisor, care)
                });
            finish(&supervisor, result)
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            data_dir,
            seconds,
            no_window,
        } => {
            // The demo's window is an X11 window (Xvfb on a server).
            let has_display = std::env::var_os("DISPLAY").is_some();
            let window = !no_window && has_display;
            if !no_window && !has_display {
                println!(
                    "no display (DISPLAY is not set): running without the touch screen; \
                     under a headless server use `xvfb-run -s \"-screen 0 1080x1920x24\" kioskd demo`"
                );
            }
            let demo = runtime.block_on(demo::start(data_dir))?;
            if window {
                supervisor.await_conditions(&[
                    Condition::Store,
                    Condition::Uplink,
                    Condition::Printer,
                    Condition::Screen,
                ]);
                with_screen(
                    &runtime,
                    demo.config.clone(),
                    DisplayChoice::X11,
                    false,
                    seconds,
                    &supervisor,
                    Care {
                        bootstrap: None,
                        log: Some(log),
                        presence: Default::default(),
                    },
                )?;
            } else {
                runtime.block_on(demo.run_headless(seconds))?;
            }
            runtime.block_on(demo.stop())
        }
    }
}

/// A channel that turns true when either of two does.
fn either(mut a: watch::Receiver<bool>, mut b: watch::Receiver<bool>) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(*a.borrow() || *b.borrow());
    tokio::spawn(async move {
        loop {
            if *a.borrow() || *b.borrow() {
                let _ = tx.send(true);
                return;
            }
            tokio::select! {
                r = a.changed() => if r.is_err() { return },
                r = b.changed() => if r.is_err() { return },
            }
        }
    });
    rx
}

/// Ends the daemon: whatever stopped it early is told to systemd (`STATUS=`) too, so
/// `systemctl status` shows the reason next to the exit code.
fn finish(supervisor: &Supervisor, result: anyhow::Result<()>) -> anyhow::Result<()> {
    if let Err(e) = &result {
        supervisor.failed(&format!("{e:#}"));
    }
    supervisor.stopping();
    result
}

/// How long the screen's event loop may go without a turn before the watchdog gives up on it.
const SCREEN_ALLOWANCE: Duration = Duration::from_secs(10);

/// Runs the uplink in the background and the touch screen on this (the main) thread until the
/// window is closed, SIGTERM/SIGINT, or `seconds` (0 = no limit).
fn with_screen(
    runtime: &tokio::runtime::Runtime,
    config: KioskConfig,
    display: DisplayChoice,
    fullscreen: bool,
    seconds: u64,
    supervisor: &Supervisor,
    care: Care,
) -> anyhow::Result<()> {
    use motcua_kiosk::touch::{spawn_watched_code_reader, TouchApp};
    use slint::ComponentHandle;

    let chosen = motcua_kiosk::display::select(display)?;
    // The store is opened and checked before the screen takes a citizen's first touch.
    let store = open_sound_store(&config.store, supervisor)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (reload_tx, mut reload_rx) = watch::channel(false);
    // A refreshed config: the screen is built from the config, so it stops and systemd's
    // Restart= starts it again on the new one.
    runtime.spawn(async move {
        while reload_rx.changed().await.is_ok() {
            if *reload_rx.borrow() {
                let _ = slint::invoke_from_event_loop(|| {
                    let _ = slint::quit_event_loop();
                });
                return;
            }
        }
    });
    let reloaded = reload_tx.subscribe();
    let presence = care.presence.clone();
    // If the kiosk cannot run, the screen must not go on without it.
    let kiosk = runtime.spawn({
        let (config, supervisor) = (config.clone(), supervisor.clone());
        async move {
            let outcome = run(config, store, stop_rx, supervisor, care, reload_tx).await;
            if outcome.is_err() {
                let _ = slint::invoke_from_event_loop(|| {
                    let _ = slint::quit_event_loop();
                });
            }
            outcome
        }
    });
    let app = TouchApp::new(config.clone())
        .context("cannot start the touch screen (`kioskd run` runs a kiosk without a screen)")?;
    app.report_presence(presence);
    if let Some(reader) = &config.peripherals.code_reader {
        let beat = supervisor.register("code reader", SCREEN_ALLOWANCE);
        spawn_watched_code_reader(reader, app.event_sender(), beat)?;
    }
    let _pump = app.start_timer();
    app.window().show()?;
    // On the console the window is the whole screen anyway.
    if fullscreen && chosen == Chosen::X11 {
        app.window().window().set_fullscreen(true);
    }
    // The screen's loop beats on every turn of a one-second timer: a hung event loop (a long
    // computation or a deadlock on the screen thread) stops the beats and the watchdog.
    let screen_beat = supervisor.register("screen", SCREEN_ALLOWANCE);
    let _screen_timer = slint::Timer::default();
    _screen_timer.start(slint::TimerMode::Repeated, Duration::from_secs(1), {
        let beat = screen_beat.clone();
        move || beat.beat()
    });
    // Slint's software renderer has no frame notifier, so this is an approximation: the first
    // frame is painted on the event loop's first turns after `show`; a timer a few frames later
    // (the loop is running and has had its redraw) meets the screen condition.
    {
        let supervisor = supervisor.clone();
        slint::Timer::single_shot(Duration::from_millis(50), move || {
            screen_beat.beat();
            supervisor.met(Condition::Screen);
        });
    }
    if seconds > 0 {
        slint::Timer::single_shot(Duration::from_secs(seconds), || {
            let _ = slint::quit_event_loop();
        });
    }
    {
        let mut signal = shutdown_on_signal_in(runtime);
        runtime.spawn(async move {
            let _ = signal.changed().await;
            let _ = slint::invoke_from_event_loop(|| {
                let _ = slint::quit_event_loop();
            });
        });
    }
    tracing::info!("touch screen shown");
    slint::run_event_loop()?;
    let _ = stop_tx.send(true);
    runtime.block_on(kiosk)??;
    if *reloaded.borrow() {
        tracing::info!(
            "cấu hình đã làm mới, khởi động lại màn hình / config refreshed: kioskd exits with status 75 so systemd starts the screen on it"
        );
        supervisor.stopping();
        std::process::exit(serve::RESTART_ON_NEW_CONFIG);
    }
    Ok(())
}

/// [`shutdown_on_signal`] from outside the runtime.
fn shutdown_on_signal_in(runtime: &tokio::runtime::Runtime) -> watch::Receiver<bool> {
    let _guard = runtime.enter();
    shutdown_on_signal()
}

/// A channel that turns true on SIGTERM or SIGINT.
fn shutdown_on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("cannot listen for SIGTERM: {e}");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("stopping");
        let _ = tx.send(true);
    });
    rx
}

/// Opens the store and checks it is sound (`PRAGMA quick_check`): a kiosk must not take a
/// citizen's dossier into a damaged database. Meets the store condition. Runs before the
/// runtime's tasks start, so the check blocks no async work.
fn open_sound_store(config: &StoreConfig, supervisor: &Supervisor) -> anyhow::Result<Store> {
    let data_dir = &config.data_dir;
    let store = Store::open(data_dir, config.min_free_bytes)
        .and_then(|store| store.quick_check().map(|()| store))
        .with_context(|| {
            format!(
                "cannot use the kiosk store in {}; a technician must restore it (see `kioskctl status`)",
                data_dir.display()
            )
        })?;
    supervisor.met(Condition::Store);
    Ok(store)
}

/// Runs the kiosk on its opened `store` until `shutdown`: printer check, health line and
/// uplink, each meeting its readiness condition as it comes up.
async fn run(
    config: KioskConfig,
    store: Store,
    mut shutdown: watch::Receiver<bool>,
    supervisor: Supervisor,
    care: Care,
    reload: watch::Sender<bool>,
) -> anyhow::Result<()> {
    let data_dir = config.store.data_dir.clone();
    tracing::info!(
        device = %config.device.id,
        gateway = %config.uplink.gateway_url,
        data = %data_dir.display(),
        "kioskd started"
    );
    let printer: Printer = Default::default();
    {
        let (printer, supervisor) = (printer.clone(), supervisor.clone());
        let configured = config.peripherals.printer.clone();
        tokio::task::spawn_blocking(move || {
            let state = match &configured {
                Some(p) => {
                    let health = motcua_kiosk::devices::printer_health(p);
                    (health.detail.clone(), Some(health))
                }
                None => ("không có / none".to_owned(), None),
            };
            tracing::info!(printer = %state.0, "printer state");
            *printer.lock().unwrap_or_else(|p| p.into_inner()) = state;
            supervisor.met(Condition::Printer);
        });
    }
    let link_status = LinkStatus::default();
    let health_now = Arc::new(Notify::new());
    // Read once: a new version is a new kioskd (the updater restarts it).
    let running = motcua_kiosk::update::installed_version(&config.update.package);
    tracing::info!(version = %running, "installed version");
    tokio::spawn(
        UpdateCare {
            config: config.clone(),
            running: running.clone(),
            presence: care.presence.clone(),
        }
        .run(shutdown.clone()),
    );
    tokio::spawn(keep_health(
        config.clone(),
        running,
        supervisor.clone(),
        printer,
        link_status.clone(),
        health_now.clone(),
        shutdown.clone(),
    ));
    // Remote actions: on the schedule and after each delivered health report.
    let health_delivered = Arc::new(Notify::new());
    tokio::spawn(
        RemoteCare {
            config: config.clone(),
            bootstrap: care.bootstrap,
            log: care.log,
            health_now,
            reload,
        }
        .run(health_delivered.clone(), shutdown.clone()),
    );
    // The centre's hub, when `[hub]` names one: the fallback block, offline tickets reported.
    if config.hub.is_some() {
        tokio::spawn(motcua_kiosk::hub_link::keep_hub(
            config.clone(),
            shutdown.clone(),
        ));
    }
    let beat = supervisor.register("uplink", motcua_uplink::QUIET_ALLOWANCE);
    supervisor.met(Condition::Uplink);
    // Until `kioskctl enroll` has written identity/device.pem (and while what it wrote cannot
    // be used) dossiers wait in the outbox; the health line says why.
    let files = config.identity_files();
    let mut said = String::new();
    let link = loop {
        beat.beat();
        let problem = if files.is_enrolled() {
            match DeviceLink::open(
                files.clone(),
                &config.uplink.gateway_url,
                config.uplink.request_timeout,
            ) {
                Ok(link) => break link,
                Err(e) => e.to_string(),
            }
        } else {
            format!(
                "chưa đăng ký / not enrolled (kioskctl enroll): no {}",
                files.device_path().display()
            )
        };
        if problem != said {
            tracing::warn!("{problem}; waiting");
            said = problem;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    };
    tracing::info!(
        serial = %link.peer().serial,
        site = link.peer().site.as_deref().unwrap_or_default(),
        not_after = %motcua_uplink::credentials::unix_time_text(link.peer().not_after),
        ca = %link.anchor().fingerprint(),
        "device certificate loaded"
    );
    Uplink::new(store, link, config.uplink.clone())
        .with_heartbeat(beat.as_fn())
        .with_status(link_status)
        .with_health_delivered(health_delivered)
        .run(shutdown)
        .await;
    Ok(())
}

/// The printer's state once known: its words for the health line (empty until known) and, when a
/// printer is configured, its state for the health report.
type Printer = std::sync::Arc<std::sync::Mutex<(String, Option<PrinterHealth>)>>;

/// Keeps the health line (`STATUS=`) current: enrolment and link problems first, then outbox
/// depth, printer state, last upload. From the same sample it queues the health report for the
/// gateway when [`HealthSchedule`] says one is due (the store keeps only the newest waiting).
async fn keep_health(
    config: KioskConfig,
    running: String,
    supervisor: Supervisor,
    printer: Printer,
    link: LinkStatus,
    health_now: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let files = config.identity_files();
    let started = std::time::Instant::now();
    let mut schedule = HealthSchedule::new(config.health_report);
    let mut store = match Store::open(&config.store.data_dir, config.store.min_free_bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("no health line: {e}");
            return;
        }
    };
    loop {
        match store.outbox_status() {
            Ok(status) => {
                let (printer, printer_health) =
                    printer.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let uptime = started.elapsed();
                let last_self_test = store.last_self_test().unwrap_or_else(|e| {
                    tracing::warn!("cannot read the last self-test: {e}");
                    None
                });
                let report = health_report::report(&HealthSample {
                    outbox: &status,
                    printer: printer_health.as_ref(),
                    disk: store.disk_space(),
                    uptime,
                    now: motcua_store::vietnam_now(),
                    last_self_test: last_self_test.as_ref(),
                    software_version: &running,
                });
                if schedule.due(uptime, &report) {
                    match store.queue_health_report(&config.device, &report, report.generated_at) {
                        Ok(key) => tracing::info!(
                            key = %key,
                            pending = report.outbox_pending,
                            "health report queued (it replaces any still waiting)"
                        ),
                        Err(e) => {
                            schedule.failed();
                            tracing::warn!("cannot queue the health report: {e}");
                        }
                    }
                }
                let mut line = health_line(&status, &printer);
                let now = motcua_store::vietnam_now();
                match motcua_uplink::budget::state(
                    &store,
                    config.uplink.daily_upload_budget_bytes,
                    now,
                ) {
                    Ok(Some(budget)) if budget.used_up() => {
                        line = format!("{}; {line}", budget.words());
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("cannot read the upload budget: {e}"),
                }
                if let Some(problem) = link.line() {
                    line = format!("{problem}; {line}");
                }
                if !files.is_enrolled() {
                    line = format!("chưa đăng ký / not enrolled (kioskctl enroll); {line}");
                }
                supervisor.set_health(line);
            }
            Err(e) => tracing::warn!("cannot read the outbox for the health line: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = health_now.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(feature = "demo")]
mod demo;
mod serve;
mod unprovisioned;

use serve::{screen_config, Care};
