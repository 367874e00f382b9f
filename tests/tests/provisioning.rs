//! Provisioning end to end with the real binaries (issue #13): the gateway issues setup codes
//! with `gateway provision`; a fresh kioskd with only the package's bootstrap config reads one
//! at its (pseudo-terminal) code reader, runs every step and becomes a ready kiosk whose
//! dossier codes lie in the block the gateway allocated; a second kiosk of the agency, set up
//! with `kioskctl provision`, gets a disjoint block; a reused, an expired and a tampered code
//! are refused with their reasons; a technician's remote self-test is carried out, reported
//! and carried in the next health report.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use motcua_identity::setup_code::{ProvisioningKey, TrustedProvisioningKey};
use motcua_tests::{
    dossier_json, fresh_kiosk, random_file, sections, tcp_printer, wait_for, Kiosk,
    ProvisioningGateway, PtyCodeReader, SITE,
};
use serde_json::Value;

const PROCEDURE: &str = "1.001193";
const PROFILE: &str = "commune-desk";
/// The province's profile of a commune desk: fast retries and polls for the test.
const PROFILE_TOML: &str = "# Bàn một cửa cấp xã / commune desk\n\
[uplink]\nretry_initial_ms = 100\nretry_max_ms = 1000\nrequest_timeout_s = 5\npoll_ms = 100\n\
health_report_s = 2\nactions_poll_s = 5\n\n[rating]\nlevels = 3\n";

fn blocks(kiosk: &Kiosk) -> anyhow::Result<Vec<(u16, u16)>> {
    let store = motcua_store::Store::open(&kiosk.data_dir(), 0)?;
    Ok(store
        .sequence_blocks()?
        .into_iter()
        .map(|b| (b.first, b.last))
        .collect())
}

fn write_code(kiosk: &Kiosk, name: &str, code: &str) -> anyhow::Result<String> {
    let path = kiosk.dir.join(name);
    std::fs::write(&path, format!("{code}\n"))?;
    Ok(path.display().to_string())
}

/// `kioskctl provision` that must fail: its standard error.
fn refused(kiosk: &Kiosk, file: &str) -> anyhow::Result<String> {
    let out = kiosk.ctl(&["provision", "--qr-file", file])?;
    anyhow::ensure!(
        !out.status.success(),
        "provisioning with {file} was accepted: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

/// One character of the code's payload changed.
fn tampered(code: &str) -> String {
    let at = "MOTCUA-SETUP1.".len() + 20;
    let mut chars: Vec<char> = code.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// Presents `code` every half second until `answered`.
fn present_until(
    reader: &mut PtyCodeReader,
    code: &str,
    answered: impl Fn() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !answered() {
        anyhow::ensure!(Instant::now() < deadline, "{code:.40}… was never answered");
        reader.present(code)?;
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// Queues remote action `kind` for `device` as a technician and waits until it is reported.
async fn remote(
    gw: &ProvisioningGateway,
    device: &str,
    kind: &str,
    kiosk: &Kiosk,
) -> anyhow::Result<Value> {
    let queued: Value = gw
        .gateway
        .post_as(
            "technician",
            &format!("/v1/admin/devices/{device}/actions"),
            &serde_json::json!({ "kind": kind }),
        )
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = queued["id"].as_i64().context("an action id")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list: Value = gw
            .gateway
            .get_as("technician", &format!("/v1/admin/devices/{device}/actions"))
            .await?
            .error_for_status()?
            .json()
            .await?;
        let found = list["actions"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["id"] == id).cloned());
        if let Some(action) = found.filter(|x| !x["completed_at"].is_null()) {
            return Ok(action);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{kind} was never reported: {list}\n{}",
            kiosk.daemon_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn log_has(kiosk: &Kiosk, what: &str) -> anyhow::Result<Option<()>> {
    Ok(kiosk.daemon_log().contains(what).then_some(()))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_scanned_code_provisions_a_fresh_kiosk() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let gw =
        ProvisioningGateway::start(&tmp.path().join("gateway"), &[(PROFILE, PROFILE_TOML)], 100)?;
    let public_key = gw.public_key()?;
    let codes = gw.issue(PROFILE, 3, &tmp.path().join("sheet"))?;
    assert_eq!(codes.len(), 3, "{codes:?}");

    // Kiosk A: kioskd on the bootstrap config, a code reader and a receipt printer.
    let (_printer, printer_addr) = tcp_printer(&tmp.path().join("printer"))?;
    let mut reader = PtyCodeReader::new()?;
    let mut a = fresh_kiosk(
        &tmp.path().join("a"),
        &public_key,
        &format!(
            "{}\n{}",
            sections::tcp_printer(&printer_addr),
            sections::serial_code_reader(&reader.path)
        ),
    )?;
    let status = a.ctl_ok(&["status"])?;
    assert!(status.contains("not provisioned"), "{status}");
    a.start_daemon()?;
    let pid = a.daemon_pid().expect("running");
    wait_for(
        Duration::from_secs(30),
        "kioskd listening at its code reader",
        || Ok(reader.opened_by(pid).then_some(())),
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", a.daemon_log()))?;

    // Not a setup code, then a tampered one: each refused with its reason, the kiosk waits on.
    // (The reader drops what came before it opened, so a code is presented until answered.)
    present_until(
        &mut reader,
        "MOTCUA-SEP1|000.17.22.H56-261201-0001|1|x",
        || a.daemon_log().contains("this is not a motcua setup code"),
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", a.daemon_log()))?;
    present_until(&mut reader, &tampered(&codes[0]), || {
        let log = a.daemon_log();
        log.contains("signature is not valid") || log.contains("setup code is damaged")
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", a.daemon_log()))?;

    let scanned = Instant::now();
    reader.present(&codes[0])?;
    wait_for(Duration::from_secs(60), "kiosk A provisioned", || {
        log_has(&a, "provisioned: the kiosk starts")
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", a.daemon_log()))?;
    let wall = scanned.elapsed();
    println!(
        "provisioning wall time (scan to ready): {:.2} s",
        wall.as_secs_f64()
    );
    assert!(a.data_dir().join("kiosk.toml").is_file());
    let status = a.ctl_ok(&["status"])?;
    assert!(status.contains(&format!("{SITE}-K001")), "{status}");

    // A dossier's code lies in the allocated block.
    let blocks_a = blocks(&a)?;
    assert_eq!(blocks_a.len(), 1, "{blocks_a:?}");
    random_file(&a.dir.join("to-khai.pdf"), 20_000)?;
    let json = dossier_json(&a.dir, PROCEDURE, &["to-khai.pdf"])?;
    let code = a.submit(&json)?;
    let sequence: u16 = code.rsplit('-').next().unwrap_or_default().parse()?;
    assert!(
        (blocks_a[0].0..=blocks_a[0].1).contains(&sequence),
        "{code} not in {blocks_a:?}"
    );
    a.wait_delivered(Duration::from_secs(60), "the dossier delivered")?;

    // Kiosk B of the same agency, with kioskctl: a disjoint block; a re-run resumes.
    let b = fresh_kiosk(&tmp.path().join("b"), &public_key, "")?;
    let file = write_code(&b, "code.txt", &codes[1])?;
    let out = b.ctl_ok(&["provision", "--qr-file", &file])?;
    assert!(out.contains("provisioned in"), "{out}");
    let blocks_b = blocks(&b)?;
    assert_eq!(blocks_b.len(), 1, "{blocks_b:?}");
    let (ab, bb) = (blocks_a[0], blocks_b[0]);
    assert!(
        ab.1 < bb.0 || bb.1 < ab.0,
        "overlapping blocks {ab:?} {bb:?}"
    );
    let again = b.ctl_ok(&["provision", "--qr-file", &file])?;
    assert!(
        again.contains("already"),
        "a re-run recognises the done steps: {again}"
    );
    assert_eq!(blocks(&b)?, blocks_b, "a re-run keeps the block");

    // B runs low (fewer than 20% of its numbers left today): its kioskd asks for another
    // block, disjoint from A's, and keeps numbering through both.
    random_file(&b.dir.join("to-khai.pdf"), 2_000)?;
    let json_b = dossier_json(&b.dir, PROCEDURE, &["to-khai.pdf"])?;
    for _ in 0..81 {
        b.submit(&json_b)?;
    }
    let mut b = b;
    b.start_daemon()?;
    let two = wait_for(Duration::from_secs(30), "B's second block", || {
        let held = blocks(&b)?;
        Ok((held.len() == 2).then_some(held))
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", b.daemon_log()))?;
    for block in &two {
        assert!(
            block.1 < ab.0 || ab.1 < block.0,
            "{two:?} overlaps A's {ab:?}"
        );
    }
    b.wait_delivered(Duration::from_secs(90), "B's 81 dossiers")?;
    b.kill_daemon();

    // Refused codes, each with its reason.
    let c = fresh_kiosk(&tmp.path().join("c"), &public_key, "")?;
    let used = refused(&c, &write_code(&c, "used.txt", &codes[0])?)?;
    assert!(
        used.contains("this code was already used by another kiosk"),
        "{used}"
    );
    let key_pem = std::fs::read_to_string(gw.gateway.pki.dir.join("provisioning.key"))?;
    let key = ProvisioningKey::from_pem(&key_pem)?;
    let trusted: TrustedProvisioningKey = public_key.parse()?;
    let mut expired = trusted.open(&codes[2], chrono::Utc::now().timestamp())?;
    expired.expires_at = chrono::Utc::now().timestamp() - 60;
    let stale = refused(&c, &write_code(&c, "expired.txt", &key.seal(&expired))?)?;
    assert!(stale.contains("expired"), "{stale}");
    let bad = refused(&c, &write_code(&c, "tampered.txt", &tampered(&codes[2]))?)?;
    assert!(
        bad.contains("signature") || bad.contains("damaged"),
        "{bad}"
    );
    assert!(!c.data_dir().join("kiosk.toml").exists());

    // A technician's remote self-test: picked up, reported, and in the next health report.
    let asked = chrono::Utc::now();
    let device = format!("{SITE}-K001");
    let done = remote(&gw, &device, "self_test", &a).await?;
    assert_eq!(done["result"]["ok"], true, "{done}");
    assert!(
        done["result"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("passed"),
        "{done}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let fleet: Value = gw
            .gateway
            .get_as("technician", "/v1/admin/fleet")
            .await?
            .error_for_status()?
            .json()
            .await?;
        let test = fleet["devices"]
            .as_array()
            .and_then(|d| d.iter().find(|x| x["device_id"] == device.as_str()))
            .map(|d| d["report"]["last_self_test"].clone())
            .unwrap_or(Value::Null);
        let at = test["at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if at.is_some_and(|t| t >= asked) {
            assert_eq!(test["passed"], true, "{test}");
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no health report carried the self-test: {fleet}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The log's tail, the last receipt again, and a refreshed config.
    let tail = remote(&gw, &device, "send_log_tail", &a).await?;
    let log_tail = tail["result"]["log_tail"].as_str().unwrap_or_default();
    assert!(log_tail.contains("provisioning step done"), "{tail}");
    let slips = std::fs::read_dir(tmp.path().join("printer").join("slips"))?.count();
    let reprint = remote(&gw, &device, "reprint_last_receipt", &a).await?;
    assert_eq!(reprint["result"]["ok"], true, "{reprint}");
    assert!(
        reprint["result"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&code),
        "{reprint}"
    );
    wait_for(Duration::from_secs(10), "the reprinted receipt", || {
        Ok(
            (std::fs::read_dir(tmp.path().join("printer").join("slips"))?.count() > slips)
                .then_some(()),
        )
    })?;
    std::fs::write(
        gw.profiles_dir.join(format!("{PROFILE}.toml")),
        PROFILE_TOML.replace("levels = 3", "levels = 5"),
    )?;
    let refreshed = remote(&gw, &device, "refresh_config", &a).await?;
    assert_eq!(refreshed["result"]["ok"], true, "{refreshed}");
    wait_for(
        Duration::from_secs(30),
        "the services restarted on the new config",
        || log_has(&a, "config refreshed: restarting"),
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", a.daemon_log()))?;
    let written = std::fs::read_to_string(a.data_dir().join("kiosk.toml"))?;
    assert!(written.contains("levels = 5"), "{written}");
    // A sheet printed before the profile changed: refused at the profile step, saying why.
    let d = fresh_kiosk(&tmp.path().join("d"), &public_key, "")?;
    let changed = refused(&d, &write_code(&d, "code.txt", &codes[2])?)?;
    assert!(
        changed.contains("the profile changed after the sheet was printed"),
        "{changed}"
    );
    assert!(!d.data_dir().join("kiosk.toml").exists());

    // Still a working kiosk: a second dossier is delivered.
    let second = a.submit(&json)?;
    assert_ne!(second, code);
    a.wait_delivered(Duration::from_secs(60), "a dossier after the refresh")?;
    Ok(())
}

/// `kioskd ui` on a fresh box under a real X server: the technician's setup screen shows a
/// refused code's reason, the real code provisions the kiosk, kioskd exits with 75 (the screen
/// unit restarts on it) and started again it shows the citizens' touch screen.
#[tokio::test(flavor = "multi_thread")]
async fn the_setup_screen_provisions_and_the_touch_screen_follows() -> anyhow::Result<()> {
    use motcua_tests::{bin, KillOnDrop, Xvfb};
    use std::process::{Command, Stdio};

    let tmp = tempfile::tempdir()?;
    let gw =
        ProvisioningGateway::start(&tmp.path().join("gateway"), &[(PROFILE, PROFILE_TOML)], 100)?;
    let public_key = gw.public_key()?;
    let codes = gw.issue(PROFILE, 1, &tmp.path().join("sheet"))?;
    let x = Xvfb::start()?;
    let bare = x.capture(&tmp.path().join("bare.png"))?;
    let mut reader = PtyCodeReader::new()?;
    let kiosk = fresh_kiosk(
        &tmp.path().join("k"),
        &public_key,
        &sections::serial_code_reader(&reader.path),
    )?;
    let start = |log: &str| -> anyhow::Result<KillOnDrop> {
        Ok(KillOnDrop(
            Command::new(bin("kioskd"))
                .arg("--config")
                .arg(&kiosk.config)
                .args(["ui", "--windowed"])
                .env("DISPLAY", &x.display)
                .env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(kiosk.dir.join(log))?)
                .spawn()?,
        ))
    };
    let log = |name: &str| std::fs::read_to_string(kiosk.dir.join(name)).unwrap_or_default();
    let mut first = start("setup.log")?;
    wait_for(Duration::from_secs(30), "the setup screen", || {
        Ok(
            (log("setup.log").contains("technician's setup screen shown")
                && reader.opened_by(first.0.id()))
            .then_some(()),
        )
    })
    .map_err(|e| anyhow::anyhow!("{e}\n{}", log("setup.log")))?;
    present_until(&mut reader, "not a setup code", || {
        log("setup.log").contains("this is not a motcua setup code")
    })?;
    std::thread::sleep(Duration::from_millis(500));
    let shown = x.capture(&tmp.path().join("setup.png"))?;
    assert_ne!(shown, bare, "the setup screen is drawn");
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("provisioning-setup.png");
    x.screenshot(&screenshots)?;
    println!("setup screen: {}", screenshots.display());

    reader.present(&codes[0])?;
    let status = wait_for(
        Duration::from_secs(60),
        "kioskd to exit provisioned",
        || Ok(first.0.try_wait()?),
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", log("setup.log")))?;
    assert_eq!(status.code(), Some(75), "{}", log("setup.log"));
    assert!(kiosk.data_dir().join("kiosk.toml").is_file());

    let _second = start("screen.log")?;
    wait_for(
        Duration::from_secs(60),
        "the touch screen on the new config",
        || {
            Ok(log("screen.log")
                .contains("touch screen shown")
                .then_some(()))
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}\n{}", log("screen.log")))?;
    Ok(())
}
