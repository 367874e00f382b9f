//! What a ticket is and how it is read back from its row: the hub's record of one number
//! printed, with its place in the queue and its timestamps.

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::vietnam_offset;
use rusqlite::Row;

/// Who numbered a ticket: the hub's sequence, or a kiosk's fallback block while the hub was
/// unreachable (the kiosk prints that on the ticket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketSource {
    /// The hub's sequence of the area and day.
    Hub,
    /// The issuing kiosk's fallback block.
    Fallback,
}

/// Where a ticket is in its life: waiting → called (again) → finished, or → no-show; a
/// transfer puts a called ticket back to waiting at another counter or area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketState {
    /// In the queue.
    Waiting,
    /// Called to a counter.
    Called,
    /// Served.
    Finished,
    /// Called and did not come.
    NoShow,
}

impl TicketState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Called => "called",
            Self::Finished => "finished",
            Self::NoShow => "no_show",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => Self::Waiting,
            "called" => Self::Called,
            "finished" => Self::Finished,
            "no_show" => Self::NoShow,
            _ => return None,
        })
    }
}

/// A queue ticket with its timestamps (Vietnam time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// `<area>-YYYYMMDD-<number>@<kiosk>` ([`motcua_domain::ticket::ticket_id`]); ratings
    /// and outbox events name it.
    pub id: String,
    /// The area whose sequence (or the kiosk's block) gave the number.
    pub issued_area: String,
    /// The area it waits in now (another one after a transfer to an area).
    pub area: String,
    /// Vietnam day of issue.
    pub day: NaiveDate,
    /// The number printed.
    pub number: u32,
    /// The kiosk that printed it.
    pub kiosk_id: String,
    /// Who numbered it.
    pub source: TicketSource,
    /// Where it is.
    pub state: TicketState,
    /// When it was issued.
    pub issued_at: DateTime<FixedOffset>,
    /// The counter it is reserved for after a transfer to a counter.
    pub for_counter: Option<String>,
    /// The counter that called it last.
    pub counter: Option<String>,
    /// How many times it was called (a call again counts).
    pub calls: u32,
    /// First call.
    pub first_called_at: Option<DateTime<FixedOffset>>,
    /// Latest call.
    pub last_called_at: Option<DateTime<FixedOffset>>,
    /// When it was finished.
    pub finished_at: Option<DateTime<FixedOffset>>,
    /// When it was marked absent.
    pub no_show_at: Option<DateTime<FixedOffset>>,
}

/// One event waiting for (or delivered to) the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Order of writing.
    pub id: i64,
    /// The idempotency key the gateway deduplicates on.
    pub key: String,
    /// `issued`, `called`, `transferred`, `finished`, `no_show` or `rated`.
    pub kind: String,
    /// The ticket's id.
    pub ticket_id: String,
    /// The event as JSON.
    pub payload: String,
}

pub(crate) const TICKET_COLUMNS: &str = "ticket_id, issued_area, area, day, number, kiosk_id, source, state, \
     issued_us, for_counter, counter, calls, first_called_us, last_called_us, finished_us, no_show_us";

/// A ticket from a row of [`TICKET_COLUMNS`]; `Err` says which value is unreadable.
pub(crate) fn ticket_row(r: &Row<'_>) -> Result<Ticket, String> {
    let get_err = |e: rusqlite::Error| e.to_string();
    let time = |i: usize| -> Result<Option<DateTime<FixedOffset>>, String> {
        let us: Option<i64> = r.get(i).map_err(get_err)?;
        us.map(|us| {
            DateTime::from_timestamp_micros(us)
                .map(|t| t.with_timezone(&vietnam_offset()))
                .ok_or_else(|| format!("time {us} out of range"))
        })
        .transpose()
    };
    let day: String = r.get(3).map_err(get_err)?;
    let source: String = r.get(6).map_err(get_err)?;
    let state: String = r.get(7).map_err(get_err)?;
    Ok(Ticket {
        id: r.get(0).map_err(get_err)?,
        issued_area: r.get(1).map_err(get_err)?,
        area: r.get(2).map_err(get_err)?,
        day: NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| format!("day {day}: {e}"))?,
        number: r.get(4).map_err(get_err)?,
        kiosk_id: r.get(5).map_err(get_err)?,
        source: match source.as_str() {
            "hub" => TicketSource::Hub,
            "fallback" => TicketSource::Fallback,
            other => return Err(format!("source {other}")),
        },
        state: TicketState::parse(&state).ok_or_else(|| format!("state {state}"))?,
        issued_at: time(8)?.ok_or("no issue time")?,
        for_counter: r.get(9).map_err(get_err)?,
        counter: r.get(10).map_err(get_err)?,
        calls: r.get(11).map_err(get_err)?,
        first_called_at: time(12)?,
        last_called_at: time(13)?,
        finished_at: time(14)?,
        no_show_at: time(15)?,
    })
}
