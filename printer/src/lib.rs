//! Receipt and queue-ticket printing for motcua kiosks.
//!
//! Thermal printers' Vietnamese code pages differ by model and often print tone marks beside the
//! letter, so this crate never sends text: it lays a slip out ([`layout`]) with a
//! Vietnamese-capable TrueType font into a 1-bit raster ([`Bitmap`]), encodes it as ESC/POS
//! `GS v 0` bands ([`escpos`]), and sends it over a transport behind the [`Printer`] trait
//! (serial, USB printer device file, TCP 9100), checking the real-time status before and after
//! so that paper end, an open cover or an offline printer reaches the caller as a
//! [`PrinterError::Fault`]. The caller keeps the [`Job`] and can resend it; this crate stores
//! nothing. [`emulator`] speaks the same bytes and turns every cut slip back into a PNG, so the
//! whole path is tested without hardware.

pub mod bitmap;
pub mod emulator;
pub mod error;
pub mod escpos;
pub mod layout;
pub mod qr;
pub mod status;
pub mod text;
pub mod transport;

pub use bitmap::Bitmap;
pub use error::{JobStage, PrinterError};
pub use escpos::{Cut, EncodeOptions};
pub use layout::{
    receipt_qr_payload, vietnamese_datetime, Job, Paper, ReceiptContent, Renderer,
    SubmittedDocument, TicketContent,
};
pub use status::{Fault, Status};
pub use text::FontConfig;
pub use transport::{EscPosPrinter, Printer, Timeouts, Transport};
