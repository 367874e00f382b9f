//! Who is on the link, end to end across real processes over mutual TLS: a peer the kiosk does
//! not trust cannot acknowledge anything; devices without a good certificate are refused, a
//! revoked one even in the middle of an upload; a kiosk renews its certificate before it expires,
//! across a restart; the gateway reloads its server certificate on SIGHUP.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use motcua_identity::PeerIdentity;
use motcua_tests::{
    dossier_json, random_file, wait_for, FakeGateway, Gateway, Kiosk, KioskSettings, Pki,
};

const PROCEDURE: &str = "1.001193";
const SITE: &str = "000.17.22.H56";

fn pending(kiosk: &Kiosk) -> anyhow::Result<u64> {
    kiosk.status()?["pending"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no pending count in kioskctl status"))
}

fn a_dossier(dir: &Path, size: usize) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    random_file(&dir.join("scan.pdf"), size)?;
    dossier_json(dir, PROCEDURE, &["scan.pdf"])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_the_kiosk_does_not_trust_cannot_acknowledge_and_the_real_gateway_gets_it_later(
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    // The real gateway goes away and an attacker answers on its address, with a certificate
    // of its own CA for the same address.
    gateway.kill();
    let rogue = Pki::create(&tmp.path().join("rogue-pki"))?;
    let fake = FakeGateway::start(&rogue, tmp.path(), gateway.addr.port())?;

    // The fake is a credible acknowledger: a kiosk that trusts its CA "delivers" to it.
    let mut fooled = Kiosk::create(
        &tmp.path().join("fooled"),
        &KioskSettings::at_url(&fake.url()).device("KIOSK-FOOLED"),
    )?;
    fooled.install_identity(&rogue, "KIOSK-FOOLED", SITE)?;
    fooled.submit(&a_dossier(&tmp.path().join("d0"), 50_000)?)?;
    fooled.start_daemon()?;
    fooled.wait_delivered(Duration::from_secs(30), "the fooled kiosk's delivery")?;
    fooled.kill_daemon();
    let answered = fake.requests();
    assert!(answered > 0, "{}", fake.log());

    // Our kiosk refuses it at the handshake: nothing taken as acknowledged, the dossier kept.
    let code = kiosk.submit(&a_dossier(&tmp.path().join("d1"), 80_000)?)?;
    kiosk.start_daemon()?;
    let error = wait_for(
        Duration::from_secs(30),
        "the untrusted peer reported",
        || Ok(kiosk.last_error()?.filter(|e| e.contains("certificate"))),
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", kiosk.daemon_log()))?;
    assert!(
        fake.log().contains("handshake failed"),
        "the kiosk never tried the fake: {}",
        fake.log()
    );
    assert_eq!(
        fake.requests(),
        answered,
        "the kiosk sent a request to a peer it does not trust ({error})"
    );
    assert_eq!(pending(&kiosk)?, 1, "the dossier is kept pending: {error}");

    // The real gateway comes back on its address: the dossier arrives, once.
    drop(fake);
    gateway.restart()?;
    kiosk.wait_delivered(Duration::from_secs(60), "delivery to the real gateway")?;
    let stats = gateway.stats().await?;
    assert_eq!(stats["dossiers"], 1, "{stats}");
    let view = gateway
        .lookup_as_device(&kiosk.identity_pem()?, &code, &kiosk.lookup_secret(&code)?)
        .await?;
    assert_eq!(view.status(), 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_without_a_valid_certificate_are_refused() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    let catalog = format!("{}/v1/catalog", gateway.url());

    // Its own certificate works.
    let ok = gateway
        .get_as_device(&kiosk.identity_pem()?, "/v1/catalog")
        .await?;
    assert_eq!(ok.status(), 200);

    // No client certificate: refused, and told why.
    let none = gateway.pki.client(None)?.get(&catalog).send().await?;
    assert_eq!(none.status(), 401);
    let body: serde_json::Value = none.json().await?;
    assert_eq!(body["error"], "certificate_required", "{body}");

    // A certificate of another CA, for the same device id: refused at the handshake.
    let rogue = Pki::create(&tmp.path().join("rogue-pki"))?;
    let (forged, _) = rogue.offline_device_identity("KIOSK-E2E-01", SITE)?;
    let refused = gateway
        .pki
        .client(Some(forged.as_bytes()))?
        .get(&catalog)
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a certificate of another CA was let in: {:?}",
        refused.map(|r| r.status())
    );

    // A role certificate is not a device.
    let tech = gateway.get_as("technician", "/v1/catalog").await?;
    assert_eq!(tech.status(), 403);
    Ok(())
}

/// Bytes the gateway holds of uploads in progress: the segment files in `uploads/<id>/` (and
/// an older gateway's `uploads/<id>.part`).
fn partial_bytes(gateway_dir: &Path) -> u64 {
    fn files_in(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
                    .map(|(path, m)| if m.is_dir() { files_in(&path) } else { m.len() })
                    .sum()
            })
            .unwrap_or(0)
    }
    files_in(&gateway_dir.join("uploads"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_revoked_while_uploading_is_cut_off_at_once() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway_dir = tmp.path().join("gateway");
    let gateway = Gateway::start(&gateway_dir, None, 0)?;
    // 128 KiB/s with 1 MiB requests: every PATCH is in flight for seconds.
    let settings = KioskSettings {
        max_rate_kib_per_s: 128,
        chunk_kib: 1024,
        ..KioskSettings::new(&gateway)
    };
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &settings)?;
    let size = 4 * 1024 * 1024;
    kiosk.submit(&a_dossier(&tmp.path().join("d"), size)?)?;
    kiosk.start_daemon()?;
    wait_for(
        Duration::from_secs(60),
        "the upload to be under way",
        || Ok((partial_bytes(&gateway_dir) > 0).then_some(())),
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", kiosk.daemon_log()))?;

    gateway.revoke_device("KIOSK-E2E-01").await?;
    let at_revocation = partial_bytes(&gateway_dir);
    let error = wait_for(Duration::from_secs(30), "the revocation reported", || {
        Ok(kiosk.last_error()?.filter(|e| e.contains("revoked")))
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", kiosk.daemon_log()))?;
    // The connection was closed mid-request: the partial upload stops growing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = partial_bytes(&gateway_dir);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        partial_bytes(&gateway_dir),
        later,
        "the revoked device still uploads ({error})"
    );
    assert!(
        later < size as u64 && later <= at_revocation + 1024 * 1024,
        "{later} bytes after revocation, {at_revocation} at it"
    );
    // Its next request is refused in words, and nothing of it was taken in.
    let next = gateway
        .get_as_device(&kiosk.identity_pem()?, "/v1/catalog")
        .await?;
    assert_eq!(next.status(), 401);
    let body: serde_json::Value = next.json().await?;
    assert_eq!(body["error"], "certificate_revoked", "{body}");
    assert_eq!(pending(&kiosk)?, 1, "the dossier stays on the kiosk");
    assert_eq!(gateway.stats().await?["dossiers"], 0);
    Ok(())
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kiosk_renews_its_certificate_before_it_expires_across_a_restart() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    // Device certificates for 30 s: renewal is due after about 20 s.
    let gateway = Gateway::start_with(
        &tmp.path().join("gateway"),
        None,
        0,
        &["--device-cert-seconds", "30"],
    )?;
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    let first_pem = kiosk.identity_pem()?;
    let first = PeerIdentity::from_pem(&String::from_utf8(first_pem.clone())?)?;
    assert!(first.not_after - now_unix() <= 35, "{first:?}");

    kiosk.start_daemon()?;
    let renewed = wait_for(Duration::from_secs(60), "the kiosk to renew", || {
        let pem = String::from_utf8(kiosk.identity_pem()?)?;
        let id = PeerIdentity::from_pem(&pem)?;
        Ok((id.serial != first.serial).then_some(id))
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", kiosk.daemon_log()))?;
    assert!(renewed.not_after > first.not_after);
    assert_eq!(renewed.name, first.name);
    assert_eq!(renewed.site, first.site);

    // The kiosk is switched off until its first certificate has expired…
    kiosk.kill_daemon();
    while now_unix() <= first.not_after + 1 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // …and after the restart it delivers with the renewed one.
    kiosk.submit(&a_dossier(&tmp.path().join("d"), 20_000)?)?;
    kiosk.start_daemon()?;
    kiosk.wait_delivered(Duration::from_secs(60), "delivery after the restart")?;
    assert_eq!(gateway.stats().await?["dossiers"], 1);
    // The first certificate is no longer any good.
    let old = gateway.get_as_device(&first_pem, "/v1/catalog").await;
    assert!(
        old.as_ref()
            .map(|r| !r.status().is_success())
            .unwrap_or(true),
        "the replaced certificate still works: {:?}",
        old.map(|r| r.status())
    );
    Ok(())
}

/// The SHA-256 fingerprint of the certificate `addr` serves, read by `openssl s_client`.
fn served_fingerprint(addr: &std::net::SocketAddr) -> anyhow::Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} </dev/null 2>/dev/null \
             | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    anyhow::ensure!(text.contains('='), "no certificate from {addr}: {text:?}");
    Ok(text.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_takes_a_new_server_certificate_on_sighup() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    let before = served_fingerprint(&gateway.addr)?;

    let out = Command::new(motcua_tests::bin("gateway"))
        .args(["ca", "server-cert", "--dir"])
        .arg(&gateway.pki.dir)
        .args(["--host", "127.0.0.1", "--host", "localhost"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = Command::new("kill")
        .args(["-HUP", &gateway.pid().to_string()])
        .status()?;
    assert!(status.success());
    let after = wait_for(
        Duration::from_secs(10),
        "the new certificate served",
        || {
            let now = served_fingerprint(&gateway.addr)?;
            Ok((now != before).then_some(now))
        },
    )?;
    assert_ne!(after, before);
    // Still the same gateway for its kiosks: the new certificate is from the same CA.
    let ok = gateway
        .get_as_device(&kiosk.identity_pem()?, "/v1/catalog")
        .await?;
    assert_eq!(ok.status(), 200);
    Ok(())
}
