//! Real-time status (`DLE EOT n`) and what it means for a kiosk.
//!
//! ESC/POS printers answer `DLE EOT n` immediately, even while offline or with a full buffer,
//! with one byte per query: n = 1 printer status, 2 offline cause, 3 error cause, 4 roll-paper
//! sensor. Bits 1 and 4 are always 1 and bits 0 and 7 always 0, which lets us reject a byte that
//! is not a status answer (wrong baud rate, wrong device, stale data).

/// `DLE EOT`, followed by n = 1..=4.
pub const DLE_EOT: [u8; 2] = [0x10, 0x04];

/// Bits that are fixed in every status byte, and their values.
const FIXED_MASK: u8 = 0x93;
const FIXED_VALUE: u8 = 0x12;

/// True when `byte` has the fixed bits of a `DLE EOT` answer.
pub fn is_status_byte(byte: u8) -> bool {
    byte & FIXED_MASK == FIXED_VALUE
}

/// The printer's state as told by the four real-time status bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// The printer is offline (n=1 bit 3): it will not print what it receives.
    pub offline: bool,
    /// The cover is open (n=2 bit 2).
    pub cover_open: bool,
    /// Printing stopped because the paper ran out (n=2 bit 5 or n=4 bits 5-6).
    pub paper_end: bool,
    /// The roll is nearly used up (n=4 bits 2-3): still prints; tell a technician.
    pub paper_near_end: bool,
    /// An error occurred (n=2 bit 6).
    pub error: bool,
    /// The autocutter failed (n=3 bit 3).
    pub cutter_error: bool,
    /// An unrecoverable error (n=3 bit 5): needs a technician.
    pub unrecoverable_error: bool,
    /// An auto-recoverable error such as an overheated head (n=3 bit 6).
    pub auto_recoverable_error: bool,
}

impl Status {
    /// Builds the status from the answers to `DLE EOT 1`, `2`, `3` and `4`.
    pub fn from_bytes(printer: u8, offline_cause: u8, error_cause: u8, paper: u8) -> Self {
        Status {
            offline: printer & 0x08 != 0,
            cover_open: offline_cause & 0x04 != 0,
            paper_end: offline_cause & 0x20 != 0 || paper & 0x60 != 0,
            paper_near_end: paper & 0x0C != 0,
            error: offline_cause & 0x40 != 0,
            cutter_error: error_cause & 0x08 != 0,
            unrecoverable_error: error_cause & 0x20 != 0,
            auto_recoverable_error: error_cause & 0x40 != 0,
        }
    }

    /// Reads the printer's answer to the four queries of [`crate::escpos::status_queries`]:
    /// the status, or the 1-based query and byte of the first answer that is not a status byte
    /// (wrong baud rate, wrong device, stale data on the line).
    pub fn from_answer(answer: &[u8; 4]) -> Result<Self, (u8, u8)> {
        if let Some((i, byte)) = answer
            .iter()
            .enumerate()
            .find(|(_, x)| !is_status_byte(**x))
        {
            return Err((i as u8 + 1, *byte));
        }
        Ok(Self::from_bytes(answer[0], answer[1], answer[2], answer[3]))
    }

    /// The four bytes a printer in this state answers to `DLE EOT 1..=4` (used by the emulator).
    pub fn to_bytes(&self) -> [u8; 4] {
        let offline = self.offline || self.cover_open || self.paper_end || self.error;
        let b1 = FIXED_VALUE | if offline { 0x08 } else { 0 };
        let b2 = FIXED_VALUE
            | if self.cover_open { 0x04 } else { 0 }
            | if self.paper_end { 0x20 } else { 0 }
            | if self.error { 0x40 } else { 0 };
        let b3 = FIXED_VALUE
            | if self.cutter_error { 0x08 } else { 0 }
            | if self.unrecoverable_error { 0x20 } else { 0 }
            | if self.auto_recoverable_error { 0x40 } else { 0 };
        let b4 = FIXED_VALUE
            | if self.paper_near_end { 0x0C } else { 0 }
            | if self.paper_end { 0x60 } else { 0 };
        [b1, b2, b3, b4]
    }

    /// The fault that stops printing, if any; the most actionable one first (an open cover
    /// also makes the paper sensor read "end", and both make the printer offline).
    pub fn fault(&self) -> Option<Fault> {
        if self.cover_open {
            Some(Fault::CoverOpen)
        } else if self.paper_end {
            Some(Fault::PaperEnd)
        } else if self.cutter_error
            || self.unrecoverable_error
            || self.auto_recoverable_error
            || self.error
        {
            Some(Fault::Error)
        } else if self.offline {
            Some(Fault::Offline)
        } else {
            None
        }
    }

    /// True when the printer can print now.
    pub fn is_ready(&self) -> bool {
        self.fault().is_none()
    }
}

/// A condition that stops the printer, worded for the technician screen (Vietnamese first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Out of paper.
    PaperEnd,
    /// Cover open.
    CoverOpen,
    /// Offline for another reason (e.g. feed button held, waiting for recovery).
    Offline,
    /// Cutter jam, overheated head or an unrecoverable error.
    Error,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fault::PaperEnd => "Máy in hết giấy / printer out of paper",
            Fault::CoverOpen => "Nắp máy in đang mở / printer cover open",
            Fault::Offline => "Máy in đang ngoại tuyến / printer offline",
            Fault::Error => {
                "Máy in báo lỗi (dao cắt kẹt, đầu in quá nhiệt hoặc lỗi phần cứng) / printer error (cutter jam, overheated head or hardware error)"
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_with_a_foreign_byte_names_the_query_and_byte() {
        let ready = Status::default().to_bytes();
        assert_eq!(Status::from_answer(&ready), Ok(Status::default()));
        let mut noisy = ready;
        noisy[2] = 0xff;
        assert_eq!(Status::from_answer(&noisy), Err((3, 0xff)));
        assert_eq!(Status::from_answer(&[0, 0, 0, 0]), Err((1, 0)));
    }

    #[test]
    fn status_bytes_round_trip_and_have_fixed_bits() {
        let s = Status {
            paper_end: true,
            paper_near_end: true,
            ..Status::default()
        };
        let b = s.to_bytes();
        assert!(b.iter().all(|b| is_status_byte(*b)));
        let back = Status::from_bytes(b[0], b[1], b[2], b[3]);
        assert!(back.paper_end && back.paper_near_end && back.offline);
        assert_eq!(back.fault(), Some(Fault::PaperEnd));
        assert_eq!(Status::from_bytes(0x12, 0x12, 0x12, 0x12).fault(), None);
        assert_eq!(
            Status::from_bytes(0x12, 0x16, 0x12, 0x12).fault(),
            Some(Fault::CoverOpen)
        );
        assert_eq!(
            Status::from_bytes(0x1A, 0x12, 0x12, 0x12).fault(),
            Some(Fault::Offline)
        );
        assert!(!is_status_byte(b'A'));
    }
}
