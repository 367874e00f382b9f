//! What the serial and keyboard-wedge readers report: [`ReaderEvent`]s and the counters behind
//! [`ReaderStats`].
//!
//! Kept apart from the two readers so both report through the same types without importing
//! each other or the module that re-exports them.

use std::sync::atomic::{AtomicU64, Ordering};

use super::error::CodeReaderError;
use super::line::DropReason;
use super::payload::Payload;

/// What a serial or keyboard-wedge reader reports to the application.
#[derive(Debug)]
pub enum ReaderEvent {
    /// The device was opened (at start or after it came back); codes can be read now. The UI
    /// may use this to hide a "reader unplugged" warning.
    Connected,
    /// The device could not be opened or was lost. The reader keeps retrying on its own; this is
    /// reported once per outage, not on every retry, so that it can be shown to a technician.
    Disconnected(CodeReaderError),
    /// One complete, valid payload.
    Code(Payload),
}

/// Counters of a reader since it started, for the technician's status screen and for tests.
///
/// Dropped lines are counted rather than delivered: a half-read or corrupted CCCD must never
/// fill in a citizen's dossier, but a rising count tells a technician the cable, the baud rate
/// or the reader's suffix setting is wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Valid payloads delivered.
    pub delivered: u64,
    /// Lines dropped for invalid UTF-8 or control characters.
    pub garbage: u64,
    /// Lines dropped for exceeding the maximum payload length.
    pub overlong: u64,
    /// Lines dropped because they were cut off by a gap in the data or by a disconnection.
    pub partial: u64,
    /// Times the device was opened again after being lost.
    pub reconnects: u64,
}

/// Shared atomic counters behind [`ReaderStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    delivered: AtomicU64,
    garbage: AtomicU64,
    overlong: AtomicU64,
    partial: AtomicU64,
    reconnects: AtomicU64,
}

impl Counters {
    pub(crate) fn delivered(&self) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        let counter = match reason {
            DropReason::Garbage => &self.garbage,
            DropReason::Overlong => &self.overlong,
            DropReason::Partial => &self.partial,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ReaderStats {
        ReaderStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            garbage: self.garbage.load(Ordering::Relaxed),
            overlong: self.overlong.load(Ordering::Relaxed),
            partial: self.partial.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}
