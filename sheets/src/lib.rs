//! Printable A4 sheets: a page drawn at 300 dpi as a 1-bit raster with the kiosks'
//! Vietnamese-capable font (DejaVu Sans from Debian `fonts-dejavu-core`, the receipt printer's
//! renderer) and a large QR code, stored as CCITT Group 4 in a PDF, so any printer prints it
//! exactly and it stays a few kilobytes a page.
//!
//! Two parts use it: the kiosk's separator sheets (which draw their own page, see
//! `kiosk::separators`, and write it with [`SheetPdf`]) and the gateway's setup sheets, one
//! [`SheetPage`] per kiosk slot ([`render_page`], [`pdf_bytes`]). It sits between the printer
//! and scanner crates and the gateway, so the gateway prints without depending on the kiosk.

pub mod samples;

use std::path::Path;

use motcua_printer::qr::QrModules;
use motcua_printer::text::{b, r, Style};
pub use motcua_printer::text::{FontConfig, Fonts, DEFAULT_BOLD_FONT, DEFAULT_REGULAR_FONT};
pub use motcua_printer::Bitmap;
use motcua_printer::PrinterError;
use motcua_scanner::pipeline::encode::encode_group4;
use motcua_scanner::pipeline::pdf::PdfFile;
use motcua_scanner::pipeline::PipelineError;

/// Resolution of the sheets.
pub const SHEET_DPI: u32 = 300;
/// A4 at [`SHEET_DPI`]: width in dots.
pub const A4_WIDTH: u32 = 2480;
/// A4 at [`SHEET_DPI`]: height in dots.
pub const A4_HEIGHT: u32 = 3508;
/// Left and right margin in dots (15 mm).
pub const MARGIN: u32 = 180;

/// Why a sheet could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// Fonts or the QR code could not be made.
    #[error("{0}")]
    Render(#[from] PrinterError),
    /// Writing the PDF failed.
    #[error("{0}")]
    Pdf(#[from] PipelineError),
    /// The temporary PDF file could not be made or read back.
    #[error("không tạo được tệp PDF tạm / cannot write the temporary PDF: {0}")]
    Temp(#[from] std::io::Error),
    /// A page's text and QR code do not fit on A4.
    #[error("nội dung không vừa trang A4 / the sheet's text and QR code do not fit on an A4 page")]
    TooLong,
}

/// One line (a paragraph, wrapped when long) of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetLine {
    /// Font size in dots (50 is about 4 mm high letters).
    pub size: f32,
    /// Bold weight.
    pub bold: bool,
    /// The text.
    pub text: String,
    /// Extra space below, dots.
    pub gap_after: u32,
}

impl SheetLine {
    /// A regular line.
    pub fn regular(size: f32, text: impl Into<String>) -> Self {
        Self {
            size,
            bold: false,
            text: text.into(),
            gap_after: 10,
        }
    }

    /// A bold line.
    pub fn bold(size: f32, text: impl Into<String>) -> Self {
        Self {
            bold: true,
            ..Self::regular(size, text)
        }
    }

    /// The same line with `gap` dots below it.
    pub fn gap(mut self, gap: u32) -> Self {
        self.gap_after = gap;
        self
    }
}

/// A page: centred lines, a large centred QR code, more centred lines.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetPage {
    /// Lines above the QR code.
    pub above: Vec<SheetLine>,
    /// The QR code's text.
    pub qr: String,
    /// QR module size in dots (16 = 1.35 mm: read by any code reader at arm's length).
    pub module: u32,
    /// Lines below the QR code.
    pub below: Vec<SheetLine>,
}

fn lines(fonts: &Fonts, page: &mut Bitmap, mut y: u32, lines: &[SheetLine]) -> u32 {
    let width = A4_WIDTH - 2 * MARGIN;
    for line in lines {
        let run = if line.bold {
            b(&line.text)
        } else {
            r(&line.text)
        };
        y = fonts.paragraph(page, MARGIN, y, width, &[run], &Style::center(line.size))
            + line.gap_after;
    }
    y
}

/// Draws `sheet` on an A4 page.
pub fn render_page(fonts: &Fonts, sheet: &SheetPage) -> Result<Bitmap, SheetError> {
    let mut page = Bitmap::new(A4_WIDTH, A4_HEIGHT);
    let y = lines(fonts, &mut page, 160, &sheet.above) + 40;
    let qr = QrModules::encode(&sheet.qr)?;
    let side = qr.width() as u32 * sheet.module.max(1);
    if side > A4_WIDTH - 2 * MARGIN || y + side > A4_HEIGHT - 200 {
        return Err(SheetError::TooLong);
    }
    qr.draw(&mut page, (A4_WIDTH - side) / 2, y, sheet.module.max(1));
    let end = lines(fonts, &mut page, y + side + 60, &sheet.below);
    if end > A4_HEIGHT - 60 {
        return Err(SheetError::TooLong);
    }
    Ok(page)
}

/// A PDF of 1-bit pages being written.
pub struct SheetPdf {
    pdf: PdfFile,
}

impl SheetPdf {
    /// Starts the PDF `out` (written as `out.part`, renamed by [`SheetPdf::finish`]).
    pub fn create(out: &Path, title: &str) -> Result<Self, SheetError> {
        Ok(Self {
            pdf: PdfFile::create(out, title)?,
        })
    }

    /// Adds one page (black where the bitmap is set), stored as CCITT Group 4.
    pub fn add(&mut self, page: &Bitmap) -> Result<(), SheetError> {
        let gray = image::GrayImage::from_fn(page.width(), page.height(), |x, y| {
            image::Luma([if page.get(x, y) { 0 } else { 255 }])
        });
        self.pdf.add_page(&encode_group4(&gray, SHEET_DPI, 128))?;
        Ok(())
    }

    /// Finishes the file (fsynced, renamed into place); its size in bytes.
    pub fn finish(self) -> Result<u64, SheetError> {
        Ok(self.pdf.finish()?)
    }
}

/// Whether `fonts` can be loaded (and have the Vietnamese letters): checked before something
/// that cannot be undone, like issuing the codes a sheet will print.
pub fn check_fonts(fonts: &FontConfig) -> Result<(), SheetError> {
    Fonts::load(fonts).map(|_| ()).map_err(SheetError::from)
}

/// A PDF of `pages`, in memory (the gateway answers it over HTTP).
pub fn pdf_bytes(
    fonts: &FontConfig,
    title: &str,
    pages: &[SheetPage],
) -> Result<Vec<u8>, SheetError> {
    let fonts = Fonts::load(fonts)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sheet.pdf");
    let mut pdf = SheetPdf::create(&path, title)?;
    for page in pages {
        pdf.add(&render_page(&fonts, page)?)?;
    }
    pdf.finish()?;
    Ok(std::fs::read(&path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fonts_present() -> bool {
        Path::new(DEFAULT_REGULAR_FONT).exists() && Path::new(DEFAULT_BOLD_FONT).exists()
    }

    #[test]
    fn a_page_holds_its_qr_code_and_lines_and_the_pdf_has_one_page_each() {
        if !fonts_present() {
            panic!("fonts-dejavu-core is not installed (scripts/install-deps.sh installs it)");
        }
        let page = SheetPage {
            above: vec![SheetLine::bold(
                80.0,
                "Mã cấu hình ki-ốt / Kiosk setup code",
            )],
            qr: "MOTCUA-SETUP1.".to_string() + &"x".repeat(500),
            module: 16,
            below: vec![SheetLine::regular(44.0, "Dùng một lần / One use only")],
        };
        let fonts = Fonts::load(&FontConfig::default()).expect("fonts");
        let bitmap = render_page(&fonts, &page).expect("page");
        let black = (0..A4_HEIGHT)
            .flat_map(|y| (0..A4_WIDTH).map(move |x| (x, y)))
            .filter(|&(x, y)| bitmap.get(x, y))
            .count();
        assert!(black > 100_000, "{black} black dots");
        let pdf = pdf_bytes(&FontConfig::default(), "t", &[page.clone(), page]).expect("pdf");
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert_eq!(
            text.matches("/Type /Page").count() - text.matches("/Type /Pages").count(),
            2
        );
        let long = SheetPage {
            above: vec![SheetLine::regular(200.0, "x ".repeat(400))],
            qr: "a".into(),
            module: 16,
            below: vec![],
        };
        assert!(matches!(
            render_page(&fonts, &long),
            Err(SheetError::TooLong)
        ));
    }
}
