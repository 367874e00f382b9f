//! Code readers and the classification of what they read.
//!
//! A kiosk meets QR codes in three ways, and each has its own reader here:
//!
//! - [`serial::SerialReader`]: a hand-held or presentation reader in USB-COM (CDC ACM) mode. This
//!   is the recommended set-up: the payload arrives as the exact UTF-8 bytes of the code, so the
//!   Vietnamese on a CCCD card survives.
//! - [`wedge::WedgeReader`]: a reader in USB keyboard (HID) mode, read through evdev and grabbed
//!   so that it never types into the kiosk UI. Only ASCII survives a US keyboard layout; see
//!   [`wedge`] for the reader settings that carry Vietnamese.
//! - [`frame::FrameDecoder`]: QR codes in an 8-bit grayscale camera frame or scanned page,
//!   several per image (receipts held to the camera, separator sheets in a feeder).
//!
//! Readers frame the byte stream into lines with [`line::LineFramer`] (serial) or
//! [`wedge::KeyDecoder`] (keyboard), both pure and tested without hardware. Whatever reaches the
//! application is a [`Payload`]; [`classify::classify`] then says what it is: a CCCD card, one of
//! our receipts, a separator sheet, a URL, or unknown.
//!
//! Payloads carry personal data (a CCCD QR holds name, birth date and address), so nothing in
//! this module logs one in clear: [`Payload`]'s `Debug` prints only its length, and logs name the
//! kind and the length.

pub mod classify;
mod error;
pub mod frame;
pub mod line;
mod payload;
mod reader;
pub mod serial;
pub mod synth;
pub mod wedge;

pub use classify::{classify, CodeKind, MAX_PAYLOAD_BYTES};
pub use error::CodeReaderError;
pub use frame::{DecodedCode, FrameDecoder, FrameDecoderConfig, GrayFrame};
pub use line::{DropReason, Framed, LineFramer, Terminator};
pub use payload::Payload;
pub use reader::{ReaderEvent, ReaderStats};
pub use serial::{SerialConfig, SerialReader};
pub use wedge::{KeyDecoder, WedgeConfig, WedgeReader};
