//! What a page becomes in the pipeline: a processed page ([`ProcessedPage`]), what happened to a
//! pushed page ([`PageOutcome`]) and the finished documents ([`AssembledDocument`]).
//!
//! Kept apart from the driver because callers (the intake flow, the tests) match on these
//! types without caring how the driver produces them.

use std::path::PathBuf;

use image::GrayImage;
use motcua_domain::qr_payload::Separator;

use super::encode::{EncodedPage, PageEncoding};

/// Thumbnails of [`ProcessedPage::Content`] are about this many pixels wide.
pub const THUMBNAIL_WIDTH: u32 = 150;

/// One page analysed and compressed by [`PagePipeline::process`](super::PagePipeline::process).
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessedPage {
    /// A blank page (to drop).
    Blank,
    /// A separator sheet.
    Separator(Separator),
    /// A document page.
    Content {
        /// The compressed page.
        encoded: EncodedPage,
        /// The page carries the black band of a separator sheet ([`has_separator_band`](super::has_separator_band)) but
        /// no readable separator code: a damaged or badly fed sheet the officer must decide on.
        looks_like_separator: bool,
        /// A small grey copy for progress screens.
        thumbnail: GrayImage,
    },
}

/// What happened to one pushed page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageOutcome {
    /// A separator sheet: it starts document number `document` (index into the result of
    /// [`PagePipeline::finish`](super::PagePipeline::finish)) and is itself not kept.
    Separator {
        /// The decoded separator.
        separator: Separator,
        /// The document it starts.
        document: usize,
    },
    /// A blank page, dropped.
    Blank,
    /// Added to document number `document`.
    Added {
        /// The document (index into the result of [`PagePipeline::finish`](super::PagePipeline::finish)).
        document: usize,
    },
}

/// One finished document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledDocument {
    /// The separator that started it; `None` for the pages before the first separator.
    pub separator: Option<Separator>,
    /// The PDF; `None` when the document got no page (two separators in a row, or only
    /// blank pages after one).
    pub pdf_path: Option<PathBuf>,
    /// Size of the PDF in bytes (0 without a PDF).
    pub pdf_bytes: u64,
    /// Batch page numbers (1-based, in push order) of its pages.
    pub pages: Vec<u32>,
    /// How each of its pages was stored.
    pub encodings: Vec<PageEncoding>,
}
