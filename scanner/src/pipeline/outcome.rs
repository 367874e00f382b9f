//! What a page becomes in the pipeline: a processed page ([`ProcessedPage`]), what happened to a
//! pushed page ([`PageOutcome`]) and the finished documents ([`AssembledDocument`]).
//!
//! Kept apart from the driver because callers (the intake flow, the tests) match on these
//! types without caring how the driver produces them.

use std::path::PathBuf;

use image::GrayImage;
use motcua_domain::qr_payload::Separator;

use super::encode::{EncodedPage, PageEncoding};
use super::paper::PaperAnalysis;

/// Thumbnails of [`ProcessedPage::Content`] are about this many pixels wide.
pub const THUMBNAIL_WIDTH: u32 = 150;

/// One page analysed and compressed by [`PagePipeline::process`](super::PagePipeline::process).
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessedPage {
    /// A blank page (to drop).
    Blank {
        /// Why it is blank ([`PaperAnalysis::explanation`] says it in words).
        analysis: PaperAnalysis,
        /// The page compressed as it would have been kept, so an officer can restore it
        /// ([`PagePipeline::process`](super::PagePipeline::process) fills it,
        /// [`PagePipeline::push`](super::PagePipeline::push) does not spend the time).
        encoded: Option<EncodedPage>,
        /// A small grey copy for the staff screen.
        thumbnail: GrayImage,
    },
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
        /// What blank detection saw on it.
        analysis: PaperAnalysis,
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
    /// A blank page, dropped; the explanation says why ("vi / en").
    Blank(String),
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
    /// Bytes of each page's compressed streams (without the PDF's few hundred bytes of
    /// structure per page).
    pub page_bytes: Vec<u64>,
}
