//! What becomes of the files an intake batch took from a hot folder: a file whose pages were
//! all spooled is deleted (the citizen's papers live on in the spool, then in the store); any
//! other file (a PDF that is not split into pages, a page whose processing failed, a file taken
//! after the batch stopped) is moved into the hot folder's `returned/`
//! ([`HotFolderConfig::returned_dir`](motcua_scanner::documents::HotFolderConfig::returned_dir)).
//! Not back into the folder itself: where the citizen screen watches the same folder, the next
//! citizen's scan would take another citizen's pages into their dossier. The officer is told
//! where they are and feeds them again deliberately by moving them back into the hot folder;
//! the hot folder deletes them after its keeping time. Nothing taken is ever deleted unseen.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The files of one batch, as the intake saw them (see [`IntakeSession::take_scan_files`](super::session::IntakeSession::take_scan_files)).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanFiles {
    spooled: HashSet<PathBuf>,
    not_spooled: HashSet<PathBuf>,
}

impl ScanFiles {
    /// A page of `file` reached the spool (or was dropped as blank, or was a separator).
    pub(crate) fn spooled(&mut self, file: &Path) {
        self.spooled.insert(file.to_path_buf());
    }

    /// A page of `file` was not kept (skipped, or its processing failed).
    pub(crate) fn not_spooled(&mut self, file: &Path) {
        self.not_spooled.insert(file.to_path_buf());
    }

    /// Whether every page of `file` that the intake saw was kept.
    pub fn is_spooled(&self, file: &Path) -> bool {
        self.spooled.contains(file) && !self.not_spooled.contains(file)
    }
}

/// What [`settle_taken`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Files deleted (their pages are spooled).
    pub deleted: u32,
    /// Files moved into the returned folder (where they are now).
    pub returned: Vec<PathBuf>,
    /// Files that could not be moved to the returned folder and stay where they were taken to.
    pub kept: Vec<PathBuf>,
}

impl Settled {
    /// What to tell the officer, when any file was not stored.
    pub fn message(&self) -> Option<String> {
        let names = |files: &[PathBuf]| {
            files
                .iter()
                .map(|f| {
                    f.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.returned.is_empty() {
            let n = self.returned.len();
            let list = names(&self.returned);
            let folder = self
                .returned
                .first()
                .and_then(|f| f.parent())
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            parts.push(format!(
                "{n} tệp chưa lưu đã được chuyển vào {folder}: {list} — muốn nạp lại, hãy chuyển chúng về thư mục quét rồi quét lại / {n} file(s) not stored were moved to {folder}: {list} — to feed them again, move them back into the hot folder and scan again"
            ));
        }
        if !self.kept.is_empty() {
            let n = self.kept.len();
            let list = self
                .kept
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            parts.push(format!(
                "{n} tệp chưa được lưu không chuyển đi được, vẫn ở: {list} / {n} file(s) not stored could not be moved and stay at: {list}"
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Deletes the files in `taken` whose pages `files` says were spooled and moves every other file
/// there into `returned` (created if needed; a name already there gets a `-1`, `-2`, … suffix).
pub fn settle_taken(taken: &Path, returned: &Path, files: &ScanFiles) -> Settled {
    let mut settled = Settled::default();
    let Ok(entries) = std::fs::read_dir(taken) else {
        return settled;
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    found.sort();
    for file in found {
        if files.is_spooled(&file) {
            match std::fs::remove_file(&file) {
                Ok(()) => settled.deleted += 1,
                Err(error) => {
                    tracing::warn!(file = %file.display(), %error, "a stored scan could not be deleted")
                }
            }
            continue;
        }
        match put_back(&file, returned) {
            Ok(to) => {
                tracing::info!(from = %file.display(), to = %to.display(), "intake: a scan not stored was moved to the returned folder");
                settled.returned.push(to);
            }
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "intake: a scan not stored could not be moved to the returned folder");
                settled.kept.push(file);
            }
        }
    }
    settled
}

/// Moves every file in `taken` into `returned` (an intake that failed).
pub fn return_all(taken: &Path, returned: &Path) -> Settled {
    settle_taken(taken, returned, &ScanFiles::default())
}

/// Moves `file` into `dir` under a name not used there yet, dated now: its keeping time in the
/// returned folder counts from when the officer was told, not from when it was scanned.
fn put_back(file: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scan".to_owned());
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.clone(), String::new()),
    };
    let mut target = dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{stem}-{n}{ext}"));
        n += 1;
    }
    match std::fs::rename(file, &target) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            std::fs::copy(file, &target)?;
            std::fs::File::open(&target)?.sync_all()?;
            std::fs::remove_file(file)?;
        }
        Err(e) => return Err(e),
    }
    let dated = std::fs::File::options()
        .write(true)
        .open(&target)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
    if let Err(error) = dated {
        // Kept either way; only deleted sooner.
        tracing::warn!(file = %target.display(), %error, "intake: a returned scan keeps its scan time");
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_files_go_and_the_others_are_moved_to_returned() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken");
        let returned = dir.path().join("hot").join("returned");
        std::fs::create_dir_all(&taken).unwrap();
        std::fs::create_dir_all(&returned).unwrap();
        for name in ["a.png", "b.pdf", "c.tif", "d.png"] {
            std::fs::write(taken.join(name), name).unwrap();
        }
        // Scanned two days ago (a scanner's clock, or a batch left waiting).
        std::fs::File::options()
            .write(true)
            .open(taken.join("d.png"))
            .and_then(|f| {
                f.set_modified(
                    std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400),
                )
            })
            .unwrap();
        // A file of the same name was returned earlier.
        std::fs::write(returned.join("b.pdf"), "newer").unwrap();
        let mut files = ScanFiles::default();
        files.spooled(&taken.join("a.png"));
        files.not_spooled(&taken.join("b.pdf"));
        // A two-page file whose second page failed is not stored.
        files.spooled(&taken.join("c.tif"));
        files.not_spooled(&taken.join("c.tif"));
        // d.png was taken but never reached the intake.
        let settled = settle_taken(&taken, &returned, &files);
        assert_eq!(settled.deleted, 1);
        assert_eq!(
            settled.returned,
            vec![
                returned.join("b-1.pdf"),
                returned.join("c.tif"),
                returned.join("d.png")
            ]
        );
        assert_eq!(std::fs::read(returned.join("b.pdf")).unwrap(), b"newer");
        assert_eq!(std::fs::read(returned.join("b-1.pdf")).unwrap(), b"b.pdf");
        assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 0);
        let message = settled.message().unwrap();
        assert!(
            message.contains(&format!("moved to {}", returned.display()))
                && message.contains("d.png"),
            "{message}"
        );
        assert!(message.contains("đã được chuyển vào"), "{message}");
        // Dated when returned: the keeping time starts when the officer is told.
        let age = std::fs::metadata(returned.join("d.png"))
            .and_then(|m| m.modified())
            .unwrap()
            .elapsed()
            .unwrap_or_default();
        assert!(age < std::time::Duration::from_secs(3600), "{age:?}");
        assert_eq!(settle_taken(&taken, &returned, &files).message(), None);
    }
}
