//! The machinery of the load benchmark (`bench-load`): a PostgreSQL server and an S3 server
//! (s3s-fs) of its own unless the test environment names them, a lab PKI made with the real
//! `gateway ca init`, N `gateway serve` processes on one database and one bucket (as behind a
//! load balancer), and kiosks enrolled through the uplink's own enrolment code. All real
//! processes on this machine; nothing here is timed.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use motcua_uplink::credentials::enroll;
use motcua_uplink::{DeviceCredential, GatewayClient, IdentityFiles, TrustAnchor};
use tokio::io::AsyncBufReadExt;

use super::gateway::{fresh_postgres_database, ENROLLMENT_KEY};
use super::log_file;

/// The `gateway` binary: `MOTCUA_BENCH_GATEWAY` if set, else the one beside this binary (a
/// `--release` benchmark uses the release gateway).
pub fn gateway_binary() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("MOTCUA_BENCH_GATEWAY") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()?.with_file_name("gateway"),
    };
    if !path.exists() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p motcua-gateway`",
            path.display()
        );
    }
    Ok(path)
}

/// A free TCP port on 127.0.0.1 (taken by the server started next).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether this process runs as root (PostgreSQL then runs as the `postgres` user).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL server: `MOTCUA_TEST_DATABASE_URL`'s, or one started here (stopped on drop).
pub struct Postgres {
    /// The server's URL (its `postgres` database).
    pub url: String,
    own: Option<(PathBuf, PathBuf)>,
}

impl Postgres {
    /// The environment's server, or a throwaway one in `dir` (initdb, trust on 127.0.0.1).
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        if let Ok(url) = std::env::var("MOTCUA_TEST_DATABASE_URL") {
            if !url.is_empty() {
                return Ok(Self { url, own: None });
            }
        }
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL is not installed (scripts/install-deps.sh installs it)")?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .ok_or_else(|| anyhow!("no initdb under /usr/lib/postgresql"))?;
        let data = dir.join("pg");
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        let root = is_root();
        let run = |args: &[&str]| -> anyhow::Result<()> {
            let mut cmd = if root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]);
                c
            } else {
                Command::new(args[0])
            };
            let args = if root { args } else { &args[1..] };
            let out = cmd.args(args).output()?;
            if !out.status.success() {
                bail!("{args:?}: {}", String::from_utf8_lossy(&out.stderr));
            }
            Ok(())
        };
        if root {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir)
                .status()?;
            if !status.success() {
                bail!("chown {} to postgres failed", dir.display());
            }
        }
        let (initdb, pg_ctl) = (bin.join("initdb"), bin.join("pg_ctl"));
        let (initdb, pg_ctl, data_s) = (
            initdb.to_string_lossy().into_owned(),
            pg_ctl.to_string_lossy().into_owned(),
            data.to_string_lossy().into_owned(),
        );
        run(&[
            &initdb,
            "-D",
            &data_s,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ])?;
        let port = free_port()?;
        let log = dir.join("postgres.log").to_string_lossy().into_owned();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
            dir.display()
        );
        run(&[
            &pg_ctl, "-D", &data_s, "-l", &log, "-w", "-o", &options, "start",
        ])?;
        Ok(Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            own: Some((PathBuf::from(pg_ctl), data)),
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((pg_ctl, data)) = &self.own {
            let mut cmd = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(pg_ctl);
                c
            } else {
                Command::new(pg_ctl)
            };
            let _ = cmd
                .arg("-D")
                .arg(data)
                .args(["-m", "fast", "stop"])
                .output();
        }
    }
}

/// An S3-compatible server: the environment's (`MOTCUA_TEST_S3_ENDPOINT`, `_ROOT`,
/// `_CREDENTIALS_FILE`, as scripts/test.sh sets them) or an `s3s-fs` started here.
pub struct S3 {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The folder its buckets are in (a bucket is a folder).
    pub root: PathBuf,
    /// The 0600 TOML file with the access key the gateways read.
    pub credentials_file: PathBuf,
    child: Option<Child>,
}

impl S3 {
    /// The environment's server, or a new `s3s-fs` with its root under `dir`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        if let (Some(endpoint), Some(root), Some(creds)) = (
            var("MOTCUA_TEST_S3_ENDPOINT"),
            var("MOTCUA_TEST_S3_ROOT"),
            var("MOTCUA_TEST_S3_CREDENTIALS_FILE"),
        ) {
            return Ok(Self {
                endpoint,
                root: root.into(),
                credentials_file: creds.into(),
                child: None,
            });
        }
        let root = dir.join("s3");
        std::fs::create_dir_all(&root)?;
        let secret = format!("{:032x}", rand::random::<u128>());
        let credentials_file = dir.join("s3-credentials.toml");
        std::fs::write(
            &credentials_file,
            format!("access_key_id = \"bench\"\nsecret_access_key = \"{secret}\"\n"),
        )?;
        std::fs::set_permissions(&credentials_file, std::fs::Permissions::from_mode(0o600))?;
        let port = free_port()?;
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", "bench", "--secret-key", &secret])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(log_file(dir, "s3s-fs.log")?)
            .spawn()
            .context("start s3s-fs (scripts/install-deps.sh installs it)")?;
        let s3 = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
            credentials_file,
            child: Some(child),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(s3);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("s3s-fs did not listen on port {port}")
    }

    /// A new, empty bucket.
    pub fn bucket(&self) -> anyhow::Result<String> {
        let name = format!("bench-{:012x}", rand::random::<u64>() >> 16);
        std::fs::create_dir_all(self.root.join(&name))?;
        Ok(name)
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What every gateway instance of a run shares: the lab PKI, the enrolment and lookup keys.
pub struct Shared {
    /// Where they are.
    pub dir: PathBuf,
    gateway: PathBuf,
}

impl Shared {
    /// Makes the PKI with `gateway ca init` and the key files in `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        let gateway = gateway_binary()?;
        std::fs::create_dir_all(dir)?;
        let out = Command::new(&gateway)
            .args(["ca", "init", "--dir"])
            .arg(dir.join("pki"))
            .args(["--host", "127.0.0.1", "--name", "motcua bench CA"])
            .output()
            .context("run gateway ca init")?;
        if !out.status.success() {
            bail!("gateway ca init: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::write(dir.join("enrollment.key"), format!("{ENROLLMENT_KEY}\n"))?;
        let lookup = dir.join("lookup.key");
        std::fs::write(&lookup, format!("{:064x}\n", rand::random::<u128>()))?;
        std::fs::set_permissions(&lookup, std::fs::Permissions::from_mode(0o600))?;
        Ok(Self {
            dir: dir.to_owned(),
            gateway,
        })
    }

    /// A client holding a `role` certificate (issued by `gateway ca issue` the first time).
    pub fn role_client(&self, role: &str) -> anyhow::Result<reqwest::Client> {
        let pki = self.dir.join("pki");
        let prefix = self.dir.join(format!("role-{role}"));
        if !prefix.with_extension("crt").exists() {
            let out = Command::new(&self.gateway)
                .args(["ca", "issue", "--dir"])
                .arg(&pki)
                .args(["--role", role, "--name", &format!("bench {role}"), "--out"])
                .arg(&prefix)
                .output()
                .context("run gateway ca issue")?;
            if !out.status.success() {
                bail!("gateway ca issue: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        let mut pem = std::fs::read(prefix.with_extension("key"))?;
        pem.extend(std::fs::read(prefix.with_extension("crt"))?);
        let ca = reqwest::Certificate::from_pem(&std::fs::read(pki.join("ca.crt"))?)?;
        Ok(reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(reqwest::Identity::from_pem(&pem)?)
            .timeout(Duration::from_secs(60))
            .build()?)
    }

    /// The kiosks' trust anchor (the CA certificate).
    pub fn anchor(&self) -> anyhow::Result<TrustAnchor> {
        let path = self.dir.join("pki/ca.crt");
        Ok(TrustAnchor::from_pem(
            &std::fs::read_to_string(&path)?,
            &path.to_string_lossy(),
        )?)
    }
}

/// One `gateway serve` process (killed on drop).
pub struct Instance {
    child: tokio::process::Child,
    /// `https://127.0.0.1:PORT`.
    pub base: String,
}

impl Instance {
    /// Starts a gateway on `database_url` and `bucket`, its data folder and log in `data_dir`.
    pub async fn spawn(
        shared: &Shared,
        data_dir: &Path,
        database_url: &str,
        s3: &S3,
        bucket: &str,
    ) -> anyhow::Result<Self> {
        let pki = shared.dir.join("pki");
        std::fs::create_dir_all(data_dir)?;
        let mut child = tokio::process::Command::new(&shared.gateway)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--enrollment-key-file")
            .arg(shared.dir.join("enrollment.key"))
            .arg("--lookup-key-file")
            .arg(shared.dir.join("lookup.key"))
            .arg("--tls-cert-file")
            .arg(pki.join("tls.crt"))
            .arg("--tls-key-file")
            .arg(pki.join("tls.key"))
            .arg("--ca-cert-file")
            .arg(pki.join("ca.crt"))
            .arg("--ca-key-file")
            .arg(pki.join("ca.key"))
            .args(["--database-url", database_url])
            .args(["--s3-endpoint", &s3.endpoint, "--s3-bucket", bucket])
            .arg("--s3-credentials-file")
            .arg(&s3.credentials_file)
            .stdout(Stdio::piped())
            .stderr(log_file(data_dir, "gateway.log")?)
            .kill_on_drop(true)
            .spawn()
            .context("start gateway serve")?;
        let stdout = child.stdout.take().context("gateway stdout")?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(60),
            tokio::io::BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .context("the gateway did not start within 60 s")??;
        let addr = line
            .trim()
            .strip_prefix("gateway listening on ")
            .ok_or_else(|| {
                let log = std::fs::read_to_string(data_dir.join("gateway.log")).unwrap_or_default();
                anyhow!("the gateway did not start: {line:?}\n{log}")
            })?;
        Ok(Self {
            child,
            base: format!("https://{addr}"),
        })
    }

    /// Stops it (SIGKILL: the benchmark's data is thrown away).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A fresh database on the server, for one run.
pub async fn fresh_database(pg: &Postgres) -> anyhow::Result<String> {
    fresh_postgres_database(&pg.url).await
}

/// Enrols kiosk `device_id` at `site` through `gateway_url` with the uplink's own enrolment
/// (key pair made here, CSR, certificate checked and saved under `dir`); its credential.
pub async fn enroll_kiosk(
    gateway_url: &str,
    anchor: &TrustAnchor,
    dir: &Path,
    device_id: &str,
    site: &str,
) -> anyhow::Result<DeviceCredential> {
    let files = IdentityFiles::in_data_dir(dir);
    enroll(
        gateway_url,
        Duration::from_secs(60),
        &files,
        anchor,
        device_id,
        site,
        ENROLLMENT_KEY,
    )
    .await
    .with_context(|| format!("enrol {device_id}"))?;
    Ok(files.device()?)
}

/// The kiosk's client of one gateway instance (mutual TLS with its certificate).
pub fn kiosk_client(
    base: &str,
    anchor: &TrustAnchor,
    credential: &DeviceCredential,
) -> anyhow::Result<GatewayClient> {
    Ok(GatewayClient::new(
        base,
        anchor,
        Some(credential),
        Duration::from_secs(120),
    )?)
}
