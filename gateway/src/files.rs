//! Blob bytes and in-progress uploads in an object store (the `object_store` crate), for both
//! database backends: S3-compatible storage in production ([`s3`]), local files under the data
//! directory as the embedded default.
//!
//! Keys (on local files they are the paths under `<data_dir>`, so the layout of older gateways
//! stays readable: a gateway upgraded in place serves the blobs it holds):
//! - complete blobs: `blobs/<first 2 hex>/<sha256 hex>`, content-addressed, so the same
//!   document uploaded twice is stored once;
//! - in-progress uploads: `uploads/<id>/<start offset, 20 digits>-<lease holder>`, one object per
//!   segment a PATCH stored (the holder in the key means that a writer that lost its lease can
//!   never overwrite a segment another instance recorded), and `uploads/<id>/blob-<holder>`
//!   while a finished upload is assembled; `uploads/<id>.part` is an older gateway's file,
//!   taken over as the upload's first segment.
//!
//! Durability rule: an object is durable before the database names it (a segment's row, a
//! blob's row), the SHA-256 of an assembled blob is checked before it is moved to its blob key,
//! and segments are deleted only after the blob row committed. After a crash the database is
//! the truth: objects it does not name are garbage, removed by the sweep.
//!
//! Local files are `object_store`'s `LocalFileSystem` (writes to a temporary file, renamed into
//! place), which does not fsync. Rather than keep a second implementation of the trait, each
//! write here is followed by an fsync of the file and of every directory from its parent up to
//! the data directory ([`Files::durable`]): the layout is known, and a newly created
//! `blobs/xx/` or `uploads/<id>/` directory survives a power cut only if its parent is synced
//! too. S3 needs none of this: a put is durable when it returns.

mod parts;
pub(crate) mod s3;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
pub(crate) use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use crate::store::Segment;
use crate::GatewayError;
pub use s3::{BlobStorage, S3Credentials, S3Storage};

/// Parts of an S3 multipart upload: S3 refuses parts under 5 MiB except the last.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts uploaded at once while a blob is assembled.
const PART_CONCURRENCY: usize = 2;

/// A stream of an object's bytes.
pub(crate) type ByteStream = futures_util::stream::BoxStream<'static, Result<Bytes, GatewayError>>;

/// Where the gateway keeps its bytes.
#[derive(Clone)]
pub(crate) struct Files {
    store: Arc<dyn ObjectStore>,
    /// The data directory when the store is local files (what [`Files::durable`] fsyncs).
    local: Option<PathBuf>,
    /// Names the store in errors and logs (never a credential).
    name: Arc<str>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files").field("store", &self.name).finish()
    }
}

impl Files {
    /// Opens the store: local files under `data_dir` (created if needed), or the S3 bucket.
    pub async fn open(data_dir: &Path, storage: &BlobStorage) -> Result<Self, GatewayError> {
        match storage {
            BlobStorage::Local => Self::open_local(data_dir).await,
            BlobStorage::S3(s3) => s3::open(s3).map(|(store, name)| Self {
                store,
                local: None,
                name: name.into(),
            }),
        }
    }

    async fn open_local(data_dir: &Path) -> Result<Self, GatewayError> {
        for dir in [
            data_dir.to_path_buf(),
            data_dir.join("uploads"),
            data_dir.join("blobs"),
        ] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|source| GatewayError::CreateDir { path: dir, source })?;
        }
        let store = object_store::local::LocalFileSystem::new_with_prefix(data_dir)
            .map_err(|e| GatewayError::ObjectStore {
                store: format!("local files in {}", data_dir.display()),
                action: "open",
                key: String::new(),
                source: Box::new(e),
            })?
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(store),
            local: Some(data_dir.to_path_buf()),
            name: format!("local files in {}", data_dir.display()).into(),
        })
    }

    fn err(&self, action: &'static str, key: &Key) -> impl Fn(object_store::Error) -> GatewayError {
        let (store, key) = (self.name.to_string(), key.to_string());
        move |e| GatewayError::ObjectStore {
            store: store.clone(),
            action,
            key: key.clone(),
            source: Box::new(e),
        }
    }

    /// The key of a blob. `sha256` must be validated hex (64 chars).
    pub fn blob_key(sha256: &str) -> Key {
        Key::from(format!("blobs/{}/{sha256}", &sha256[..2]))
    }

    /// The key of a segment starting at `start`, written under the lease `holder`.
    pub fn segment_key(upload_id: &str, start: u64, holder: &str) -> Key {
        Key::from(format!("uploads/{upload_id}/{start:020}-{holder}"))
    }

    /// The `.part` file of an older gateway (local files only).
    pub fn legacy_part_key(upload_id: &str) -> Key {
        Key::from(format!("uploads/{upload_id}.part"))
    }

    /// Stores a segment durably.
    pub async fn put(&self, key: &Key, bytes: Bytes) -> Result<(), GatewayError> {
        self.store
            .put(key, PutPayload::from_bytes(bytes))
            .await
            .map_err(self.err("store", key))?;
        self.durable(key).await
    }

    /// The size of an object, `None` if there is none.
    pub async fn size(&self, key: &Key) -> Result<Option<u64>, GatewayError> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("read the size of", key)(e)),
        }
    }

    /// The first `length` bytes of an object, streamed; `None` if the object is missing or
    /// shorter (a short one may also stream fewer bytes: the caller counts them).
    async fn read_prefix(
        &self,
        key: &Key,
        length: u64,
    ) -> Result<Option<ByteStream>, GatewayError> {
        if length == 0 {
            return Ok(Some(futures_util::stream::empty().boxed()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..length)),
            ..GetOptions::default()
        };
        match self.store.get_opts(key, options).await {
            Ok(got) => {
                let err = self.err("read", key);
                Ok(Some(got.into_stream().map_err(err).boxed()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            // An empty object refuses any range: say missing only if it is short indeed.
            Err(e) => match self.size(key).await? {
                Some(size) if size >= length => Err(self.err("read", key)(e)),
                _ => Ok(None),
            },
        }
    }

    /// Streams `segments` in order into the object `staging` (a multipart upload in parts of
    /// [`PART_BYTES`]), hashing on the way; returns the SHA-256 (lowercase hex) and the size,
    /// or `None` if a segment's object is missing or short (acknowledged bytes were lost: the
    /// upload must restart). The object is durable when this returns; nothing names it yet.
    /// Whatever goes wrong, the multipart upload is aborted (S3 would keep its parts).
    pub async fn assemble(
        &self,
        segments: &[Segment],
        staging: &Key,
    ) -> Result<Option<(String, u64)>, GatewayError> {
        let upload = self
            .store
            .put_multipart(staging)
            .await
            .map_err(self.err("start assembling", staging))?;
        let mut writer = parts::Parts::new(upload, PART_BYTES, PART_CONCURRENCY);
        let written = match self.write_segments(segments, staging, &mut writer).await {
            Ok(Some(found)) => writer
                .finish()
                .await
                .map(|()| Some(found))
                .map_err(self.err("finish assembling", staging)),
            other => other,
        };
        if !matches!(written, Ok(Some(_))) {
            if let Err(e) = writer.abort().await {
                tracing::warn!(key = %staging, error = %e, "an interrupted assembly was not aborted; the store's lifecycle rules must remove its parts");
            }
            return written;
        }
        self.durable(staging).await?;
        written
    }

    /// The body of [`Files::assemble`].
    async fn write_segments(
        &self,
        segments: &[Segment],
        staging: &Key,
        writer: &mut parts::Parts,
    ) -> Result<Option<(String, u64)>, GatewayError> {
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for segment in segments {
            let key = Key::from(segment.key.as_str());
            let mut read = 0u64;
            if let Some(mut stream) = self.read_prefix(&key, segment.length).await? {
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk?;
                    hasher.update(&chunk);
                    read += chunk.len() as u64;
                    writer
                        .write(&chunk)
                        .await
                        .map_err(self.err("assemble", staging))?;
                }
            }
            if read != segment.length {
                tracing::warn!(key = %segment.key, read, recorded = segment.length, "a recorded segment is missing or short");
                return Ok(None);
            }
            size += read;
        }
        Ok(Some((hex::encode(hasher.finalize()), size)))
    }

    /// Moves a verified, durable assembled object to its blob key (local files: an atomic
    /// rename; S3: a server-side copy, then the staging object is deleted). A blob already
    /// there has the same bytes (its key is their hash): replacing it changes nothing.
    pub async fn publish(&self, staging: &Key, sha256: &str) -> Result<(), GatewayError> {
        let blob = Self::blob_key(sha256);
        self.store
            .rename(staging, &blob)
            .await
            .map_err(self.err("store the blob", &blob))?;
        self.durable(&blob).await
    }

    /// A blob's size and bytes.
    pub async fn blob(&self, sha256: &str) -> Result<(u64, ByteStream), GatewayError> {
        let key = Self::blob_key(sha256);
        let got = self.store.get(&key).await.map_err(self.err("read", &key))?;
        let size = got.meta.size;
        let err = self.err("read", &key);
        Ok((size, got.into_stream().map_err(err).boxed()))
    }

    /// The bytes `range` of an object (within its size: the caller checked), streamed; a
    /// release package served to a kiosk that resumes its download.
    pub async fn read_range(
        &self,
        key: &Key,
        range: std::ops::Range<u64>,
    ) -> Result<ByteStream, GatewayError> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(range)),
            ..GetOptions::default()
        };
        let got = self
            .store
            .get_opts(key, options)
            .await
            .map_err(self.err("read", key))?;
        let err = self.err("read", key);
        Ok(got.into_stream().map_err(err).boxed())
    }

    /// Deletes an object; a missing one is fine.
    pub async fn delete(&self, key: &Key) -> Result<(), GatewayError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", key)(e)),
        }
    }

    /// Deletes every object of an upload: its segments, a blob being assembled, an older
    /// gateway's `.part` file.
    pub async fn delete_upload(&self, upload_id: &str) -> Result<(), GatewayError> {
        let prefix = Key::from(format!("uploads/{upload_id}"));
        let keys: Vec<Key> = self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(self.err("list", &prefix))?;
        for key in keys {
            self.delete(&key).await?;
        }
        self.delete(&Self::legacy_part_key(upload_id)).await
    }

    /// Ids of uploads with objects last written before `before` (at most `limit`): the sweep
    /// deletes those whose upload finished or went (a crash between a commit and the deletion,
    /// a writer that lost its lease, an older gateway's `.part` files).
    pub async fn stale_uploads(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<String>, GatewayError> {
        let prefix = Key::from("uploads");
        let mut listing = self.store.list(Some(&prefix));
        let mut ids: Vec<String> = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(self.err("list", &prefix))?;
            if meta.last_modified >= before {
                continue;
            }
            let mut parts = meta.location.parts();
            let _uploads = parts.next();
            let Some(first) = parts.next() else { continue };
            let id = first.as_ref().trim_end_matches(".part").to_string();
            if !id.is_empty() && !ids.contains(&id) {
                ids.push(id);
                if ids.len() >= limit {
                    break;
                }
            }
        }
        Ok(ids)
    }

    /// On local files, fsyncs the object's file and every directory from its parent up to the
    /// data directory, so the file and the directory entries leading to it survive a power
    /// cut (a rename or a new directory is durable only once its parent is synced).
    async fn durable(&self, key: &Key) -> Result<(), GatewayError> {
        let Some(root) = self.local.clone() else {
            return Ok(());
        };
        let path = root.join(key.as_ref());
        blocking("fsync a stored object", move || {
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| GatewayError::file("fsync", &path, e))?;
            let mut dir = path.parent();
            while let Some(d) = dir {
                sync_dir(d)?;
                if d == root {
                    break;
                }
                dir = d.parent();
            }
            Ok(())
        })
        .await
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
