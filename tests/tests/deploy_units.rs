//! The files of deploy/ that a device image is made of, checked without booting anything:
//! the shipped kiosk config documents every key and loads once uncommented, the udev rules are
//! well formed (udev cannot run in a container, and systemd 252 has no `udevadm verify`),
//! every unit passes `systemd-analyze verify` with the real binaries at their ExecStart paths
//! and has an exposure of at most 2.0 in `systemd-analyze security`, and lintian finds no error
//! in either package.

mod deploy_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context};
use deploy_support::{
    deploy, packages, release_binaries, require_tool, run, target_dir, workspace,
};
use motcua_kiosk::config::{ConfigError, KioskConfig};

/// The units of the packages, with the package each belongs to.
const UNITS: [&str; 4] = [
    "kiosk/motcua-kioskd.service",
    "kiosk/motcua-kioskd-screen.service",
    "kiosk/motcua-hub.service",
    "gateway/motcua-gateway.service",
];

/// The root updater's units (motcua-kiosk): hardened as far as running dpkg allows, checked on
/// their own (`the_updater_unit_is_closed_but_for_what_dpkg_needs`).
const UPDATER_UNITS: [&str; 2] = [
    "kiosk/motcua-kiosk-updater.service",
    "kiosk/motcua-kiosk-updater.path",
];

// ---------------------------------------------------------------------------------------------
// The kiosk config

/// `#key = value` and `#[table]` lines are settings; `# text` lines are explanations.
fn is_commented_setting(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('#') else {
        return false;
    };
    rest.starts_with('[')
        || rest.split_once('=').is_some_and(|(key, _)| {
            let key = key.trim_end();
            !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// The shipped text with the settings of the given tables uncommented (`None`: all of them).
fn uncomment(text: &str, tables: Option<&[&str]>) -> String {
    let mut table = String::new();
    let mut out = String::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("#[") {
            table = header.trim_matches(|c| c == '[' || c == ']').to_owned();
        }
        let wanted = tables.is_none_or(|t| t.contains(&table.as_str()));
        if wanted && is_commented_setting(line) {
            out.push_str(&line[1..]);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Field names of the structs the config is read into (`Raw*` and `ReceiptSettings`), from
/// the sources, so a key added to the code but not to the shipped file fails here.
fn config_keys_in_sources() -> anyhow::Result<BTreeSet<String>> {
    let mut keys = BTreeSet::new();
    for file in [
        "kiosk/src/config/mod.rs",
        "kiosk/src/config/bootstrap.rs",
        "kiosk/src/config/hub.rs",
        "kiosk/src/config/audio.rs",
        "kiosk/src/config/signing.rs",
        "kiosk/src/devices/settings.rs",
        "kiosk/src/screen_config.rs",
        "kiosk/src/receipt.rs",
    ] {
        let text = std::fs::read_to_string(workspace().join(file))?;
        let mut inside = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with("pub struct Raw")
                || t.starts_with("struct Raw")
                || t.starts_with("pub(crate) struct Raw")
                || t.starts_with("pub struct ReceiptSettings")
            {
                inside = t.ends_with('{');
                continue;
            }
            if inside {
                if t == "}" {
                    inside = false;
                    continue;
                }
                if t.starts_with("//") || t.starts_with("#[") {
                    continue;
                }
                let field = t
                    .trim_start_matches("pub ")
                    .trim_start_matches("pub(crate) ");
                if let Some((name, _)) = field.split_once(':') {
                    keys.insert(name.trim().to_owned());
                }
            }
        }
    }
    ensure!(
        keys.len() > 40,
        "found only {} config keys in the sources: {keys:?}",
        keys.len()
    );
    Ok(keys)
}

#[test]
fn shipped_kiosk_config_documents_every_key_and_loads_uncommented() -> anyhow::Result<()> {
    let path = deploy("kiosk/kiosk.toml");
    let text = std::fs::read_to_string(&path)?;

    // Every key the code reads is there, commented; the tables become keys of their own.
    let documented: BTreeSet<String> = text
        .lines()
        .filter(|l| is_commented_setting(l) && !l.starts_with("#["))
        .map(|l| l[1..].split_once('=').unwrap().0.trim().to_owned())
        .collect();
    let tables = [
        "device",
        "store",
        "gateway",
        "uplink",
        "calendar",
        "rating",
        "printer",
        "code_reader",
        "scanner",
        "receipt",
        "ui",
        "ticket",
        "intake",
        "provisioning",
        "update",
        "hub",
        "audio",
        "signing",
    ];
    let missing: Vec<_> = config_keys_in_sources()?
        .into_iter()
        .filter(|k| !documented.contains(k) && !tables.contains(&k.as_str()) && k != "areas")
        .collect();
    ensure!(
        missing.is_empty(),
        "keys of the code missing from {}: {missing:?}",
        path.display()
    );
    ensure!(
        text.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "every line of the shipped config must be commented"
    );

    // As shipped it does not run a kiosk, and says which table to fill in.
    match KioskConfig::parse(&text, "kiosk.toml") {
        Err(ConfigError::Invalid { message, .. }) => {
            ensure!(message.contains("device"), "{message}")
        }
        other => bail!("the shipped config must ask for [device], got {other:?}"),
    }

    // The minimal form: only the required tables uncommented; the rest takes its defaults.
    let tmp = tempfile::tempdir()?;
    let minimal = tmp.path().join("kiosk.toml");
    std::fs::write(&minimal, uncomment(&text, Some(&["device", "gateway"])))?;
    let c = KioskConfig::load(&minimal).context("the minimal uncommented config")?;
    assert_eq!(c.store.data_dir, Path::new("/var/lib/motcua"));
    assert_eq!(c.device.id, "KIOSK-H56-0001");
    assert!(c.peripherals.printer.is_none());

    // Every setting uncommented: the values written next to the keys are valid and are the
    // defaults of the code where the file says so.
    let full = tmp.path().join("kiosk-full.toml");
    // The demo key file excludes the token's module: uncommented on its own below.
    let all = uncomment(&text, None);
    let without_demo: String = all
        .lines()
        .map(|l| {
            if l.starts_with("demo_") {
                format!("#{l}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&full, &without_demo)?;
    let c = KioskConfig::load(&full).context("the config with every setting uncommented")?;
    assert_eq!(c.store.min_free_bytes, 200 * 1024 * 1024);
    assert_eq!(c.uplink.chunk_bytes, 4096 * 1024);
    assert_eq!(c.uplink.request_timeout.as_secs(), 30);
    assert_eq!(c.screen.idle.timeout_ms, 60_000);
    assert_eq!(c.screen.pins.max_attempts, 5);
    assert_eq!(c.intake.jpeg_quality, 75);
    assert!(c.peripherals.printer.is_some());
    assert!(c.peripherals.code_reader.is_some());
    assert!(c.peripherals.scanner.is_some());
    assert_eq!(c.receipt.appointment_time, "14:00");
    assert_eq!(
        c.hub.as_ref().map(|h| h.url.as_str()),
        Some("https://10.0.0.5:8710")
    );
    assert!(c.audio.enabled, "the voice is on as shipped");
    assert_eq!(
        c.signing.key,
        motcua_kiosk::config::SigningKeySource::Token {
            module: "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so".into(),
            label: Some("VNPT-CA".into()),
        }
    );
    let demo: String = without_demo
        .lines()
        .map(|l| match l {
            l if l.starts_with("#demo_") => format!("{}\n", &l[1..]),
            l if l.starts_with("module =") || l.starts_with("token_label =") => format!("#{l}\n"),
            l => format!("{l}\n"),
        })
        .collect();
    let c = KioskConfig::parse(&demo, "kiosk-demo.toml")
        .map_err(|e| anyhow::anyhow!("the demo key settings: {e}"))?;
    assert!(matches!(
        c.signing.key,
        motcua_kiosk::config::SigningKeySource::DemoKey { .. }
    ));
    let defaults = KioskConfig::load(&minimal)?;
    assert_eq!(c.receipt.footer, defaults.receipt.footer);
    assert_eq!(c.screen.title_vi, defaults.screen.title_vi);
    assert_eq!(
        c.intake.document_code.as_str(),
        defaults.intake.document_code.as_str()
    );
    Ok(())
}

/// The gateway's example config profile is what a kiosk reads: with the tables each kiosk
/// writes itself ([device], [gateway]) added, it loads as a kiosk config and sets the
/// peripherals, the receipt's place and the queue areas it names.
#[test]
fn the_gateways_example_profile_loads_as_a_kiosk_config() -> anyhow::Result<()> {
    let profile = std::fs::read_to_string(deploy("gateway/profiles/commune-desk.toml"))?;
    let text = format!(
        "[device]\nid = \"000.17.22.H56-K001\"\nagency_code = \"000.17.22.H56\"\n\
         sequence_first = 1\nsequence_last = 500\n\n\
         [gateway]\nurl = \"https://motcua-gateway.example.gov.vn\"\n\n{profile}"
    );
    let c = KioskConfig::parse(&text, "commune-desk.toml")
        .map_err(|e| anyhow::anyhow!("the example profile does not load: {e}"))?;
    ensure!(c.peripherals.printer.is_some());
    ensure!(c.peripherals.code_reader.is_some());
    ensure!(c.peripherals.scanner.is_some());
    ensure!(c.receipt.place == "Xã", "{:?}", c.receipt.place);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// udev rules

/// Keys udev matches on (only `==` and `!=`).
const MATCH_ONLY: &[&str] = &[
    "ACTION",
    "DEVPATH",
    "KERNEL",
    "KERNELS",
    "SUBSYSTEM",
    "SUBSYSTEMS",
    "DRIVER",
    "DRIVERS",
    "ATTRS",
    "TAGS",
    "TEST",
    "PROGRAM",
    "RESULT",
    "CONST",
];
/// Keys udev assigns (`=`, `+=`, `-=`, `:=`).
const ASSIGN_ONLY: &[&str] = &[
    "OWNER", "GROUP", "MODE", "SECLABEL", "RUN", "LABEL", "GOTO", "IMPORT", "OPTIONS",
];
/// Keys that do both.
const BOTH: &[&str] = &["NAME", "SYMLINK", "ATTR", "SYSCTL", "ENV", "TAG"];
/// Keys that take `{attribute}`: required, optional.
const ATTR_REQUIRED: &[&str] = &[
    "ATTR", "ATTRS", "SYSCTL", "ENV", "CONST", "IMPORT", "SECLABEL",
];
const ATTR_OPTIONAL: &[&str] = &["TEST", "RUN"];

/// One `KEY{attr}OP"value"` of a rule.
#[derive(Debug)]
struct Pair {
    key: String,
    attr: Option<String>,
    op: String,
    value: String,
}

/// Checks a udev rules file the way udev reads it; returns the pairs of each rule.
fn parse_udev_rules(text: &str) -> Result<Vec<Vec<Pair>>, String> {
    let mut rules = Vec::new();
    let mut labels = BTreeSet::new();
    let mut gotos = Vec::new();
    let mut logical = String::new();
    let mut first_line = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            first_line = i + 1;
        }
        if let Some(cont) = raw.strip_suffix('\\') {
            logical.push_str(cont);
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let pairs = parse_rule(t).map_err(|e| format!("line {first_line}: {e}: {t}"))?;
        for p in &pairs {
            match p.key.as_str() {
                "LABEL" => {
                    labels.insert(p.value.clone());
                }
                "GOTO" => gotos.push((first_line, p.value.clone())),
                "MODE"
                    if !(p.value.len() == 4
                        && p.value.chars().all(|c| ('0'..='7').contains(&c))) =>
                {
                    return Err(format!("line {first_line}: MODE must be four octal digits"));
                }
                "GROUP" | "OWNER"
                    if p.value.is_empty()
                        || !p
                            .value
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) =>
                {
                    return Err(format!("line {first_line}: {} must be a plain name", p.key));
                }
                _ => {}
            }
        }
        rules.push(pairs);
    }
    if !logical.is_empty() {
        return Err("the file ends inside a continued line".into());
    }
    for (line, target) in gotos {
        if !labels.contains(&target) {
            return Err(format!("line {line}: GOTO=\"{target}\" has no LABEL"));
        }
    }
    Ok(rules)
}

fn parse_rule(line: &str) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        let key_len = rest
            .find(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .unwrap_or(rest.len());
        if key_len == 0 {
            return Err(format!("expected a key at {rest:?}"));
        }
        let key = &rest[..key_len];
        rest = &rest[key_len..];
        let attr = if let Some(after) = rest.strip_prefix('{') {
            let end = after.find('}').ok_or("an unclosed {")?;
            let attr = &after[..end];
            if attr.is_empty() {
                return Err(format!("{key}{{}} with an empty attribute"));
            }
            rest = &after[end + 1..];
            Some(attr.to_owned())
        } else {
            None
        };
        rest = rest.trim_start();
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("{key}: expected an operator (==, !=, =, +=, -=, :=)"))?;
        rest = rest[op.len()..].trim_start();
        let body = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("{key}{op}: the value must be in double quotes"))?;
        let mut value = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("{key}{op}: an unclosed quote")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => {
                    if let Some((_, c)) = chars.next() {
                        value.push('\\');
                        value.push(c);
                    }
                }
                Some((_, c)) => value.push(c),
            }
        };
        rest = &body[end + 1..];

        let is_match = op == "==" || op == "!=";
        let known = MATCH_ONLY.contains(&key) || ASSIGN_ONLY.contains(&key) || BOTH.contains(&key);
        if !known {
            return Err(format!("unknown key {key}"));
        }
        if MATCH_ONLY.contains(&key) && !is_match {
            return Err(format!(
                "{key} can only be matched (== or !=), not assigned"
            ));
        }
        if ASSIGN_ONLY.contains(&key) && is_match {
            return Err(format!("{key} can only be assigned, not matched"));
        }
        if ATTR_REQUIRED.contains(&key) && attr.is_none() {
            return Err(format!("{key} needs {{attribute}}"));
        }
        if attr.is_some() && !ATTR_REQUIRED.contains(&key) && !ATTR_OPTIONAL.contains(&key) {
            return Err(format!("{key} takes no {{attribute}}"));
        }
        if op == "-=" && !["SYMLINK", "TAG", "RUN", "ENV"].contains(&key) {
            return Err(format!("{key} cannot be removed from (-=)"));
        }
        pairs.push(Pair {
            key: key.to_owned(),
            attr,
            op: op.to_owned(),
            value,
        });
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("expected a comma before {rest:?}"))?;
    }
    Ok(pairs)
}

#[test]
fn udev_rules_are_well_formed_and_name_the_devices() -> anyhow::Result<()> {
    let path = deploy("kiosk/70-motcua-kiosk.rules");
    let text = std::fs::read_to_string(&path)?;
    let rules = parse_udev_rules(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;

    // The stable names.
    let symlinks: Vec<&str> = rules
        .iter()
        .flatten()
        .filter(|p| p.key == "SYMLINK" && p.op == "+=")
        .map(|p| p.value.as_str())
        .collect();
    for name in ["motcua/printer", "motcua/reader"] {
        ensure!(
            symlinks.contains(&name),
            "no SYMLINK+=\"{name}\" in {}",
            path.display()
        );
    }
    // Every group the rules hand devices to is one the service user is a member of.
    let sysusers = std::fs::read_to_string(deploy("kiosk/motcua-kiosk.sysusers"))?;
    let member_of: BTreeSet<&str> = sysusers
        .lines()
        .filter_map(|l| l.strip_prefix("m motcua "))
        .map(str::trim)
        .collect();
    for p in rules.iter().flatten().filter(|p| p.key == "GROUP") {
        ensure!(
            member_of.contains(p.value.as_str()),
            "the rules give devices to group {} but motcua is not a member (sysusers)",
            p.value
        );
    }
    ensure!(rules
        .iter()
        .flatten()
        .any(|p| p.key == "ENV" && p.attr.as_deref() == Some("libsane_matched")));

    // The checker itself refuses what udev would refuse.
    for bad in [
        "SUBSYSTEM==\"tty\", GROUP=dialout",
        "SUBSYSTEM==\"tty\" GROUP=\"dialout\"",
        "SUBSYSTEM=\"tty\", GROUP=\"dialout\"",
        "GROUP==\"dialout\"",
        "FOO==\"x\"",
        "ATTRS==\"x\"",
        "KERNEL{x}==\"x\"",
        "KERNEL==\"ttyACM*, MODE=\"0660\"",
        "KERNEL=>\"x\"",
        "GOTO=\"nowhere\"",
        "KERNEL==\"x\", MODE=\"660\"",
    ] {
        ensure!(
            parse_udev_rules(bad).is_err(),
            "the checker accepted {bad:?}"
        );
    }
    ensure!(parse_udev_rules("KERNEL==\"a\", \\\n  GROUP=\"lp\"\n").is_ok());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// systemd units

/// A root with the host's own units (for sysinit.target and friends), the packages' units and
/// the release binaries at their ExecStart paths and the shell: what `systemd-analyze verify
/// --root` needs.
fn verify_root() -> anyhow::Result<tempfile::TempDir> {
    let release = release_binaries()?;
    let root = tempfile::tempdir_in(target_dir())?;
    let units = root.path().join("usr/lib/systemd/system");
    let bin = root.path().join("usr/bin");
    std::fs::create_dir_all(&units)?;
    std::fs::create_dir_all(&bin)?;
    run(Command::new("cp")
        .arg("-a")
        .arg("/usr/lib/systemd/system/.")
        .arg(&units))?;
    for unit in UNITS.iter().chain(&UPDATER_UNITS) {
        let file = deploy(unit);
        std::fs::copy(&file, units.join(file.file_name().unwrap()))?;
    }
    let libexec = root.path().join("usr/libexec/motcua");
    std::fs::create_dir_all(&libexec)?;
    if std::fs::hard_link(
        release.join("motcua-updater"),
        libexec.join("motcua-updater"),
    )
    .is_err()
    {
        std::fs::copy(
            release.join("motcua-updater"),
            libexec.join("motcua-updater"),
        )?;
    }
    // The shell of the gateway's ExecReload=.
    std::fs::create_dir_all(root.path().join("bin"))?;
    std::fs::copy(
        std::fs::canonicalize("/bin/sh")?,
        root.path().join("bin/sh"),
    )?;
    for b in ["kioskd", "kioskctl", "gateway", "motcua-hub"] {
        let from = release.join(b);
        ensure!(from.exists(), "{} was not built", from.display());
        // A link inside the root: `--root` resolves symlinks within it.
        if std::fs::hard_link(&from, bin.join(b)).is_err() {
            std::fs::copy(&from, bin.join(b))?;
        }
    }
    Ok(root)
}

#[test]
fn units_pass_systemd_analyze_verify() -> anyhow::Result<()> {
    require_tool("systemd-analyze", "systemd")?;
    let root = verify_root()?;
    for unit in UNITS.iter().chain(&UPDATER_UNITS) {
        let name = Path::new(unit)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.path().display()))
            .arg(format!("/usr/lib/systemd/system/{name}"))
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("systemd-analyze verify {name}: {} {stderr}", out.status);
        ensure!(
            out.status.success() && stderr.trim().is_empty(),
            "verify {name}: {stderr}"
        );
    }
    // The check can fail: a unit whose binary is missing is refused.
    std::fs::remove_file(root.path().join("usr/bin/gateway"))?;
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .arg("/usr/lib/systemd/system/motcua-gateway.service")
        .output()?;
    ensure!(
        !out.status.success(),
        "verify passed without the gateway binary"
    );
    Ok(())
}

/// `systemd-analyze security --offline` of a unit file: the overall exposure, its line, and
/// the whole table (for a failure's message).
fn exposure_of(unit: &Path) -> anyhow::Result<(f64, String, String)> {
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .with_context(|| format!("no exposure in: {text}"))?
        .trim()
        .to_owned();
    let exposure: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("cannot read {line}"))?;
    Ok((exposure, line, text))
}

#[test]
fn units_are_hardened_to_an_exposure_of_at_most_2() -> anyhow::Result<()> {
    require_tool("systemd-analyze", "systemd")?;
    for unit in UNITS {
        let (exposure, line, text) = exposure_of(&deploy(unit))?;
        println!("{unit}: {line}");
        ensure!(
            exposure <= 2.0,
            "{unit}: exposure {exposure} is above 2.0\n{text}"
        );
    }
    // The unit settings the issue asks for, literally.
    for unit in UNITS {
        let text = std::fs::read_to_string(deploy(unit))?;
        for setting in [
            "Type=notify",
            "NotifyAccess=main",
            "Restart=on-failure",
            "TimeoutAbortSec=",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/motcua",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "ProtectHome=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "RestrictAddressFamilies=",
            "SystemCallFilter=@system-service",
            "CapabilityBoundingSet=\n",
            "DevicePolicy=closed",
        ] {
            ensure!(text.contains(setting), "{unit} lacks {setting:?}");
        }
        if unit == "kiosk/motcua-hub.service" {
            // The hub touches no device and writes only its own folder.
            ensure!(text.contains("PrivateDevices=yes") && !text.contains("DeviceAllow="));
            ensure!(text.contains("ReadWritePaths=/var/lib/motcua-hub\n"));
            ensure!(text.contains("ReadOnlyPaths=/var/lib/motcua\n"));
            ensure!(text.contains("User=motcua\n"));
        } else if unit.starts_with("kiosk/") {
            ensure!(text.contains("WatchdogSec=") && text.contains("DeviceAllow=char-ttyACM"));
            ensure!(text.contains("User=motcua\n"));
        } else {
            ensure!(text.contains("LoadCredential=enrollment-key:"));
            ensure!(text.contains("LoadCredential=ca-key:"));
            ensure!(text.contains("LoadCredential=provisioning-key:"));
            ensure!(text.contains("ExecReload=/bin/sh -c 'kill -HUP \"$$MAINPID\"'"));
            ensure!(!text.contains("--enrollment-key") && !text.contains("--ca-key"));
        }
    }
    Ok(())
}

/// The exposure `systemd-analyze security` gives the updater's unit, measured (2026-12-03,
/// systemd 252): 2.1, against 2.0 at most for the other units. It runs dpkg as root, which must write where packages install (no
/// ProtectSystem=) and keep the capabilities of file ownership and of the maintainer scripts'
/// runuser/sysusers; everything else is closed. A change that opens more fails here.
const UPDATER_EXPOSURE_MAX: f64 = 2.5;

#[test]
fn the_updater_unit_is_closed_but_for_what_dpkg_needs() -> anyhow::Result<()> {
    require_tool("systemd-analyze", "systemd")?;
    let unit = deploy("kiosk/motcua-kiosk-updater.service");
    let (exposure, line, text) = exposure_of(&unit)?;
    println!("motcua-kiosk-updater.service: {line}");
    ensure!(
        exposure <= UPDATER_EXPOSURE_MAX,
        "updater exposure {exposure} is above {UPDATER_EXPOSURE_MAX}\n{text}"
    );
    let service = std::fs::read_to_string(&unit)?;
    for setting in [
        "PrivateNetwork=yes",
        "RestrictAddressFamilies=AF_UNIX\n",
        "NoNewPrivileges=yes",
        "ProtectKernelModules=yes",
        "SystemCallFilter=@system-service",
        "ExecStart=/usr/libexec/motcua/motcua-updater ",
    ] {
        ensure!(
            service.contains(setting),
            "the updater's unit lacks {setting:?}"
        );
    }
    let caps = service
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .context("no CapabilityBoundingSet")?;
    for cap in caps.split_whitespace() {
        ensure!(
            [
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_DAC_READ_SEARCH",
                "CAP_FOWNER",
                "CAP_FSETID",
                "CAP_SETUID",
                "CAP_SETGID"
            ]
            .contains(&cap),
            "the updater keeps {cap}, which dpkg does not need"
        );
    }
    // Started only by its path unit: no [Install] of its own.
    ensure!(!service.contains("[Install]"));
    let path = std::fs::read_to_string(deploy("kiosk/motcua-kiosk-updater.path"))?;
    for watched in [
        "PathExists=/var/lib/motcua/update/request.json",
        "PathExists=/var/lib/motcua-updater/in-progress.json",
        "Unit=motcua-kiosk-updater.service",
        "WantedBy=multi-user.target",
    ] {
        ensure!(path.contains(watched), "the path unit lacks {watched:?}");
    }
    // The package's scripts never stop, start or restart the updater's service on an upgrade:
    // it is what runs the upgrade (a restart would kill it in the middle of dpkg).
    let packages = packages()?;
    let control = tempfile::tempdir_in(target_dir())?;
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&packages.kiosk)
        .arg(control.path()))?;
    for script in ["postinst", "prerm", "postrm", "preinst"] {
        let Ok(text) = std::fs::read_to_string(control.path().join(script)) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.contains("motcua-kiosk-updater.service") {
                continue;
            }
            let acts = ["restart", "try-restart", "start", "stop"].iter().any(|a| {
                line.contains(&format!("deb-systemd-invoke {a}"))
                    || line.contains(&format!("systemctl {a}"))
            });
            // Only inside the generated `if … [ "$1" = remove ]; then` of a removal.
            let on_remove = i > 0 && lines[i - 1].contains("= remove ]");
            ensure!(
                !acts || on_remove,
                "{script} acts on the updater's service outside a removal: {line}"
            );
        }
    }
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&packages.kiosk))?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    for file in [
        "./usr/libexec/motcua/motcua-updater",
        "./usr/lib/systemd/system/motcua-kiosk-updater.service",
        "./usr/lib/systemd/system/motcua-kiosk-updater.path",
        "./etc/motcua/updater.toml",
    ] {
        ensure!(listing.contains(file), "the kiosk package lacks {file}");
    }
    let depends = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&packages.kiosk)
        .arg("Depends"))?;
    ensure!(
        String::from_utf8_lossy(&depends.stdout).contains("dpkg-repack"),
        "the updater keeps the running version with dpkg-repack: the package must depend on it"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The packages

#[test]
fn lintian_finds_no_error_in_either_package() -> anyhow::Result<()> {
    require_tool("lintian", "lintian")?;
    let packages = packages()?;
    for deb in [&packages.kiosk, &packages.gateway] {
        let out = Command::new("lintian")
            .args(["--tag-display-limit", "0", "--display-info"])
            .arg(deb)
            .output()
            .context("cannot run lintian")?;
        let text = String::from_utf8_lossy(&out.stdout);
        println!(
            "lintian {} ({} bytes):\n{text}{}",
            deb.display(),
            std::fs::metadata(deb)?.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("E:")).collect();
        ensure!(
            errors.is_empty(),
            "lintian errors in {}:\n{}",
            deb.display(),
            errors.join("\n")
        );
        // lintian exits 1 for errors (and 2 when it cannot run at all).
        ensure!(
            out.status.code() != Some(2),
            "lintian could not check {}",
            deb.display()
        );
    }
    Ok(())
}

#[test]
fn maintainer_scripts_are_valid_shell_with_one_debhelper_token() -> anyhow::Result<()> {
    for script in [
        "kiosk/debian/postinst",
        "kiosk/debian/prerm",
        "kiosk/debian/postrm",
        "gateway/debian/postinst",
        "gateway/debian/postrm",
    ] {
        let path = deploy(script);
        let text = std::fs::read_to_string(&path)?;
        // cargo-deb replaces every occurrence, comments included, with the generated code.
        let tokens = text.matches("#DEBHELPER#").count();
        let lines = text.lines().filter(|l| *l == "#DEBHELPER#").count();
        ensure!(
            tokens == 1 && lines == 1,
            "{script}: #DEBHELPER# must be once, on a line of its own"
        );
        ensure!(
            text.starts_with("#!/bin/sh\n") && text.contains("\nset -e\n"),
            "{script}"
        );
        run(Command::new("sh").arg("-n").arg(&path))?;
        use std::os::unix::fs::PermissionsExt;
        ensure!(
            std::fs::metadata(&path)?.permissions().mode() & 0o111 != 0,
            "{script} is not executable"
        );
    }
    Ok(())
}
