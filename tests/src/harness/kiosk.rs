//! The kiosk under test: a folder with a `kiosk.toml` written from [`KioskSettings`], `kioskctl`
//! runs against it, and (when started) its `kioskd` process; plus the dossier files tests submit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use super::gateway::{Gateway, Pki};
use super::log_file;
use super::wait::wait_for;
use crate::bin;

/// A gateway URL where nothing listens (port 9, discard): a kiosk that is offline.
pub const NO_GATEWAY: &str = "https://127.0.0.1:9";

/// What a technician brings to enrol a kiosk with a gateway: the province's CA certificate and
/// the enrolment key, both as files.
#[derive(Clone, Debug)]
pub struct Enrolment {
    /// The CA certificate the kiosk will trust.
    pub ca_file: PathBuf,
    /// The file holding the enrolment key.
    pub key_file: PathBuf,
}

/// Settings of a test kiosk that differ from the defaults.
#[derive(Clone)]
pub struct KioskSettings {
    /// `[device] id` (it appears on printed test slips and queue tickets).
    pub device_id: String,
    /// Gateway URL.
    pub gateway_url: String,
    /// Bytes per PATCH, KiB.
    pub chunk_kib: u64,
    /// Upload cap, KiB/s (0 = none).
    pub max_rate_kib_per_s: u64,
    /// Free-disk floor, MB.
    pub min_free_mb: u64,
    /// Timeout of one gateway request, s.
    pub request_timeout_s: u64,
    /// More TOML appended to the config: peripherals, `[ui]`, … (see [`sections`]).
    pub extra_toml: String,
    /// How [`Kiosk::enroll`] enrols it (`None`: a kiosk without a gateway).
    pub enrolment: Option<Enrolment>,
}

impl KioskSettings {
    /// A kiosk of `gateway`, with fast retries and no cap: what most tests want.
    pub fn new(gateway: &Gateway) -> Self {
        let mut settings = Self::at_url(&gateway.url());
        settings.enrolment = Some(Enrolment {
            ca_file: gateway.pki.ca_cert(),
            key_file: gateway.enrollment_key_file(),
        });
        settings
    }

    /// A kiosk whose gateway is at `gateway_url` (a fake, or nothing), never enrolled through
    /// [`Kiosk::enroll`].
    pub fn at_url(gateway_url: &str) -> Self {
        Self {
            device_id: "KIOSK-E2E-01".to_owned(),
            gateway_url: gateway_url.to_owned(),
            chunk_kib: 256,
            max_rate_kib_per_s: 0,
            min_free_mb: 1,
            request_timeout_s: 5,
            extra_toml: String::new(),
            enrolment: None,
        }
    }

    /// A kiosk whose gateway cannot be reached ([`NO_GATEWAY`]).
    pub fn offline() -> Self {
        Self::at_url(NO_GATEWAY)
    }

    /// The same with another device id.
    pub fn device(mut self, id: &str) -> Self {
        id.clone_into(&mut self.device_id);
        self
    }

    /// The same with a config section appended (see [`sections`]).
    pub fn with(mut self, section: &str) -> Self {
        self.extra_toml.push('\n');
        self.extra_toml.push_str(section);
        self
    }

    /// The config file's text, with its data in `data_dir`.
    pub fn toml(&self, data_dir: &Path) -> String {
        format!(
            r#"[device]
id = "{id}"
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
request_timeout_s = {timeout}
poll_ms = 100
{extra}"#,
            id = self.device_id,
            data = data_dir.display(),
            floor = self.min_free_mb,
            url = self.gateway_url,
            chunk = self.chunk_kib,
            rate = self.max_rate_kib_per_s,
            timeout = self.request_timeout_s,
            extra = self.extra_toml,
        )
    }
}

/// Config sections of the simulated peripherals, for [`KioskSettings::with`].
pub mod sections {
    /// An 80 mm ESC/POS printer on TCP (the printer emulator's address).
    pub fn tcp_printer(address: &str) -> String {
        format!("[printer]\ntransport = \"tcp\"\naddress = \"{address}\"\npaper_mm = 80\n")
    }

    /// A serial code reader on `path` (a pseudo-terminal), lines ended by CR.
    pub fn serial_code_reader(path: &str) -> String {
        format!("[code_reader]\nkind = \"serial\"\npath = \"{path}\"\nterminator = \"cr\"\n")
    }

    /// SANE's test scanner at 200 dpi through `scanimage`, with extra `scanimage` options.
    pub fn sane_test_scanner(mode: &str, source: &str, options: &[&str]) -> String {
        let mut s = format!(
            "[scanner]\nkind = \"sane\"\ndevice = \"test\"\nresolution = 200\nmode = \"{mode}\"\nsource = \"{source}\"\n"
        );
        if !options.is_empty() {
            let quoted: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
            s.push_str(&format!("options = [{}]\n", quoted.join(", ")));
        }
        s
    }
}

/// A kiosk under test: its folder, config file and (when running) its kioskd process.
pub struct Kiosk {
    /// The kiosk's folder (config, data, logs).
    pub dir: PathBuf,
    /// The config file.
    pub config: PathBuf,
    daemon: Option<Child>,
}

impl Kiosk {
    /// Writes a kiosk config under `dir` (data in `dir/data`).
    pub fn create(dir: &Path, settings: &KioskSettings) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let config = dir.join("kiosk.toml");
        let mut text = settings.toml(&dir.join("data"));
        // Intake copies are signed before they are sent: unless the test brings its own
        // `[signing]` (a SoftHSM2 token), the kiosk signs with a demo key of a test CA.
        if !settings.extra_toml.contains("[signing]") {
            let ca = super::signing::TestCa::new(&dir.join("signing-ca"))?;
            let (key, cert) = super::signing::demo_key(&ca, dir, "Cán bộ thử nghiệm")?;
            text.push_str(&format!(
                "\n[signing]\ndemo_key = \"{}\"\ndemo_certificate = \"{}\"\n",
                key.display(),
                cert.display()
            ));
        }
        std::fs::write(&config, text)?;
        if let Some(e) = &settings.enrolment {
            std::fs::write(
                dir.join("enrolment.json"),
                serde_json::to_vec(&serde_json::json!({
                    "ca_file": e.ca_file,
                    "key_file": e.key_file,
                }))?,
            )?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            config,
            daemon: None,
        })
    }

    /// [`Kiosk::create`], then [`Kiosk::enroll`] with its gateway.
    pub fn enrolled(dir: &Path, settings: &KioskSettings) -> anyhow::Result<Self> {
        let kiosk = Self::create(dir, settings)?;
        kiosk.enroll()?;
        Ok(kiosk)
    }

    /// A handle on an existing kiosk config (e.g. from another thread), without a daemon.
    pub fn attach(config: &Path) -> Self {
        Self {
            dir: config.parent().map(Path::to_path_buf).unwrap_or_default(),
            config: config.to_owned(),
            daemon: None,
        }
    }

    /// The config as kioskd and kioskctl read it (for in-process screens).
    pub fn load_config(&self) -> anyhow::Result<motcua_kiosk::config::KioskConfig> {
        Ok(motcua_kiosk::config::KioskConfig::load(&self.config)?)
    }

    /// The kiosk's data folder (store, blobs, spool).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The lookup secret printed on the receipt of `code` (derived from the kiosk's data key,
    /// as kioskd prints it).
    pub fn lookup_secret(&self, code: &str) -> anyhow::Result<String> {
        let store = motcua_store::Store::open(&self.data_dir(), 0)?;
        Ok(store.lookup_secret(code).to_string())
    }

    /// `kioskctl enroll` with the CA certificate and enrolment key file of its gateway.
    pub fn enroll(&self) -> anyhow::Result<()> {
        let settings = std::fs::read_to_string(self.dir.join("enrolment.json"))
            .context("this kiosk was made without a gateway to enrol with")?;
        let e: serde_json::Value = serde_json::from_str(&settings)?;
        let ca = e["ca_file"].as_str().context("ca_file")?;
        let key = e["key_file"].as_str().context("key_file")?;
        self.ctl_ok(&["enroll", "--ca-file", ca, "--enrollment-key-file", key])
            .map(drop)
    }

    /// Installs a device identity signed by `pki` without enrolling (the gateway is a fake, or
    /// none): as if enrolled elsewhere.
    pub fn install_identity(&self, pki: &Pki, device_id: &str, site: &str) -> anyhow::Result<()> {
        let (identity, ca) = pki.offline_device_identity(device_id, site)?;
        let dir = self.data_dir().join("identity");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("device.pem"), identity)?;
        std::fs::write(dir.join("ca.crt"), ca)?;
        Ok(())
    }

    /// The kiosk's key and certificate (one PEM), as `kioskctl enroll` saved them.
    pub fn identity_pem(&self) -> anyhow::Result<Vec<u8>> {
        Ok(std::fs::read(
            self.data_dir().join("identity").join("device.pem"),
        )?)
    }

    /// Runs kioskctl with this kiosk's config.
    pub fn ctl(&self, args: &[&str]) -> anyhow::Result<Output> {
        Ok(Command::new(bin("kioskctl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()?)
    }

    /// Runs kioskctl with `stdin` as its input and `env` added to its environment.
    pub fn ctl_with(
        &self,
        args: &[&str],
        stdin: &[u8],
        env: &[(&str, &Path)],
    ) -> anyhow::Result<Output> {
        use std::io::Write;
        let mut child = Command::new(bin("kioskctl"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin)?;
        }
        Ok(child.wait_with_output()?)
    }

    /// The test CA of the kiosk's demo signing key (when the test brought no `[signing]`).
    pub fn signing_ca(&self) -> PathBuf {
        self.dir.join("signing-ca").join("ca.pem")
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

    /// `kioskctl submit FILE.json`: the code of the accepted dossier.
    pub fn submit(&self, json: &Path) -> anyhow::Result<String> {
        let path = json.to_str().context("dossier path is not UTF-8")?;
        Ok(self.ctl_ok(&["submit", path])?.trim().to_owned())
    }

    /// `kioskctl status --json`.
    pub fn status(&self) -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.ctl_ok(&["status", "--json"])?)?)
    }

    /// The outbox's last error, if an entry is failing.
    pub fn last_error(&self) -> anyhow::Result<Option<String>> {
        Ok(self.status()?["last_error"].as_str().map(str::to_owned))
    }

    /// Waits until nothing is pending in the outbox (everything delivered), or fails after
    /// `timeout` saying `what`, with kioskd's log.
    pub fn wait_delivered(&self, timeout: Duration, what: &str) -> anyhow::Result<()> {
        wait_for(timeout, what, || {
            Ok((self.status()?["pending"].as_u64() == Some(0)).then_some(()))
        })
        .map_err(|e| anyhow::anyhow!("{e}\nkioskd log:\n{}", self.daemon_log()))
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
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        self.kill_daemon();
    }
}

/// Writes `size` pseudo-random bytes to `path` and returns them.
pub fn random_file(path: &Path, size: usize) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![0u8; size];
    rand::fill(&mut bytes[..]);
    std::fs::write(path, &bytes)?;
    Ok(bytes)
}

/// Writes `dir/dossier.json` for `kioskctl submit` with the given attachment files (relative to
/// `dir`).
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
