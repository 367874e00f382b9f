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

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use motcua_flows::staff::{locked_message, no_pin_message, wrong_pin_message, PinPolicy, Role};
use motcua_flows::Message;
use motcua_store::{PinTry, Store};

/// Memory of one hash, KiB (19 MiB).
const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
const PASSES: u32 = 2;
/// The most memory a configured hash may ask for (KiB): a hash pasted from elsewhere must not
/// make one try cost the kiosk much memory, and the check runs on the services thread (a
/// slow one stalls scans and printing).
const MAX_MEMORY_KIB: u32 = 64 * 1024;
/// The most passes a configured hash may ask for.
const MAX_PASSES: u32 = 4;
/// The most lanes a configured hash may ask for.
const MAX_LANES: u32 = 4;

/// The store's scope of the touch screen's PIN pad: one count for both roles, so a guesser
/// does not get a fresh set of tries by switching screens.
pub const PIN_SCOPE: &str = "touch-screen";

/// The Argon2id hasher with this kiosk's parameters.
fn hasher() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, 1, None)
        .unwrap_or_else(|_| unreachable!("19 MiB, 2 passes, 1 lane are valid Argon2 parameters"));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a PIN or a configured hash was refused.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The PIN is not 4 to 12 digits.
    #[error("mã PIN phải gồm 4 đến 12 chữ số / a PIN is 4 to 12 digits")]
    NotDigits,
    /// The configured value is not an Argon2id hash the kiosk accepts.
    #[error("{0}")]
    BadHash(String),
}

/// Whether `pin` is something the PIN pad can type (4 to 12 digits).
pub fn check_pin_format(pin: &str) -> Result<(), PinError> {
    if (4..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(PinError::NotDigits)
    }
}

/// The Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) of `pin`, with a
/// fresh random salt: what `staff_pin_hash`/`technician_pin_hash` hold.
pub fn hash_pin(pin: &str) -> Result<String, PinError> {
    check_pin_format(pin)?;
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| PinError::BadHash(e.to_string()))?;
    hasher()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PinError::BadHash(e.to_string()))
}

/// Checks a configured value: an Argon2id PHC string within the kiosk's limits. Returns it
/// trimmed.
pub fn parse_pin_hash(value: &str) -> Result<String, PinError> {
    let value = value.trim();
    let bad = |why: &str| {
        PinError::BadHash(format!(
            "không phải mã băm Argon2id của PIN ({why}); tạo bằng `kioskctl pin staff` hoặc `kioskctl pin technician` / not an Argon2id PIN hash ({why}); make one with `kioskctl pin staff` or `kioskctl pin technician`"
        ))
    };
    let hash = PasswordHash::new(value).map_err(|e| bad(&e.to_string()))?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(bad("the algorithm must be argon2id"));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(bad("it has no salt or no hash"));
    }
    let params = Params::try_from(&hash).map_err(|e| bad(&e.to_string()))?;
    if params.m_cost() > MAX_MEMORY_KIB
        || params.t_cost() > MAX_PASSES
        || params.p_cost() > MAX_LANES
    {
        return Err(bad("its cost is above 64 MiB, 4 passes or 4 lanes"));
    }
    Ok(value.to_owned())
}

/// Whether `pin` matches the PHC string `hash` (Argon2 runs with the hash's own parameters).
pub fn verify_pin(hash: &str, pin: &str) -> bool {
    if pin.is_empty() {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    hasher().verify_password(pin.as_bytes(), &parsed).is_ok()
}

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
