//! The technician's tools for provisioning, against both storage backends: `gateway provision`
//! on the gateway's store (the printed PDF and the codes file, whose codes a kiosk then uses),
//! the QR code read back from the rendered page, `ca init` and `provision key`, the PDF from the
//! API, and the fleet page's remote-action buttons (refused from another site).

#[macro_use]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use harness::*;
use motcua_domain::wire::{HealthReport, SelfTestSummary};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn gateway() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gateway"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("gateway runs");
    assert!(
        out.status.success(),
        "gateway failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("-v").output().is_ok()
}

/// The pages of a PDF, by `pdfinfo` (poppler-utils) when installed, else by its page objects.
fn page_count(pdf: &Path) -> usize {
    if have("pdfinfo") {
        let info = String::from_utf8(
            Command::new("pdfinfo")
                .arg(pdf)
                .output()
                .expect("pdfinfo")
                .stdout,
        )
        .expect("utf-8");
        let pages = info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .expect("Pages line");
        return pages.trim().parse().expect("number");
    }
    let text = String::from_utf8_lossy(&std::fs::read(pdf).expect("pdf")).into_owned();
    text.matches("/Type /Page").count() - text.matches("/Type /Pages").count()
}

/// The QR codes on page 1 of `pdf`, rendered at 150 dpi by `pdftoppm` and read with rqrr.
fn qr_codes_on_first_page(pdf: &Path, dir: &Path) -> Vec<String> {
    let prefix = dir.join("page");
    let ok = Command::new("pdftoppm")
        .args(["-r", "150", "-gray", "-f", "1", "-l", "1", "-singlefile"])
        .arg(pdf)
        .arg(&prefix)
        .status()
        .expect("pdftoppm");
    assert!(ok.success());
    let img = image::open(dir.join("page.pgm"))
        .expect("page image")
        .to_luma8();
    let (w, h) = img.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            img.get_pixel(x as u32, y as u32).0[0]
        });
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}

async fn the_cli_prints_a_sheet_whose_codes_provision_kiosks(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let out = h.dir.path().join("sheet.pdf");
    let codes = h.dir.path().join("codes.txt");
    // Files left from an earlier sheet, readable by all: they end up the owner's only.
    for f in [&out, &codes] {
        std::fs::write(f, "old").expect("old file");
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let mut cmd = gateway();
    cmd.args([
        "provision",
        "--site",
        SITE,
        "--profile",
        PROFILE,
        "--count",
        "2",
    ])
    .args(["--valid-hours", "24", "--public-url", PUBLIC_URL])
    .arg("--out")
    .arg(&out)
    .arg("--codes-out")
    .arg(&codes)
    .arg("--data-dir")
    .arg(h.dir.path())
    .arg("--provisioning-key-file")
    .arg(h.pki_dir().join("provisioning.key"))
    .arg("--ca-cert-file")
    .arg(h.pki_dir().join("ca.crt"))
    .arg("--profiles-dir")
    .arg(h.profiles_dir())
    .env_remove("MOTCUA_GATEWAY_DATABASE_URL");
    if let Some(pg) = &h.pg {
        cmd.args(["--database-url", &pg.url]);
    }
    let stdout = run(&mut cmd);
    assert!(stdout.contains(&format!("{SITE}-K001")), "{stdout}");
    assert!(stdout.contains(&format!("{SITE}-K002")), "{stdout}");
    assert!(
        !stdout.contains("MOTCUA-SETUP1"),
        "codes stay off stdout: {stdout}"
    );
    for f in [&out, &codes] {
        let mode = std::fs::metadata(f).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", f.display());
    }
    let lines: Vec<String> = std::fs::read_to_string(&codes)
        .expect("codes")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2);

    let pdf = std::fs::read(&out).expect("pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(page_count(&out), 2);
    if !have("pdftoppm") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs poppler-utils (scripts/install-deps.sh)"
        );
    } else {
        let printed = qr_codes_on_first_page(&out, h.dir.path());
        assert_eq!(
            printed,
            [lines[0].clone()],
            "the printed QR is the first code"
        );
        assert_eq!(h.open_code(&printed[0]).device_id, format!("{SITE}-K001"));
    }

    // The running gateway (same store) takes the codes.
    let (p, _) = h.provision_kiosk(&lines[1]).await;
    assert_eq!(p.certificate.device_id, format!("{SITE}-K002"));

    // `provision withdraw` voids K001's unused code on the store; K002 is live now, so a new
    // code for it needs --replace.
    let store_args = |cmd: &mut Command| {
        cmd.arg("--data-dir")
            .arg(h.dir.path())
            .env_remove("MOTCUA_GATEWAY_DATABASE_URL");
        if let Some(pg) = &h.pg {
            cmd.args(["--database-url", &pg.url]);
        }
    };
    let mut cmd = gateway();
    cmd.args([
        "provision",
        "withdraw",
        "--device-id",
        &format!("{SITE}-K001"),
    ]);
    store_args(&mut cmd);
    let said = run(&mut cmd);
    assert!(said.contains("withdrawn: 1 "), "{said}");
    let c = h.open_code(&lines[0]);
    let key = motcua_identity::DeviceKey::generate(&c.device_id, SITE).expect("key");
    let r = h.provision(&c.token, &key).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "token_withdrawn");
    let sheet_cmd = |replace: bool| {
        let mut cmd = gateway();
        cmd.args(["provision", "--site", SITE, "--profile", PROFILE])
            .args([
                "--device-id",
                &format!("{SITE}-K002"),
                "--public-url",
                PUBLIC_URL,
            ])
            .arg("--out")
            .arg(h.dir.path().join("k002.pdf"))
            .arg("--provisioning-key-file")
            .arg(h.pki_dir().join("provisioning.key"))
            .arg("--ca-cert-file")
            .arg(h.pki_dir().join("ca.crt"))
            .arg("--profiles-dir")
            .arg(h.profiles_dir());
        if replace {
            cmd.arg("--replace");
        }
        store_args(&mut cmd);
        cmd
    };
    let refused = sheet_cmd(false).output().expect("gateway runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("cut off the running kiosk"), "{stderr}");
    assert!(!h.dir.path().join("k002.pdf").exists());
    let said = run(&mut sheet_cmd(true));
    assert!(said.contains(&format!("{SITE}-K002")), "{said}");

    // The public key line, and `ca init` making the key files once.
    let key_line = run(gateway()
        .args(["provision", "key", "--dir"])
        .arg(h.pki_dir()));
    assert_eq!(
        key_line
            .trim()
            .parse::<motcua_identity::setup_code::TrustedProvisioningKey>()
            .ok(),
        Some(h.trusted_key())
    );
    let fresh = h.dir.path().join("ca-new");
    run(gateway()
        .args(["ca", "init", "--host", "localhost", "--dir"])
        .arg(&fresh));
    let key_mode = std::fs::metadata(fresh.join("provisioning.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let public = std::fs::read_to_string(fresh.join("provisioning.pub")).expect("pub");
    assert!(public.starts_with("# "), "{public}");
    let before = std::fs::read(fresh.join("provisioning.key")).expect("key");
    let again = run(gateway()
        .args(["ca", "provisioning-key", "--dir"])
        .arg(&fresh));
    assert!(again.contains("kept"), "{again}");
    assert_eq!(
        std::fs::read(fresh.join("provisioning.key")).expect("key"),
        before
    );
    h.finish().await;
}

async fn the_api_answers_the_sheet_as_pdf(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let r = h
        .req(
            Method::POST,
            "/v1/admin/provisioning?format=pdf",
            Some(&h.technician),
        )
        .json(&json!({"site": SITE, "profile": PROFILE, "count": 3}))
        .send()
        .await
        .expect("pdf");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "application/pdf");
    let bytes = r.bytes().await.expect("bytes");
    let path = h.dir.path().join("api.pdf");
    std::fs::write(&path, &bytes).expect("write");
    assert_eq!(page_count(&path), 3);

    // Without its fonts the gateway refuses before issuing anything.
    let mut h = h;
    h.reboot_with(|c| c.sheet_fonts.regular = "/nonexistent/font.ttf".into())
        .await;
    let r = h
        .req(
            Method::POST,
            "/v1/admin/provisioning?format=pdf",
            Some(&h.technician),
        )
        .json(&json!({"site": SITE, "profile": PROFILE}))
        .send()
        .await
        .expect("pdf");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(r).await, "provisioning_unavailable");
    let next = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    assert_eq!(
        next.codes[0].device_id,
        format!("{SITE}-K004"),
        "the refused sheet took no id"
    );
    h.finish().await;
}

async fn the_fleet_page_queues_actions_from_the_page_only(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let sheet = h.sheet(json!({"site": SITE, "profile": PROFILE})).await;
    let (p, kiosk) = h.provision_kiosk(&sheet.codes[0].code).await;
    let id = p.certificate.device_id;
    let now = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    let report = HealthReport {
        software_version: "0.1.0".into(),
        generated_at: now,
        sent_at: Some(now),
        uptime_s: 60,
        outbox_pending: 0,
        oldest_undelivered_s: None,
        needs_technician: 0,
        set_aside: 0,
        printer: None,
        disk_free_bytes: None,
        disk_floor_bytes: 0,
        last_self_test: Some(SelfTestSummary {
            at: now,
            passed: false,
            failed: vec!["máy in <receipt>".into()],
        }),
    };
    let r = h
        .post_json("/v1/health-reports", &kiosk, Some("r-1"), &report)
        .await;
    assert!(r.status().is_success());
    let page = |h: &Harness| {
        h.req(Method::GET, "/v1/admin/fleet.html", Some(&h.technician))
            .send()
    };
    let html = page(&h).await.expect("page").text().await.expect("html");
    let action = format!("action=\"/v1/admin/devices/{id}/actions\"");
    assert_eq!(html.matches(&action).count(), 4, "{html}");
    for kind in [
        "self_test",
        "reprint_last_receipt",
        "send_log_tail",
        "refresh_config",
    ] {
        assert!(html.contains(&format!("value=\"{kind}\"")), "{kind}");
    }
    assert!(
        html.contains("máy in &lt;receipt&gt;"),
        "the self-test failure, escaped"
    );

    let form_of = |site: &'static str, body: &'static str| {
        h.req(
            Method::POST,
            &format!("/v1/admin/devices/{id}/actions"),
            Some(&h.technician),
        )
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", site)
        .body(body)
    };
    let form = |site: &'static str| form_of(site, "kind=send_log_tail");
    // A kind no kiosk can carry out is refused from the form too.
    for body in ["kind=unsupported", "kind=reboot"] {
        let r = form_of("same-origin", body).send().await.expect("post");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error_code(r).await, "invalid_kind");
    }
    assert!(!html.contains("value=\"unsupported\""), "no button for it");
    let r = form("cross-site").send().await.expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "cross_site_request");
    let pending = h
        .req(Method::GET, "/v1/devices/actions", Some(&kiosk))
        .send()
        .await
        .expect("list");
    let pending: motcua_domain::provisioning::RemoteActions = pending.json().await.expect("json");
    assert!(
        pending.actions.is_empty(),
        "nothing queued from another site"
    );

    let r = form("same-origin")
        .header("origin", h.url(""))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), "/v1/admin/fleet.html");
    let html = r.text().await.expect("html");
    assert!(html.contains("data-kind=\"send_log_tail\""), "{html}");
    assert!(
        html.contains("đang chờ ki-ốt / waiting for the kiosk"),
        "{html}"
    );
    h.finish().await;
}

scenarios!(
    the_cli_prints_a_sheet_whose_codes_provision_kiosks,
    the_api_answers_the_sheet_as_pdf,
    the_fleet_page_queues_actions_from_the_page_only,
);
