//! `kioskctl provision` and `kioskctl status` on a fresh box, for what the kiosk decides on its
//! own before it talks to anybody: a code signed by another key, an altered one, an expired
//! one and something that is not a setup code are refused with their reasons (non-zero exit,
//! nothing written), and a hand-configured kiosk is not provisioned over. The steps against a
//! real gateway are in `tests/tests/provisioning.rs`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use motcua_identity::setup_code::{ProvisioningKey, SetupCode};

fn kioskctl(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kioskctl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("stdin written");
    child.wait_with_output().expect("kioskctl ends")
}

fn code(expires_at: i64) -> SetupCode {
    SetupCode {
        // Nothing listens there: a refusal that got this far would say "cannot reach".
        gateway_url: "https://127.0.0.1:9".into(),
        ca_sha256: "ab".repeat(32),
        site: "000.17.22.H56".into(),
        device_id: "000.17.22.H56-K001".into(),
        token: "t".repeat(43),
        expires_at,
        profile: "commune-desk".into(),
        profile_sha256: "cd".repeat(32),
    }
}

/// A refused `kioskctl provision` reading the code from stdin: its standard error.
fn refused(config: &Path, text: &str) -> String {
    let out = kioskctl(config, &["provision", "--qr-file", "-"], text);
    assert!(
        !out.status.success(),
        "accepted: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_fresh_box_refuses_foreign_altered_expired_and_other_codes() {
    let dir = tempfile::tempdir().unwrap();
    let key = ProvisioningKey::generate().unwrap();
    std::fs::write(
        dir.path().join("provisioning.pub"),
        format!("{}\n", key.public_key()),
    )
    .unwrap();
    let config = dir.path().join("kiosk.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ndata_dir = {:?}\n\n[provisioning]\nkey_file = \"provisioning.pub\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();

    let status = kioskctl(&config, &["status"], "");
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("not provisioned"));
    let json = kioskctl(&config, &["status", "--json"], "");
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["provisioned"], false, "{value}");
    let other = kioskctl(&config, &["dossiers"], "");
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("kioskctl provision"));

    let now = chrono::Utc::now().timestamp();
    let foreign = ProvisioningKey::generate().unwrap().seal(&code(now + 3600));
    let err = refused(&config, &foreign);
    assert!(
        err.contains("Kiểm tra mã / Verify the code") && err.contains("signature is not valid"),
        "{err}"
    );
    let good = key.seal(&code(now + 3600));
    let at = "MOTCUA-SETUP1.".len() + 30;
    let mut altered: Vec<char> = good.chars().collect();
    altered[at] = if altered[at] == 'x' { 'y' } else { 'x' };
    let err = refused(&config, &altered.into_iter().collect::<String>());
    assert!(
        err.contains("signature is not valid") || err.contains("damaged"),
        "{err}"
    );
    let err = refused(&config, &key.seal(&code(now - 10)));
    assert!(
        err.contains("expired") && err.contains("print a new sheet"),
        "{err}"
    );
    let err = refused(&config, "MOTCUA-SEP1|000.17.22.H56-261201-0001|1|x");
    assert!(err.contains("this is not a motcua setup code"), "{err}");
    // A good code gets past the checks on the box: the gateway is what it cannot reach.
    let err = refused(&config, &good);
    assert!(
        err.contains("Lấy CA của tỉnh / Fetch the province's CA"),
        "{err}"
    );
    assert!(!dir.path().join("data").join("kiosk.toml").exists());

    // A hand-configured kiosk is not provisioned over.
    std::fs::write(
        &config,
        format!(
            "[device]\nid = \"K1\"\nagency_code = \"000.17.22.H56\"\nsequence_first = 1\nsequence_last = 9\n\n[gateway]\nurl = \"https://127.0.0.1:9\"\n\n[store]\ndata_dir = {:?}\n\n[provisioning]\nkey_file = \"provisioning.pub\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let err = refused(&config, &good);
    assert!(err.contains("configured by hand"), "{err}");
}
