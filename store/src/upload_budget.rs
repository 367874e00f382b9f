//! The count of a day's upload bytes against the kiosk's daily upload budget (`[uplink]
//! daily_upload_budget_mib`, for metered 3G/4G links), kept in the database so that restarting
//! kioskd mid-day does not hand out a fresh budget. The budget itself and what counts are the
//! uplink's (`motcua_uplink::budget`); the store keeps the count and the day rule.
//!
//! # The day rule
//! Days are Vietnam calendar days of the kiosk's clock. The count belongs to the day it was
//! counted on (`day`); beside it is kept the clock's day when the count was last looked at or
//! added to (`clock_day`), which differs from `day` only while the clock is behind it (it was
//! set back). A new count (zero bytes, for today) starts when today is after `clock_day` and is
//! not `day`:
//! - the normal midnight, and a clock set forward: a new count (a forward jump cannot be told
//!   from days that passed while the kiosk was off);
//! - a clock set back: no fresh budget, the bytes go on counting against the stored day;
//! - and a clock that stays set back renews the budget at its first midnight after the jump,
//!   so a clock set back by weeks does not stop documents for weeks; a clock that comes back
//!   to the stored day (an RTC without battery corrected by NTP after each boot) finds the
//!   same count, not a fresh one.
//!
//! When the clock is set back exactly one day, its first midnight reaches the stored day,
//! whose count goes on: the budget then renews at the second midnight. That is the longest
//! wait the rule can make.

use std::path::Path;

use chrono::NaiveDate;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::{db_err, Store, StoreError, StoreResult};

/// The migration that keeps the count: one row, absent until the first count.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE upload_budget(
    id INTEGER PRIMARY KEY CHECK(id = 1),
    day TEXT NOT NULL,
    clock_day TEXT NOT NULL,
    bytes INTEGER NOT NULL CHECK(bytes >= 0)
);
"#;

const DAY: &str = "%Y-%m-%d";

/// The upload bytes counted for one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetDay {
    /// The day the count belongs to.
    pub day: NaiveDate,
    /// The clock's day when the count was last looked at (before `day` only after the clock
    /// was set back).
    pub clock_day: NaiveDate,
    /// Bytes counted on `day`.
    pub bytes: u64,
}

impl BudgetDay {
    /// A fresh count for `today`.
    pub fn fresh(today: NaiveDate) -> Self {
        Self {
            day: today,
            clock_day: today,
            bytes: 0,
        }
    }

    /// The count as it stands on `today` by the day rule (see the module's documentation):
    /// `stored` carried on, or a fresh count.
    pub fn as_of(stored: Option<Self>, today: NaiveDate) -> Self {
        match stored {
            Some(s) if !(today > s.clock_day && today != s.day) => Self {
                clock_day: today,
                ..s
            },
            _ => Self::fresh(today),
        }
    }

    /// The first day after `today` on which, the clock running on, a fresh count starts: the
    /// next day, or the one after it when the next is the stored day (a clock one day behind).
    pub fn renews_on(&self, today: NaiveDate) -> NaiveDate {
        let next = today.succ_opt().unwrap_or(today);
        if next == self.day && next > today {
            next.succ_opt().unwrap_or(next)
        } else {
            next
        }
    }
}

fn read(conn: &rusqlite::Connection) -> rusqlite::Result<Option<(String, String, i64)>> {
    conn.query_row(
        "SELECT day, clock_day, bytes FROM upload_budget WHERE id = 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

fn parse(db_path: &Path, row: Option<(String, String, i64)>) -> StoreResult<Option<BudgetDay>> {
    let Some((day, clock_day, bytes)) = row else {
        return Ok(None);
    };
    let corrupt = |detail: String| StoreError::Corrupt {
        what: format!("{} (upload_budget)", db_path.display()),
        detail,
    };
    let date =
        |t: &str| NaiveDate::parse_from_str(t, DAY).map_err(|e| corrupt(format!("day {t:?}: {e}")));
    Ok(Some(BudgetDay {
        day: date(&day)?,
        clock_day: date(&clock_day)?,
        bytes: u64::try_from(bytes).map_err(|_| corrupt(format!("bytes {bytes}")))?,
    }))
}

impl Store {
    /// The upload bytes counted as of `today` (the kiosk's Vietnam day), by the day rule; reads
    /// only (`kioskctl status`, the health line).
    pub fn upload_budget(&self, today: NaiveDate) -> StoreResult<BudgetDay> {
        let row = read(&self.conn).map_err(self.db())?;
        Ok(BudgetDay::as_of(parse(&self.db_path, row)?, today))
    }

    /// Adds `bytes` to the count of `today` (0 to just record where the clock is, which the
    /// day rule needs after a clock was set back), durably, and returns the count. Nothing is
    /// written when nothing changed.
    pub fn count_upload_bytes(&mut self, today: NaiveDate, bytes: u64) -> StoreResult<BudgetDay> {
        if bytes == 0 {
            // The uplink looks before each PATCH: no write lock when there is nothing to write.
            let stored = parse(&self.db_path, read(&self.conn).map_err(self.db())?)?;
            let now = BudgetDay::as_of(stored, today);
            if stored == Some(now) {
                return Ok(now);
            }
        }
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let row = read(&tx).map_err(&db)?;
        let stored = parse(&self.db_path, row)?;
        let mut now = BudgetDay::as_of(stored, today);
        now.bytes = now.bytes.saturating_add(bytes).min(i64::MAX as u64);
        if stored != Some(now) {
            tx.execute(
                "INSERT INTO upload_budget(id, day, clock_day, bytes) VALUES(1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET day = ?1, clock_day = ?2, bytes = ?3",
                params![
                    now.day.format(DAY).to_string(),
                    now.clock_day.format(DAY).to_string(),
                    now.bytes as i64
                ],
            )
            .map_err(&db)?;
            tx.commit().map_err(&db)?;
        }
        Ok(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, day).unwrap()
    }

    #[test]
    fn the_count_goes_on_through_the_day_and_starts_again_at_midnight() {
        let c = BudgetDay::as_of(None, d(2));
        assert_eq!(c, BudgetDay::fresh(d(2)));
        let c = BudgetDay { bytes: 500, ..c };
        assert_eq!(BudgetDay::as_of(Some(c), d(2)), c);
        assert_eq!(BudgetDay::as_of(Some(c), d(3)), BudgetDay::fresh(d(3)));
        assert_eq!(c.renews_on(d(2)), d(3));
    }

    #[test]
    fn a_clock_set_back_keeps_the_count_and_renews_at_its_first_midnight() {
        let counted = BudgetDay {
            bytes: 500,
            ..BudgetDay::fresh(d(20))
        };
        // Set back five days: the same count, nothing fresh.
        let back = BudgetDay::as_of(Some(counted), d(15));
        assert_eq!((back.day, back.clock_day, back.bytes), (d(20), d(15), 500));
        assert_eq!(back.renews_on(d(15)), d(16));
        // The set-back clock passes midnight: a fresh count, not a wait until the 21st.
        assert_eq!(BudgetDay::as_of(Some(back), d(16)), BudgetDay::fresh(d(16)));
        // Set right again (NTP after a boot on a dead RTC): the stored day's count, not fresh.
        assert_eq!(BudgetDay::as_of(Some(back), d(20)), counted);
        // Set back further still: the count goes on.
        let further = BudgetDay::as_of(Some(back), d(10));
        assert_eq!((further.day, further.bytes), (d(20), 500));
    }

    #[test]
    fn a_clock_one_day_behind_renews_at_the_second_midnight() {
        let counted = BudgetDay {
            bytes: 500,
            ..BudgetDay::fresh(d(20))
        };
        let back = BudgetDay::as_of(Some(counted), d(19));
        assert_eq!(back.renews_on(d(19)), d(21));
        assert_eq!(BudgetDay::as_of(Some(back), d(20)).bytes, 500);
        assert_eq!(BudgetDay::as_of(Some(back), d(21)), BudgetDay::fresh(d(21)));
    }

    #[test]
    fn the_count_is_kept_in_the_database_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        assert_eq!(store.upload_budget(d(2)).unwrap(), BudgetDay::fresh(d(2)));
        store.count_upload_bytes(d(2), 300).unwrap();
        assert_eq!(store.count_upload_bytes(d(2), 200).unwrap().bytes, 500);
        drop(store);
        let mut store = Store::open(dir.path(), 0).unwrap();
        assert_eq!(store.upload_budget(d(2)).unwrap().bytes, 500);
        // A look with the clock set back is recorded, so its first midnight renews the budget.
        let back = store.count_upload_bytes(d(1), 0).unwrap();
        assert_eq!((back.day, back.clock_day, back.bytes), (d(2), d(1), 500));
        drop(store);
        let store = Store::open(dir.path(), 0).unwrap();
        assert_eq!(store.upload_budget(d(1)).unwrap().bytes, 500);
        assert_eq!(store.upload_budget(d(2)).unwrap().bytes, 500);
        assert_eq!(store.upload_budget(d(3)).unwrap(), BudgetDay::fresh(d(3)));
    }
}
