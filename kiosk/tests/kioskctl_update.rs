//! `kioskctl update …` on a kiosk's real files: `status` shows the running version, the
//! verified download and the window (and why updates are off without a release key);
//! `apply --now` writes the install request outside the window but not while kioskd says a
//! citizen session is open; `rollback` writes a rollback request.

use std::path::Path;
use std::process::{Command, Output};

use motcua_domain::release::ReleaseManifest;
use motcua_domain::update::UpdateRequest;
use motcua_identity::release::ReleaseKey;
use sha2::{Digest, Sha256};

fn kioskctl(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("kioskctl runs")
}

#[test]
fn status_apply_now_and_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("kiosk");
    let key = ReleaseKey::generate().unwrap();
    let pub_file = dir.path().join("release.pub");
    std::fs::write(&pub_file, key.public_key()).unwrap();
    let config = dir.path().join("kiosk.toml");
    let write_config = |key_file: &Path| {
        std::fs::write(
            &config,
            format!(
                "[device]\nid = \"KIOSK-LAB-03\"\nagency_code = \"000.17.22.H56\"\nsequence_first = 1\nsequence_last = 99\n\n\
                 [store]\ndata_dir = \"{}\"\n\n[gateway]\nurl = \"https://127.0.0.1:9\"\n\n\
                 [update]\nrelease_public_key_file = \"{}\"\nmaintenance_window = \"01:00-01:01\"\n",
                data.display(),
                key_file.display()
            ),
        )
        .unwrap();
    };
    write_config(&dir.path().join("missing.pub"));
    motcua_store::Store::open(&data, 0).unwrap();
    let out = kioskctl(&config, &["update", "status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("updates are off"), "{text}");

    write_config(&pub_file);
    let downloads = data.join("update/downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let package = b"a package".to_vec();
    let manifest = ReleaseManifest {
        package: "motcua-kiosk".into(),
        version: "99.0.0-1".into(),
        sha256: hex::encode(Sha256::digest(&package)),
        size: package.len() as u64,
        min_from_version: None,
        waves: "100%@0h".parse().unwrap(),
        published_at: 0,
    };
    std::fs::write(downloads.join("99.0.0-1.deb"), &package).unwrap();
    std::fs::write(
        downloads.join("99.0.0-1.manifest"),
        key.seal(&manifest.to_json()),
    )
    .unwrap();
    let out = kioskctl(&config, &["update", "status", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["ready"], "99.0.0-1");
    assert_eq!(status["window"], "01:00-01:01");
    assert!(status["off"].is_null());
    assert!(status["running"].as_str().is_some_and(|v| !v.is_empty()));

    // kioskd says a citizen is at the screen: refused.
    let request = data.join("update/request.json");
    let marker = data.join("update/session-open");
    std::fs::write(&marker, b"").unwrap();
    let out = kioskctl(&config, &["update", "apply", "--now"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("citizen session"),
        "{out:?}"
    );
    assert!(!request.exists());
    std::fs::remove_file(&marker).unwrap();
    let out = kioskctl(&config, &["update", "apply", "--now"]);
    assert!(out.status.success(), "{out:?}");
    let asked: UpdateRequest = serde_json::from_slice(&std::fs::read(&request).unwrap()).unwrap();
    assert!(matches!(asked, UpdateRequest::Install { version, .. } if version == "99.0.0-1"));

    std::fs::remove_file(&request).unwrap();
    let out = kioskctl(&config, &["update", "rollback", "--reason", "test"]);
    assert!(out.status.success(), "{out:?}");
    let asked: UpdateRequest = serde_json::from_slice(&std::fs::read(&request).unwrap()).unwrap();
    assert!(matches!(asked, UpdateRequest::Rollback { reason, .. } if reason == "test"));
}
