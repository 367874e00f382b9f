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
mod page;
#[cfg(unix)]
pub mod sane;
mod session;

pub use error::ScanError;
pub use hot_folder::{is_ignored_name, HotFolder, HotFolderConfig, TakenAction};
pub use page::{
    BatchRequest, ColorMode, FeedSource, FileFormat, Page, PageContent, PageSource, PdfDocument,
};
#[cfg(unix)]
pub use sane::{
    classify_exit, device_options, list_devices, parse_device_list, parse_device_options,
    DeviceInfo, DeviceOptions, ResolutionRange, SaneConfig, SaneOption, SaneScanner,
};
pub use session::{BatchEnd, BatchError, BatchSummary, DocumentScanner, ScanEvent, ScanSession};
