//! Intake page pipeline: scanned pages in, one PDF per document of a dossier out.
//!
//! Each page pushed into a [`PagePipeline`] goes through three steps:
//!
//! 1. **Blank detection** on a box-downscaled grey copy (about [`PipelineConfig::analysis_dpi`]):
//!    pixels darker than [`BlankConfig::dark_threshold`] are counted outside a margin
//!    ([`BlankConfig::margin`], where scanners leave edge shadows); the page is blank when they
//!    are fewer than [`BlankConfig::max_dark_fraction`]. Averaging blocks first removes
//!    scanner noise and dust specks; the threshold ignores bleed-through of the front side.
//! 2. **QR decoding** of that same copy with [`FrameDecoder`]: a page carrying a
//!    `MOTCUA-SEP1|…` code ([`Separator`]) is a separator sheet and starts a new document; it is
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

pub mod deskew;
pub mod encode;
pub mod pdf;
pub mod synth;

use std::path::PathBuf;

use image::{DynamicImage, GrayImage};
use motcua_domain::qr_payload::Separator;

use crate::codes::{FrameDecoder, FrameDecoderConfig, GrayFrame};
use crate::documents::{Page, PageContent};

pub use encode::{EncodedPage, OutputMode, PageEncoding};
use pdf::PdfFile;

/// How blank pages are recognised (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct BlankConfig {
    /// A pixel of the downscaled grey copy darker than this (0 = black) is ink. Default 128:
    /// well below paper with scanner noise and below most bleed-through.
    pub dark_threshold: u8,
    /// A page with fewer ink pixels than this fraction of the analysed area is blank.
    /// Default 0.001 (0.1 %); one line of text is about 0.2–0.3 %.
    pub max_dark_fraction: f64,
    /// Fraction of width and height ignored on each side (edge shadows, punched holes).
    /// Default 0.03.
    pub margin: f64,
}

impl Default for BlankConfig {
    fn default() -> Self {
        Self {
            dark_threshold: 128,
            max_dark_fraction: 0.001,
            margin: 0.03,
        }
    }
}

/// Settings of a [`PagePipeline`].
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
    /// flat mid-grey ([`encode::is_two_tone`]). Default 0.005.
    pub max_flat_gray: f64,
    /// `auto` mode: a colour page stays colour when more than this fraction of its pixels are
    /// clearly coloured ([`encode::shows_color`]). Default 0.0005 (a stamp of 2 cm on A4 is
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
    /// Pages below this resolution are refused with [`PipelineError::ResolutionTooLow`].
    /// Default 200 (Decree 30/2020 annex I).
    pub min_dpi: u32,
    /// Resolution assumed by [`PagePipeline::push_page`] when the file did not say. Default 200.
    pub default_dpi: u32,
    /// Straighten pages fed crooked by up to this many degrees ([`deskew`]); `None` leaves
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
            deskew_max_degrees: None,
            pdf: pdf::PdfOptions::system_default(),
        }
    }
}

/// Everything that can go wrong in the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The page's resolution is below [`PipelineConfig::min_dpi`] (or zero).
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
    /// A page handed to [`PagePipeline::push_page`] is a PDF, not pixels.
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

/// Thumbnails of [`ProcessedPage::Content`] are about this many pixels wide.
pub const THUMBNAIL_WIDTH: u32 = 150;

/// One page analysed and compressed by [`PagePipeline::process`].
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
        /// The page carries the black band of a separator sheet ([`has_separator_band`]) but
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
    /// [`PagePipeline::finish`]) and is itself not kept.
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
        /// The document (index into the result of [`PagePipeline::finish`]).
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

#[derive(Debug)]
struct OpenDocument {
    separator: Option<Separator>,
    /// Its number (1-based) in the batch, part of the file name.
    number: usize,
    pages: Vec<u32>,
    encodings: Vec<PageEncoding>,
    /// Created with the first page.
    pdf: Option<PdfFile>,
}

/// Turns a batch of pages into documents; see the [module documentation](self).
#[derive(Debug)]
pub struct PagePipeline {
    config: PipelineConfig,
    decoder: FrameDecoder,
    pushed: u32,
    current: Option<OpenDocument>,
    done: Vec<AssembledDocument>,
    output_ready: bool,
}

impl PagePipeline {
    /// A pipeline with these settings (the output folder is created on the first write).
    pub fn new(config: PipelineConfig) -> Self {
        let decoder = FrameDecoder::new(config.decoder.clone());
        Self {
            config,
            decoder,
            pushed: 0,
            current: None,
            done: Vec::new(),
            output_ready: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Pages pushed so far (including refused ones, so numbers match the paper order).
    pub fn pages_pushed(&self) -> u32 {
        self.pushed
    }

    /// A page from a scan session or hot folder, at its recorded resolution (or
    /// [`PipelineConfig::default_dpi`]). PDF pass-through documents are refused.
    pub fn push_page(&mut self, page: Page) -> Result<PageOutcome, PipelineError> {
        let dpi = page.resolution_dpi.unwrap_or(self.config.default_dpi);
        match page.content {
            PageContent::Image(img) => self.push(img, dpi),
            PageContent::Pdf(_) => Err(PipelineError::NotRaster {
                sequence: page.sequence,
            }),
        }
    }

    /// Analyses and compresses one page scanned at `dpi` without assembling it into a document:
    /// for callers that keep pages apart until an officer has checked them (the intake flow,
    /// which reorders, deletes and rescans pages before the PDFs are made with
    /// [`pdf::PdfFile`]). The page gets the next batch page number even when it is refused.
    pub fn process(
        &mut self,
        page: DynamicImage,
        dpi: u32,
    ) -> Result<ProcessedPage, PipelineError> {
        self.pushed += 1;
        let number = self.pushed;
        if dpi == 0 || dpi < self.config.min_dpi {
            return Err(PipelineError::ResolutionTooLow {
                page: number,
                dpi,
                min: self.config.min_dpi,
            });
        }
        let (width, height) = (page.width(), page.height());
        if width == 0 || height == 0 || width > 65_535 || height > 65_535 {
            return Err(PipelineError::BadSize {
                page: number,
                width,
                height,
            });
        }
        let page = normalize(page);
        let factor = (dpi / self.config.analysis_dpi.max(1)).max(1);
        let small = match &page {
            DynamicImage::ImageLuma8(g) => box_downscale(g, factor),
            other => box_downscale(&other.to_luma8(), factor),
        };

        if let Some(blank) = &self.config.blank {
            if is_blank(&small, blank) {
                tracing::debug!(page = number, "pipeline: blank page dropped");
                return Ok(ProcessedPage::Blank);
            }
        }
        if let Some(separator) = self.find_separator(&small, number) {
            return Ok(ProcessedPage::Separator(separator));
        }
        let (page, small) = match self.config.deskew_max_degrees {
            Some(max) => {
                let angle = deskew::estimate_skew(&small, max);
                if angle.abs() >= 0.2 {
                    tracing::debug!(page = number, angle, "pipeline: page straightened");
                    let page = match page {
                        DynamicImage::ImageLuma8(g) => {
                            DynamicImage::ImageLuma8(deskew::rotate_gray(&g, angle))
                        }
                        DynamicImage::ImageRgb8(c) => {
                            DynamicImage::ImageRgb8(deskew::rotate_rgb(&c, angle))
                        }
                        other => other,
                    };
                    let small = deskew::rotate_gray(&small, angle);
                    (page, small)
                } else {
                    (page, small)
                }
            }
            None => (page, small),
        };
        let looks_like_separator = has_separator_band(&small, dpi / factor);
        let thumb_factor = (small.width() / THUMBNAIL_WIDTH).max(1);
        let thumbnail = box_downscale(&small, thumb_factor);
        let encoded = self.encode(page, &small, dpi, number)?;
        Ok(ProcessedPage::Content {
            encoded,
            looks_like_separator,
            thumbnail,
        })
    }

    /// Process one page scanned at `dpi`. The page gets the next batch page number even when
    /// it is refused.
    pub fn push(&mut self, page: DynamicImage, dpi: u32) -> Result<PageOutcome, PipelineError> {
        let number = self.pushed + 1;
        let encoded = match self.process(page, dpi)? {
            ProcessedPage::Blank => return Ok(PageOutcome::Blank),
            ProcessedPage::Separator(separator) => {
                self.close_current()?;
                let document = self.done.len();
                self.current = Some(OpenDocument {
                    separator: Some(separator.clone()),
                    number: document + 1,
                    pages: Vec::new(),
                    encodings: Vec::new(),
                    pdf: None,
                });
                tracing::info!(
                    page = number,
                    document,
                    index = separator.document_index,
                    "pipeline: separator sheet"
                );
                return Ok(PageOutcome::Separator {
                    separator,
                    document,
                });
            }
            ProcessedPage::Content {
                encoded,
                looks_like_separator,
                ..
            } => {
                if looks_like_separator {
                    tracing::warn!(
                        page = number,
                        "pipeline: page looks like a separator sheet but its code is unreadable; kept as a document page"
                    );
                }
                encoded
            }
        };
        let document = self.done.len();
        if self.current.is_none() {
            self.current = Some(OpenDocument {
                separator: None,
                number: document + 1,
                pages: Vec::new(),
                encodings: Vec::new(),
                pdf: None,
            });
        }
        self.ensure_output()?;
        let Some(current) = self.current.as_mut() else {
            unreachable!("opened above")
        };
        if current.pdf.is_none() {
            let path = self
                .config
                .output_dir
                .join(file_name(&self.config.file_prefix, current));
            current.pdf = Some(PdfFile::create_with(
                &path,
                &title(current),
                self.config.pdf.clone(),
            )?);
        }
        if let Some(pdf) = current.pdf.as_mut() {
            pdf.add_page(&encoded)?;
        }
        current.pages.push(number);
        current.encodings.push(encoded.encoding);
        Ok(PageOutcome::Added { document })
    }

    /// Compresses a (normalised) page by the configured mode; `small` is its analysis copy.
    fn encode(
        &self,
        mut page: DynamicImage,
        small: &GrayImage,
        dpi: u32,
        number: u32,
    ) -> Result<EncodedPage, PipelineError> {
        let c = &self.config;
        let mode = match (c.mode, &page) {
            (OutputMode::Auto, DynamicImage::ImageRgb8(rgb))
                if encode::shows_color(rgb, c.min_color_fraction) =>
            {
                OutputMode::Color
            }
            (OutputMode::Auto, _) if encode::is_two_tone(small, c.max_flat_gray) => {
                OutputMode::Bilevel
            }
            (OutputMode::Auto, _) => OutputMode::Gray,
            (mode, _) => mode,
        };
        if mode == OutputMode::Bilevel {
            let gray = match page {
                DynamicImage::ImageLuma8(g) => g,
                other => other.to_luma8(),
            };
            return Ok(encode::encode_group4(&gray, dpi, c.bilevel_threshold));
        }
        if mode == OutputMode::Gray {
            if let DynamicImage::ImageRgb8(_) = page {
                page = DynamicImage::ImageLuma8(page.to_luma8());
            }
        }
        if let Some(level) = c.whiten_above {
            whiten(&mut page, level, c.whiten_color);
        }
        encode::encode_jpeg(&page, dpi, c.jpeg_quality, number)
    }

    /// Write the last document and return every document of the batch, in order.
    pub fn finish(mut self) -> Result<Vec<AssembledDocument>, PipelineError> {
        self.close_current()?;
        Ok(self.done)
    }

    fn find_separator(&self, small: &GrayImage, number: u32) -> Option<Separator> {
        match self.decoder.decode(GrayFrame::from_image(small)) {
            Ok(codes) => codes
                .iter()
                .find_map(|c| Separator::parse(c.payload.as_str())),
            Err(error) => {
                tracing::warn!(page = number, %error, "pipeline: QR decoding failed; page kept as a document page");
                None
            }
        }
    }

    /// Completes the open document's PDF (if any).
    fn close_current(&mut self) -> Result<(), PipelineError> {
        let Some(doc) = self.current.take() else {
            return Ok(());
        };
        let path = self
            .config
            .output_dir
            .join(file_name(&self.config.file_prefix, &doc));
        let (pdf_path, pdf_bytes) = match doc.pdf {
            None => (None, 0),
            Some(pdf) => (Some(path), pdf.finish()?),
        };
        tracing::info!(
            document = doc.number - 1,
            pages = doc.pages.len(),
            bytes = pdf_bytes,
            "pipeline: document assembled"
        );
        self.done.push(AssembledDocument {
            separator: doc.separator,
            pdf_path,
            pdf_bytes,
            pages: doc.pages,
            encodings: doc.encodings,
        });
        Ok(())
    }

    fn ensure_output(&mut self) -> Result<(), PipelineError> {
        if !self.output_ready {
            std::fs::create_dir_all(&self.config.output_dir).map_err(|source| {
                PipelineError::Io {
                    action: "creating the output folder",
                    path: self.config.output_dir.clone(),
                    source,
                }
            })?;
            self.output_ready = true;
        }
        Ok(())
    }
}

/// Grey stays grey (8 bits), everything else becomes 8-bit RGB.
fn normalize(page: DynamicImage) -> DynamicImage {
    match page {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => page,
        DynamicImage::ImageLuma16(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageLumaA16(_) => DynamicImage::ImageLuma8(page.to_luma8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    }
}

/// Pixels at or above `level` become 255 (colour pixels only with `color`, when all three
/// channels are).
fn whiten(page: &mut DynamicImage, level: u8, color: bool) {
    match page {
        DynamicImage::ImageLuma8(g) => {
            for p in g.iter_mut() {
                if *p >= level {
                    *p = 255;
                }
            }
        }
        DynamicImage::ImageRgb8(c) if color => {
            for p in c.chunks_exact_mut(3) {
                if p.iter().all(|&v| v >= level) {
                    p.fill(255);
                }
            }
        }
        _ => {}
    }
}

/// Averages `factor × factor` blocks.
fn box_downscale(img: &GrayImage, factor: u32) -> GrayImage {
    if factor <= 1 {
        return img.clone();
    }
    let f = factor as usize;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = ((w / f).max(1), (h / f).max(1));
    if w < f || h < f {
        return img.clone();
    }
    let src = img.as_raw();
    let mut out = vec![0u8; nw * nh];
    let mut sums = vec![0u32; nw];
    let area = (f * f) as u32;
    for (oy, out_row) in out.chunks_exact_mut(nw).enumerate() {
        sums.iter_mut().for_each(|s| *s = 0);
        for y in oy * f..oy * f + f {
            let row = &src[y * w..y * w + nw * f];
            for (s, block) in sums.iter_mut().zip(row.chunks_exact(f)) {
                *s += block.iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        for (o, s) in out_row.iter_mut().zip(&sums) {
            *o = (s / area) as u8;
        }
    }
    GrayImage::from_raw(nw as u32, nh as u32, out).unwrap_or_else(|| img.clone())
}

/// Whether a (downscaled, grey, at `dpi`) page carries the band printed across the top of
/// separator sheets (`kioskctl separators`): within the top fifth of the page, a run of 3 to
/// 12 mm of consecutive rows that are at least 90 % dark across the middle 70 % of the width,
/// with light rows above and below it. Text, tables and ruled forms have no such solid band,
/// and a page dark all over is not one; a sheet whose QR code is torn, folded or smudged keeps
/// it, so the page can be put to the officer instead of being taken for a document page.
pub fn has_separator_band(small: &GrayImage, dpi: u32) -> bool {
    let (w, h) = (small.width() as usize, small.height() as usize);
    let mm = |v: f64| ((dpi as f64) * v / 25.4).round().max(1.0) as usize;
    let (min_run, max_run) = (mm(3.0).max(2), mm(12.0));
    let (x0, x1) = (w * 15 / 100, w * 85 / 100);
    if x1 <= x0 {
        return false;
    }
    let raw = small.as_raw();
    let dark_row = |y: usize| {
        let dark = raw[y * w + x0..y * w + x1]
            .iter()
            .filter(|&&p| p < 100)
            .count();
        dark * 10 >= (x1 - x0) * 9
    };
    let mut run = 0;
    let mut light_above = false;
    for y in 0..h / 5 {
        if dark_row(y) {
            run += 1;
        } else {
            if light_above && (min_run..=max_run).contains(&run) {
                return true;
            }
            run = 0;
            light_above = true;
        }
    }
    false
}

/// Whether a (downscaled, grey) page is blank by `config`.
pub fn is_blank(small: &GrayImage, config: &BlankConfig) -> bool {
    let (w, h) = (small.width() as usize, small.height() as usize);
    let margin = config.margin.clamp(0.0, 0.45);
    let (mx, my) = ((w as f64 * margin) as usize, (h as f64 * margin) as usize);
    let (x0, x1, y0, y1) = (mx, w - mx, my, h - my);
    if x1 <= x0 || y1 <= y0 {
        return true;
    }
    let raw = small.as_raw();
    let dark: usize = (y0..y1)
        .map(|y| {
            raw[y * w + x0..y * w + x1]
                .iter()
                .filter(|&&p| p < config.dark_threshold)
                .count()
        })
        .sum();
    let area = (x1 - x0) * (y1 - y0);
    (dark as f64) < config.max_dark_fraction * area as f64
}

/// `<prefix>-<number, 3 digits>[-<dossier code>-<document index, 2 digits>].pdf`, made safe.
fn file_name(prefix: &str, doc: &OpenDocument) -> String {
    let mut name = format!("{prefix}-{:03}", doc.number);
    if let Some(s) = &doc.separator {
        name.push_str(&format!("-{}-{:02}", s.dossier_code, s.document_index));
    }
    name.push_str(".pdf");
    sanitize(&name)
}

/// The PDF's title: dossier code and document name, or "unsorted".
fn title(doc: &OpenDocument) -> String {
    match &doc.separator {
        Some(s) => format!("{} – {}", s.dossier_code, s.document_name),
        None => "Chưa phân loại / unsorted".to_owned(),
    }
}

/// Keeps letters, digits, `.`, `-` and `_`; anything else becomes `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_not_ink_but_a_line_of_text_is() {
        let cfg = BlankConfig::default();
        let mut page = GrayImage::from_pixel(800, 1100, image::Luma([235]));
        crate::codes::synth::add_noise(&mut page, 20, 7);
        assert!(is_blank(&page, &cfg));
        for y in 500..512 {
            for x in 100..700 {
                if (x / 3) % 2 == 0 {
                    page.put_pixel(x, y, image::Luma([30]));
                }
            }
        }
        assert!(!is_blank(&page, &cfg));
    }

    #[test]
    fn a_separator_band_is_a_band_not_a_dark_page() {
        // 150 dpi, A4-ish: a 5 mm band 1 cm from the top.
        let mut page = GrayImage::from_pixel(1240, 1754, image::Luma([245]));
        for y in 60..90 {
            for x in 100..1140 {
                page.put_pixel(x, y, image::Luma([10]));
            }
        }
        assert!(has_separator_band(&page, 150));
        let black = GrayImage::from_pixel(1240, 1754, image::Luma([5]));
        assert!(!has_separator_band(&black, 150));
        // A thin ruled line is no band.
        let mut ruled = GrayImage::from_pixel(1240, 1754, image::Luma([245]));
        for y in 60..63 {
            for x in 100..1140 {
                ruled.put_pixel(x, y, image::Luma([10]));
            }
        }
        assert!(!has_separator_band(&ruled, 150));
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            sanitize("b-001-000.17.22.H56/x y.pdf"),
            "b-001-000.17.22.H56_x_y.pdf"
        );
    }
}
