//! `motcua-hub`: the centre's queue service and the technician's commands for it.
//!
//! - `motcua-hub serve` runs it (the `motcua-hub` unit);
//! - `motcua-hub pair display|rating --counter C` makes a pairing code for a hall screen;
//! - `motcua-hub page-pin` prints what a browser checks the page certificate by;
//! - `motcua-hub check-config` reads the config and says what is wrong, with the line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use motcua_domain::vietnam_offset;
use motcua_hub::config::HubConfig;
use motcua_hub::hall::Hall;
use motcua_hub::{pages, serve, tls, upload, FallbackLayout, HubStore, ScreenKind};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Parser)]
#[command(
    version,
    about = "Máy chủ hàng đợi của trung tâm / the centre's queue service"
)]
struct Cli {
    /// The config file.
    #[arg(long, default_value = "/etc/motcua/hub.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the hub.
    Serve,
    /// Makes a pairing code (valid 10 minutes) for the hall display or a counter's rating tablet.
    Pair {
        /// `display` or `rating`.
        kind: String,
        /// The counter of a rating tablet.
        #[arg(long)]
        counter: Option<String>,
    },
    /// Prints the page certificate's public-key pin and fingerprint.
    PagePin,
    /// Checks the config.
    CheckConfig,
}

fn now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Utc::now().with_timezone(&vietnam_offset())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = HubConfig::load(&cli.config)?;
    match cli.command {
        Command::CheckConfig => {
            println!(
                "{}: đúng / fine: {} quầy / counters, {} cán bộ / officers",
                cli.config.display(),
                config.counters.len(),
                config.staff.len()
            );
            Ok(())
        }
        Command::PagePin => {
            std::fs::create_dir_all(&config.state_dir)?;
            let page = tls::page_server_config(&config.state_dir, &config.page_hosts)?;
            println!("spki-sha256 (base64): {}", page.spki_pin);
            println!("sha256 fingerprint:   {}", page.fingerprint);
            Ok(())
        }
        Command::Pair { kind, counter } => {
            let kind = match kind.as_str() {
                "display" => ScreenKind::Display,
                "rating" => ScreenKind::Rating,
                other => anyhow::bail!("{other}: dùng display hoặc rating / use display or rating"),
            };
            if kind == ScreenKind::Rating
                && counter.as_deref().and_then(|c| config.counter(c)).is_none()
            {
                anyhow::bail!("máy đánh giá cần --counter của một quầy trong cấu hình / a rating tablet needs --counter naming a configured counter");
            }
            let mut store = HubStore::open(&config.store_path(), FallbackLayout::default())?;
            let (code, hash) = pages::new_pairing_code();
            let expires = now() + chrono::Duration::from_std(pages::PAIRING_VALID)?;
            store.add_pairing_code(&hash, kind, counter.as_deref(), expires)?;
            println!("{code}");
            eprintln!("Mã ghép nối, dùng được 10 phút tại https://<hub>/pair / pairing code, valid 10 minutes at https://<hub>/pair");
            Ok(())
        }
        Command::Serve => {
            motcua_logging::init("info");
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(run(config))
        }
    }
}

async fn run(config: HubConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot make {}", config.state_dir.display()))?;
    let files = motcua_uplink::identity::IdentityFiles::in_data_dir(&config.kiosk_data_dir);
    let (kiosk_tls, own) = tls::kiosk_server_config(&files.device_path(), &files.ca_path())?;
    let site = own
        .site
        .clone()
        .context("the device certificate names no site")?;
    let page = tls::page_server_config(&config.state_dir, &config.page_hosts)?;
    let store = HubStore::open(&config.store_path(), FallbackLayout::default())?;
    let kiosk_listener = TcpListener::bind(config.kiosk_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.kiosk_listen))?;
    let page_listener = TcpListener::bind(config.page_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.page_listen))?;
    let gateway = config.gateway_url.clone();
    let hall = Hall::new(config, site.clone(), own.name.clone(), store, Box::new(now));
    tracing::info!(
        %site,
        device = %own.name,
        kiosks = %kiosk_listener.local_addr()?,
        pages = %page_listener.local_addr()?,
        page_pin = %page.spki_pin,
        "hub ready"
    );
    println!(
        "hub ready: kiosks https://{} pages https://{}",
        kiosk_listener.local_addr()?,
        page_listener.local_addr()?
    );
    // Under systemd (Type=notify): ready once both ports listen. Outside it this does nothing.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let kiosks = tokio::spawn(serve::serve(
        kiosk_listener,
        TlsAcceptor::from(kiosk_tls),
        motcua_hub::kiosk_api::router(Arc::clone(&hall)),
        stop.clone(),
    ));
    let pages_task = tokio::spawn(serve::serve(
        page_listener,
        TlsAcceptor::from(page.config),
        pages::router(Arc::clone(&hall)),
        stop.clone(),
    ));
    let uploads =
        gateway.map(|url| tokio::spawn(upload::run(Arc::clone(&hall), url, stop.clone())));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("hub stopping");
    let _ = stop_tx.send(true);
    let _ = kiosks.await;
    let _ = pages_task.await;
    if let Some(u) = uploads {
        let _ = u.await;
    }
    Ok(())
}
