//! `gateway release …` against both storage backends (SQLite + local files, PostgreSQL + S3):
//! the release key, publishing a real `.deb` (made with `dpkg-deb --build`) in waves, the
//! package stored byte for byte, publishing again, a reused version refused, bad waves named,
//! and pause / resume / abort with the states they may come from.

#[macro_use]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::*;
use sha2::{Digest, Sha256};

fn gateway(h: &Harness) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.env_remove("MOTCUA_GATEWAY_DATABASE_URL")
        .env("MOTCUA_GATEWAY_DATA_DIR", h.dir.path());
    if let Some(pg) = &h.pg {
        cmd.env("MOTCUA_GATEWAY_DATABASE_URL", &pg.url);
    }
    cmd
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("gateway runs")
}

fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "gateway failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn refused(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(!out.status.success(), "gateway should refuse");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Where the storage keeps the package of `sha256`: a file under the data directory, or the
/// S3 server's file for the object.
fn stored_package(h: &Harness, sha256: &str) -> PathBuf {
    let key = format!("releases/{sha256}.deb");
    match h.pg.as_ref().and_then(|p| p.s3.as_ref()) {
        Some((s3, bucket)) => s3.root.join(bucket).join(key),
        None => h.dir.path().join(key),
    }
}

fn with_storage(h: &Harness, cmd: &mut Command) {
    if let Some((s3, bucket)) = h.pg.as_ref().and_then(|p| p.s3.as_ref()) {
        cmd.args(["--s3-bucket", bucket, "--s3-endpoint", &s3.endpoint])
            .arg("--s3-credentials-file")
            .arg(&s3.credentials_file);
    }
}

async fn publishing_stores_signs_and_rolls_out(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let keys = h.dir.path().join("release-keys");
    std::fs::create_dir_all(&keys).expect("key dir");
    let public = ok(gateway(&h)
        .args(["release", "key", "init", "--dir"])
        .arg(&keys));
    assert!(public.trim().starts_with("ed25519:"), "{public}");
    let key_file = keys.join("release.key");
    let mode = std::fs::metadata(&key_file)
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = ok(gateway(&h)
        .args(["release", "key", "init", "--dir"])
        .arg(&keys));
    assert_eq!(again, public, "an existing key is kept");
    assert!(std::fs::read_to_string(keys.join("release.pub"))
        .expect("pub")
        .contains(public.trim()));

    let v2 = deb(h.dir.path(), "0.2.0-1", "version two");
    let publish = |deb: &Path, waves: &str| {
        let mut cmd = gateway(&h);
        cmd.args(["release", "publish"])
            .arg(deb)
            .args(["--waves", waves, "--min-from-version", "0.1.0-1"])
            .arg("--release-key-file")
            .arg(&key_file);
        with_storage(&h, &mut cmd);
        cmd
    };
    let out = ok(&mut publish(&v2, "1%@0h,10%@24h,100%@72h"));
    let bytes = std::fs::read(&v2).expect("deb");
    let sha = hex::encode(Sha256::digest(&bytes));
    assert!(out.contains("published motcua-kiosk 0.2.0-1"), "{out}");
    assert!(out.contains(&sha), "{out}");
    assert!(out.contains("1%@0h,10%@1d,100%@3d"), "{out}");
    assert_eq!(
        std::fs::read(stored_package(&h, &sha)).expect("stored package"),
        bytes,
        "the package is stored byte for byte"
    );

    // The same package again: nothing new. Another package under that version: refused.
    let out = ok(&mut publish(&v2, "100%@0h"));
    assert!(out.contains("nothing changed"), "{out}");
    let other = deb(h.dir.path(), "0.2.0-1", "another build of version two");
    let err = refused(&mut publish(&other, "100%@0h"));
    assert!(err.contains("another package"), "{err}");
    // Waves that do not reach everyone, and a file that is not a package.
    let err = refused(&mut publish(&v2, "1%@0h,50%@24h"));
    assert!(err.contains("100%"), "{err}");
    let not_deb = h.dir.path().join("notes.deb");
    std::fs::write(&not_deb, "not a package").expect("file");
    let err = refused(&mut publish(&not_deb, "100%@0h"));
    assert!(err.contains("not a Debian package"), "{err}");

    let list = ok(gateway(&h).args(["release", "list"]));
    assert!(list.contains("motcua-kiosk 0.2.0-1\trolling"), "{list}");
    assert_eq!(list.lines().count(), 1, "{list}");

    ok(gateway(&h).args(["release", "pause", "0.2.0-1", "--reason", "printer driver"]));
    let list = ok(gateway(&h).args(["release", "list"]));
    assert!(list.contains("\tpaused\t"), "{list}");
    assert!(list.contains("(printer driver)"), "{list}");
    let err = refused(gateway(&h).args(["release", "pause", "0.2.0-1"]));
    assert!(err.contains("is not rolling"), "{err}");
    ok(gateway(&h).args(["release", "resume", "0.2.0-1"]));
    ok(gateway(&h).args(["release", "abort", "0.2.0-1", "--reason", "replaced"]));
    let err = refused(gateway(&h).args(["release", "resume", "0.2.0-1"]));
    assert!(err.contains("is not paused"), "{err}");
    let err = refused(gateway(&h).args(["release", "abort", "9.9.9"]));
    assert!(err.contains("never published"), "{err}");
    let list = ok(gateway(&h).args(["release", "list"]));
    assert!(
        list.contains("\taborted\t") && list.contains("(replaced)"),
        "{list}"
    );
    h.finish().await;
}

scenarios!(publishing_stores_signs_and_rolls_out);
