//! Content-addressed blob files (scanned documents, attachments), named by their SHA-256.
//!
//! Invariants:
//! - a file under `blobs/` is complete: it is written to `tmp/`, fsynced, renamed into place
//!   and its folder fsynced, so a power cut leaves either the whole file or nothing;
//! - its name is the SHA-256 of its content, so the gateway (and [`BlobStore::verify`]) can
//!   check it and the same document stored twice takes the space once;
//! - nothing here deletes a blob on its own: the store decides, after the gateway confirmed it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{io_err, StoreError, StoreResult};

/// Age after which a temporary file is considered left over by a crash.
pub const STALE_TMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether `s` is a lower-case hex SHA-256, the only names blob files may have.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A stored blob: its hash and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The blob folder of a kiosk.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    min_free_bytes: u64,
}

/// Fsyncs a folder so a rename or create in it survives a power cut.
pub(crate) fn sync_dir(dir: &Path) -> StoreResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl BlobStore {
    /// Opens (creating if needed) the blob folders under `root`.
    pub fn open(root: &Path, min_free_bytes: u64) -> StoreResult<Self> {
        for sub in ["blobs", "tmp"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        // Temporary files left by a crash are incomplete by definition. Young ones may belong
        // to another process (kioskd and kioskctl share the store) that is writing right now.
        let tmp = root.join("tmp");
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let stale = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TMP_AGE);
                if stale {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(Self {
            root: root.to_owned(),
            min_free_bytes,
        })
    }

    /// Where the blob with this hash lives. A name that is not a SHA-256 maps to a path that
    /// never exists (so nothing outside `blobs/` can be reached through a bad name).
    pub fn path(&self, sha256: &str) -> PathBuf {
        if !is_sha256_hex(sha256) {
            return self.root.join("blobs").join("invalid-name");
        }
        self.root.join("blobs").join(&sha256[..2]).join(sha256)
    }

    /// Whether a blob is present.
    pub fn contains(&self, sha256: &str) -> bool {
        is_sha256_hex(sha256) && self.path(sha256).is_file()
    }

    /// Every blob on disk with its age, for the collection of orphans.
    pub fn list(&self) -> StoreResult<Vec<(String, std::time::Duration)>> {
        let root = self.root.join("blobs");
        let mut out = Vec::new();
        for prefix in fs::read_dir(&root).map_err(io_err(&root))?.flatten() {
            let Ok(files) = fs::read_dir(prefix.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if !is_sha256_hex(&name) {
                    continue;
                }
                let age = file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                out.push((name, age));
            }
        }
        Ok(out)
    }

    /// Free bytes on the data disk, when the system says (for the health report).
    pub fn available_space(&self) -> Option<u64> {
        fs4::available_space(&self.root).ok()
    }

    /// The free-space floor below which new work is refused.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_bytes
    }

    /// Refuses new work when the data disk is below its floor (plus what is about to be written).
    pub fn check_free_space(&self, incoming: u64) -> StoreResult<()> {
        let available = fs4::available_space(&self.root).map_err(io_err(&self.root))?;
        if available < self.min_free_bytes.saturating_add(incoming) {
            return Err(StoreError::DiskFull {
                path: self.root.clone(),
                available_mb: available / (1024 * 1024),
                floor_mb: self.min_free_bytes / (1024 * 1024),
            });
        }
        Ok(())
    }

    /// Stores the content of a file durably and returns its hash.
    pub fn put_file(&self, src: &Path) -> StoreResult<BlobInfo> {
        let size = fs::metadata(src).map_err(io_err(src))?.len();
        self.check_free_space(size)?;
        let file = File::open(src).map_err(io_err(src))?;
        self.put_reader(file, src)
    }

    /// Stores bytes durably and returns their hash.
    pub fn put_bytes(&self, bytes: &[u8]) -> StoreResult<BlobInfo> {
        self.check_free_space(bytes.len() as u64)?;
        self.put_reader(bytes, Path::new("<memory>"))
    }

    fn put_reader(&self, mut reader: impl Read, origin: &Path) -> StoreResult<BlobInfo> {
        let tmp_path = self
            .root
            .join("tmp")
            .join(format!("{}.part", rand::random::<u64>()));
        let result = (|| {
            let mut tmp = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp_path)
                .map_err(|e| self.io_or_full(&tmp_path, e))?;
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_err(origin)(e)),
                };
                hasher.update(&buf[..n]);
                tmp.write_all(&buf[..n])
                    .map_err(|e| self.io_or_full(&tmp_path, e))?;
                size += n as u64;
            }
            tmp.sync_all().map_err(|e| self.io_or_full(&tmp_path, e))?;
            let sha256 = hex::encode(hasher.finalize());
            let dest = self.path(&sha256);
            if dest.is_file() {
                let _ = fs::remove_file(&tmp_path);
            } else {
                let dir = dest.parent().unwrap_or(&self.root).to_owned();
                let new_dir = !dir.is_dir();
                fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                fs::rename(&tmp_path, &dest).map_err(io_err(&dest))?;
                sync_dir(&dir)?;
                if new_dir {
                    // The new prefix folder's own entry must survive a power cut too.
                    sync_dir(&self.root.join("blobs"))?;
                }
            }
            Ok(BlobInfo { sha256, size })
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp_path);
        }
        result
    }

    fn io_or_full(&self, path: &Path, e: io::Error) -> StoreError {
        if e.kind() == io::ErrorKind::StorageFull {
            StoreError::DiskFull {
                path: self.root.clone(),
                available_mb: 0,
                floor_mb: self.min_free_bytes / (1024 * 1024),
            }
        } else {
            io_err(path)(e)
        }
    }

    /// Reads back a blob and checks it still matches its name (bit rot, tampering).
    pub fn verify(&self, sha256: &str) -> StoreResult<bool> {
        let path = self.path(sha256);
        let mut file = File::open(&path).map_err(io_err(&path))?;
        let mut hasher = Sha256::new();
        io::copy(&mut file, &mut hasher).map_err(io_err(&path))?;
        Ok(hex::encode(hasher.finalize()) == sha256)
    }

    /// Deletes a blob (only called once the gateway confirmed it and retention passed).
    pub fn remove(&self, sha256: &str) -> StoreResult<()> {
        let path = self.path(sha256);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_is_content_addressed_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), 0).unwrap();
        let a = store.put_bytes(b"hello").unwrap();
        assert_eq!(
            a.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(a.size, 5);
        assert_eq!(std::fs::read(store.path(&a.sha256)).unwrap(), b"hello");
        let b = store.put_bytes(b"hello").unwrap();
        assert_eq!(a, b);
        assert!(store.verify(&a.sha256).unwrap());
        std::fs::write(store.path(&a.sha256), b"hellO").unwrap();
        assert!(!store.verify(&a.sha256).unwrap());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn floor_refuses_new_blobs_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), u64::MAX / 2).unwrap();
        let err = store.put_bytes(b"x").unwrap_err();
        assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
        assert!(err.citizen_message().contains("bộ nhớ đầy"));
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn only_stale_temporary_files_are_cleared_on_open() {
        let dir = tempfile::tempdir().unwrap();
        BlobStore::open(dir.path(), 0).unwrap();
        let old = dir.path().join("tmp/123.part");
        let young = dir.path().join("tmp/456.part");
        std::fs::write(&old, b"half").unwrap();
        std::fs::write(&young, b"being written by another process").unwrap();
        let long_ago = std::time::SystemTime::now() - STALE_TMP_AGE * 2;
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        BlobStore::open(dir.path(), 0).unwrap();
        assert!(!old.exists());
        assert!(young.exists());
    }

    #[test]
    fn names_that_are_not_hashes_never_reach_outside_the_blob_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), 0).unwrap();
        for bad in ["../../etc/passwd", "/etc/passwd", "a", "", "ZZ"] {
            assert!(!store.contains(bad));
            assert!(store.path(bad).starts_with(dir.path().join("blobs")));
        }
    }
}
