//! Document scanners: paper in, page images out.
//!
//! Two implementations sit behind one small trait, [`DocumentScanner`], so the intake flow does
//! not care where pages come from:
//!
//! - [`sane::SaneScanner`] drives Debian's `scanimage` (package `sane-utils`) as a child process.
//!   No SANE binding for Rust is maintained, and `scanimage --batch --batch-print` already does
//!   feeder batches, reports each finished page on stdout and prints SANE's own status words on
//!   stderr, which we turn into [`ScanError`]s. SANE's `test` backend gives CI a real feeder.
//! - [`hot_folder::HotFolder`] watches a folder where network scanners drop files over SMB/FTP.
//!   It polls (no inotify: polling also works on network file systems and survives the folder
//!   being re-mounted), takes only complete TIFF, PNG, JPEG and PDF files and moves them away so
//!   they are never taken twice. PDFs are passed through as documents, not rasterized.
//!
//! A scan runs as a [`ScanSession`]: pages arrive as [`ScanEvent::Page`] the moment each one is
//! complete (the screen can show "page 3" while the feeder is still running), and the session
//! ends with exactly one [`ScanEvent::Finished`]. A failure in the middle (a jam) never loses
//! pages already delivered: [`ScanSession::collect`] returns them inside [`BatchError`].
//! Dropping a session stops the scanner process and reaps it.
//!
//! Decree 30/2020 asks for colour copies at 200 dpi or more, hence the defaults of [`BatchRequest::new`].

mod decode;
mod error;
pub mod hot_folder;
#[cfg(unix)]
pub mod sane;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use error::ScanError;
pub use hot_folder::{is_ignored_name, HotFolder, HotFolderConfig, TakenAction};
#[cfg(unix)]
pub use sane::{
    classify_exit, device_options, list_devices, parse_device_list, parse_device_options,
    DeviceInfo, DeviceOptions, ResolutionRange, SaneConfig, SaneOption, SaneScanner,
};

/// Colour mode of a page, as the intake flow thinks of it.
///
/// SANE backends spell modes differently (`Color`, `Colour`, `24bit Color`, `Lineart`,
/// `Binary`, …); [`ColorMode::classify`] maps them so a request can ask for "colour" on any model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorMode {
    /// Full colour (what Decree 30/2020 asks for digitized copies).
    Color,
    /// Grey levels.
    Gray,
    /// One bit per pixel (black and white, halftone).
    Lineart,
}

impl ColorMode {
    /// Recognise a SANE mode name; `None` for modes we do not know (they stay usable by name).
    pub fn classify(sane_name: &str) -> Option<ColorMode> {
        let n = sane_name.to_ascii_lowercase();
        if n.contains("colo") {
            Some(ColorMode::Color)
        } else if n.contains("gray") || n.contains("grey") {
            Some(ColorMode::Gray)
        } else if n.contains("lineart")
            || n.contains("binary")
            || n.contains("halftone")
            || n.contains("black")
            || n.contains("mono")
        {
            Some(ColorMode::Lineart)
        } else {
            None
        }
    }

    /// The name most SANE backends use, for when the device's option list is not known.
    pub fn default_sane_name(self) -> &'static str {
        match self {
            ColorMode::Color => "Color",
            ColorMode::Gray => "Gray",
            ColorMode::Lineart => "Lineart",
        }
    }
}

/// Where the paper is fed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedSource {
    /// The glass: one sheet per scan.
    Flatbed,
    /// Automatic document feeder, front side only.
    Adf,
    /// Automatic document feeder, both sides.
    AdfDuplex,
}

impl FeedSource {
    /// Recognise a SANE source name (`Flatbed`, `ADF`, `ADF Front`, `Automatic Document Feeder`,
    /// `ADF Duplex`, `Duplex`, …); `None` for sources we do not know (e.g. `ADF Back`, `Film`).
    pub fn classify(sane_name: &str) -> Option<FeedSource> {
        let n = sane_name.to_ascii_lowercase();
        if n.contains("duplex") {
            Some(FeedSource::AdfDuplex)
        } else if n.contains("flatbed") || n == "normal" || n.contains("glass") {
            Some(FeedSource::Flatbed)
        } else if n.contains("back") || n.contains("film") || n.contains("transparen") {
            None
        } else if n.contains("adf") || n.contains("feeder") || n.contains("front") {
            Some(FeedSource::Adf)
        } else {
            None
        }
    }
}

/// Where a page came from, so a dossier can record the device and a technician can trace it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageSource {
    /// A SANE scanner driven through `scanimage`.
    Sane {
        /// SANE device name.
        device: String,
        /// The feed, if it was recognised.
        feed: Option<FeedSource>,
        /// The exact SANE source name that was used, if one was set.
        source_name: Option<String>,
    },
    /// A file taken from a hot folder.
    HotFolder {
        /// The watched folder.
        folder: PathBuf,
        /// The file's name as the network scanner wrote it.
        file_name: String,
        /// 1-based page within that file (multi-page TIFF), 1 otherwise.
        page_in_file: u32,
    },
}

/// A PDF taken from a hot folder, passed through untouched.
///
/// We do not rasterize PDFs: a network scanner's PDF is already the archival copy, and
/// re-rendering would lose its compression and any text layer. `page_count` is a cheap
/// heuristic over the raw bytes (`/Type /Page` objects); it is `None` when the page tree sits in
/// compressed object streams.
#[derive(Debug, Clone)]
pub struct PdfDocument {
    /// The file's bytes, read once so they survive [`TakenAction::Delete`].
    pub bytes: Arc<[u8]>,
    /// Page count, if cheaply known.
    pub page_count: Option<u32>,
}

/// What a page holds.
#[derive(Debug, Clone)]
pub enum PageContent {
    /// A decoded raster page.
    Image(image::DynamicImage),
    /// A whole PDF document (see [`PdfDocument`]).
    Pdf(PdfDocument),
}

/// One scanned page (or one passed-through PDF document).
#[derive(Debug, Clone)]
pub struct Page {
    /// 1-based position in the session, in the order pages were completed.
    pub sequence: u32,
    /// The pixels, or the PDF.
    pub content: PageContent,
    /// Where the file is on disk now: the `scanimage` output file, or the file in the hot
    /// folder's `taken/` folder (with [`TakenAction::Delete`], where it was before deletion).
    pub path: PathBuf,
    /// Resolution in dots per inch, when known (always for SANE; from file metadata otherwise).
    pub resolution_dpi: Option<u32>,
    /// Colour mode, when known (`None` for PDFs and unusual pixel formats).
    pub color_mode: Option<ColorMode>,
    /// Where it came from.
    pub source: PageSource,
}

impl Page {
    /// The decoded image, if this page is a raster page.
    pub fn image(&self) -> Option<&image::DynamicImage> {
        match &self.content {
            PageContent::Image(img) => Some(img),
            PageContent::Pdf(_) => None,
        }
    }
}

/// Output file format asked of `scanimage`.
///
/// PNM is the default: it needs no compression work inside `scanimage`, so pages are reported as
/// fast as the scanner moves, and the pipeline compresses later anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileFormat {
    /// Portable anymap (`.pnm`).
    #[default]
    Pnm,
    /// TIFF (`.tif`).
    Tiff,
    /// PNG (`.png`).
    Png,
}

impl FileFormat {
    /// The value for `scanimage --format`.
    pub fn scanimage_name(self) -> &'static str {
        match self {
            FileFormat::Pnm => "pnm",
            FileFormat::Tiff => "tiff",
            FileFormat::Png => "png",
        }
    }

    /// File extension used for page files.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Pnm => "pnm",
            FileFormat::Tiff => "tif",
            FileFormat::Png => "png",
        }
    }
}

/// What to scan: settings for one batch.
///
/// Defaults follow Decree 30/2020 annex I (colour, at least 200 dpi) and the usual intake
/// setting (the feeder, front side).
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// Folder where page files are written (must exist). Files are named
    /// `b<batch id>-p0001.<ext>` so batches never overwrite each other.
    pub output_dir: PathBuf,
    /// Resolution in dpi. Default 200.
    pub resolution_dpi: u32,
    /// Colour mode. Default colour.
    pub mode: ColorMode,
    /// Feed. Default the document feeder.
    pub source: FeedSource,
    /// Stop after this many pages; `None` scans until the feeder is empty.
    pub max_pages: Option<u32>,
    /// File format of page files. Default PNM.
    pub format: FileFormat,
    /// The longest wait for the next page before the scan is stopped as
    /// [`ScanError::Timeout`]. Default 120 s (lamp warm-up on old scanners takes up to a minute).
    pub page_timeout: Duration,
    /// Extra backend-specific `scanimage` arguments (e.g. `--swdeskew=yes`), passed as given.
    pub extra_args: Vec<String>,
}

impl BatchRequest {
    /// A request with the defaults, writing into `output_dir`.
    pub fn new(output_dir: impl Into<PathBuf>) -> Self {
        BatchRequest {
            output_dir: output_dir.into(),
            resolution_dpi: 200,
            mode: ColorMode::Color,
            source: FeedSource::Adf,
            max_pages: None,
            format: FileFormat::Pnm,
            page_timeout: Duration::from_secs(120),
            extra_args: Vec::new(),
        }
    }
}

/// Why a session ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEnd {
    /// The feeder ran out of paper after at least one page: the normal end of a feeder batch.
    FeederEmptied,
    /// All requested pages were scanned (flatbed, or `max_pages`).
    Completed,
    /// [`ScanSession::cancel`] was called.
    Cancelled,
    /// A hot folder stayed quiet for its idle time after the session started.
    Idle,
}

/// How a session ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Pages delivered.
    pub pages: u32,
    /// Why it ended.
    pub end: BatchEnd,
}

/// Something that happened during a session.
#[derive(Debug)]
pub enum ScanEvent {
    /// A page is complete (the progress event: one per page, as it completes).
    Page(Page),
    /// A hot-folder file was set aside into `rejected/` because it never became readable; the
    /// session goes on.
    Rejected {
        /// Where the file now is.
        path: PathBuf,
        /// Why it was rejected.
        error: ScanError,
    },
    /// The session is over; nothing follows.
    Finished(Result<BatchSummary, ScanError>),
}

/// A failed session together with every page it produced before failing.
///
/// The staff flow must not lose the 14 pages that went through before a jam on page 15.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({} trang đã quét được giữ lại / page(s) already scanned are kept)", pages.len())]
pub struct BatchError {
    /// Pages completed before the failure, in order.
    pub pages: Vec<Page>,
    /// What failed.
    pub error: ScanError,
}

/// A source of scanned pages.
///
/// `start` is synchronous and returns at once (it must be called inside a Tokio runtime): the
/// work runs in a background task and reports through the returned [`ScanSession`]. This keeps
/// the trait object-safe, so the kiosk config can pick an implementation at run time.
pub trait DocumentScanner: Send + Sync {
    /// A short human-readable name for logs and the technician screen.
    fn name(&self) -> String;

    /// Start a session. Errors (including "device not found") arrive as the final
    /// [`ScanEvent::Finished`], so callers have one place to handle them.
    fn start(&self, request: &BatchRequest) -> ScanSession;
}

/// A running scan: a stream of [`ScanEvent`]s and a way to stop it.
///
/// Dropping the session cancels it: the worker stops the child process (SIGTERM, then SIGKILL)
/// and waits for it, so no zombie process is left behind.
#[derive(Debug)]
pub struct ScanSession {
    events: mpsc::Receiver<ScanEvent>,
    cancel: Option<oneshot::Sender<()>>,
    process_id: Option<u32>,
    label: String,
    finished: bool,
}

impl ScanSession {
    /// Create a session and the worker's ends of it.
    pub(crate) fn channel(label: String) -> (ScanSession, SessionWorker) {
        let (tx, rx) = mpsc::channel(8);
        let (cancel_tx, cancel_rx) = oneshot::channel();
        (
            ScanSession {
                events: rx,
                cancel: Some(cancel_tx),
                process_id: None,
                label,
                finished: false,
            },
            SessionWorker {
                events: tx,
                cancel: Some(cancel_rx),
            },
        )
    }

    /// The id of the child process driving this session, if any (for diagnostics and tests).
    pub fn process_id(&self) -> Option<u32> {
        self.process_id
    }

    pub(crate) fn set_process_id(&mut self, pid: Option<u32>) {
        self.process_id = pid;
    }

    /// The next event; `None` after [`ScanEvent::Finished`] was returned.
    pub async fn next_event(&mut self) -> Option<ScanEvent> {
        if self.finished {
            return None;
        }
        match self.events.recv().await {
            Some(ev) => {
                if matches!(ev, ScanEvent::Finished(_)) {
                    self.finished = true;
                }
                Some(ev)
            }
            None => {
                self.finished = true;
                Some(ScanEvent::Finished(Err(ScanError::WorkerStopped {
                    device: self.label.clone(),
                })))
            }
        }
    }

    /// Wait for the end and return every page, or the error with the pages delivered before it.
    /// Rejected hot-folder files are logged and skipped.
    pub async fn collect(mut self) -> Result<Vec<Page>, BatchError> {
        let mut pages = Vec::new();
        while let Some(ev) = self.next_event().await {
            match ev {
                ScanEvent::Page(p) => pages.push(p),
                ScanEvent::Rejected { path, error } => {
                    tracing::warn!(path = %path.display(), %error, "hot-folder file rejected");
                }
                ScanEvent::Finished(Ok(_)) => return Ok(pages),
                ScanEvent::Finished(Err(error)) => return Err(BatchError { pages, error }),
            }
        }
        Ok(pages)
    }

    /// Ask the worker to stop, then drain: pages completed before the stop are still returned.
    pub async fn cancel(mut self) -> Result<Vec<Page>, BatchError> {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
        self.collect().await
    }
}

/// The worker's side of a [`ScanSession`].
#[derive(Debug)]
pub(crate) struct SessionWorker {
    events: mpsc::Sender<ScanEvent>,
    /// Resolves when the session is cancelled or dropped; `None` once that happened.
    cancel: Option<oneshot::Receiver<()>>,
}

impl SessionWorker {
    /// Resolves when the session was cancelled or dropped (at once if that already happened).
    pub(crate) async fn cancelled(&mut self) {
        if let Some(rx) = self.cancel.as_mut() {
            let _ = rx.await;
            self.cancel = None;
        }
    }

    /// Send an event; `false` if the session was dropped (stop working then). A cancelled but
    /// still-draining session keeps receiving, so pages finished before the stop are delivered.
    pub(crate) async fn send(&mut self, ev: ScanEvent) -> bool {
        self.events.send(ev).await.is_ok()
    }

    /// Send the final event, even after a cancel (a dropped session simply ignores it).
    pub(crate) async fn finish(self, result: Result<BatchSummary, ScanError>) {
        let _ = self.events.send(ScanEvent::Finished(result)).await;
    }
}

/// Seconds for messages, rounded up so a 300 ms limit is not shown as "0 s".
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
