//! Wrong staff/technician PINs and the lockout they cause, kept in the database so that
//! restarting kioskd (pulling the plug) does not hand a guesser a fresh set of tries.
//!
//! A try is counted before the PIN is verified ([`Store::count_pin_try`]) and the count is
//! cleared by a right PIN: killing kioskd during a check, or a store that cannot be written,
//! never leaves a wrong PIN uncounted (the caller refuses a try it could not count). Each
//! lockout in a row lasts twice the one before, up to [`MAX_LOCKOUT_MS`].
//!
//! Times are Unix milliseconds of the wall clock. A lockout is never longer than the one that
//! was set: a clock set back does not lock the screens for hours (the lock is rewritten).

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use crate::{db_err, Store, StoreResult};

/// The longest lockout, however many came before it (one day), unless the configured base
/// lockout is longer.
pub const MAX_LOCKOUT_MS: u64 = 24 * 60 * 60 * 1000;

/// The failed tries of one scope (the touch screen's PIN pad) and its lockout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PinAttempts {
    /// Tries since the last right PIN or the last lockout that were not found right (a try
    /// being verified is counted already).
    pub failures: u32,
    /// Until when (Unix ms) PINs are refused unchecked.
    pub locked_until_ms: Option<i64>,
    /// Lockouts in a row since the last right PIN.
    pub lockouts: u32,
}

impl PinAttempts {
    /// How long the current lockout lasts for a base of `lockout_ms`: doubled at each lockout
    /// in a row after the first, capped.
    pub fn lockout_length(&self, lockout_ms: u64) -> u64 {
        let doublings = self.lockouts.saturating_sub(1).min(32);
        let cap = MAX_LOCKOUT_MS.max(lockout_ms);
        lockout_ms.saturating_mul(1u64 << doublings).min(cap)
    }

    /// Milliseconds of lockout left at `now_ms`, at most the current lockout's length.
    pub fn locked_for(&self, now_ms: i64, lockout_ms: u64) -> Option<u64> {
        let until = self.locked_until_ms.filter(|&u| u > now_ms)?;
        let length = self.lockout_length(lockout_ms);
        Some(u64::try_from(until - now_ms).map_or(length, |left| left.min(length)))
    }
}

/// What [`Store::count_pin_try`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinTry {
    /// The pad is locked for this many more milliseconds: the PIN is not to be checked.
    Locked(u64),
    /// The try is counted: verify the PIN, then [`Store::clear_pin_failures`] if it is right
    /// or [`Store::record_pin_failure`] if not.
    Counted(PinAttempts),
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn read(tx: &Transaction<'_>, scope: &str) -> rusqlite::Result<PinAttempts> {
    Ok(tx
        .query_row(
            "SELECT failures, locked_until_ms, lockouts FROM pin_attempts WHERE scope = ?1",
            [scope],
            |r| {
                Ok(PinAttempts {
                    failures: r.get(0)?,
                    locked_until_ms: r.get(1)?,
                    lockouts: r.get(2)?,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

fn write(tx: &Transaction<'_>, scope: &str, state: &PinAttempts) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO pin_attempts(scope, failures, locked_until_ms, lockouts) VALUES(?1, ?2, ?3, ?4)
         ON CONFLICT(scope) DO UPDATE SET failures = excluded.failures,
                                          locked_until_ms = excluded.locked_until_ms,
                                          lockouts = excluded.lockouts",
        params![scope, state.failures, state.locked_until_ms, state.lockouts],
    )?;
    Ok(())
}

/// Locks `state` from `now_ms`: one more lockout in a row, the count starts again.
fn lock(state: &mut PinAttempts, lockout_ms: u64, now_ms: i64) {
    state.lockouts = state.lockouts.saturating_add(1);
    state.failures = 0;
    state.locked_until_ms = Some(now_ms.saturating_add(ms(state.lockout_length(lockout_ms))));
}

impl Store {
    /// The failed tries and lockout of `scope`.
    pub fn pin_attempts(&self, scope: &str) -> StoreResult<PinAttempts> {
        let row: Option<PinAttempts> = self
            .conn
            .query_row(
                "SELECT failures, locked_until_ms, lockouts FROM pin_attempts WHERE scope = ?1",
                [scope],
                |r| {
                    Ok(PinAttempts {
                        failures: r.get(0)?,
                        locked_until_ms: r.get(1)?,
                        lockouts: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(self.db())?;
        Ok(row.unwrap_or_default())
    }

    /// Before a PIN of `scope` is verified at `now_ms`: refuses it while the pad is locked
    /// (a lock longer than the current lockout, from a clock set back, is cut to it), else
    /// counts it, durably, as a failure until [`Store::clear_pin_failures`] says it was right.
    /// Tries counted by a check that never finished (kioskd killed) lock the pad here once
    /// they reach `max_attempts`.
    pub fn count_pin_try(
        &mut self,
        scope: &str,
        max_attempts: u32,
        lockout_ms: u64,
        now_ms: i64,
    ) -> StoreResult<PinTry> {
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let mut state = read(&tx, scope).map_err(&db)?;
        let verdict = if let Some(until) = state.locked_until_ms.filter(|&u| u > now_ms) {
            let length = state.lockout_length(lockout_ms);
            if until.saturating_sub(now_ms) > ms(length) {
                state.locked_until_ms = Some(now_ms.saturating_add(ms(length)));
                write(&tx, scope, &state).map_err(&db)?;
            }
            PinTry::Locked(state.locked_for(now_ms, lockout_ms).unwrap_or(length))
        } else if state.failures >= max_attempts {
            lock(&mut state, lockout_ms, now_ms);
            write(&tx, scope, &state).map_err(&db)?;
            PinTry::Locked(state.lockout_length(lockout_ms))
        } else {
            state.failures = state.failures.saturating_add(1);
            write(&tx, scope, &state).map_err(&db)?;
            PinTry::Counted(state)
        };
        tx.commit().map_err(&db)?;
        Ok(verdict)
    }

    /// After a try counted by [`Store::count_pin_try`] was wrong: the `max_attempts`-th in a
    /// row locks the scope (each lockout in a row twice as long as the one before, capped)
    /// and starts the count again. Returns the state after it.
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
        let mut state = read(&tx, scope).map_err(&db)?;
        if state.failures >= max_attempts {
            lock(&mut state, lockout_ms, now_ms);
            write(&tx, scope, &state).map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        Ok(state)
    }

    /// Forgets the failed tries and lockouts of `scope` (a right PIN was entered).
    pub fn clear_pin_failures(&self, scope: &str) -> StoreResult<()> {
        self.conn
            .execute("DELETE FROM pin_attempts WHERE scope = ?1", [scope])
            .map_err(self.db())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    fn wrong(store: &mut Store, now: i64) -> Result<PinAttempts, u64> {
        match store.count_pin_try("pad", 3, MIN, now).unwrap() {
            PinTry::Locked(left) => Err(left),
            PinTry::Counted(_) => Ok(store.record_pin_failure("pad", 3, MIN, now).unwrap()),
        }
    }

    #[test]
    fn each_lockout_in_a_row_is_twice_as_long_until_a_right_pin() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        let mut now = 1_800_000_000_000_i64;
        for expected in [MIN, 2 * MIN, 4 * MIN, 8 * MIN] {
            wrong(&mut store, now).unwrap();
            wrong(&mut store, now).unwrap();
            let locked = wrong(&mut store, now).unwrap();
            assert_eq!(locked.locked_for(now, MIN), Some(expected));
            assert_eq!(wrong(&mut store, now + 1), Err(expected - 1));
            now += ms(expected);
        }
        // Capped at a day.
        let capped = PinAttempts {
            lockouts: 40,
            ..Default::default()
        };
        assert_eq!(capped.lockout_length(MIN), MAX_LOCKOUT_MS);
        // A right PIN starts over.
        store.clear_pin_failures("pad").unwrap();
        for _ in 0..3 {
            wrong(&mut store, now).unwrap();
        }
        assert_eq!(
            store.pin_attempts("pad").unwrap().locked_for(now, MIN),
            Some(MIN)
        );
    }

    #[test]
    fn a_clock_set_back_cuts_the_lock_to_one_lockout() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        let now = 1_800_000_000_000_i64;
        for _ in 0..3 {
            wrong(&mut store, now).unwrap();
        }
        // The clock goes back three hours: one lockout from the new now, written down, so the
        // pad opens a minute later by the new clock.
        let back = now - 3 * 3_600_000;
        assert_eq!(wrong(&mut store, back), Err(MIN));
        assert_eq!(
            store.pin_attempts("pad").unwrap().locked_until_ms,
            Some(back + ms(MIN))
        );
        assert!(matches!(
            store.count_pin_try("pad", 3, MIN, back + ms(MIN)).unwrap(),
            PinTry::Counted(_)
        ));
    }

    #[test]
    fn tries_whose_check_never_finished_still_lock_the_pad() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        let now = 1_800_000_000_000_i64;
        // Three tries counted, none settled (kioskd killed during each check).
        for _ in 0..3 {
            assert!(matches!(
                store.count_pin_try("pad", 3, MIN, now).unwrap(),
                PinTry::Counted(_)
            ));
        }
        assert_eq!(
            store.count_pin_try("pad", 3, MIN, now).unwrap(),
            PinTry::Locked(MIN)
        );
    }
}
