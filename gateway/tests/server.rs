//! The gateway as a running server, against both storage backends: restarts, the routes
//! the OpenAPI document promises, the binary, the connection limit, and a configuration
//! refused at start.
//! The harness (a throwaway CA, clients with client certificates) is in `harness/`.

#[macro_use]
mod harness;

use std::time::Duration;

use harness::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncReadExt;

async fn restart_keeps_everything_and_uploads_resume(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let doc = blob(2048, 31);
    h.upload_all(&token, &doc).await;
    let code = "000.17.22.H56-260531-0003";
    let d = dossier("KIOSK-1", code, vec![document(&doc)]);
    assert_eq!(
        h.post_json("/v1/dossiers", &token, Some("d-1"), &d)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        h.post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", code, 1)
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        h.post_json(
            "/v1/tickets",
            &token,
            Some("t-1"),
            &ticket("KIOSK-1", "HT-20260531-1@KIOSK-1", 1)
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let big = blob(80_000, 41);
    let loc = h.new_upload(&token, &big).await;
    assert_eq!(
        h.patch(&token, &loc, 0, &big[..30_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    let before = h.stats().await;

    h.restart().await;
    // Simulate a crash after a segment reached the object store but before the database
    // recorded it: the recorded offset is the truth and the stray object is never used.
    std::fs::write(
        h.upload_dir(&loc)
            .join(format!("{:020}-{}", 30_000, "e".repeat(32))),
        b"GARBAGE NOT RECORDED",
    )
    .expect("stray object");

    assert_eq!(h.stats().await, before);
    if backend == Backend::Sqlite {
        let db = rusqlite::Connection::open(h.dir.path().join("gateway.sqlite3")).expect("open db");
        let mode: String = db
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let (version, rows, distinct): (i64, i64, i64) = db
            .query_row(
                "SELECT MAX(version), COUNT(*), COUNT(DISTINCT version) FROM schema_version",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("schema version");
        // Not a fixed number: migrations are appended as the schema grows (their numbers may
        // have gaps while branches are merged).
        assert!(version >= 7, "schema version {version}");
        assert_eq!(
            rows, distinct,
            "each migration ran once, not again at restart"
        );
    }
    let r = h.lookup(&token, code, SECRET).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the device certificate and the dossier survive a restart"
    );
    let r = h.post_json("/v1/dossiers", &token, Some("d-1"), &d).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a retry after the restart is still recognised"
    );
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-9"),
            &rating("KIOSK-1", code, 3),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let offset = h.head_offset(&token, &loc).await;
    assert_eq!(offset, 30_000);
    assert_eq!(
        h.patch(&token, &loc, offset, &big[30_000..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&big)),
            Some(&h.system),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), big.as_slice());
    let after = h.stats().await;
    assert_eq!(after["dossiers"], 1);
    assert_eq!(after["blobs"], 2);
    assert_eq!(after["uploads_in_progress"], 0);
    assert_eq!(
        h.stored_bytes(&loc),
        0,
        "the upload's objects, stray one included, are gone"
    );
    h.finish().await;
}

/// Every route in the OpenAPI document is served by the router (not the not-found or
/// method-not-allowed fallback), and the router serves nothing the document omits.
async fn documented_routes_are_served(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let doc: Value = serde_json::from_str(&motcua_gateway::openapi_json()).expect("openapi JSON");
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut served = motcua_gateway::served_routes();
    served.sort();
    assert_eq!(documented, served);
    for (method, path) in served {
        let concrete = path
            .replace("{id}", "0123")
            .replace("{code}", "X-1")
            .replace("{serial}", "0a0b")
            .replace("{sha256}", &sha_hex(b"x"));
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let r = h.req(m, &concrete, None).send().await.expect("request");
        assert_ne!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if r.status() == StatusCode::NOT_FOUND {
            assert_ne!(
                error_code(r).await,
                "not_found",
                "{method} {path} fell through to the router's fallback"
            );
        }
    }
    let r = h
        .req(Method::GET, "/v1/nothing-here", None)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "not_found");
    h.finish().await;
}

/// The `gateway` binary prints its address, serves, and stops on SIGTERM.
async fn binary_serves_and_stops_on_sigterm(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let data_dir = h.dir.path().join("bin");
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
    .arg(&data_dir)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true);
    if let Some(pg) = &h.pg {
        // A second gateway on the harness's database: it needs the same lookup key.
        cmd.args(["--database-url", &pg.url])
            .arg("--lookup-key-file")
            .arg(h.dir.path().join(motcua_gateway::LOOKUP_KEY_FILE_NAME));
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
        assert!(n == 1, "stdout closed before the address line");
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).expect("utf-8");
    let addr = line
        .trim()
        .strip_prefix("gateway listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let r = h
        .http
        .get(format!("https://{addr}/v1/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), StatusCode::OK);
    let pid = child.id().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits on SIGTERM")
        .expect("wait");
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(data_dir.join("blobs").is_dir());
    h.finish().await;
}

/// With every connection slot taken, the gateway accepts no further connection until one ends;
/// then the waiting peer is served.
async fn connections_beyond_the_limit_wait_for_a_free_slot(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    h.reboot_with(|c| c.max_connections = 1).await;
    // The one slot: a connection that has finished its handshake, so the gateway took it.
    let holder = tls_connect(&h.addr(), rustls_client(&h.ca_pem, None))
        .await
        .expect("first connection");
    let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let waiting = {
        let (request, released) = (h.http.get(h.url("/v1/health")), released.clone());
        tokio::spawn(async move {
            let r = request.send().await.expect("served once a slot is free");
            (
                r.status(),
                released.load(std::sync::atomic::Ordering::SeqCst),
            )
        })
    };
    // Give the second peer every chance to be (wrongly) served while the slot is held.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served beyond the connection limit");
    released.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(holder);
    let (status, after_release) = waiting.await.expect("task");
    assert_eq!(status, StatusCode::OK);
    assert!(
        after_release,
        "served only after the first connection ended"
    );
    h.finish().await;
}

/// A device certificate lifetime beyond what the CA has left is a configuration error at start
/// (even an absurd one: no overflow).
async fn a_device_lifetime_beyond_the_ca_is_refused_at_start(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    for lifetime in [
        motcua_gateway::CA_LIFETIME + Duration::from_secs(86_400),
        Duration::from_secs(u64::MAX),
    ] {
        let mut config = h.config();
        config.device_cert_lifetime = lifetime;
        let refused = motcua_gateway::start(config)
            .await
            .err()
            .expect("refused at start");
        let message = refused.to_string();
        assert!(
            message.contains("longer than the CA") && message.contains("--device-cert-days"),
            "{message}"
        );
    }
    h.finish().await;
}

scenarios!(
    restart_keeps_everything_and_uploads_resume,
    documented_routes_are_served,
    binary_serves_and_stops_on_sigterm,
    connections_beyond_the_limit_wait_for_a_free_slot,
    a_device_lifetime_beyond_the_ca_is_refused_at_start,
);
