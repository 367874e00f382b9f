//! The gateway under test: a `gateway serve` process on embedded SQLite or on a fresh
//! PostgreSQL database, and the admin and device calls the tests make to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use super::log_file;
use crate::bin;

/// Admin key every test gateway is started with.
pub const ADMIN_KEY: &str = "test-admin-key";
/// Enrolment key every test gateway is started with.
pub const ENROLLMENT_KEY: &str = "test-enrollment-key";

/// Where the gateway keeps its data: embedded SQLite or a PostgreSQL database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite + files (the default).
    Sqlite,
    /// PostgreSQL (production).
    Postgres,
}

/// The PostgreSQL server URL for tests; fails clearly when absent unless explicitly skipped.
pub fn postgres_server_url() -> anyhow::Result<Option<String>> {
    match std::env::var("MOTCUA_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok(Some(url)),
        _ if std::env::var("MOTCUA_SKIP_POSTGRES").as_deref() == Ok("1") => Ok(None),
        _ => bail!(
            "MOTCUA_TEST_DATABASE_URL is not set: run the README's test command (scripts/test.sh), \
             which starts PostgreSQL, or set MOTCUA_SKIP_POSTGRES=1 to skip the PostgreSQL runs"
        ),
    }
}

/// Creates a fresh database on the test server and returns its URL.
pub async fn fresh_postgres_database(server_url: &str) -> anyhow::Result<String> {
    let (client, conn) = tokio_postgres::connect(server_url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {server_url}"))?;
    tokio::spawn(conn);
    let name = format!("motcua_e2e_{:016x}", rand::random::<u64>());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let base = server_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .ok_or_else(|| anyhow!("bad database URL {server_url}"))?;
    Ok(format!("{base}/{name}"))
}

/// A gateway process.
pub struct Gateway {
    child: Child,
    /// Its address.
    pub addr: SocketAddr,
    data_dir: PathBuf,
    database_url: Option<String>,
}

impl Gateway {
    /// Starts a gateway on `port` (0 = any) with its data in `data_dir`.
    pub fn start(data_dir: &Path, database_url: Option<&str>, port: u16) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin("gateway"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--enrollment-key")
            .arg(ENROLLMENT_KEY)
            .arg("--admin-key")
            .arg(ADMIN_KEY)
            .stdout(Stdio::piped())
            .stderr(log_file(data_dir, "gateway.log")?);
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        let mut child = cmd.spawn().context("start the gateway")?;
        let stdout = child.stdout.take().context("gateway stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("read the gateway's first line")?;
        let addr = line
            .trim()
            .strip_prefix("gateway listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                let log = std::fs::read_to_string(data_dir.join("gateway.log")).unwrap_or_default();
                anyhow!("gateway did not start: {line:?}\n{log}")
            })?;
        Ok(Self {
            child,
            addr,
            data_dir: data_dir.to_owned(),
            database_url: database_url.map(str::to_owned),
        })
    }

    /// Starts a gateway on any port with its data in `data_dir`, on `backend` (a fresh database
    /// for PostgreSQL). `None` when PostgreSQL is asked for and explicitly skipped
    /// (`MOTCUA_SKIP_POSTGRES=1`): the caller then skips its run.
    pub async fn start_on(backend: Backend, data_dir: &Path) -> anyhow::Result<Option<Self>> {
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => match postgres_server_url()? {
                Some(server) => Some(fresh_postgres_database(&server).await?),
                None => return Ok(None),
            },
        };
        Self::start(data_dir, database_url.as_deref(), 0).map(Some)
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills it with SIGKILL (a crash or power cut of the gateway host).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and data (retrying while the port is still taken).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Self::start(
                &self.data_dir,
                self.database_url.as_deref(),
                self.addr.port(),
            ) {
                Ok(g) => {
                    *self = g;
                    return Ok(());
                }
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Counts of what the gateway holds (admin API).
    pub async fn stats(&self) -> anyhow::Result<serde_json::Value> {
        let resp = reqwest::Client::new()
            .get(format!("{}/v1/admin/stats", self.url()))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await?
            .error_for_status()?;
        Ok(resp.json().await?)
    }

    /// GET with the admin key (the provincial system's view).
    pub async fn get_admin(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        self.get(ADMIN_KEY, path).await
    }

    /// The bytes of a stored blob, read with the admin key (documents are the province's).
    pub async fn blob(&self, sha256: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self
            .get_admin(&format!("/v1/blobs/{sha256}"))
            .await?
            .error_for_status()?
            .bytes()
            .await?
            .to_vec())
    }

    /// Sets a dossier's status as the provincial system would; returns the full view.
    pub async fn set_status(&self, code: &str, status: &str) -> anyhow::Result<serde_json::Value> {
        Ok(reqwest::Client::new()
            .post(format!("{}/v1/admin/dossiers/{code}/status", self.url()))
            .bearer_auth(ADMIN_KEY)
            .json(&serde_json::json!({ "status": status }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// GET with a device token.
    pub async fn get(&self, token: &str, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(reqwest::Client::new()
            .get(format!("{}{path}", self.url()))
            .bearer_auth(token)
            .send()
            .await?)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}
