//! `gateway`: the provincial server kiosks upload dossiers to.
//!
//! `gateway serve …` runs it until SIGTERM/SIGINT; `gateway openapi` prints its API document.
//! Logs go to stderr (journald captures them); stdout carries only the one line
//! `gateway listening on <addr>` so scripts and tests can learn the port.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use motcua_gateway::{GatewayConfig, DEFAULT_MAX_UPLOAD_BYTES};

#[derive(Parser)]
#[command(
    name = "gateway",
    version,
    about = "motcua provincial gateway: kiosk enrolment, catalog, resumable uploads, idempotent ingest"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API until SIGTERM or SIGINT.
    Serve(ServeArgs),
    /// Print the OpenAPI document (pretty JSON) to stdout.
    Openapi,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the chosen address is printed).
    #[arg(long, env = "MOTCUA_GATEWAY_LISTEN", default_value = "127.0.0.1:8700")]
    listen: SocketAddr,
    /// Directory for blobs, uploads and the embedded SQLite database.
    #[arg(long, env = "MOTCUA_GATEWAY_DATA_DIR")]
    data_dir: PathBuf,
    /// PostgreSQL URL; without it the embedded SQLite database in the data directory is used.
    #[arg(long, env = "MOTCUA_GATEWAY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Enrolment key technicians type when enrolling a kiosk.
    #[arg(long, env = "MOTCUA_GATEWAY_ENROLLMENT_KEY", hide_env_values = true)]
    enrollment_key: String,
    /// Admin key of the provincial system (status changes, statistics).
    #[arg(long, env = "MOTCUA_GATEWAY_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Catalog TOML file; without it the catalog built into the software is distributed.
    #[arg(long, env = "MOTCUA_GATEWAY_CATALOG")]
    catalog: Option<PathBuf>,
    /// Largest accepted blob, in bytes.
    #[arg(long, env = "MOTCUA_GATEWAY_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            let mut out = std::io::stdout().lock();
            out.write_all(motcua_gateway::openapi_json().as_bytes())
                .context("cannot write to stdout")?;
            out.flush().context("cannot write to stdout")?;
            Ok(())
        }
        Command::Serve(args) => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .init();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(serve(args))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let catalog = match &args.catalog {
        Some(path) => motcua_gateway::load_catalog_file(path)?,
        None => motcua_domain::catalog::seed(),
    };
    let config = GatewayConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        enrollment_key: args.enrollment_key,
        admin_key: args.admin_key,
        catalog,
        max_upload_bytes: args.max_upload_bytes,
    };
    // Handlers are installed before the address is announced, so a SIGTERM sent as soon as the
    // line is read still stops the gateway cleanly.
    let signals = Signals::install()?;
    let gateway = motcua_gateway::start(config)
        .await
        .context("the gateway could not start")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "gateway listening on {}", gateway.local_addr())
            .context("cannot write to stdout")?;
        out.flush().context("cannot write to stdout")?;
    }
    signals.wait().await?;
    tracing::info!("stopping");
    gateway.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    async fn wait(mut self) -> anyhow::Result<()> {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        Ok(())
    }
}
