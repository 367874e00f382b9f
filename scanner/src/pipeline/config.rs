//! The settings of a [`PagePipeline`](super::PagePipeline): what counts as blank, how pages are
//! compressed, which resolutions are accepted, how PDFs are written.
//!
//! Kept apart from the driver so the defaults, and the measurements behind them, are read in
//! one place.

use std::path::PathBuf;

use super::encode::OutputMode;
use super::pdf;
use crate::codes::FrameDecoderConfig;

/// How blank pages are recognised ([`paper`](super::paper): paper boundary, local paper level,
/// connected components).
///
/// Defaults tuned on realistic pages of seeds 1–20 ([`synth::realistic`](super::synth::realistic)):
/// blank backs with 3–8 % bleed-through, holes and dust dropped; a signature alone, a date or
/// one handwritten line in ballpoint kept.
#[derive(Debug, Clone, PartialEq)]
pub struct BlankConfig {
    /// A pixel darker than the local paper level by this fraction is ink. Default 0.20: the
    /// lightest ballpoint on grey paper is 30 % darker, show-through a few percent.
    pub ink_contrast: f64,
    /// Marks darker than the paper by this fraction but lighter than ink are show-through
    /// (only reported). Default 0.04.
    pub faint_contrast: f64,
    /// Ink components smaller than this (mm, longest side) are dust. Default 1.0: a written
    /// full stop is about 0.5 mm but never alone on a page; a letter is 2 mm or more.
    pub speck_mm: f64,
    /// Ink components within this distance of the paper's edge (mm) are edge shadows.
    /// Default 1.5.
    pub edge_mm: f64,
    /// A page with at most this many content components is blank. Default 0.
    pub max_content_marks: u32,
}

impl Default for BlankConfig {
    fn default() -> Self {
        Self {
            ink_contrast: 0.20,
            faint_contrast: 0.04,
            speck_mm: 1.0,
            edge_mm: 1.5,
            max_content_marks: 0,
        }
    }
}

/// Settings of a [`PagePipeline`](super::PagePipeline).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Folder where PDFs are written (created if missing).
    pub output_dir: PathBuf,
    /// File names are `<prefix>-<document number, 3 digits>[-<dossier code>-<document index>].pdf`.
    /// Default `"batch"`.
    pub file_prefix: String,
    /// How pages are stored. Default [`OutputMode::Auto`]: bilevel for text, JPEG for the rest.
    pub mode: OutputMode,
    /// JPEG quality, 1–100. Default 75.
    pub jpeg_quality: u8,
    /// Grey levels below this are black on bilevel pages. Default 150: strokes of printed and
    /// handwritten text (below 100 in their middle) stay whole, paper and bleed-through go.
    pub bilevel_threshold: u8,
    /// `auto` mode: a page is two-tone when fewer than this fraction of its analysed pixels are
    /// flat mid-grey ([`encode::is_two_tone`](super::encode::is_two_tone)). Default 0.005.
    pub max_flat_gray: f64,
    /// `auto` mode: a colour page stays colour when more than this fraction of its pixels are
    /// clearly coloured ([`encode::shows_color`](super::encode::shows_color)). Default 0.0005 (a stamp of 2 cm on A4 is
    /// about 0.5 %).
    pub min_color_fraction: f64,
    /// Grey levels at or above this become pure white before JPEG compression; `None` keeps
    /// the pixels as scanned. Default 210: paper and most bleed-through go, light form shading
    /// (about 220) goes too, pencil and faded stamps (below 200) stay.
    pub whiten_above: Option<u8>,
    /// Whether [`PipelineConfig::whiten_above`] also applies to colour pages (to pixels whose
    /// three channels are all at or above it). Default `false`: pale security backgrounds of
    /// certificates are part of the copy.
    pub whiten_color: bool,
    /// Blank page detection; `None` keeps every page. Default [`BlankConfig::default`].
    pub blank: Option<BlankConfig>,
    /// Pages are box-downscaled by an integer factor to about this resolution before blank
    /// detection and QR decoding. Default 150 (a 300 dpi page is analysed at half size; QR
    /// modules of separator sheets must keep about 3 pixels after this and after the decoder's
    /// own `max_side` limit).
    pub analysis_dpi: u32,
    /// QR decoder settings. Default [`FrameDecoderConfig::default`].
    pub decoder: FrameDecoderConfig,
    /// Pages below this resolution are refused with [`PipelineError::ResolutionTooLow`](super::PipelineError::ResolutionTooLow).
    /// Default 200 (Decree 30/2020 annex I).
    pub min_dpi: u32,
    /// Resolution assumed by [`PagePipeline::push_page`](super::PagePipeline::push_page) when the file did not say. Default 200.
    pub default_dpi: u32,
    /// Crop each page to the paper's boundary found by blank detection and whiten the
    /// backing left in skewed corners and the punched holes, so no black strip or disc of the
    /// scanner's backing reaches the PDF. Default `true`.
    pub crop: bool,
    /// `auto` mode: seals, photos and shading of a grey page that is not two-tone go into a
    /// JPEG layer at this resolution under a Group 4 layer of the text
    /// ([`mixed`](super::mixed)). Default 200 (Decree 30/2020 annex I asks ≥ 200 dpi);
    /// `None` stores such pages as grey JPEG.
    pub mixed_picture_dpi: Option<u32>,
    /// Straighten pages fed crooked by up to this many degrees ([`deskew`](super::deskew)); `None` leaves
    /// pages as scanned. Default `None` (feeders often deskew themselves, and every crooked
    /// page is rotated at full resolution).
    pub deskew_max_degrees: Option<f64>,
    /// How PDFs are written. Default [`pdf::PdfOptions::system_default`]: PDF/A-2b with the
    /// system's sRGB profile when Debian's `icc-profiles-free` is installed.
    pub pdf: pdf::PdfOptions,
}

impl PipelineConfig {
    /// Defaults, writing PDFs into `output_dir`.
    pub fn new(output_dir: impl Into<PathBuf>) -> Self {
        Self {
            output_dir: output_dir.into(),
            file_prefix: "batch".to_owned(),
            mode: OutputMode::Auto,
            jpeg_quality: 75,
            bilevel_threshold: 150,
            max_flat_gray: 0.005,
            min_color_fraction: 0.0005,
            whiten_above: Some(210),
            whiten_color: false,
            blank: Some(BlankConfig::default()),
            analysis_dpi: 150,
            decoder: FrameDecoderConfig::default(),
            min_dpi: 200,
            default_dpi: 200,
            crop: true,
            mixed_picture_dpi: Some(200),
            deskew_max_degrees: None,
            pdf: pdf::PdfOptions::system_default(),
        }
    }
}
