//! tus uploads over HTTPS on loopback, against both storage backends: uploads in several
//! patches and resumed, refusals, checksum mismatches, deduplication, empty blobs, and what
//! survives an interrupted PATCH or garbage beyond the recorded offset.
//! The harness (a throwaway CA, clients with client certificates) is in `harness/`.

#[macro_use]
mod harness;

use std::time::Duration;

use base64::Engine;
use harness::*;
use reqwest::{Method, StatusCode};
use tokio::io::AsyncWriteExt;

async fn tus_upload_in_several_patches_and_resume(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;

    let r = h
        .req(Method::OPTIONS, "/v1/uploads", None)
        .send()
        .await
        .expect("options");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert!(header(&r, "tus-extension")
        .split(',')
        .any(|e| e.trim() == "creation"));
    assert_eq!(header(&r, "tus-max-size"), (1024 * 1024).to_string());

    let data = blob(100_000, 7);
    let r = h.create_upload(&token, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    let loc = header(&r, "location");
    assert!(loc.starts_with("/v1/uploads/"), "{loc}");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    assert_eq!(h.stats().await["uploads_in_progress"], 1);

    let r = h.patch(&token, &loc, 0, &data[..30_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "30000");
    let r = h.patch(&token, &loc, 30_000, &data[30_000..60_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // The kiosk lost track: it asks where to resume.
    let offset = h.head_offset(&token, &loc).await;
    assert_eq!(offset, 60_000);
    let r = h
        .patch(&token, &loc, offset, &data[offset as usize..])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "100000");
    assert_eq!(h.head_offset(&token, &loc).await, 100_000);

    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    // A device certificate is no key to citizens' documents.
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&token),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "forbidden_role");
    // The provincial system reads blobs with its certificate.
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    let first = sha_hex(&data);
    // Content-addressed, where older gateways kept blobs too (`blobs/xx/<sha256>`).
    assert_eq!(std::fs::read(h.blob_file(&first)).expect("blob file"), data);
    assert_eq!(
        h.stored_bytes(&loc),
        0,
        "the segments are deleted once the blob is stored"
    );

    // Another device cannot see this upload.
    let other = h.enroll("KIOSK-2").await;
    let r = h
        .req(Method::HEAD, &loc, Some(&other))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h
        .req(Method::HEAD, "/v1/uploads/doesnotexist", Some(&token))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(b"never uploaded")),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    h.finish().await;
}

async fn tus_refusals(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(1000, 3);

    // No Tus-Resumable: 400 (a malformed request); another version: 412 naming the one served.
    let meta = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(sha_hex(&data))
    );
    for (version, status, code) in [
        (None, StatusCode::BAD_REQUEST, "tus_resumable_missing"),
        (
            Some("0.2.2"),
            StatusCode::PRECONDITION_FAILED,
            "tus_version",
        ),
    ] {
        let mut r = h
            .req(Method::POST, "/v1/uploads", Some(&token))
            .header("Upload-Length", "1000")
            .header("Upload-Metadata", &meta);
        if let Some(v) = version {
            r = r.header("Tus-Resumable", v);
        }
        let r = r.send().await.expect("create");
        assert_eq!(r.status(), status, "{version:?}");
        assert_eq!(r.headers()["tus-version"], "1.0.0");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["error"], code);
    }
    // Too large: 413.
    let r = h
        .create_upload_claiming(&token, 1024 * 1024 + 1, &sha_hex(&data))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Missing or invalid metadata: 400.
    for meta in [
        None,
        Some("filename YQ=="),
        Some("sha256 !!!"),
        Some("sha256 bm90LWhleA=="),
    ] {
        let mut r = h
            .req(Method::POST, "/v1/uploads", Some(&token))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "1000");
        if let Some(m) = meta {
            r = r.header("Upload-Metadata", m);
        }
        let r = r.send().await.expect("create");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "metadata {meta:?}");
    }
    assert_eq!(h.stats().await["uploads_in_progress"], 0);

    let loc = h.new_upload(&token, &data).await;
    // Wrong content type: 415.
    let r = h
        .req(Method::PATCH, &loc, Some(&token))
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/octet-stream")
        .header("Upload-Offset", "0")
        .body(data.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Offset mismatch: 409, nothing written.
    let r = h.patch(&token, &loc, 10, &data[10..]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "offset_mismatch");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    let r = h.patch(&token, &loc, 0, &data[..500]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = h.patch(&token, &loc, 0, &data[..500]).await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a replayed PATCH at an old offset is refused"
    );
    assert_eq!(h.head_offset(&token, &loc).await, 500);
    h.finish().await;
}

async fn checksum_mismatch_resets_the_upload(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(4096, 9);
    let loc = h.new_upload(&token, &data).await;
    let mut corrupt = data.clone();
    corrupt[4000] ^= 0xff;
    let r = h.patch(&token, &loc, 0, &corrupt[..2048]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = h.patch(&token, &loc, 2048, &corrupt[2048..]).await;
    assert_eq!(r.status().as_u16(), 460);
    assert_eq!(error_code(r).await, "checksum_mismatch");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    assert_eq!(h.stored_bytes(&loc), 0, "the bad segments are deleted");
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(0), Some(1))
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The kiosk starts again from 0 with the right bytes.
    let r = h.patch(&token, &loc, 0, &data).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.stats().await["blobs"], 1);
    h.finish().await;
}

async fn dedup_of_an_existing_blob(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let other = h.enroll("KIOSK-2").await;
    let data = blob(5000, 1);
    h.upload_all(&token, &data).await;

    // The site holds it: a kiosk asking first sends nothing.
    assert_eq!(h.held(&other, &[&data]).await, [sha_hex(&data)]);
    // A creation stays plain tus (a new upload at 0, as any tus client expects); the bytes
    // sent again are verified and the blob is stored once.
    let r = h.create_upload(&other, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "upload-offset"), "0");
    let loc = header(&r, "location");
    let r = h.patch(&other, &loc, 0, &data).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    h.finish().await;
}

async fn empty_blob_needs_no_patch(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let r = h
        .create_upload_claiming(&token, 0, &sha_hex(b"not empty"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let loc = h.new_upload(&token, b"").await;
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(b"")),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.expect("bytes").is_empty());
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    h.finish().await;
}

/// Sends a PATCH by hand (over TLS, with the device's certificate) and drops the connection
/// halfway through its body.
async fn patch_and_disconnect(
    h: &Harness,
    token: &Cred,
    location: &str,
    offset: u64,
    announced: usize,
    sent: &[u8],
) {
    let addr = h.addr();
    let mut s = tls_connect(&addr, rustls_client(&h.ca_pem, Some(token)))
        .await
        .expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {announced}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(sent).await.expect("write body");
    s.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
}

async fn interrupted_patch_keeps_received_bytes(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(50_000, 21);
    let loc = h.new_upload(&token, &data).await;
    patch_and_disconnect(&h, &token, &loc, 0, data.len(), &data[..20_000]).await;
    // The server notices the disconnect shortly after; poll the durable offset.
    let mut offset = 0;
    for _ in 0..100 {
        offset = h.head_offset(&token, &loc).await;
        if offset == 20_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        offset, 20_000,
        "the bytes received before the disconnect are kept"
    );
    let r = h.patch(&token, &loc, offset, &data[20_000..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
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

/// An object in the upload's folder that the database does not record (a crash between the
/// object store's answer and the commit, a writer that lost its lease) is never part of the blob.
async fn unrecorded_objects_are_ignored(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(10_000, 51);
    let loc = h.new_upload(&token, &data).await;
    assert_eq!(
        h.patch(&token, &loc, 0, &data[..4_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    // Where the next segment would go, under another holder's key.
    let stray = h
        .upload_dir(&loc)
        .join(format!("{:020}-{}", 4_000, "f".repeat(32)));
    std::fs::write(&stray, [0u8; 3000]).expect("stray object");
    assert_eq!(
        h.patch(&token, &loc, 4_000, &data[4_000..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    assert_eq!(
        h.stored_bytes(&loc),
        0,
        "the stray object went with the upload"
    );
    h.finish().await;
}

/// A stalled body's bytes are stored only once there are enough of them (a body trickling a
/// byte a second must not make an object per byte).
async fn a_stall_stores_only_a_worthwhile_segment(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(600_000, 54);
    let loc = h.new_upload(&token, &data).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let patch = h
        .req(Method::PATCH, &loc, Some(&token))
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .header("Content-Length", data.len().to_string())
        .body(body)
        .send();
    let patch = tokio::spawn(patch);
    tx.send(Ok(data[..1_000].to_vec())).await.expect("send");
    // Well past the gateway's one-second stall: a thousand bytes are not stored alone.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    assert_eq!(h.stored_bytes(&loc), 0);
    tx.send(Ok(data[1_000..300_000].to_vec()))
        .await
        .expect("send");
    let mut offset = 0;
    for _ in 0..400 {
        offset = h.head_offset(&token, &loc).await;
        if offset == 300_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(offset, 300_000, "enough bytes are stored at a stall");
    // (A dropped connection stores whatever arrived, however little: see
    // `interrupted_patch_keeps_received_bytes`.)
    drop(tx);
    let _ = patch.await.expect("task");
    assert_eq!(
        h.patch(&token, &loc, 300_000, &data[300_000..])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    h.finish().await;
}

/// A recorded segment whose object went missing (a bucket restored from an older backup, an
/// operator's cleanup) cannot become the blob: the upload restarts at 0 instead of failing
/// with 500 at every try, and the kiosk's new bytes make it whole.
async fn a_missing_segment_restarts_the_upload(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(10_000, 53);
    let loc = h.new_upload(&token, &data).await;
    assert_eq!(
        h.patch(&token, &loc, 0, &data[..4_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    std::fs::remove_dir_all(h.upload_dir(&loc)).expect("segment objects removed");
    let r = h.patch(&token, &loc, 4_000, &data[4_000..]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    assert_eq!(
        h.patch(&token, &loc, 0, &data).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    h.finish().await;
}

/// A gateway upgraded in place finds an upload an older one was receiving, its bytes in
/// `uploads/<id>.part` (perhaps with unrecorded bytes past the offset) and no segment rows:
/// the file becomes the upload's first segment and the upload finishes byte-identical.
async fn an_older_gateways_part_file_is_taken_over(backend: Backend) {
    if backend != Backend::Sqlite {
        return; // The older layout is local files; the database part is the same SQL.
    }
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(10_000, 52);
    let loc = h.new_upload(&token, &data).await;
    assert_eq!(
        h.patch(&token, &loc, 0, &data[..4_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    let id = loc.rsplit('/').next().expect("id");
    let db = rusqlite::Connection::open(h.dir.path().join("gateway.sqlite3")).expect("open db");
    db.execute("DELETE FROM upload_segments", [])
        .expect("forget segments");
    drop(db);
    let _ = std::fs::remove_dir_all(h.upload_dir(&loc));
    let mut part = data[..4_000].to_vec();
    part.extend_from_slice(b"GARBAGE NOT RECORDED");
    std::fs::write(
        h.dir.path().join("uploads").join(format!("{id}.part")),
        &part,
    )
    .expect("part file");
    assert_eq!(h.head_offset(&token, &loc).await, 4_000);
    assert_eq!(
        h.patch(&token, &loc, 4_000, &data[4_000..]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        std::fs::read(h.blob_file(&sha_hex(&data))).expect("blob file"),
        data
    );
    assert!(
        !h.dir
            .path()
            .join("uploads")
            .join(format!("{id}.part"))
            .exists(),
        "the old file went with the upload"
    );
    h.finish().await;
}

scenarios!(
    tus_upload_in_several_patches_and_resume,
    tus_refusals,
    checksum_mismatch_resets_the_upload,
    dedup_of_an_existing_blob,
    empty_blob_needs_no_patch,
    interrupted_patch_keeps_received_bytes,
    unrecorded_objects_are_ignored,
    a_missing_segment_restarts_the_upload,
    a_stall_stores_only_a_worthwhile_segment,
    an_older_gateways_part_file_is_taken_over,
);
