//! Two gateway processes (the real binary) on one PostgreSQL and one object store, as behind a
//! load balancer: a kiosk's uploads go to both in turn, one process is killed (SIGKILL) in the
//! middle of a PATCH and the other continues, and two PATCHes of one upload race on the two.
//! Every blob must arrive once and read back byte-identical.
//!
//! The object store is the S3 test server when `MOTCUA_TEST_S3_ENDPOINT` is set (scripts/test.sh
//! starts `s3s-fs`), else one data folder both processes share. PostgreSQL only: the embedded
//! SQLite mode is single-instance.

#[macro_use]
mod harness;

use std::path::Path;
use std::time::Duration;

use harness::*;
use reqwest::{Method, StatusCode};
use tokio::io::AsyncReadExt;

/// The lease of a PATCH, short so that the upload a killed process held is free soon.
const LEASE_S: &str = "2";

/// Deterministic bytes without a short period (a misplaced segment changes them).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One running `gateway serve` process.
struct Instance {
    child: tokio::process::Child,
    base: String,
}

async fn spawn(h: &Harness, data_dir: &Path, log: &Path) -> Instance {
    let pg = h.pg.as_ref().expect("PostgreSQL");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--enrollment-key",
        ENROLL_KEY,
    ])
    .arg("--tls-cert-file")
    .arg(&h.pki.tls_cert_file)
    .arg("--tls-key-file")
    .arg(&h.pki.tls_key_file)
    .arg("--ca-cert-file")
    .arg(&h.pki.ca_cert_file)
    .arg("--ca-key-file")
    .arg(&h.pki.ca_key_file)
    .arg("--data-dir")
    .arg(data_dir)
    .args(["--database-url", &pg.url, "--upload-lease-seconds", LEASE_S])
    // Every gateway on one PostgreSQL has the same lookup key (the harness's).
    .arg("--lookup-key-file")
    .arg(h.dir.path().join(motcua_gateway::LOOKUP_KEY_FILE_NAME))
    // And the same ID number key (the first to start makes it).
    .arg("--id-key-file")
    .arg(h.dir.path().join(motcua_gateway::ID_KEY_FILE_NAME))
    .stdout(std::process::Stdio::piped())
    .stderr(std::fs::File::create(log).expect("log file"))
    .kill_on_drop(true);
    if let Some((s3, bucket)) = &pg.s3 {
        cmd.args(["--s3-endpoint", &s3.endpoint, "--s3-bucket", bucket])
            .arg("--s3-credentials-file")
            .arg(&s3.credentials_file);
    }
    let mut child = cmd.spawn().expect("spawn gateway binary");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), stdout.read(&mut byte))
            .await
            .expect("the binary prints its address within 30 s")
            .expect("read stdout");
        assert!(
            n == 1,
            "stdout closed before the address line: {}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).expect("utf-8");
    let addr = line
        .trim()
        .strip_prefix("gateway listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_string();
    Instance {
        child,
        base: format!("https://{addr}"),
    }
}

fn req(cred: &Cred, method: Method, base: &str, path: &str) -> reqwest::RequestBuilder {
    cred.client
        .request(method, format!("{base}{path}"))
        .header("Tus-Resumable", "1.0.0")
}

async fn create(kiosk: &Cred, base: &str, data: &[u8]) -> String {
    use base64::Engine;
    let sha = base64::engine::general_purpose::STANDARD.encode(sha_hex(data));
    let r = req(kiosk, Method::POST, base, "/v1/uploads")
        .header("Upload-Length", data.len().to_string())
        .header("Upload-Metadata", format!("sha256 {sha}"))
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::CREATED);
    header(&r, "location")
}

async fn patch(
    kiosk: &Cred,
    base: &str,
    loc: &str,
    offset: usize,
    body: &[u8],
) -> reqwest::Response {
    req(kiosk, Method::PATCH, base, loc)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", offset.to_string())
        .body(body.to_vec())
        .send()
        .await
        .expect("patch")
}

async fn head(kiosk: &Cred, base: &str, loc: &str) -> u64 {
    let r = req(kiosk, Method::HEAD, base, loc)
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::OK);
    header(&r, "upload-offset").parse().expect("offset")
}

/// The blob as the provincial system reads it from `base`.
async fn read_blob(h: &Harness, base: &str, data: &[u8]) -> Vec<u8> {
    let r = h
        .system
        .client
        .get(format!("{base}/v1/blobs/{}", sha_hex(data)))
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    r.bytes().await.expect("bytes").to_vec()
}

#[tokio::test]
async fn two_instances_share_uploads_and_survive_a_kill() {
    let Some(h) = Harness::start(Backend::Postgres).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-1").await;
    // Separate data folders with S3; one shared folder otherwise (the object store then).
    let shared = h.pg.as_ref().is_some_and(|p| p.s3.is_none());
    let dir = |name: &str| {
        if shared {
            h.dir.path().join("shared")
        } else {
            h.dir.path().join(name)
        }
    };
    let mut a = spawn(&h, &dir("a"), &h.dir.path().join("a.log")).await;
    let b = spawn(&h, &dir("b"), &h.dir.path().join("b.log")).await;

    // Uploads sent alternately to both: a 9 MiB scan (several segments, two multipart parts)
    // and two small ones, each PATCH to the other instance than the one before.
    let blobs = [
        noise(9 * 1024 * 1024 + 12_345, 1),
        noise(300_000, 2),
        noise(70_001, 3),
    ];
    for (n, data) in blobs.iter().enumerate() {
        let bases = [&a.base, &b.base];
        let loc = create(&kiosk, bases[n % 2], data).await;
        let chunk = data.len().div_ceil(5);
        for (i, part) in data.chunks(chunk).enumerate() {
            let r = patch(&kiosk, bases[(n + i + 1) % 2], &loc, i * chunk, part).await;
            assert_eq!(r.status(), StatusCode::NO_CONTENT, "blob {n} PATCH {i}");
        }
        assert_eq!(&read_blob(&h, bases[n % 2], data).await, data, "blob {n}");
        assert_eq!(
            &read_blob(&h, bases[(n + 1) % 2], data).await,
            data,
            "blob {n}"
        );
    }

    // A PATCH to A whose body stalls after 600 000 bytes; A is killed meanwhile.
    let data = noise(2 * 1024 * 1024 + 7, 4);
    let loc = create(&kiosk, &b.base, &data).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let cut = req(&kiosk, Method::PATCH, &a.base, &loc)
        .header("Content-Type", "application/offset+octet-stream")
        .header("Upload-Offset", "0")
        .header("Content-Length", data.len().to_string())
        .body(body)
        .send();
    let cut = tokio::spawn(cut);
    tx.send(Ok(data[..600_000].to_vec())).await.expect("send");
    // A stores a stalled body's bytes after a second; B sees the recorded offset.
    let mut offset = 0;
    for _ in 0..400 {
        offset = head(&kiosk, &b.base, &loc).await;
        if offset == 600_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(offset, 600_000, "A stored the first bytes");
    a.child.start_kill().expect("SIGKILL A");
    a.child.wait().await.expect("A is gone");
    assert!(
        cut.await.expect("task").is_err(),
        "the cut PATCH got no answer"
    );
    drop(tx);
    // B continues from the recorded offset once A's lease has run out (409 `upload_busy`
    // until then, if B's wait for the lease is not long enough).
    assert_eq!(head(&kiosk, &b.base, &loc).await, 600_000);
    let mut status = StatusCode::CONFLICT;
    for _ in 0..40 {
        let r = patch(&kiosk, &b.base, &loc, 600_000, &data[600_000..]).await;
        status = r.status();
        if status != StatusCode::CONFLICT {
            break;
        }
        assert_eq!(error_code(r).await, "upload_busy");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "B finished the upload A started"
    );
    assert_eq!(read_blob(&h, &b.base, &data).await, data);

    // Two PATCHes of one upload at once, one to each instance (A started again), their bodies
    // sent slowly so that they overlap: one stores the blob, the other is refused with 409.
    let a = spawn(&h, &dir("a"), &h.dir.path().join("a2.log")).await;
    let raced = noise(1024 * 1024 + 3, 5);
    let loc = create(&kiosk, &a.base, &raced).await;
    let slow = |base: String| {
        let (kiosk, loc, raced) = (kiosk.clone(), loc.clone(), raced.clone());
        tokio::spawn(async move {
            let chunks: Vec<Vec<u8>> = raced.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
            let body = futures_util::stream::iter(chunks).then(|c| async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                Ok::<_, std::io::Error>(c)
            });
            req(&kiosk, Method::PATCH, &base, &loc)
                .header("Content-Type", "application/offset+octet-stream")
                .header("Upload-Offset", "0")
                .header("Content-Length", raced.len().to_string())
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
        })
    };
    use futures_util::StreamExt;
    let (one, two) = (slow(a.base.clone()), slow(b.base.clone()));
    let mut statuses = Vec::new();
    for r in [one.await.expect("task"), two.await.expect("task")] {
        let r = r.expect("an answer from each instance");
        let status = r.status();
        if status == StatusCode::CONFLICT {
            let code = error_code(r).await;
            assert!(
                code == "upload_busy" || code == "offset_mismatch",
                "conflict {code}"
            );
        }
        statuses.push(status);
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::NO_CONTENT, StatusCode::CONFLICT],
        "one PATCH won, the other was refused"
    );
    assert_eq!(read_blob(&h, &a.base, &raced).await, raced);
    assert_eq!(read_blob(&h, &b.base, &raced).await, raced);

    // Every blob once, nothing left in progress.
    let stats = h.stats().await;
    assert_eq!(stats["blobs"], 5);
    assert_eq!(stats["uploads_in_progress"], 0);
    drop((a, b));
    h.finish().await;
}
