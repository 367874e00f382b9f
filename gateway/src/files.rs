//! Blob bytes on local disk, for both database backends.
//!
//! - In-progress uploads: `<data_dir>/uploads/<id>.part`, appended to by PATCH requests.
//! - Complete blobs: `<data_dir>/blobs/<first 2 hex>/<sha256 hex>`, content-addressed, so the same
//!   document uploaded twice is stored once.
//!
//! Durability rule: a file is fsynced before its length is recorded in the database, and a blob
//! is renamed into place atomically and its directory fsynced before the database says it exists.
//! After a crash the database is the truth; the `.part` file is cut back to the recorded offset.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::GatewayError;

/// Where the gateway keeps its files.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    uploads: PathBuf,
    blobs: PathBuf,
}

impl Files {
    /// Creates the directories if needed.
    pub async fn open(data_dir: &Path) -> Result<Self, GatewayError> {
        let files = Self {
            uploads: data_dir.join("uploads"),
            blobs: data_dir.join("blobs"),
        };
        for dir in [data_dir, &files.uploads, &files.blobs] {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| GatewayError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        Ok(files)
    }

    /// The `.part` file of an upload.
    pub fn part_path(&self, upload_id: &str) -> PathBuf {
        self.uploads.join(format!("{upload_id}.part"))
    }

    /// The final place of a blob. `sha256` must be validated hex (64 chars).
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blobs.join(&sha256[..2]).join(sha256)
    }

    /// Opens the `.part` file for appending at `offset`, cutting off anything past it (bytes a
    /// crash or a disconnect left beyond what the database recorded). Returns `None` when the
    /// file is shorter than `offset`: bytes that were acknowledged are gone, and the caller
    /// must restart the upload.
    pub async fn open_part_at(
        &self,
        upload_id: &str,
        offset: u64,
    ) -> Result<Option<std::fs::File>, GatewayError> {
        let path = self.part_path(upload_id);
        blocking("open the upload file", move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| GatewayError::file("open the upload file", &path, e))?;
            let len = file
                .metadata()
                .map_err(|e| GatewayError::file("read the size of", &path, e))?
                .len();
            if len < offset {
                return Ok(None);
            }
            if len > offset {
                file.set_len(offset)
                    .map_err(|e| GatewayError::file("cut back the upload file", &path, e))?;
                file.sync_all()
                    .map_err(|e| GatewayError::file("fsync the upload file", &path, e))?;
            }
            let mut file = file;
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| GatewayError::file("seek in the upload file", &path, e))?;
            Ok(Some(file))
        })
        .await
    }

    /// Brings an existing `.part` file back to `offset` without creating one (used by HEAD).
    /// Returns false when acknowledged bytes are missing and the upload must restart at 0.
    pub async fn repair_part(&self, upload_id: &str, offset: u64) -> Result<bool, GatewayError> {
        let path = self.part_path(upload_id);
        blocking("check the upload file", move || {
            let file = match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(offset == 0),
                Err(e) => return Err(GatewayError::file("open the upload file", &path, e)),
            };
            let len = file
                .metadata()
                .map_err(|e| GatewayError::file("read the size of", &path, e))?
                .len();
            if len > offset {
                file.set_len(offset)
                    .map_err(|e| GatewayError::file("cut back the upload file", &path, e))?;
                file.sync_all()
                    .map_err(|e| GatewayError::file("fsync the upload file", &path, e))?;
            }
            Ok(len >= offset)
        })
        .await
    }

    /// Removes an upload's `.part` file (after a checksum mismatch); a missing file is fine.
    pub async fn remove_part(&self, upload_id: &str) -> Result<(), GatewayError> {
        let path = self.part_path(upload_id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(GatewayError::file("delete the upload file", path, e)),
        }
    }

    /// Ids of `.part` files last written before `before` (at most `limit` of them): the sweep
    /// removes those no upload names any more (a crash between the row's removal and the
    /// file's, or an upload removed on another gateway sharing the directory).
    pub async fn stale_parts(
        &self,
        before: std::time::SystemTime,
        limit: usize,
    ) -> Result<Vec<String>, GatewayError> {
        let dir = self.uploads.clone();
        blocking("list the upload files", move || {
            let list_err = |e| GatewayError::file("list the upload files in", &dir, e);
            let mut stale = Vec::new();
            for entry in std::fs::read_dir(&dir).map_err(list_err)? {
                let entry = entry.map_err(list_err)?;
                let name = entry.file_name();
                let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".part")) else {
                    continue;
                };
                // A file gone meanwhile, or whose time cannot be read, is not stale.
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < before);
                if old && !id.is_empty() {
                    stale.push(id.to_string());
                    if stale.len() >= limit {
                        break;
                    }
                }
            }
            Ok(stale)
        })
        .await
    }

    /// SHA-256 (lowercase hex) of a file, read in chunks.
    pub async fn sha256_of(path: PathBuf) -> Result<String, GatewayError> {
        blocking("hash a file", move || {
            let mut file = std::fs::File::open(&path)
                .map_err(|e| GatewayError::file("open for hashing", &path, e))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = file
                    .read(&mut buf)
                    .map_err(|e| GatewayError::file("read for hashing", &path, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Ok(hex::encode(hasher.finalize()))
        })
        .await
    }

    /// Moves a fully received, verified (and already fsynced) `.part` file to its blob path:
    /// rename is atomic, and both directories are fsynced so the rename itself survives a crash.
    pub async fn promote(&self, upload_id: &str, sha256: &str) -> Result<(), GatewayError> {
        let part = self.part_path(upload_id);
        let blob = self.blob_path(sha256);
        let uploads = self.uploads.clone();
        blocking("store a blob", move || {
            let dir = blob.parent().map(Path::to_path_buf).unwrap_or_default();
            std::fs::create_dir_all(&dir).map_err(|source| GatewayError::CreateDir {
                path: dir.clone(),
                source,
            })?;
            std::fs::rename(&part, &blob)
                .map_err(|e| GatewayError::file("move the finished upload to", &blob, e))?;
            sync_dir(&dir)?;
            sync_dir(&uploads)
        })
        .await
    }

    /// Whether the blob file is present (used to finish an upload whose rename happened but whose
    /// database commit did not, before a crash).
    pub async fn blob_file_exists(&self, sha256: &str) -> bool {
        tokio::fs::try_exists(self.blob_path(sha256))
            .await
            .unwrap_or(false)
    }
}

/// fsyncs a directory so that renames and new entries in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), GatewayError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| GatewayError::file("fsync the directory", dir, e))
}

/// Runs blocking file work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(action: &'static str, f: F) -> Result<T, GatewayError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, GatewayError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| GatewayError::join(action, e))?
}
