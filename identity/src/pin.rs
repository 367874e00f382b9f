//! Staff and technician PINs kept as Argon2id PHC strings with a random salt: what a kiosk's
//! `staff_pin_hash` and the hub's staff list hold, made by `kioskctl pin staff`.
//!
//! A PIN has four to twelve digits: at most 10^12 candidates, 10^4 for the usual four. An
//! unsalted SHA-256 of it in a copied config is read back in microseconds; an Argon2id hash
//! (19 MiB, two passes: OWASP's first recommended setting) costs a guesser that memory and
//! about a tenth of a second per try, with a salt of its own, so one table does not serve every
//! device. Guessing at a screen or page is bounded by each caller's lockout.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

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
