//! The motcua kiosk: the durable local store, the outbox and its uplink to the provincial gateway,
//! configuration, and the pieces the `kioskd` daemon and the `kioskctl` CLI are made of.
//!
//! Data flows one way: an accepted dossier, rating or ticket is committed to the [`store`]
//! (with its blobs fsynced first) together with an outbox entry; the [`uplink`] drains the outbox
//! to the gateway and marks an entry delivered only on the gateway's durable acknowledgement.

pub mod blobs;
pub mod config;
pub mod devices;
pub mod dossier_file;
pub mod error;
pub mod flows;
pub mod gateway_client;
pub mod intake;
pub mod logging;
pub mod receipt;
pub mod screen_config;
pub mod separators;
pub mod store;
pub mod touch;
pub mod uplink;

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
