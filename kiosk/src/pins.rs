//! Staff and technician PINs: Argon2id hashes with a random salt in the config, checked under
//! a lockout kept in the store.
//!
//! A PIN has four to twelve digits: at most 10^12 candidates, 10^4 for the usual four. An
//! unsalted SHA-256 of it in a copied config is read back in microseconds; an Argon2id hash
//! (19 MiB, two passes: OWASP's first recommended setting) costs a guesser that memory and
//! about a tenth of a second per try on the kiosk's CPU, with a salt of its own, so one table
//! does not serve every kiosk. At the screen the lockout bounds guessing: the failed tries are
//! in the store, counted before Argon2 runs ([`Store::count_pin_try`]) so a restart, a killed
//! check or a store that cannot be written never leaves a wrong PIN uncounted; while the pad is
//! locked a PIN is refused without running Argon2 at all (typing does not make the kiosk work
//! harder), and each lockout in a row lasts twice as long.

use motcua_flows::staff::{locked_message, no_pin_message, wrong_pin_message, PinPolicy, Role};
use motcua_flows::Message;
use motcua_store::{PinTry, Store};

pub use motcua_identity::pin::{check_pin_format, hash_pin, parse_pin_hash, verify_pin, PinError};

/// The store's scope of the touch screen's PIN pad: one count for both roles, so a guesser
/// does not get a fresh set of tries by switching screens.
pub const PIN_SCOPE: &str = "touch-screen";

/// Milliseconds since the Unix epoch, the store's clock for lockouts.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Checks a PIN typed for `role` at `now_ms` (Unix ms): refused unchecked while the pad is
/// locked; a wrong one counts towards the lockout, a right one clears the count. A store that
/// cannot be read or written refuses (the screens stay locked rather than unguarded).
pub fn check_pin(
    store: &mut Store,
    policy: &PinPolicy,
    role: Role,
    pin: &str,
    now_ms: i64,
) -> Result<(), Message> {
    let trouble = |e: motcua_store::StoreError| {
        tracing::error!(error = %e, "PIN attempts not readable or not saved");
        Message::new(
            "Không kiểm tra được mã PIN lúc này. Vui lòng báo kỹ thuật viên.",
            "The PIN cannot be checked now. Please call the technician.",
        )
    };
    let expected = match role {
        Role::Staff => policy.staff_pin_hash.as_deref(),
        Role::Technician => policy.technician_pin_hash.as_deref(),
    };
    let Some(expected) = expected else {
        return Err(no_pin_message());
    };
    // Counted before Argon2 runs: a try the store cannot count is not checked at all.
    match store
        .count_pin_try(PIN_SCOPE, policy.max_attempts, policy.lockout_ms, now_ms)
        .map_err(trouble)?
    {
        PinTry::Locked(left) => return Err(locked_message(left)),
        PinTry::Counted(_) => {}
    }
    if verify_pin(expected, pin) {
        if let Err(e) = store.clear_pin_failures(PIN_SCOPE) {
            // The PIN was right; the try stays counted, which only shortens the next series.
            tracing::error!(error = %e, "the right PIN's try could not be cleared");
        }
        return Ok(());
    }
    let after = store
        .record_pin_failure(PIN_SCOPE, policy.max_attempts, policy.lockout_ms, now_ms)
        .map_err(trouble)?;
    if let Some(left) = after.locked_for(now_ms, policy.lockout_ms) {
        tracing::warn!(
            ?role,
            lockouts = after.lockouts,
            "PIN entry locked after repeated failures"
        );
        return Err(locked_message(left));
    }
    Err(wrong_pin_message(
        policy.max_attempts.saturating_sub(after.failures),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_accepts_its_pin_only_and_is_salted() {
        let a = hash_pin("2468").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(verify_pin(&a, "2468"));
        for wrong in ["2469", "", "24680", "1234"] {
            assert!(!verify_pin(&a, wrong), "{wrong}");
        }
        assert_ne!(a, hash_pin("2468").unwrap(), "a fresh salt each time");
        assert_eq!(parse_pin_hash(&format!(" {a} ")).unwrap(), a);
    }

    #[test]
    fn only_digit_pins_and_argon2id_hashes_are_taken() {
        assert!(hash_pin("12a4").is_err());
        assert!(hash_pin("123").is_err());
        let sha = "9613678cf02db7a5d1daf717308eb58956a3f22bb3c26434299ba47075d8ffc3";
        assert!(parse_pin_hash(sha).is_err());
        let argon2i = hash_pin("2468").unwrap().replace("argon2id", "argon2i");
        assert!(parse_pin_hash(&argon2i).is_err());
        let greedy = hash_pin("2468").unwrap().replace("m=19456", "m=4194304");
        assert!(parse_pin_hash(&greedy)
            .unwrap_err()
            .to_string()
            .contains("64 MiB"));
        // Just above each limit is refused, the limits themselves are taken.
        let with = |from: &str, to: &str| hash_pin("2468").unwrap().replace(from, to);
        assert!(parse_pin_hash(&with("m=19456", "m=65537")).is_err());
        assert!(parse_pin_hash(&with("t=2", "t=5")).is_err());
        assert!(parse_pin_hash(&with("p=1", "p=5")).is_err());
        assert!(parse_pin_hash(&with("m=19456", "m=65536")).is_ok());
        assert!(parse_pin_hash(&with("t=2", "t=4")).is_ok());
        assert!(parse_pin_hash(&with("p=1", "p=4")).is_ok());
    }

    fn policy() -> PinPolicy {
        PinPolicy {
            staff_pin_hash: Some(hash_pin("2468").unwrap()),
            technician_pin_hash: None,
            max_attempts: 3,
            lockout_ms: 60_000,
        }
    }

    #[test]
    fn wrong_pins_lock_the_pad_across_a_reopened_store_and_locked_tries_are_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let policy = policy();
        let t = 1_800_000_000_000;
        let mut store = Store::open(dir.path(), 0).unwrap();
        let wrong = check_pin(&mut store, &policy, Role::Staff, "1111", t).unwrap_err();
        assert!(wrong.en.contains("2 tries left"), "{}", wrong.en);
        check_pin(&mut store, &policy, Role::Staff, "2222", t + 1).unwrap_err();
        drop(store);
        // kioskd restarted: the count goes on.
        let mut store = Store::open(dir.path(), 0).unwrap();
        let locked = check_pin(&mut store, &policy, Role::Staff, "3333", t + 2).unwrap_err();
        assert!(locked.en.contains("Too many"), "{}", locked.en);
        drop(store);
        let mut store = Store::open(dir.path(), 0).unwrap();
        let before = store.pin_attempts(PIN_SCOPE).unwrap();
        let refused = check_pin(&mut store, &policy, Role::Staff, "2468", t + 10_000).unwrap_err();
        assert!(refused.en.contains("Too many"), "even the right PIN waits");
        check_pin(&mut store, &policy, Role::Technician, "9999", t + 11_000).unwrap_err();
        assert_eq!(
            store.pin_attempts(PIN_SCOPE).unwrap(),
            before,
            "tries while locked change nothing (and run no Argon2)"
        );
        check_pin(&mut store, &policy, Role::Staff, "2468", t + 70_000).unwrap();
        assert_eq!(store.pin_attempts(PIN_SCOPE).unwrap(), Default::default());
    }

    #[test]
    fn a_try_the_store_cannot_count_is_refused_unchecked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        // The table of tries becomes read-only (a view): the try cannot be written.
        let db = rusqlite::Connection::open(dir.path().join("kiosk.sqlite3")).unwrap();
        db.execute_batch(
            "DROP TABLE pin_attempts;
             CREATE VIEW pin_attempts AS
               SELECT 'none' AS scope, 0 AS failures, NULL AS locked_until_ms, 0 AS lockouts;",
        )
        .unwrap();
        // Even the right PIN is refused: an uncounted try would be a free guess.
        let refused = check_pin(&mut store, &policy(), Role::Staff, "2468", 0).unwrap_err();
        assert!(refused.en.contains("cannot be checked"), "{}", refused.en);
    }

    #[test]
    fn a_role_without_a_pin_stays_closed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        let m = check_pin(&mut store, &policy(), Role::Technician, "2468", 0).unwrap_err();
        assert!(m.en.contains("No PIN"));
    }
}
