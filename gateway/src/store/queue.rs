//! The centre queue services' outboxes (issue #18): the events a hub posts to
//! `POST /v1/queue/events`, kept per site under their idempotency key, and the day reports read
//! back by the province's operators (`GET /v1/queue/reports`).
//!
//! A row is keyed by `(site, event_key)`: the site is the hub's certificate's, never a body's,
//! so two centres using the same key (`issued:TP-20261203-0001@HUB-1` is easy to repeat across
//! the province) store two events, and no hub can write into another site's rows. One statement
//! decides each event: an insert that, on a key already stored, updates only a `day_report`
//! with a `day_report` (the hub exports the day's report again as the day grows) and otherwise
//! changes nothing. The rows it changed (1 or 0) are what the answer counts as stored or
//! duplicate, on both backends; a whole batch is one transaction, so a retry after a failure
//! finds all of it or none.

use motcua_domain::wire::hub::QueueEvent;

use super::queries::Columns;
use crate::GatewayError;

/// Migration 15: the hubs' events.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE queue_events (
    site TEXT NOT NULL,
    event_key TEXT NOT NULL,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site, event_key)
);
CREATE INDEX queue_events_by_day ON queue_events(site, kind, ticket_id);
"#;

/// `$1` site, `$2` key, `$3` device, `$4` kind, `$5` ticket (a day for a report), `$6` the
/// payload's JSON, `$7` now. One row changed: stored (new, or a day report replaced); none: a
/// duplicate.
const UPSERT: &str = "INSERT INTO queue_events
    (site, event_key, device_id, kind, ticket_id, payload, received_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
    ON CONFLICT (site, event_key) DO UPDATE SET
    device_id = excluded.device_id, payload = excluded.payload, updated_at = excluded.updated_at
    WHERE queue_events.kind = 'day_report' AND excluded.kind = 'day_report'";

/// `$1` site, `$2` day: the site's day reports of that day, by key.
const REPORTS: &str = "SELECT event_key, device_id, payload, received_at, updated_at
    FROM queue_events WHERE site = $1 AND kind = 'day_report' AND ticket_id = $2
    ORDER BY event_key";

/// One day report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredReport {
    pub key: String,
    pub device_id: String,
    /// The payload's JSON text, as the hub last sent it.
    pub payload: String,
    pub received_at: String,
    pub updated_at: String,
}

fn report<R: Columns>(r: &R) -> Result<StoredReport, R::Error> {
    Ok(StoredReport {
        key: r.text(0)?,
        device_id: r.text(1)?,
        payload: r.text(2)?,
        received_at: r.text(3)?,
        updated_at: r.text(4)?,
    })
}

/// One event's row values, in the order of [`UPSERT`]'s placeholders after the site.
struct Row {
    key: String,
    kind: String,
    ticket_id: String,
    payload: String,
}

impl super::Store {
    /// Stores a hub's batch for `site` (the certificate's) in one transaction; returns how many
    /// events were stored (new, or a day report replaced) — the rest were duplicates. The
    /// caller has validated the batch.
    pub async fn store_queue_events(
        &self,
        site: &str,
        device_id: &str,
        events: &[QueueEvent],
        now: &str,
    ) -> Result<usize, GatewayError> {
        let rows: Vec<Row> = events
            .iter()
            .map(|e| Row {
                key: e.key.clone(),
                kind: e.kind.clone(),
                ticket_id: e.ticket_id.clone(),
                payload: e.payload.to_string(),
            })
            .collect();
        let (site, device_id, now) = (site.to_owned(), device_id.to_owned(), now.to_owned());
        let action = "store a hub's queue events";
        match self {
            super::Store::Sqlite(s) => {
                s.call(action, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let mut stored = 0;
                    {
                        let mut stmt = tx.prepare(UPSERT)?;
                        for r in &rows {
                            stored += stmt.execute(rusqlite::params![
                                site,
                                r.key,
                                device_id,
                                r.kind,
                                r.ticket_id,
                                r.payload,
                                now
                            ])?;
                        }
                    }
                    tx.commit()?;
                    Ok(stored)
                })
                .await
            }
            super::Store::Postgres(s) => {
                let write = s.err(action);
                let mut client = s.client().await?;
                let tx = client.transaction().await.map_err(&write)?;
                let stmt = tx.prepare(UPSERT).await.map_err(&write)?;
                let mut stored = 0;
                for r in &rows {
                    let n = tx
                        .execute(
                            &stmt,
                            &[
                                &site,
                                &r.key,
                                &device_id,
                                &r.kind,
                                &r.ticket_id,
                                &r.payload,
                                &now,
                            ],
                        )
                        .await
                        .map_err(&write)?;
                    stored += usize::try_from(n).unwrap_or(1);
                }
                tx.commit().await.map_err(write)?;
                Ok(stored)
            }
        }
    }

    /// The day reports `site`'s hubs sent for `day` (`YYYY-MM-DD`), by key.
    pub async fn queue_reports(
        &self,
        site: &str,
        day: &str,
    ) -> Result<Vec<StoredReport>, GatewayError> {
        let (site, day) = (site.to_owned(), day.to_owned());
        let action = "read the queue's day reports";
        match self {
            super::Store::Sqlite(s) => {
                s.call(action, move |c| {
                    c.prepare(REPORTS)?
                        .query_map([&site, &day], |r| report(r))?
                        .collect()
                })
                .await
            }
            super::Store::Postgres(s) => {
                let read = s.err(action);
                s.client()
                    .await?
                    .query(REPORTS, &[&site, &day])
                    .await
                    .map_err(&read)?
                    .iter()
                    .map(report)
                    .collect::<Result<_, _>>()
                    .map_err(read)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrated() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .expect("schema");
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).expect("migration");
        }
        conn
    }

    /// Both statements prepare with `$1`, `$2`, … in order of first appearance (see
    /// `queries`), and the upsert changes a row only when it stores something.
    #[test]
    fn the_upsert_counts_what_it_stored() {
        let kind = format!("'{}'", motcua_domain::wire::hub::DAY_REPORT_KIND);
        assert!(UPSERT.contains(&kind) && REPORTS.contains(&kind));
        let conn = migrated();
        for sql in [UPSERT, REPORTS] {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(stmt.parameter_name(i), Some(format!("${i}").as_str()));
            }
        }
        let put = |key: &str, kind: &str, payload: &str| {
            conn.execute(
                UPSERT,
                ["S1", key, "HUB-1", kind, "2026-12-03", payload, "t"],
            )
            .expect("upsert")
        };
        assert_eq!(put("issued:A", "issued", "{}"), 1);
        assert_eq!(put("issued:A", "issued", r#"{"x":1}"#), 0);
        assert_eq!(put("issued:A", "day_report", r#"{"x":1}"#), 0);
        assert_eq!(put("report:2026-12-03:Q1", "day_report", r#"{"n":1}"#), 1);
        assert_eq!(put("report:2026-12-03:Q1", "day_report", r#"{"n":2}"#), 1);
        let payload: String = conn
            .query_row(
                "SELECT payload FROM queue_events WHERE event_key = 'report:2026-12-03:Q1'",
                [],
                |r| r.get(0),
            )
            .expect("row");
        assert_eq!(payload, r#"{"n":2}"#);
    }
}
