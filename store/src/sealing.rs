//! The device's data key: citizens' data at rest is sealed with it, and receipt secrets are
//! derived from it.
//!
//! A stolen disk image or a copied database file should not hand over the names, ID numbers,
//! addresses and phones of a commune's applicants. The key is 32 random bytes in a file only
//! the service user can read (`0600`), kept out of the database; where systemd gives the
//! service a credential (`LoadCredentialEncrypted=`, sealed with the TPM where present), the
//! credential is used instead of the file (see [`DataKey::locate`]).
//!
//! Sealing is ChaCha20-Poly1305 (ring, already under rustls) with a random nonce per record and
//! the record's purpose as associated data, so a sealed value moved to another column or record
//! kind does not open. Derivation is HMAC-SHA256 with a purpose label: the same key never
//! serves two jobs unlabelled.

use std::io::Write;
use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hmac;

use crate::error::io_err;
use crate::{StoreError, StoreResult};

/// File name of the key in the data folder when no systemd credential supplies it.
pub const DATA_KEY_FILE: &str = "data.key";

/// Name of the systemd credential (`$CREDENTIALS_DIRECTORY/motcua-data-key`) that, when
/// present, supplies the key instead of the file.
pub const DATA_KEY_CREDENTIAL: &str = "motcua-data-key";

/// Format byte of a sealed value (version 1: nonce, then ciphertext and tag).
const SEALED_V1: u8 = 1;

/// The device's data key.
pub struct DataKey {
    sealing: LessSafeKey,
    deriving: hmac::Key,
    fingerprint: String,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("DataKey")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl DataKey {
    /// A key from its 32 bytes (tests, and the file loader).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let sealing = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &bytes).unwrap_or_else(
            |_| {
                // 32 bytes is exactly ChaCha20-Poly1305's key length: this cannot fail.
                unreachable!("ChaCha20-Poly1305 takes a 32-byte key")
            },
        ));
        let deriving = hmac::Key::new(hmac::HMAC_SHA256, &bytes);
        let check = hmac::sign(&deriving, b"motcua data key fingerprint");
        let fingerprint = hex::encode(&check.as_ref()[..8]);
        Self {
            sealing,
            deriving,
            fingerprint,
        }
    }

    /// Where the key of the store in `data_dir` is: the systemd credential when the service was
    /// given one, else `data_dir/data.key`.
    pub fn locate(data_dir: &Path) -> PathBuf {
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let credential = Path::new(&dir).join(DATA_KEY_CREDENTIAL);
            if credential.is_file() {
                return credential;
            }
            // Under a unit that was meant to pass the key as a credential, falling back to the
            // file is worth a line in the journal (the file may be another key).
            tracing::warn!(
                "CREDENTIALS_DIRECTORY is set but holds no {DATA_KEY_CREDENTIAL}: using {}",
                data_dir.join(DATA_KEY_FILE).display()
            );
        }
        data_dir.join(DATA_KEY_FILE)
    }

    /// Reads the key at `path`.
    pub fn load(path: &Path) -> StoreResult<Self> {
        let bytes = std::fs::read(path).map_err(io_err(path))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| StoreError::Corrupt {
            what: path.display().to_string(),
            detail: format!("a data key is 32 bytes, this file has {}", b.len()),
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// Reads the key at `path`, first making one (random, `0600`) when there is none. Two
    /// processes making it at once end with the same key: the new key is written to a private
    /// temporary file and linked into place only if no key is there yet.
    pub fn load_or_create(path: &Path) -> StoreResult<Self> {
        match std::fs::metadata(path) {
            Ok(_) => return Self::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        let tmp = dir.join(format!(".{}.{}.tmp", DATA_KEY_FILE, rand::random::<u64>()));
        let bytes: [u8; 32] = rand::random();
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            file.write_all(&bytes).map_err(io_err(&tmp))?;
            give_to_folder_owner(&file, dir).map_err(io_err(&tmp))?;
            file.sync_all().map_err(io_err(&tmp))?;
        }
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                Ok(Self::from_bytes(bytes))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// A short public fingerprint of the key (HMAC of a fixed label), for the store to notice
    /// a key that was replaced or lost: it opens none of the sealed records.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `plaintext` for `purpose` (e.g. `"applicant"`): format byte, random nonce,
    /// ciphertext and tag.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut in_out = plaintext.to_vec();
        // Sealing in place fails only when the plaintext exceeds ring's ~256 GiB limit.
        if self
            .sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(purpose.as_bytes()),
                &mut in_out,
            )
            .is_err()
        {
            unreachable!("a record is far below ChaCha20-Poly1305's length limit");
        }
        let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&in_out);
        out
    }

    /// Opens what [`DataKey::seal`] sealed for the same `purpose`. `what` names the record in
    /// the error (a wrong key, a wrong purpose and a damaged value all fail alike).
    pub fn open(&self, purpose: &str, sealed: &[u8], what: &str) -> StoreResult<Vec<u8>> {
        let corrupt = |detail: &str| StoreError::Corrupt {
            what: what.to_owned(),
            detail: detail.to_owned(),
        };
        let (version, rest) = sealed
            .split_first()
            .ok_or_else(|| corrupt("the sealed value is empty"))?;
        if *version != SEALED_V1 || rest.len() < NONCE_LEN {
            return Err(corrupt("the sealed value has an unknown format"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| corrupt("the sealed value has an unknown format"))?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .sealing
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut in_out)
            .map_err(|_| {
                corrupt("it does not open with this kiosk's data key (the key was replaced, or the record is damaged)")
            })?;
        Ok(plain.to_vec())
    }

    /// A value derived from the key for `purpose` and `input` (HMAC-SHA256 over the purpose,
    /// a zero byte and the input), e.g. a receipt's lookup secret from its dossier code.
    pub fn derive(&self, purpose: &str, input: &[u8]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.deriving);
        ctx.update(purpose.as_bytes());
        ctx.update(&[0]);
        ctx.update(input);
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

/// A key made by root (`kioskctl` run as root on a new kiosk) is given to the data folder's
/// owner, the service user, before it is linked into place: otherwise kioskd could not read
/// it and would refuse to start. By descriptor, so no link can divert it.
fn give_to_folder_owner(file: &std::fs::File, dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let folder = std::fs::metadata(dir)?;
    let mine = file.metadata()?;
    if mine.uid() == 0 && folder.uid() != 0 {
        std::os::unix::fs::fchown(file, Some(folder.uid()), Some(folder.gid()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let key = DataKey::from_bytes([7; 32]);
        let sealed = key.seal("applicant", b"001203004567");
        assert!(!sealed.windows(12).any(|w| w == b"001203004567"));
        assert_eq!(
            key.open("applicant", &sealed, "t").unwrap(),
            b"001203004567"
        );
        assert!(key.open("secret", &sealed, "t").is_err());
        assert!(DataKey::from_bytes([8; 32])
            .open("applicant", &sealed, "t")
            .is_err());
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(key.open("applicant", &damaged, "t").is_err());
        assert!(key.open("applicant", &[], "t").is_err());
        // Two seals of the same text differ (random nonce).
        assert_ne!(sealed, key.seal("applicant", b"001203004567"));
    }

    #[test]
    fn derivation_depends_on_key_purpose_and_input() {
        let a = DataKey::from_bytes([1; 32]);
        let b = DataKey::from_bytes([2; 32]);
        assert_eq!(a.derive("p", b"x"), a.derive("p", b"x"));
        assert_ne!(a.derive("p", b"x"), a.derive("q", b"x"));
        assert_ne!(a.derive("p", b"x"), a.derive("p", b"y"));
        assert_ne!(a.derive("p", b"x"), b.derive("p", b"x"));
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn key_file_is_made_once_private_and_reread() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATA_KEY_FILE);
        let first = DataKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = DataKey::load_or_create(&path).unwrap();
        assert_eq!(first.fingerprint(), again.fingerprint());
        std::fs::write(&path, b"short").unwrap();
        assert!(matches!(
            DataKey::load(&path),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_key_made_by_root_belongs_to_the_data_folders_owner() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATA_KEY_FILE);
        let me = std::fs::metadata("/proc/self").unwrap().uid();
        if me != 0 {
            // Not root: the key is the maker's, who owns the folder.
            DataKey::load_or_create(&path).unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().uid(), me);
            return;
        }
        std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).unwrap();
        DataKey::load_or_create(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
    }
}
