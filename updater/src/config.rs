//! `/etc/motcua/updater.toml`: where kioskd's spool and data are, the release public key, which
//! unit runs kioskd, and how long a new version has to prove itself. Every key is optional (the
//! defaults are the package's layout); an unknown key or a bad value is an error naming the
//! file and line, so a technician's typo never turns health gating off silently.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why the config cannot be used (Vietnamese first).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("không đọc được {path} / cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A syntax error or a bad value, with its line.
    #[error("{path}:{line}: cấu hình sai / bad setting: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Its line (1-based; 0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The updater's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdaterConfig {
    /// kioskd's data folder (`/var/lib/motcua`): the store and the spool `update/` are in it.
    pub data_dir: PathBuf,
    /// The updater's own root-only folder: verified packages, the kept previous package, the
    /// store's copy from before an update, the in-progress record.
    pub work_dir: PathBuf,
    /// The release public key (`ed25519:…`), the same the kiosk's `[update]` names.
    pub release_public_key_file: PathBuf,
    /// The Debian package updated (`motcua-kiosk`).
    pub package: String,
    /// The units that may run kioskd, in order of preference: the first one active (or else
    /// enabled) is the one gated.
    pub units: Vec<String>,
    /// How long the new version has to reach READY=1 after dpkg finished.
    pub ready_within: Duration,
    /// How long it must then stay up (same process, no restart) to be committed.
    pub healthy_for: Duration,
}

impl Default for UpdaterConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/motcua"),
            work_dir: PathBuf::from("/var/lib/motcua-updater"),
            release_public_key_file: PathBuf::from("/etc/motcua/release.pub"),
            package: "motcua-kiosk".into(),
            units: vec![
                "motcua-kioskd.service".into(),
                "motcua-kioskd-screen.service".into(),
            ],
            ready_within: Duration::from_secs(180),
            healthy_for: Duration::from_secs(300),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    work_dir: Option<PathBuf>,
    release_public_key_file: Option<PathBuf>,
    package: Option<String>,
    units: Option<Vec<String>>,
    ready_within_secs: Option<u64>,
    healthy_for_secs: Option<u64>,
}

impl UpdaterConfig {
    /// Reads `path`; a missing file is the defaults (the package ships it commented out).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Reads the text of a config file named `path` (for its errors).
    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            line: e.span().map(|s| line_of(s.start)).unwrap_or(0),
            message: e.message().to_owned(),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line: text
                .lines()
                .position(|l| l.trim_start().starts_with(key))
                .map(|i| i + 1)
                .unwrap_or(0),
            message: format!("{key}: {message}"),
        };
        let d = Self::default();
        let secs = |key: &str, v: Option<u64>, default: Duration| match v {
            None => Ok(default),
            Some(0) => Err(invalid(key, "must be at least 1 second".into())),
            Some(s) if s > 86_400 => Err(invalid(key, "must be at most a day (86400)".into())),
            Some(s) => Ok(Duration::from_secs(s)),
        };
        let units = raw.units.unwrap_or(d.units);
        if units.is_empty()
            || units.iter().any(|u| {
                !u.ends_with(".service")
                    || !u
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
            })
        {
            return Err(invalid(
                "units",
                "a list of systemd service names (motcua-kioskd.service)".into(),
            ));
        }
        let package = raw.package.unwrap_or(d.package);
        if package.is_empty()
            || !package
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        {
            return Err(invalid("package", "not a Debian package name".into()));
        }
        let absolute = |key: &str, p: Option<PathBuf>, default: PathBuf| {
            let p = p.unwrap_or(default);
            if p.is_absolute() {
                Ok(p)
            } else {
                Err(invalid(key, "must be an absolute path".into()))
            }
        };
        Ok(Self {
            data_dir: absolute("data_dir", raw.data_dir, d.data_dir)?,
            work_dir: absolute("work_dir", raw.work_dir, d.work_dir)?,
            release_public_key_file: absolute(
                "release_public_key_file",
                raw.release_public_key_file,
                d.release_public_key_file,
            )?,
            package,
            units,
            ready_within: secs("ready_within_secs", raw.ready_within_secs, d.ready_within)?,
            healthy_for: secs("healthy_for_secs", raw.healthy_for_secs, d.healthy_for)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_defaults_and_keys_override_them() {
        assert_eq!(
            UpdaterConfig::parse("", "u.toml").unwrap(),
            UpdaterConfig::default()
        );
        let c = UpdaterConfig::parse("ready_within_secs = 30\nhealthy_for_secs = 10\n", "u.toml")
            .unwrap();
        assert_eq!(c.ready_within, Duration::from_secs(30));
        assert_eq!(c.healthy_for, Duration::from_secs(10));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let e = UpdaterConfig::parse(
            "# a comment\nhealthy_for_secs = 0\n",
            "/etc/motcua/updater.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("/etc/motcua/updater.toml:2:"), "{e}");
        let e = UpdaterConfig::parse("\n\nhealty_for_secs = 10\n", "u.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("u.toml:3:") && e.contains("healty_for_secs"),
            "{e}"
        );
        let e = UpdaterConfig::parse("units = [\"kioskd; rm -rf /\"]\n", "u.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("u.toml:1:"), "{e}");
        let e = UpdaterConfig::parse("work_dir = \"tmp\"\n", "u.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
    }
}
