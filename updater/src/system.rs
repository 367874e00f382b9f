//! The system the updater acts on, through its own tools: `dpkg`, `dpkg-query`, `dpkg-repack`,
//! `systemctl` and `journalctl`. Every command runs with a clean, fixed environment and a
//! bounded time, and its failure comes back in words with the tool's own last lines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The state of a unit, from `systemctl show`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitState {
    /// `ActiveState` (`active` only after READY=1 for Type=notify).
    pub active: String,
    /// `SubState`.
    pub sub: String,
    /// `MainPID`.
    pub main_pid: u32,
    /// `NRestarts`.
    pub restarts: u64,
}

/// How long dpkg may take for one package (its maintainer scripts stop and start kioskd).
const DPKG_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a systemctl or journalctl call may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `program args…` with a clean environment, bounded by `timeout`; stdout on success,
/// else the last lines of its output.
fn run(
    program: &str,
    args: &[&str],
    cwd: Option<&Path>,
    timeout: Duration,
) -> Result<String, String> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LANG", "C.UTF-8")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    // Output is read on threads so a chatty dpkg never blocks on a full pipe.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_thread = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err_thread = std::thread::spawn(move || read_all(stderr.as_mut()));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} {} did not finish in {timeout:?}",
                    args.join(" ")
                ));
            }
            Err(e) => return Err(format!("waiting for {program}: {e}")),
        }
    };
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        let text = format!("{stdout}\n{stderr}");
        Err(format!(
            "{program} {} failed ({status}): {}",
            args.join(" "),
            last_lines(&text, 12)
        ))
    }
}

fn read_all(from: Option<&mut impl std::io::Read>) -> String {
    let mut bytes = Vec::new();
    if let Some(r) = from {
        let _ = r.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `n` non-empty lines of `text`, joined by newlines.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The version of `package` on the system (installed, or unpacked and not yet configured after
/// an interrupted dpkg), or `None` when it is not there.
pub fn installed_version(package: &str) -> Option<String> {
    let out = run(
        "dpkg-query",
        &["-W", "-f=${db:Status-Status} ${Version}", package],
        None,
        TOOL_TIMEOUT,
    )
    .ok()?;
    let (status, version) = out.trim().split_once(' ')?;
    let there = !matches!(status, "not-installed" | "config-files");
    Some(version.trim().to_owned())
        .filter(|v| there && motcua_domain::release::is_debian_version(v))
}

/// Finishes what an interrupted dpkg left half-configured (after a power cut).
pub fn dpkg_configure_pending() -> Result<(), String> {
    run("dpkg", &["--configure", "-a"], None, DPKG_TIMEOUT).map(|_| ())
}

/// How many times, 10 s apart, an install waits for dpkg's lock (apt's daily jobs hold it).
const LOCK_TRIES: u32 = 30;

/// Installs a package file, keeping the device's changed config files; waits (bounded) while
/// another dpkg or apt holds the lock.
pub fn dpkg_install(deb: &Path) -> Result<String, String> {
    let path = deb.to_string_lossy();
    let mut tries = 0;
    loop {
        let done = run(
            "dpkg",
            &["--force-confold", "--force-confdef", "-i", &path],
            None,
            DPKG_TIMEOUT,
        );
        match done {
            Err(e) if is_lock_error(&e) && tries + 1 < LOCK_TRIES => {
                tries += 1;
                tracing::info!("dpkg đang bận / dpkg is locked by another process, waiting: {e}");
                std::thread::sleep(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

/// Whether dpkg failed only because another process holds its lock.
fn is_lock_error(message: &str) -> bool {
    message.contains("lock") && message.contains("another process")
}

/// Rebuilds the installed `package` as a .deb in `dir` (`dpkg-repack`); returns its path.
pub fn repack(package: &str, dir: &Path) -> Result<std::path::PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    run("dpkg-repack", &[package], Some(dir), DPKG_TIMEOUT)?;
    std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "deb")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
        })
        .ok_or_else(|| {
            format!(
                "dpkg-repack {package} wrote no package in {}",
                dir.display()
            )
        })
}

/// `systemctl ARGS…`.
pub fn systemctl(args: &[&str]) -> Result<String, String> {
    run("systemctl", args, None, TOOL_TIMEOUT)
}

/// Whether the unit has stopped (inactive or failed, not on its way down or up).
pub fn unit_stopped(unit: &str) -> bool {
    unit_state(unit).is_ok_and(|s| matches!(s.active.as_str(), "inactive" | "failed"))
}

/// The unit's state now.
pub fn unit_state(unit: &str) -> Result<UnitState, String> {
    let text = systemctl(&[
        "show",
        "-p",
        "ActiveState",
        "-p",
        "SubState",
        "-p",
        "MainPID",
        "-p",
        "NRestarts",
        unit,
    ])?;
    let mut state = UnitState::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "ActiveState" => state.active = value.to_owned(),
            "SubState" => state.sub = value.to_owned(),
            "MainPID" => state.main_pid = value.parse().unwrap_or(0),
            "NRestarts" => state.restarts = value.parse().unwrap_or(0),
            _ => {}
        }
    }
    Ok(state)
}

/// The first of `units` that is active, else the first enabled, else the first.
pub fn kioskd_unit(units: &[String]) -> String {
    let is =
        |verb: &str, u: &str| run("systemctl", &[verb, "--quiet", u], None, TOOL_TIMEOUT).is_ok();
    units
        .iter()
        .find(|u| is("is-active", u))
        .or_else(|| units.iter().find(|u| is("is-enabled", u)))
        .or(units.first())
        .cloned()
        .unwrap_or_else(|| "motcua-kioskd.service".into())
}

/// The unit's last `n` log lines since `since` (a systemd time, `@<unix seconds>`).
pub fn journal_tail(unit: &str, since: &str, n: usize) -> String {
    let lines = n.to_string();
    run(
        "journalctl",
        &[
            "--no-pager",
            "-o",
            "cat",
            "-u",
            unit,
            "--since",
            since,
            "-n",
            &lines,
        ],
        None,
        TOOL_TIMEOUT,
    )
    .map(|t| last_lines(&t, n))
    .unwrap_or_else(|e| format!("(no journal: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_told_from_other_dpkg_failures_and_the_tail_is_kept() {
        assert!(is_lock_error(
            "dpkg failed (exit status: 2): dpkg: error: dpkg frontend lock was locked by another process with pid 812"
        ));
        assert!(!is_lock_error(
            "dpkg: error processing archive x.deb: cannot access archive"
        ));
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
    }
}
