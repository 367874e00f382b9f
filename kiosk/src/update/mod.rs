//! Updates without a site visit, on the kiosk's side (kioskd runs unprivileged and never
//! installs anything itself): the `[update]` settings, the version installed now, the spool
//! shared with the root updater (`motcua_domain::update`), and when kioskd may ask for an
//! install. The download is the uplink's ([`motcua_uplink::release`]); [`care`] is kioskd's task
//! that ties them together, [`status`] what `kioskctl update status` shows.
//!
//! An install is asked for only when all of these hold: a verified download is there, the
//! kiosk is inside its maintenance window, no citizen session is open on the touch screen (the
//! screen sets [`Presence`]; kioskd mirrors it into [`SESSION_OPEN_FILE`] for kioskctl), no
//! intake is under way (`<data_dir>/intake/` holds nothing), the updater is not busy, and the
//! store passes `PRAGMA quick_check` (a damaged database is a technician's job, not an
//! update's).

pub mod care;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use motcua_domain::maintenance::MaintenanceWindow;
use motcua_domain::update::{
    UpdatePhase, UpdateRequest, UpdateResult, UpdateState, UPDATE_REQUEST_FILE, UPDATE_RESULT_FILE,
    UPDATE_SPOOL_DIR, UPDATE_STATE_FILE,
};

/// The file in the spool that says a citizen session is open on the touch screen (kioskd
/// writes it while one is, so kioskctl, another process, can refuse `update apply --now`).
pub const SESSION_OPEN_FILE: &str = "session-open";
/// The file in the spool by which `kioskctl update check` asks kioskd to check now.
pub const CHECK_NOW_FILE: &str = "check-now";

pub use crate::config::UpdateSettings;

/// The version of `package` installed now, as `dpkg-query -W -f='${Version}'` says it; this
/// build's own version when dpkg-query is missing or the package is not installed (a
/// developer's machine, tests).
pub fn installed_version(package: &str) -> String {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", package])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| motcua_domain::release::is_debian_version(v))
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned())
}

/// Whether a citizen session is open on the touch screen: set by the screen, read by kioskd.
#[derive(Debug, Clone, Default)]
pub struct Presence(Arc<AtomicBool>);

impl Presence {
    /// Says whether a session is open now.
    pub fn set(&self, open: bool) {
        self.0.store(open, Ordering::SeqCst);
    }

    /// Whether a session is open.
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The spool shared with the updater, `<data_dir>/update/`.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool of a data directory.
    pub fn of(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(UPDATE_SPOOL_DIR),
        }
    }

    /// The spool folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where downloads go.
    pub fn downloads(&self) -> PathBuf {
        self.dir.join("downloads")
    }

    /// The updater's progress, if it wrote any (an unreadable file counts as none, logged).
    pub fn state(&self) -> Option<UpdateState> {
        read_json(&self.dir.join(UPDATE_STATE_FILE))
    }

    /// The updater's final word on the last request, if not yet reported.
    pub fn result(&self) -> Option<UpdateResult> {
        read_json(&self.dir.join(UPDATE_RESULT_FILE))
    }

    /// The request waiting for the updater, if any.
    pub fn request(&self) -> Option<UpdateRequest> {
        read_json(&self.dir.join(UPDATE_REQUEST_FILE))
    }

    /// Deletes the reported result.
    pub fn remove_result(&self) -> std::io::Result<()> {
        std::fs::remove_file(self.dir.join(UPDATE_RESULT_FILE))
    }

    /// Writes a request for the updater atomically (temporary file, fsync, rename).
    pub fn write_request(&self, request: &UpdateRequest) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(request).map_err(|e| e.to_string())?;
        motcua_uplink::release::write_atomically(&self.dir, UPDATE_REQUEST_FILE, &json)
            .map_err(|e| e.to_string())
    }

    /// Mirrors whether a citizen session is open into [`SESSION_OPEN_FILE`].
    pub fn mark_session(&self, open: bool) {
        let path = self.dir.join(SESSION_OPEN_FILE);
        if open {
            if !path.exists() {
                let _ = std::fs::create_dir_all(&self.dir);
                let _ = std::fs::write(&path, b"");
            }
        } else if path.exists() {
            let _ = std::fs::remove_file(&path);
        }
    }

    /// Asks a running kioskd to check for an offer now (it deletes the file).
    pub fn ask_check_now(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(self.dir.join(CHECK_NOW_FILE), b"")
    }

    /// Whether kioskd says a citizen session is open.
    pub fn session_open(&self) -> bool {
        self.dir.join(SESSION_OPEN_FILE).exists()
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(file = %path.display(), "unreadable update file: {e}");
            None
        }
    }
}

/// Whether an intake is under way (a `kioskctl intake` or the staff screen has spooled pages
/// in `<data_dir>/intake/`).
pub fn intake_open(data_dir: &Path) -> bool {
    std::fs::read_dir(data_dir.join("intake"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

/// What an install waits for, in words (Vietnamese first); `None` when nothing stops it.
#[derive(Debug, Clone, Copy)]
pub struct InstallCheck<'a> {
    /// The kiosk's clock.
    pub now: DateTime<Utc>,
    /// The window, or `None` to ignore it (`kioskctl update apply --now`).
    pub window: Option<&'a MaintenanceWindow>,
    /// A citizen session is open.
    pub session_open: bool,
    /// An intake is under way.
    pub intake_open: bool,
    /// The updater's state.
    pub state: Option<&'a UpdateState>,
    /// A request already waits, or a result is not reported yet.
    pub pending: bool,
}

impl InstallCheck<'_> {
    /// Why an install may not be asked for now, or `None`.
    pub fn waits_for(&self) -> Option<String> {
        if let Some(w) = self.window {
            if !w.contains(self.now) {
                return Some(format!(
                    "ngoài khung giờ bảo trì {w} / outside the maintenance window {w} (opens in {} min)",
                    w.minutes_until_open(self.now)
                ));
            }
        }
        if self.session_open {
            return Some("đang có người dân dùng máy / a citizen session is open".into());
        }
        if self.intake_open {
            return Some("đang số hoá hồ sơ / an intake is under way".into());
        }
        if self.pending {
            return Some(
                "bộ cập nhật chưa xử lý xong yêu cầu trước / the updater has not finished the last request".into(),
            );
        }
        if let Some(s) = self.state {
            if !matches!(s.phase, UpdatePhase::Idle) {
                return Some(format!(
                    "bộ cập nhật đang bận / the updater is busy ({:?} since {})",
                    s.phase, s.since
                ));
            }
        }
        None
    }
}

/// The install request of a verified download.
pub fn install_request(version: &str, manifest: &str, now: DateTime<Utc>) -> UpdateRequest {
    UpdateRequest::Install {
        version: version.to_owned(),
        package_file: format!("downloads/{version}.deb"),
        manifest: manifest.to_owned(),
        requested_at: now
            .with_timezone(&motcua_domain::vietnam_offset())
            .to_rfc3339(),
    }
}
