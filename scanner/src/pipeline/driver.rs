//! The pipeline driver, [`PagePipeline`]: runs each pushed page through analysis, separator
//! decoding, optional straightening and compression, and streams the pages of each document
//! into its PDF.
//!
//! Kept apart from the analysis and the types so that this module is only the order of the
//! steps and the bookkeeping of open and finished documents (numbers, file names, titles).

use image::{DynamicImage, GrayImage};
use motcua_domain::qr_payload::Separator;

use super::analysis::{box_downscale, has_separator_band};
use super::config::PipelineConfig;
use super::deskew;
use super::encode::{self, EncodedPage, OutputMode, PageEncoding};
use super::error::PipelineError;
use super::mixed;
use super::outcome::{AssembledDocument, PageOutcome, ProcessedPage, THUMBNAIL_WIDTH};
use super::paper::{self, PaperAnalysis};
use super::pdf::PdfFile;
use crate::codes::{FrameDecoder, GrayFrame};
use crate::documents::{Page, PageContent};

#[derive(Debug)]
struct OpenDocument {
    separator: Option<Separator>,
    /// Its number (1-based) in the batch, part of the file name.
    number: usize,
    pages: Vec<u32>,
    encodings: Vec<PageEncoding>,
    page_bytes: Vec<u64>,
    /// Created with the first page.
    pdf: Option<PdfFile>,
}

/// Turns a batch of pages into documents; see the [pipeline documentation](super).
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
    /// which reorders, deletes, rescans and restores pages before the PDFs are made with
    /// [`pdf::PdfFile`](super::pdf::PdfFile)). Blank pages come compressed too, so they can be
    /// restored. The page gets the next batch page number even when it is refused.
    pub fn process(
        &mut self,
        page: DynamicImage,
        dpi: u32,
    ) -> Result<ProcessedPage, PipelineError> {
        self.process_page(page, dpi, true)
    }

    fn process_page(
        &mut self,
        page: DynamicImage,
        dpi: u32,
        encode_blank: bool,
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
        let small_dpi = dpi / factor;
        let blank_config = self.config.blank.clone().unwrap_or_default();
        let (analysis, backing) = paper::analyze_with_backing(&small, small_dpi, &blank_config);
        let blank = self.config.blank.is_some() && analysis.blank;

        if !blank {
            if let Some(separator) = self.find_separator(&small, number) {
                return Ok(ProcessedPage::Separator(separator));
            }
        }
        let (page, small) = if self.config.crop {
            crop_to_paper(page, small, factor, &analysis, &backing)
        } else {
            (page, small)
        };
        drop(backing);
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
        let thumb_factor = (small.width() / THUMBNAIL_WIDTH).max(1);
        let thumbnail = box_downscale(&small, thumb_factor);
        if blank {
            tracing::debug!(page = number, why = %analysis.explanation(), "pipeline: blank page dropped");
            let encoded = if encode_blank {
                Some(self.encode(page, &small, dpi, factor, number)?)
            } else {
                None
            };
            return Ok(ProcessedPage::Blank {
                analysis,
                encoded,
                thumbnail,
            });
        }
        let looks_like_separator = has_separator_band(&small, small_dpi);
        let encoded = self.encode(page, &small, dpi, factor, number)?;
        Ok(ProcessedPage::Content {
            encoded,
            looks_like_separator,
            thumbnail,
            analysis,
        })
    }

    /// Process one page scanned at `dpi`. The page gets the next batch page number even when
    /// it is refused.
    pub fn push(&mut self, page: DynamicImage, dpi: u32) -> Result<PageOutcome, PipelineError> {
        let number = self.pushed + 1;
        let encoded = match self.process_page(page, dpi, false)? {
            ProcessedPage::Blank { analysis, .. } => {
                return Ok(PageOutcome::Blank(analysis.explanation()))
            }
            ProcessedPage::Separator(separator) => {
                self.close_current()?;
                let document = self.done.len();
                self.current = Some(OpenDocument {
                    separator: Some(separator.clone()),
                    number: document + 1,
                    pages: Vec::new(),
                    encodings: Vec::new(),
                    page_bytes: Vec::new(),
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
                page_bytes: Vec::new(),
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
        current.page_bytes.push(encoded.stored_bytes() as u64);
        Ok(PageOutcome::Added { document })
    }

    /// Compresses a (normalised) page by the configured mode; `small` is its analysis copy,
    /// `factor` times smaller.
    fn encode(
        &self,
        mut page: DynamicImage,
        small: &GrayImage,
        dpi: u32,
        factor: u32,
        number: u32,
    ) -> Result<EncodedPage, PipelineError> {
        let c = &self.config;
        let mode = match (c.mode, &page) {
            (OutputMode::Auto, DynamicImage::ImageRgb8(rgb))
                if encode::shows_color(rgb, c.min_color_fraction) =>
            {
                OutputMode::Color
            }
            (OutputMode::Auto, _) => {
                let regions = match c.mixed_picture_dpi {
                    Some(_) => mixed::picture_regions(small, dpi / factor),
                    None => Vec::new(),
                };
                let cover = mixed::coverage(&regions, small.width(), small.height());
                if let (Some(picture_dpi), false, true) =
                    (c.mixed_picture_dpi, regions.is_empty(), cover < 0.25)
                {
                    // Seals, photos, shading on a text page: mixed raster.
                    let (pw, ph) = (page.width(), page.height());
                    let full = |v: u32, small_edge: u32, edge: u32| {
                        if v >= small_edge {
                            edge
                        } else {
                            (v * factor).min(edge)
                        }
                    };
                    let scaled: Vec<mixed::Rect> = regions
                        .iter()
                        .map(|r| {
                            (
                                full(r.0, small.width(), pw),
                                full(r.1, small.height(), ph),
                                full(r.2, small.width(), pw),
                                full(r.3, small.height(), ph),
                            )
                        })
                        .collect();
                    let settings = mixed::MixedSettings {
                        picture_dpi,
                        jpeg_quality: c.jpeg_quality,
                        threshold: c.bilevel_threshold,
                        whiten_above: c.whiten_above,
                    };
                    return mixed::encode_mixed(&page, dpi, &scaled, settings, number);
                }
                if regions.is_empty() && encode::is_two_tone(small, c.max_flat_gray) {
                    OutputMode::Bilevel
                } else {
                    // A photo page (pictures over a quarter of it), or grey without
                    // pictures to cut out.
                    OutputMode::Gray
                }
            }
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
            encode::whiten(&mut page, level, c.whiten_color);
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
            page_bytes: doc.page_bytes,
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

/// The page and its small copy cut to the paper's bounds, with the backing left in skewed
/// corners and the punched holes made white (see [`PipelineConfig::crop`]).
fn crop_to_paper(
    page: DynamicImage,
    small: GrayImage,
    factor: u32,
    analysis: &PaperAnalysis,
    backing: &[bool],
) -> (DynamicImage, GrayImage) {
    let (sw, sh) = (small.width(), small.height());
    let (x0, y0, x1, y1) = analysis.bounds;
    // Residual backing is only whitened on a scan that shows a backing strip: dark print
    // running off the edge of a page scanned to its edge stays.
    let has_backing = analysis.cropped() && backing.iter().any(|&b| b);
    if !has_backing && analysis.holes.is_empty() {
        return (page, small);
    }
    let (pw, ph) = (page.width(), page.height());
    // Full-resolution bounds; an edge of the copy is the page's edge (the copy drops the
    // last few pixels that do not fill a block).
    let fx0 = (x0 * factor).min(pw);
    let fy0 = (y0 * factor).min(ph);
    let fx1 = if x1 >= sw { pw } else { (x1 * factor).min(pw) };
    let fy1 = if y1 >= sh { ph } else { (y1 * factor).min(ph) };
    let mut page = if analysis.cropped() {
        page.crop_imm(fx0, fy0, fx1 - fx0, fy1 - fy0)
    } else {
        page
    };
    let mut small = image::imageops::crop_imm(&small, x0, y0, x1 - x0, y1 - y0).to_image();
    let white = |page: &mut DynamicImage, small: &mut GrayImage, sx: u32, sy: u32| {
        small.put_pixel(sx, sy, image::Luma([255]));
        for y in sy * factor..((sy + 1) * factor).min(page.height()) {
            for x in sx * factor..((sx + 1) * factor).min(page.width()) {
                match page {
                    DynamicImage::ImageLuma8(g) => g.put_pixel(x, y, image::Luma([255])),
                    DynamicImage::ImageRgb8(c) => c.put_pixel(x, y, image::Rgb([255, 255, 255])),
                    _ => {}
                }
            }
        }
    };
    // Backing inside the bounds, one pixel of the copy wider (its blurred rim).
    let (w, h) = (sw as usize, sh as usize);
    if has_backing {
        for sy in y0..y1 {
            for sx in x0..x1 {
                let (x, y) = (sx as usize, sy as usize);
                let near = (y.saturating_sub(1)..(y + 2).min(h))
                    .any(|ny| (x.saturating_sub(1)..(x + 2).min(w)).any(|nx| backing[ny * w + nx]));
                if near {
                    white(&mut page, &mut small, sx - x0, sy - y0);
                }
            }
        }
    }
    for &(hx0, hy0, hx1, hy1) in &analysis.holes {
        let (cx, cy) = (f64::from(hx0 + hx1) / 2.0, f64::from(hy0 + hy1) / 2.0);
        let r = f64::from((hx1 - hx0).max(hy1 - hy0)) / 2.0 + 1.5;
        for sy in hy0.saturating_sub(2)..(hy1 + 2).min(y1) {
            for sx in hx0.saturating_sub(2)..(hx1 + 2).min(x1) {
                let d = (f64::from(sx) + 0.5 - cx).hypot(f64::from(sy) + 0.5 - cy);
                if d <= r && sx >= x0 && sy >= y0 {
                    white(&mut page, &mut small, sx - x0, sy - y0);
                }
            }
        }
    }
    (page, small)
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

/// Keeps letters, digits, `.`, `-` and `_`; anything else becomes `_` (a safe file name from a
/// dossier or document code, whatever a payload carried).
pub fn sanitize(name: &str) -> String {
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
    fn file_names_are_safe() {
        assert_eq!(
            sanitize("b-001-000.17.22.H56/x y.pdf"),
            "b-001-000.17.22.H56_x_y.pdf"
        );
    }
}
