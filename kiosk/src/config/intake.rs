//! The `[intake]` table: document codes, how scanned pages are stored, and the OCR text layer
//! of the documents' PDFs (issue #19).

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Located};

/// Intake digitization settings, the `[intake]` table:
///
/// ```toml
/// [intake]
/// document_code = "{dossier}-{index:02}"  # see motcua_domain::document_code
/// mode = "auto"                            # color | gray | bilevel | auto
/// jpeg_quality = 75                        # 20–95
/// bilevel_threshold = 150                  # 1–254: grey below it is black on bilevel pages
/// deskew = false                           # straighten pages fed crooked (up to 5°)
/// ocr = true                               # invisible OCR text layer (tesseract-ocr-vie)
/// ocr_language = "vie"                     # tesseract model(s), e.g. "vie+eng"
/// ocr_wait_seconds = 120                   # 1–3600: how long a commit waits for the OCR
/// ```
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// How each document's code is made.
    pub document_code: motcua_domain::document_code::DocumentCodeTemplate,
    /// How pages are stored: `auto` keeps text pages bilevel (CCITT G4, about 40 KB per dense
    /// A4 page at 300 dpi) and photos and coloured pages as JPEG.
    pub mode: motcua_scanner::pipeline::OutputMode,
    /// JPEG quality for grey and colour pages.
    pub jpeg_quality: u8,
    /// Grey level below which a pixel is black on bilevel pages.
    pub bilevel_threshold: u8,
    /// Straighten pages fed crooked by up to 5° (off by default: many feeders do it).
    pub deskew: bool,
    /// The background OCR and text layer of the documents' PDFs.
    pub ocr: motcua_scanner::pipeline::ocr::OcrSettings,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            document_code: Default::default(),
            mode: motcua_scanner::pipeline::OutputMode::Auto,
            jpeg_quality: 75,
            bilevel_threshold: 150,
            deskew: false,
            ocr: Default::default(),
        }
    }
}

impl IntakeConfig {
    /// Page pipeline settings for these intake settings, writing into `output_dir`.
    pub fn pipeline(&self, output_dir: &Path) -> motcua_scanner::pipeline::PipelineConfig {
        let mut c = motcua_scanner::pipeline::PipelineConfig::new(output_dir);
        c.mode = self.mode;
        c.jpeg_quality = self.jpeg_quality;
        c.bilevel_threshold = self.bilevel_threshold;
        c.deskew_max_degrees = self.deskew.then_some(5.0);
        c
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntake {
    document_code: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    jpeg_quality: Option<Spanned<u8>>,
    bilevel_threshold: Option<Spanned<u8>>,
    deskew: Option<bool>,
    ocr: Option<bool>,
    ocr_language: Option<Spanned<String>>,
    ocr_wait_seconds: Option<Spanned<u64>>,
}

pub(crate) fn intake_config(raw: RawIntake, at: &Located<'_>) -> Result<IntakeConfig, ConfigError> {
    use motcua_domain::document_code::DocumentCodeTemplate;
    use motcua_scanner::pipeline::OutputMode;
    let mut c = IntakeConfig::default();
    if let Some(t) = raw.document_code {
        // The span starts at the opening quote.
        let start = t.span().start + 1;
        c.document_code = DocumentCodeTemplate::parse(t.get_ref()).map_err(|e| {
            at.error(
                start + e.offset..start + e.offset,
                format!("intake.document_code: {}", e.message),
            )
        })?;
    }
    if let Some(m) = raw.mode {
        c.mode = OutputMode::parse(m.get_ref()).ok_or_else(|| {
            at.error(
                m.span(),
                format!(
                    "intake.mode: chế độ {:?} không hợp lệ / {:?} is not one of \"color\", \"gray\", \"bilevel\", \"auto\"",
                    m.get_ref(),
                    m.get_ref()
                ),
            )
        })?;
    }
    if let Some(q) = raw.jpeg_quality {
        if !(20..=95).contains(q.get_ref()) {
            return Err(at.error(
                q.span(),
                "intake.jpeg_quality: phải từ 20 đến 95 / must be between 20 and 95",
            ));
        }
        c.jpeg_quality = *q.get_ref();
    }
    if let Some(t) = raw.bilevel_threshold {
        if !(1..=254).contains(t.get_ref()) {
            return Err(at.error(
                t.span(),
                "intake.bilevel_threshold: phải từ 1 đến 254 / must be between 1 and 254",
            ));
        }
        c.bilevel_threshold = *t.get_ref();
    }
    c.deskew = raw.deskew.unwrap_or(false);
    c.ocr.enabled = raw.ocr.unwrap_or(true);
    if let Some(l) = raw.ocr_language {
        // Tesseract model names: letters, digits and `_`, several joined by `+`.
        let ok = l.get_ref().split('+').all(|m| {
            !m.is_empty()
                && m.len() <= 32
                && m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !ok {
            return Err(at.error(
                l.span(),
                "intake.ocr_language: tên mô hình tesseract như \"vie\" hoặc \"vie+eng\" / a tesseract model name such as \"vie\" or \"vie+eng\"",
            ));
        }
        c.ocr.config.language = l.into_inner();
    }
    if let Some(w) = raw.ocr_wait_seconds {
        if !(1..=3600).contains(w.get_ref()) {
            return Err(at.error(
                w.span(),
                "intake.ocr_wait_seconds: phải từ 1 đến 3600 / must be between 1 and 3600",
            ));
        }
        c.ocr.commit_wait = std::time::Duration::from_secs(*w.get_ref());
    }
    Ok(c)
}
