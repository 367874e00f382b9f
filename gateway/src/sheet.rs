//! The printable setup sheet: one A4 page per slot with its setup code as a large QR code and,
//! in words, what it is, the site, device id, profile and expiry, and how to use it
//! (Vietnamese first, then English). Drawn by `motcua-sheets`, the kiosks' separator-sheet
//! renderer, so it prints the same on any printer.

use motcua_domain::provisioning::SetupSheet;
use motcua_sheets::{SheetError, SheetLine, SheetPage};

pub use motcua_sheets::FontConfig;

/// QR module size in dots at 300 dpi: a setup code of about 520 characters is an 85-module
/// code, 11.5 cm wide at 16 dots (1.35 mm) a module, read easily by a kiosk's code reader.
const MODULE: u32 = 16;

/// The pages of `sheet`, one per slot.
pub(crate) fn pages(sheet: &SetupSheet) -> Vec<SheetPage> {
    sheet
        .codes
        .iter()
        .map(|slot| {
            let valid_until = slot
                .expires_at
                .get(..16)
                .unwrap_or(&slot.expires_at)
                .replace('T', " ");
            SheetPage {
                above: vec![
                    SheetLine::bold(84.0, "MÃ CẤU HÌNH KI-ỐT"),
                    SheetLine::regular(50.0, "Kiosk setup code").gap(50),
                    SheetLine::regular(52.0, format!("Đơn vị / Site: {}", sheet.site)),
                    SheetLine::bold(64.0, format!("Mã thiết bị / Device id: {}", slot.device_id)),
                    SheetLine::regular(48.0, format!("Hồ sơ cấu hình / Profile: {}", sheet.profile)),
                    SheetLine::regular(
                        48.0,
                        format!("Hiệu lực đến / Valid until: {valid_until} (giờ Việt Nam / Vietnam time)"),
                    ),
                ],
                qr: slot.code.clone(),
                module: MODULE,
                below: vec![
                    SheetLine::bold(50.0, "Trên ki-ốt mới: quét mã này bằng đầu đọc mã"),
                    SheetLine::regular(44.0, "On the new kiosk: scan this code with the code reader").gap(30),
                    SheetLine::bold(50.0, "Dùng một lần / One use only"),
                    SheetLine::bold(50.0, "Giữ kín như chìa khóa / Keep it like a key"),
                ],
            }
        })
        .collect()
}

/// The sheet as a PDF.
pub(crate) fn setup_sheet_pdf(
    sheet: &SetupSheet,
    fonts: &FontConfig,
) -> Result<Vec<u8>, SheetError> {
    motcua_sheets::pdf_bytes(
        fonts,
        &format!(
            "Mã cấu hình ki-ốt {} / Kiosk setup codes {}",
            sheet.site, sheet.site
        ),
        &pages(sheet),
    )
}

/// The sheet as a PDF (what `gateway provision --out` writes).
pub fn setup_sheet_pdf_bytes(
    sheet: &SetupSheet,
    fonts: &FontConfig,
) -> Result<Vec<u8>, SheetError> {
    setup_sheet_pdf(sheet, fonts)
}

/// Whether the sheet's fonts load: checked before codes are issued for a PDF, so a gateway
/// without its fonts refuses in words instead of recording tokens nobody can print.
pub fn check_sheet_fonts(fonts: &FontConfig) -> Result<(), SheetError> {
    motcua_sheets::check_fonts(fonts)
}
