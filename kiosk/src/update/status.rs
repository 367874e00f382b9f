//! What `kioskctl update status` shows, read from the spool's files (kioskctl answers even when
//! kioskd is down).

use motcua_domain::update::{UpdateRequest, UpdateResult, UpdateState};
use motcua_domain::wire::OfferedRelease;
use motcua_uplink::release::{self as download, RefusedVersion};
use serde::Serialize;

use super::{intake_open, Spool, UpdateSettings};

/// The update's state on this kiosk.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateStatus {
    /// The version installed now.
    pub running: String,
    /// Why updates are off, if they are.
    pub off: Option<String>,
    /// The maintenance window.
    pub window: String,
    /// The last offer whose manifest opened.
    pub offered: Option<OfferedRelease>,
    /// Bytes of the offered package on disk (downloaded or in progress).
    pub downloaded_bytes: Option<u64>,
    /// The verified download's version, if complete.
    pub ready: Option<String>,
    /// The request waiting for the updater.
    pub request: Option<UpdateRequest>,
    /// The updater's progress.
    pub state: Option<UpdateState>,
    /// The updater's final word, not yet reported.
    pub result: Option<UpdateResult>,
    /// Versions not downloaded again, and why.
    pub refused: Vec<RefusedVersion>,
    /// kioskd says a citizen session is open.
    pub session_open: bool,
    /// An intake is under way.
    pub intake_open: bool,
}

/// The status of the kiosk whose data directory is `data_dir`.
pub fn status(
    settings: &UpdateSettings,
    data_dir: &std::path::Path,
    running: &str,
) -> UpdateStatus {
    let spool = Spool::of(data_dir);
    let dir = spool.downloads();
    let key = settings.key();
    let offered = download::last_offer(&dir);
    let downloaded_bytes = offered.as_ref().and_then(|o| {
        [".deb", ".deb.part"]
            .iter()
            .find_map(|s| std::fs::metadata(dir.join(format!("{}{s}", o.version))).ok())
            .map(|m| m.len())
    });
    let ready = key
        .as_ref()
        .ok()
        .and_then(|k| download::ready_download(&dir, k))
        .map(|(v, _, _)| v);
    UpdateStatus {
        running: running.to_owned(),
        off: key.err(),
        window: settings.window.to_string(),
        offered,
        downloaded_bytes,
        ready,
        request: spool.request(),
        state: spool.state(),
        result: spool.result(),
        refused: download::refused(&dir),
        session_open: spool.session_open(),
        intake_open: intake_open(data_dir),
    }
}
