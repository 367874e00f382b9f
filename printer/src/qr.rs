//! QR codes for slips: UTF-8 byte mode announced with ECI 26.
//!
//! The receipt payload carries Vietnamese (the document name, sometimes the applicant's name).
//! A QR byte segment without an ECI designator is ISO-8859-1 by the standard, so readers guess,
//! and some guess wrong. We prefix ECI 26 (UTF-8) so that a conforming reader returns exactly
//! the text we encoded; the bytes themselves are plain UTF-8, so a reader that ignores the ECI
//! and keeps the bytes still gets it right.

use qrcode::bits::Bits;
use qrcode::{EcLevel, QrCode, Version};

use crate::bitmap::Bitmap;
use crate::error::PrinterError;

/// ECI designator for UTF-8.
const ECI_UTF8: u32 = 26;

/// A QR code as a square of modules (true = dark).
#[derive(Debug, Clone)]
pub struct QrModules {
    width: usize,
    dark: Vec<bool>,
}

impl QrModules {
    /// Encodes `payload` (NFC is the caller's business: the bytes are kept exactly) at error
    /// correction level M, the smallest version that fits.
    pub fn encode(payload: &str) -> Result<Self, PrinterError> {
        let data = payload.as_bytes();
        let ec = EcLevel::M;
        let mut last_err = String::from("too long");
        for v in 1..=40 {
            let mut bits = Bits::new(Version::Normal(v));
            let built = bits
                .push_eci_designator(ECI_UTF8)
                .and_then(|()| bits.push_byte_data(data))
                .and_then(|()| bits.push_terminator(ec));
            match built {
                Ok(()) => {
                    let code =
                        QrCode::with_bits(bits, ec).map_err(|e| PrinterError::QrTooLong {
                            bytes: data.len(),
                            reason: e.to_string(),
                        })?;
                    let dark = code
                        .to_colors()
                        .iter()
                        .map(|c| *c == qrcode::Color::Dark)
                        .collect();
                    return Ok(QrModules {
                        width: code.width(),
                        dark,
                    });
                }
                Err(e) => last_err = e.to_string(),
            }
        }
        Err(PrinterError::QrTooLong {
            bytes: data.len(),
            reason: last_err,
        })
    }

    /// Modules per side.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Draws the code with `module` dots per module, its top-left corner at (x, y). The caller
    /// leaves the 4-module quiet zone white.
    pub fn draw(&self, bitmap: &mut Bitmap, x: u32, y: u32, module: u32) {
        bitmap.ensure_height(y + self.width as u32 * module);
        for (i, dark) in self.dark.iter().enumerate() {
            if *dark {
                let (mx, my) = ((i % self.width) as u32, (i / self.width) as u32);
                bitmap.fill_rect(x + mx * module, y + my * module, module, module);
            }
        }
    }
}
