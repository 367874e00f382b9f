//! The kiosk's health report for the province's fleet view: what it says and when it is due.
//!
//! kioskd samples its state every few seconds (the same sample as the `STATUS=` health line)
//! and queues a report in the outbox when the schedule says so (`[uplink] health_report_s`,
//! default 300 s) or at once when something a technician acts on changed: the outbox depth, an
//! entry held for a technician or set aside, the printer's condition, the disk crossing its
//! floor. A report queued while offline replaces the one waiting (the store keeps the newest
//! only), so a kiosk that comes back delivers one up-to-date report, not a backlog.
//!
//! Everything here is a plain function of its inputs and an explicit clock, so the schedule
//! is tested without waiting.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use motcua_domain::wire::{HealthReport, PrinterCondition, PrinterHealth, SelfTestSummary};
use motcua_store::OutboxStatus;

/// What the kiosk knows when it makes a report.
#[derive(Debug, Clone)]
pub struct HealthSample<'a> {
    /// The outbox's counts (health reports are not in them).
    pub outbox: &'a OutboxStatus,
    /// The printer, when one is configured and its state is known.
    pub printer: Option<&'a PrinterHealth>,
    /// Free bytes on the data disk (when known) and the store's floor.
    pub disk: (Option<u64>, u64),
    /// Since kioskd started.
    pub uptime: Duration,
    /// The kiosk's clock now.
    pub now: DateTime<FixedOffset>,
    /// The last self-test recorded in the store (provisioning, a remote request).
    pub last_self_test: Option<&'a SelfTestSummary>,
    /// The version installed (`dpkg-query`, read once at start: see
    /// [`crate::update::installed_version`]), which the gateway's rollout counts by.
    pub software_version: &'a str,
}

/// The report of `sample` (`sent_at` is left to the uplink, which stamps it when sending).
pub fn report(sample: &HealthSample<'_>) -> HealthReport {
    let oldest_undelivered_s = sample
        .outbox
        .oldest_pending_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            u64::try_from(sample.now.signed_duration_since(t).num_seconds()).unwrap_or_default()
        });
    HealthReport {
        software_version: sample.software_version.to_owned(),
        generated_at: sample.now,
        sent_at: None,
        uptime_s: sample.uptime.as_secs(),
        outbox_pending: sample.outbox.pending,
        oldest_undelivered_s,
        needs_technician: sample.outbox.needs_technician,
        set_aside: sample.outbox.set_aside,
        printer: sample.printer.cloned(),
        disk_free_bytes: sample.disk.0,
        disk_floor_bytes: sample.disk.1,
        last_self_test: sample.last_self_test.cloned(),
    }
}

/// The part of a report whose change is worth a report at once. Uptime, ages and free bytes
/// change all the time and wait for the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watched {
    pending: u64,
    needs_technician: u64,
    set_aside: u64,
    printer: Option<PrinterCondition>,
    below_floor: bool,
    /// A new self-test result is worth a report at once: a technician asked for it.
    self_test_at: Option<DateTime<FixedOffset>>,
}

impl Watched {
    fn of(report: &HealthReport) -> Self {
        Self {
            pending: report.outbox_pending,
            needs_technician: report.needs_technician,
            set_aside: report.set_aside,
            printer: report.printer.as_ref().map(|p| p.condition),
            below_floor: report
                .disk_free_bytes
                .is_some_and(|free| free < report.disk_floor_bytes),
            self_test_at: report.last_self_test.as_ref().map(|t| t.at),
        }
    }
}

/// When the next report is due: on the schedule, or at once when its watched state changed.
#[derive(Debug, Clone)]
pub struct HealthSchedule {
    every: Duration,
    last: Option<(Duration, Watched)>,
}

impl HealthSchedule {
    /// A schedule of one report every `every` at least; the first report is due at once.
    pub fn new(every: Duration) -> Self {
        Self { every, last: None }
    }

    /// Whether `report`, made at `at` (any monotonic clock, e.g. the uptime), is due. A due
    /// report counts as queued: call [`HealthSchedule::failed`] if queueing it failed.
    pub fn due(&mut self, at: Duration, report: &HealthReport) -> bool {
        let watched = Watched::of(report);
        let due = match &self.last {
            None => true,
            Some((last_at, last)) => *last != watched || at.saturating_sub(*last_at) >= self.every,
        };
        if due {
            self.last = Some((at, watched));
        }
        due
    }

    /// Queueing the last due report failed: the next sample is due again.
    pub fn failed(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-12-01T10:00:00+07:00").unwrap()
    }

    #[test]
    fn the_report_says_depth_age_held_entries_printer_and_disk() {
        let outbox = OutboxStatus {
            pending: 3,
            needs_technician: 1,
            set_aside: 1,
            oldest_pending_at: Some("2026-12-01T09:00:00+07:00".into()),
            ..OutboxStatus::default()
        };
        let printer = PrinterHealth {
            condition: PrinterCondition::OutOfPaper,
            detail: "lỗi / fault: hết giấy".into(),
        };
        let r = report(&HealthSample {
            outbox: &outbox,
            printer: Some(&printer),
            disk: (Some(5 << 30), 200 << 20),
            uptime: Duration::from_secs(90),
            now: now(),
            last_self_test: None,
            software_version: "0.2.0-1",
        });
        assert_eq!(r.software_version, "0.2.0-1");
        assert_eq!(r.outbox_pending, 3);
        assert_eq!(r.oldest_undelivered_s, Some(3600));
        assert_eq!((r.needs_technician, r.set_aside), (1, 1));
        assert_eq!(r.printer, Some(printer));
        assert_eq!(r.disk_free_bytes, Some(5 << 30));
        assert_eq!(r.uptime_s, 90);
        assert_eq!(r.generated_at, now());
        assert!(r.sent_at.is_none() && r.last_self_test.is_none());
        let empty = report(&HealthSample {
            outbox: &OutboxStatus::default(),
            printer: None,
            disk: (None, 0),
            uptime: Duration::ZERO,
            now: now(),
            last_self_test: None,
            software_version: "0.1.0",
        });
        assert_eq!(empty.oldest_undelivered_s, None);
    }

    #[test]
    fn a_report_is_due_at_start_on_the_schedule_and_at_once_on_a_change() {
        let mut schedule = HealthSchedule::new(Duration::from_secs(300));
        let sample = |pending: u64, uptime: u64| {
            let outbox = OutboxStatus {
                pending,
                ..OutboxStatus::default()
            };
            report(&HealthSample {
                outbox: &outbox,
                printer: None,
                disk: (Some(1 << 30), 1 << 20),
                uptime: Duration::from_secs(uptime),
                now: now(),
                last_self_test: None,
                software_version: "0.1.0",
            })
        };
        let at = Duration::from_secs;
        assert!(
            schedule.due(at(0), &sample(0, 0)),
            "the first report is due at once"
        );
        assert!(!schedule.due(at(5), &sample(0, 5)), "nothing changed");
        assert!(!schedule.due(at(299), &sample(0, 299)));
        assert!(schedule.due(at(300), &sample(0, 300)), "on the schedule");
        assert!(schedule.due(at(305), &sample(1, 305)), "the depth changed");
        assert!(!schedule.due(at(310), &sample(1, 310)));
        schedule.failed();
        assert!(
            schedule.due(at(315), &sample(1, 315)),
            "a failed queueing is retried"
        );
        let tested = SelfTestSummary {
            at: now(),
            passed: false,
            failed: vec!["máy in / printer".into()],
        };
        let with_test = report(&HealthSample {
            outbox: &OutboxStatus {
                pending: 1,
                ..OutboxStatus::default()
            },
            printer: None,
            disk: (Some(1 << 30), 1 << 20),
            uptime: at(320),
            now: now(),
            last_self_test: Some(&tested),
            software_version: "0.1.0",
        });
        assert_eq!(with_test.last_self_test.as_ref(), Some(&tested));
        assert!(schedule.due(at(320), &with_test), "a new self-test result");
    }
}
