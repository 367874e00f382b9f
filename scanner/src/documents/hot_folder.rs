//! Hot folder: pages from network scanners that drop files over SMB or FTP.
//!
//! Many counter scanners cannot be driven by SANE but can "scan to folder". We poll that folder
//! instead of using inotify: polling also works on network mounts (where inotify misses writes
//! made by the server), costs one directory listing per interval, and needs no dependency.
//!
//! Invariants, in the order they are checked:
//! 1. Only regular files directly in the folder are considered; names starting with `.` or
//!    `~$`, ending with `~`, or with a temporary extension (`.part`, `.tmp`, `.partial`,
//!    `.crdownload`, `.filepart`, `.swp`, `.lock`) are ignored, and so are extensions other than
//!    TIFF, PNG, JPEG and PDF.
//! 2. A file is taken only after its size and modification time stayed the same for
//!    [`HotFolderConfig::settle`] **and** it is complete by content: JPEG ends with `EOI`, PNG
//!    with `IEND`, PDF with `%%EOF`, and a TIFF decodes fully. SMB clients pause mid-file, so
//!    the size alone is not enough.
//! 3. A taken file is first moved into `taken/` (or deleted, see [`TakenAction`]) and the move
//!    is synced to disk, and only then are its pages delivered. So a file is never taken twice,
//!    even across a restart or a power cut; at worst a page sits in `taken/` undelivered.
//! 4. A file that stays unreadable for [`HotFolderConfig::give_up_after`] is moved to
//!    `rejected/` and reported, so one bad file does not block the folder forever.
//! 5. Subfolders are never watched: `rejected/`, and `returned/` where an intake that did not
//!    store a file it took puts it back ([`HotFolderConfig::returned_dir`]), so a scan of one
//!    citizen's papers never reaches the next citizen's session by itself. Both are emptied of
//!    files older than their keeping time, since they hold citizens' papers.
//!
//! PDFs are passed through as documents ([`PdfDocument`]), not rasterized.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::decode::{self, FileKind};
use super::error::ScanError;
use super::page::{BatchRequest, Page, PageContent, PageSource, PdfDocument};
use super::session::{
    whole_seconds, BatchEnd, BatchSummary, DocumentScanner, ScanEvent, ScanSession,
};

/// What happens to a file once it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenAction {
    /// Move it into this folder (default: `<folder>/taken`). Keeps the original as evidence and
    /// makes the take survive restarts. Name clashes get a `-1`, `-2`, … suffix (network
    /// scanners restart their numbering).
    MoveTo(PathBuf),
    /// Delete it after reading. The page then lives only in memory until the caller stores it;
    /// [`Page::path`](super::Page::path) names where it was.
    Delete,
}

/// Settings of a hot folder. Every field has a documented default from [`HotFolderConfig::new`].
#[derive(Debug, Clone)]
pub struct HotFolderConfig {
    /// The watched folder (must exist; it is usually a Samba share or an FTP root).
    pub dir: PathBuf,
    /// Default: move into `<dir>/taken`.
    pub taken: TakenAction,
    /// Where unreadable files go. Default `<dir>/rejected`.
    pub rejected_dir: PathBuf,
    /// How often the folder is listed. Default 500 ms.
    pub poll_interval: Duration,
    /// How long size and time must stay unchanged. Default 1 s.
    pub settle: Duration,
    /// How long an unchanged but unreadable file is waited for before it is rejected.
    /// Default 5 minutes.
    pub give_up_after: Duration,
    /// In a session, how long the folder may stay quiet after the first page before the batch
    /// is considered complete ([`BatchEnd::Idle`]). Default 15 s.
    pub batch_idle: Duration,
    /// How long a rejected file is kept for a technician to look at before it is deleted.
    /// It is a scan of a citizen's papers, so not forever. Default 24 hours.
    pub keep_rejected: Duration,
    /// Where an intake puts a file it took but did not store (a failed or abandoned batch), for
    /// the officer to feed again deliberately by moving it back into `dir`. Not watched: on a
    /// kiosk whose citizen screen shares the folder, another citizen's session must not take
    /// it. Default `<dir>/returned`.
    pub returned_dir: PathBuf,
    /// How long a returned file is kept (counted from when it was returned) before it is
    /// deleted: long enough to feed it again the same day, not longer, as it is a citizen's
    /// papers. Default 24 hours.
    pub keep_returned: Duration,
}

impl HotFolderConfig {
    /// Defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        HotFolderConfig {
            taken: TakenAction::MoveTo(dir.join("taken")),
            rejected_dir: dir.join("rejected"),
            returned_dir: dir.join("returned"),
            dir,
            poll_interval: Duration::from_millis(500),
            settle: Duration::from_secs(1),
            give_up_after: Duration::from_secs(300),
            batch_idle: Duration::from_secs(15),
            keep_rejected: Duration::from_secs(24 * 3600),
            keep_returned: Duration::from_secs(24 * 3600),
        }
    }
}

/// What we last saw of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    size: u64,
    modified: Option<SystemTime>,
    since: Instant,
}

/// A polled hot folder.
///
/// Use [`HotFolder::poll`] from your own loop, or [`DocumentScanner::start`] for a session that
/// polls in the background.
#[derive(Debug)]
pub struct HotFolder {
    config: HotFolderConfig,
    seen: HashMap<PathBuf, Seen>,
    ignored: HashSet<PathBuf>,
    /// When `rejected/` and `returned/` were last cleared of files older than their keeping time.
    pruned_at: Option<Instant>,
}

/// How often [`HotFolder::poll`] looks for rejected and returned files to delete.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

const TEMP_EXTENSIONS: &[&str] = &[
    "part",
    "tmp",
    "temp",
    "partial",
    "crdownload",
    "filepart",
    "swp",
    "lock",
];
const ACCEPTED_EXTENSIONS: &[&str] = &["tif", "tiff", "png", "jpg", "jpeg", "jpe", "pdf"];

/// Whether a file name is one we never take (hidden, temporary, or not a page format).
pub fn is_ignored_name(name: &str) -> bool {
    if name.starts_with('.') || name.starts_with("~$") || name.ends_with('~') {
        return true;
    }
    let ext = match name.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => return true,
    };
    TEMP_EXTENSIONS.contains(&ext.as_str()) || !ACCEPTED_EXTENSIONS.contains(&ext.as_str())
}

impl HotFolder {
    /// Open a hot folder, creating `taken/` and `rejected/` if needed.
    pub fn new(config: HotFolderConfig) -> Result<Self, ScanError> {
        if !config.dir.is_dir() {
            return Err(ScanError::io(
                &config.dir,
                "opening the hot folder",
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
            ));
        }
        if let TakenAction::MoveTo(taken) = &config.taken {
            std::fs::create_dir_all(taken)
                .map_err(|e| ScanError::io(taken, "creating the taken folder", e))?;
        }
        std::fs::create_dir_all(&config.rejected_dir)
            .map_err(|e| ScanError::io(&config.rejected_dir, "creating the rejected folder", e))?;
        let mut folder = HotFolder {
            config,
            seen: HashMap::new(),
            ignored: HashSet::new(),
            pruned_at: None,
        };
        folder.prune_rejected(Instant::now());
        Ok(folder)
    }

    /// Deletes rejected files older than `keep_rejected` and returned files older than
    /// `keep_returned` (by their modification time), at most once a minute. A file that cannot
    /// be deleted is left and said in the log.
    fn prune_rejected(&mut self, now: Instant) {
        if self
            .pruned_at
            .is_some_and(|at| now.duration_since(at) < PRUNE_EVERY)
        {
            return;
        }
        self.pruned_at = Some(now);
        let folders = [
            (
                &self.config.rejected_dir,
                self.config.keep_rejected,
                "rejected",
            ),
            (
                &self.config.returned_dir,
                self.config.keep_returned,
                "returned",
            ),
        ];
        for (folder, keep, what) in folders {
            let Ok(entries) = std::fs::read_dir(folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age >= keep);
                if meta.is_file() && old {
                    match std::fs::remove_file(entry.path()) {
                        Ok(()) => {
                            tracing::info!(path = %entry.path().display(), what, "hot folder: file deleted after its keeping time")
                        }
                        Err(error) => {
                            tracing::warn!(path = %entry.path().display(), what, %error, "hot folder: cannot delete an old file")
                        }
                    }
                }
            }
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HotFolderConfig {
        &self.config
    }

    /// List the folder once and take every file that is complete.
    ///
    /// Returns [`ScanEvent::Page`] for each page (numbered from `first_sequence`, in file
    /// modification order) and [`ScanEvent::Rejected`] for files given up on. This does
    /// blocking file I/O; call it from a blocking context.
    pub fn poll(&mut self, first_sequence: u32) -> Result<Vec<ScanEvent>, ScanError> {
        let dir = self.config.dir.clone();
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| ScanError::io(&dir, "listing the hot folder", e))?;
        let now = Instant::now();
        self.prune_rejected(now);
        let mut present = HashSet::new();
        let mut ready: Vec<(Option<SystemTime>, PathBuf)> = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_ignored_name(&name) {
                if self.ignored.insert(path.clone()) {
                    tracing::debug!(path = %path.display(), "hot folder: ignoring file");
                }
                continue;
            }
            present.insert(path.clone());
            let observed = Seen {
                size: meta.len(),
                modified: meta.modified().ok(),
                since: now,
            };
            match self.seen.get(&path) {
                Some(s) if s.size == observed.size && s.modified == observed.modified => {
                    if observed.size > 0 && now.duration_since(s.since) >= self.config.settle {
                        ready.push((observed.modified, path));
                    }
                }
                _ => {
                    self.seen.insert(path, observed);
                }
            }
        }
        self.seen.retain(|p, _| present.contains(p));
        self.ignored.retain(|p| p.exists());
        ready.sort();

        let mut events = Vec::new();
        let mut sequence = first_sequence;
        for (_, path) in ready {
            match self.try_take(&path, sequence)? {
                Some(pages) => {
                    sequence += u32::try_from(pages.len()).unwrap_or(u32::MAX);
                    events.extend(pages.into_iter().map(ScanEvent::Page));
                }
                None => {
                    if let Some(ev) = self.maybe_reject(&path, now)? {
                        events.push(ev);
                    }
                }
            }
        }
        Ok(events)
    }

    /// Read, check and decode one settled file; move it away and return its pages if complete.
    fn try_take(&mut self, path: &Path, sequence: u32) -> Result<Option<Vec<Page>>, ScanError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            // Gone in between (the scanner renamed it): nothing to take.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ScanError::io(path, "reading a hot-folder file", e)),
        };
        // Still the same file as the one that settled?
        let seen = self.seen.get(path).copied();
        if seen.is_some_and(|s| s.size != bytes.len() as u64) {
            self.seen.remove(path);
            return Ok(None);
        }
        let Some(kind) = decode::sniff(&bytes) else {
            return Ok(None);
        };
        if kind == FileKind::Pnm || !decode::has_end_marker(kind, &bytes) {
            return Ok(None);
        }
        let decoded = if kind == FileKind::Pdf {
            None
        } else {
            match decode::decode_raster(kind, &bytes) {
                Ok(pages) => Some(pages),
                Err(detail) => {
                    tracing::debug!(path = %path.display(), %detail, "hot folder: not readable yet");
                    return Ok(None);
                }
            }
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let new_path = self.take_file(path)?;
        self.seen.remove(path);
        tracing::info!(from = %path.display(), to = %new_path.display(), "hot folder: took file");
        let source = |page_in_file: u32| PageSource::HotFolder {
            folder: self.config.dir.clone(),
            file_name: file_name.clone(),
            page_in_file,
        };
        let pages = match decoded {
            None => vec![Page {
                sequence,
                content: PageContent::Pdf(PdfDocument {
                    page_count: decode::pdf_page_count(&bytes),
                    bytes: Arc::from(bytes),
                }),
                path: new_path,
                resolution_dpi: None,
                color_mode: None,
                source: source(1),
            }],
            Some(pages) => pages
                .into_iter()
                .zip(0u32..)
                .map(|(p, i)| Page {
                    sequence: sequence + i,
                    content: PageContent::Image(p.image),
                    path: new_path.clone(),
                    resolution_dpi: p.dpi,
                    color_mode: p.mode,
                    source: source(i + 1),
                })
                .collect(),
        };
        Ok(Some(pages))
    }

    /// Move (or delete) a taken file, durably. Returns where it is now.
    fn take_file(&self, path: &Path) -> Result<PathBuf, ScanError> {
        match &self.config.taken {
            TakenAction::Delete => {
                std::fs::remove_file(path)
                    .map_err(|e| ScanError::io(path, "deleting a taken file", e))?;
                sync_dir(&self.config.dir);
                Ok(path.to_path_buf())
            }
            TakenAction::MoveTo(dir) => {
                let target = move_unique(path, dir, "moving to the taken folder")?;
                sync_dir(dir);
                sync_dir(&self.config.dir);
                Ok(target)
            }
        }
    }

    /// Reject a settled file that stayed unreadable for too long.
    fn maybe_reject(&mut self, path: &Path, now: Instant) -> Result<Option<ScanEvent>, ScanError> {
        let Some(seen) = self.seen.get(path) else {
            return Ok(None);
        };
        if now.duration_since(seen.since) < self.config.give_up_after {
            return Ok(None);
        }
        let target = move_unique(
            path,
            &self.config.rejected_dir,
            "moving to the rejected folder",
        )?;
        self.seen.remove(path);
        tracing::warn!(path = %target.display(), "hot folder: file never became readable, rejected");
        Ok(Some(ScanEvent::Rejected {
            error: ScanError::Decode {
                path: path.to_path_buf(),
                detail: format!(
                    "không đọc được sau {} giây / still unreadable after {} s",
                    self.config.give_up_after.as_secs(),
                    self.config.give_up_after.as_secs()
                ),
            },
            path: target,
        }))
    }
}

/// Rename `path` into `dir`, adding `-1`, `-2`, … before the extension if the name is taken.
fn move_unique(path: &Path, dir: &Path, action: &'static str) -> Result<PathBuf, ScanError> {
    let name = path
        .file_name()
        .ok_or_else(|| {
            ScanError::io(
                path,
                action,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
            )
        })?
        .to_string_lossy()
        .into_owned();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s.to_owned(), format!(".{e}")),
        None => (name.clone(), String::new()),
    };
    let mut target = dir.join(&name);
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{stem}-{n}{ext}"));
        n += 1;
    }
    match std::fs::rename(path, &target) {
        Ok(()) => Ok(target),
        // Another file system (taken/ on a local disk, the share elsewhere): copy, then remove.
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            std::fs::copy(path, &target).map_err(|e| ScanError::io(path, action, e))?;
            if let Ok(f) = std::fs::File::open(&target) {
                let _ = f.sync_all();
            }
            std::fs::remove_file(path).map_err(|e| ScanError::io(path, action, e))?;
            Ok(target)
        }
        Err(e) => Err(ScanError::io(path, action, e)),
    }
}

/// fsync a directory so a rename survives a power cut (best effort: some network file systems
/// refuse it).
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

impl DocumentScanner for HotFolder {
    fn name(&self) -> String {
        format!("hot folder {}", self.config.dir.display())
    }

    /// Poll in the background. Of the request only `max_pages` and `page_timeout` apply (the
    /// network scanner decides resolution and mode): the session fails with
    /// [`ScanError::Timeout`] if no page arrives within `page_timeout`, and ends with
    /// [`BatchEnd::Idle`] once the folder stays quiet for `batch_idle` after a page.
    fn start(&self, request: &BatchRequest) -> ScanSession {
        let label = self.config.dir.display().to_string();
        let (session, mut worker) = ScanSession::channel(label.clone());
        let mut folder = HotFolder {
            config: self.config.clone(),
            seen: HashMap::new(),
            ignored: HashSet::new(),
            pruned_at: None,
        };
        let max_pages = request.max_pages;
        let first_timeout = request.page_timeout;
        tokio::spawn(async move {
            let mut pages = 0u32;
            let mut last_page = Instant::now();
            let result = loop {
                let poll_interval = folder.config.poll_interval;
                let next = pages + 1;
                let polled = tokio::task::spawn_blocking(move || {
                    let r = folder.poll(next);
                    (folder, r)
                })
                .await;
                let events = match polled {
                    Ok((f, Ok(ev))) => {
                        folder = f;
                        ev
                    }
                    Ok((_, Err(e))) => break Err(e),
                    Err(_) => {
                        break Err(ScanError::WorkerStopped {
                            device: label.clone(),
                        })
                    }
                };
                for ev in events {
                    if matches!(ev, ScanEvent::Page(_)) {
                        pages += 1;
                        last_page = Instant::now();
                    }
                    if !worker.send(ev).await {
                        return;
                    }
                }
                if max_pages.is_some_and(|m| pages >= m) {
                    break Ok(BatchEnd::Completed);
                }
                let quiet = last_page.elapsed();
                if pages == 0 && quiet >= first_timeout {
                    break Err(ScanError::Timeout {
                        device: label.clone(),
                        seconds: whole_seconds(first_timeout),
                    });
                }
                if pages > 0 && quiet >= folder.config.batch_idle {
                    break Ok(BatchEnd::Idle);
                }
                tokio::select! {
                    _ = worker.cancelled() => break Ok(BatchEnd::Cancelled),
                    _ = tokio::time::sleep(poll_interval) => {}
                }
            };
            worker
                .finish(result.map(|end| BatchSummary { pages, end }))
                .await;
        });
        session
    }
}
