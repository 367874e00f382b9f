//! `gateway`: the provincial server kiosks upload dossiers to.
//!
//! `gateway serve …` runs it until SIGTERM/SIGINT (SIGHUP re-reads the server certificate);
//! `gateway ca …` makes the province's CA and its certificates; `gateway openapi` prints its
//! API document.
//! Logs go to journald when started by systemd (`JOURNAL_STREAM`), else to stderr; stdout
//! carries only the one line `gateway listening on <addr>` so scripts and tests can learn the
//! port. Under systemd (`Type=notify`) it sends `READY=1` once it listens.
//!
//! Secrets are read from files or systemd credentials (`$CREDENTIALS_DIRECTORY/<name>`, given
//! by `LoadCredential=`), so they never appear on a command line: the enrolment key
//! (`--enrollment-key-file` or `enrollment-key`), the CA's private key (`--ca-key-file` or
//! `ca-key`), the server key (`--tls-key-file` or `tls-key`), the lookup key
//! (`--lookup-key-file` or `lookup-key`), the ID number key (`--id-key-file` or `id-key`), the
//! database URL (`database-url`) and the S3
//! credentials (`--s3-credentials-file` or `s3-credentials`). The certificates may come the same
//! way (`tls-cert`, `ca-cert`). The `--enrollment-key` option and its environment variable still
//! work for tests and scripts.
//! No secret is ever logged.

#[path = "cli/ca.rs"]
mod ca;
#[path = "cli/provision.rs"]
mod provision;
#[path = "cli/release.rs"]
mod release;
#[path = "cli/secrets.rs"]
mod secrets;
#[path = "cli/storage.rs"]
mod storage;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use motcua_gateway::{
    FleetSettings, GatewayConfig, DEFAULT_ENROLLMENT_BODY_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_UPLOAD_BYTES,
};
use secrets::{credential_file, optional_credential_file, required_secret, secret, Secret};

/// The largest count a flag may give: the database stores counts as signed 64-bit integers
/// (`BIGINT`), so a larger one would wrap to a negative limit there.
const SQL_MAX: u64 = i64::MAX.unsigned_abs();

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
    /// Serve the API over HTTPS until SIGTERM or SIGINT; SIGHUP re-reads the server certificate.
    Serve(ServeArgs),
    /// The province's certificate authority: make it, renew the server certificate, issue
    /// role certificates.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// Issue a setup sheet (signed QR codes for fresh kiosks) on this machine, or print the
    /// provisioning public key (`provision key --dir D`).
    Provision(provision::ProvisionArgs),
    /// Software releases for the kiosks: the release key, publish a `.deb` in waves, list,
    /// pause, resume, abort.
    #[command(subcommand)]
    Release(release::ReleaseCommand),
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
    /// CA certificate (PEM) trusted for PostgreSQL over TLS (`sslmode=require` or
    /// `verify-full` in the URL), besides the system's.
    #[arg(long, env = "MOTCUA_GATEWAY_DATABASE_CA_FILE")]
    database_ca_file: Option<PathBuf>,
    /// Server certificate (PEM): the gateway's certificate, then the CA's (`gateway ca init`
    /// writes tls.crt so); re-read on SIGHUP. Default: the `tls-cert` credential.
    #[arg(long, env = "MOTCUA_GATEWAY_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,
    /// Server private key (PEM); re-read on SIGHUP. Default: the `tls-key` credential.
    #[arg(long, env = "MOTCUA_GATEWAY_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
    /// The province's CA certificate (PEM): client certificates must be signed by it.
    /// Default: the `ca-cert` credential.
    #[arg(long, env = "MOTCUA_GATEWAY_CA_CERT_FILE")]
    ca_cert_file: Option<PathBuf>,
    /// File holding the CA's private key (PEM), which signs device certificates. A secret:
    /// prefer the `ca-key` credential.
    #[arg(long, env = "MOTCUA_GATEWAY_CA_KEY_FILE")]
    ca_key_file: Option<PathBuf>,
    /// Lifetime of device certificates, in days.
    #[arg(long, env = "MOTCUA_GATEWAY_DEVICE_CERT_DAYS", default_value_t = 90,
        value_parser = clap::value_parser!(u64).range(1..=SQL_MAX))]
    device_cert_days: u64,
    /// Lifetime of device certificates in seconds, overriding --device-cert-days (for tests
    /// of renewal; at least 10).
    #[arg(long, env = "MOTCUA_GATEWAY_DEVICE_CERT_SECONDS",
        value_parser = clap::value_parser!(u64).range(1..=SQL_MAX))]
    device_cert_seconds: Option<u64>,
    /// Catalog TOML file; without it the catalog built into the software is distributed.
    #[arg(long, env = "MOTCUA_GATEWAY_CATALOG")]
    catalog: Option<PathBuf>,
    /// Largest accepted blob, in bytes.
    #[arg(long, env = "MOTCUA_GATEWAY_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES,
        value_parser = clap::value_parser!(u64).range(1..=SQL_MAX))]
    max_upload_bytes: u64,
    /// Most connections open at once; beyond it new ones wait in the listen backlog until one
    /// ends. Each is a file descriptor: keep it well below the process's `LimitNOFILE`.
    #[arg(long, env = "MOTCUA_GATEWAY_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// The fleet view flags a device `silent` when nothing was heard from it (no health
    /// report, no request) for this many seconds.
    #[arg(
        long,
        env = "MOTCUA_GATEWAY_FLEET_SILENT_AFTER_S",
        default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(..=SQL_MAX)
    )]
    fleet_silent_after_s: u64,
    /// The fleet view flags a device's outbox `stuck` when its oldest undelivered entry is
    /// older than this many seconds.
    #[arg(
        long,
        env = "MOTCUA_GATEWAY_FLEET_STUCK_AFTER_S",
        default_value_t = 3600,
        value_parser = clap::value_parser!(u64).range(..=SQL_MAX)
    )]
    fleet_stuck_after_s: u64,
    /// A rollout pauses itself when more than this percent of the devices that finished
    /// installing it rolled it back (judged once at least 3 finished and 2 rolled back).
    #[arg(
        long,
        env = "MOTCUA_GATEWAY_RELEASE_PAUSE_ABOVE_PERCENT",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(0..=100)
    )]
    release_pause_above_percent: u32,
    /// The provisioning key (PEM) that signs setup codes; a secret: prefer the
    /// `provisioning-key` credential. Without it setup sheets cannot be issued.
    #[arg(long, env = "MOTCUA_GATEWAY_PROVISIONING_KEY_FILE")]
    provisioning_key_file: Option<PathBuf>,
    /// The release signing key (PEM) for releases published through the admin API; a secret:
    /// prefer the `release-key` credential. Without it only `gateway release publish` on this
    /// machine publishes.
    #[arg(long, env = "MOTCUA_GATEWAY_RELEASE_KEY_FILE")]
    release_key_file: Option<PathBuf>,
    /// File holding the lookup key (64 hex digits, mode 0600), under which the gateway keeps
    /// the receipts' lookup hashes; a secret: prefer the `lookup-key` credential. Without
    /// either, `lookup.key` in the data directory is used (made on first start). Every gateway
    /// on one PostgreSQL must have the same key: one with another refuses to start.
    #[arg(long, env = "MOTCUA_GATEWAY_LOOKUP_KEY_FILE")]
    lookup_key_file: Option<PathBuf>,
    /// File holding the ID number key (64 hex digits, mode 0600), under which the gateway
    /// knows whose documents it holds digitized; a secret: prefer the `id-key` credential.
    /// Without either, `id.key` in the data directory is used (made on first start). Every
    /// gateway on one PostgreSQL must have the same key.
    #[arg(long, env = "MOTCUA_GATEWAY_ID_KEY_FILE")]
    id_key_file: Option<PathBuf>,
    /// Where config profiles are (profile NAME is the file NAME.toml).
    #[arg(long, env = "MOTCUA_GATEWAY_PROFILES_DIR", default_value = motcua_gateway::DEFAULT_PROFILES_DIR)]
    profiles_dir: PathBuf,
    /// The gateway's https:// address as kiosks reach it, written in setup codes (required to
    /// issue them).
    #[arg(long, env = "MOTCUA_GATEWAY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Numbers in each dossier sequence block a kiosk gets (1..=9999).
    #[arg(long, env = "MOTCUA_GATEWAY_SEQUENCE_BLOCK_SIZE", default_value_t = 500,
        value_parser = clap::value_parser!(u16).range(1..=9999))]
    sequence_block_size: u16,
    /// Regular font of the printable setup sheet.
    #[arg(long, env = "MOTCUA_GATEWAY_FONT_REGULAR", default_value = motcua_gateway::DEFAULT_REGULAR_FONT)]
    font_regular: PathBuf,
    /// Bold font of the printable setup sheet.
    #[arg(long, env = "MOTCUA_GATEWAY_FONT_BOLD", default_value = motcua_gateway::DEFAULT_BOLD_FONT)]
    font_bold: PathBuf,
    /// Requests a device may make per minute; beyond it 429 `rate_limited` with Retry-After.
    /// Counted in the database, so it holds across gateways sharing one PostgreSQL.
    #[arg(long, env = "MOTCUA_GATEWAY_RATE_LIMIT_PER_MINUTE", default_value_t = motcua_gateway::DEFAULT_RATE_LIMIT_PER_MINUTE,
        value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit_per_minute: u32,
    /// Unfinished uploads a device may hold at once (429 `too_many_open_uploads` beyond).
    #[arg(long, env = "MOTCUA_GATEWAY_MAX_OPEN_UPLOADS", default_value_t = motcua_gateway::DEFAULT_MAX_OPEN_UPLOADS,
        value_parser = clap::value_parser!(u32).range(1..))]
    max_open_uploads: u32,
    /// Bytes of uploads a device may create per day, Vietnam time (429
    /// `upload_quota_exceeded` beyond, Retry-After until midnight). At least --max-upload-bytes.
    #[arg(long, env = "MOTCUA_GATEWAY_UPLOAD_BYTES_PER_DAY", default_value_t = motcua_gateway::DEFAULT_UPLOAD_BYTES_PER_DAY,
        value_parser = clap::value_parser!(u64).range(1..=SQL_MAX))]
    upload_bytes_per_day: u64,
    /// Hours an upload may stay idle (no PATCH accepted); then the sweep removes it and its
    /// stored bytes.
    #[arg(long, env = "MOTCUA_GATEWAY_UPLOAD_EXPIRY_HOURS", default_value_t = 24,
        value_parser = clap::value_parser!(u64).range(1..=SQL_MAX))]
    upload_expiry_hours: u64,
    /// Days the applicant data (name, ID number, birth date, address, phone, e-mail) of a
    /// finished dossier (returned, not accepted, withdrawn) is kept; then it is blanked, the
    /// code, dates, status and documents kept.
    #[arg(long, env = "MOTCUA_GATEWAY_APPLICANT_RETENTION_DAYS", default_value_t = 365,
        value_parser = clap::value_parser!(u64).range(1..=SQL_MAX))]
    applicant_retention_days: u64,
    /// Seconds a PATCH's lease on its upload lasts (renewed while it runs): after a gateway
    /// instance dies mid-PATCH, another continues the upload this long later at most.
    #[arg(long, env = "MOTCUA_GATEWAY_UPLOAD_LEASE_SECONDS", default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    upload_lease_seconds: u64,
    #[command(flatten)]
    storage: storage::StorageArgs,
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
        Command::Ca(command) => ca::run(command),
        Command::Provision(args) => provision::run(args),
        Command::Release(command) => release::run(command),
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
    let database_url = secret(
        args.database_url.map(Secret::Given),
        "database-url",
        "database URL",
    )?;
    let device_cert_lifetime = match args.device_cert_seconds {
        Some(s) => Duration::from_secs(s),
        None => {
            anyhow::ensure!(
                args.device_cert_days > 0,
                "--device-cert-days must be at least 1"
            );
            Duration::from_secs(args.device_cert_days.saturating_mul(24 * 3600))
        }
    };
    let config = GatewayConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        blob_storage: args.storage.storage()?,
        database_url,
        database_ca_file: args.database_ca_file,
        enrollment_key,
        tls_cert_file: credential_file(
            args.tls_cert_file,
            "tls-cert",
            "server certificate",
            "--tls-cert-file",
        )?,
        tls_key_file: credential_file(
            args.tls_key_file,
            "tls-key",
            "server private key",
            "--tls-key-file",
        )?,
        ca_cert_file: credential_file(
            args.ca_cert_file,
            "ca-cert",
            "CA certificate",
            "--ca-cert-file",
        )?,
        ca_key_file: credential_file(
            args.ca_key_file,
            "ca-key",
            "CA private key",
            "--ca-key-file",
        )?,
        device_cert_lifetime,
        catalog,
        max_upload_bytes: args.max_upload_bytes,
        max_connections: args.max_connections,
        enrollment_body_timeout: DEFAULT_ENROLLMENT_BODY_TIMEOUT,
        fleet: FleetSettings {
            silent_after: Duration::from_secs(args.fleet_silent_after_s),
            stuck_after: Duration::from_secs(args.fleet_stuck_after_s),
        },
        release_key_file: optional_credential_file(args.release_key_file, "release-key"),
        release_pause: motcua_domain::release::PausePolicy {
            max_rollbacks: args.release_pause_above_percent * 100,
            ..motcua_domain::release::PausePolicy::default()
        },
        provisioning_key_file: optional_credential_file(
            args.provisioning_key_file,
            "provisioning-key",
        ),
        lookup_key_file: optional_credential_file(args.lookup_key_file, "lookup-key"),
        id_key_file: optional_credential_file(args.id_key_file, "id-key"),
        profiles_dir: args.profiles_dir,
        public_url: args.public_url,
        sequence_block_size: args.sequence_block_size,
        sheet_fonts: motcua_gateway::FontConfig {
            regular: args.font_regular,
            bold: args.font_bold,
        },
        limits: motcua_gateway::Limits {
            requests_per_window: args.rate_limit_per_minute,
            rate_window: Duration::from_secs(60),
            max_open_uploads: args.max_open_uploads,
            upload_bytes_per_day: args.upload_bytes_per_day,
            upload_expiry: Duration::from_secs(args.upload_expiry_hours.saturating_mul(3600)),
            applicant_retention: Duration::from_secs(
                args.applicant_retention_days.saturating_mul(86_400),
            ),
            upload_lease: Duration::from_secs(args.upload_lease_seconds),
            ..motcua_gateway::Limits::default()
        },
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
    signals.wait(&gateway).await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping");
    gateway.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
        })
    }

    /// Until SIGTERM or SIGINT; each SIGHUP re-reads the server certificate (a bad new file
    /// is logged and the old certificate stays).
    async fn wait(mut self, gateway: &motcua_gateway::RunningGateway) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => {
                    tracing::info!("SIGHUP: reloading the server certificate");
                    let _ = gateway.reload_tls();
                }
            }
        }
    }
}
