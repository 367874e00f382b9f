//! What the pipeline tests share: running the PDF tools they check with.

use std::process::Command;

/// Runs a tool; a missing tool fails the test naming its Debian package.
pub fn run(tool: &str, package: &str, args: &[&str]) -> std::process::Output {
    match Command::new(tool).args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{tool}` is not installed: this test needs the Debian package `{package}` (apt-get install {package})"
        ),
        Err(e) => panic!("running {tool}: {e}"),
    }
}
