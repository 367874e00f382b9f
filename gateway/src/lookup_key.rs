//! The gateway's lookup key (issue 14, item 2): 32 random bytes that no kiosk holds, under which
//! the gateway keeps each dossier's lookup hash.
//!
//! The receipt's secret has 40 bits, so its plain SHA-256 (what the kiosk sends,
//! `lookup_sha256`) falls to an offline search of 2^40 hashes in minutes: whoever copied the
//! database could then look up any citizen's dossier. The gateway therefore stores only
//! `HMAC-SHA256(key, lookup_sha256)`, which cannot be searched without the key, and computes the
//! same from the typed secret at each lookup.
//!
//! The key is a file of 64 hex digits (one line), readable by its owner only: given by
//! `--lookup-key-file`, the systemd credential `lookup-key`, or (when neither is given) made on
//! first start as `lookup.key` in the data directory. Its fingerprint (an HMAC of a fixed label,
//! which tells nothing of the key) is recorded in the database at first use, so that a gateway
//! started with another key refuses to start instead of answering every lookup "not found".

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::GatewayError;

/// Bytes of a lookup key.
pub const LOOKUP_KEY_BYTES: usize = 32;

/// The file name of the key made in the data directory when none is configured.
pub const LOOKUP_KEY_FILE_NAME: &str = "lookup.key";

/// Label whose MAC is the key's fingerprint (recorded in the database).
const FINGERPRINT_LABEL: &[u8] = b"motcua-lookup-key-fingerprint-v1";

/// The lookup key. `Debug` shows only its fingerprint, so the key never reaches a log.
#[derive(Clone)]
pub struct LookupKey([u8; LOOKUP_KEY_BYTES]);

impl std::fmt::Debug for LookupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LookupKey(fingerprint {})", self.fingerprint())
    }
}

/// HMAC-SHA256 (RFC 2104) through ring, the same implementation the kiosk's data key derives
/// with (ring is already in the tree under rustls).
pub(crate) fn hmac_sha256(key: &[u8; LOOKUP_KEY_BYTES], message: &[u8]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::hmac::sign(&key, message).as_ref());
    out
}

impl LookupKey {
    /// The key of these bytes.
    pub fn from_bytes(bytes: [u8; LOOKUP_KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// A new random key.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// What the gateway stores for a dossier delivered with `lookup_sha256` (64 hex digits): the
    /// HMAC of that text, as 64 lower-case hex digits.
    pub fn mac(&self, lookup_sha256: &str) -> String {
        hex::encode(hmac_sha256(&self.0, lookup_sha256.as_bytes()))
    }

    /// The key's fingerprint, recorded in the database: equal for equal keys, and no help in
    /// finding the key.
    pub fn fingerprint(&self) -> String {
        hex::encode(hmac_sha256(&self.0, FINGERPRINT_LABEL))
    }

    /// Reads a key file: 64 hex digits (a trailing newline allowed), readable by its owner only.
    pub fn load(path: &Path) -> Result<Self, GatewayError> {
        read_key_file(path, LOOKUP_NAMES).map(Self)
    }

    /// Reads the key file at `path`, or makes it (0600, written whole and fsynced before it is
    /// used) when there is none: for a gateway on its own data directory.
    pub fn load_or_create(path: &Path) -> Result<Self, GatewayError> {
        load_or_create_key_file(path, LOOKUP_NAMES).map(Self)
    }
}

/// The lookup key's name in messages, Vietnamese then English.
const LOOKUP_NAMES: (&str, &str) = ("khóa tra cứu", "the lookup key");

/// Reads a file of one 32-byte key (64 hex digits, a trailing newline allowed), readable by its
/// owner only; `names` (Vietnamese, English) name the key in the error. Shared by the gateway's
/// keys kept this way (the lookup key, the ID number key of `crate::id_key`).
pub(crate) fn read_key_file(
    path: &Path,
    names: (&str, &str),
) -> Result<[u8; LOOKUP_KEY_BYTES], GatewayError> {
    let bad = |why: String| {
        GatewayError::Config(format!(
            "{} {} không dùng được / {} {} cannot be used: {why}",
            names.0,
            path.display(),
            names.1,
            path.display()
        ))
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(bad(format!(
            "it is readable by others (mode {:o}); make it 0600 (chmod 600)",
            meta.permissions().mode() & 0o777
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let text = text.trim_end_matches(['\n', '\r']);
    let mut bytes = [0u8; LOOKUP_KEY_BYTES];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| {
        bad(format!(
            "it must hold {} hex digits on one line (e.g. made by \
             `od -An -N32 -tx1 /dev/urandom | tr -d ' \\n'`)",
            2 * LOOKUP_KEY_BYTES
        ))
    })?;
    Ok(bytes)
}

/// [`read_key_file`], or makes the file with a new random key (0600, written whole and fsynced
/// before it is used) when there is none. The key itself never reaches a log.
pub(crate) fn load_or_create_key_file(
    path: &Path,
    names: (&str, &str),
) -> Result<[u8; LOOKUP_KEY_BYTES], GatewayError> {
    if path.exists() {
        return read_key_file(path, names);
    }
    let key: [u8; LOOKUP_KEY_BYTES] = rand::random();
    let write_err = |e: std::io::Error| {
        GatewayError::Config(format!("cannot make {} {}: {e}", names.1, path.display()))
    };
    // The data folder may not exist yet on a first start (it is made after the keys).
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    let tmp = path.with_extension("key.new");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(write_err)?;
    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(write_err)?;
    drop(file);
    // A hard link fails if another process made the key meanwhile: then that one is used.
    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(write_err)?;
            }
            tracing::info!(path = %path.display(), key = names.1, "made a new key");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp);
            read_key_file(path, names)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(write_err(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_1() {
        // RFC 4231 test case 1: key 0x0b × 20 (zero-padded to 32 bytes gives the same HMAC, as
        // HMAC pads short keys with zeros), data "Hi There".
        let mut key = [0u8; 32];
        key[..20].fill(0x0b);
        assert_eq!(
            hex::encode(hmac_sha256(&key, b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn mac_and_fingerprint_depend_on_the_key() {
        let a = LookupKey::from_bytes([1; 32]);
        let b = LookupKey::from_bytes([2; 32]);
        let h = "ab".repeat(32);
        assert_eq!(a.mac(&h), a.mac(&h));
        assert_ne!(a.mac(&h), b.mac(&h));
        assert_ne!(a.mac(&h), h);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert!(!format!("{a:?}").contains(&hex::encode([1u8; 32])));
    }

    #[test]
    fn a_made_key_is_private_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOOKUP_KEY_FILE_NAME);
        let made = LookupKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = LookupKey::load_or_create(&path).unwrap();
        assert_eq!(made.fingerprint(), again.fingerprint());
    }

    #[test]
    fn a_readable_or_malformed_key_file_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = LookupKey::load(&path).unwrap_err().to_string();
        assert!(e.contains("readable by others"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(LookupKey::load(&path).is_ok());
        std::fs::write(&path, "short\n").unwrap();
        let e = LookupKey::load(&path).unwrap_err().to_string();
        assert!(e.contains("64 hex digits"), "{e}");
    }
}
