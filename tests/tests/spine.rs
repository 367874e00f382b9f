//! The data spine end to end, across real processes: a dossier with 3 attachments (6 MB) is
//! submitted through kioskctl; the gateway is killed mid-upload and restarted; kioskd is killed
//! with SIGKILL mid-upload and restarted; in the end the gateway holds exactly one copy of the
//! dossier and byte-identical attachments. Run on the embedded SQLite backend and on PostgreSQL.

use std::time::Duration;

use motcua_tests::{dossier_json, random_file, wait_for, Backend, Gateway, Kiosk, KioskSettings};
use sha2::{Digest, Sha256};

const PROCEDURE: &str = "1.001193";

/// Bytes confirmed so far across all uploads in progress (0 when none is in progress).
fn uploaded(kiosk: &Kiosk) -> anyhow::Result<(u64, u64)> {
    let status = kiosk.status()?;
    let uploads = status["uploads"].as_array().cloned().unwrap_or_default();
    let done: u64 = uploads
        .iter()
        .filter_map(|u| u["uploaded_bytes"].as_u64())
        .sum();
    let total: u64 = uploads.iter().filter_map(|u| u["size"].as_u64()).sum();
    Ok((done, total))
}

async fn crash_everything_mid_upload(backend: Backend) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let Some(mut gateway) = Gateway::start_on(backend, &tmp.path().join("gateway")).await? else {
        return Ok(());
    };

    // 1 MiB/s with 256 KiB checkpoints: the 6 MB take ~6 s, time enough to crash things.
    let settings = KioskSettings {
        max_rate_kib_per_s: 1024,
        ..KioskSettings::new(&gateway)
    };
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &settings)?;
    let identity = kiosk.identity_pem()?;

    let mut originals = Vec::new();
    for (name, size) in [
        ("a.pdf", 2_500_000),
        ("b.jpg", 2_000_000),
        ("c.png", 1_000_000),
    ] {
        originals.push(random_file(&tmp.path().join(name), size)?);
    }
    let json = dossier_json(tmp.path(), PROCEDURE, &["a.pdf", "b.jpg", "c.png"])?;
    let code = kiosk.submit(&json)?;
    assert!(code.starts_with("000.17.22.H56-"), "dossier code {code:?}");

    kiosk.start_daemon()?;
    let before_gateway_crash = wait_for(Duration::from_secs(30), "upload to start", || {
        let (done, _) = uploaded(&kiosk)?;
        Ok((done > 0).then_some(done))
    })?;
    gateway.kill();
    // The gateway stays down until the kiosk has noticed: a failed attempt is recorded.
    wait_for(
        Duration::from_secs(30),
        "the kiosk to record the gateway's outage",
        || kiosk.last_error(),
    )?;
    gateway.restart()?;

    let before_kiosk_crash = wait_for(Duration::from_secs(30), "upload to resume", || {
        let (done, _) = uploaded(&kiosk)?;
        Ok((done > before_gateway_crash + 512 * 1024).then_some(done))
    })?;
    kiosk.kill_daemon();
    let (after_kill, total) = uploaded(&kiosk)?;
    assert!(after_kill < total, "the kill must land mid-upload");
    assert!(
        after_kill >= before_kiosk_crash,
        "confirmed progress is durable"
    );
    kiosk.start_daemon()?;

    kiosk.wait_delivered(Duration::from_secs(60), "the outbox to drain")?;

    let stats = gateway.stats().await?;
    assert_eq!(stats["dossiers"], 1, "{stats}");
    assert_eq!(stats["blobs"], 3, "{stats}");
    let view: serde_json::Value = gateway
        .lookup_as_device(&identity, &code, &kiosk.lookup_secret(&code)?)
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(view["code"], code.as_str());
    assert_eq!(view["status"], "submitted");
    assert_eq!(
        view["documents"].as_array().map(Vec::len),
        Some(0),
        "devices see no documents"
    );
    let full = gateway.set_status(&code, "accepted").await?;
    assert_eq!(full["status_code"], 2);
    let docs = full["documents"].as_array().cloned().unwrap_or_default();
    assert_eq!(docs.len(), 3);
    for (doc, original) in docs.iter().zip(&originals) {
        let sha = doc["sha256"].as_str().unwrap_or_default();
        assert_eq!(sha, hex::encode(Sha256::digest(original)));
        let denied = gateway
            .get_as_device(&identity, &format!("/v1/blobs/{sha}"))
            .await?;
        assert_eq!(denied.status(), 403, "a device must not read documents");
        let denied = gateway
            .get_as("technician", &format!("/v1/blobs/{sha}"))
            .await?;
        assert_eq!(
            denied.status(),
            403,
            "a technician must not read citizens' scans"
        );
        let bytes = gateway.blob(sha).await?;
        assert!(
            bytes[..] == original[..],
            "attachment {sha} differs at the gateway"
        );
    }

    // A crash between the gateway's acknowledgement and the kiosk recording it: the entry is
    // sent again, and the idempotency key keeps it a single copy.
    kiosk.kill_daemon();
    let db = kiosk.data_dir().join("kiosk.sqlite3");
    rewind_outbox(&db)?;
    kiosk.start_daemon()?;
    kiosk.wait_delivered(Duration::from_secs(30), "the replay to be acknowledged")?;
    let stats = gateway.stats().await?;
    assert_eq!(stats["dossiers"], 1, "a replay must not duplicate: {stats}");
    assert!(
        kiosk.daemon_log().contains("duplicate=true"),
        "the replay should be acknowledged as a duplicate"
    );
    Ok(())
}

/// Marks every outbox entry undelivered again, as if the kiosk lost power right after the
/// gateway acknowledged but before the kiosk committed that.
fn rewind_outbox(db: &std::path::Path) -> anyhow::Result<()> {
    let conn = rusqlite::Connection::open(db)?;
    conn.execute(
        "UPDATE outbox SET delivered_at = NULL, next_attempt_ms = 0",
        [],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_mid_upload_sqlite_backend() -> anyhow::Result<()> {
    crash_everything_mid_upload(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_mid_upload_postgres_backend() -> anyhow::Result<()> {
    crash_everything_mid_upload(Backend::Postgres).await
}
