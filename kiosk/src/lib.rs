//! The motcua kiosk appliance: what composes the parts into `kioskd` and `kioskctl`.
//!
//! The parts live in crates of their own: the durable local store (`motcua-store`), the screen
//! flows as state machines (`motcua-flows`), the gateway client and outbox drain
//! (`motcua-uplink`), the printer, the scanner and the screens. This crate holds the config
//! file that builds each part's settings ([`config`]), the device wiring ([`devices`]), the
//! receipt and separator-sheet printing, intake's executor, and the touch app with its services.
//!
//! Data flows one way: device → event → flow → store (blobs fsynced, then one transaction with
//! its outbox entry) → uplink → gateway, which acknowledges durably before anything is deleted.

pub mod config;
pub mod devices;
pub mod display;
pub mod dossier_file;
pub mod intake;
pub mod receipt;
pub mod screen_config;
pub mod separators;
pub mod supervisor;
pub mod touch;

use std::path::{Path, PathBuf};

/// File in the data folder holding the device's gateway token (written by `kioskctl enroll`).
pub const TOKEN_FILE: &str = "gateway-token";

/// Path of the token file for a data folder.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// Reads the device token, if the device was enrolled.
pub fn read_token(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(token_path(data_dir))
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// Writes the device token durably, readable by its owner only.
pub fn write_token(data_dir: &Path, token: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(data_dir)?;
    let tmp = data_dir.join(format!("{TOKEN_FILE}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, token_path(data_dir))?;
    std::fs::File::open(data_dir)?.sync_all()
}
