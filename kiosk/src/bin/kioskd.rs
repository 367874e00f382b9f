//! `kioskd`: the kiosk daemon. It keeps the outbox flowing to the gateway, refreshes the
//! catalog, and cleans up after the retention period. `kioskd demo` runs a complete kiosk with
//! an embedded gateway on localhost, on embedded defaults, for trying it out.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::gateway_client::GatewayClient;
use motcua_kiosk::store::Store;
use motcua_kiosk::uplink::Uplink;
use tokio::sync::watch;

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
    /// Run the kiosk (the default).
    Run,
    /// Run a demo kiosk with an embedded gateway on localhost and embedded defaults.
    #[cfg(feature = "demo")]
    Demo {
        /// Folder for the demo's data (kept between runs).
        #[arg(long, default_value = "motcua-demo")]
        data_dir: PathBuf,
        /// Stop after this many seconds (0 = run until Ctrl-C).
        #[arg(long, default_value_t = 0)]
        seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    motcua_kiosk::logging::init("info");
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = KioskConfig::load(&cli.config)?;
            runtime.block_on(async { run(config, shutdown_on_signal()).await })
        }
        #[cfg(feature = "demo")]
        Command::Demo { data_dir, seconds } => runtime.block_on(demo::run(data_dir, seconds)),
    }
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

/// Runs the kiosk until `shutdown`.
async fn run(config: KioskConfig, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let data_dir = config.store.data_dir.clone();
    let store = Store::open(&data_dir, config.store.min_free_bytes)
        .with_context(|| format!("cannot open the kiosk store in {}", data_dir.display()))?;
    tracing::info!(
        device = %config.device.id,
        gateway = %config.uplink.gateway_url,
        data = %data_dir.display(),
        "kioskd started"
    );
    let token = loop {
        if let Some(token) = motcua_kiosk::read_token(&data_dir) {
            break token;
        }
        tracing::warn!(
            "this device is not enrolled yet: run `kioskctl enroll --enrollment-key …`; waiting"
        );
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return Ok(()),
        }
    };
    let client = GatewayClient::new(
        &config.uplink.gateway_url,
        Some(token),
        config.uplink.request_timeout,
    )?;
    Uplink::new(store, client, config.uplink.clone())
        .run(shutdown)
        .await;
    Ok(())
}

#[cfg(feature = "demo")]
mod demo {
    //! The demo: an embedded gateway, a kiosk config written next to the data, a sample dossier.

    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use anyhow::Context;
    use motcua_kiosk::config::KioskConfig;
    use motcua_kiosk::dossier_file::{AttachmentFile, DossierFile};
    use motcua_kiosk::gateway_client::GatewayClient;
    use motcua_kiosk::store::Store;
    use motcua_kiosk::uplink::now;
    use tokio::sync::watch;

    const ENROLLMENT_KEY: &str = "demo-enrollment-key";

    pub async fn run(data_dir: PathBuf, seconds: u64) -> anyhow::Result<()> {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        let gateway = motcua_gateway::start(motcua_gateway::GatewayConfig {
            listen: "127.0.0.1:0".parse()?,
            data_dir: data_dir.join("gateway"),
            database_url: None,
            enrollment_key: ENROLLMENT_KEY.into(),
            admin_key: "demo-admin-key".into(),
            catalog: motcua_domain::catalog::seed(),
            max_upload_bytes: 512 * 1024 * 1024,
        })
        .await?;
        let url = format!("http://{}", gateway.local_addr());
        // A simulated 80 mm receipt printer speaking ESC/POS on a local TCP port; every slip
        // becomes a PNG in <data>/printer.
        let mut printer_config =
            motcua_printer::emulator::EmulatorConfig::new(data_dir.join("printer"));
        printer_config.pty = false;
        let printer = motcua_printer::emulator::Emulator::start(printer_config)?;
        let printer_addr = printer
            .tcp_addr()
            .context("the printer emulator has no TCP address")?;
        let kiosk_dir = data_dir.join("kiosk");
        let config_path = data_dir.join("kiosk.toml");
        let config_text = format!(
            r#"# Demo kiosk written by `kioskd demo`.
[device]
id = "KIOSK-DEMO-01"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 9999

[store]
data_dir = "{kiosk}"
min_free_mb = 50

[gateway]
url = "{url}"

[uplink]
retry_initial_ms = 200
retry_max_ms = 5000

[printer]
transport = "tcp"
address = "{printer_addr}"
paper_mm = 80

[receipt]
agency_parent = "UBND TỈNH SÓC TRĂNG"
agency_name = "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng"
place = "Sóc Trăng"
result_place = "Quầy số 3, Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng"
footer = ["Tra cứu hồ sơ: quét mã QR tại ki-ốt", "Scan the QR at the kiosk to check status"]
"#,
            kiosk = kiosk_dir.display()
        );
        std::fs::write(&config_path, &config_text)?;
        let config = KioskConfig::parse(&config_text, &config_path.display().to_string())?;

        let client = GatewayClient::new(&url, None, Duration::from_secs(10))?;
        let token = client.enroll(&config.device.id, ENROLLMENT_KEY).await?;
        motcua_kiosk::write_token(&kiosk_dir, &token)?;

        let code = submit_sample(&config, &data_dir)?;
        println!(
            "motcua demo: gateway {url}, kiosk data {}",
            kiosk_dir.display()
        );
        println!("sample dossier {code} accepted; it uploads in the background");
        let store = Store::open(&config.store.data_dir, config.store.min_free_bytes)?;
        let receipt_config = config.clone();
        let receipt_code = code.clone();
        tokio::task::spawn_blocking(move || {
            motcua_kiosk::receipt::print_receipt(&receipt_config, &store, &receipt_code)
        })
        .await??;
        let slips = printer.wait_for_pages(1, Duration::from_secs(10));
        if let Some(png) = slips.first() {
            println!(
                "receipt printed on the simulated printer: {}",
                png.display()
            );
        }
        println!(
            "try: kioskctl --config {} status | dossiers | catalog | devices | reprint {code}",
            config_path.display()
        );

        let (tx, rx) = watch::channel(false);
        let kiosk = tokio::spawn(super::run(config, rx));
        if seconds > 0 {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
        let _ = tx.send(true);
        kiosk.await??;
        let store = Store::open(&kiosk_dir, 0)?;
        let status = store.outbox_status()?;
        println!(
            "motcua demo stopped: {} delivered, {} pending",
            status.delivered, status.pending
        );
        gateway.shutdown().await;
        Ok(())
    }

    fn submit_sample(config: &KioskConfig, data_dir: &Path) -> anyhow::Result<String> {
        let sample = data_dir.join("to-khai-mau.txt");
        std::fs::write(
            &sample,
            "TỜ KHAI ĐĂNG KÝ KHAI SINH (mẫu thử / demo sample)\nHọ, chữ đệm, tên: Nguyễn Thị Phượng\n",
        )?;
        let mut store = Store::open(&config.store.data_dir, config.store.min_free_bytes)?;
        let catalog = store.catalog()?;
        let procedure = catalog
            .procedures
            .first()
            .context("the seed catalog is empty")?;
        let file = DossierFile {
            procedure_code: procedure.code.clone(),
            applicant: motcua_domain::wire::Applicant {
                full_name: "Nguyễn Thị Phượng".into(),
                id_number: None,
                birth_date: None,
                address: "Phường 1, TP. Sóc Trăng".into(),
                phone: String::new(),
                email: String::new(),
            },
            documents: vec![AttachmentFile {
                name: procedure
                    .documents
                    .first()
                    .map(|d| d.name_vi.clone())
                    .unwrap_or_default(),
                file: PathBuf::from(&sample),
                media_type: Some("text/plain".into()),
            }],
        };
        let submission = motcua_kiosk::dossier_file::submit(&mut store, config, file, now())?;
        Ok(submission.code)
    }
}
