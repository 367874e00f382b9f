//! The provincial side of the motcua kiosk link: an HTTP server that kiosks enrol with, fetch
//! the procedure catalog from, upload document blobs to (tus 1.0 resumable uploads) and deliver
//! dossiers, ratings and queue tickets to, exactly once (every ingest carries an idempotency key).
//!
//! The gateway runs as its own binary (`gateway serve`) and can also be embedded in-process with
//! [`start`], which the kiosk's demo mode and the tests use.
//!
//! An acknowledgement is durable: the blob file is fsynced (and renamed into place with its
//! directory fsynced) and the database transaction committed before any 2xx answer is sent.

mod api;
mod error;
mod files;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use motcua_domain::catalog::Catalog;
use tokio::sync::oneshot;

pub use api::{served_routes, ApiDoc, Health, StatusChange};
pub use error::GatewayError;
pub use store::Stats;

/// Default largest blob a kiosk may upload: 512 MiB, far above a scanned dossier, low enough that
/// a runaway client cannot fill the disk in one go.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// Largest JSON body accepted by the ingest and admin endpoints (1 MiB).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

/// Everything the gateway needs to run. Keys are plain strings because they come from the
/// command line or the environment of a systemd unit.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Address to listen on; port 0 picks a free port (see [`RunningGateway::local_addr`]).
    pub listen: SocketAddr,
    /// Directory for blobs, in-progress uploads and (without `database_url`) the SQLite file.
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://user@host/db`); `None` uses the embedded SQLite database at
    /// `data_dir/gateway.sqlite3`.
    pub database_url: Option<String>,
    /// Shared secret a technician types once to enrol a new kiosk.
    pub enrollment_key: String,
    /// Secret of the provincial system's administrative calls (status changes, statistics).
    pub admin_key: String,
    /// The procedure catalog distributed to kiosks.
    pub catalog: Catalog,
    /// Largest accepted blob in bytes (see [`DEFAULT_MAX_UPLOAD_BYTES`]).
    pub max_upload_bytes: u64,
}

impl GatewayConfig {
    /// A configuration with the default upload limit, SQLite storage and the given essentials.
    pub fn new(
        listen: SocketAddr,
        data_dir: impl Into<PathBuf>,
        enrollment_key: impl Into<String>,
        admin_key: impl Into<String>,
        catalog: Catalog,
    ) -> Self {
        Self {
            listen,
            data_dir: data_dir.into(),
            database_url: None,
            enrollment_key: enrollment_key.into(),
            admin_key: admin_key.into(),
            catalog,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        }
    }
}

/// A gateway serving requests in the background of the current tokio runtime.
///
/// Dropping it without calling [`RunningGateway::shutdown`] still asks the server to stop, but
/// does not wait for it.
pub struct RunningGateway {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningGateway {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets in-flight requests finish (at most 10 s) and waits for
    /// the server to end. Everything acknowledged before is already durable.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "gateway server ended with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "gateway server task failed"),
                Err(_) => {
                    tracing::warn!("gateway did not stop within 10 s; aborting open connections");
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

/// Opens storage (creating directories and migrating the database as needed), binds the listen
/// address and serves the API in the background until [`RunningGateway::shutdown`].
pub async fn start(config: GatewayConfig) -> Result<RunningGateway, GatewayError> {
    if config.enrollment_key.trim().is_empty() {
        return Err(GatewayError::Config("the enrollment key is empty".into()));
    }
    if config.admin_key.trim().is_empty() {
        return Err(GatewayError::Config("the admin key is empty".into()));
    }
    let files = files::Files::open(&config.data_dir).await?;
    let store = store::Store::open(config.database_url.as_deref(), &config.data_dir).await?;
    let state = api::AppState::new(store, files, &config)?;
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
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    tracing::info!(%addr, backend = if config.database_url.is_some() { "postgresql" } else { "sqlite" }, "gateway started");
    Ok(RunningGateway {
        addr,
        stop: Some(stop_tx),
        task: Some(task),
    })
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
