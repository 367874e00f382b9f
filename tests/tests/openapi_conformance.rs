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

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use motcua_tests::{bin, Gateway, Kiosk, KioskSettings};
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

fn run_schemathesis(
    spec: &Path,
    url: &str,
    identity: &Path,
    ca: &Path,
    report: &Path,
) -> anyhow::Result<(bool, String)> {
    let examples =
        std::env::var("MOTCUA_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "15".to_owned());
    let out = Command::new(schemathesis()?)
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
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let out = Command::new(bin("gateway")).arg("openapi").output()?;
    anyhow::ensure!(out.status.success(), "gateway openapi failed");
    let doc: Value = serde_json::from_slice(&out.stdout).context("the OpenAPI document")?;

    // The device's credential is a real enrolment's; the roles' come from `gateway ca issue`.
    let kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
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
        let (ok, text) = run_schemathesis(
            &spec_file,
            &gateway.url(),
            identity,
            &gateway.pki.ca_cert(),
            &report,
        )?;
        eprintln!("== schemathesis as {role} ({operations} operations)\n{text}");
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
    assert!(
        failures.is_empty(),
        "schemathesis found problems in the operations of: {failures:?} (output above)"
    );
    Ok(())
}
