//! The receipt's lookup secret: what a citizen must show (in the receipt QR) or type (printed
//! under it) to read a dossier's status, because dossier codes are sequential and guessable.
//!
//! 40 bits are enough against online guessing: the gateway answers a wrong secret exactly like
//! an unknown code and limits failed lookups per device and per code, so an attacker gets a
//! handful of tries per code out of 2^40. They are shown as 8 Crockford base32 characters
//! `XXXX-XXXX` (no I, L, O, U, which people misread), and read back tolerantly (lower case,
//! spaces, no dash, O for 0, I or L for 1) because citizens type them on a touch keyboard.
//!
//! Neither the gateway nor the kiosk stores the secret or its [`lookup_hash`]: the gateway keeps
//! an HMAC of the hash under a key no kiosk holds, the kiosk derives both again when needed.

use std::fmt;

use sha2::{Digest, Sha256};

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O, U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters of a secret, without the dash.
pub const SECRET_CHARS: usize = 8;

/// Domain separation of [`lookup_hash`]: a hash made for another purpose never matches.
const HASH_CONTEXT: &str = "motcua-lookup-v1";

/// A receipt's lookup secret (40 bits). Its `Debug` hides the value so it never reaches a log.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LookupSecret([u8; SECRET_CHARS]);

/// A typed or scanned text that is not a lookup secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Not 8 characters once spaces and dashes are removed.
    #[error(
        "mã tra cứu có 8 ký tự, dạng XXXX-XXXX / the lookup code has 8 characters, like XXXX-XXXX"
    )]
    Length,
    /// A character outside the alphabet (e.g. U, or punctuation).
    #[error("mã tra cứu chỉ gồm chữ số và chữ cái in trên giấy tiếp nhận / the lookup code has only the digits and letters printed on the receipt")]
    Character,
}

impl LookupSecret {
    /// The secret of these 40 bits (5 bytes, first bit first), e.g. the first bytes of a
    /// derivation from the kiosk's data key.
    pub fn from_bytes(bytes: [u8; 5]) -> Self {
        let bits = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let mut chars = [0u8; SECRET_CHARS];
        for (i, c) in chars.iter_mut().enumerate() {
            let shift = 5 * (SECRET_CHARS - 1 - i);
            *c = ALPHABET[((bits >> shift) & 0x1f) as usize];
        }
        Self(chars)
    }

    /// Reads a secret as a citizen may type it: case, spaces and dashes do not matter, O reads
    /// as 0 and I or L as 1.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let mut chars = [0u8; SECRET_CHARS];
        let mut n = 0;
        for c in text.chars() {
            if c.is_whitespace() || c == '-' {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(SecretError::Character);
            }
            if n == SECRET_CHARS {
                return Err(SecretError::Length);
            }
            chars[n] = c as u8;
            n += 1;
        }
        if n != SECRET_CHARS {
            return Err(SecretError::Length);
        }
        Ok(Self(chars))
    }

    /// Reads a secret only in the exact form printed (`XXXX-XXXX`, upper case): how a field of
    /// a scanned receipt is recognised as the secret and not as a date or a number.
    pub fn parse_printed(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let ok = b.len() == SECRET_CHARS + 1
            && b[4] == b'-'
            && b[..4].iter().chain(&b[5..]).all(|c| ALPHABET.contains(c));
        ok.then(|| Self::parse(text).ok()).flatten()
    }
}

/// `XXXX-XXXX`.
impl fmt::Display for LookupSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = std::str::from_utf8(&self.0).map_err(|_| fmt::Error)?;
        write!(f, "{}-{}", &s[..4], &s[4..])
    }
}

impl fmt::Debug for LookupSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LookupSecret(<hidden>)")
    }
}

/// What the gateway and the kiosk store for a dossier's secret: hex SHA-256 of
/// `motcua-lookup-v1 \0 code \0 secret` (the secret as printed). The code is inside so that one
/// secret's hash is worth nothing for another dossier.
pub fn lookup_hash(code: &str, secret: &LookupSecret) -> String {
    let mut h = Sha256::new();
    h.update(HASH_CONTEXT.as_bytes());
    h.update([0]);
    h.update(code.as_bytes());
    h.update([0]);
    h.update(secret.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Whether `text` has the form of a [`lookup_hash`]: 64 lower-case hex digits.
pub fn is_lookup_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares two hashes in time that depends only on their lengths, so the time of a wrong
/// answer says nothing about how much of it was right.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_become_eight_crockford_characters() {
        assert_eq!(LookupSecret::from_bytes([0; 5]).to_string(), "0000-0000");
        assert_eq!(LookupSecret::from_bytes([0xff; 5]).to_string(), "ZZZZ-ZZZZ");
        // 0x0842108421 is 00001 repeated: eight ones.
        assert_eq!(
            LookupSecret::from_bytes([0x08, 0x42, 0x10, 0x84, 0x21]).to_string(),
            "1111-1111"
        );
    }

    #[test]
    fn typing_is_read_tolerantly() {
        let s = LookupSecret::parse("7KQ2-M9XD").unwrap();
        for typed in ["7kq2m9xd", " 7KQ2 M9XD ", "7kq2-m9xd", "7KQ2M9XD"] {
            assert_eq!(LookupSecret::parse(typed), Ok(s), "{typed}");
        }
        assert_eq!(
            LookupSecret::parse("oIl0-0000").unwrap().to_string(),
            "0110-0000"
        );
        assert_eq!(LookupSecret::parse("7KQ2-M9X"), Err(SecretError::Length));
        assert_eq!(LookupSecret::parse("7KQ2-M9XDA"), Err(SecretError::Length));
        assert_eq!(
            LookupSecret::parse("7KQ2-M9XU"),
            Err(SecretError::Character)
        );
        assert_eq!(
            LookupSecret::parse("7KQ2-M9X#"),
            Err(SecretError::Character)
        );
        assert_eq!(LookupSecret::parse(""), Err(SecretError::Length));
    }

    #[test]
    fn only_the_printed_form_is_recognised_in_a_payload() {
        assert!(LookupSecret::parse_printed("7KQ2-M9XD").is_some());
        for field in ["7kq2-m9xd", "7KQ2M9XD", "20261126", "7KQ2-M9XU", "1.001193"] {
            assert_eq!(LookupSecret::parse_printed(field), None, "{field}");
        }
    }

    #[test]
    fn the_hash_binds_code_and_secret_and_hides_the_secret() {
        let s = LookupSecret::parse("7KQ2-M9XD").unwrap();
        let h = lookup_hash("000.17.22.H56-261123-0001", &s);
        assert!(is_lookup_hash(&h));
        assert_eq!(
            h,
            lookup_hash(
                "000.17.22.H56-261123-0001",
                &LookupSecret::parse("7kq2m9xd").unwrap()
            )
        );
        assert_ne!(h, lookup_hash("000.17.22.H56-261123-0002", &s));
        assert_ne!(
            h,
            lookup_hash(
                "000.17.22.H56-261123-0001",
                &LookupSecret::parse("7KQ2-M9XE").unwrap()
            )
        );
        assert!(!format!("{s:?}").contains("7KQ2"));
        assert!(hashes_equal(&h, &h.clone()));
        assert!(!hashes_equal(&h, &h[..63]));
        assert!(!hashes_equal(&h, &lookup_hash("x", &s)));
    }
}
