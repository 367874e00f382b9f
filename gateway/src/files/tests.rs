//! Assembly on local files: segments across several parts become one byte-identical object,
//! and a missing or short segment is reported and leaves no object. (That the multipart upload
//! is aborted cannot be seen here: local files clean a dropped one up too.)

use super::*;

fn noise(len: usize, seed: u8) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([seed]);
    let mut out = Vec::with_capacity(len);
    let mut block = h.finalize();
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out.truncate(len);
    out
}

async fn store_segments(files: &Files, data: &[u8], sizes: &[usize]) -> Vec<Segment> {
    let mut start = 0usize;
    let mut segments = Vec::new();
    for &size in sizes {
        let key = Files::segment_key("u1", start as u64, "h");
        files
            .put(&key, Bytes::copy_from_slice(&data[start..start + size]))
            .await
            .unwrap();
        segments.push(Segment {
            start: start as u64,
            length: size as u64,
            key: key.to_string(),
        });
        start += size;
    }
    segments
}

#[tokio::test]
async fn segments_across_several_parts_are_assembled_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::open(dir.path(), &BlobStorage::Local).await.unwrap();
    // 19 MiB + 5: three parts of PART_BYTES, the last one short.
    let sizes = [4 << 20, 4 << 20, 4 << 20, 4 << 20, (3 << 20) + 5];
    let data = noise(sizes.iter().sum(), 1);
    let segments = store_segments(&files, &data, &sizes).await;
    let staging = Key::from("uploads/u1/blob-h");
    let (sha, size) = files
        .assemble(&segments, &staging)
        .await
        .unwrap()
        .expect("every segment is there");
    assert_eq!(size, data.len() as u64);
    assert_eq!(sha, hex::encode(Sha256::digest(&data)));
    let stored = std::fs::read(dir.path().join("uploads/u1/blob-h")).unwrap();
    assert!(stored == data, "the assembled object is byte-identical");
}

#[tokio::test]
async fn a_missing_or_short_segment_is_reported_and_leaves_no_object() {
    let dir = tempfile::tempdir().unwrap();
    let files = Files::open(dir.path(), &BlobStorage::Local).await.unwrap();
    let sizes = [6 << 20, 6 << 20, 1000];
    let data = noise(sizes.iter().sum(), 2);
    let staging = Key::from("uploads/u1/blob-h");

    let segments = store_segments(&files, &data, &sizes).await;
    files
        .delete(&Key::from(segments[2].key.as_str()))
        .await
        .unwrap();
    assert_eq!(files.assemble(&segments, &staging).await.unwrap(), None);
    assert_eq!(files.size(&staging).await.unwrap(), None, "no object");

    let segments = store_segments(&files, &data, &sizes).await;
    let short = Key::from(segments[1].key.as_str());
    files
        .put(&short, Bytes::copy_from_slice(&data[..100]))
        .await
        .unwrap();
    assert_eq!(files.assemble(&segments, &staging).await.unwrap(), None);
    assert_eq!(files.size(&staging).await.unwrap(), None, "no object");
    let empty = Key::from(segments[0].key.as_str());
    files.put(&empty, Bytes::new()).await.unwrap();
    assert_eq!(files.assemble(&segments, &staging).await.unwrap(), None);
}
