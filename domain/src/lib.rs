//! The shared vocabulary of motcua, the software of Vietnam's one-stop service kiosks.
//!
//! Everything here is pure data and rules, with no I/O, so that the kiosk, the gateway and the
//! tests agree on one meaning of a dossier, its code, a CCCD card, a rating or a queue ticket.
//! Clocks and storage are passed in by callers; nothing here reads the time or the disk.

pub mod calendar;
pub mod catalog;
pub mod cccd;
pub mod document_code;
pub mod dossier;
pub mod limits;
pub mod lookup_secret;
pub mod maintenance;
pub mod provisioning;
pub mod qr_payload;
pub mod queue;
pub mod queue_hours;
pub mod queue_report;
pub mod queue_sim;
pub mod queue_wait;
pub mod rating;
pub mod release;
pub mod ticket;
pub mod update;
pub mod wire;

/// Vietnam's civil time offset (UTC+07:00, no daylight saving), used for every timestamp that a
/// citizen or the provincial system reads.
pub fn vietnam_offset() -> chrono::FixedOffset {
    // 7 hours is always a valid offset; `east_opt` only fails beyond ±24 h.
    chrono::FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}
