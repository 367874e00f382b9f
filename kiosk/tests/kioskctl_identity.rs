//! `kioskctl enroll` and `kioskctl identity` as a technician uses them, against the real gateway
//! started in-process over mutual TLS with a throwaway lab CA (the gateway's own demo helper).
#![cfg(feature = "demo")]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const KEY: &str = "lab-enrollment-key";

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

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write_config(dir: &Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("kiosk.toml");
    std::fs::write(
        &path,
        format!(
            "[device]\nid = \"KIOSK-LAB-01\"\nagency_code = \"000.17.22.H56\"\nsequence_first = 1\nsequence_last = 99\n\n[store]\ndata_dir = \"{}\"\n\n[gateway]\nurl = \"{url}\"\n",
            dir.join("kiosk").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_saves_a_private_identity_and_a_second_one_needs_approval() {
    let dir = tempfile::tempdir().unwrap();
    let pki = motcua_gateway::lab_pki(&dir.path().join("pki"), &["127.0.0.1".to_owned()])
        .expect("lab CA");
    let gateway = motcua_gateway::start(motcua_gateway::GatewayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("gateway"),
        KEY,
        &pki,
        motcua_domain::catalog::seed(),
    ))
    .await
    .expect("gateway");
    let config = write_config(dir.path(), &format!("https://{}", gateway.local_addr()));
    let ca = pki.ca_cert_file.to_str().unwrap().to_owned();
    let identity = dir.path().join("kiosk/identity");

    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        move || kioskctl(&config, &["identity"], "")
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("chưa đăng ký / not enrolled"),
        "{}",
        text(&out)
    );

    // A wrong key is refused and nothing is written.
    let out = tokio::task::spawn_blocking({
        let (config, ca) = (config.clone(), ca.clone());
        move || kioskctl(&config, &["enroll", "--ca-file", &ca], "not-the-key\n")
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("enrolment key"), "{}", text(&out));
    assert!(!identity.join("device.pem").exists());

    // The key from a file.
    let key_file = dir.path().join("enrollment-key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let out = tokio::task::spawn_blocking({
        let (config, ca, key_file) = (config.clone(), ca.clone(), key_file.clone());
        move || {
            kioskctl(
                &config,
                &[
                    "enroll",
                    "--ca-file",
                    &ca,
                    "--enrollment-key-file",
                    key_file.to_str().unwrap(),
                ],
                "",
            )
        }
    })
    .await
    .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("KIOSK-LAB-01") && said.contains("000.17.22.H56"),
        "{said}"
    );
    assert!(
        said.contains(&pki.ca_fingerprint),
        "the CA fingerprint is shown: {said}"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&identity), 0o700);
    assert_eq!(mode(&identity.join("device.pem")), 0o600);
    assert_eq!(
        std::fs::read_to_string(identity.join("ca.crt")).unwrap(),
        std::fs::read_to_string(&pki.ca_cert_file).unwrap()
    );
    assert!(!said.contains("PRIVATE KEY"));

    let show = |config: std::path::PathBuf| async move {
        let out =
            tokio::task::spawn_blocking(move || kioskctl(&config, &["identity", "--json"], ""))
                .await
                .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let shown = show(config.clone()).await;
    assert_eq!(shown["device_id"], "KIOSK-LAB-01");
    assert_eq!(shown["site"], "000.17.22.H56");
    assert_eq!(shown["renewal_due"], false);
    assert_eq!(shown["ca_fingerprint"], pki.ca_fingerprint.as_str());
    let serial = shown["serial"].as_str().unwrap().to_owned();

    // Renewal now: a new certificate (and key) in the same file.
    let out = tokio::task::spawn_blocking({
        let config = config.clone();
        move || kioskctl(&config, &["identity", "renew"], "")
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let renewed = show(config.clone()).await;
    assert_ne!(renewed["serial"].as_str().unwrap(), serial);
    assert_eq!(
        renewed["certificate_fingerprint"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(mode(&identity.join("device.pem")), 0o600);

    // The same id again (from standard input): only after a technician's approval.
    let out = tokio::task::spawn_blocking({
        let (config, ca) = (config.clone(), ca.clone());
        move || {
            kioskctl(
                &config,
                &["enroll", "--ca-file", &ca, "--enrollment-key-file", "-"],
                &format!("{KEY}\n"),
            )
        }
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("a technician must approve its re-enrolment at the gateway first"),
        "{}",
        text(&out)
    );
    gateway.shutdown().await;
}

#[test]
fn the_key_is_never_a_command_line_value_and_plain_http_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "https://127.0.0.1:9");
    let out = kioskctl(&config, &["enroll", "--help"], "");
    let help = text(&out);
    assert!(
        help.contains("--ca-file") && help.contains("--enrollment-key-file"),
        "{help}"
    );
    assert!(help.contains("standard input"), "{help}");
    let out = kioskctl(
        &config,
        &["enroll", "--ca-file", "x", "--enrollment-key", "secret"],
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unexpected argument '--enrollment-key'"),
        "{}",
        text(&out)
    );

    let plain = write_config(dir.path(), "http://127.0.0.1:9");
    let out = kioskctl(&plain, &["identity"], "");
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("gateway.url must start with https://"),
        "{said}"
    );
    assert!(
        said.contains("line 11") || said.contains(":11"),
        "points at the line: {said}"
    );
}
