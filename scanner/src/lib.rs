//! Everything that reads the physical world for a motcua kiosk.
//!
//! - [`codes`]: QR and barcode readers (serial CDC, HID keyboard wedge, camera frames) and the
//!   classification of what they read (CCCD card, our receipt, a separator sheet, a URL, …).
//! - [`documents`]: document scanners (SANE through Debian's `scanimage`, hot folders).

pub mod codes;
pub mod documents;
pub mod pipeline;
