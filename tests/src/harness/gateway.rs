//! The gateway under test: a `gateway serve` process on embedded SQLite or on a fresh
//! PostgreSQL database, over mutual TLS with a lab PKI made by `gateway ca init`, and the calls
//! the tests make to it as the provincial system, a technician, an auditor or a device.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

use super::log_file;
use crate::bin;

/// Enrolment key every test gateway is started with (from a file, as in production).
pub const ENROLLMENT_KEY: &str = "test-enrollment-key";

/// A lab PKI made by `gateway ca init` (the real command): the province's CA, the gateway's
/// server certificate for `127.0.0.1` and `localhost`, and role certificates issued on demand by
/// `gateway ca issue`.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The folder holding `ca.crt`, `ca.key`, `tls.crt`, `tls.key` and the role credentials.
    pub dir: PathBuf,
}

/// A role holder's credentials: certificate and private key files.
#[derive(Debug, Clone)]
pub struct RoleCert {
    /// Certificate (PEM).
    pub cert: PathBuf,
    /// Private key (PEM), mode 0600.
    pub key: PathBuf,
}

impl RoleCert {
    /// Certificate and key in one PEM text, as `reqwest::Identity::from_pem` takes it.
    pub fn identity_pem(&self) -> anyhow::Result<Vec<u8>> {
        let mut pem = std::fs::read(&self.key)?;
        pem.extend(std::fs::read(&self.cert)?);
        Ok(pem)
    }
}

impl Pki {
    /// The PKI in `dir`, made with `gateway ca init` unless it is already there.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        if !dir.join("ca.crt").exists() {
            let out = Command::new(bin("gateway"))
                .args(["ca", "init", "--dir"])
                .arg(dir)
                .args(["--host", "127.0.0.1", "--host", "localhost"])
                .args(["--name", "motcua test CA"])
                .output()
                .context("run gateway ca init")?;
            if !out.status.success() {
                bail!(
                    "gateway ca init failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// The CA certificate: the kiosks' trust anchor.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The credentials of `role` (`system`, `technician`, `auditor`), issued by
    /// `gateway ca issue` the first time they are asked for.
    pub fn role(&self, role: &str) -> anyhow::Result<RoleCert> {
        let prefix = self.dir.join(format!("role-{role}"));
        let cert = RoleCert {
            cert: prefix.with_extension("crt"),
            key: prefix.with_extension("key"),
        };
        if !cert.cert.exists() {
            let out = Command::new(bin("gateway"))
                .args(["ca", "issue", "--dir"])
                .arg(&self.dir)
                .args(["--role", role, "--name", &format!("test {role}"), "--out"])
                .arg(&prefix)
                .output()
                .context("run gateway ca issue")?;
            if !out.status.success() {
                bail!(
                    "gateway ca issue failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        Ok(cert)
    }

    /// An HTTP client that trusts only this CA and presents `identity` (key and certificate
    /// PEM), or no client certificate.
    pub fn client(&self, identity: Option<&[u8]>) -> anyhow::Result<reqwest::Client> {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(self.ca_cert())?)?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(60));
        if let Some(pem) = identity {
            builder = builder.identity(reqwest::Identity::from_pem(pem)?);
        }
        Ok(builder.build()?)
    }

    /// A client holding `role`'s certificate.
    pub fn role_client(&self, role: &str) -> anyhow::Result<reqwest::Client> {
        self.client(Some(&self.role(role)?.identity_pem()?))
    }

    /// A device identity signed by this CA without enrolling (for kiosks whose gateway is not
    /// this CA's gateway, or none): `(key and certificate PEM, CA PEM)`.
    pub fn offline_device_identity(
        &self,
        device_id: &str,
        site: &str,
    ) -> anyhow::Result<(String, String)> {
        let ca_pem = std::fs::read_to_string(self.ca_cert())?;
        let key_pem = std::fs::read_to_string(self.dir.join("ca.key"))?;
        let ca = motcua_identity::Authority::load(&ca_pem, &key_pem)?;
        let device = motcua_identity::DeviceKey::generate(device_id, site)?;
        let issued = ca.sign_device(
            &device.csr_pem,
            device_id,
            site,
            Duration::from_secs(86_400),
        )?;
        Ok((format!("{}{}", device.key_pem, issued.cert_pem), ca_pem))
    }
}

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
    /// Its PKI (CA, server certificate, role credentials).
    pub pki: Pki,
    data_dir: PathBuf,
    database_url: Option<String>,
    extra_args: Vec<String>,
}

impl Gateway {
    /// Starts a gateway on `port` (0 = any) with its data in `data_dir`.
    pub fn start(data_dir: &Path, database_url: Option<&str>, port: u16) -> anyhow::Result<Self> {
        Self::start_with(data_dir, database_url, port, &[])
    }

    /// [`Gateway::start`] with more `gateway serve` options (e.g. a short device certificate
    /// lifetime).
    pub fn start_with(
        data_dir: &Path,
        database_url: Option<&str>,
        port: u16,
        extra_args: &[&str],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let pki = Pki::create(&data_dir.join("pki"))?;
        let key_file = data_dir.join("enrollment.key");
        std::fs::write(&key_file, format!("{ENROLLMENT_KEY}\n"))?;
        let mut cmd = Command::new(bin("gateway"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--enrollment-key-file")
            .arg(&key_file)
            .arg("--tls-cert-file")
            .arg(pki.dir.join("tls.crt"))
            .arg("--tls-key-file")
            .arg(pki.dir.join("tls.key"))
            .arg("--ca-cert-file")
            .arg(pki.ca_cert())
            .arg("--ca-key-file")
            .arg(pki.dir.join("ca.key"))
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(log_file(data_dir, "gateway.log")?);
        if let Some(url) = database_url {
            cmd.env("MOTCUA_GATEWAY_DATABASE_URL", url);
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
            pki,
            data_dir: data_dir.to_owned(),
            database_url: database_url.map(str::to_owned),
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
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
        format!("https://{}", self.addr)
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
            let extra: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
            match Self::start_with(
                &self.data_dir,
                self.database_url.as_deref(),
                self.addr.port(),
                &extra,
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

    /// The process id (to send it SIGHUP, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The enrolment key file the gateway reads (what a technician hands to `kioskctl enroll`).
    pub fn enrollment_key_file(&self) -> PathBuf {
        self.data_dir.join("enrollment.key")
    }

    /// Counts of what the gateway holds (a technician's view: counts, no personal data).
    pub async fn stats(&self) -> anyhow::Result<serde_json::Value> {
        Ok(self
            .get_as("technician", "/v1/admin/stats")
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// GET as the holder of `role` (`system`, `technician`, `auditor`).
    pub async fn get_as(&self, role: &str, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .pki
            .role_client(role)?
            .get(format!("{}{path}", self.url()))
            .send()
            .await?)
    }

    /// POST (JSON) as the holder of `role`.
    pub async fn post_as(
        &self,
        role: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .pki
            .role_client(role)?
            .post(format!("{}{path}", self.url()))
            .json(body)
            .send()
            .await?)
    }

    /// The bytes of a stored blob, read by an auditor (documents are the province's).
    pub async fn blob(&self, sha256: &str) -> anyhow::Result<Vec<u8>> {
        Ok(self
            .get_as("auditor", &format!("/v1/blobs/{sha256}"))
            .await?
            .error_for_status()?
            .bytes()
            .await?
            .to_vec())
    }

    /// Sets a dossier's status as the provincial system would; returns the full view.
    pub async fn set_status(&self, code: &str, status: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self
            .post_as(
                "system",
                &format!("/v1/admin/dossiers/{code}/status"),
                &serde_json::json!({ "status": status }),
            )
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Revokes every certificate of a device, as a technician does for a stolen kiosk.
    pub async fn revoke_device(&self, device_id: &str) -> anyhow::Result<()> {
        self.post_as(
            "technician",
            &format!("/v1/admin/devices/{device_id}/revoke"),
            &serde_json::json!({}),
        )
        .await?
        .error_for_status()?;
        Ok(())
    }

    /// GET with a device's identity (key and certificate PEM, e.g. [`crate::Kiosk::identity_pem`]).
    pub async fn get_as_device(
        &self,
        identity_pem: &[u8],
        path: &str,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .pki
            .client(Some(identity_pem))?
            .get(format!("{}{path}", self.url()))
            .send()
            .await?)
    }
}

impl Gateway {
    /// A device's status lookup with a receipt's secret (`POST /v1/dossiers/status`).
    pub async fn lookup_as_device(
        &self,
        identity_pem: &[u8],
        code: &str,
        secret: &str,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .pki
            .client(Some(identity_pem))?
            .post(format!("{}/v1/dossiers/status", self.url()))
            .json(&serde_json::json!({"code": code, "secret": secret}))
            .send()
            .await?)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}
