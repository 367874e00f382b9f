//! The kiosk's health reports in the outbox: at most one waits.
//!
//! A report describes the kiosk at one moment; an older one still waiting when a newer one is
//! made says nothing the newer does not, so queueing a report removes every earlier health
//! entry (undelivered ones, and delivered ones, which nothing needs) in the transaction that
//! inserts it. An offline kiosk therefore delivers exactly one report, the newest, when it
//! comes back, and its outbox never fills with telemetry. This is the one deletion besides
//! retention (invariant 3): a report is not a citizen's record and replacing it loses nothing.

use chrono::{DateTime, FixedOffset};
use motcua_domain::wire::HealthReport;
use rusqlite::{OptionalExtension, TransactionBehavior};

use crate::outbox::{insert_outbox, OutboxKind};
use crate::{db_err, DeviceIdentity, Store, StoreError, StoreResult};

impl Store {
    /// Queues `report` for the gateway, replacing any earlier health report (delivered or not)
    /// in the same transaction. Returns the idempotency key it was queued under.
    pub fn queue_health_report(
        &mut self,
        device: &DeviceIdentity,
        report: &HealthReport,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<String> {
        let json = serde_json::to_string(report).map_err(|e| StoreError::Corrupt {
            what: "health report".into(),
            detail: e.to_string(),
        })?;
        // The time alone could repeat (two processes, a clock set back): a random suffix keeps
        // the key unique without a counter.
        let key = format!(
            "{}:health:{}:{:08x}",
            device.id,
            report.generated_at.timestamp_micros(),
            rand::random::<u32>()
        );
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        tx.execute("DELETE FROM outbox WHERE kind = 'health'", [])
            .map_err(&db)?;
        insert_outbox(&tx, OutboxKind::Health, &key, &json, now).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(key)
    }

    /// The health report waiting for delivery, if one does: its key and report.
    pub fn waiting_health_report(&self) -> StoreResult<Option<(String, HealthReport)>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT idempotency_key, payload FROM outbox
                 WHERE kind = 'health' AND delivered_at IS NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db())?;
        row.map(|(key, payload)| {
            serde_json::from_str(&payload)
                .map(|report| (key.clone(), report))
                .map_err(|e| StoreError::Corrupt {
                    what: format!("health report {key}"),
                    detail: e.to_string(),
                })
        })
        .transpose()
    }

    /// Free bytes on the data disk and the floor below which the store refuses new work.
    pub fn disk_space(&self) -> (Option<u64>, u64) {
        (self.blobs.available_space(), self.blobs.min_free_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use motcua_domain::dossier::SequenceRange;

    fn device() -> DeviceIdentity {
        DeviceIdentity {
            id: "KIOSK-H56-01".into(),
            agency_code: "000.17.22.H56".into(),
            sequence: Some(SequenceRange::default()),
        }
    }

    fn report(at: &str, pending: u64) -> HealthReport {
        HealthReport {
            software_version: "0.1.0".into(),
            generated_at: DateTime::parse_from_rfc3339(at).unwrap(),
            sent_at: None,
            uptime_s: 60,
            outbox_pending: pending,
            oldest_undelivered_s: None,
            needs_technician: 0,
            set_aside: 0,
            printer: None,
            disk_free_bytes: Some(1 << 30),
            disk_floor_bytes: 1 << 20,
            last_self_test: None,
        }
    }

    /// An offline kiosk queues a report every few minutes: only the newest waits, it survives
    /// a restart, it is what the uplink delivers next, and it counts in no outbox depth.
    #[test]
    fn only_the_newest_report_waits_and_it_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-01T09:00:00+07:00").unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        store
            .issue_ticket(&device(), "A", now)
            .expect("a ticket waits too");
        for (i, at) in [
            "2026-12-01T09:00:00+07:00",
            "2026-12-01T09:05:00+07:00",
            "2026-12-01T09:10:00+07:00",
        ]
        .iter()
        .enumerate()
        {
            store
                .queue_health_report(&device(), &report(at, i as u64), now)
                .unwrap();
        }
        drop(store);
        let store = Store::open(dir.path(), 0).unwrap();
        let (key, waiting) = store.waiting_health_report().unwrap().expect("one waits");
        assert_eq!(waiting, report("2026-12-01T09:10:00+07:00", 2));
        let health: Vec<_> = std::iter::from_fn({
            let mut delivered = Vec::new();
            let store = &store;
            move || {
                let e = store
                    .next_due(i64::MAX, std::time::Duration::ZERO)
                    .unwrap()?;
                store.mark_delivered(e.id, now).unwrap();
                delivered.push(e.id);
                Some(e)
            }
        })
        .filter(|e| e.kind == OutboxKind::Health)
        .collect();
        assert_eq!(health.len(), 1, "exactly one report is delivered");
        assert_eq!(health[0].idempotency_key, key);
        let status = store.outbox_status().unwrap();
        assert_eq!(status.pending, 0);
        assert!(!status.health_report_waiting);
    }

    /// The report is not a citizen's record: it neither counts as pending (the removal guard)
    /// nor hides the oldest pending record's age.
    #[test]
    fn a_waiting_report_is_not_counted_as_pending() {
        let dir = tempfile::tempdir().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-01T09:00:00+07:00").unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        store
            .queue_health_report(&device(), &report("2026-12-01T08:00:00+07:00", 0), now)
            .unwrap();
        let status = store.outbox_status().unwrap();
        assert_eq!((status.pending, status.oldest_pending_at), (0, None));
        assert!(status.health_report_waiting);
        store.issue_ticket(&device(), "A", now).unwrap();
        let status = store.outbox_status().unwrap();
        assert_eq!(status.pending, 1);
        assert_eq!(status.oldest_pending_at, Some(now.to_rfc3339()));
    }

    /// A kiosk at the previous schema version keeps its outbox across the migration that adds
    /// the health kind: entries, their attempts and their holds come through unchanged.
    #[test]
    fn the_outbox_of_the_previous_schema_survives_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
        for sql in &crate::schema::MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute(
            "INSERT INTO outbox(kind, idempotency_key, payload, created_at, attempts, hold,
                 hold_reason, held_at)
             VALUES('ticket', 'k', '{}', '2026-11-23T09:00:00+07:00', 2, 'needs_technician',
                 'why', '2026-11-23T09:05:00+07:00')",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 4).unwrap();
        drop(conn);
        let mut store = Store::open(dir.path(), 0).unwrap();
        let held = store.held_entries().unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!((held[0].reason.as_str(), held[0].attempts), ("why", 2));
        let now = DateTime::parse_from_rfc3339("2026-12-01T09:00:00+07:00").unwrap();
        store
            .queue_health_report(&device(), &report("2026-12-01T09:00:00+07:00", 1), now)
            .expect("the new kind is allowed");
        assert_eq!(store.outbox_status().unwrap().pending, 1);
    }
}
