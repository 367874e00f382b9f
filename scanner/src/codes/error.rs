//! The one error type of the code readers.

use std::io;
use std::path::PathBuf;

/// What went wrong with a code reader, worded for the technician who reads the status screen or
/// the journal: which device (by path), what failed, and what usually fixes it.
///
/// No variant ever carries a payload (payloads are personal data).
#[derive(Debug, thiserror::Error)]
pub enum CodeReaderError {
    /// The device node could not be opened (missing, no permission, held by another program).
    #[error(
        "cannot open the code reader at {path}: {source}. Check that the reader is plugged in, \
         that the configured path is right (prefer /dev/serial/by-id/... or \
         /dev/input/by-id/...), and that the kiosk service may read it (group dialout for \
         serial readers, input for keyboard readers)"
    )]
    Open {
        /// Device path as configured.
        path: PathBuf,
        /// Error from the operating system.
        #[source]
        source: io::Error,
    },
    /// The device was open and then stopped working, usually because it was unplugged.
    #[error(
        "the code reader at {path} stopped working ({source}); it was probably unplugged or \
         reset. The kiosk keeps trying to open it again"
    )]
    Lost {
        /// Device path as configured.
        path: PathBuf,
        /// Error from the operating system.
        #[source]
        source: io::Error,
    },
    /// A keyboard-mode reader opened but could not be taken for exclusive use, so its keystrokes
    /// would also reach the kiosk UI.
    #[error(
        "cannot take exclusive use of the keyboard-mode code reader at {path}: {source}. Another \
         program (a desktop session or a second kiosk service) is holding it; stop that program"
    )]
    Grab {
        /// Device path as configured.
        path: PathBuf,
        /// Error from the operating system.
        #[source]
        source: io::Error,
    },
    /// A setting of the reader is unusable.
    #[error("code reader at {path}: bad setting: {what}")]
    Config {
        /// Device path as configured (empty for a frame decoder).
        path: PathBuf,
        /// The setting and why it is wrong.
        what: String,
    },
    /// A camera frame or scanned page does not hold `width × height` 8-bit pixels.
    #[error(
        "image of {width}x{height} pixels has {len} bytes, expected {expected} (8-bit grayscale, \
         one byte per pixel): the camera or scanner format setting is wrong"
    )]
    BadFrame {
        /// Claimed width in pixels.
        width: u32,
        /// Claimed height in pixels.
        height: u32,
        /// Bytes received.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The QR decoder crashed (panicked) on an image; the image was skipped and the kiosk goes on.
    #[error(
        "the QR decoder failed on an image of {width}x{height} pixels and skipped it; if this \
         repeats, save the image for the developers"
    )]
    DecoderPanicked {
        /// Image width in pixels.
        width: u32,
        /// Image height in pixels.
        height: u32,
    },
    /// Decoding an image took longer than allowed; the citizen was not kept waiting for it.
    #[error(
        "the QR decoder took longer than {limit_ms} ms on an image of {width}x{height} pixels and \
         was abandoned; the machine may be overloaded"
    )]
    DecodeTimedOut {
        /// Image width in pixels.
        width: u32,
        /// Image height in pixels.
        height: u32,
        /// The time limit, in milliseconds.
        limit_ms: u128,
    },
}
