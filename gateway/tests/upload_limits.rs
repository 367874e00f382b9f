//! What the upload limits charge, against both backends: a device asking again for a blob it
//! is uploading gets its unfinished upload back while that holds no byte (a lost 201 or a
//! restart after a checksum mismatch does not leak an open upload or its bytes), a restart after a mismatch is charged
//! to the day's bytes, and the expiry counts from the last accepted PATCH, not the creation.

#[macro_use]
mod harness;

use std::time::Duration;

use harness::*;
use reqwest::{Method, StatusCode};

async fn head_status(h: &Harness, cred: &Cred, loc: &str) -> StatusCode {
    h.req(Method::HEAD, loc, Some(cred))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("head")
        .status()
}

async fn asking_again_for_a_blob_gives_back_its_unfinished_upload(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| c.limits.max_open_uploads = 1).await;
    let kiosk = h.enroll("KIOSK-1").await;
    let other = h.enroll("KIOSK-2").await;
    let data = blob(100_000, 1);
    let loc = h.new_upload(&kiosk, &data).await;
    // A 201 lost on the way: the kiosk asks again and gets the same upload.
    let r = h.create_upload(&kiosk, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "location"), loc);
    assert_eq!(
        h.patch(&kiosk, &loc, 0, &data[..40_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    // Once it holds bytes it is not handed back (a tus client PATCHes a created upload from
    // 0): a creation is a new upload, here refused since the device's one open upload is it.
    let r = h.create_upload(&kiosk, &data).await;
    assert_eq!(error_code(r).await, "too_many_open_uploads");
    // A checksum mismatch: the upload restarts at 0, and asking again gives it back.
    let mut corrupt = data.clone();
    corrupt[90_000] ^= 0xff;
    let r = h.patch(&kiosk, &loc, 40_000, &corrupt[40_000..]).await;
    assert_eq!(r.status().as_u16(), 460);
    let r = h.create_upload(&kiosk, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "location"), loc);
    assert_eq!(header(&r, "upload-offset"), "0");
    // Still one open upload: another blob is refused, another device's same blob is not.
    let r = h.create_upload(&kiosk, &blob(1000, 2)).await;
    assert_eq!(error_code(r).await, "too_many_open_uploads");
    let theirs = h.new_upload(&other, &data).await;
    assert_ne!(theirs, loc);
    assert_eq!(h.stats().await["uploads_in_progress"], 2);
    assert_eq!(
        h.patch(&kiosk, &loc, 0, &data).await.status(),
        StatusCode::NO_CONTENT
    );
    h.finish().await;
}

async fn a_restart_after_a_mismatch_is_charged_to_the_day(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    // The quota holds two and a half of these uploads.
    h.reboot_with(|c| c.limits.upload_bytes_per_day = 1024 * 1024)
        .await;
    let kiosk = h.enroll("KIOSK-1").await;
    let data = blob(400_000, 3);
    let mut corrupt = data.clone();
    corrupt[0] ^= 0xff;
    let loc = h.new_upload(&kiosk, &data).await;
    let r = h.patch(&kiosk, &loc, 0, &corrupt).await;
    assert_eq!(r.status().as_u16(), 460, "the restart fits: 800 000 bytes");
    let r = h.patch(&kiosk, &loc, 0, &corrupt).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = header(&r, "retry-after").parse().expect("seconds");
    assert!((1..=86_400).contains(&retry), "until midnight: {retry}");
    assert_eq!(error_code(r).await, "upload_quota_exceeded");
    // The upload is gone, and a new one does not fit either.
    assert_eq!(head_status(&h, &kiosk, &loc).await, StatusCode::NOT_FOUND);
    let r = h.create_upload(&kiosk, &data).await;
    assert_eq!(error_code(r).await, "upload_quota_exceeded");
    assert_eq!(h.stats().await["uploads_in_progress"], 0);
    h.finish().await;
}

async fn an_upload_being_sent_does_not_expire(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| {
        c.limits.upload_expiry = Duration::from_secs(3);
        c.limits.sweep_interval = Duration::from_millis(100);
    })
    .await;
    let kiosk = h.enroll("KIOSK-1").await;
    // A part file no upload names, last written long ago (a crash between the row's removal
    // and the file's): the sweep removes it.
    // Both layouts: an older gateway's part file, and a segment object.
    let uploads = h.storage_root().join("uploads");
    std::fs::create_dir_all(uploads.join("0123456789abcdef")).unwrap();
    let orphan = uploads.join("0123456789abcdef.part");
    std::fs::write(&orphan, b"left behind").unwrap();
    let orphan_segment = uploads
        .join("0123456789abcdef")
        .join("00000000000000000000-ab");
    std::fs::write(&orphan_segment, b"left behind too").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&orphan_segment)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let data = blob(40_000, 4);
    let loc = h.new_upload(&kiosk, &data).await;
    // Forty PATCHes of 1 000 bytes, one every 150 ms: the upload lives twice its expiry after
    // its creation, never idle for as long as the expiry.
    for (i, chunk) in data.chunks(1000).enumerate() {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let r = h.patch(&kiosk, &loc, (i * 1000) as u64, chunk).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "PATCH {i}");
    }
    assert_eq!(h.stats().await["blobs"], 1);
    assert!(!orphan.exists(), "the orphan part file is removed");
    assert!(!orphan_segment.exists(), "the orphan segment is removed");
    h.finish().await;
}

scenarios!(
    asking_again_for_a_blob_gives_back_its_unfinished_upload,
    a_restart_after_a_mismatch_is_charged_to_the_day,
    an_upload_being_sent_does_not_expire,
);
