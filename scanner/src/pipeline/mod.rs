//! Intake page pipeline: scanned pages in, one PDF per document of a dossier out.
//!
//! Each page pushed into a [`PagePipeline`] goes through three steps:
//!
//! 1. **Blank detection** on a box-downscaled grey copy (about [`PipelineConfig::analysis_dpi`]):
//!    pixels darker than [`BlankConfig::dark_threshold`] are counted outside a margin
//!    ([`BlankConfig::margin`], where scanners leave edge shadows); the page is blank when they
//!    are fewer than [`BlankConfig::max_dark_fraction`]. Averaging blocks first removes
//!    scanner noise and dust specks; the threshold ignores bleed-through of the front side.
//! 2. **QR decoding** of that same copy with X a page carrying a
//!    `MOTCUA-SEP1|…` code ([`Separator`](motcua_domain::qr_payload::Separator)) is a separator sheet and starts a new document; it is
//!    not part of any document. Other codes do not matter here. A page the decoder fails on is
//!    treated as a page without codes.
//! 3. **Compression** of the full-resolution pixels by [`PipelineConfig::mode`]
//!    ([`OutputMode`], see [`encode`]): baseline JPEG in grey or colour
//!    ([`PipelineConfig::jpeg_quality`]), or 1 bit per pixel with CCITT Group 4 for text pages
//!    ([`PipelineConfig::bilevel_threshold`]); `auto` decides per page. Before JPEG, paper is
//!    made pure white on grey pages ([`PipelineConfig::whiten_above`], the "background
//!    removal" of scanner drivers): scanner noise on paper otherwise costs most of the JPEG
//!    (measured with `bench-pipeline` on synthetic 300 dpi grey text pages at quality 75:
//!    856 KB per page without it, 483 KB with it, about 60 KB as Group 4).
//! 4. **Streaming into the PDF**: the compressed page is appended to its document's PDF file
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
//! analysis of the downscaled copy ([`is_blank`], [`has_separator_band`]), what a page becomes
//! ([`ProcessedPage`], [`PageOutcome`], [`AssembledDocument`]), [`PipelineError`], and the
//! driver [`PagePipeline`] that runs the steps and assembles the documents; compression is
//! [`encode`], PDF writing [`pdf`], straightening [`deskew`].

mod analysis;
mod config;
pub mod deskew;
mod driver;
pub mod encode;
mod error;
mod outcome;
pub mod pdf;
pub mod synth;

pub use analysis::{has_separator_band, is_blank};
pub use config::{BlankConfig, PipelineConfig};
pub use driver::{sanitize, PagePipeline};
pub use encode::{EncodedPage, OutputMode, PageEncoding};
pub use error::PipelineError;
pub use outcome::{AssembledDocument, PageOutcome, ProcessedPage, THUMBNAIL_WIDTH};
