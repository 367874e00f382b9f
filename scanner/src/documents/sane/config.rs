//! How `scanimage` is started for one device: its [`SaneConfig`] and the child process set-up
//! shared by the short queries ([`super::probe`]) and the long batches ([`super::batch`]).
//!
//! Kept in one place so every `scanimage` we start gets the same environment (`LC_ALL=C`, so
//! SANE's status words are not translated under [`super::exit`]) and is killed if dropped.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::documents::error::ScanError;

/// How to run `scanimage` for one device.
#[derive(Debug, Clone)]
pub struct SaneConfig {
    /// The program; default `scanimage` from `PATH`. Tests point it at a wrapper script.
    pub program: PathBuf,
    /// SANE device name, e.g. `test`, `fujitsu:fi-7160:1234`, `escl:https://10.0.0.5:443`.
    pub device: String,
    /// Extra environment for the child, e.g. `SANE_CONFIG_DIR` or `SANE_NET_HOSTS`.
    pub env: Vec<(OsString, OsString)>,
    /// How long a cancelled `scanimage` gets after SIGTERM (to let the backend stop the feeder
    /// and release the USB device) before SIGKILL. Default 5 s.
    pub stop_grace: Duration,
    /// Limit for listing devices and reading options (network discovery can hang). Default 30 s.
    pub query_timeout: Duration,
}

impl SaneConfig {
    /// Defaults for `device`.
    pub fn new(device: impl Into<String>) -> Self {
        SaneConfig {
            program: PathBuf::from("scanimage"),
            device: device.into(),
            env: Vec::new(),
            stop_grace: Duration::from_secs(5),
            query_timeout: Duration::from_secs(30),
        }
    }
}

/// A `scanimage` command for `config`: C locale, the config's environment, piped output,
/// killed when dropped.
pub(super) fn command(config: &SaneConfig) -> Command {
    let mut cmd = Command::new(&config.program);
    cmd.env("LC_ALL", "C")
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The error for a `scanimage` that could not be started ("missing" when it is not there).
pub(super) fn spawn_error(config: &SaneConfig, e: std::io::Error) -> ScanError {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            ScanError::ScanimageMissing {
                program: config.program.clone(),
            }
        }
        _ => ScanError::io(&config.program, "starting scanimage", e),
    }
}
