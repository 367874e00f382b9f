//! The tus `checksum` extension on both backends: discovery names it and sha256; a PATCH with
//! `Upload-Checksum` is kept only if its body matches (460 and the offset unchanged otherwise,
//! with no object left behind, also for a body of several segments), a later correct PATCH at
//! the same offset goes on; an unknown algorithm or a malformed value is 400; a PATCH without
//! the header appends as before.

#[macro_use]
mod harness;

use base64::Engine;
use harness::*;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};

/// A PATCH at `offset` with `Upload-Checksum: <value>`.
async fn patch_with(
    h: &Harness,
    token: &Cred,
    location: &str,
    offset: u64,
    bytes: &[u8],
    checksum: &str,
) -> reqwest::Response {
    h.req(Method::PATCH, location, Some(token))
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .header("Upload-Checksum", checksum)
        .body(bytes.to_vec())
        .send()
        .await
        .expect("patch")
}

/// `sha256 <base64 digest>` of `bytes`.
fn sha256_of(bytes: &[u8]) -> String {
    format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
    )
}

async fn a_checksummed_patch_is_kept_only_if_it_matches(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let r = h
        .req(Method::OPTIONS, "/v1/uploads", None)
        .send()
        .await
        .expect("options");
    assert_eq!(
        header(&r, "tus-extension"),
        "creation,expiration,termination,checksum"
    );
    assert_eq!(header(&r, "tus-checksum-algorithm"), "sha256");

    let a = h.enroll("KIOSK-A").await;
    let data = blob(60_000, 71);
    let loc = h.new_upload(&a, &data).await;
    let r = patch_with(
        &h,
        &a,
        &loc,
        0,
        &data[..20_000],
        &sha256_of(&data[..20_000]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "20000");

    // A body corrupted on the way (one byte flipped): 460, nothing kept.
    let mut corrupted = data[20_000..40_000].to_vec();
    corrupted[777] ^= 0x20;
    let r = patch_with(
        &h,
        &a,
        &loc,
        20_000,
        &corrupted,
        &sha256_of(&data[20_000..40_000]),
    )
    .await;
    assert_eq!(r.status().as_u16(), 460);
    assert_eq!(header(&r, "upload-offset"), "20000");
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(error_code(r).await, "patch_checksum_mismatch");
    assert_eq!(h.head_offset(&a, &loc).await, 20_000);
    assert_eq!(
        h.stored_bytes(&loc),
        20_000,
        "no object of the refused PATCH is left"
    );

    // Unknown algorithm, malformed value: 400, nothing kept.
    let r = patch_with(
        &h,
        &a,
        &loc,
        20_000,
        &data[20_000..40_000],
        "md5 kAFQmDzST7DWlj99KOF/cg==",
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&r, "tus-checksum-algorithm"), "sha256");
    assert_eq!(error_code(r).await, "checksum_algorithm");
    let r = patch_with(
        &h,
        &a,
        &loc,
        20_000,
        &data[20_000..40_000],
        "sha256 bm90IGEgZGlnZXN0",
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "invalid_checksum");
    assert_eq!(h.head_offset(&a, &loc).await, 20_000);

    // The same bytes sent again, right this time, at the same offset.
    let r = patch_with(
        &h,
        &a,
        &loc,
        20_000,
        &data[20_000..40_000],
        &sha256_of(&data[20_000..40_000]),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "40000");
    // Without the header a PATCH appends as before, and the blob is whole.
    let r = h.patch(&a, &loc, 40_000, &data[40_000..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "60000");
    assert_eq!(h.held(&a, &[&data]).await, [sha_hex(&data)]);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    h.finish().await;
}

async fn a_checksummed_patch_of_several_segments_is_kept_whole_or_not_at_all(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| c.max_upload_bytes = 16 * 1024 * 1024)
        .await;
    let a = h.enroll("KIOSK-A").await;
    // More than two of the gateway's 4 MiB segments in one PATCH.
    let data = blob(9 * 1024 * 1024 + 12_345, 72);
    let loc = h.new_upload(&a, &data).await;
    let mut corrupted = data.clone();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 1;
    let r = patch_with(&h, &a, &loc, 0, &corrupted, &sha256_of(&data)).await;
    assert_eq!(r.status().as_u16(), 460);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert_eq!(h.head_offset(&a, &loc).await, 0);
    assert_eq!(
        h.stored_bytes(&loc),
        0,
        "the segments written before the check are gone"
    );
    // A body longer than the upload keeps nothing either (it cannot be checked).
    let mut longer = data.clone();
    longer.push(0);
    let r = patch_with(&h, &a, &loc, 0, &longer, &sha256_of(&longer)).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert_eq!(h.stored_bytes(&loc), 0);

    let r = patch_with(&h, &a, &loc, 0, &data, &sha256_of(&data)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), data.len().to_string());
    assert_eq!(h.held(&a, &[&data]).await, [sha_hex(&data)]);
    assert_eq!(h.stats().await["uploads_in_progress"], 0);
    h.finish().await;
}

scenarios!(
    a_checksummed_patch_is_kept_only_if_it_matches,
    a_checksummed_patch_of_several_segments_is_kept_whole_or_not_at_all,
);
