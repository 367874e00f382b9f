//! Separator sheets: one printed A4 page per required document of a dossier's procedure,
//! placed before that document's pages in the scanner's feeder so the page pipeline knows
//! where each document starts and which one it is.
//!
//! Each sheet carries a large QR code with the separator payload
//! (`MOTCUA-SEP1|<dossier>|<index>|<document name>`, [`Separator`]) and, for the officer, the
//! same information in words: dossier code, procedure, "document i of n", the document's
//! Vietnamese and English names, and how to use the sheet. The page is drawn at 300 dpi as a
//! 1-bit raster with the kiosk's Vietnamese-capable font (DejaVu Sans from Debian
//! `fonts-dejavu-core`, the receipt printer's renderer) and stored as CCITT Group 4 in the PDF
//! by `motcua-sheets` (which the gateway's setup sheets use too), so any printer prints it
//! exactly and it stays a few kilobytes per sheet.
//!
//! A solid black band across the top marks the page as a separator sheet even when its QR
//! code is torn or smudged: the pipeline then asks the officer instead of guessing.
//!
//! QR modules are 16 dots (1.35 mm) wide: after the pipeline's analysis downscaling
//! (150 dpi, then at most 2000 pixels a side) a module keeps more than 5 pixels, so a sheet
//! copied, crumpled or scanned at 200 dpi still decodes.

use std::path::Path;

use motcua_domain::catalog::Procedure;
use motcua_domain::qr_payload::Separator;
use motcua_printer::qr::QrModules;
use motcua_printer::text::{b, r, Fonts, Style};
use motcua_printer::{Bitmap, FontConfig, PrinterError};
use motcua_sheets::{SheetError, SheetPdf};

/// Resolution of the sheets.
pub const SHEET_DPI: u32 = motcua_sheets::SHEET_DPI;
/// QR module size in dots at [`SHEET_DPI`].
pub const QR_MODULE: u32 = 16;

/// Why separator sheets could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SeparatorError {
    /// The procedure lists no document.
    #[error("thủ tục {0} không có thành phần hồ sơ / procedure {0} lists no required document")]
    NoDocuments(String),
    /// Fonts or the QR code could not be made.
    #[error("{0}")]
    Render(#[from] PrinterError),
    /// Writing the PDF failed.
    #[error("{0}")]
    Pdf(#[from] SheetError),
}

/// The separators of every required document of `procedure` for `dossier_code`, in the order
/// of the procedure's list (index 1 first).
pub fn separators_for(dossier_code: &str, procedure: &Procedure) -> Vec<Separator> {
    procedure
        .documents
        .iter()
        .enumerate()
        .map(|(i, d)| Separator {
            dossier_code: dossier_code.to_owned(),
            document_index: i as u32 + 1,
            document_name: d.name_vi.clone(),
        })
        .collect()
}

/// Writes a PDF with one separator sheet per required document of `procedure` to `out` and
/// returns the separators in page order.
pub fn write_separator_pdf(
    dossier_code: &str,
    procedure: &Procedure,
    fonts: &FontConfig,
    out: &Path,
) -> Result<Vec<Separator>, SeparatorError> {
    let separators = separators_for(dossier_code, procedure);
    if separators.is_empty() {
        return Err(SeparatorError::NoDocuments(procedure.code.clone()));
    }
    let fonts = Fonts::load(fonts)?;
    let mut pdf = SheetPdf::create(out, &format!("Tờ phân cách hồ sơ {dossier_code}"))?;
    for (separator, document) in separators.iter().zip(&procedure.documents) {
        pdf.add(&draw_sheet(
            &fonts,
            separator,
            procedure,
            &document.name_en,
        )?)?;
    }
    pdf.finish()?;
    Ok(separators)
}

/// One A4 sheet at [`SHEET_DPI`].
fn draw_sheet(
    fonts: &Fonts,
    separator: &Separator,
    procedure: &Procedure,
    name_en: &str,
) -> Result<Bitmap, SeparatorError> {
    let (w, h) = (motcua_sheets::A4_WIDTH, motcua_sheets::A4_HEIGHT);
    let mut page = Bitmap::new(w, h);
    let margin = 180;
    let width = w - 2 * margin;
    let total = procedure.documents.len();
    // The solid band the pipeline recognises a sheet by when its QR code cannot be read
    // (motcua_scanner::pipeline::has_separator_band): 5 mm high, across the text width.
    page.fill_rect(margin, 80, width, 60);
    let mut y = 200;
    y = fonts.paragraph(
        &mut page,
        margin,
        y,
        width,
        &[b("TỜ PHÂN CÁCH GIẤY TỜ")],
        &Style::center(90.0),
    );
    y = fonts.paragraph(
        &mut page,
        margin,
        y,
        width,
        &[r("Document separator sheet")],
        &Style::center(50.0),
    ) + 60;
    y = fonts.paragraph(
        &mut page,
        margin,
        y,
        width,
        &[r("Hồ sơ / Dossier: "), b(&separator.dossier_code)],
        &Style::center(60.0),
    ) + 10;
    y = fonts.paragraph(
        &mut page,
        margin,
        y,
        width,
        &[r(&format!("{} ({})", procedure.name_vi, procedure.code))],
        &Style::center(48.0),
    ) + 60;
    y = fonts.paragraph(
        &mut page,
        margin,
        y,
        width,
        &[b(&format!(
            "Giấy tờ số {} / {}  ·  Document {} of {}",
            separator.document_index, total, separator.document_index, total
        ))],
        &Style::center(60.0),
    ) + 20;
    y = fonts.paragraph(
        &mut page,
        margin,
        y,
        width,
        &[b(&separator.document_name)],
        &Style::center(80.0),
    );
    y = fonts.paragraph(
        &mut page,
        margin,
        y,
        width,
        &[r(name_en)],
        &Style::center(48.0),
    ) + 80;

    let qr = QrModules::encode(&separator.payload())?;
    let side = qr.width() as u32 * QR_MODULE;
    // The footer needs about 420 dots; a very long name may push the QR lower, never off.
    let qr_y = y.min(h - 480 - side);
    qr.draw(&mut page, (w - side) / 2, qr_y, QR_MODULE);
    let mut y = qr_y + side + 100;
    for line in [
        "Đặt tờ này ngay trước các trang của giấy tờ trên khi quét. Không cần quét mặt sau.",
        "Place this sheet right before the pages of this document when scanning.",
    ] {
        y = fonts.paragraph(
            &mut page,
            margin,
            y,
            width,
            &[r(line)],
            &Style::center(44.0),
        ) + 10;
    }
    Ok(page)
}
