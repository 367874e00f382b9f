//! The provisioned config file, `<data_dir>/kiosk.toml`: composed from the setup code (who
//! and where), the bootstrap (`[store]`, and the peripheral tables the profile does not set:
//! the serial port of this box's code reader is the box's, not the province's) and the
//! profile's text; validated with the kiosk's own parser before it replaces anything, and
//! written atomically (temporary file, fsync, rename, folder fsync), so kioskd never reads a
//! half-written or invalid config.
//!
//! Its first lines say which profile it was made from (`# motcua-profile: NAME SHA256`), so a
//! re-run of provisioning recognises a config already written for the same device and profile.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{BootstrapConfig, ConfigError, KioskConfig};

const PROFILE_MARK: &str = "# motcua-profile: ";
const DEVICE_MARK: &str = "# motcua-device: ";

/// Who the config is for and what it is made of.
#[derive(Debug, Clone)]
pub struct ConfigParts<'a> {
    /// The device id.
    pub device_id: &'a str,
    /// The site (agency code).
    pub site: &'a str,
    /// The gateway's `https://` address.
    pub gateway_url: &'a str,
    /// The profile's name.
    pub profile_name: &'a str,
    /// Its SHA-256.
    pub profile_sha256: &'a str,
    /// Its TOML text.
    pub profile_toml: &'a str,
}

/// Why the config could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The profile's text is not a valid part of a kiosk config.
    #[error("hồ sơ cấu hình {profile} không hợp lệ, dòng {line} / the profile {profile} is not valid at its line {line}: {message}")]
    InvalidProfile {
        /// The profile's name.
        profile: String,
        /// 1-based line in the profile's text.
        line: usize,
        /// What the kiosk's parser said.
        message: String,
    },
    /// The composed config is invalid outside the profile (the bootstrap's tables).
    #[error("the composed config is not valid: {0}")]
    Invalid(ConfigError),
    /// The file cannot be written.
    #[error("không ghi được cấu hình / cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The config text for `parts`, and the line (0-based) where the profile's text begins.
pub fn compose(bootstrap: &BootstrapConfig, parts: &ConfigParts<'_>) -> (String, usize) {
    let profile_tables: Vec<String> = parts
        .profile_toml
        .parse::<toml::Table>()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let skip: Vec<&str> = profile_tables.iter().map(String::as_str).collect();
    let quoted = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut text = format!(
        "# Ghi bởi bước cấu hình ban đầu, đừng sửa tay / written by provisioning, do not edit:\n\
         # scan a new setup code (kioskctl provision) or ask for refresh_config instead.\n\
         {PROFILE_MARK}{} {}\n\
         {DEVICE_MARK}{}\n\n\
         [device]\nid = {}\nagency_code = {}\n\n[gateway]\nurl = {}\n\n",
        parts.profile_name,
        parts.profile_sha256,
        parts.device_id,
        quoted(parts.device_id),
        quoted(parts.site),
        quoted(parts.gateway_url),
    );
    text.push_str(&bootstrap.carried_tables(&skip));
    text.push_str(&format!(
        "# --- hồ sơ / profile {} ---\n",
        parts.profile_name
    ));
    let offset = text.lines().count();
    text.push_str(parts.profile_toml);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    (text, offset)
}

/// Composes, validates and writes the config; returns it parsed and its path.
pub fn write(
    bootstrap: &BootstrapConfig,
    parts: &ConfigParts<'_>,
) -> Result<(KioskConfig, PathBuf), ConfigFileError> {
    let path = bootstrap.provisioned_path();
    let (text, offset) = compose(bootstrap, parts);
    let config = match KioskConfig::parse(&text, &path.display().to_string()) {
        Ok(c) => c,
        Err(ConfigError::Invalid { line, message, .. }) if line > offset => {
            return Err(ConfigFileError::InvalidProfile {
                profile: parts.profile_name.to_owned(),
                line: line - offset,
                message,
            })
        }
        Err(e) => return Err(ConfigFileError::Invalid(e)),
    };
    write_atomically(&path, text.as_bytes()).map_err(|source| ConfigFileError::Write {
        path: path.clone(),
        source,
    })?;
    Ok((config, path))
}

/// The device and profile hash a provisioned config was written for, if it is one.
pub fn written_for(path: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut device = None;
    let mut profile = None;
    for line in text.lines().take(6) {
        if let Some(rest) = line.strip_prefix(DEVICE_MARK) {
            device = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix(PROFILE_MARK) {
            profile = rest.split_whitespace().nth(1).map(str::to_owned);
        }
    }
    Some((device?, profile?))
}

/// Writes `bytes` to `path` through a temporary file in the same folder: fsynced, renamed,
/// the folder fsynced. A crash leaves the old file or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".kiosk.toml.")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bootstrap(dir: &Path) -> BootstrapConfig {
        let text = format!(
            "[store]\ndata_dir = {:?}\n[provisioning]\nkey = \"ed25519:11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"\n[printer]\ntransport = \"tcp\"\naddress = \"127.0.0.1:9100\"\n",
            dir.display()
        );
        BootstrapConfig::parse(&text, &dir.join("boot.toml")).unwrap()
    }

    fn parts(profile: &str) -> ConfigParts<'_> {
        ConfigParts {
            device_id: "000.17.22.H56-K001",
            site: "000.17.22.H56",
            gateway_url: "https://gw.example:8700",
            profile_name: "commune-desk",
            profile_sha256: "ab12",
            profile_toml: profile,
        }
    }

    #[test]
    fn the_config_is_composed_validated_and_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let b = bootstrap(dir.path());
        let (config, path) = write(&b, &parts("[rating]\nlevels = 3\n")).unwrap();
        assert_eq!(config.device.id, "000.17.22.H56-K001");
        assert_eq!(config.device.agency_code, "000.17.22.H56");
        assert!(config.device.sequence.is_none());
        assert!(
            config.peripherals.printer.is_some(),
            "carried from the bootstrap"
        );
        assert_eq!(config.store.data_dir, dir.path());
        assert_eq!(
            written_for(&path),
            Some(("000.17.22.H56-K001".into(), "ab12".into()))
        );
    }

    #[test]
    fn the_gateways_example_profile_makes_a_valid_config() {
        let dir = tempfile::tempdir().unwrap();
        let b = bootstrap(dir.path());
        let profile = include_str!("../../../deploy/gateway/profiles/commune-desk.toml");
        let (config, _) = write(&b, &parts(profile)).unwrap();
        assert!(config.peripherals.code_reader.is_some());
        assert!(config.device.sequence.is_none());
    }

    #[test]
    fn an_invalid_profile_is_named_with_its_line_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let b = bootstrap(dir.path());
        let err = write(
            &b,
            &parts("[rating]\nlevels = 3\n\n[uplink]\nchunk_kib = 1\n"),
        )
        .unwrap_err();
        match &err {
            ConfigFileError::InvalidProfile { profile, line, .. } => {
                assert_eq!((profile.as_str(), *line), ("commune-desk", 5), "{err}");
            }
            other => panic!("expected an invalid profile, got {other}"),
        }
        assert!(!b.provisioned_path().exists());
        // A profile's [printer] replaces the bootstrap's.
        let (config, _) = write(
            &b,
            &parts("[printer]\ntransport = \"usb\"\npath = \"/tmp/p\"\n"),
        )
        .unwrap();
        assert!(format!("{:?}", config.peripherals.printer).contains("/tmp/p"));
    }
}
