//! The pipeline driver, [`PagePipeline`]: runs each pushed page through analysis, separator
//! decoding, optional straightening and compression, and streams the pages of each document
//! into its PDF.
//!
//! Kept apart from the analysis and the types so that this module is only the order of the
//! steps and the bookkeeping of open and finished documents (numbers, file names, titles).

use image::{DynamicImage, GrayImage};
use motcua_domain::qr_payload::Separator;

use super::analysis::{box_downscale, has_separator_band, is_blank};
use super::config::PipelineConfig;
use super::deskew;
use super::encode::{self, EncodedPage, OutputMode, PageEncoding};
use super::error::PipelineError;
use super::outcome::{AssembledDocument, PageOutcome, ProcessedPage, THUMBNAIL_WIDTH};
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
    /// which reorders, deletes and rescans pages before the PDFs are made with
    /// [`pdf::PdfFile`](super::pdf::PdfFile)). The page gets the next batch page number even when it is refused.
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
