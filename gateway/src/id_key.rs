//! The gateway's ID number key ("never asked twice", issue #19 part 5): 32 random bytes that no
//! kiosk holds, under which the gateway knows a citizen whose documents it holds digitized.
//!
//! A CCCD number has 12 digits, so a plain SHA-256 of it is reversed by hashing all 10^12 of
//! them (hours on one GPU): whoever copied the database would learn whose documents it holds.
//! The gateway therefore keeps only `HMAC-SHA256(key, ID number)`, which cannot be searched
//! without the key.
//!
//! Kept like the lookup key (`crate::lookup_key`): a file of 64 hex digits (one line) readable
//! by its owner only, given by `--id-key-file`, the systemd credential `id-key`, or (when
//! neither is given) made on first start as `id.key` in the data directory. Several gateways
//! on one PostgreSQL must be given the same file; a gateway with another key finds nothing
//! held, and every document is then asked for as before.

use std::path::Path;

use crate::lookup_key::{hmac_sha256, load_or_create_key_file, read_key_file, LOOKUP_KEY_BYTES};
use crate::GatewayError;

/// The file name of the key made in the data directory when none is configured.
pub const ID_KEY_FILE_NAME: &str = "id.key";

/// Label of the MAC's input, so that this key's MACs never equal another use's.
const MAC_LABEL: &str = "motcua-id-number-v1:";

/// The key's name in messages, Vietnamese then English.
const NAMES: (&str, &str) = ("khóa số định danh", "the ID number key");

/// The ID number key. `Debug` never shows it.
#[derive(Clone)]
pub struct IdKey([u8; LOOKUP_KEY_BYTES]);

impl std::fmt::Debug for IdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKey(<hidden>)")
    }
}

impl IdKey {
    /// The key of these bytes.
    pub fn from_bytes(bytes: [u8; LOOKUP_KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// What the gateway keeps for a citizen of ID number `id_number`: 64 lower-case hex digits.
    pub fn mac(&self, id_number: &str) -> String {
        hex::encode(hmac_sha256(
            &self.0,
            format!("{MAC_LABEL}{}", id_number.trim()).as_bytes(),
        ))
    }

    /// Reads a key file (see the module).
    pub fn load(path: &Path) -> Result<Self, GatewayError> {
        read_key_file(path, NAMES).map(Self)
    }

    /// Reads the key file at `path`, or makes it when there is none.
    pub fn load_or_create(path: &Path) -> Result<Self, GatewayError> {
        load_or_create_key_file(path, NAMES).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_mac_depends_on_the_key_and_hides_the_number() {
        let a = IdKey::from_bytes([1; 32]);
        let b = IdKey::from_bytes([2; 32]);
        let id = "079123456789";
        assert_eq!(a.mac(id), a.mac(id));
        assert_eq!(a.mac(id), a.mac(" 079123456789 "));
        assert_ne!(a.mac(id), b.mac(id));
        assert_ne!(a.mac(id), a.mac("079123456788"));
        assert!(!a.mac(id).contains(id));
        assert!(!format!("{a:?}").contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn a_made_key_is_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(ID_KEY_FILE_NAME);
        let made = IdKey::load_or_create(&path).expect("made");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = IdKey::load(&path).expect("read");
        assert_eq!(made.mac("079123456789"), again.mac("079123456789"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let e = IdKey::load(&path).expect_err("readable").to_string();
        assert!(
            e.contains("the ID number key") && e.contains("readable by others"),
            "{e}"
        );
    }
}
