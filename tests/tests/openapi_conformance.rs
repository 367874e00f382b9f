//! The gateway against its own OpenAPI document, checked by an independent tool: schemathesis
//! (in the venv `scripts/install-deps.sh` makes) generates valid and invalid requests from the
//! document and runs all of its checks on the answers of a real gateway over mutual TLS: no
//! server error, every status and body as documented, invalid requests refused, valid ones
//! accepted, the limits the document states the limits the server enforces.
//!
//! Each role calls the operations its certificate may call, with its own certificate: an
//! enrolled kiosk the device operations (and the public ones), then the technician, the
//! provincial system and the auditor theirs. The pass is bounded (a fixed seed, a few examples
//! per operation) so it fits CI; `MOTCUA_SCHEMATHESIS_EXAMPLES` makes it longer.
//!
//! The gateway runs as in production (provisioning key, profiles, public URL), with one dossier
//! a kiosk delivered (so the export feed has lines to check). Every check runs
//! on every operation. Where a check's default list of statuses is wrong for a documented
//! reason, the operation gets schemathesis' own per-operation tuning ([`schemathesis_config`]),
//! which adds a status and removes none:
//! - tus (`POST /v1/uploads`, `PATCH` and `DELETE /v1/uploads/{id}`): a `Tus-Resumable` other than `1.0.0`
//!   is refused with 412, as tus 1.0 requires of an unsupported version, and an `Upload-Length`
//!   past the gateway's `Tus-Max-Size` (set at start, so not a number of the document) with 413;
//!   neither status is in the default lists (a refusal for `negative_data_rejection`, and for
//!   `positive_data_acceptance` the 413 of a length the document allows).
//! - `POST /v1/devices/renew`: a `csr_pem` that matches the document (a PEM text) but is not a
//!   signed PKCS#10 request is 400 `invalid_csr`; no JSON Schema states a valid signature.
//! - `POST /v1/dossiers/{code}/documents`: the body's `dossier_code` must be the path's `code`,
//!   a rule across a parameter and the body that OpenAPI cannot state (400).
//! - `POST /v1/ratings`: `level` must be at most `scale_levels` (400), a rule across two fields;
//!   the gateway's document generator has no `anyOf` on an object with properties.
//! - `POST /v1/queue/events`: a `day_report` must name its day in `ticket_id` and `key`, a
//!   rule across two fields and the kind (400 `invalid_event`), and a payload is at most 16 KiB
//!   of JSON, which no JSON Schema keyword states (413 `event_too_large`).
//! - `POST /v1/admin/releases`: a body of bytes is what the document can say, not "a Debian
//!   package whose version is new" (422 `release_refused`), and `waves` is a text whose rules
//!   (shares growing to 100 %) no pattern states (400 `invalid_waves`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use motcua_tests::{bin, dossier_json, random_file, Kiosk, KioskSettings, ProvisioningGateway};
use serde_json::Value;

/// Where `scripts/install-deps.sh` installs schemathesis.
fn schemathesis() -> anyhow::Result<PathBuf> {
    let venv = std::env::var_os("MOTCUA_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/motcua-test-venv"));
    let exe = venv.join("bin/schemathesis");
    if !exe.exists() {
        bail!(
            "{} is missing: run scripts/install-deps.sh (it installs schemathesis in a venv)",
            exe.display()
        );
    }
    Ok(exe)
}

/// The security scheme each role's certificate answers to, in the OpenAPI document.
fn scheme(role: &str) -> String {
    format!("{role}_certificate")
}

/// The document with only the operations `role` may call (for the device, also those that need
/// no certificate).
fn operations_for(doc: &Value, role: &str) -> anyhow::Result<(Value, usize)> {
    let mut doc = doc.clone();
    let paths = doc["paths"]
        .as_object_mut()
        .context("the OpenAPI document has no paths")?;
    let mut kept = 0;
    for item in paths.values_mut() {
        let Some(methods) = item.as_object_mut() else {
            continue;
        };
        methods.retain(|_, op| {
            let security = op.get("security").and_then(Value::as_array);
            let keep = match security {
                None => role == "device",
                Some(list) if list.is_empty() => role == "device",
                Some(list) => list.iter().any(|req| req.get(scheme(role)).is_some()),
            };
            kept += usize::from(keep);
            keep
        });
    }
    paths.retain(|_, item| item.as_object().is_some_and(|m| !m.is_empty()));
    Ok((doc, kept))
}

/// Schemathesis hooks (a Python module on its `PYTHONPATH`) for what it cannot make from the
/// document alone: a body of the tus PATCH's media type (any bytes), a value of the
/// `tus-sha256-metadata` format of `Upload-Metadata`: `sha256` and the base64 of a hex SHA-256,
/// here that of empty content, the one hash valid for every `Upload-Length` (0 too); and a
/// reader of JSON lines (`GET /v1/export/feed`), whose documented schema is that of each line
/// (schemathesis reads only server-sent events as streams): every line must be JSON and match
/// it (the first is handed back for schemathesis' own check; an answer without lines has nothing
/// to check).
const HOOKS: &str = "\
import base64
import json
import schemathesis
from hypothesis import strategies as st

@schemathesis.deserializer('application/x-ndjson')
def json_lines(ctx, response):
    lines = [json.loads(line) for line in response.content.decode('utf-8').splitlines()]
    if not lines:
        raise NotImplementedError('no line to check')
    definition = ctx.operation.responses.find_by_status_code(response.status_code)
    resolved = definition.get_schema('application/x-ndjson')
    validator = definition.get_validator(resolved.media_type, resolved.schema)
    for number, line in enumerate(lines[1:], start=2):
        try:
            validator.validate(line)
        except Exception as e:  # jsonschema_rs.ValidationError
            raise ValueError(f'line {number} does not match the schema: {e}') from e
    return lines[0]

EMPTY = base64.b64encode(b'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855').decode()
schemathesis.openapi.media_type('application/offset+octet-stream', st.binary(max_size=64))
schemathesis.openapi.media_type('application/vnd.debian.binary-package', st.binary(max_size=256))
schemathesis.openapi.format(
    'tus-sha256-metadata',
    st.sampled_from(['sha256 ' + EMPTY, 'filename YS5wZGY=,sha256 ' + EMPTY]),
)
";

/// Schemathesis' defaults for what a rejection (`negative_data_rejection`) and an acceptance
/// (`positive_data_acceptance`) may answer.
const REJECTIONS: &str =
    r#""400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx""#;
const ACCEPTANCES: &str = r#""2xx", "3xx", "401", "403", "404", "409", "429", "5xx""#;

/// The per-operation tuning schemathesis documents (`st explain ST201`, `ST202`) for refusals a
/// schema cannot express; see the test's doc comment for each reason.
fn schemathesis_config() -> String {
    let mut toml = String::new();
    for (operation, check, defaults, extra) in [
        (
            "POST /v1/uploads",
            "negative_data_rejection",
            REJECTIONS,
            r#""412", "413""#,
        ),
        (
            "PATCH /v1/uploads/{id}",
            "negative_data_rejection",
            REJECTIONS,
            r#""412""#,
        ),
        (
            "DELETE /v1/uploads/{id}",
            "negative_data_rejection",
            REJECTIONS,
            r#""412""#,
        ),
        (
            "POST /v1/uploads",
            "positive_data_acceptance",
            ACCEPTANCES,
            r#""413""#,
        ),
        (
            "POST /v1/devices/renew",
            "positive_data_acceptance",
            ACCEPTANCES,
            r#""400""#,
        ),
        (
            "POST /v1/dossiers/{code}/documents",
            "positive_data_acceptance",
            ACCEPTANCES,
            r#""400""#,
        ),
        (
            "POST /v1/ratings",
            "positive_data_acceptance",
            ACCEPTANCES,
            r#""400""#,
        ),
        (
            "POST /v1/queue/events",
            "positive_data_acceptance",
            ACCEPTANCES,
            r#""400", "413""#,
        ),
        (
            "POST /v1/admin/releases",
            "positive_data_acceptance",
            ACCEPTANCES,
            r#""400", "422""#,
        ),
    ] {
        toml.push_str(&format!(
            "[[operations]]\ninclude-name = \"{operation}\"\n\
             checks.{check}.expected-statuses = [{defaults}, {extra}]\n\n"
        ));
    }
    toml
}

/// A profile the provisioning route can issue codes for.
const PROFILE_TOML: &str = "[rating]\nlevels = 3\n";

fn run_schemathesis(
    hooks_dir: &Path,
    config: &Path,
    spec: &Path,
    url: &str,
    identity: &Path,
    ca: &Path,
    report: &Path,
) -> anyhow::Result<(bool, String)> {
    let examples =
        std::env::var("MOTCUA_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".to_owned());
    let out = Command::new(schemathesis()?)
        // Its cache (`.schemathesis/`) goes to the test's folder, not the source tree.
        .current_dir(hooks_dir)
        .env("PYTHONPATH", hooks_dir)
        .env("SCHEMATHESIS_HOOKS", "motcua_hooks")
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(spec)
        .args(["--url", url, "--checks", "all", "--max-examples", &examples])
        .args(["--seed", "14", "--workers", "1", "--no-color"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .arg("--request-cert")
        .arg(identity)
        .arg("--tls-verify")
        .arg(ca)
        .arg("--report-dir")
        .arg(report)
        .output()
        .context("run schemathesis")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

#[test]
fn every_role_s_operations_conform_to_the_openapi_document() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    // Started as production is: with its provisioning key, profiles and public URL, so the
    // provisioning route is served rather than answering 503. The one change: a per-device rate
    // limit above the run's pace (schemathesis sends ~1000 requests a minute with the kiosk's
    // certificate), else most device calls would be checked against 429 `rate_limited` only,
    // not the logic behind it (the limit itself is the gateway's limits tests' job).
    // And with a release key, so that publishing through the admin API is served too.
    let release_keys = tmp.path().join("release-keys");
    std::fs::create_dir_all(&release_keys)?;
    let made = Command::new(bin("gateway"))
        .args(["release", "key", "init", "--dir"])
        .arg(&release_keys)
        .output()?;
    anyhow::ensure!(made.status.success(), "gateway release key init failed");
    let release_key = release_keys.join("release.key");
    let provisioning = ProvisioningGateway::start_with(
        &tmp.path().join("gateway"),
        &[("commune-desk", PROFILE_TOML)],
        100,
        &[
            "--rate-limit-per-minute",
            "1000000",
            "--release-key-file",
            release_key.to_str().context("path")?,
        ],
    )?;
    let gateway = &provisioning.gateway;
    std::fs::write(tmp.path().join("motcua_hooks.py"), HOOKS)?;
    let config = tmp.path().join("schemathesis.toml");
    std::fs::write(&config, schemathesis_config())?;
    let out = Command::new(bin("gateway")).arg("openapi").output()?;
    anyhow::ensure!(out.status.success(), "gateway openapi failed");
    let doc: Value = serde_json::from_slice(&out.stdout).context("the OpenAPI document")?;

    // The device's credential is a real enrolment's; the roles' come from `gateway ca issue`.
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(gateway))?;
    // Two dossiers with a document, delivered as a kiosk does: the provincial system's export
    // feed then has lines for schemathesis to check against the document.
    random_file(&tmp.path().join("scan.pdf"), 4000)?;
    for _ in 0..2 {
        kiosk.submit(&dossier_json(tmp.path(), "1.001193", &["scan.pdf"])?)?;
    }
    kiosk.start_daemon()?;
    kiosk.wait_delivered(
        std::time::Duration::from_secs(60),
        "the dossier for the export feed",
    )?;
    kiosk.kill_daemon();
    let mut identities = vec![("device", kiosk.data_dir().join("identity/device.pem"))];
    for role in ["technician", "system", "auditor"] {
        let pem = tmp.path().join(format!("{role}.pem"));
        std::fs::write(&pem, gateway.pki.role(role)?.identity_pem()?)?;
        identities.push((role, pem));
    }

    let mut failures = Vec::new();
    let mut total = 0;
    for (role, identity) in &identities {
        let (spec, operations) = operations_for(&doc, role)?;
        total += operations;
        if operations == 0 {
            continue;
        }
        let spec_file = tmp.path().join(format!("openapi-{role}.json"));
        std::fs::write(&spec_file, serde_json::to_vec_pretty(&spec)?)?;
        let report = tmp.path().join(format!("report-{role}"));
        let started = std::time::Instant::now();
        let (ok, text) = run_schemathesis(
            tmp.path(),
            &config,
            &spec_file,
            &gateway.url(),
            identity,
            &gateway.pki.ca_cert(),
            &report,
        )?;
        eprintln!(
            "== schemathesis as {role} ({operations} operations, {:.0?})\n{text}",
            started.elapsed()
        );
        if !ok {
            failures.push(*role);
        }
    }
    // Every operation of the document was checked by some role.
    let all: usize = doc["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .filter_map(Value::as_object)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    assert!(total >= all, "{total} operations checked of {all}");
    if !failures.is_empty() {
        // A dropped connection (schemathesis' "Network Error") is a panic, an error or a
        // connection's end here (the last at debug level: `RUST_LOG=debug`).
        let log = std::fs::read_to_string(tmp.path().join("gateway/gateway.log"))?;
        let telling = ["panic", "ERROR", "connection ended", "handshake"];
        for line in log
            .lines()
            .filter(|l| telling.iter().any(|t| l.contains(t)))
        {
            eprintln!("gateway: {line}");
        }
    }
    assert!(
        failures.is_empty(),
        "schemathesis found problems in the operations of: {failures:?} (output above)"
    );
    Ok(())
}
