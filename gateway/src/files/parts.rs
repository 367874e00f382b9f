//! The parts of a multipart upload written while a blob is assembled, a few at a time in the
//! background. `object_store`'s `WriteMultipart` would do, but when its last part fails its
//! `finish` returns without aborting the upload, and S3 keeps (and bills) the parts of an
//! upload nobody aborted: here every failure leaves the caller able to abort.

use bytes::BytesMut;
use object_store::{MultipartUpload, PutPayload};
use tokio::task::JoinSet;

/// A multipart upload fed in parts of `part_bytes` (the last one shorter), at most
/// `concurrency` in flight.
pub(super) struct Parts {
    upload: Box<dyn MultipartUpload>,
    tasks: JoinSet<object_store::Result<()>>,
    buffer: BytesMut,
    part_bytes: usize,
    concurrency: usize,
}

impl Parts {
    pub(super) fn new(
        upload: Box<dyn MultipartUpload>,
        part_bytes: usize,
        concurrency: usize,
    ) -> Self {
        Self {
            upload,
            tasks: JoinSet::new(),
            buffer: BytesMut::new(),
            part_bytes,
            concurrency: concurrency.max(1),
        }
    }

    /// Appends bytes, sending each full part (waiting while `concurrency` parts are in flight).
    pub(super) async fn write(&mut self, bytes: &[u8]) -> object_store::Result<()> {
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= self.part_bytes {
            let part = self.buffer.split_to(self.part_bytes).freeze();
            self.send(part).await?;
        }
        Ok(())
    }

    /// Sends the last part, waits for every part and completes the upload.
    pub(super) async fn finish(&mut self) -> object_store::Result<()> {
        if !self.buffer.is_empty() {
            let part = self.buffer.split().freeze();
            self.send(part).await?;
        }
        self.wait_until(0).await?;
        self.upload.complete().await.map(|_| ())
    }

    /// Stops the parts in flight and aborts the upload (its parts are deleted).
    pub(super) async fn abort(&mut self) -> object_store::Result<()> {
        self.tasks.shutdown().await;
        self.upload.abort().await
    }

    async fn send(&mut self, part: bytes::Bytes) -> object_store::Result<()> {
        self.wait_until(self.concurrency - 1).await?;
        // The part number is taken here, in order; the upload itself runs in the background.
        self.tasks
            .spawn(self.upload.put_part(PutPayload::from_bytes(part)));
        Ok(())
    }

    /// Waits until at most `in_flight` parts are running; the first failure is returned.
    async fn wait_until(&mut self, in_flight: usize) -> object_store::Result<()> {
        while self.tasks.len() > in_flight {
            match self.tasks.join_next().await {
                Some(Ok(result)) => result?,
                Some(Err(source)) => return Err(object_store::Error::JoinError { source }),
                None => break,
            }
        }
        Ok(())
    }
}
