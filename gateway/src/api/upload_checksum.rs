//! The tus `checksum` extension: a PATCH may carry `Upload-Checksum: sha256 <base64 of the
//! 32-byte digest>` of its own body. Such a PATCH keeps nothing until the whole body arrived and
//! its digest matched: its segments are written to the object store as the body streams (so
//! memory stays at one segment) but recorded, and the offset moved, only after the check. On a
//! mismatch, an early end or an excess the written objects are deleted and the offset stays
//! where it was; an object a crash leaves unrecorded is garbage the sweep removes, as for any
//! segment (see `crate::files`). This guards a kiosk's chunk against corruption on the way
//! (a proxy, a bad NIC) before it is stored, where the blob's own SHA-256 would only find it
//! at the end and restart the whole upload.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use base64::Engine;
use bytes::BytesMut;
use sha2::{Digest, Sha256};

use super::failure::Failure;
use super::state::AppState;
use super::tus::{TusFailure, UPLOAD_OFFSET};
use super::upload_lease::Lease;
use crate::files::Files;
use crate::store::{Segment, Upload};

pub(super) const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
pub(super) const TUS_CHECKSUM_ALGORITHM: HeaderName =
    HeaderName::from_static("tus-checksum-algorithm");
/// The algorithms served, as `Tus-Checksum-Algorithm` names them.
pub(super) const ALGORITHMS: &str = "sha256";
/// tus checksum extension's status for a checksum mismatch.
pub(super) const CHECKSUM_MISMATCH: u16 = 460;

/// The digest a PATCH announced for its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Checksum([u8; 32]);

/// Reads `Upload-Checksum`: `None` without one (or with an empty value); 400 `checksum_algorithm` (with
/// `Tus-Checksum-Algorithm`) for an algorithm other than sha256, 400 `invalid_checksum` for a
/// value that is not the base64 of 32 bytes.
pub(super) fn upload_checksum(headers: &HeaderMap) -> Result<Option<Checksum>, Failure> {
    let Some(raw) = headers.get(UPLOAD_CHECKSUM) else {
        return Ok(None);
    };
    let bad = |code: &'static str, m: String| Failure::bad_request(code, m).tus();
    let raw = raw.to_str().map_err(|_| {
        bad(
            "invalid_checksum",
            "Upload-Checksum is not text: send 'sha256 <base64 of the digest>'".into(),
        )
    })?;
    if raw.trim().is_empty() {
        // An empty value names no checksum: the PATCH is taken as one without the header.
        return Ok(None);
    }
    let (algorithm, value) = raw.trim().split_once(' ').unwrap_or((raw.trim(), ""));
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(bad(
            "checksum_algorithm",
            format!(
                "thuật toán kiểm tra '{algorithm}' không được hỗ trợ, chỉ có sha256 / the \
                 checksum algorithm '{algorithm}' is not supported: use sha256"
            ),
        )
        .with_header(TUS_CHECKSUM_ALGORITHM, ALGORITHMS));
    }
    let digest = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| {
            bad(
                "invalid_checksum",
                "the Upload-Checksum value must be the base64 of a 32-byte SHA-256 digest".into(),
            )
        })?;
    Ok(Some(Checksum(digest)))
}

/// 460 `patch_checksum_mismatch`: the body differs from its `Upload-Checksum`; nothing of it
/// was kept, the offset is still `offset`.
pub(super) fn patch_mismatch(offset: u64) -> Failure {
    Failure::new(
        StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST),
        "patch_checksum_mismatch",
        format!(
            "nội dung gửi lên không khớp Upload-Checksum, không lưu gì; gửi lại từ vị trí \
             {offset} / the body does not match its Upload-Checksum and nothing of it was \
             kept: send it again from offset {offset}"
        ),
    )
    .with_header(UPLOAD_OFFSET, offset)
    .tus()
}

/// Adds the discovery header of the extension to an OPTIONS answer.
pub(super) fn advertise(headers: &mut HeaderMap) {
    headers.insert(TUS_CHECKSUM_ALGORITHM, HeaderValue::from_static(ALGORITHMS));
}

/// The segments of a checksummed PATCH written but not yet recorded, and the digest of the
/// body so far.
pub(super) struct Pending {
    expected: Checksum,
    hasher: Sha256,
    /// The upload's offset when the PATCH began: where the first segment starts.
    base: u64,
    segments: Vec<Segment>,
}

impl Pending {
    pub(super) fn new(expected: Checksum, base: u64) -> Self {
        Self {
            expected,
            hasher: Sha256::new(),
            base,
            segments: Vec::new(),
        }
    }

    /// Bytes written so far (the next segment starts at `base + written`).
    pub(super) fn written(&self) -> u64 {
        self.segments.iter().map(|s| s.length).sum()
    }

    /// Hashes the buffered bytes and writes them as an unrecorded segment object.
    pub(super) async fn write(
        &mut self,
        state: &AppState,
        upload: &Upload,
        lease: &Lease,
        buffer: &mut BytesMut,
    ) -> Result<(), Failure> {
        if buffer.is_empty() {
            return Ok(());
        }
        let bytes = buffer.split().freeze();
        self.hasher.update(&bytes);
        let start = self.base + self.written();
        let key = Files::segment_key(&upload.id, start, lease.holder());
        state.0.files.put(&key, bytes.clone()).await?;
        self.segments.push(Segment {
            start,
            length: bytes.len() as u64,
            key: key.to_string(),
        });
        Ok(())
    }

    /// Whether the body's digest is the announced one.
    pub(super) fn matches(&self) -> bool {
        self.hasher.clone().finalize().as_slice() == self.expected.0
    }

    /// Records the segments in order (offset compare-and-set under the lease each); returns the
    /// new offset, or `None` if the lease was taken over (the unrecorded rest is deleted).
    pub(super) async fn record(
        mut self,
        state: &AppState,
        upload: &Upload,
        lease: &Lease,
    ) -> Result<Option<u64>, Failure> {
        let mut offset = self.base;
        let segments = std::mem::take(&mut self.segments);
        for (i, segment) in segments.iter().enumerate() {
            let recorded = !lease.is_lost()
                && state
                    .0
                    .store
                    .record_segment(&upload.id, lease.holder(), offset, segment)
                    .await?;
            if !recorded {
                self.segments = segments[i..].to_vec();
                self.discard(state, upload).await;
                return Ok(None);
            }
            offset += segment.length;
        }
        Ok(Some(offset))
    }

    /// Deletes the written objects (none of them is recorded); a failure is left to the sweep.
    pub(super) async fn discard(self, state: &AppState, upload: &Upload) {
        for segment in self.segments {
            let key = object_store::path::Path::from(segment.key.as_str());
            if let Err(e) = state.0.files.delete(&key).await {
                tracing::warn!(upload = %upload.id, error = %e, "an unrecorded segment was not deleted; the sweep removes it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(UPLOAD_CHECKSUM, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn the_header_names_sha256_and_a_32_byte_digest() {
        assert_eq!(upload_checksum(&HeaderMap::new()).unwrap(), None);
        let digest = Sha256::digest(b"abc");
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        let mut h = HeaderMap::new();
        h.insert(
            UPLOAD_CHECKSUM,
            HeaderValue::from_str(&format!("sha256 {b64}")).unwrap(),
        );
        assert_eq!(upload_checksum(&h).unwrap(), Some(Checksum(digest.into())));
        for (value, code) in [
            ("md5 kAFQmDzST7DWlj99KOF/cg==", "checksum_algorithm"),
            ("sha1", "checksum_algorithm"),
            ("sha256 bm90IGEgZGlnZXN0", "invalid_checksum"),
            ("sha256 !!!", "invalid_checksum"),
            ("sha256", "invalid_checksum"),
        ] {
            let e = upload_checksum(&with(value)).expect_err(value);
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{value}");
            assert_eq!(e.code(), code, "{value}");
        }
    }
}
