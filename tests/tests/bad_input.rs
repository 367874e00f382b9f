//! Bad input and bad peers, across real processes: a gateway answering 500, garbage or nothing,
//! a corrupt config, the disk floor. Each is answered clearly and nothing accepted is lost.

use std::time::Duration;

use motcua_tests::{
    bin, dossier_json, random_file, wait_for, FakeGateway, Gateway, Kiosk, KioskSettings,
};

#[tokio::test(flavor = "multi_thread")]
async fn a_gateway_answering_500_garbage_or_nothing_loses_nothing() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    // Enrol against the real gateway, then put a bad peer on its port, with the gateway's own
    // certificate: the kiosk trusts it, and it answers 500, garbage, then nothing.
    let mut gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    gateway.kill();

    let mode = tmp.path().join("mode");
    std::fs::write(&mode, "500")?;
    let bad_peer =
        FakeGateway::start_with_modes(&gateway.pki, tmp.path(), gateway.addr.port(), Some(&mode))?;

    let original = random_file(&tmp.path().join("scan.pdf"), 300_000)?;
    let json = dossier_json(tmp.path(), "1.001193", &["scan.pdf"])?;
    let code = kiosk.submit(&json)?;
    kiosk.start_daemon()?;

    let err = wait_for(Duration::from_secs(20), "a 500 to be reported", || {
        Ok(kiosk.last_error()?.filter(|e| e.contains("answered 500")))
    })?;
    assert!(err.contains(&gateway.addr.to_string()), "{err}");

    std::fs::write(&mode, "garbage")?;
    kiosk.ctl_ok(&["retry"])?;
    let err = wait_for(Duration::from_secs(20), "garbage to be reported", || {
        Ok(kiosk.last_error()?.filter(|e| e.contains("unexpected")))
    })?;
    // The first request of a delivery (the held-blobs question, or a creation without it)
    // gets the garbage; the report names the gateway that sent it.
    assert!(err.contains(&gateway.addr.to_string()), "{err}");

    std::fs::write(&mode, "silent")?;
    kiosk.ctl_ok(&["retry"])?;
    wait_for(
        Duration::from_secs(20),
        "a silent peer to be reported",
        || Ok(kiosk.last_error()?.filter(|e| e.contains("cannot reach"))),
    )?;

    // Through all of it the dossier stayed accepted and pending.
    let status = kiosk.status()?;
    assert_eq!(status["pending"], 1);
    assert!(status["failing"].as_u64().unwrap_or(0) >= 1);
    let listed = kiosk.ctl_ok(&["dossiers", "--json"])?;
    assert!(listed.contains(&code));

    // The real gateway comes back on the same port: the dossier arrives, once.
    drop(bad_peer);
    gateway.restart()?;
    kiosk.ctl_ok(&["retry"])?;
    kiosk.wait_delivered(Duration::from_secs(30), "delivery after recovery")?;
    let stats = gateway.stats().await?;
    assert_eq!(stats["dossiers"], 1, "{stats}");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&original));
    let bytes = gateway.blob(&sha).await?;
    assert!(
        bytes[..] == original[..],
        "the attachment differs at the gateway"
    );
    Ok(())
}

#[test]
fn a_corrupt_config_names_the_file_line_and_key() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let kiosk = Kiosk::create(tmp.path(), &KioskSettings::offline())?;
    let text = std::fs::read_to_string(&kiosk.config)?;
    std::fs::write(
        &kiosk.config,
        text.replace("chunk_kib = 256", "chunk_kib = \"lots\""),
    )?;
    let expected = format!(
        "kiosk.toml:{}:",
        text.lines()
            .position(|l| l.starts_with("chunk_kib"))
            .map_or(0, |i| i + 1)
    );
    let runs: [(&str, &[&str]); 2] = [("kioskctl", &["status"]), ("kioskd", &[])];
    for (binary, args) in runs {
        let out = std::process::Command::new(bin(binary))
            .arg("--config")
            .arg(&kiosk.config)
            .args(args)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{binary} must refuse a corrupt config"
        );
        assert!(stderr.contains(&expected), "{binary}: {stderr}");
        assert!(stderr.contains("chunk_kib"), "{binary}: {stderr}");
    }
    Ok(())
}

#[test]
fn at_the_disk_floor_new_dossiers_are_refused_and_old_ones_kept() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let kiosk = Kiosk::create(&tmp.path().join("k"), &KioskSettings::offline())?;
    random_file(&tmp.path().join("a.pdf"), 10_000)?;
    let json = dossier_json(tmp.path(), "1.001193", &["a.pdf"])?;
    let first = kiosk.submit(&json)?;

    // Raise the floor above the disk's free space.
    let text = std::fs::read_to_string(&kiosk.config)?;
    std::fs::write(
        &kiosk.config,
        text.replace("min_free_mb = 1", "min_free_mb = 999999999"),
    )?;
    let out = kiosk.ctl(&["submit", json.to_str().unwrap_or_default()])?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("below the floor"), "{stderr}");

    let listed = kiosk.ctl_ok(&["dossiers", "--json"])?;
    let listed: serde_json::Value = serde_json::from_str(&listed)?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["code"], first.as_str());
    assert_eq!(kiosk.status()?["pending"], 1);
    Ok(())
}

#[test]
fn a_dossier_for_an_unknown_procedure_or_missing_file_is_refused_clearly() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let kiosk = Kiosk::create(&tmp.path().join("k"), &KioskSettings::offline())?;
    let json = dossier_json(tmp.path(), "9.999999", &[])?;
    let out = kiosk.ctl(&["submit", json.to_str().unwrap_or_default()])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the catalog"));

    let json = dossier_json(tmp.path(), "1.001193", &["missing.pdf"])?;
    let out = kiosk.ctl(&["submit", json.to_str().unwrap_or_default()])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pdf"));

    std::fs::write(
        tmp.path().join("broken.json"),
        "{\"procedure_code\": 12,\n}",
    )?;
    let out = kiosk.ctl(&[
        "submit",
        tmp.path().join("broken.json").to_str().unwrap_or_default(),
    ])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.json:1:"));
    assert_eq!(kiosk.status()?["pending"], 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_clash_between_two_kiosks_asks_for_a_technician_and_loses_nothing(
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    random_file(&tmp.path().join("a.pdf"), 5_000)?;
    let json = dossier_json(tmp.path(), "1.001193", &["a.pdf"])?;

    // Two kiosks provisioned by mistake with the same identity and sequence block.
    let mut first = Kiosk::enrolled(&tmp.path().join("k1"), &KioskSettings::new(&gateway))?;
    let code1 = first.submit(&json)?;
    first.start_daemon()?;
    first.wait_delivered(Duration::from_secs(30), "the first kiosk's delivery")?;
    first.kill_daemon();

    let mut second = Kiosk::create(&tmp.path().join("k2"), &KioskSettings::new(&gateway))?;
    // The enrolment key alone cannot take over the first kiosk's identity…
    let refused = second
        .enroll()
        .expect_err("a known device id needs a technician");
    assert!(
        refused.to_string().contains("already enrolled"),
        "{refused}"
    );
    // …a technician can allow it at the gateway (here: the mistake this test is about).
    gateway
        .post_as(
            "technician",
            "/v1/admin/devices/KIOSK-E2E-01/allow-reenrolment",
            &serde_json::json!({}),
        )
        .await?
        .error_for_status()?;
    second.enroll()?;
    let second_bytes = random_file(&tmp.path().join("a.pdf"), 6_000)?;
    let code2 = second.submit(&json)?;
    assert_eq!(code1, code2, "the clash this test is about");
    second.start_daemon()?;
    let err = wait_for(Duration::from_secs(30), "the clash to be reported", || {
        Ok(second
            .last_error()?
            .filter(|e| e.contains("needs a technician")))
    })?;
    assert!(err.contains("409"), "{err}");
    assert_eq!(second.status()?["pending"], 1, "the second dossier is kept");
    assert_eq!(
        gateway.stats().await?["dossiers"],
        1,
        "and not mixed up with the first"
    );
    held_clash_is_listed_exported_and_set_aside(
        &gateway,
        &second,
        &code2,
        &second_bytes,
        tmp.path(),
    )
    .await
}

/// The clash from above, from the technician's side: the entry is held (listed with its
/// reason, not attempted again while other work is delivered), exported byte for byte, set
/// aside, and still keeps the package from being removed.
async fn held_clash_is_listed_exported_and_set_aside(
    gateway: &Gateway,
    kiosk: &Kiosk,
    code: &str,
    document: &[u8],
    tmp: &std::path::Path,
) -> anyhow::Result<()> {
    let listed: serde_json::Value =
        serde_json::from_str(&kiosk.ctl_ok(&["outbox", "list", "--json"])?)?;
    let held = listed
        .as_array()
        .filter(|a| a.len() == 1)
        .map(|a| a[0].clone())
        .ok_or_else(|| anyhow::anyhow!("one held entry expected: {listed}"))?;
    assert_eq!(held["state"], "needs_technician", "{held}");
    assert_eq!(held["kind"], "dossier", "{held}");
    assert_eq!(held["dossier_code"], code, "{held}");
    let reason = held["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("CẦN KỸ THUẬT VIÊN / needs a technician: máy chủ đã có"),
        "{reason}"
    );
    assert!(reason.contains("409"), "{reason}");
    let id = held["id"].as_i64().unwrap_or_default().to_string();
    let status = kiosk.status()?;
    assert_eq!(status["needs_technician"], 1, "{status}");
    assert_eq!(
        status["needs_technician_entries"][0]["reason"], reason,
        "{status}"
    );
    let text = kiosk.ctl_ok(&["status"])?;
    assert!(
        text.contains(reason),
        "kioskctl status names the reason: {text}"
    );

    // Not attempted again: three more deliveries go through (so the drain took several turns,
    // and `kioskctl retry` each time), and the held entry's attempts and log stay at one.
    for n in 1..=3u64 {
        let retried = kiosk.ctl_ok(&["retry"])?;
        assert!(retried.contains("1 mục cần kỹ thuật viên"), "{retried}");
        kiosk.ctl_ok(&["ticket", "--area", "HT"])?;
        wait_for(
            Duration::from_secs(30),
            "a ticket past the held dossier",
            || Ok((kiosk.status()?["delivered"].as_u64() == Some(n)).then_some(())),
        )?;
    }
    assert_eq!(
        gateway.stats().await?["tickets"],
        3,
        "the held entry blocks nothing else"
    );
    let again: serde_json::Value =
        serde_json::from_str(&kiosk.ctl_ok(&["outbox", "list", "--json"])?)?;
    assert_eq!(again[0]["attempts"], 1, "not attempted again: {again}");
    let log = kiosk.daemon_log();
    assert_eq!(
        log.matches("delivery held for a technician").count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("delivery failed").count(), 0, "{log}");
    assert_eq!(gateway.stats().await?["dossiers"], 1);

    // Exported for the counter: the body the gateway would get and the document, byte for byte.
    let stick = tmp.join("usb");
    let out = kiosk.ctl_ok(&[
        "outbox",
        "export",
        &id,
        "--to",
        stick.to_str().unwrap_or_default(),
    ])?;
    let dir = stick.join(&id);
    assert_eq!(out.trim(), dir.display().to_string());
    let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("entry.json"))?)?;
    assert_eq!(entry["body"]["code"], code, "{entry}");
    assert_eq!(entry["hold"]["reason"], reason, "{entry}");
    let sha = entry["body"]["documents"][0]["sha256"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(entry["files"][0]["state"], "intact", "{entry}");
    assert_eq!(std::fs::read(dir.join("blobs").join(sha))?, document);
    let twice = kiosk.ctl(&[
        "outbox",
        "export",
        &id,
        "--to",
        stick.to_str().unwrap_or_default(),
    ])?;
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("not overwritten"));

    // Set aside: kept, listed as such, still undelivered (the removal guard counts it).
    kiosk.ctl_ok(&["outbox", "set-aside", &id])?;
    let status = kiosk.status()?;
    assert_eq!(status["needs_technician"], 0, "{status}");
    assert_eq!(status["set_aside"], 1, "{status}");
    assert_eq!(status["pending"], 1, "prerm still refuses: {status}");
    let listed = kiosk.ctl_ok(&["outbox", "list"])?;
    assert!(
        listed.contains("set aside") && listed.contains(code),
        "{listed}"
    );
    Ok(())
}
