//! What the updater keeps in its own root-only folder (`/var/lib/motcua-updater/`), so a power
//! cut at any point is resumed at the next start (the path unit starts the updater while
//! [`IN_PROGRESS_FILE`] exists):
//!
//! - `in-progress.json`: the request being carried out and its step;
//! - `packages/<version>.deb`: the package of the version running now and of the one before
//!   it (the fallback), nothing older;
//! - `incoming/`: the verified copy of the package being installed;
//! - `previous.json`: the version a technician's rollback goes back to;
//! - `store-before/`, `store-now/`: the store's copies (`store_copy`).

use std::path::{Path, PathBuf};

use motcua_store::StoreMark;
use serde::{Deserialize, Serialize};

/// The in-progress record's file name.
pub const IN_PROGRESS_FILE: &str = "in-progress.json";
const PREVIOUS_FILE: &str = "previous.json";

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Checked; kioskd not stopped yet, the store not copied yet.
    Prepared,
    /// The store is copied; dpkg runs (again, after a power cut).
    Installing,
    /// Installed; the new version is proving itself.
    Probation,
    /// The previous version is being put back.
    RollingBack,
}

/// The request being carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InProgress {
    /// The version installed (or, for a technician's rollback, the one rolled back from).
    pub version: String,
    /// The version fallen back to.
    pub from_version: String,
    /// Its kept package.
    pub from_package: PathBuf,
    /// The verified package being installed (`None` for a technician's rollback).
    pub package: Option<PathBuf>,
    /// The unit running kioskd.
    pub unit: String,
    /// The step reached.
    pub step: Step,
    /// Why it is rolling back.
    pub reason: Option<String>,
    /// The store's mark before the update (`None`: no store, or a technician's rollback).
    pub store_before: Option<StoreMark>,
    /// When the request was taken (RFC 3339).
    pub started_at: String,
    /// How many runs took this record up again (a power cut, a crash): after
    /// [`MAX_ATTEMPTS`] the updater stops trying and calls for a technician, so a step that
    /// keeps failing never keeps kioskd stopped.
    #[serde(default)]
    pub attempts: u32,
}

/// Runs that may take an in-progress record up again.
pub const MAX_ATTEMPTS: u32 = 3;

/// The version a technician's rollback goes back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    /// Its version.
    pub version: String,
    /// Its kept package.
    pub package: PathBuf,
    /// The store's schema it ran with (a rollback past a migration is refused).
    pub store_schema: Option<u32>,
}

/// The updater's folder.
#[derive(Debug, Clone)]
pub struct WorkDir {
    dir: PathBuf,
}

impl WorkDir {
    /// Opens (creating it 0700, root's) the folder.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// A path inside it.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The kept package of `version`.
    pub fn kept_package(&self, version: &str) -> PathBuf {
        self.dir.join("packages").join(format!("{version}.deb"))
    }

    /// The request in progress, if any (an unreadable record is an error: it is never
    /// silently dropped).
    pub fn in_progress(&self) -> Result<Option<InProgress>, String> {
        read(&self.dir.join(IN_PROGRESS_FILE))
    }

    /// Records the request's step.
    pub fn save(&self, p: &InProgress) -> Result<(), String> {
        write(&self.dir.join(IN_PROGRESS_FILE), p)
    }

    /// Sets a record that could not be finished aside (kept for the technician) and ends it.
    pub fn give_up(&self) -> Result<(), String> {
        let from = self.dir.join(IN_PROGRESS_FILE);
        let to = self.dir.join("in-progress.failed.json");
        std::fs::rename(&from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
        self.finish()
    }

    /// The request is finished.
    pub fn finish(&self) -> Result<(), String> {
        for rel in ["incoming", "store-before", "store-now"] {
            let p = self.dir.join(rel);
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            }
        }
        remove(&self.dir.join(IN_PROGRESS_FILE))
    }

    /// The fallback of a technician's rollback.
    pub fn previous(&self) -> Result<Option<Previous>, String> {
        read(&self.dir.join(PREVIOUS_FILE))
    }

    /// Sets (or, with `None`, forgets) the fallback, and deletes every kept package but its
    /// and `running`'s.
    pub fn set_previous(&self, previous: Option<&Previous>, running: &str) -> Result<(), String> {
        match previous {
            Some(p) => write(&self.dir.join(PREVIOUS_FILE), p)?,
            None => remove(&self.dir.join(PREVIOUS_FILE))?,
        }
        let keep: Vec<PathBuf> = previous
            .map(|p| p.package.clone())
            .into_iter()
            .chain([self.kept_package(running)])
            .collect();
        for entry in std::fs::read_dir(self.dir.join("packages"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if !keep.contains(&entry.path()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    use std::io::Write;
    let json = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    let temp = path.with_extension("json.tmp");
    let shown = |e: std::io::Error| format!("{}: {e}", temp.display());
    let mut f = std::fs::File::create(&temp).map_err(shown)?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .map_err(shown)?;
    std::fs::rename(&temp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}
