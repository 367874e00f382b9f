//! Random tokens and what is kept of them: a session or screen token, a pairing code or a
//! ticket's rating code is handed out once and only its SHA-256 is stored, so a copy of the
//! hub's database opens no session and rates no ticket.

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A fresh random token (32 bytes, base64url) and its SHA-256 (hex), which is what is kept.
pub fn new_token() -> (String, String) {
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = token_hash(&token);
    (token, hash)
}

/// The SHA-256 (hex) of a token or code.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
