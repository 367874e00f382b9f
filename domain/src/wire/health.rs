//! A kiosk's health report to the province's fleet view: outbox, printer, disk, self-test.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// What a kiosk's receipt printer last said, as far as the province's fleet view cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PrinterCondition {
    /// Prints.
    Ready,
    /// Prints, but the roll is nearly used up.
    PaperLow,
    /// Out of paper: no receipt or ticket can be printed.
    OutOfPaper,
    /// The cover is open.
    CoverOpen,
    /// Another fault (cutter, head, offline).
    Fault,
    /// The printer did not answer.
    Unreachable,
}

/// A kiosk's printer in a health report: its condition and the words the kiosk shows for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrinterHealth {
    /// What the fleet view flags on.
    pub condition: PrinterCondition,
    /// The kiosk's own words for it, Vietnamese first.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub detail: String,
}

/// The last self-test of a kiosk's peripherals, when one was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SelfTestSummary {
    /// When it ran.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: DateTime<FixedOffset>,
    /// Whether every configured peripheral passed.
    pub passed: bool,
    /// The peripherals that failed, by name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub failed: Vec<String>,
}

/// A kiosk's health report (`POST /v1/health-reports`), queued on a schedule and when the
/// kiosk's state changes. It names no device: the gateway takes the device from the client
/// certificate, so a kiosk cannot report for another.
///
/// It travels through the outbox like any record, so a kiosk that was offline reports when it
/// comes back; only the newest waits (a newer report replaces an undelivered one). The numbers
/// are those of `generated_at`; `sent_at` is the kiosk's clock when it was sent, which the
/// gateway compares with its own clock at receipt to find a wrong clock (a report that waited
/// for days still has a fresh `sent_at`). `sent_at` is not part of the report's identity: a
/// retry with a later `sent_at` is the same report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReport {
    /// The kiosk software's version; not blank.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000, pattern = r"\S"))]
    pub software_version: String,
    /// When the kiosk made the report (its clock); the numbers below are of that moment.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub generated_at: DateTime<FixedOffset>,
    /// The kiosk's clock when it sent the report; set by the uplink at each attempt, and
    /// required by the gateway (an `Option` only while the report waits in the kiosk's outbox).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = String, format = DateTime, required = true)
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<FixedOffset>>,
    /// Seconds since kioskd started.
    pub uptime_s: u64,
    /// Outbox entries not yet delivered (held and set-aside ones included, health reports not).
    pub outbox_pending: u64,
    /// Age in seconds of the oldest undelivered entry, when there is one (set-aside entries,
    /// which a technician decided about, are left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_undelivered_s: Option<u64>,
    /// Of `outbox_pending`, entries waiting for a technician.
    pub needs_technician: u64,
    /// Of `outbox_pending`, entries a technician set aside.
    pub set_aside: u64,
    /// The receipt printer's state, when a printer is configured and its state is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<PrinterHealth>,
    /// Free bytes on the data disk, when they could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes: Option<u64>,
    /// The free-space floor below which the kiosk refuses new work.
    pub disk_floor_bytes: u64,
    /// The last recorded self-test; absent when none was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_self_test: Option<SelfTestSummary>,
}
