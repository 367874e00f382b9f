//! What a counter officer does with the queue: call the next ticket, call it again, mark it
//! absent, transfer it to another counter or area, finish it; and the citizen's one rating.
//!
//! A counter has at most one called ticket (a partial unique index holds it), and every action
//! but `call_next` acts on that ticket, so an action on a ticket that is not the counter's
//! current one cannot be expressed, and one with nothing called is refused. Each action is
//! one transaction with its outbox event.

use chrono::{DateTime, FixedOffset};
use motcua_domain::rating::RatingScale;
use rusqlite::{params, params_from_iter, OptionalExtension, Transaction};
use std::path::Path;

use super::{
    corrupt, day_text, db_err, outbox, ticket_row, validate_area, validate_counter, vietnam_day,
    HubError, HubResult, HubStore, Ticket, TicketState, TICKET_COLUMNS,
};

/// Where a transferred ticket goes: it waits again, keeping its place by issue time (the
/// citizen has waited since then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// Reserved for that counter, which calls it before its areas' queue.
    Counter(String),
    /// Into that area's queue, for any counter serving it.
    Area(String),
}

impl HubStore {
    /// Calls the next ticket to `counter`: first the oldest ticket transferred to this counter,
    /// else the oldest waiting ticket of `areas` (FIFO by issue time across the areas) of the
    /// Vietnam day of `now`. `None` when nobody waits. Refused while the counter still has a
    /// called ticket.
    pub fn call_next(
        &mut self,
        counter: &str,
        areas: &[&str],
        now: DateTime<FixedOffset>,
    ) -> HubResult<Option<Ticket>> {
        validate_counter(counter)?;
        for area in areas {
            validate_area(area)?;
        }
        self.write(|tx, path| {
            if let Some(busy) = current(tx, path, counter)? {
                return Err(HubError::CounterBusy {
                    counter: counter.to_owned(),
                    ticket: busy.id,
                });
            }
            let marks = (0..areas.len())
                .map(|i| format!("?{}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {TICKET_COLUMNS} FROM tickets
                 WHERE state = 'waiting' AND day = ?1
                   AND (for_counter = ?2 OR (for_counter IS NULL AND area IN ({marks})))
                 ORDER BY for_counter IS NULL, issued_us, id LIMIT 1"
            );
            let mut args: Vec<String> = vec![day_text(vietnam_day(now)), counter.to_owned()];
            args.extend(areas.iter().map(|a| a.to_string()));
            let next = tx
                .query_row(&sql, params_from_iter(args), |r| Ok(ticket_row(r)))
                .optional()
                .map_err(db_err(path))?
                .transpose()
                .map_err(|detail| corrupt(path, detail))?;
            let Some(ticket) = next else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE tickets SET state = 'called', counter = ?2, for_counter = NULL,
                     calls = calls + 1, first_called_us = COALESCE(first_called_us, ?3),
                     last_called_us = ?3
                 WHERE ticket_id = ?1",
                params![ticket.id, counter, now.timestamp_micros()],
            )
            .map_err(db_err(path))?;
            record_call(tx, path, &ticket.id, counter, now).map(Some)
        })
    }

    /// Calls the counter's current ticket again (the citizen did not come up yet).
    pub fn call_again(&mut self, counter: &str, now: DateTime<FixedOffset>) -> HubResult<Ticket> {
        validate_counter(counter)?;
        self.write(|tx, path| {
            let ticket = called(tx, path, counter)?;
            tx.execute(
                "UPDATE tickets SET calls = calls + 1, last_called_us = ?2 WHERE ticket_id = ?1",
                params![ticket.id, now.timestamp_micros()],
            )
            .map_err(db_err(path))?;
            record_call(tx, path, &ticket.id, counter, now)
        })
    }

    /// Marks the counter's current ticket absent: it leaves the queue for good.
    pub fn no_show(&mut self, counter: &str, now: DateTime<FixedOffset>) -> HubResult<Ticket> {
        self.close(counter, now, TicketState::NoShow)
    }

    /// Finishes the counter's current ticket (served); it can then be rated.
    pub fn finish(&mut self, counter: &str, now: DateTime<FixedOffset>) -> HubResult<Ticket> {
        self.close(counter, now, TicketState::Finished)
    }

    fn close(
        &mut self,
        counter: &str,
        now: DateTime<FixedOffset>,
        to: TicketState,
    ) -> HubResult<Ticket> {
        validate_counter(counter)?;
        let (column, kind) = match to {
            TicketState::Finished => ("finished_us", "finished"),
            _ => ("no_show_us", "no_show"),
        };
        self.write(|tx, path| {
            let ticket = called(tx, path, counter)?;
            tx.execute(
                &format!("UPDATE tickets SET state = ?2, {column} = ?3 WHERE ticket_id = ?1"),
                params![ticket.id, to.as_str(), now.timestamp_micros()],
            )
            .map_err(db_err(path))?;
            let payload = serde_json::json!({
                "ticket": ticket.id, "counter": counter, "at": now.to_rfc3339(),
            });
            outbox(
                tx,
                path,
                &format!("{kind}:{}", ticket.id),
                kind,
                &ticket.id,
                &payload,
                now,
            )?;
            reread(tx, path, &ticket.id)
        })
    }

    /// Sends the counter's current ticket to another counter or area, where it waits again.
    pub fn transfer(
        &mut self,
        counter: &str,
        to: &TransferTarget,
        now: DateTime<FixedOffset>,
    ) -> HubResult<Ticket> {
        validate_counter(counter)?;
        match to {
            TransferTarget::Counter(c) => validate_counter(c)?,
            TransferTarget::Area(a) => validate_area(a)?,
        }
        self.write(|tx, path| {
            let ticket = called(tx, path, counter)?;
            let db = db_err(path);
            let target = match to {
                TransferTarget::Counter(c) if c == counter => {
                    return Err(HubError::TransferToSelf(ticket.id));
                }
                TransferTarget::Counter(c) => {
                    tx.execute(
                        "UPDATE tickets SET state = 'waiting', for_counter = ?2 WHERE ticket_id = ?1",
                        params![ticket.id, c],
                    )
                    .map_err(&db)?;
                    serde_json::json!({ "counter": c })
                }
                TransferTarget::Area(a) if *a == ticket.area => {
                    return Err(HubError::TransferToSelf(ticket.id));
                }
                TransferTarget::Area(a) => {
                    tx.execute(
                        "UPDATE tickets SET state = 'waiting', area = ?2, for_counter = NULL WHERE ticket_id = ?1",
                        params![ticket.id, a],
                    )
                    .map_err(&db)?;
                    serde_json::json!({ "area": a })
                }
            };
            let payload = serde_json::json!({
                "ticket": ticket.id, "from_counter": counter, "to": target, "at": now.to_rfc3339(),
            });
            // One transfer per call: the call count makes the key unique.
            let key = format!("transferred:{}:{}", ticket.id, ticket.calls);
            outbox(tx, path, &key, "transferred", &ticket.id, &payload, now)?;
            reread(tx, path, &ticket.id)
        })
    }

    /// The citizen's rating of a finished ticket: `level` (1 = best) on `scale`, kept with its
    /// 2/1/0 score. Once per ticket.
    pub fn rate(
        &mut self,
        ticket: &str,
        level: u8,
        scale: RatingScale,
        now: DateTime<FixedOffset>,
    ) -> HubResult<u8> {
        let score = scale.score(level)?;
        self.write(|tx, path| {
            let t = reread(tx, path, ticket)?;
            if t.state != TicketState::Finished {
                return Err(HubError::NotFinished {
                    ticket: t.id,
                    state: t.state.as_str(),
                });
            }
            let inserted = tx
                .execute(
                    "INSERT INTO ratings(ticket, levels, level, score, at_us)
                     SELECT id, ?2, ?3, ?4, ?5 FROM tickets WHERE ticket_id = ?1
                     ON CONFLICT DO NOTHING",
                    params![t.id, scale.levels(), level, score, now.timestamp_micros()],
                )
                .map_err(db_err(path))?;
            if inserted == 0 {
                return Err(HubError::AlreadyRated(t.id));
            }
            let payload = serde_json::json!({
                "ticket": t.id, "levels": scale.levels(), "level": level, "score": score,
                "counter": t.counter, "at": now.to_rfc3339(),
            });
            outbox(
                tx,
                path,
                &format!("rated:{}", t.id),
                "rated",
                &t.id,
                &payload,
                now,
            )?;
            Ok(score)
        })
    }
}

/// The counter's called ticket, if any.
fn current(tx: &Transaction<'_>, path: &Path, counter: &str) -> HubResult<Option<Ticket>> {
    tx.query_row(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE state = 'called' AND counter = ?1"),
        [counter],
        |r| Ok(ticket_row(r)),
    )
    .optional()
    .map_err(db_err(path))?
    .transpose()
    .map_err(|detail| corrupt(path, detail))
}

/// The counter's called ticket, or [`HubError::NothingCalled`].
fn called(tx: &Transaction<'_>, path: &Path, counter: &str) -> HubResult<Ticket> {
    current(tx, path, counter)?.ok_or_else(|| HubError::NothingCalled(counter.to_owned()))
}

fn reread(tx: &Transaction<'_>, path: &Path, ticket: &str) -> HubResult<Ticket> {
    tx.query_row(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE ticket_id = ?1"),
        [ticket],
        |r| Ok(ticket_row(r)),
    )
    .optional()
    .map_err(db_err(path))?
    .ok_or_else(|| HubError::UnknownTicket(ticket.to_owned()))?
    .map_err(|detail| corrupt(path, detail))
}

/// The call just made (its count already raised): its history row and outbox event.
fn record_call(
    tx: &Transaction<'_>,
    path: &Path,
    ticket: &str,
    counter: &str,
    now: DateTime<FixedOffset>,
) -> HubResult<Ticket> {
    let t = reread(tx, path, ticket)?;
    tx.execute(
        "INSERT INTO calls(ticket, attempt, counter, at_us)
         SELECT id, calls, ?2, ?3 FROM tickets WHERE ticket_id = ?1",
        params![ticket, counter, now.timestamp_micros()],
    )
    .map_err(db_err(path))?;
    let payload = serde_json::json!({
        "ticket": ticket, "counter": counter, "attempt": t.calls, "area": t.area,
        "at": now.to_rfc3339(),
    });
    outbox(
        tx,
        path,
        &format!("called:{ticket}:{}", t.calls),
        "called",
        ticket,
        &payload,
        now,
    )?;
    Ok(t)
}
