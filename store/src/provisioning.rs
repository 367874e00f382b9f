//! What provisioning leaves in the store: the dossier sequence blocks the gateway allocated to
//! this device, the last self-test of its peripherals, and the remote actions it carried out.
//!
//! A provisioned kiosk has no block in its config: the gateway hands out blocks of one
//! agency's daily numbers disjoint (one when the kiosk is provisioned, another whenever it runs
//! low), and the kiosk numbers its dossiers through the union of its blocks in order
//! ([`next_in_blocks`]). The per-day counter stays the one of invariant 4, so a number is
//! still never reused, whichever blocks the device holds.
//!
//! A remote action (print the last receipt again, …) is recorded as done, with its result,
//! before it is reported: should the kiosk stop between doing it and the gateway hearing about
//! it, the next poll finds the id done and only reports it again.

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::dossier::{code_date, SequenceRange};
use motcua_domain::provisioning::{RemoteActionResult, SequenceBlock};
use motcua_domain::wire::SelfTestSummary;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::{db_err, DeviceIdentity, Store, StoreError, StoreResult};

const LAST_SELF_TEST: &str = "last_self_test";

/// How many of a day's numbers the device has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumbersLeft {
    /// The day the next dossier's code would carry.
    pub date: NaiveDate,
    /// Numbers not used yet on that day.
    pub left: u32,
    /// All the numbers of the device's blocks.
    pub total: u32,
}

impl NumbersLeft {
    /// Whether less than a fifth of the numbers is left: time to ask the gateway for another
    /// block while the link is up, before a busy day runs out. A device holding no block at all
    /// (its provisioning stopped before it stored one) is the lowest of all: it cannot number a
    /// single dossier until it asks.
    pub fn running_low(&self) -> bool {
        self.total == 0 || self.left == 0 || u64::from(self.left) * 5 < u64::from(self.total)
    }
}

/// The number after `last_issued` (`None`: nothing issued yet that day) in the union of
/// `blocks` taken in order; numbers between blocks are skipped. `None` when every block is
/// used up for the day.
pub fn next_in_blocks(blocks: &[SequenceRange], last_issued: Option<u16>) -> Option<u16> {
    let mut sorted = blocks.to_vec();
    sorted.sort_by_key(|b| b.first);
    sorted.into_iter().find_map(|b| b.next_after(last_issued))
}

/// How many numbers of `blocks` follow `last_issued`.
fn left_after(blocks: &[SequenceRange], last_issued: Option<u16>) -> u32 {
    blocks
        .iter()
        .map(|b| {
            let from = last_issued.map_or(b.first, |l| b.first.max(l.saturating_add(1)));
            if from > b.last {
                0
            } else {
                u32::from(b.last - from) + 1
            }
        })
        .sum()
}

impl Store {
    /// Replaces the device's blocks with `blocks` (the gateway always answers with every block
    /// the device holds). Refuses an invalid block without changing anything.
    pub fn save_sequence_blocks(
        &mut self,
        blocks: &[SequenceBlock],
        now: DateTime<FixedOffset>,
    ) -> StoreResult<()> {
        for b in blocks {
            let range = SequenceRange {
                first: b.first,
                last: b.last,
            };
            if range.validate().is_err() {
                return Err(StoreError::Rejected(format!(
                    "dải số {}-{} không hợp lệ / the gateway sent an invalid sequence block {}-{}",
                    b.first, b.last, b.first, b.last
                )));
            }
        }
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        tx.execute("DELETE FROM sequence_blocks", []).map_err(&db)?;
        for b in blocks {
            tx.execute(
                "INSERT OR REPLACE INTO sequence_blocks(first, last, received_at) VALUES(?1, ?2, ?3)",
                params![b.first, b.last, now.to_rfc3339()],
            )
            .map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        Ok(())
    }

    /// The device's blocks, in order.
    pub fn sequence_blocks(&self) -> StoreResult<Vec<SequenceBlock>> {
        let mut stmt = self
            .conn
            .prepare("SELECT first, last FROM sequence_blocks ORDER BY first")
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SequenceBlock {
                    first: r.get(0)?,
                    last: r.get(1)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<Result<_, _>>().map_err(self.db())
    }

    /// The numbers `device` may use: its configured block, else its stored blocks.
    pub(crate) fn ranges_of(
        conn: &rusqlite::Connection,
        device: &DeviceIdentity,
    ) -> rusqlite::Result<Vec<SequenceRange>> {
        if let Some(range) = device.sequence {
            return Ok(vec![range]);
        }
        let mut stmt = conn.prepare("SELECT first, last FROM sequence_blocks ORDER BY first")?;
        let rows = stmt.query_map([], |r| {
            Ok(SequenceRange {
                first: r.get(0)?,
                last: r.get(1)?,
            })
        })?;
        rows.collect()
    }

    /// How many numbers `device` has left on the day its next dossier would carry (`now`'s,
    /// unless the clock went back).
    pub fn numbers_left(
        &self,
        device: &DeviceIdentity,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<NumbersLeft> {
        let db = db_err(&self.db_path);
        let ranges = Self::ranges_of(&self.conn, device).map_err(&db)?;
        let latest: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [format!("latest_code_date:{}", device.agency_code)],
                |r| r.get(0),
            )
            .optional()
            .map_err(&db)?;
        let latest = latest.and_then(|s| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok());
        let date = code_date(now.date_naive(), latest);
        let last: Option<u16> = self
            .conn
            .query_row(
                "SELECT last_sequence FROM code_sequences WHERE agency = ?1 AND day = ?2",
                params![device.agency_code, date.format("%Y-%m-%d").to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(&db)?;
        Ok(NumbersLeft {
            date,
            left: left_after(&ranges, last),
            total: ranges.iter().map(|r| u32::from(r.last - r.first) + 1).sum(),
        })
    }

    /// Records the result of a self-test, for the next health reports.
    pub fn record_self_test(&self, summary: &SelfTestSummary) -> StoreResult<()> {
        let json = serde_json::to_string(summary).map_err(|e| StoreError::Corrupt {
            what: "self-test".into(),
            detail: e.to_string(),
        })?;
        self.conn
            .execute(
                "INSERT INTO meta(key, value) VALUES(?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![LAST_SELF_TEST, json],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The last recorded self-test, if any.
    pub fn last_self_test(&self) -> StoreResult<Option<SelfTestSummary>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [LAST_SELF_TEST],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
                what: "last self-test".into(),
                detail: e.to_string(),
            })
        })
        .transpose()
    }

    /// Records that remote action `id` was carried out, with its result (before reporting it).
    /// A second record of the same id keeps the first.
    pub fn record_remote_action(
        &self,
        id: i64,
        kind: &str,
        result: &RemoteActionResult,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<()> {
        let json = serde_json::to_string(result).map_err(|e| StoreError::Corrupt {
            what: format!("remote action {id}"),
            detail: e.to_string(),
        })?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO remote_actions_done(id, kind, done_at, result) VALUES(?1, ?2, ?3, ?4)",
                params![id, kind, now.to_rfc3339(), json],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The recorded result of remote action `id`, when it was carried out already.
    pub fn remote_action_done(&self, id: i64) -> StoreResult<Option<RemoteActionResult>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT result FROM remote_actions_done WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| StoreError::Corrupt {
                what: format!("remote action {id}"),
                detail: e.to_string(),
            })
        })
        .transpose()
    }

    /// The gateway took the report of remote action `id`.
    pub fn mark_remote_action_reported(
        &self,
        id: i64,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<()> {
        self.conn
            .execute(
                "UPDATE remote_actions_done SET reported_at = ?2 WHERE id = ?1",
                params![id, now.to_rfc3339()],
            )
            .map_err(self.db())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(first: u16, last: u16) -> SequenceRange {
        SequenceRange { first, last }
    }

    #[test]
    fn numbering_walks_the_blocks_in_order_and_skips_the_gaps() {
        let blocks = [r(1001, 1002), r(1, 3)];
        assert_eq!(next_in_blocks(&blocks, None), Some(1));
        assert_eq!(next_in_blocks(&blocks, Some(2)), Some(3));
        assert_eq!(next_in_blocks(&blocks, Some(3)), Some(1001));
        assert_eq!(next_in_blocks(&blocks, Some(1001)), Some(1002));
        assert_eq!(next_in_blocks(&blocks, Some(1002)), None);
        assert_eq!(next_in_blocks(&[], None), None);
        assert_eq!(left_after(&blocks, None), 5);
        assert_eq!(left_after(&blocks, Some(3)), 2);
        assert_eq!(left_after(&blocks, Some(1002)), 0);
        let low = NumbersLeft {
            date: NaiveDate::MIN,
            left: 19,
            total: 100,
        };
        assert!(low.running_low());
        assert!(!NumbersLeft { left: 20, ..low }.running_low());
        assert!(NumbersLeft {
            left: 0,
            total: 0,
            ..low
        }
        .running_low());
    }
}
