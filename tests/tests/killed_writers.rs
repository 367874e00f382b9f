//! Writers killed in the middle of a write: kioskctl processes submitting dossiers are killed
//! with SIGKILL at random moments (a process crash; the page cache survives, so this does not
//! prove the fsyncs, which the store's design and the blob tests cover). Every dossier that was acknowledged must be there afterwards, whole,
//! with intact attachments; no code may be issued twice; the store must pass SQLite's integrity
//! check and keep accepting work.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use motcua_kiosk::config::KioskConfig;
use motcua_store::Store;
use motcua_tests::{bin, dossier_json, random_file, Kiosk, KioskSettings};
use rand::Rng;

#[test]
fn killing_writers_at_random_loses_no_acknowledged_dossier() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let kiosk = Kiosk::create(
        &tmp.path().join("k"),
        &KioskSettings::new("http://127.0.0.1:9"),
    )?;
    let mut acknowledged = Vec::new();
    let mut killed = 0;
    for i in 0..40 {
        let file = format!("scan-{i}.pdf");
        random_file(&tmp.path().join(&file), 1_000_000)?;
        let json = dossier_json(tmp.path(), "1.001193", &[&file])?;
        let child = Command::new(bin("kioskctl"))
            .arg("--config")
            .arg(&kiosk.config)
            .arg("submit")
            .arg(&json)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(rand::rng().random_range(0..40)));
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        let out = child.wait_with_output()?;
        if out.status.success() {
            acknowledged.push(String::from_utf8(out.stdout)?.trim().to_owned());
        } else {
            killed += 1;
        }
    }
    assert!(
        killed > 0,
        "no writer was interrupted; the test proved nothing"
    );

    let config = KioskConfig::load(&kiosk.config)?;
    let store = Store::open(&config.store.data_dir, 0)?;
    let listed = store.list_dossiers(1000)?;
    let codes: HashSet<_> = listed.iter().map(|d| d.code.clone()).collect();
    assert_eq!(codes.len(), listed.len(), "a code was issued twice");
    for code in &acknowledged {
        assert!(codes.contains(code), "acknowledged dossier {code} was lost");
    }
    for d in &listed {
        let submission = store.dossier(&d.code)?.expect("listed dossier readable");
        assert_eq!(submission.documents.len(), 1);
        let sha = &submission.documents[0].sha256;
        assert!(
            store.blobs().verify(sha)?,
            "attachment of {} damaged",
            d.code
        );
    }
    assert_eq!(store.outbox_status()?.pending as usize, listed.len());
    let conn = rusqlite::Connection::open(config.store.data_dir.join("kiosk.sqlite3"))?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(check, "ok");
    drop(store);

    // The kiosk keeps working, with the next number.
    random_file(&tmp.path().join("after.pdf"), 1000)?;
    let json = dossier_json(tmp.path(), "1.001193", &["after.pdf"])?;
    let next = kiosk.ctl_ok(&["submit", json.to_str().unwrap_or_default()])?;
    assert!(
        !codes.contains(next.trim()),
        "code {next} reused after the crashes"
    );
    for entry in std::fs::read_dir(config.store.data_dir.join("tmp"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        assert!(name.ends_with(".part"), "unexpected file {name} in tmp/");
    }
    Ok(())
}
