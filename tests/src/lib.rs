//! Shared harness of the end-to-end tests and the benchmark: it builds and starts the real
//! binaries (`gateway`, `kioskd`, `kioskctl`) as processes, gives each test fresh SQLite files or
//! a fresh PostgreSQL database, and talks to the gateway over real HTTP.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

/// Admin key every test gateway is started with.
pub const ADMIN_KEY: &str = "test-admin-key";
/// Enrolment key every test gateway is started with.
pub const ENROLLMENT_KEY: &str = "test-enrollment-key";

/// The folder holding the built binaries (target/debug or target/release).
pub fn bin_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            // target/<profile>/deps/<test> or target/<profile>/<bin>
            let mut dir = exe.parent().expect("exe folder").to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            let release = dir.ends_with("release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            // The test process carries the CARGO_* variables cargo set for it (package name,
            // manifest dir, ...). Build scripts that watch such variables would see them change
            // and rebuild, and the next `cargo test` would rebuild them back: keep them out.
            for (key, _) in std::env::vars_os() {
                let key = key.to_string_lossy().into_owned();
                if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
                    cmd.env_remove(&key);
                }
            }
            cmd.args([
                "build",
                "--quiet",
                "-p",
                "motcua-kiosk",
                "-p",
                "motcua-gateway",
                "--bins",
            ]);
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build for the binaries");
            assert!(status.success(), "building the binaries failed");
            dir
        })
        .clone()
}

/// Path of one of the project's binaries, built on first use.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
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

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills it with SIGKILL (a crash or power cut of the gateway host).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and data.
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

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))?)
}

/// A kiosk under test: its folder, config file and (when running) its kioskd process.
pub struct Kiosk {
    /// The kiosk's folder (config, data, logs).
    pub dir: PathBuf,
    /// The config file.
    pub config: PathBuf,
    daemon: Option<Child>,
}

/// Settings of a test kiosk that differ from the defaults.
#[derive(Clone)]
pub struct KioskSettings {
    /// Gateway URL.
    pub gateway_url: String,
    /// Bytes per PATCH, KiB.
    pub chunk_kib: u64,
    /// Upload cap, KiB/s (0 = none).
    pub max_rate_kib_per_s: u64,
    /// Free-disk floor, MB.
    pub min_free_mb: u64,
}

impl KioskSettings {
    /// Fast retries, no cap: what most tests want.
    pub fn new(gateway_url: &str) -> Self {
        Self {
            gateway_url: gateway_url.to_owned(),
            chunk_kib: 256,
            max_rate_kib_per_s: 0,
            min_free_mb: 1,
        }
    }
}

impl Kiosk {
    /// Writes a kiosk config under `dir`.
    pub fn create(dir: &Path, settings: &KioskSettings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let config = dir.join("kiosk.toml");
        std::fs::write(
            &config,
            format!(
                r#"[device]
id = "KIOSK-E2E-01"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 4999

[store]
data_dir = "{data}"
min_free_mb = {floor}

[gateway]
url = "{url}"

[uplink]
chunk_kib = {chunk}
max_rate_kib_per_s = {rate}
retry_initial_ms = 100
retry_max_ms = 1000
request_timeout_s = 5
poll_ms = 100
"#,
                data = dir.join("data").display(),
                floor = settings.min_free_mb,
                url = settings.gateway_url,
                chunk = settings.chunk_kib,
                rate = settings.max_rate_kib_per_s,
            ),
        )?;
        Ok(Self {
            dir: dir.to_owned(),
            config,
            daemon: None,
        })
    }

    /// A handle on an existing kiosk config (e.g. from another thread), without a daemon.
    pub fn attach(config: &Path) -> Self {
        Self {
            dir: config.parent().map(Path::to_path_buf).unwrap_or_default(),
            config: config.to_owned(),
            daemon: None,
        }
    }

    /// Runs kioskctl with this kiosk's config.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(Command::new(bin("kioskctl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()?)
    }

    /// Runs kioskctl and returns its stdout, failing with its stderr if it failed.
    pub fn ctl_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.ctl(args)?;
        if !out.status.success() {
            bail!(
                "kioskctl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// `kioskctl status --json`.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.ctl_ok(&["status", "--json"])?)?)
    }

    /// Starts kioskd.
    pub fn start_daemon(&mut self) -> anyhow::Result<()> {
        let child = Command::new(bin("kioskd"))
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file(&self.dir, "kioskd.log")?)
            .spawn()
            .context("start kioskd")?;
        self.daemon = Some(child);
        Ok(())
    }

    /// Kills kioskd with SIGKILL (a power cut of the kiosk).
    pub fn kill_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The kioskd process id, if running.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// kioskd's log so far.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kioskd.log")).unwrap_or_default()
    }

    /// The device token written by `kioskctl enroll`.
    pub fn token(&self) -> anyhow::Result<String> {
        Ok(
            std::fs::read_to_string(self.dir.join("data").join("gateway-token"))?
                .trim()
                .to_owned(),
        )
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        self.kill_daemon();
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout` with `what`.
pub fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `size` pseudo-random bytes to `path` and returns them.
pub fn random_file(path: &Path, size: usize) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![0u8; size];
    rand::fill(&mut bytes[..]);
    std::fs::write(path, &bytes)?;
    Ok(bytes)
}

/// Writes a dossier JSON for `kioskctl submit` with the given attachment files.
pub fn dossier_json(dir: &Path, procedure_code: &str, files: &[&str]) -> anyhow::Result<PathBuf> {
    let documents: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(i, f)| serde_json::json!({"name": format!("Giấy tờ {}", i + 1), "file": f}))
        .collect();
    let json = serde_json::json!({
        "procedure_code": procedure_code,
        "applicant": {
            "full_name": "Nguyễn Thị Phượng",
            "id_number": "094186000123",
            "address": "Phường 1, TP. Sóc Trăng",
            "phone": "0901234567"
        },
        "documents": documents
    });
    let path = dir.join("dossier.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?)?;
    Ok(path)
}
