//! The hub's durable store: one SQLite database (WAL, `synchronous=FULL`, foreign keys) that
//! holds the hall's queue.
//!
//! # Promises
//! 1. **Durable on return.** Every call that changes something runs in one `IMMEDIATE`
//!    transaction committed with `synchronous=FULL`: when it returns `Ok` (a number issued, a
//!    ticket called), it survives a power cut, so a printed number is never issued again.
//! 2. **One sequence per area per day.** Numbers come from `sequences(area, day)`, advanced in
//!    the transaction that stores the ticket; `UNIQUE(issued_area, day, number)` refuses any
//!    duplicate. Days are Vietnam days of the `now` the caller passes (the store reads no clock).
//! 3. **Fallback blocks never collide.** Each kiosk, on its first [`HubStore::join`], gets a
//!    block of numbers of its own, disjoint from every other block and from every number the
//!    hub has issued; the hub's sequence skips over every block. A kiosk that cannot reach the
//!    hub numbers tickets from its block (any area, any day), and they are recorded here later
//!    ([`HubStore::record_offline`]): they cannot meet a hub number or another kiosk's.
//! 4. **Nothing lost on the way to the gateway.** Every issue, call, transfer, finish,
//!    no-show and rating writes its outbox event in the same transaction, under an idempotency
//!    key (`kind:ticket[:attempt]`) the gateway can deduplicate on.
//!
//! # Fallback layout
//! [`FallbackLayout`] (default: from 9000, 100 numbers per kiosk): the first kiosk to join gets
//! 9000–9099, the next 9100–9199, and so on. A new block starts after the highest block given
//! so far and moves up by whole blocks while the hub has ever issued a number inside it (an area
//! that passed 9000 in a day), so a kiosk joining late is still safe. Blocks already given
//! are kept whatever layout a later open passes.

mod counter;
mod error;
mod hall;
mod schema;
mod ticket;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::queue_hours::WaitEstimate;
use motcua_domain::ticket::{ticket_id, validate_service_area};
use motcua_domain::vietnam_offset;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

pub use counter::TransferTarget;
pub use error::{HubError, HubResult};
pub use hall::{CallRecord, ScreenKind};
use ticket::{ticket_row, TICKET_COLUMNS};
pub use ticket::{OutboxEvent, Ticket, TicketSource, TicketState};

/// Where kiosks' fallback blocks lie in the number space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackLayout {
    /// The first number of the first block.
    pub base: u32,
    /// Numbers per kiosk (at least 1).
    pub block_size: u32,
}

impl Default for FallbackLayout {
    /// 9000 + 100·k … +99: a centre's area rarely passes a few hundred tickets a day, so the
    /// hub's sequence stays well below the blocks, and a printed 9xxx says "issued offline".
    fn default() -> Self {
        Self {
            base: 9000,
            block_size: 100,
        }
    }
}

/// A kiosk's own block of numbers for when the hub is unreachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackRange {
    /// The kiosk.
    pub kiosk_id: String,
    /// First number of the block.
    pub first: u32,
    /// Last number of the block (inclusive).
    pub last: u32,
}

/// The hub's store. One process owns it; each call is one transaction.
pub struct HubStore {
    conn: Connection,
    path: PathBuf,
    layout: FallbackLayout,
}

impl HubStore {
    /// Opens (or creates) the database at `path`, running the migrations it lacks.
    pub fn open(path: &Path, layout: FallbackLayout) -> HubResult<Self> {
        let db = |source| HubError::Database {
            path: path.to_path_buf(),
            source,
        };
        if layout.block_size == 0 {
            return Err(HubError::BadCode(
                "khối dự phòng phải có ít nhất 1 số / a fallback block needs at least 1 number"
                    .into(),
            ));
        }
        let mut conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let version: usize = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db)?;
        if version > schema::MIGRATIONS.len() {
            return Err(HubError::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "phiên bản lược đồ {version} mới hơn chương trình ({}) / schema version {version} is newer than this program ({}): install the newer hub software",
                    schema::MIGRATIONS.len(),
                    schema::MIGRATIONS.len()
                ),
            });
        }
        for sql in &schema::MIGRATIONS[version..] {
            tx.execute_batch(sql).map_err(db)?;
        }
        tx.pragma_update(None, "user_version", schema::MIGRATIONS.len())
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(Self {
            conn,
            path: path.to_path_buf(),
            layout,
        })
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> HubError + '_ {
        |source| HubError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` in one `IMMEDIATE` transaction, committed only when it returns `Ok`.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>, &Path) -> HubResult<T>,
    ) -> HubResult<T> {
        let path = self.path.clone();
        let db = |source| HubError::Database {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let out = f(&tx, &path)?;
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// Issues the next number of `area`'s sequence for the Vietnam day of `now` (from 1), for a
    /// ticket printed by `kiosk_id`. Numbers inside a kiosk's fallback block are skipped.
    /// `promised` is what the ticket will say about its wait, kept for the report's accuracy.
    pub fn issue(
        &mut self,
        area: &str,
        kiosk_id: &str,
        now: DateTime<FixedOffset>,
        promised: Option<&WaitEstimate>,
    ) -> HubResult<Ticket> {
        validate_area(area)?;
        validate_kiosk(kiosk_id)?;
        let day = vietnam_day(now);
        self.write(|tx, path| {
            let db = db_err(path);
            let last: u32 = tx
                .query_row(
                    "SELECT last FROM sequences WHERE area = ?1 AND day = ?2",
                    params![area, day_text(day)],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&db)?
                .unwrap_or(0);
            let mut next = last
                .checked_add(1)
                .ok_or_else(|| HubError::Exhausted(area.to_owned()))?;
            // Blocks may touch each other: hop until the number is in none.
            while let Some(block_last) = tx
                .query_row(
                    "SELECT last FROM fallback_blocks WHERE first <= ?1 AND last >= ?1",
                    [next],
                    |r| r.get::<_, u32>(0),
                )
                .optional()
                .map_err(&db)?
            {
                next = block_last
                    .checked_add(1)
                    .ok_or_else(|| HubError::Exhausted(area.to_owned()))?;
            }
            tx.execute(
                "INSERT INTO sequences(area, day, last) VALUES (?1, ?2, ?3)
                 ON CONFLICT(area, day) DO UPDATE SET last = excluded.last",
                params![area, day_text(day), next],
            )
            .map_err(&db)?;
            insert_ticket(
                tx,
                path,
                NewTicket {
                    area,
                    day,
                    number: next,
                    kiosk_id,
                    source: TicketSource::Hub,
                    issued_at: now,
                    promised,
                },
            )
        })
    }

    /// The kiosk's fallback block, given on its first join and the same ever after.
    pub fn join(&mut self, kiosk_id: &str, now: DateTime<FixedOffset>) -> HubResult<FallbackRange> {
        validate_kiosk(kiosk_id)?;
        let layout = self.layout;
        self.write(|tx, path| {
            let db = db_err(path);
            if let Some(range) = block_of(tx, path, kiosk_id)? {
                return Ok(range);
            }
            let size = layout.block_size;
            let highest: Option<u32> = tx
                .query_row("SELECT MAX(last) FROM fallback_blocks", [], |r| r.get(0))
                .map_err(&db)?;
            let mut first = match highest {
                Some(h) => h.checked_add(1).map(|n| n.max(layout.base)),
                None => Some(layout.base),
            };
            loop {
                let Some(f) = first else {
                    return Err(HubError::Exhausted(format!("fallback/{kiosk_id}")));
                };
                let Some(last) = f.checked_add(size - 1) else {
                    return Err(HubError::Exhausted(format!("fallback/{kiosk_id}")));
                };
                let used: bool = tx
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM tickets WHERE source = 'hub' AND number BETWEEN ?1 AND ?2)",
                        params![f, last],
                        |r| r.get(0),
                    )
                    .map_err(&db)?;
                if !used {
                    tx.execute(
                        "INSERT INTO fallback_blocks(kiosk_id, first, last, joined_us) VALUES (?1, ?2, ?3, ?4)",
                        params![kiosk_id, f, last, now.timestamp_micros()],
                    )
                    .map_err(&db)?;
                    return Ok(FallbackRange {
                        kiosk_id: kiosk_id.to_owned(),
                        first: f,
                        last,
                    });
                }
                first = f.checked_add(size);
            }
        })
    }

    /// Records a ticket `kiosk_id` numbered from its fallback block while the hub was
    /// unreachable. Accepted only inside that kiosk's block; recording it again returns the same
    /// ticket and writes nothing. It enters the queue as waiting, in its place by `issued_at`.
    pub fn record_offline(
        &mut self,
        kiosk_id: &str,
        area: &str,
        number: u32,
        issued_at: DateTime<FixedOffset>,
    ) -> HubResult<Ticket> {
        validate_area(area)?;
        validate_kiosk(kiosk_id)?;
        let day = vietnam_day(issued_at);
        self.write(|tx, path| {
            let block = block_of(tx, path, kiosk_id)?
                .ok_or_else(|| HubError::UnknownKiosk(kiosk_id.to_owned()))?;
            if number < block.first || number > block.last {
                return Err(HubError::OutsideBlock {
                    kiosk: kiosk_id.to_owned(),
                    number,
                    first: block.first,
                    last: block.last,
                });
            }
            let existing = tx
                .query_row(
                    &format!(
                        "SELECT {TICKET_COLUMNS} FROM tickets WHERE issued_area = ?1 AND day = ?2 AND number = ?3"
                    ),
                    params![area, day_text(day), number],
                    |r| Ok(ticket_row(r)),
                )
                .optional()
                .map_err(db_err(path))?;
            match existing {
                Some(t) => {
                    let t = t.map_err(|detail| corrupt(path, detail))?;
                    if t.kiosk_id == kiosk_id && t.source == TicketSource::Fallback {
                        Ok(t)
                    } else {
                        Err(HubError::Collision {
                            area: area.to_owned(),
                            day,
                            number,
                        })
                    }
                }
                None => insert_ticket(
                    tx,
                    path,
                    NewTicket {
                        area,
                        day,
                        number,
                        kiosk_id,
                        source: TicketSource::Fallback,
                        issued_at,
                        promised: None,
                    },
                ),
            }
        })
    }

    /// The tickets waiting in `area` on the Vietnam day of `now`, oldest first (those reserved
    /// for a counter by a transfer included).
    pub fn waiting(&self, area: &str, now: DateTime<FixedOffset>) -> HubResult<Vec<Ticket>> {
        validate_area(area)?;
        self.tickets_where(
            "state = 'waiting' AND area = ?1 AND day = ?2 ORDER BY issued_us, id",
            params![area, day_text(vietnam_day(now))],
        )
    }

    /// One ticket by its id.
    pub fn ticket(&self, ticket: &str) -> HubResult<Ticket> {
        self.tickets_where("ticket_id = ?1", params![ticket])?
            .pop()
            .ok_or_else(|| HubError::UnknownTicket(ticket.to_owned()))
    }

    fn tickets_where(&self, clause: &str, args: impl rusqlite::Params) -> HubResult<Vec<Ticket>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {TICKET_COLUMNS} FROM tickets WHERE {clause}"
            ))
            .map_err(self.db())?;
        let rows: Vec<Result<Ticket, String>> = stmt
            .query_map(args, |r| Ok(ticket_row(r)))
            .map_err(self.db())?
            .collect::<Result<_, _>>()
            .map_err(self.db())?;
        rows.into_iter()
            .map(|t| t.map_err(|detail| corrupt(&self.path, detail)))
            .collect()
    }

    /// Up to `limit` outbox events not yet delivered, oldest first.
    pub fn pending_events(&self, limit: u32) -> HubResult<Vec<OutboxEvent>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, key, kind, ticket_id, payload FROM outbox
                 WHERE delivered_us IS NULL AND set_aside IS NULL ORDER BY id LIMIT ?1",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(OutboxEvent {
                    id: r.get(0)?,
                    key: r.get(1)?,
                    kind: r.get(2)?,
                    ticket_id: r.get(3)?,
                    payload: r.get(4)?,
                })
            })
            .map_err(self.db())?
            .collect::<Result<_, _>>()
            .map_err(self.db());
        rows
    }

    /// Marks the event with `key` delivered, once the gateway acknowledged it durably.
    /// Returns whether it was pending.
    pub fn mark_delivered(&mut self, key: &str, now: DateTime<FixedOffset>) -> HubResult<bool> {
        self.write(|tx, path| {
            let n = tx
                .execute(
                    "UPDATE outbox SET delivered_us = ?2 WHERE key = ?1 AND delivered_us IS NULL",
                    params![key, now.timestamp_micros()],
                )
                .map_err(db_err(path))?;
            Ok(n == 1)
        })
    }
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> HubError + '_ {
    move |source| HubError::Database {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, detail: String) -> HubError {
    HubError::Corrupt {
        path: path.to_path_buf(),
        detail,
    }
}

fn block_of(tx: &Transaction<'_>, path: &Path, kiosk_id: &str) -> HubResult<Option<FallbackRange>> {
    tx.query_row(
        "SELECT first, last FROM fallback_blocks WHERE kiosk_id = ?1",
        [kiosk_id],
        |r| {
            Ok(FallbackRange {
                kiosk_id: kiosk_id.to_owned(),
                first: r.get(0)?,
                last: r.get(1)?,
            })
        },
    )
    .optional()
    .map_err(db_err(path))
}

/// A ticket about to be stored.
struct NewTicket<'a> {
    area: &'a str,
    day: NaiveDate,
    number: u32,
    kiosk_id: &'a str,
    source: TicketSource,
    issued_at: DateTime<FixedOffset>,
    promised: Option<&'a WaitEstimate>,
}

fn insert_ticket(tx: &Transaction<'_>, path: &Path, new: NewTicket<'_>) -> HubResult<Ticket> {
    let NewTicket {
        area,
        day,
        number,
        kiosk_id,
        source,
        issued_at,
        promised,
    } = new;
    let promised_json = promised
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| corrupt(path, format!("promise not writable: {e}")))?;
    let id = ticket_id(kiosk_id, area, day, number);
    let source_text = match source {
        TicketSource::Hub => "hub",
        TicketSource::Fallback => "fallback",
    };
    let inserted = tx
        .execute(
            "INSERT INTO tickets(ticket_id, issued_area, area, day, number, kiosk_id, source, state, issued_us, promised)
             VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, 'waiting', ?7, ?8)
             ON CONFLICT DO NOTHING",
            params![id, area, day_text(day), number, kiosk_id, source_text, issued_at.timestamp_micros(), promised_json],
        )
        .map_err(db_err(path))?;
    if inserted == 0 {
        return Err(HubError::Collision {
            area: area.to_owned(),
            day,
            number,
        });
    }
    let issued_at = issued_at.with_timezone(&vietnam_offset());
    let payload = serde_json::json!({
        "ticket": id, "area": area, "day": day_text(day), "number": number,
        "kiosk": kiosk_id, "source": source_text, "at": issued_at.to_rfc3339(),
        "promised": promised,
    });
    outbox(
        tx,
        path,
        &format!("issued:{id}"),
        "issued",
        &id,
        &payload,
        issued_at,
    )?;
    Ok(Ticket {
        id,
        issued_area: area.to_owned(),
        area: area.to_owned(),
        day,
        number,
        kiosk_id: kiosk_id.to_owned(),
        source,
        state: TicketState::Waiting,
        issued_at,
        for_counter: None,
        counter: None,
        calls: 0,
        first_called_at: None,
        last_called_at: None,
        finished_at: None,
        no_show_at: None,
    })
}

/// Writes one outbox event in the caller's transaction.
fn outbox(
    tx: &Transaction<'_>,
    path: &Path,
    key: &str,
    kind: &str,
    ticket: &str,
    payload: &serde_json::Value,
    at: DateTime<FixedOffset>,
) -> HubResult<()> {
    tx.execute(
        "INSERT INTO outbox(key, kind, ticket_id, payload, at_us) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            key,
            kind,
            ticket,
            payload.to_string(),
            at.timestamp_micros()
        ],
    )
    .map_err(db_err(path))?;
    Ok(())
}

fn vietnam_day(t: DateTime<FixedOffset>) -> NaiveDate {
    t.with_timezone(&vietnam_offset()).date_naive()
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn validate_area(area: &str) -> HubResult<()> {
    validate_service_area(area).map_err(|e| HubError::BadCode(e.to_string()))
}

/// Kiosk ids become part of ticket ids: 1 to 64 ASCII letters, digits, '-', '_' or '.'.
fn validate_kiosk(kiosk: &str) -> HubResult<()> {
    let ok = !kiosk.is_empty()
        && kiosk.len() <= 64
        && kiosk
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(HubError::BadCode(format!(
            "mã kiosk {kiosk:?}: 1–64 chữ, số, '-', '_', '.' / kiosk id {kiosk:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Counter codes: the same rules as service areas (1 to 16 letters, digits, '.' or '_').
fn validate_counter(counter: &str) -> HubResult<()> {
    validate_service_area(counter).map_err(|_| {
        HubError::BadCode(format!(
            "mã quầy {counter:?}: 1–16 chữ, số, '.', '_' / counter code {counter:?}: use 1 to 16 letters, digits, '.' or '_'"
        ))
    })
}
