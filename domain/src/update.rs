//! What kioskd and the root updater say to each other through files (kioskd runs unprivileged
//! and cannot install; the updater runs as root and trusts nothing kioskd wrote without
//! checking it again).
//!
//! The spool is `<data_dir>/update/` (`/var/lib/motcua/update/`, kioskd's): kioskd downloads
//! into `downloads/`, then asks for an install (or a rollback) by writing [`UPDATE_REQUEST_FILE`]
//! atomically (a temporary file renamed over it); a systemd path unit starts the updater, which
//! copies the package into its own root-only folder, checks the manifest's signature with the
//! release public key and the package's SHA-256 itself, and removes the request. Its progress
//! is [`UPDATE_STATE_FILE`] (one [`UpdateState`]), its final word [`UPDATE_RESULT_FILE`] (one
//! [`UpdateResult`]), which kioskd reports to the gateway and then deletes.

use serde::{Deserialize, Serialize};

/// The spool folder's name under the kiosk's data directory.
pub const UPDATE_SPOOL_DIR: &str = "update";
/// The request file in the spool.
pub const UPDATE_REQUEST_FILE: &str = "request.json";
/// The updater's progress in the spool (written by the updater, read by kioskd and kioskctl).
pub const UPDATE_STATE_FILE: &str = "state.json";
/// The updater's final word on the last request.
pub const UPDATE_RESULT_FILE: &str = "result.json";

/// What kioskd asks the updater.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum UpdateRequest {
    /// Install a downloaded release.
    Install {
        /// The release's Debian version.
        version: String,
        /// The package file, relative to the spool (`downloads/0.2.0.deb`).
        package_file: String,
        /// The signed manifest text (`MOTCUA-RELEASE1.…`).
        manifest: String,
        /// When kioskd asked (RFC 3339).
        requested_at: String,
    },
    /// Put the previous version back now (a technician's `kioskctl update rollback`).
    Rollback {
        /// Why, shown in the report.
        reason: String,
        /// When kioskd asked (RFC 3339).
        requested_at: String,
    },
}

/// Where the updater is with the last request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdatePhase {
    /// Checking and installing.
    Installing,
    /// Installed; waiting for the new version to become ready and stay up.
    Probation,
    /// Putting the previous version back.
    RollingBack,
    /// Nothing in progress.
    Idle,
}

/// The updater's progress file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateState {
    /// What it is doing.
    pub phase: UpdatePhase,
    /// The version being installed (or rolled back from).
    pub version: Option<String>,
    /// The version it falls back to.
    pub previous_version: Option<String>,
    /// When this phase began (RFC 3339).
    pub since: String,
    /// What the updater last said that belongs to no release (a refused rollback, an unreadable
    /// request), for `kioskctl update status`; such refusals are never reported as a release's
    /// failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How the last request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateOutcome {
    /// The new version became ready and stayed up: kept.
    Committed,
    /// The new version did not become healthy (or a technician asked): the previous is back.
    RolledBack,
    /// Refused before installing: a signature, hash or dpkg that did not check out. Nothing
    /// changed.
    Failed,
    /// Not healthy, but the new version accepted records after its store migration: rolling
    /// back would lose them, so it stays, with an alert for a technician.
    KeptWithAlert,
}

/// The updater's final word on one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateResult {
    /// The release's version the request was about.
    pub version: String,
    /// How it ended.
    pub outcome: UpdateOutcome,
    /// The version running now.
    pub running_version: String,
    /// Why, in words for a technician (for a rollback: the new version's last log lines).
    pub detail: Option<String>,
    /// When it ended (RFC 3339).
    pub finished_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_and_strict() {
        let r = UpdateRequest::Rollback {
            reason: "technician".into(),
            requested_at: "2026-12-02T02:00:00+07:00".into(),
        };
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert!(json.contains(r#""action":"rollback""#), "{json}");
        assert_eq!(serde_json::from_str::<UpdateRequest>(&json).ok(), Some(r));
        let odd = r#"{"action":"install","version":"1","package_file":"x","manifest":"m","requested_at":"t","shell":"rm"}"#;
        assert!(serde_json::from_str::<UpdateRequest>(odd).is_err());
    }
}
