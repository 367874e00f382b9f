//! Intake page pipeline: scanned pages in, one PDF per document of a dossier out.
//!
//! Each page pushed into a [`PagePipeline`] goes through these steps:
//!
//! 1. **Blank detection** on a box-downscaled grey copy (about [`PipelineConfig::analysis_dpi`]),
//!    by [`paper`]: the paper's boundary against the scanner's backing, ink relative to the
//!    local paper level, connected components sorted into punched holes, dust, edge marks and
//!    content; blank when no content component is left ([`BlankConfig`]). Bleed-through stays
//!    under the ink contrast; a signature or one handwritten line is content. Every decision
//!    comes with its reasons ([`PaperAnalysis::explanation`]), and [`PagePipeline::process`]
//!    still compresses a blank page so an officer can restore it.
//! 2. **QR decoding** of that same copy: a page carrying a
//!    `MOTCUA-SEP1|…` code ([`Separator`](motcua_domain::qr_payload::Separator)) is a separator sheet and starts a new document; it is
//!    not part of any document. Other codes do not matter here. A page the decoder fails on is
//!    treated as a page without codes.
//! 3. **Crop** to the paper's boundary ([`PipelineConfig::crop`]): backing strips cut off,
//!    backing left in skewed corners and punched holes whitened, then the optional deskew.
//! 4. **Compression** of the full-resolution pixels by [`PipelineConfig::mode`]
//!    ([`OutputMode`], see [`encode`]): baseline JPEG in grey or colour
//!    ([`PipelineConfig::jpeg_quality`]), or 1 bit per pixel with CCITT Group 4 for text pages
//!    ([`PipelineConfig::bilevel_threshold`]), or mixed raster ([`mixed`]: the text as Group 4
//!    over small JPEG layers of seals, photos and shading); `auto` decides per page. Before JPEG, paper is
//!    made pure white on grey pages ([`PipelineConfig::whiten_above`], the "background
//!    removal" of scanner drivers): scanner noise on paper otherwise costs most of the JPEG
//!    (measured with `bench-pipeline` on synthetic 300 dpi grey text pages at quality 75:
//!    856 KB per page without it, 483 KB with it, about 60 KB as Group 4).
//! 5. **Streaming into the PDF**: the compressed page is appended to its document's PDF file
//!    at once ([`pdf::PdfFile`]) and dropped, so memory holds one page whatever the length of
//!    the batch or of a document.
//!
//! Pages before the first separator form an "unsorted" document (its `separator` is `None`),
//! blank pages are dropped. A document's PDF is created in [`PipelineConfig::output_dir`] with
//! its first page and completed (page tree, cross-reference table, sync, final name) when the
//! next separator comes or at [`PagePipeline::finish`].
//!
//! PDFs follow Decree 30/2020 annex I: PDF 1.7 (≥ 1.4), 100 % scale (each page is exactly the
//! scanned area: pixels / dpi × 72 pt), JPEG embedded as `DCTDecode` without re-encoding,
//! Group 4 as `CCITTFaxDecode` (`/K -1`). Colour is kept as scanned in `color` mode and for
//! pages showing colour in `auto` mode: ask the scanner for colour to get colour copies.

//!
//! The code is split by job: [`PipelineConfig`] and [`BlankConfig`] (the settings), the
//! analysis of the downscaled copy ([`paper`], [`is_blank`], [`has_separator_band`]), what a page becomes
//! ([`ProcessedPage`], [`PageOutcome`], [`AssembledDocument`]), [`PipelineError`], and the
//! driver [`PagePipeline`] that runs the steps and assembles the documents; compression is
//! [`encode`] and [`mixed`], PDF writing [`pdf`], straightening [`deskew`], test pages
//! [`synth`] (clean) and [`synth::realistic`].

mod analysis;
mod config;
pub mod deskew;
mod driver;
pub mod encode;
mod error;
pub mod mixed;
pub mod ocr;
mod outcome;
pub mod paper;
pub mod pdf;
mod pdf_text;
pub mod synth;

pub use analysis::{has_separator_band, is_blank};
pub use config::{BlankConfig, PipelineConfig};
pub use driver::{sanitize, PagePipeline};
pub use encode::{EncodedPage, OutputMode, PageEncoding, PictureLayer};
pub use error::PipelineError;
pub use outcome::{AssembledDocument, PageOutcome, ProcessedPage, THUMBNAIL_WIDTH};
pub use paper::PaperAnalysis;
