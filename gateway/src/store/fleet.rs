//! The fleet's health: the latest report of each device, a bounded history, and the flags a
//! technician acts on (silent, out of paper, stuck outbox, wrong clock).
//!
//! A report is ingested like any record (its idempotency key claimed once, see
//! [`super::ingest`]): it is added to `health_reports` and replaces the device's row in
//! `device_health`, and the device's history is cut to [`HISTORY_PER_DEVICE`] reports, all in
//! the ingest's transaction. The latest is the latest *received*: a kiosk keeps only its newest
//! report while offline, so the order of receipt is the order the kiosk made them, and the
//! kiosk's clock (which may be wrong: that is one of the flags) orders nothing.
//!
//! The flags are computed when the fleet is read, from the stored rows and the caller's clock
//! ([`flags`]), so the rules are one pure function the tests drive with chosen times.

use std::time::Duration;

use motcua_domain::wire::{HealthReport, PrinterCondition};
use serde::Serialize;

use super::{queries, FleetDevice};
use crate::GatewayError;

/// Reports kept per device: a week at the kiosks' default of one every five minutes.
pub(crate) const HISTORY_PER_DEVICE: i64 = 2016;
/// Reports per device in the fleet view's `recent` list (for a small depth chart).
pub(crate) const RECENT_PER_DEVICE: i64 = 48;
/// A kiosk clock further than this from the gateway's is flagged (receipts and appointment
/// dates carry the kiosk's date and time).
pub const CLOCK_SKEW_LIMIT: Duration = Duration::from_secs(120);

/// Schema of the health tables (migration 4, shared by both backends).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE health_reports (
    idempotency_key TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    generated_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    offset_ms BIGINT NOT NULL,
    outbox_pending BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX health_reports_by_device ON health_reports(device_id, received_ms);
CREATE TABLE device_health (
    device_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL,
    received_at TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    offset_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);
"#;

/// When the fleet view flags a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetSettings {
    /// No report or request for longer than this: `silent`.
    pub silent_after: Duration,
    /// The oldest undelivered entry older than this: `stuck_outbox`.
    pub stuck_after: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            silent_after: Duration::from_secs(3600),
            stuck_after: Duration::from_secs(3600),
        }
    }
}

/// Something a technician should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FleetFlag {
    /// Nothing heard (no report, no request) for longer than the silent setting; a device that
    /// never reported counts from its enrolment or last request.
    Silent,
    /// The latest report says the printer is out of paper.
    OutOfPaper,
    /// The latest report's oldest undelivered entry is older than the stuck setting.
    StuckOutbox,
    /// The kiosk's clock was more than 120 s off the gateway's when its latest report arrived.
    ClockSkew,
}

/// One point of a device's recent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HealthPoint {
    /// When the kiosk made the report (its clock).
    pub generated_at: String,
    /// When the gateway received it (its clock).
    pub received_at: String,
    /// The kiosk's outbox depth then.
    pub outbox_pending: i64,
}

/// One device of `GET /v1/admin/fleet`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FleetEntry {
    /// The device id.
    pub device_id: String,
    /// Its site (agency code).
    pub site: String,
    /// No live certificate: revoked, it must be re-enrolled.
    pub revoked: bool,
    /// When the gateway last heard from it (a report or any request; RFC 3339), if ever.
    pub last_seen_at: Option<String>,
    /// Its latest report, if it ever reported.
    pub report: Option<HealthReport>,
    /// When that report was received (RFC 3339).
    pub report_received_at: Option<String>,
    /// The kiosk's clock minus the gateway's at that receipt, in seconds.
    pub clock_offset_s: Option<i64>,
    /// What to look at; empty when all is well.
    pub flags: Vec<FleetFlag>,
    /// Its latest reports, oldest first (at most 48).
    pub recent: Vec<HealthPoint>,
}

/// `GET /v1/admin/fleet` answer.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FleetView {
    /// The gateway's clock when the flags were computed (RFC 3339).
    pub at: String,
    /// The silent setting, seconds.
    pub silent_after_s: u64,
    /// The stuck-outbox setting, seconds.
    pub stuck_after_s: u64,
    /// The clock-skew limit, seconds.
    pub clock_skew_limit_s: u64,
    /// Every enrolled device, by id.
    pub devices: Vec<FleetEntry>,
}

/// A device's latest report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LatestReport {
    pub device_id: String,
    pub received_at: String,
    pub received_ms: i64,
    pub offset_ms: i64,
    pub body: String,
}

/// One row of [`queries::HEALTH_LATEST`].
pub(super) fn latest_report<R: queries::Columns>(r: &R) -> Result<LatestReport, R::Error> {
    Ok(LatestReport {
        device_id: r.text(0)?,
        received_at: r.text(1)?,
        received_ms: r.int(2)?,
        offset_ms: r.int(3)?,
        body: r.text(4)?,
    })
}

/// One row of [`queries::HEALTH_RECENT`]: the device and its point.
pub(super) fn health_point<R: queries::Columns>(r: &R) -> Result<(String, HealthPoint), R::Error> {
    Ok((
        r.text(0)?,
        HealthPoint {
            generated_at: r.text(1)?,
            received_at: r.text(2)?,
            outbox_pending: r.int(3)?,
        },
    ))
}

fn millis(rfc3339: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339?)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The flags of a device at `now_ms` (the gateway's clock, Unix ms): `last_contact_ms` is when
/// it was last heard from (a report or a request), `report` its latest report with the clock
/// offset measured at its receipt.
pub fn flags(
    settings: &FleetSettings,
    now_ms: i64,
    last_contact_ms: Option<i64>,
    report: Option<(&HealthReport, i64)>,
) -> Vec<FleetFlag> {
    let mut flags = Vec::new();
    let silent = last_contact_ms
        .is_none_or(|at| now_ms.saturating_sub(at) > duration_ms(settings.silent_after));
    if silent {
        flags.push(FleetFlag::Silent);
    }
    if let Some((report, offset_ms)) = report {
        if report
            .printer
            .as_ref()
            .is_some_and(|p| p.condition == PrinterCondition::OutOfPaper)
        {
            flags.push(FleetFlag::OutOfPaper);
        }
        if report
            .oldest_undelivered_s
            .is_some_and(|age| age > settings.stuck_after.as_secs())
        {
            flags.push(FleetFlag::StuckOutbox);
        }
        if offset_ms.unsigned_abs() > CLOCK_SKEW_LIMIT.as_millis() as u64 {
            flags.push(FleetFlag::ClockSkew);
        }
    }
    flags
}

/// The fleet view: every device of `devices` with its latest report, recent history and flags.
/// A stored report the gateway cannot read (a newer kiosk's) is shown as no report and logged.
pub(crate) fn view(
    settings: &FleetSettings,
    now: chrono::DateTime<chrono::FixedOffset>,
    devices: Vec<FleetDevice>,
    latest: Vec<LatestReport>,
    recent: Vec<(String, HealthPoint)>,
) -> FleetView {
    let now_ms = now.timestamp_millis();
    let entries = devices
        .into_iter()
        .map(|d| {
            let stored = latest.iter().find(|l| l.device_id == d.device_id);
            let report = stored.and_then(|l| match serde_json::from_str::<HealthReport>(&l.body) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(device_id = %d.device_id, "unreadable stored health report: {e}");
                    None
                }
            });
            let contacts = [
                millis(d.last_seen_at.as_deref()),
                millis(Some(&d.enrolled_at)),
                stored.map(|l| l.received_ms),
            ];
            let last_contact_ms = contacts.into_iter().flatten().max();
            let offset_ms = stored.map(|l| l.offset_ms);
            let flags = flags(
                settings,
                now_ms,
                last_contact_ms,
                report.as_ref().zip(offset_ms),
            );
            let last_seen_at = match (stored, d.last_seen_at) {
                (Some(l), Some(seen)) if millis(Some(&seen)) >= Some(l.received_ms) => Some(seen),
                (Some(l), _) => Some(l.received_at.clone()),
                (None, seen) => seen,
            };
            FleetEntry {
                recent: recent
                    .iter()
                    .filter(|(id, _)| *id == d.device_id)
                    .map(|(_, p)| p.clone())
                    .collect(),
                device_id: d.device_id,
                site: d.site,
                revoked: d.revoked,
                last_seen_at,
                report_received_at: stored.map(|l| l.received_at.clone()),
                clock_offset_s: offset_ms.map(|ms| ms / 1000),
                report,
                flags,
            }
        })
        .collect();
    FleetView {
        at: now.to_rfc3339(),
        silent_after_s: settings.silent_after.as_secs(),
        stuck_after_s: settings.stuck_after.as_secs(),
        clock_skew_limit_s: CLOCK_SKEW_LIMIT.as_secs(),
        devices: entries,
    }
}

impl super::Store {
    /// Every enrolled device with its latest health report, recent history and flags at `now`.
    pub async fn fleet_view(
        &self,
        settings: &FleetSettings,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<FleetView, GatewayError> {
        let devices = self.fleet().await?;
        let (latest, recent) = match self {
            super::Store::Sqlite(s) => s.health().await?,
            super::Store::Postgres(s) => s.health().await?,
        };
        Ok(view(settings, now, devices, latest, recent))
    }
}

impl super::SqliteStore {
    pub async fn health(
        &self,
    ) -> Result<(Vec<LatestReport>, Vec<(String, HealthPoint)>), GatewayError> {
        self.call("read the fleet's health reports", |c| {
            let latest = c
                .prepare(queries::HEALTH_LATEST)?
                .query_map([], |r| latest_report(r))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let recent = c
                .prepare(queries::HEALTH_RECENT)?
                .query_map([RECENT_PER_DEVICE], |r| health_point(r))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((latest, recent))
        })
        .await
    }
}

impl super::PgStore {
    pub async fn health(
        &self,
    ) -> Result<(Vec<LatestReport>, Vec<(String, HealthPoint)>), GatewayError> {
        let read = self.err("read the fleet's health reports");
        let client = self.client().await?;
        let latest = client
            .query(queries::HEALTH_LATEST, &[])
            .await
            .map_err(&read)?
            .iter()
            .map(latest_report)
            .collect::<Result<_, _>>()
            .map_err(&read)?;
        let recent = client
            .query(queries::HEALTH_RECENT, &[&RECENT_PER_DEVICE])
            .await
            .map_err(&read)?
            .iter()
            .map(health_point)
            .collect::<Result<_, _>>()
            .map_err(&read)?;
        Ok((latest, recent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use motcua_domain::wire::PrinterHealth;

    const NOW_MS: i64 = 1_796_000_000_000;

    fn report(
        printer: Option<PrinterCondition>,
        oldest_undelivered_s: Option<u64>,
    ) -> HealthReport {
        HealthReport {
            software_version: "0.1.0".into(),
            generated_at: chrono::DateTime::parse_from_rfc3339("2026-12-01T09:00:00+07:00")
                .unwrap(),
            sent_at: None,
            uptime_s: 600,
            outbox_pending: u64::from(oldest_undelivered_s.is_some()),
            oldest_undelivered_s,
            needs_technician: 0,
            set_aside: 0,
            printer: printer.map(|condition| PrinterHealth {
                condition,
                detail: String::new(),
            }),
            disk_free_bytes: None,
            disk_floor_bytes: 0,
            last_self_test: None,
        }
    }

    #[test]
    fn a_device_heard_from_within_the_setting_is_not_silent_and_one_past_it_is() {
        let s = FleetSettings::default();
        let healthy = report(Some(PrinterCondition::Ready), None);
        assert!(flags(&s, NOW_MS, Some(NOW_MS - 3_599_000), Some((&healthy, 0))).is_empty());
        assert_eq!(
            flags(&s, NOW_MS, Some(NOW_MS - 3_601_000), Some((&healthy, 0))),
            vec![FleetFlag::Silent]
        );
        // Never heard from at all (no enrolment time known): silent.
        assert_eq!(flags(&s, NOW_MS, None, None), vec![FleetFlag::Silent]);
    }

    #[test]
    fn out_of_paper_stuck_outbox_and_a_wrong_clock_are_flagged_from_the_latest_report() {
        let s = FleetSettings::default();
        let seen = Some(NOW_MS - 1000);
        let paper = report(Some(PrinterCondition::OutOfPaper), None);
        assert_eq!(
            flags(&s, NOW_MS, seen, Some((&paper, 0))),
            vec![FleetFlag::OutOfPaper]
        );
        let low = report(Some(PrinterCondition::PaperLow), None);
        assert!(flags(&s, NOW_MS, seen, Some((&low, 0))).is_empty());
        let stuck = report(None, Some(3601));
        assert_eq!(
            flags(&s, NOW_MS, seen, Some((&stuck, 0))),
            vec![FleetFlag::StuckOutbox]
        );
        let waiting = report(None, Some(3599));
        assert!(flags(&s, NOW_MS, seen, Some((&waiting, 0))).is_empty());
        let fine = report(None, None);
        assert!(flags(&s, NOW_MS, seen, Some((&fine, 120_000))).is_empty());
        assert_eq!(
            flags(&s, NOW_MS, seen, Some((&fine, -120_001))),
            vec![FleetFlag::ClockSkew]
        );
        assert_eq!(
            flags(&s, NOW_MS, seen, Some((&fine, 600_000))),
            vec![FleetFlag::ClockSkew]
        );
    }

    /// The view takes the latest contact from the report, the last request or the enrolment,
    /// whichever is newest, and lists a device that never reported with no report.
    #[test]
    fn the_view_lists_every_device_with_its_latest_report_and_history() {
        let settings = FleetSettings {
            silent_after: Duration::from_secs(60),
            ..FleetSettings::default()
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00+07:00").unwrap();
        let device = |id: &str, enrolled_at: &str| FleetDevice {
            device_id: id.into(),
            site: "000.17.22.H56".into(),
            enrolled_at: enrolled_at.into(),
            last_seen_at: None,
            serial: Some("01".into()),
            not_after: None,
            first_used_at: None,
            revoked: false,
        };
        let body =
            serde_json::to_string(&report(Some(PrinterCondition::OutOfPaper), None)).unwrap();
        let latest = vec![LatestReport {
            device_id: "A".into(),
            received_at: "2026-12-01T09:59:30+07:00".into(),
            received_ms: now.timestamp_millis() - 30_000,
            offset_ms: -1500,
            body,
        }];
        let point = HealthPoint {
            generated_at: "2026-12-01T09:59:29+07:00".into(),
            received_at: "2026-12-01T09:59:30+07:00".into(),
            outbox_pending: 0,
        };
        let view = view(
            &settings,
            now,
            vec![
                device("A", "2026-12-01T08:00:00+07:00"),
                device("B", "2026-12-01T09:00:00+07:00"),
            ],
            latest,
            vec![("A".into(), point.clone())],
        );
        let a = &view.devices[0];
        assert_eq!(a.flags, vec![FleetFlag::OutOfPaper]);
        assert_eq!(a.clock_offset_s, Some(-1));
        assert_eq!(a.last_seen_at.as_deref(), Some("2026-12-01T09:59:30+07:00"));
        assert_eq!(a.recent, vec![point]);
        let b = &view.devices[1];
        assert_eq!(b.flags, vec![FleetFlag::Silent]);
        assert!(b.report.is_none() && b.recent.is_empty());
    }

    /// The history stays bounded per device, and the recent list is each device's newest
    /// reports, oldest first: the shared query texts, run on SQLite (PostgreSQL runs them in
    /// the gateway's integration tests on every ingest and fleet read).
    #[test]
    fn the_history_is_cut_per_device_and_recent_lists_the_newest() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATION).unwrap();
        for (device, ms) in [
            ("A", 1),
            ("A", 2),
            ("A", 3),
            ("A", 4),
            ("A", 5),
            ("B", 1),
            ("B", 2),
        ] {
            conn.execute(
                queries::HEALTH_INSERT,
                rusqlite::params![
                    format!("{device}-{ms}"),
                    device,
                    format!("g{ms}"),
                    format!("r{ms}"),
                    ms,
                    0,
                    ms,
                    "{}"
                ],
            )
            .unwrap();
        }
        conn.execute(queries::HEALTH_PRUNE, rusqlite::params!["A", 3])
            .unwrap();
        let recent: Vec<(String, HealthPoint)> = conn
            .prepare(queries::HEALTH_RECENT)
            .unwrap()
            .query_map([2], |r| health_point(r))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let depths: Vec<(&str, i64)> = recent
            .iter()
            .map(|(d, p)| (d.as_str(), p.outbox_pending))
            .collect();
        assert_eq!(depths, [("A", 4), ("A", 5), ("B", 1), ("B", 2)]);
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM health_reports WHERE device_id = 'A'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 3, "A keeps its three newest");
    }
}
