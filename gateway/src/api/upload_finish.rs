//! The end of an upload: its recorded segments streamed in order into one object while
//! hashed, the SHA-256 checked before that object moves to its blob key and the database
//! records the blob, and the segments deleted only once the blob is durable and recorded.
//! A wrong hash puts the upload back to offset 0 (charged again to the day's bytes).

use futures_util::StreamExt;
use object_store::path::Path as Key;
use sha2::{Digest, Sha256};

use super::state::{now_vn, AppState};
use super::upload_lease::Lease;
use super::upload_quota::quota_now;
use crate::files::Files;
use crate::store::{ResetCharge, Segment, Upload};
use crate::GatewayError;

pub(super) enum Finish {
    Complete,
    Mismatch,
    /// A mismatch, and the upload's restart would pass the day's quota: it was removed.
    MismatchOverQuota,
    /// A recorded segment's object is missing or short: the upload restarted at offset 0
    /// (not charged again: the loss is the gateway's, not the kiosk's).
    Restarted,
    /// Another request took the lease over: nothing was changed or deleted.
    LeaseLost,
}

/// The segments of a leased upload if they hold exactly its bytes `0 .. offset`; an older
/// gateway's `.part` file is taken over as its first segment. `None`: acknowledged bytes are
/// missing, and the upload must restart.
pub(super) async fn checked_segments(
    state: &AppState,
    upload: &Upload,
    lease: &Lease,
) -> Result<Option<Vec<Segment>>, GatewayError> {
    let segments = state.0.store.segments(&upload.id).await?;
    let mut end = 0u64;
    let contiguous = segments.iter().all(|s| {
        let ok = s.start == end;
        end = end.saturating_add(s.length);
        ok
    });
    if contiguous && end == upload.offset {
        return Ok(Some(segments));
    }
    if segments.is_empty() {
        let key = Files::legacy_part_key(&upload.id);
        if state
            .0
            .files
            .size(&key)
            .await?
            .is_some_and(|n| n >= upload.offset)
        {
            let segment = Segment {
                start: 0,
                length: upload.offset,
                key: key.to_string(),
            };
            if state
                .0
                .store
                .record_segment(&upload.id, lease.holder(), upload.offset, &segment)
                .await?
            {
                tracing::info!(upload = %upload.id, offset = upload.offset, "an older gateway's upload file taken over");
                return Ok(Some(vec![segment]));
            }
        }
    }
    tracing::warn!(upload = %upload.id, offset = upload.offset, recorded = end, "an upload's stored bytes do not match its offset; it restarts at 0");
    Ok(None)
}

/// Puts a leased upload back to offset 0 and deletes its objects (the database first: an
/// object left behind is garbage the sweep removes); `false`, and nothing deleted, if the
/// lease is another request's now (the objects may be its new segments).
pub(super) async fn restart(
    state: &AppState,
    upload: &Upload,
    lease: &Lease,
) -> Result<bool, GatewayError> {
    if !state
        .0
        .store
        .reset_upload(&upload.id, lease.holder())
        .await?
    {
        tracing::warn!(upload = %upload.id, "the upload's lease was taken over; it is not restarted here");
        return Ok(false);
    }
    state.0.files.delete_upload(&upload.id).await?;
    Ok(true)
}

/// Verifies a fully received upload and stores its blob, or resets it to offset 0 if its
/// content does not match the announced SHA-256; the restart is charged to the day's bytes
/// like a new upload (past the quota the upload is removed instead). Also finishes an upload
/// an older gateway moved to its blob file before a crash lost the database's commit.
pub(super) async fn finish(
    state: &AppState,
    upload: &Upload,
    lease: &Lease,
) -> Result<Finish, GatewayError> {
    let files = &state.0.files;
    let verified = match checked_segments(state, upload, lease).await? {
        Some(segments) => {
            let staging = Key::from(format!("uploads/{}/blob-{}", upload.id, lease.holder()));
            let Some((actual, size)) = files.assemble(&segments, &staging).await? else {
                if !restart(state, upload, lease).await? {
                    return Ok(Finish::LeaseLost);
                }
                tracing::warn!(upload = %upload.id, "an upload's stored bytes are missing; it restarts at 0");
                return Ok(Finish::Restarted);
            };
            let good = actual == upload.sha256 && size == upload.length;
            if good {
                files.publish(&staging, &upload.sha256).await?;
            } else if let Err(e) = files.delete(&staging).await {
                tracing::warn!(upload = %upload.id, error = %e, "a mismatched assembly was not deleted; the sweep removes it");
            }
            good
        }
        None => blob_already_there(files, upload).await?,
    };
    if verified {
        state.0.store.complete_upload(upload, &now_vn()).await?;
        tracing::info!(upload = %upload.id, size = upload.length, "blob stored");
        // The blob is durable and recorded: only now may its segments go.
        if let Err(e) = files.delete_upload(&upload.id).await {
            tracing::warn!(upload = %upload.id, error = %e, "a finished upload's segments were not deleted; the sweep removes them");
        }
        state.0.store.drop_segments(&upload.id).await?;
        return Ok(Finish::Complete);
    }
    let (quota, _) = quota_now(state);
    // The reset, the charge and any deletion happen only while the lease is this request's.
    let finish = match state
        .0
        .store
        .charge_reset(upload, lease.holder(), &quota)
        .await?
    {
        ResetCharge::LeaseLost => {
            tracing::warn!(upload = %upload.id, "upload content does not match its sha256, but its lease was taken over: left to the new holder");
            return Ok(Finish::LeaseLost);
        }
        ResetCharge::OverQuota => {
            tracing::warn!(upload = %upload.id, device_id = %upload.device_id, "upload content does not match its sha256; its restart would pass the day's quota: removed");
            Finish::MismatchOverQuota
        }
        ResetCharge::Charged => {
            tracing::warn!(upload = %upload.id, "upload content does not match its sha256; reset to offset 0");
            Finish::Mismatch
        }
    };
    files.delete_upload(&upload.id).await?;
    Ok(finish)
}

/// Whether the blob object of `upload` is present with the right bytes (an older gateway
/// renamed its `.part` file into place, then crashed before its database commit).
async fn blob_already_there(files: &Files, upload: &Upload) -> Result<bool, GatewayError> {
    if files.size(&Files::blob_key(&upload.sha256)).await? != Some(upload.length) {
        return Ok(false);
    }
    let (_, mut stream) = files.blob(&upload.sha256).await?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        hasher.update(&chunk?);
    }
    Ok(hex::encode(hasher.finalize()) == upload.sha256)
}
