//! The provincial side of the motcua kiosk link: an HTTPS server that kiosks enrol with, fetch
//! the procedure catalog from, upload document blobs to (tus 1.0 resumable uploads) and deliver
//! dossiers, ratings and queue tickets to, exactly once (every ingest carries an idempotency key).
//!
//! Every peer is known by its TLS client certificate, signed by the province's CA (see
//! `motcua-identity`): kiosks get theirs at enrolment (they send a CSR) and renew it; the
//! provincial system, technicians and auditors hold role certificates made by
//! `gateway ca issue`. Revoking a certificate closes its open connections at once.
//!
//! The gateway runs as its own binary (`gateway serve`) and can also be embedded in-process with
//! [`start`], which the kiosk's demo mode and the tests use.
//!
//! An acknowledgement is durable: the blob file is fsynced (and renamed into place with its
//! directory fsynced) and the database transaction committed before any 2xx answer is sent.

mod api;
mod error;
mod files;
mod id_key;
mod lookup_key;
mod pki;
mod provision;
mod release;
mod server;
mod sheet;
mod store;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use motcua_domain::catalog::Catalog;
use tokio::sync::oneshot;

/// The gateway's readers of device input, for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub use api::fuzzing;
pub use api::{
    served_routes, ApiDoc, Health, ReenrolmentApproval, Revocation, StatusChange,
    FEED_PAGE_BYTES_MAX,
};
pub use error::GatewayError;
pub use files::{BlobStorage, S3Credentials, S3Storage};
pub use id_key::{IdKey, ID_KEY_FILE_NAME};
pub use lookup_key::{LookupKey, LOOKUP_KEY_FILE_NAME};
pub use motcua_identity::{Issued, PeerIdentity, Role};
pub use motcua_sheets::{DEFAULT_BOLD_FONT, DEFAULT_REGULAR_FONT};
pub use pki::{
    ca_init, ca_issue, ca_server_cert, lab_pki, provisioning_key, provisioning_key_init, LabPki,
    ProvisioningKeyFiles, CA_LIFETIME, SERVER_CERT_LIFETIME,
};
pub use provision::{
    check_public_url, issue_sheet_offline, read_profile, valid_profile_name,
    withdraw_setup_codes_offline, ProvisionError, SheetSource, StoreSource, DEFAULT_PROFILES_DIR,
    DEFAULT_SEQUENCE_BLOCK_SIZE,
};
pub use release::{
    change as change_release, list as list_releases, publish as publish_release, release_key,
    release_key_init, Published, ReleaseSource, RolloutChange,
};
pub use sheet::{check_sheet_fonts, setup_sheet_pdf_bytes, FontConfig};
pub use store::{
    FeedApplicant, FeedDocument, FeedEvent, FeedEventKind, FleetDevice, FleetEntry, FleetFlag,
    FleetSettings, FleetView, HealthPoint, ReleaseRow, RolloutState, Stats, CLOCK_SKEW_LIMIT,
};

/// Default lifetime of a device certificate: 90 days (kiosks renew in the last third).
pub const DEFAULT_DEVICE_CERT_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// Default largest blob a kiosk may upload: 512 MiB, far above a scanned dossier, low enough that
/// a runaway client cannot fill the disk in one go.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// Default cap on connections open at once; beyond it new ones wait in the listen backlog.
/// Each costs a file descriptor: the packaged unit raises `LimitNOFILE` to 16384 to leave room.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2048;

/// Default deadline for the body of an enrolment request, the one route anyone may call: a peer
/// that opens it and trickles bytes is answered 408 instead of holding a task and a connection
/// as long as it likes (the body is a few KiB).
pub const DEFAULT_ENROLLMENT_BODY_TIMEOUT: Duration = Duration::from_secs(20);

/// Largest JSON body accepted by the ingest and admin endpoints (1 MiB).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Default requests a device may make per minute: a kiosk catching up after a week offline
/// makes about ten requests per dossier and one per ticket or rating (see the README's
/// figures), so 600 a minute drains a busy desk's week (about 6,300 requests) in about ten
/// minutes, while a runaway client is held to 10 a second.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 600;
/// Default unfinished uploads a device may hold at once: the kiosk uploads one blob at a time
/// and resumes it after any interruption, so more than a few means uploads it lost track of.
pub const DEFAULT_MAX_OPEN_UPLOADS: u32 = 64;
/// Default bytes of uploads a device may create per (Vietnam) day: 8 GiB, three times the
/// worst-case week of a busy commune desk (60 dossiers a day, 3 documents of 2 colour pages of
/// 1 MiB: 2.5 GiB a week; the intake pipeline's own pages measure 7–80 KB, grey JPEG up to
/// 460 KB), so a kiosk back after a week offline sends its backlog in one day.
pub const DEFAULT_UPLOAD_BYTES_PER_DAY: u64 = 8 * 1024 * 1024 * 1024;
/// Default time an upload may stay unfinished before the sweep removes it and its stored bytes.
pub const DEFAULT_UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// Default time the applicant data of a finished dossier is kept at the gateway (a year).
pub const DEFAULT_APPLICANT_RETENTION: Duration = Duration::from_secs(365 * 86_400);
/// How often the sweep (expired uploads, applicant retention, old counters) runs by default.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Default of [`Limits::upload_lease`]: long enough that a renewal delayed by a busy database
/// does not lose it, short enough that a kiosk whose gateway died resumes within a minute.
pub const DEFAULT_UPLOAD_LEASE: Duration = Duration::from_secs(30);

/// The limits the gateway enforces per device, kept in its database so that several gateways
/// on one PostgreSQL enforce them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests a device may make in one window (429 `rate_limited` beyond).
    pub requests_per_window: u32,
    /// The window of `requests_per_window` (a minute; tests shorten it).
    pub rate_window: Duration,
    /// Unfinished uploads per device (429 `too_many_open_uploads` beyond).
    pub max_open_uploads: u32,
    /// Bytes of uploads a device may create per Vietnam day (429 `upload_quota_exceeded`).
    pub upload_bytes_per_day: u64,
    /// An upload idle this long (no PATCH accepted since its creation or its last PATCH) is
    /// removed with its stored bytes (segment objects).
    pub upload_expiry: Duration,
    /// The applicant fields of a dossier finished this long ago are blanked.
    pub applicant_retention: Duration,
    /// How often the sweep runs.
    pub sweep_interval: Duration,
    /// Lifetime of the lease a PATCH holds on its upload, renewed every third of it while the
    /// body streams: how long an upload waits after the gateway receiving it was killed
    /// before another instance may continue it (see [`DEFAULT_UPLOAD_LEASE`]).
    pub upload_lease: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            requests_per_window: DEFAULT_RATE_LIMIT_PER_MINUTE,
            rate_window: Duration::from_secs(60),
            max_open_uploads: DEFAULT_MAX_OPEN_UPLOADS,
            upload_bytes_per_day: DEFAULT_UPLOAD_BYTES_PER_DAY,
            upload_expiry: DEFAULT_UPLOAD_EXPIRY,
            applicant_retention: DEFAULT_APPLICANT_RETENTION,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            upload_lease: DEFAULT_UPLOAD_LEASE,
        }
    }
}

/// Everything the gateway needs to run. Secrets are files (the CA key) or plain strings (the
/// enrolment key, from a file or a systemd credential); `Debug` shows neither.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Address to listen on; port 0 picks a free port (see [`RunningGateway::local_addr`]).
    pub listen: SocketAddr,
    /// Directory for blobs, in-progress uploads (with [`BlobStorage::Local`]) and (without
    /// `database_url`) the SQLite file.
    pub data_dir: PathBuf,
    /// Where blobs and in-progress uploads are: local files under `data_dir` (the default) or
    /// an S3-compatible bucket (several instances on one PostgreSQL).
    pub blob_storage: BlobStorage,
    /// PostgreSQL URL (`postgres://user@host/db`; `?sslmode=require` or `verify-full` for TLS);
    /// `None` uses the embedded SQLite database at `data_dir/gateway.sqlite3`.
    pub database_url: Option<String>,
    /// A CA certificate (PEM) trusted besides the system's for PostgreSQL over TLS.
    pub database_ca_file: Option<PathBuf>,
    /// Shared secret a technician types once to enrol a new kiosk.
    pub enrollment_key: String,
    /// The server certificate (PEM), then its chain up to the CA; re-read by
    /// [`RunningGateway::reload_tls`].
    pub tls_cert_file: PathBuf,
    /// The server's private key (PEM).
    pub tls_key_file: PathBuf,
    /// The province's CA certificate (PEM): client certificates must be signed by it.
    pub ca_cert_file: PathBuf,
    /// The CA's private key (PEM), which signs device certificates. A secret.
    pub ca_key_file: PathBuf,
    /// Lifetime of the device certificates signed at enrolment and renewal.
    pub device_cert_lifetime: Duration,
    /// The procedure catalog distributed to kiosks.
    pub catalog: Catalog,
    /// Largest accepted blob in bytes (see [`DEFAULT_MAX_UPLOAD_BYTES`]).
    pub max_upload_bytes: u64,
    /// Most connections open at once (see [`DEFAULT_MAX_CONNECTIONS`]): when they are all
    /// taken the gateway accepts no more until one ends, so further peers wait in the kernel's
    /// listen backlog.
    pub max_connections: usize,
    /// Deadline for the body of an enrolment request (see [`DEFAULT_ENROLLMENT_BODY_TIMEOUT`]).
    pub enrollment_body_timeout: Duration,
    /// When the fleet view flags a device silent or its outbox stuck.
    pub fleet: FleetSettings,
    /// The release signing key (PEM, `gateway release key init` writes `DIR/release.key`), a
    /// secret. Without it releases are published only by `gateway release publish` on the
    /// gateway's machine, and `POST /v1/admin/releases` answers 503.
    pub release_key_file: Option<PathBuf>,
    /// When a rollout pauses itself on the rollbacks its devices report.
    pub release_pause: motcua_domain::release::PausePolicy,
    /// The provisioning signing key (PEM, `gateway ca init` writes `DIR/provisioning.key`), a
    /// secret. Without it setup sheets cannot be issued (503); everything else works.
    pub provisioning_key_file: Option<PathBuf>,
    /// Where config profiles are: profile NAME is the file `NAME.toml`.
    pub profiles_dir: PathBuf,
    /// The gateway's `https://` address as kiosks reach it, written in setup codes; required
    /// to issue them.
    pub public_url: Option<String>,
    /// Numbers in each dossier sequence block (1..=9999).
    pub sequence_block_size: u16,
    /// Fonts of the printable setup sheet (DejaVu Sans from Debian `fonts-dejavu-core`).
    pub sheet_fonts: FontConfig,
    /// Per-device request rate, upload quotas, upload expiry and applicant retention.
    pub limits: Limits,
    /// The lookup key (a file of 64 hex digits, 0600; see [`LookupKey`]), a secret. Without
    /// it the gateway uses `data_dir/lookup.key`, made on first start: right for one gateway,
    /// while several on one PostgreSQL must be given the same file.
    pub lookup_key_file: Option<PathBuf>,
    /// The ID number key (a file of 64 hex digits, 0600; see [`IdKey`]), a secret. Without it
    /// the gateway uses `data_dir/id.key`, made on first start.
    pub id_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("blob_storage", &self.blob_storage)
            .field(
                "database_url",
                &self.database_url.as_deref().map(error::redact_url),
            )
            .field("tls_cert_file", &self.tls_cert_file)
            .field("ca_cert_file", &self.ca_cert_file)
            .field("device_cert_lifetime", &self.device_cert_lifetime)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("max_connections", &self.max_connections)
            .field("enrollment_body_timeout", &self.enrollment_body_timeout)
            .field("profiles_dir", &self.profiles_dir)
            .field("public_url", &self.public_url)
            .field("sequence_block_size", &self.sequence_block_size)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl GatewayConfig {
    /// A configuration with the default upload limit and certificate lifetime, SQLite storage,
    /// the CA and server certificate of `pki` and the given essentials.
    pub fn new(
        listen: SocketAddr,
        data_dir: impl Into<PathBuf>,
        enrollment_key: impl Into<String>,
        pki: &LabPki,
        catalog: Catalog,
    ) -> Self {
        Self {
            listen,
            data_dir: data_dir.into(),
            blob_storage: BlobStorage::Local,
            database_url: None,
            database_ca_file: None,
            enrollment_key: enrollment_key.into(),
            tls_cert_file: pki.tls_cert_file.clone(),
            tls_key_file: pki.tls_key_file.clone(),
            ca_cert_file: pki.ca_cert_file.clone(),
            ca_key_file: pki.ca_key_file.clone(),
            device_cert_lifetime: DEFAULT_DEVICE_CERT_LIFETIME,
            catalog,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            enrollment_body_timeout: DEFAULT_ENROLLMENT_BODY_TIMEOUT,
            fleet: FleetSettings::default(),
            release_key_file: None,
            release_pause: motcua_domain::release::PausePolicy::default(),
            provisioning_key_file: None,
            lookup_key_file: None,
            id_key_file: None,
            profiles_dir: PathBuf::from(DEFAULT_PROFILES_DIR),
            public_url: None,
            sequence_block_size: DEFAULT_SEQUENCE_BLOCK_SIZE,
            sheet_fonts: FontConfig::default(),
            limits: Limits::default(),
        }
    }
}

/// A gateway serving requests in the background of the current tokio runtime.
///
/// Dropping it without calling [`RunningGateway::shutdown`] still asks the server to stop, but
/// does not wait for it.
pub struct RunningGateway {
    addr: SocketAddr,
    server_cert: Arc<tls::ServerCert>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningGateway {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Re-reads the server certificate and key files (`gateway serve` does on SIGHUP): new
    /// connections get the new certificate, open ones keep theirs. If the new files are not
    /// usable the certificate in use stays, and the error says why.
    pub fn reload_tls(&self) -> Result<(), GatewayError> {
        match self.server_cert.reload() {
            Ok(()) => {
                tracing::info!("server certificate reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "server certificate not reloaded; the old one stays in use");
                Err(e)
            }
        }
    }

    /// Stops accepting connections, lets in-flight requests finish (at most 10 s) and waits for
    /// the server to end. Everything acknowledged before is already durable.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            // The server drains for 10 s itself; this is the backstop.
            match tokio::time::timeout(Duration::from_secs(12), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "gateway server ended with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "gateway server task failed"),
                Err(_) => {
                    tracing::warn!("gateway did not stop in time; aborting open connections");
                    abort.abort();
                }
            }
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Opens storage (creating directories and migrating the database as needed), loads the CA and
/// the server certificate, binds the listen address and serves the API over TLS in the
/// background until [`RunningGateway::shutdown`].
pub async fn start(config: GatewayConfig) -> Result<RunningGateway, GatewayError> {
    if config.enrollment_key.trim().is_empty() {
        return Err(GatewayError::Config("the enrollment key is empty".into()));
    }
    if config.device_cert_lifetime < Duration::from_secs(10) {
        return Err(GatewayError::Config(
            "the device certificate lifetime is shorter than 10 seconds".into(),
        ));
    }
    if config.max_connections == 0 {
        return Err(GatewayError::Config(
            "the connection limit is 0: the gateway could accept nothing".into(),
        ));
    }
    if !(1..=9999).contains(&config.sequence_block_size) {
        return Err(GatewayError::Config(format!(
            "the sequence block size {} is not in 1..=9999",
            config.sequence_block_size
        )));
    }
    check_limits(&config)?;
    let ca_cert_pem = pki::read(&config.ca_cert_file)?;
    let issuer = provision::load_issuer(
        config.provisioning_key_file.as_deref(),
        config.public_url.as_deref(),
        &config.profiles_dir,
        &ca_cert_pem,
    )?;
    let authority =
        motcua_identity::Authority::load(&ca_cert_pem, &pki::read(&config.ca_key_file)?).map_err(
            |e| {
                GatewayError::Tls(format!(
                    "the CA {} / {} cannot be used: {e}",
                    config.ca_cert_file.display(),
                    config.ca_key_file.display()
                ))
            },
        )?;
    check_device_lifetime(&config, authority.not_after())?;
    let server_cert = Arc::new(tls::ServerCert::load(
        &config.tls_cert_file,
        &config.tls_key_file,
    )?);
    let tls_config = tls::server_config(Arc::clone(&server_cert), &ca_cert_pem)?;
    // The embedded mode serves from one process per data folder.
    let instance_lock = match config.database_url {
        None => Some(store::lock_instance(&config.data_dir.join("gateway.sqlite3")).await?),
        Some(_) => None,
    };
    let files = files::Files::open(&config.data_dir, &config.blob_storage).await?;
    let store = store::Store::open(
        config.database_url.as_deref(),
        config.database_ca_file.as_deref(),
        &config.data_dir,
    )
    .await?;
    let lookup_key = match &config.lookup_key_file {
        Some(path) => LookupKey::load(path)?,
        None => {
            if config.database_url.is_some() {
                tracing::warn!("no lookup key file given: using the data directory's own; every gateway on this PostgreSQL must have the same one (--lookup-key-file)");
            }
            LookupKey::load_or_create(&config.data_dir.join(lookup_key::LOOKUP_KEY_FILE_NAME))?
        }
    };
    store
        .adopt_lookup_key(&lookup_key, &chrono::Utc::now().to_rfc3339())
        .await?;
    let id_key = match &config.id_key_file {
        Some(path) => IdKey::load(path)?,
        None => IdKey::load_or_create(&config.data_dir.join(id_key::ID_KEY_FILE_NAME))?,
    };
    let connections = Arc::new(server::Connections::default());
    let state = api::AppState::new(
        store,
        files,
        authority,
        issuer,
        Arc::clone(&connections),
        api::CitizenKeys {
            lookup: lookup_key,
            id: id_key,
        },
        &config,
    )?;
    let sweeper = api::spawn_sweeper(state.clone());
    let router = api::router(state);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| GatewayError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| GatewayError::Bind {
        addr: config.listen,
        source,
    })?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
    let serve = server::serve(
        listener,
        acceptor,
        router,
        connections,
        config.max_connections,
        stop_rx,
    );
    // The sweep ends with the server (the handle aborts it when dropped).
    let task = tokio::spawn(async move {
        let _sweeper = sweeper;
        let _instance_lock = instance_lock;
        serve.await
    });
    tracing::info!(%addr, backend = if config.database_url.is_some() { "postgresql" } else { "sqlite" }, "gateway started (HTTPS)");
    Ok(RunningGateway {
        addr,
        server_cert,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// Limits that would refuse everything, or a single upload the daily quota cannot hold.
fn check_limits(config: &GatewayConfig) -> Result<(), GatewayError> {
    let l = &config.limits;
    let refuse = |what: String| Err(GatewayError::Config(what));
    if l.requests_per_window == 0 || l.rate_window.is_zero() {
        return refuse("the request rate limit is 0: every device request would be refused".into());
    }
    if l.max_open_uploads == 0 {
        return refuse("the open-upload limit is 0: no kiosk could upload a document".into());
    }
    // The database keeps byte counts as BIGINT: a larger limit would wrap to a negative one.
    let sql_max = i64::MAX.unsigned_abs();
    if l.upload_bytes_per_day > sql_max || config.max_upload_bytes > sql_max {
        return refuse(format!(
            "the daily upload quota ({} bytes) and the largest upload ({} bytes) must be at \
             most {sql_max} bytes",
            l.upload_bytes_per_day, config.max_upload_bytes
        ));
    }
    if l.upload_bytes_per_day < config.max_upload_bytes {
        return refuse(format!(
            "the daily upload quota ({} bytes) is below the largest upload ({} bytes): raise \
             --upload-bytes-per-day or lower --max-upload-bytes",
            l.upload_bytes_per_day, config.max_upload_bytes
        ));
    }
    if l.upload_lease < Duration::from_secs(1) {
        return refuse("the upload lease must be at least 1 second".into());
    }
    if l.upload_expiry.is_zero() || l.sweep_interval.is_zero() {
        return refuse("the upload expiry and the sweep interval must be longer than 0".into());
    }
    Ok(())
}

/// A device certificate must end before the CA that signs it: one that outlived it would be
/// refused by every peer before its stated end, and kiosks would not renew it in time.
fn check_device_lifetime(config: &GatewayConfig, ca_not_after: i64) -> Result<(), GatewayError> {
    let now = chrono::Utc::now().timestamp();
    let lifetime = i64::try_from(config.device_cert_lifetime.as_secs()).unwrap_or(i64::MAX);
    if now.saturating_add(lifetime) > ca_not_after {
        let days = |s: i64| s / 86_400;
        let remaining = ca_not_after.saturating_sub(now);
        return Err(GatewayError::Config(format!(
            "the device certificate lifetime ({} days) is longer than the CA {} has left ({} \
             days, until {}): shorten --device-cert-days, or make a new CA (`gateway ca init`) \
             and re-enrol the kiosks",
            days(lifetime),
            config.ca_cert_file.display(),
            days(remaining.max(0)),
            store::rfc3339(ca_not_after),
        )));
    }
    Ok(())
}

/// Reads a catalog from a TOML file in the format of the domain's seed catalog.
pub fn load_catalog_file(path: &Path) -> Result<Catalog, GatewayError> {
    let text = std::fs::read_to_string(path).map_err(|source| GatewayError::ReadCatalog {
        path: path.to_path_buf(),
        source,
    })?;
    motcua_domain::catalog::Catalog::from_toml_str(&text).map_err(|source| {
        GatewayError::ParseCatalog {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    })
}

/// The OpenAPI document of the gateway, as pretty JSON (what `gateway openapi` prints and what
/// `gateway/openapi.json` holds).
pub fn openapi_json() -> String {
    use utoipa::OpenApi;
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}
