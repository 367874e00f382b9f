//! The kiosk's side of the centre's hub (issue #18): the fallback block the hub gave this kiosk
//! when it joined, and the tickets it numbered from that block while the hub was unreachable,
//! until the hub has recorded them.
//!
//! A kiosk with a hub asks the hub for every ticket; the hub numbers it in the hall's one
//! sequence per area per day and sends it to the gateway through its own outbox. So none of
//! these tickets enters this store's outbox: invariant 2 ("one outbox entry per record") is
//! the hub's for them, and the kiosk's part is to get the offline ones to the hub.
//!
//! # Promises
//! - **Durable before printing.** [`Store::issue_offline_ticket`] takes the number and stores
//!   the ticket in one `IMMEDIATE` transaction committed with `synchronous=FULL`: once it
//!   returns, the number is this ticket's even after a power cut, and never printed twice.
//! - **Never outside the block.** Numbers of an area's day go `first`, `first + 1`, … up to
//!   `last`; past it the call refuses ([`StoreError::HubBlockUsedUp`]) instead of inventing a
//!   number another kiosk or the hub may print. A block replaced by a later join (a hub whose
//!   database was rebuilt) starts again at its own `first`: numbers of the old block stay
//!   recorded and are still reported.
//! - **Reported until heard.** A ticket stays unreported until [`Store::mark_offline_reported`]
//!   after the hub's answer; the hub records one twice without harm, so a crash between its
//!   answer and the mark only repeats a report.

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::ticket::{ticket_id, validate_service_area};
use motcua_domain::vietnam_offset;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::{db_err, Store, StoreError, StoreResult};

/// The migration: the block (one row) and the offline tickets.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE hub_block(
    id INTEGER PRIMARY KEY CHECK(id = 1),
    first INTEGER NOT NULL CHECK(first >= 1),
    last INTEGER NOT NULL CHECK(last >= first),
    received_at TEXT NOT NULL
);
CREATE TABLE hub_offline_tickets(
    area TEXT NOT NULL,
    day TEXT NOT NULL,
    number INTEGER NOT NULL,
    issued_at TEXT NOT NULL,
    reported_at TEXT,
    rating_code TEXT,
    PRIMARY KEY(area, day, number)
);
CREATE INDEX hub_offline_unreported ON hub_offline_tickets(issued_at) WHERE reported_at IS NULL;
"#;

/// The kiosk's block of numbers for when the hub is unreachable (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubBlock {
    /// First number.
    pub first: u32,
    /// Last number.
    pub last: u32,
}

/// A ticket the kiosk numbered from its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineTicket {
    /// `<area>-YYYYMMDD-<number>@<kiosk>`, as the hub names it once recorded (the QR holds it
    /// with the rating code, [`motcua_domain::ticket::rating_qr`]).
    pub ticket_id: String,
    /// The service area.
    pub area: String,
    /// The Vietnam day it counts in.
    pub day: NaiveDate,
    /// The number printed.
    pub number: u32,
    /// When it was issued.
    pub issued_at: DateTime<FixedOffset>,
    /// The rating code printed in its QR after the id (`None` for a ticket kept before
    /// codes existed).
    pub rating_code: Option<String>,
}

fn vietnam_day(t: DateTime<FixedOffset>) -> NaiveDate {
    t.with_timezone(&vietnam_offset()).date_naive()
}

impl Store {
    /// Keeps the block the hub gave on join (replacing another one, should the hub answer
    /// differently). Returns whether it changed.
    pub fn save_hub_block(
        &mut self,
        block: HubBlock,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<bool> {
        if block.first == 0 || block.last < block.first {
            return Err(StoreError::Rejected(format!(
                "khối số dự phòng {}–{} rỗng / the fallback block {}–{} is empty",
                block.first, block.last, block.first, block.last
            )));
        }
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let old: Option<(u32, u32)> = tx
            .query_row("SELECT first, last FROM hub_block WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(&db)?;
        let changed = old != Some((block.first, block.last));
        if changed {
            tx.execute(
                "INSERT INTO hub_block(id, first, last, received_at) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET first = excluded.first, last = excluded.last,
                     received_at = excluded.received_at",
                params![block.first, block.last, now.to_rfc3339()],
            )
            .map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        Ok(changed)
    }

    /// The block the hub gave, if this kiosk has joined.
    pub fn hub_block(&self) -> StoreResult<Option<HubBlock>> {
        self.conn
            .query_row("SELECT first, last FROM hub_block WHERE id = 1", [], |r| {
                Ok(HubBlock {
                    first: r.get(0)?,
                    last: r.get(1)?,
                })
            })
            .optional()
            .map_err(self.db())
    }

    /// Numbers the next ticket of `area` for the Vietnam day of `now` from the block and stores
    /// it, durably, before it is printed. Refuses without a block
    /// ([`StoreError::NoHubBlock`]) and once the block is used up for that area and day
    /// ([`StoreError::HubBlockUsedUp`]). `device_id` is this kiosk's (the ticket's id names it).
    pub fn issue_offline_ticket(
        &mut self,
        device_id: &str,
        area: &str,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<OfflineTicket> {
        validate_service_area(area).map_err(|e| StoreError::Rejected(e.to_string()))?;
        self.blobs.check_free_space(0)?;
        let now = now.with_timezone(&vietnam_offset());
        let day = vietnam_day(now);
        let day_text = day.format("%Y-%m-%d").to_string();
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let (first, last): (u32, u32) = tx
            .query_row("SELECT first, last FROM hub_block WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(&db)?
            .ok_or(StoreError::NoHubBlock)?;
        let used: Option<u32> = tx
            .query_row(
                "SELECT MAX(number) FROM hub_offline_tickets
                 WHERE area = ?1 AND day = ?2 AND number BETWEEN ?3 AND ?4",
                params![area, day_text, first, last],
                |r| r.get(0),
            )
            .map_err(&db)?;
        let number = match used {
            None => first,
            Some(n) if n < last => n + 1,
            Some(_) => {
                return Err(StoreError::HubBlockUsedUp {
                    area: area.to_owned(),
                    date: day,
                    first,
                    last,
                })
            }
        };
        // The QR's rating code, told to the hub with the ticket (ids alone are sequential).
        let rating_code = motcua_domain::ticket::new_rating_code(rand::random());
        tx.execute(
            "INSERT INTO hub_offline_tickets(area, day, number, issued_at, rating_code) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![area, day_text, number, now.to_rfc3339(), rating_code],
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(OfflineTicket {
            ticket_id: ticket_id(device_id, area, day, number),
            area: area.to_owned(),
            day,
            number,
            issued_at: now,
            rating_code: Some(rating_code),
        })
    }

    /// Offline tickets the hub has not recorded yet, oldest first, at most `limit`.
    pub fn unreported_offline_tickets(
        &self,
        device_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<OfflineTicket>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT area, day, number, issued_at, rating_code FROM hub_offline_tickets
                 WHERE reported_at IS NULL ORDER BY issued_at, area, number LIMIT ?1",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(self.db())?;
        let mut out = Vec::new();
        for row in rows {
            let (area, day, number, issued, rating_code) = row.map_err(self.db())?;
            let corrupt = |detail: String| StoreError::Corrupt {
                what: format!("offline ticket {area}/{day}/{number}"),
                detail,
            };
            let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d")
                .map_err(|e| corrupt(format!("day: {e}")))?;
            let issued_at = DateTime::parse_from_rfc3339(&issued)
                .map_err(|e| corrupt(format!("issued_at: {e}")))?;
            out.push(OfflineTicket {
                ticket_id: ticket_id(device_id, &area, day, number),
                area,
                day,
                number,
                issued_at,
                rating_code,
            });
        }
        Ok(out)
    }

    /// Marks offline tickets recorded by the hub (after its answer). Returns how many were
    /// still unreported.
    pub fn mark_offline_reported(
        &mut self,
        tickets: &[OfflineTicket],
        now: DateTime<FixedOffset>,
    ) -> StoreResult<usize> {
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let mut marked = 0;
        for t in tickets {
            marked += tx
                .execute(
                    "UPDATE hub_offline_tickets SET reported_at = ?4
                     WHERE area = ?1 AND day = ?2 AND number = ?3 AND reported_at IS NULL",
                    params![
                        t.area,
                        t.day.format("%Y-%m-%d").to_string(),
                        t.number,
                        now.to_rfc3339()
                    ],
                )
                .map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        Ok(marked)
    }
}
