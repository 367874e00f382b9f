//! Provisioning under test: a gateway started with its provisioning key, a profiles folder and
//! its public URL, setup codes issued by the real `gateway provision` command, and fresh kiosks
//! that only have the package's bootstrap config (`[store]`, `[provisioning]`, peripherals).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use super::gateway::Gateway;
use super::kiosk::Kiosk;
use crate::bin;

/// The site every provisioning test uses.
pub const SITE: &str = "000.17.22.H56";

/// A gateway able to provision kiosks.
pub struct ProvisioningGateway {
    /// The gateway process.
    pub gateway: Gateway,
    /// Its data folder.
    pub data_dir: PathBuf,
    /// Its profiles folder (`<name>.toml`).
    pub profiles_dir: PathBuf,
    /// Its public `https://` address (what setup codes name).
    pub public_url: String,
    block_size: u16,
}

impl ProvisioningGateway {
    /// Starts a gateway in `data_dir` with the profiles `(name, toml)` and sequence blocks of
    /// `block_size` numbers.
    pub fn start(
        data_dir: &Path,
        profiles: &[(&str, &str)],
        block_size: u16,
    ) -> anyhow::Result<Self> {
        Self::start_with(data_dir, profiles, block_size, &[])
    }

    /// [`ProvisioningGateway::start`] with more `gateway serve` options.
    pub fn start_with(
        data_dir: &Path,
        profiles: &[(&str, &str)],
        block_size: u16,
        extra_args: &[&str],
    ) -> anyhow::Result<Self> {
        let profiles_dir = data_dir.join("profiles");
        std::fs::create_dir_all(&profiles_dir)?;
        for (name, text) in profiles {
            std::fs::write(profiles_dir.join(format!("{name}.toml")), text)?;
        }
        // The public URL is written in the codes, so the port is chosen first.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let public_url = format!("https://127.0.0.1:{port}");
        let key = data_dir.join("pki").join("provisioning.key");
        let size = block_size.to_string();
        let mut args = vec![
            "--provisioning-key-file",
            key.to_str().context("path")?,
            "--profiles-dir",
            profiles_dir.to_str().context("path")?,
            "--public-url",
            &public_url,
            "--sequence-block-size",
            &size,
        ];
        args.extend_from_slice(extra_args);
        let gateway = Gateway::start_with(data_dir, None, port, &args)?;
        Ok(Self {
            gateway,
            data_dir: data_dir.to_owned(),
            profiles_dir,
            public_url,
            block_size,
        })
    }

    /// The provisioning public key line kiosks are installed with (`gateway provision key`).
    pub fn public_key(&self) -> anyhow::Result<String> {
        let out = Command::new(bin("gateway"))
            .args(["provision", "key", "--dir"])
            .arg(&self.gateway.pki.dir)
            .output()?;
        if !out.status.success() {
            bail!(
                "gateway provision key failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// Issues `count` setup codes for `profile` at [`SITE`] with `gateway provision` (the sheet
    /// PDF beside them); returns the codes' texts.
    pub fn issue(&self, profile: &str, count: u32, out_dir: &Path) -> anyhow::Result<Vec<String>> {
        std::fs::create_dir_all(out_dir)?;
        let codes = out_dir.join("codes.txt");
        let out = Command::new(bin("gateway"))
            .args(["provision", "--site", SITE, "--profile", profile])
            .args(["--count", &count.to_string(), "--out"])
            .arg(out_dir.join("sheet.pdf"))
            .arg("--codes-out")
            .arg(&codes)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--ca-cert-file")
            .arg(self.gateway.pki.ca_cert())
            .arg("--provisioning-key-file")
            .arg(self.gateway.pki.dir.join("provisioning.key"))
            .arg("--profiles-dir")
            .arg(&self.profiles_dir)
            .args(["--public-url", &self.public_url])
            .args(["--sequence-block-size", &self.block_size.to_string()])
            .output()
            .context("run gateway provision")?;
        if !out.status.success() {
            bail!(
                "gateway provision failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(std::fs::read_to_string(&codes)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect())
    }
}

/// A fresh kiosk under `dir`: only the package's bootstrap config (data in `dir/data`), the
/// provisioning public key in `dir/provisioning.pub`, and `extra_toml` (peripherals).
pub fn fresh_kiosk(dir: &Path, public_key: &str, extra_toml: &str) -> anyhow::Result<Kiosk> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("provisioning.pub"),
        format!("# motcua provisioning key\n{public_key}\n"),
    )?;
    let config = dir.join("kiosk.toml");
    std::fs::write(
        &config,
        format!(
            "# A fresh box: [device] and [gateway] come from the setup code.\n\
             [store]\ndata_dir = \"{}\"\nmin_free_mb = 1\n\n\
             [provisioning]\nkey_file = \"{}\"\n\n{extra_toml}",
            dir.join("data").display(),
            dir.join("provisioning.pub").display()
        ),
    )?;
    Ok(Kiosk::attach(&config))
}
