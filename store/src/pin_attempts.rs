//! Wrong staff/technician PINs and the lockout they cause, kept in the database so that
//! restarting kioskd (pulling the plug) does not hand a guesser a fresh set of tries.
//!
//! Times are Unix milliseconds of the wall clock. A lockout is never longer than the one that
//! was set: a clock set back does not lock the screens for hours.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::{db_err, Store, StoreResult};

/// The failed tries of one scope (the touch screen's PIN pad) and its lockout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PinAttempts {
    /// Wrong PINs since the last right one or the last lockout.
    pub failures: u32,
    /// Until when (Unix ms) PINs are refused unchecked.
    pub locked_until_ms: Option<i64>,
}

impl PinAttempts {
    /// Milliseconds of lockout left at `now_ms`, at most `lockout_ms`.
    pub fn locked_for(&self, now_ms: i64, lockout_ms: u64) -> Option<u64> {
        let until = self.locked_until_ms.filter(|&u| u > now_ms)?;
        Some(u64::try_from(until - now_ms).map_or(lockout_ms, |left| left.min(lockout_ms)))
    }
}

impl Store {
    /// The failed tries and lockout of `scope`.
    pub fn pin_attempts(&self, scope: &str) -> StoreResult<PinAttempts> {
        let row: Option<(u32, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT failures, locked_until_ms FROM pin_attempts WHERE scope = ?1",
                [scope],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db())?;
        Ok(
            row.map_or_else(PinAttempts::default, |(failures, locked_until_ms)| {
                PinAttempts {
                    failures,
                    locked_until_ms,
                }
            }),
        )
    }

    /// Counts a wrong PIN of `scope` at `now_ms`; the `max_attempts`-th in a row locks the
    /// scope for `lockout_ms` and starts the count again. Returns the state after it.
    pub fn record_pin_failure(
        &mut self,
        scope: &str,
        max_attempts: u32,
        lockout_ms: u64,
        now_ms: i64,
    ) -> StoreResult<PinAttempts> {
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let failures: u32 = tx
            .query_row(
                "SELECT failures FROM pin_attempts WHERE scope = ?1",
                [scope],
                |r| r.get(0),
            )
            .optional()
            .map_err(&db)?
            .unwrap_or(0);
        let failures = failures.saturating_add(1);
        let state = if failures >= max_attempts {
            PinAttempts {
                failures: 0,
                locked_until_ms: Some(
                    now_ms.saturating_add(i64::try_from(lockout_ms).unwrap_or(i64::MAX)),
                ),
            }
        } else {
            PinAttempts {
                failures,
                locked_until_ms: None,
            }
        };
        tx.execute(
            "INSERT INTO pin_attempts(scope, failures, locked_until_ms) VALUES(?1, ?2, ?3)
             ON CONFLICT(scope) DO UPDATE SET failures = excluded.failures,
                                              locked_until_ms = excluded.locked_until_ms",
            params![scope, state.failures, state.locked_until_ms],
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(state)
    }

    /// Forgets the failed tries of `scope` (a right PIN was entered).
    pub fn clear_pin_failures(&self, scope: &str) -> StoreResult<()> {
        self.conn
            .execute("DELETE FROM pin_attempts WHERE scope = ?1", [scope])
            .map_err(self.db())?;
        Ok(())
    }
}
