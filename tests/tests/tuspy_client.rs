//! A generic tus client against the real gateway: tuspy (the tus project's Python client, in
//! the test venv `scripts/install-deps.sh` makes) with a device's client certificate uploads
//! the same file twice (the second time a plain tus exchange too: a new upload from offset 0,
//! the blob stored once), and resumes an upload after its process was killed mid-upload: a
//! second run with tuspy's stored URL continues from the gateway's offset and finishes, and
//! the gateway's blob is byte-identical.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use motcua_tests::{random_file, Gateway, Kiosk, KioskSettings};
use sha2::{Digest, Sha256};

const UPLOADER: &str = include_str!("tuspy_support/uploader.py");

/// The venv's Python, with tuspy installed.
fn python() -> anyhow::Result<PathBuf> {
    let venv = std::env::var_os("MOTCUA_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/motcua-test-venv"));
    let python = venv.join("bin/python");
    let found = Command::new(&python)
        .args(["-c", "import tusclient"])
        .status()
        .is_ok_and(|s| s.success());
    anyhow::ensure!(
        found,
        "{} has no tuspy: run scripts/install-deps.sh (it installs tuspy in the test venv)",
        python.display()
    );
    Ok(python)
}

/// The uploader as a command, for the file `file` of hash `sha`.
fn uploader(
    script: &Path,
    gateway: &Gateway,
    cert: &Path,
    file: &Path,
    sha: &str,
) -> anyhow::Result<Command> {
    let mut cmd = Command::new(python()?);
    cmd.arg(script)
        .env("REQUESTS_CA_BUNDLE", gateway.pki.ca_cert())
        .env("URL", gateway.url())
        .env("CERT", cert)
        .env("FILE", file)
        .env("SHA", sha);
    Ok(cmd)
}

/// The number after `word` on the first line of `out` that starts with it.
fn number_after(out: &str, word: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| l.strip_prefix(word)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn tuspy_uploads_twice_and_resumes_after_a_kill() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    let cert = kiosk.data_dir().join("identity").join("device.pem");
    let script = tmp.path().join("uploader.py");
    std::fs::write(&script, UPLOADER)?;

    // The same file twice: two plain tus exchanges, each a new upload, both without error.
    let file = tmp.path().join("giay-khai-sinh.pdf");
    let bytes = random_file(&file, 300_000)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let mut urls = Vec::new();
    for run in 0..2 {
        let out = uploader(&script, &gateway, &cert, &file, &sha)?
            .env("MODE", "once")
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "tuspy run {run}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(number_after(&stdout, "done "), Some(300_000), "{stdout}");
        urls.push(
            stdout
                .lines()
                .find_map(|l| l.strip_prefix("url "))
                .map(str::to_owned),
        );
    }
    assert_ne!(urls[0], urls[1], "the second upload is a new one");
    assert_eq!(
        gateway.blob(&sha).await?,
        bytes,
        "the blob tuspy uploaded differs"
    );

    // Killed mid-upload, then resumed from the stored URL at the gateway's offset.
    let file = tmp.path().join("so-ho-khau.pdf");
    let bytes = random_file(&file, 1_000_000)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let store = tmp.path().join("tuspy-urls.json");
    let mut first = uploader(&script, &gateway, &cert, &file, &sha)?
        .env("MODE", "resumable")
        .env("STORE", &store)
        .env("CHUNK", "65536")
        .env("PAUSE", "0.2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = first.stdout.take().expect("piped stdout");
    let mut sent = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(n) = line.strip_prefix("offset ") {
            sent = n.trim().parse()?;
            if sent >= 3 * 65_536 {
                break;
            }
        }
    }
    first.kill()?;
    let status = first.wait()?;
    assert!(
        (3 * 65_536..1_000_000).contains(&sent),
        "killed mid-upload at {sent} ({status})"
    );
    let out = uploader(&script, &gateway, &cert, &file, &sha)?
        .env("MODE", "resumable")
        .env("STORE", &store)
        .env("CHUNK", "65536")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tuspy resume: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = number_after(&stdout, "start ").expect("start offset");
    assert!(
        start >= sent && start < 1_000_000,
        "resumed from the gateway's offset {start}, not from 0 (the first run had {sent} acknowledged)"
    );
    assert_eq!(number_after(&stdout, "done "), Some(1_000_000), "{stdout}");
    assert_eq!(gateway.blob(&sha).await?, bytes, "the resumed blob differs");
    Ok(())
}
