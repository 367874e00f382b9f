//! What the hall's pages read and keep: the calls for the display, the ticket a rating tablet
//! offers, the day's records for the report, the service times the wait estimate learns from,
//! and the paired screens (kept by a hash of their token, so a copied database opens none).

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::queue_hours::WaitEstimate;
use motcua_domain::queue_report::{TicketRating, TicketRecord};
use motcua_domain::rating::RatingScale;
use motcua_domain::vietnam_offset;
use rusqlite::{params, OptionalExtension};

use super::{corrupt, day_text, db_err, HubResult, HubStore, Ticket};

/// One call of a ticket to a counter, as the display lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The ticket.
    pub ticket_id: String,
    /// Its number.
    pub number: u32,
    /// The counter's code.
    pub counter: String,
    /// 1 for the first call, 2 for "call again"…
    pub attempt: u32,
    /// When.
    pub at: DateTime<FixedOffset>,
}

/// What a paired hall screen is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenKind {
    /// The hall display (calls, voice).
    Display,
    /// A rating tablet at one counter.
    Rating,
}

impl ScreenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Display => "display",
            Self::Rating => "rating",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "display" => Some(Self::Display),
            "rating" => Some(Self::Rating),
            _ => None,
        }
    }
}

fn time(us: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .with_timezone(&vietnam_offset())
}

impl HubStore {
    /// The latest `limit` calls of `day`, newest first.
    pub fn recent_calls(&self, day: NaiveDate, limit: u32) -> HubResult<Vec<CallRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.ticket_id, t.number, c.counter, c.attempt, c.at_us
                 FROM calls c JOIN tickets t ON t.id = c.ticket
                 WHERE t.day = ?1 ORDER BY c.at_us DESC, c.rowid DESC LIMIT ?2",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map(params![day_text(day), limit], |r| {
                Ok(CallRecord {
                    ticket_id: r.get(0)?,
                    number: r.get(1)?,
                    counter: r.get(2)?,
                    attempt: r.get(3)?,
                    at: time(r.get(4)?),
                })
            })
            .map_err(self.db())?
            .collect::<Result<_, _>>()
            .map_err(self.db());
        rows
    }

    /// The ticket `counter` has called now, if any.
    pub fn called_at(&self, counter: &str) -> HubResult<Option<Ticket>> {
        Ok(self
            .tickets_where("state = 'called' AND counter = ?1", params![counter])?
            .pop())
    }

    /// Service times (called → finished, seconds) of the tickets of `area` finished on `day`.
    pub fn service_secs(&self, area: &str, day: NaiveDate) -> HubResult<Vec<u32>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT (finished_us - last_called_us) / 1000000 FROM tickets
                 WHERE state = 'finished' AND area = ?1 AND day = ?2
                   AND finished_us >= last_called_us",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map(params![area, day_text(day)], |r| r.get::<_, i64>(0))
            .map_err(self.db())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.db())?;
        Ok(rows
            .into_iter()
            .map(|s| u32::try_from(s).unwrap_or(u32::MAX))
            .collect())
    }

    /// The ticket a rating tablet at `counter` offers: the last one finished there on `day`,
    /// while it is not rated and no later ticket was called there (the next citizen is not
    /// asked about the previous one's service).
    pub fn offered_for_rating(&self, counter: &str, day: NaiveDate) -> HubResult<Option<Ticket>> {
        if self.called_at(counter)?.is_some() {
            return Ok(None);
        }
        let last = self
            .tickets_where(
                "state = 'finished' AND counter = ?1 AND day = ?2 ORDER BY finished_us DESC LIMIT 1",
                params![counter, day_text(day)],
            )?
            .pop();
        let Some(ticket) = last else {
            return Ok(None);
        };
        let rated = self.is_rated(&ticket.id)?;
        Ok((!rated).then_some(ticket))
    }

    /// Whether the ticket has its rating.
    pub fn is_rated(&self, ticket: &str) -> HubResult<bool> {
        self.conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM ratings r JOIN tickets t ON t.id = r.ticket
                               WHERE t.ticket_id = ?1)",
                [ticket],
                |r| r.get(0),
            )
            .map_err(self.db())
    }

    /// What the report needs of every ticket issued on `day`.
    pub fn day_records(&self, day: NaiveDate) -> HubResult<Vec<TicketRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT t.area, t.counter, t.issued_us, t.first_called_us, t.finished_us,
                        t.state, t.promised, r.levels, r.level
                 FROM tickets t LEFT JOIN ratings r ON r.ticket = t.id
                 WHERE t.day = ?1 ORDER BY t.issued_us, t.id",
            )
            .map_err(self.db())?;
        type Row = (
            String,
            Option<String>,
            i64,
            Option<i64>,
            Option<i64>,
            String,
            Option<String>,
            Option<u8>,
            Option<u8>,
        );
        let rows: Vec<Row> = stmt
            .query_map([day_text(day)], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            })
            .map_err(self.db())?
            .collect::<Result<_, _>>()
            .map_err(self.db())?;
        rows.into_iter()
            .map(
                |(area, counter, issued, called, finished, state, promised, levels, level)| {
                    let promised = promised
                        .map(|p| serde_json::from_str::<WaitEstimate>(&p))
                        .transpose()
                        .map_err(|e| corrupt(&self.path, format!("promise: {e}")))?;
                    let rating = match (levels, level) {
                        (Some(levels), Some(level)) => Some(TicketRating {
                            scale: scale_of(levels).ok_or_else(|| {
                                corrupt(&self.path, format!("rating scale {levels}"))
                            })?,
                            level,
                        }),
                        _ => None,
                    };
                    Ok(TicketRecord {
                        area,
                        counter,
                        issued_at: time(issued),
                        called_at: called.map(time),
                        finished_at: finished.map(time),
                        no_show: state == "no_show",
                        promised,
                        rating,
                    })
                },
            )
            .collect()
    }

    /// Keeps a pairing code (its SHA-256) for a screen of `kind` until `expires`.
    pub fn add_pairing_code(
        &mut self,
        code_sha256: &str,
        kind: ScreenKind,
        counter: Option<&str>,
        expires: DateTime<FixedOffset>,
    ) -> HubResult<()> {
        self.write(|tx, path| {
            tx.execute(
                "INSERT OR REPLACE INTO pairing_codes(code_sha256, kind, counter, expires_us)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    code_sha256,
                    kind.as_str(),
                    counter,
                    expires.timestamp_micros()
                ],
            )
            .map_err(db_err(path))?;
            Ok(())
        })
    }

    /// Uses a pairing code once: the screen of token `token_sha256` is paired as the code
    /// said. `None` for an unknown or expired code (expired ones are dropped).
    pub fn redeem_pairing_code(
        &mut self,
        code_sha256: &str,
        token_sha256: &str,
        now: DateTime<FixedOffset>,
    ) -> HubResult<Option<(ScreenKind, Option<String>)>> {
        self.write(|tx, path| {
            let db = db_err(path);
            tx.execute(
                "DELETE FROM pairing_codes WHERE expires_us < ?1",
                [now.timestamp_micros()],
            )
            .map_err(&db)?;
            let found: Option<(String, Option<String>)> = tx
                .query_row(
                    "DELETE FROM pairing_codes WHERE code_sha256 = ?1 RETURNING kind, counter",
                    [code_sha256],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(&db)?;
            let Some((kind, counter)) = found else {
                return Ok(None);
            };
            let kind = ScreenKind::parse(&kind)
                .ok_or_else(|| corrupt(path, format!("screen kind {kind}")))?;
            tx.execute(
                "INSERT INTO screens(token_sha256, kind, counter, paired_us) VALUES (?1, ?2, ?3, ?4)",
                params![token_sha256, kind.as_str(), counter, now.timestamp_micros()],
            )
            .map_err(&db)?;
            Ok(Some((kind, counter)))
        })
    }

    /// The paired screen with this token hash.
    pub fn screen(&self, token_sha256: &str) -> HubResult<Option<(ScreenKind, Option<String>)>> {
        let found: Option<(String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT kind, counter FROM screens WHERE token_sha256 = ?1",
                [token_sha256],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db())?;
        found
            .map(|(kind, counter)| {
                ScreenKind::parse(&kind)
                    .map(|k| (k, counter))
                    .ok_or_else(|| corrupt(&self.path, format!("screen kind {kind}")))
            })
            .transpose()
    }

    /// Keeps the SHA-256 of a ticket's rating code (printed in its QR); a code already kept
    /// stays (an offline ticket reported twice keeps its first).
    pub fn set_rating_code(&mut self, ticket: &str, code_sha256: &str) -> HubResult<()> {
        self.write(|tx, path| {
            tx.execute(
                "UPDATE tickets SET rating_code_sha256 = ?2
                 WHERE ticket_id = ?1 AND rating_code_sha256 IS NULL",
                params![ticket, code_sha256],
            )
            .map_err(db_err(path))?;
            Ok(())
        })
    }

    /// Whether `code_sha256` is the ticket's rating code (false when it has none).
    pub fn rating_code_matches(&self, ticket: &str, code_sha256: &str) -> HubResult<bool> {
        let kept: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT rating_code_sha256 FROM tickets WHERE ticket_id = ?1",
                [ticket],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?;
        Ok(kept.flatten().is_some_and(|k| k == code_sha256))
    }

    /// Sets an event aside that the gateway refused as malformed: it is never sent again (it
    /// would block every later one), and `reason` stays beside it for a technician.
    pub fn set_aside_event(&mut self, key: &str, reason: &str) -> HubResult<bool> {
        self.write(|tx, path| {
            let n = tx
                .execute(
                    "UPDATE outbox SET set_aside = ?2 WHERE key = ?1 AND delivered_us IS NULL",
                    params![key, reason],
                )
                .map_err(db_err(path))?;
            Ok(n == 1)
        })
    }

    /// Events set aside, `(key, reason)`, oldest first.
    pub fn set_aside_events(&self) -> HubResult<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, set_aside FROM outbox WHERE set_aside IS NOT NULL ORDER BY id")
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db())?
            .collect::<Result<_, _>>()
            .map_err(self.db());
        rows
    }

    /// Queues (or refreshes) one part of the day's report for the gateway under
    /// `report:<day>` (the centre) or `report:<day>:<part>` (a counter, an area): a pending one
    /// gets the new figures, a delivered one is sent again with them. One event per part keeps
    /// each small whatever the size of the centre.
    pub fn queue_day_report(
        &mut self,
        day: NaiveDate,
        part: &str,
        report: &serde_json::Value,
        now: DateTime<FixedOffset>,
    ) -> HubResult<()> {
        let day = day_text(day);
        let key = if part.is_empty() {
            format!("report:{day}")
        } else {
            format!("report:{day}:{part}")
        };
        self.write(|tx, path| {
            tx.execute(
                "INSERT INTO outbox(key, kind, ticket_id, payload, at_us)
                 VALUES (?1, 'day_report', ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET payload = excluded.payload,
                     at_us = excluded.at_us, delivered_us = NULL, set_aside = NULL
                 WHERE payload <> excluded.payload",
                params![key, day, report.to_string(), now.timestamp_micros()],
            )
            .map_err(db_err(path))?;
            Ok(())
        })
    }
}

fn scale_of(levels: u8) -> Option<RatingScale> {
    match levels {
        3 => Some(RatingScale::Three),
        5 => Some(RatingScale::Five),
        _ => None,
    }
}

impl From<ScreenKind> for &'static str {
    fn from(k: ScreenKind) -> Self {
        k.as_str()
    }
}
