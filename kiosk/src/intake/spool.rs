//! Removing spooled pages nobody will commit: a citizen's pages must not stay in
//! `<data>/intake/` once the intake that made them is gone.
//!
//! Spooled page files are named `page-<pid>-<n>.mcp` (plus a `.png` thumbnail) by the process
//! that scanned them ([`super::session`]), so a process removes only its own pages and never
//! those of a `kioskctl intake` running at the same time on the same dossier; pages of a
//! process that is gone are stale.

use std::path::{Path, PathBuf};

use motcua_scanner::pipeline::sanitize;

/// The process id in a spooled page's file name, if it is one.
fn page_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("page-")?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Whether process `pid` still runs (a reused id keeps the files: the safe side).
fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Deletes the spooled pages in `dir` (and its `dropped/`) whose process id passes `remove`,
/// then the folders if they are empty. Returns how many files went.
fn remove_pages(dir: &Path, remove: &dyn Fn(u32) -> bool) -> u32 {
    let mut removed = 0;
    for folder in [dir.join("dropped"), dir.to_path_buf()] {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if page_pid(&name).is_some_and(remove) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        // Only when empty: another process's pages stay.
        let _ = std::fs::remove_dir(&folder);
    }
    removed
}

/// Deletes what this process spooled for `dossier` (its intake was abandoned: the session was
/// wiped).
pub fn remove_session_spool(data_dir: &Path, dossier: &str) -> u32 {
    let me = std::process::id();
    remove_pages(&data_dir.join("intake").join(sanitize(dossier)), &|pid| {
        pid == me
    })
}

/// The file in a `kioskctl intake` scratch folder naming the hot folder its `taken/` files came
/// from.
pub const HOT_FOLDER_FILE: &str = "hot-folder";

/// At kioskd's start: deletes the spooled pages of processes that are gone, and the scratch
/// folders `intake/scan-<pid>` of `kioskctl intake` runs that are gone. Hot-folder files such a
/// run had taken (`scan-<pid>/taken`) were never stored: they go into the `returned/` folder of
/// the hot folder named in [`HOT_FOLDER_FILE`] (as when the run itself fails), else they stay.
/// Returns how many files were deleted.
pub fn remove_stale(data_dir: &Path) -> u32 {
    let root = data_dir.join("intake");
    let mut removed = 0;
    let dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(pid) = name
            .strip_prefix("scan-")
            .and_then(|p| p.parse::<u32>().ok())
        {
            if alive(pid) {
                continue;
            }
            let taken = dir.join("taken");
            // Into the `returned/` of the hot folder that run took them from (it names it): not
            // into a watched folder, where the next citizen's scan would pick them up.
            let from = std::fs::read_to_string(dir.join(HOT_FOLDER_FILE))
                .ok()
                .map(|p| PathBuf::from(p.trim_end_matches('\n')));
            if let Some(hot) = from.as_deref().filter(|p| p.is_dir()) {
                let returned = motcua_scanner::documents::HotFolderConfig::new(hot).returned_dir;
                let settled = super::taken::return_all(&taken, &returned);
                if let Some(message) = settled.message() {
                    tracing::warn!("kioskctl intake {pid} ended without storing: {message}");
                }
            }
            let kept = std::fs::read_dir(&taken).is_ok_and(|mut e| e.next().is_some());
            if kept {
                tracing::warn!(folder = %taken.display(), "scans taken by an ended kioskctl intake are kept");
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let names_hot = entry.file_name() == HOT_FOLDER_FILE;
                    if entry.path() != taken
                        && !names_hot
                        && std::fs::remove_file(entry.path()).is_ok()
                    {
                        removed += 1;
                    }
                }
            } else if std::fs::remove_dir_all(&dir).is_ok() {
                removed += 1;
            }
            continue;
        }
        // A signing run that ended mid-document (its partial copies hold citizens' pages).
        if let Some(pid) = name
            .strip_prefix("signing-")
            .and_then(|p| p.parse::<u32>().ok())
        {
            if !alive(pid) && std::fs::remove_dir_all(&dir).is_ok() {
                removed += 1;
            }
            continue;
        }
        removed += remove_pages(&dir, &|pid| !alive(pid));
    }
    if removed > 0 {
        tracing::info!(removed, "spooled pages of ended intakes deleted");
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Above the kernel's largest process id: never alive.
    const GONE: u32 = 4_294_967;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    #[test]
    fn a_wiped_session_removes_only_its_own_pages() {
        let data = tempfile::tempdir().unwrap();
        let dir = data
            .path()
            .join("intake")
            .join(sanitize("000.17.22.H56-261123-0001"));
        let me = std::process::id();
        let mine = dir.join(format!("page-{me}-00001.mcp"));
        let mine_dropped = dir.join("dropped").join(format!("page-{me}-00002.mcp"));
        let other = dir.join(format!("page-{GONE}-00001.mcp"));
        for f in [&mine, &mine.with_extension("png"), &mine_dropped, &other] {
            touch(f);
        }
        assert_eq!(
            remove_session_spool(data.path(), "000.17.22.H56-261123-0001"),
            3
        );
        assert!(!mine.exists() && !mine_dropped.exists());
        assert!(other.exists(), "another process's pages stay");
        assert!(!dir.join("dropped").exists());
    }

    #[test]
    fn at_start_pages_and_scratch_folders_of_ended_processes_go() {
        let data = tempfile::tempdir().unwrap();
        let hot = data.path().join("hot");
        std::fs::create_dir_all(&hot).unwrap();
        let intake = data.path().join("intake");
        let me = std::process::id();
        let stale = intake.join("D1").join(format!("page-{GONE}-00001.mcp"));
        let live = intake.join("D1").join(format!("page-{me}-00001.mcp"));
        let stale_only = intake
            .join("D2")
            .join("dropped")
            .join(format!("page-{GONE}-00003.png"));
        let scratch = intake.join(format!("scan-{GONE}")).join("out-1.pnm");
        let taken = intake
            .join(format!("scan-{GONE}"))
            .join("taken")
            .join("scan0001.png");
        let running = intake.join(format!("scan-{me}")).join("out-1.pnm");
        // A run that does not say where its files came from: they stay.
        let unnamed = intake
            .join(format!("scan-{}", GONE + 1))
            .join("taken")
            .join("scan0002.png");
        for f in [
            &stale,
            &live,
            &stale_only,
            &scratch,
            &taken,
            &running,
            &unnamed,
        ] {
            touch(f);
        }
        std::fs::write(
            intake.join(format!("scan-{GONE}")).join(HOT_FOLDER_FILE),
            hot.display().to_string(),
        )
        .unwrap();
        remove_stale(data.path());
        assert!(!stale.exists() && !stale_only.exists());
        assert!(!intake.join("D2").exists());
        assert!(live.exists(), "a running process's pages stay");
        assert!(!intake.join(format!("scan-{GONE}")).exists());
        assert!(
            hot.join("returned").join("scan0001.png").exists(),
            "a taken scan goes to returned/, not away"
        );
        assert!(
            !hot.join("scan0001.png").exists(),
            "never back into the watched folder"
        );
        assert!(running.exists(), "a running kioskctl's folder stays");
        assert!(
            unnamed.exists(),
            "never put into a hot folder it did not come from"
        );
    }
}
