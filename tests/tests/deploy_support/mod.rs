//! What the deploy tests share: the workspace's paths, the release binaries and the two Debian
//! packages (built here when missing, so each test is self-contained; `scripts/test.sh` builds
//! them once beforehand), and running a command with a clear error.

#![allow(dead_code)]

pub mod container;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use anyhow::{bail, Context};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A file of the workspace's deploy/ folder.
pub fn deploy(rel: &str) -> PathBuf {
    workspace().join("deploy").join(rel)
}

/// The cargo target folder.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_relative() {
                workspace().join(p)
            } else {
                p
            }
        })
        .unwrap_or_else(|| workspace().join("target"))
}

/// A cargo command without the `CARGO_*` variables cargo set for this test process (build
/// scripts watching them would rebuild, and the next `cargo test` would rebuild back).
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            cmd.env_remove(&key);
        }
    }
    cmd.current_dir(workspace());
    cmd
}

/// Runs `cmd`, failing with its output when it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// Fails with the Debian package to install when `tool` is not on PATH.
pub fn require_tool(tool: &str, package: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in dirs {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("`{tool}` is missing: install the Debian package {package} (scripts/test.sh does)")
}

/// The two packages, built from the release binaries.
pub struct Packages {
    /// motcua-kiosk_….deb
    pub kiosk: PathBuf,
    /// motcua-gateway_….deb
    pub gateway: PathBuf,
}

/// Builds the release binaries (a no-op when they are up to date, as after scripts/test.sh)
/// and the two packages with `cargo deb --no-build`, once per test process.
pub fn packages() -> anyhow::Result<&'static Packages> {
    static BUILT: OnceLock<Result<Packages, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build_packages().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// The release binaries (built when missing or stale).
pub fn release_binaries() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            run(cargo().args([
                "build",
                "--release",
                "-p",
                "motcua-kiosk",
                "-p",
                "motcua-gateway",
                "-p",
                "motcua-updater",
                "--bins",
            ]))
            .map(|_| target_dir().join("release"))
            .map_err(|e| format!("building the release binaries: {e:#}"))
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn build_packages() -> anyhow::Result<Packages> {
    release_binaries()?;
    if !cargo()
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        bail!("cargo-deb is missing: `cargo install cargo-deb --locked` (scripts/test.sh does)");
    }
    let mut built = Vec::new();
    let release = target_dir().join("release");
    for package in ["motcua-kiosk", "motcua-gateway"] {
        // scripts/test.sh made them already: reuse a package newer than all it is made of.
        let (crate_dir, bins): (&str, &[&str]) = match package {
            "motcua-kiosk" => ("kiosk", &["kioskd", "kioskctl", "motcua-updater"]),
            _ => ("gateway", &["gateway"]),
        };
        let mut inputs: Vec<PathBuf> = bins.iter().map(|b| release.join(b)).collect();
        inputs.push(workspace().join(crate_dir).join("Cargo.toml"));
        inputs.push(workspace().join("README.md"));
        collect_files(&workspace().join("deploy").join(crate_dir), &mut inputs);
        if let Some(deb) = fresh_package(package, &inputs) {
            built.push(deb);
            continue;
        }
        let out =
            run(cargo().args(["deb", "--no-build", "--no-dbgsym", "--strip", "-p", package]))?;
        built.push(printed_deb(&out, &format!("cargo deb -p {package}"))?);
    }
    let gateway = built.pop().expect("two packages");
    let kiosk = built.pop().expect("two packages");
    Ok(Packages { kiosk, gateway })
}

/// The kiosk package again under another Debian version, from the same release binaries
/// (`cargo deb --no-build --deb-version`), in `out_dir`. cargo-deb deletes every other version
/// of the package from target/debian/ when it builds one, so scripts/test.sh makes these first
/// and they are reused here; built here, the package as it is is made again afterwards.
pub fn kiosk_package_as(version: &str, out_dir: &Path) -> anyhow::Result<PathBuf> {
    packages()?;
    let prefix = format!("motcua-kiosk_{version}_");
    if let Some(deb) = fresh_in(out_dir, &prefix, &kiosk_inputs()) {
        return Ok(deb);
    }
    std::fs::create_dir_all(out_dir)?;
    let out = run(cargo()
        .args([
            "deb",
            "--no-build",
            "--no-dbgsym",
            "--strip",
            "-p",
            "motcua-kiosk",
        ])
        .args(["--deb-version", version, "--output"])
        .arg(out_dir))?;
    let deb = printed_deb(&out, &format!("cargo deb --deb-version {version}"))?;
    if !packages()?.kiosk.exists() {
        run(cargo().args([
            "deb",
            "--no-build",
            "--no-dbgsym",
            "--strip",
            "-p",
            "motcua-kiosk",
        ]))?;
    }
    Ok(deb)
}

/// What the kiosk package is made of.
fn kiosk_inputs() -> Vec<PathBuf> {
    let release = target_dir().join("release");
    let mut inputs: Vec<PathBuf> = ["kioskd", "kioskctl", "motcua-updater"]
        .iter()
        .map(|b| release.join(b))
        .collect();
    inputs.push(workspace().join("kiosk").join("Cargo.toml"));
    inputs.push(workspace().join("README.md"));
    collect_files(&workspace().join("deploy").join("kiosk"), &mut inputs);
    inputs
}

/// The package a `cargo deb` run wrote: it prints its path as its last line.
fn printed_deb(out: &Output, what: &str) -> anyhow::Result<PathBuf> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.ends_with(".deb"))
        .map(PathBuf::from)
        .with_context(|| format!("{what} printed no .deb path: {stdout}"))
}

fn collect_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, into);
        } else {
            into.push(path);
        }
    }
}

/// The newest `target/debian/<package>_*.deb` when it is newer than every input.
fn fresh_package(package: &str, inputs: &[PathBuf]) -> Option<PathBuf> {
    fresh_in(&target_dir().join("debian"), &format!("{package}_"), inputs)
}

/// The newest `<dir>/<prefix>*.deb` when it is newer than every input.
fn fresh_in(dir: &Path, prefix: &str, inputs: &[PathBuf]) -> Option<PathBuf> {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let (deb, at) = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".deb")
        })
        .filter_map(|p| modified(&p).map(|t| (p, t)))
        .max_by_key(|(_, t)| *t)?;
    for input in inputs {
        if modified(input)? >= at {
            return None;
        }
    }
    Some(deb)
}

/// True when this process runs as root (the owner of /proc/self is the effective user).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
