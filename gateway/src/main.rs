//! `gateway`: the provincial server kiosks upload dossiers to.
//!
//! `gateway serve …` runs it until SIGTERM/SIGINT; `gateway openapi` prints its API document.
//! Logs go to journald when started by systemd (`JOURNAL_STREAM`), else to stderr; stdout
//! carries only the one line `gateway listening on <addr>` so scripts and tests can learn the
//! port. Under systemd (`Type=notify`) it sends `READY=1` once it listens.
//!
//! The keys are secrets: they are read from files (`--enrollment-key-file`, `--admin-key-file`)
//! or from systemd credentials (`$CREDENTIALS_DIRECTORY/enrollment-key`, `admin-key`,
//! `database-url`, given by `LoadCredential=`), so they never appear on a command line; the
//! `--enrollment-key`/`--admin-key` options and their environment variables still work for
//! tests and scripts. No key is ever logged.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

// Parsed once at start-up: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
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
    /// PostgreSQL URL; without it (and without the `database-url` credential) the embedded
    /// SQLite database in the data directory is used.
    #[arg(long, env = "MOTCUA_GATEWAY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Enrolment key technicians type when enrolling a kiosk (prefer --enrollment-key-file or
    /// the `enrollment-key` credential: a value here shows in the process list).
    #[arg(long, env = "MOTCUA_GATEWAY_ENROLLMENT_KEY", hide_env_values = true)]
    enrollment_key: Option<String>,
    /// File holding the enrolment key (one line).
    #[arg(
        long,
        env = "MOTCUA_GATEWAY_ENROLLMENT_KEY_FILE",
        conflicts_with = "enrollment_key"
    )]
    enrollment_key_file: Option<PathBuf>,
    /// Admin key of the provincial system (status changes, statistics); prefer
    /// --admin-key-file or the `admin-key` credential.
    #[arg(long, env = "MOTCUA_GATEWAY_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// File holding the admin key (one line).
    #[arg(
        long,
        env = "MOTCUA_GATEWAY_ADMIN_KEY_FILE",
        conflicts_with = "admin_key"
    )]
    admin_key_file: Option<PathBuf>,
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
            motcua_logging::init("info");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(serve(args))
        }
    }
}

/// Where a secret comes from, in the order tried.
enum Secret {
    /// The option or its environment variable.
    Given(String),
    /// A file named by an option.
    File(PathBuf),
}

/// The secret `name`: from the option, the file option, or the systemd credential `name`
/// (`$CREDENTIALS_DIRECTORY/name`); `None` when none of them is there. One trailing newline
/// is removed from files; an empty value is refused.
fn secret(given: Option<Secret>, name: &str, what: &str) -> anyhow::Result<Option<String>> {
    let from_file = |path: &Path| -> anyhow::Result<String> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
        let value = text.strip_suffix('\n').unwrap_or(&text);
        let value = value.strip_suffix('\r').unwrap_or(value);
        anyhow::ensure!(
            !value.trim().is_empty(),
            "the {what} file {} is empty",
            path.display()
        );
        Ok(value.to_owned())
    };
    match given {
        Some(Secret::Given(value)) => {
            anyhow::ensure!(!value.trim().is_empty(), "the {what} is empty");
            Ok(Some(value))
        }
        Some(Secret::File(path)) => from_file(&path).map(Some),
        None => match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) => {
                let path = Path::new(&dir).join(name);
                if path.exists() {
                    from_file(&path).map(Some)
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        },
    }
}

fn required_secret(
    value: Option<String>,
    file: Option<PathBuf>,
    name: &str,
    what: &str,
    option: &str,
) -> anyhow::Result<String> {
    let given = value.map(Secret::Given).or(file.map(Secret::File));
    secret(given, name, what)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no {what}: give {option}-file FILE, or run under systemd with \
             LoadCredential={name}:FILE (the packaged unit reads /etc/motcua/gateway/{name})"
        )
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let catalog = match &args.catalog {
        Some(path) => motcua_gateway::load_catalog_file(path)?,
        None => motcua_domain::catalog::seed(),
    };
    let enrollment_key = required_secret(
        args.enrollment_key,
        args.enrollment_key_file,
        "enrollment-key",
        "enrolment key",
        "--enrollment-key",
    )?;
    let admin_key = required_secret(
        args.admin_key,
        args.admin_key_file,
        "admin-key",
        "admin key",
        "--admin-key",
    )?;
    let database_url = secret(
        args.database_url.map(Secret::Given),
        "database-url",
        "database URL",
    )?;
    let config = GatewayConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url,
        enrollment_key,
        admin_key,
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
    // Outside systemd (no NOTIFY_SOCKET) this does nothing.
    let _ = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("listening on {}", gateway.local_addr())),
    ]);
    signals.wait().await?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
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
