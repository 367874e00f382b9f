//! The errors of the page pipeline.
//!
//! Kept in their own module because compression ([`super::encode`]), PDF writing
//! ([`super::pdf`]) and the driver all return them, and none of those should depend on another
//! just for the error type.

use std::path::PathBuf;

/// Everything that can go wrong in the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The page's resolution is below [`PipelineConfig::min_dpi`](super::PipelineConfig::min_dpi) (or zero).
    #[error("trang {page}: độ phân giải {dpi} dpi thấp hơn {min} dpi / page {page}: {dpi} dpi is below the required {min} dpi")]
    ResolutionTooLow {
        /// Batch page number (1-based).
        page: u32,
        /// Its resolution.
        dpi: u32,
        /// The minimum.
        min: u32,
    },
    /// JPEG cannot hold the page (over 65 535 pixels on a side) or the page is empty.
    #[error("page {page}: {width}×{height} pixels cannot be stored as JPEG")]
    BadSize {
        /// Batch page number.
        page: u32,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The JPEG encoder failed.
    #[error("page {page}: JPEG encoding failed: {detail}")]
    Jpeg {
        /// Batch page number.
        page: u32,
        /// The encoder's message.
        detail: String,
    },
    /// A page handed to [`PagePipeline::push_page`](super::PagePipeline::push_page) is a PDF, not pixels.
    #[error("page {sequence} is a PDF document, not a raster page; store it as it is")]
    NotRaster {
        /// The page's sequence number in its scan session.
        sequence: u32,
    },
    /// Writing a PDF (or creating the output folder) failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}
