//! The tools the README names keep working over mutual TLS, with the credentials it names:
//! `curl` with a technician's certificate, and tuspy (the tus project's Python client) uploading
//! with a device's certificate. Both run as real processes against the gateway binary.

use std::process::Command;

use motcua_tests::{random_file, Gateway, Kiosk, KioskSettings};
use sha2::{Digest, Sha256};

/// `curl -s -o /dev/stderr -w '%{http_code}'` with the given TLS arguments: the HTTP status
/// (`000` when the handshake failed).
fn curl_status(tls: &[&str], url: &str) -> anyhow::Result<String> {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(tls)
        .arg(url)
        .output()?;
    Ok(String::from_utf8(out.stdout)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_and_tuspy_work_with_client_certificates() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    let ca = gateway.pki.ca_cert();
    let ca = ca.to_str().unwrap_or_default();
    let tech = gateway.pki.role("technician")?;
    let (cert, key) = (
        tech.cert.to_str().unwrap_or_default(),
        tech.key.to_str().unwrap_or_default(),
    );

    // curl as a technician: the fleet, but never a citizen's scan.
    let devices = format!("{}/v1/admin/devices", gateway.url());
    let out = Command::new("curl")
        .args(["-sf", "--cacert", ca, "--cert", cert, "--key", key])
        .arg(&devices)
        .output()?;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fleet = String::from_utf8(out.stdout)?;
    assert!(fleet.contains("KIOSK-E2E-01"), "{fleet}");
    assert_eq!(curl_status(&["--cacert", ca], &devices)?, "401");
    let blob = format!("{}/v1/blobs/{}", gateway.url(), "0".repeat(64));
    assert_eq!(
        curl_status(&["--cacert", ca, "--cert", cert, "--key", key], &blob)?,
        "403"
    );
    // curl trusting only the system's CAs refuses the province's gateway.
    assert_eq!(curl_status(&[], &devices)?, "000");

    // tuspy with the kiosk's own key and certificate (one PEM file).
    let file = tmp.path().join("scan.pdf");
    let bytes = random_file(&file, 300_000)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let identity = kiosk.data_dir().join("identity").join("device.pem");
    let script = r#"
import os, sys
from tusclient import client
c = client.TusClient(os.environ["URL"] + "/v1/uploads", client_cert=os.environ["CERT"])
u = c.uploader(os.environ["FILE"], metadata={"sha256": os.environ["SHA"]}, chunk_size=100000)
u.upload()
print(u.url)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("REQUESTS_CA_BUNDLE", ca)
        .env("URL", gateway.url())
        .env("CERT", &identity)
        .env("FILE", &file)
        .env("SHA", &sha)
        .output()?;
    assert!(
        out.status.success(),
        "tuspy: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        gateway.blob(&sha).await?,
        bytes,
        "the blob tuspy uploaded differs"
    );
    Ok(())
}
