//! The `[update]` table: updates without a site visit.
//!
//! ```toml
//! [update]
//! release_public_key_file = "/etc/motcua/release.pub"  # missing file: updates are off
//! maintenance_window = "01:00-05:00"                   # Vietnam time, may run past midnight
//! check_interval_s = 3600                              # 60..=86400
//! package = "motcua-kiosk"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use motcua_domain::maintenance::MaintenanceWindow;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Located};
use motcua_identity::release::TrustedReleaseKey;

/// The `[update]` settings.
#[derive(Debug, Clone)]
pub struct UpdateSettings {
    /// The release public key (`ed25519:…`); a missing file turns updates off.
    pub release_public_key_file: PathBuf,
    /// When an install may start.
    pub window: MaintenanceWindow,
    /// How often the gateway is asked for an offer.
    pub check_interval: Duration,
    /// The Debian package this kiosk runs.
    pub package: String,
}

impl UpdateSettings {
    /// The release public key, or why updates are off (Vietnamese first).
    pub fn key(&self) -> Result<TrustedReleaseKey, String> {
        let path = &self.release_public_key_file;
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cập nhật tắt: không đọc được khoá phát hành {} / updates are off: cannot read the release public key {}: {e}",
                path.display(),
                path.display()
            )
        })?;
        text.parse().map_err(|e| {
            format!(
                "cập nhật tắt: khoá phát hành {} không dùng được / updates are off: the release public key {} cannot be used: {e}",
                path.display(),
                path.display()
            )
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawUpdate {
    release_public_key_file: PathBuf,
    maintenance_window: Spanned<String>,
    check_interval_s: Spanned<u64>,
    package: Spanned<String>,
}

impl Default for RawUpdate {
    fn default() -> Self {
        Self {
            release_public_key_file: PathBuf::from("/etc/motcua/release.pub"),
            maintenance_window: Spanned::new(0..0, "01:00-05:00".into()),
            check_interval_s: Spanned::new(0..0, 3600),
            package: Spanned::new(0..0, "motcua-kiosk".into()),
        }
    }
}

pub(crate) fn update_settings(
    raw: RawUpdate,
    at: &Located<'_>,
) -> Result<UpdateSettings, ConfigError> {
    let window: MaintenanceWindow = raw.maintenance_window.get_ref().parse().map_err(
        |e: motcua_domain::maintenance::WindowError| {
            at.error(
                raw.maintenance_window.span(),
                format!("update.maintenance_window: {e}"),
            )
        },
    )?;
    let interval = *raw.check_interval_s.get_ref();
    if !(60..=86_400).contains(&interval) {
        return Err(at.error(
            raw.check_interval_s.span(),
            "update.check_interval_s: phải từ 60 đến 86400 / must be between 60 and 86400",
        ));
    }
    let package = raw.package.get_ref();
    let name_ok = (2..=64).contains(&package.len())
        && package.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && package
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !name_ok {
        return Err(at.error(
            raw.package.span(),
            format!(
                "update.package: \"{package}\" không phải tên gói Debian / is not a Debian package name"
            ),
        ));
    }
    Ok(UpdateSettings {
        release_public_key_file: raw.release_public_key_file,
        window,
        check_interval: Duration::from_secs(interval),
        package: package.clone(),
    })
}
