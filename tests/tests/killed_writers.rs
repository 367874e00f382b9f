//! Writers killed in the middle of a write: kioskctl processes submitting dossiers are killed
//! with SIGKILL at random moments while others write beside them (a process crash; the page
//! cache survives, so this does not prove the fsyncs, which the store's design and the blob tests
//! cover). A submission is acknowledged when `kioskctl submit` exits successfully and prints its
//! code. Every kill round must acknowledge some submissions (else the test proved nothing), and
//! every acknowledged dossier must be there afterwards, whole, with the attachment that was
//! submitted, and must reach the gateway once kioskd runs; no code may be issued twice; the store
//! must pass SQLite's integrity check and keep accepting work.

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use motcua_store::Store;
use motcua_tests::{bin, dossier_json, random_file, Gateway, Kiosk, KioskSettings};
use rand::Rng;
use sha2::{Digest, Sha256};

const ROUNDS: usize = 8;
/// Writers killed at a random moment in each round.
const KILLED_PER_ROUND: usize = 4;
/// Attachment size: big enough that a kill often lands mid-write.
const SIZE: usize = 1_000_000;

/// A dossier ready to submit from its own folder, and the SHA-256 of its attachment.
struct Prepared {
    json: PathBuf,
    sha256: String,
}

/// A `kioskctl submit` process and the SHA-256 of the attachment it submits.
struct Writer {
    child: Child,
    sha256: String,
}

/// Writes a dossier with a fresh random attachment in `dir`.
fn prepare(dir: &Path) -> anyhow::Result<Prepared> {
    std::fs::create_dir_all(dir)?;
    let bytes = random_file(&dir.join("scan.pdf"), SIZE)?;
    Ok(Prepared {
        json: dossier_json(dir, "1.001193", &["scan.pdf"])?,
        sha256: hex::encode(Sha256::digest(&bytes)),
    })
}

/// Starts `kioskctl submit` of a prepared dossier.
fn spawn_writer(kiosk: &Kiosk, dossier: Prepared) -> anyhow::Result<Writer> {
    let child = Command::new(bin("kioskctl"))
        .arg("--config")
        .arg(&kiosk.config)
        .arg("submit")
        .arg(&dossier.json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    Ok(Writer {
        child,
        sha256: dossier.sha256,
    })
}

/// How a writer ended: acknowledged with its code, or killed (`None`). Any other failure is one
/// of the test: a writer that was not killed must not fail.
fn outcome(writer: Writer, name: &str) -> anyhow::Result<Option<(String, String)>> {
    let out = writer.child.wait_with_output()?;
    if out.status.success() {
        let code = String::from_utf8(out.stdout)?.trim().to_owned();
        assert!(!code.is_empty(), "{name} was acknowledged without a code");
        return Ok(Some((code, writer.sha256)));
    }
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{name} failed without being killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(None)
}

#[test]
fn killing_writers_at_random_loses_no_acknowledged_dossier() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("k"), &KioskSettings::new(&gateway))?;

    // One writer left alone tells how long a submission takes here; the kills are spread over
    // 1.5 times that, so some land mid-write and some after the acknowledgement.
    let mut acknowledged: HashMap<String, String> = HashMap::new();
    bin("kioskctl"); // built on first use: not part of the timing
    let first = prepare(&tmp.path().join("first"))?;
    let started = Instant::now();
    let (code, sha) = outcome(spawn_writer(&kiosk, first)?, "the first writer")?
        .expect("the first writer was not killed");
    let full = started.elapsed();
    acknowledged.insert(code, sha);

    let mut killed = 0;
    let mut acknowledged_amid_kills = 0;
    for round in 0..ROUNDS {
        // The writers of a round run side by side; the last one is never killed, so every round
        // has a submission acknowledged while others are killed around it.
        let dossiers = (0..=KILLED_PER_ROUND)
            .map(|w| prepare(&tmp.path().join(format!("r{round}-w{w}"))))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let round_start = Instant::now();
        let mut writers = dossiers
            .into_iter()
            .map(|d| spawn_writer(&kiosk, d))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut kill_at: Vec<(Duration, usize)> = (0..KILLED_PER_ROUND)
            .map(|w| (full.mul_f64(rand::rng().random_range(0.0..1.5)), w))
            .collect();
        kill_at.sort();
        // Which writers were still at work when a sibling was killed: an acknowledgement from
        // one of them was at stake while the store's other writers died around it.
        let mut running_at_a_kill = vec![false; writers.len()];
        for (at, w) in kill_at {
            std::thread::sleep(at.saturating_sub(round_start.elapsed()));
            for (i, other) in writers.iter_mut().enumerate() {
                if i != w && matches!(other.child.try_wait(), Ok(None)) {
                    running_at_a_kill[i] = true;
                }
            }
            let _ = writers[w].child.kill();
        }
        let mut acknowledged_this_round = 0;
        for (w, writer) in writers.into_iter().enumerate() {
            let name = format!("round {round} writer {w}");
            match outcome(writer, &name)? {
                Some((code, sha)) => {
                    acknowledged_this_round += 1;
                    if running_at_a_kill[w] {
                        acknowledged_amid_kills += 1;
                    }
                    assert!(
                        acknowledged.insert(code.clone(), sha).is_none(),
                        "code {code} acknowledged twice"
                    );
                }
                None => {
                    assert!(w < KILLED_PER_ROUND, "{name} was killed by no one");
                    killed += 1;
                }
            }
        }
        assert!(
            acknowledged_this_round >= 1,
            "round {round}: no submission was acknowledged, so nothing was at stake"
        );
    }
    println!(
        "one submission took {full:?}; {} acknowledged ({acknowledged_amid_kills} while others were killed), {killed} killed",
        acknowledged.len()
    );
    assert!(
        killed > 0,
        "no writer was interrupted; the test proved nothing"
    );
    assert!(
        acknowledged_amid_kills > 0,
        "no acknowledged writer was still at work when another was killed: no acknowledgement was at stake"
    );
    assert!(
        acknowledged.len() > ROUNDS,
        "only {} submissions acknowledged in {ROUNDS} rounds",
        acknowledged.len()
    );

    // After the crashes the store is opened anew: every acknowledged dossier is there with the
    // attachment that was submitted, intact.
    let data_dir = kiosk.data_dir();
    let store = Store::open(&data_dir, 0)?;
    let listed = store.list_dossiers(1000)?;
    let codes: HashSet<_> = listed.iter().map(|d| d.code.clone()).collect();
    assert_eq!(codes.len(), listed.len(), "a code was issued twice");
    for (code, sha) in &acknowledged {
        assert!(codes.contains(code), "acknowledged dossier {code} was lost");
        let submission = store.dossier(code)?.expect("acknowledged dossier readable");
        assert_eq!(submission.documents.len(), 1, "documents of {code}");
        assert_eq!(
            &submission.documents[0].sha256, sha,
            "acknowledged dossier {code} holds another attachment than the one submitted"
        );
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
    let conn = rusqlite::Connection::open(data_dir.join("kiosk.sqlite3"))?;
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(check, "ok");
    drop(conn);
    drop(store);

    // The kiosk keeps working, with the next number.
    random_file(&tmp.path().join("after.pdf"), 1000)?;
    let json = dossier_json(tmp.path(), "1.001193", &["after.pdf"])?;
    let next = kiosk.submit(&json)?;
    assert!(
        !codes.contains(&next),
        "code {next} reused after the crashes"
    );
    for entry in std::fs::read_dir(data_dir.join("tmp"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        assert!(name.ends_with(".part"), "unexpected file {name} in tmp/");
    }

    // kioskd delivers everything: each acknowledged dossier reaches the gateway with its
    // attachment, byte for byte.
    kiosk.start_daemon()?;
    kiosk.wait_delivered(Duration::from_secs(120), "every dossier delivered")?;
    let identity = kiosk.identity_pem()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stats = gateway.stats().await?;
        assert_eq!(stats["dossiers"], listed.len() + 1, "{stats}");
        for (code, sha) in &acknowledged {
            let view = gateway
                .lookup_as_device(&identity, code, &kiosk.lookup_secret(code)?)
                .await?;
            assert_eq!(
                view.status(),
                200,
                "acknowledged dossier {code} is not at the gateway"
            );
            let bytes = gateway.blob(sha).await?;
            assert_eq!(
                &hex::encode(Sha256::digest(&bytes)),
                sha,
                "the attachment of {code} differs at the gateway"
            );
        }
        anyhow::Ok(())
    })?;
    kiosk.kill_daemon();
    gateway.kill();
    Ok(())
}
