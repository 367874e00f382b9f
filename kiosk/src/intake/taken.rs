//! What becomes of the files an intake batch took from a hot folder: a file whose pages were
//! all spooled is deleted (the citizen's papers live on in the spool, then in the store); any
//! other file (a PDF that is not split into pages, a page whose processing failed, a file taken
//! after the batch stopped) is put back into the hot folder, so the officer can feed it again.
//! Nothing taken is ever deleted unseen.

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
    /// Files put back into the hot folder (where they are now).
    pub returned: Vec<PathBuf>,
    /// Files that could not be put back and stay where they were taken to.
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
            parts.push(format!(
                "{n} tệp chưa được lưu đã được trả lại thư mục quét để nạp lại: {list} / {n} file(s) not stored were put back into the hot folder to be fed again: {list}"
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
                "{n} tệp chưa được lưu không trả lại được, vẫn ở: {list} / {n} file(s) not stored could not be put back and stay at: {list}"
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Deletes the files in `taken` whose pages `files` says were spooled and puts every other file
/// there back into `hot_folder` (a name already there gets a `-1`, `-2`, … suffix).
pub fn settle_taken(taken: &Path, hot_folder: &Path, files: &ScanFiles) -> Settled {
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
        match put_back(&file, hot_folder) {
            Ok(to) => {
                tracing::info!(from = %file.display(), to = %to.display(), "intake: a scan not stored was put back into the hot folder");
                settled.returned.push(to);
            }
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "intake: a scan not stored could not be put back");
                settled.kept.push(file);
            }
        }
    }
    settled
}

/// Moves every file in `taken` back into `hot_folder` (an intake that failed).
pub fn return_all(taken: &Path, hot_folder: &Path) -> Settled {
    settle_taken(taken, hot_folder, &ScanFiles::default())
}

/// Moves `file` into `dir` under a name not used there yet.
fn put_back(file: &Path, dir: &Path) -> std::io::Result<PathBuf> {
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
        Ok(()) => Ok(target),
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            std::fs::copy(file, &target)?;
            std::fs::File::open(&target)?.sync_all()?;
            std::fs::remove_file(file)?;
            Ok(target)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_files_go_and_the_others_are_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken");
        let hot = dir.path().join("hot");
        std::fs::create_dir_all(&taken).unwrap();
        std::fs::create_dir_all(&hot).unwrap();
        for name in ["a.png", "b.pdf", "c.tif", "d.png"] {
            std::fs::write(taken.join(name), name).unwrap();
        }
        // A file of the same name arrived in the hot folder meanwhile.
        std::fs::write(hot.join("b.pdf"), "newer").unwrap();
        let mut files = ScanFiles::default();
        files.spooled(&taken.join("a.png"));
        files.not_spooled(&taken.join("b.pdf"));
        // A two-page file whose second page failed is not stored.
        files.spooled(&taken.join("c.tif"));
        files.not_spooled(&taken.join("c.tif"));
        // d.png was taken but never reached the intake.
        let settled = settle_taken(&taken, &hot, &files);
        assert_eq!(settled.deleted, 1);
        assert_eq!(
            settled.returned,
            vec![hot.join("b-1.pdf"), hot.join("c.tif"), hot.join("d.png")]
        );
        assert_eq!(std::fs::read(hot.join("b.pdf")).unwrap(), b"newer");
        assert_eq!(std::fs::read(hot.join("b-1.pdf")).unwrap(), b"b.pdf");
        assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 0);
        let message = settled.message().unwrap();
        assert!(message.contains("put back into the hot folder") && message.contains("d.png"));
        assert_eq!(settle_taken(&taken, &hot, &files).message(), None);
    }
}
