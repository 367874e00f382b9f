//! What a scanner is asked for and hands back: colour modes and feeds as the intake flow thinks
//! of them, file formats, the batch request, and pages with where they came from.
//!
//! Kept apart from the session plumbing ([`super::session`]) and from the scanners themselves so
//! that both scanners and the pipeline depend on these types without depending on each other.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// The file's bytes, read once so they survive [`TakenAction::Delete`](super::TakenAction::Delete).
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
    /// folder's `taken/` folder (with [`TakenAction::Delete`](super::TakenAction::Delete), where it was before deletion).
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
    /// [`ScanError::Timeout`](super::ScanError::Timeout). Default 120 s (lamp warm-up on old scanners takes up to a minute).
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
