//! Which configuration a kiosk runs on, and the bootstrap config of a fresh box.
//!
//! The package installs `/etc/motcua/kiosk.toml` without `[device]` or `[gateway]`: who the
//! kiosk is and where its gateway is come from the setup code a technician scans, and the rest
//! of the desk's settings from the province's profile. Provisioning writes the result to
//! `<data_dir>/kiosk.toml` ([`PROVISIONED_FILE`]), so the package's file is never rewritten
//! (an upgrade replaces it freely) and the provisioned one lives with the data it belongs to.
//!
//! [`resolve`] is the one place that decides, for kioskd and kioskctl alike:
//! - the file has `[device]`: a hand-configured kiosk (legacy boxes, the demo), used as it is;
//! - else `<data_dir>/kiosk.toml` exists: the provisioned config;
//! - else the kiosk is unprovisioned and waits for a setup code, with the bootstrap's
//!   `[store]`, peripherals and `[provisioning]` key.

use std::path::{Path, PathBuf};

use motcua_identity::setup_code::TrustedProvisioningKey;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, KioskConfig, Located, RawStore, StoreConfig};
use crate::devices::{PeripheralsConfig, RawCodeReader, RawPrinter, RawScanner};

/// The provisioned config's name inside the data folder.
pub const PROVISIONED_FILE: &str = "kiosk.toml";
/// Where the package puts the provisioning public key.
pub const DEFAULT_KEY_FILE: &str = "/etc/motcua/provisioning.pub";

/// What a kiosk runs on.
#[derive(Debug)]
pub enum Resolved {
    /// A complete config: hand-configured, or written by provisioning (the path says which).
    Provisioned(Box<KioskConfig>, PathBuf),
    /// No `[device]` and nothing provisioned yet: waiting for a setup code.
    Unprovisioned(Box<BootstrapConfig>),
}

/// A fresh box's config: enough to read a setup code, check it and store what it brings.
#[derive(Debug, Clone)]
pub struct BootstrapConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// Its text (peripheral tables the profile lacks are carried over from it).
    pub text: String,
    /// Local storage (also the provisioned config's `[store]`).
    pub store: StoreConfig,
    /// The peripherals of the bootstrap (the code reader reads the setup code).
    pub peripherals: PeripheralsConfig,
    /// The provisioning public key setup codes must be signed with.
    pub key: TrustedProvisioningKey,
    /// Whether the file has `[device]` (a hand-configured kiosk, not to be provisioned).
    pub hand_configured: bool,
}

#[derive(Deserialize)]
struct RawBootstrap {
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    printer: RawPrinter,
    #[serde(default)]
    code_reader: RawCodeReader,
    #[serde(default)]
    scanner: RawScanner,
    #[serde(default)]
    provisioning: RawProvisioning,
    device: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawProvisioning {
    key_file: Option<Spanned<PathBuf>>,
    key: Option<Spanned<String>>,
}

impl BootstrapConfig {
    /// The provisioned config of this box (`<data_dir>/kiosk.toml`).
    pub fn provisioned_path(&self) -> PathBuf {
        self.store.data_dir.join(PROVISIONED_FILE)
    }

    /// Reads a bootstrap config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses bootstrap text; `path` names it in errors (and resolves a relative `key_file`).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let at = Located {
            origin: &origin,
            text,
        };
        let raw: RawBootstrap = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim_end();
            match at.key_at(span.start) {
                Some(key) => at.error(span, format!("{key}: {message}")),
                None => at.error(span, message.to_owned()),
            }
        })?;
        let peripherals = PeripheralsConfig::from_raw(raw.printer, raw.code_reader, raw.scanner)
            .map_err(|(span, message)| at.error(span, message))?;
        let table_at = text.find("[provisioning]").unwrap_or(0);
        let key = match (raw.provisioning.key, raw.provisioning.key_file) {
            (Some(inline), _) => inline
                .get_ref()
                .parse()
                .map_err(|e| at.error(inline.span(), format!("provisioning.key: {e}")))?,
            (None, file) => {
                let (span, file) = match file {
                    Some(f) => (f.span(), f.into_inner()),
                    None => (table_at..table_at, PathBuf::from(DEFAULT_KEY_FILE)),
                };
                let file = match path.parent() {
                    Some(dir) if file.is_relative() => dir.join(file),
                    _ => file,
                };
                let content = std::fs::read_to_string(&file).map_err(|e| {
                    at.error(
                        span.clone(),
                        format!(
                            "provisioning.key_file: không đọc được khoá cấu hình / cannot read the provisioning key {}: {e}",
                            file.display()
                        ),
                    )
                })?;
                content.parse().map_err(|e| {
                    at.error(
                        span,
                        format!("provisioning.key_file {}: {e}", file.display()),
                    )
                })?
            }
        };
        Ok(Self {
            path: path.to_owned(),
            text: text.to_owned(),
            store: StoreConfig {
                data_dir: raw.store.data_dir,
                min_free_bytes: raw.store.min_free_mb.saturating_mul(1024 * 1024),
            },
            peripherals,
            key,
            hand_configured: raw.device.is_some(),
        })
    }

    /// The bootstrap's `[store]`, `[printer]`, `[code_reader]` and `[scanner]` tables as TOML
    /// text, leaving out the tables named in `skip` (those the profile sets itself).
    pub fn carried_tables(&self, skip: &[&str]) -> String {
        self.carried_tables_but(skip)
    }

    /// Which of the peripheral tables (`[printer]`, `[code_reader]`, `[scanner]`) this file
    /// sets: the box's own devices, which win over a profile's.
    pub fn box_tables(&self) -> Vec<&'static str> {
        let Ok(table) = self.text.parse::<toml::Table>() else {
            return Vec::new();
        };
        ["printer", "code_reader", "scanner"]
            .into_iter()
            .filter(|name| table.contains_key(*name))
            .collect()
    }

    fn carried_tables_but(&self, skip: &[&str]) -> String {
        let Ok(table) = self.text.parse::<toml::Table>() else {
            return String::new();
        };
        let mut out = String::new();
        for name in ["store", "printer", "code_reader", "scanner"] {
            if skip.contains(&name) {
                continue;
            }
            if let Some(value) = table.get(name) {
                let mut one = toml::Table::new();
                one.insert(name.to_owned(), value.clone());
                if let Ok(text) = toml::to_string(&one) {
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// Decides what the kiosk runs on (see the module doc). Errors point at the file and line.
pub fn resolve(path: &Path) -> Result<Resolved, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let has_device = text
        .parse::<toml::Table>()
        .map(|t| t.contains_key("device"))
        // A syntax error is reported, at its line, by the full parse.
        .unwrap_or(true);
    if has_device {
        let config = KioskConfig::parse(&text, &path.display().to_string())?;
        return Ok(Resolved::Provisioned(Box::new(config), path.to_owned()));
    }
    let bootstrap = BootstrapConfig::parse(&text, path)?;
    let provisioned = bootstrap.provisioned_path();
    if provisioned.is_file() {
        let config = KioskConfig::load(&provisioned)?;
        return Ok(Resolved::Provisioned(Box::new(config), provisioned));
    }
    Ok(Resolved::Unprovisioned(Box::new(bootstrap)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    #[test]
    fn a_file_without_device_is_a_bootstrap_until_provisioned() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let cfg = dir.path().join("kiosk.toml");
        std::fs::write(
            dir.path().join("provisioning.pub"),
            format!("# key\n{KEY}\n"),
        )
        .unwrap();
        std::fs::write(
            &cfg,
            format!(
                "[store]\ndata_dir = {:?}\n\n[provisioning]\nkey_file = \"provisioning.pub\"\n\n[code_reader]\nkind = \"serial\"\npath = \"/dev/ttyACM0\"\n",
                data.display()
            ),
        )
        .unwrap();
        let Resolved::Unprovisioned(b) = resolve(&cfg).unwrap() else {
            panic!("expected unprovisioned");
        };
        assert_eq!(b.provisioned_path(), data.join("kiosk.toml"));
        assert!(b.peripherals.code_reader.is_some());
        let carried = b.carried_tables(&["printer"]);
        assert!(
            carried.contains("[store]") && carried.contains("[code_reader]"),
            "{carried}"
        );
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            data.join("kiosk.toml"),
            "[device]\nid = \"K1\"\nagency_code = \"000.17.22.H56\"\n[gateway]\nurl = \"https://g\"\n",
        )
        .unwrap();
        match resolve(&cfg).unwrap() {
            Resolved::Provisioned(c, p) => {
                assert_eq!(c.device.id, "K1");
                assert!(c.device.sequence.is_none());
                assert_eq!(p, data.join("kiosk.toml"));
            }
            other => panic!("expected provisioned, got {other:?}"),
        }
    }

    #[test]
    fn key_errors_point_at_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kiosk.toml");
        std::fs::write(
            &cfg,
            "[store]\ndata_dir = \"/tmp/x\"\n[provisioning]\nkey = \"rsa:abc\"\n",
        )
        .unwrap();
        let err = resolve(&cfg).unwrap_err().to_string();
        assert!(
            err.contains("kiosk.toml:4:") && err.contains("provisioning.key"),
            "{err}"
        );
        std::fs::write(&cfg, "[provisioning]\nkey_file = \"/nonexistent.pub\"\n").unwrap();
        let err = resolve(&cfg).unwrap_err().to_string();
        assert!(
            err.contains(":2:") && err.contains("/nonexistent.pub"),
            "{err}"
        );
    }
}
