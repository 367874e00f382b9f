//! Shared harness of the end-to-end tests and the benchmarks: it builds and starts the real
//! binaries (`gateway`, `kioskd`, `kioskctl`) as processes, gives each test fresh SQLite files or
//! a fresh PostgreSQL database, talks to the gateway over real HTTP, and drives the simulated
//! peripherals (printer emulator, code reader on a pseudo-terminal, the touch screen headless or
//! under Xvfb).
//!
//! Everything a test file needs is re-exported here: `use motcua_tests::{Gateway, Kiosk, …}`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

pub mod harness;

pub use harness::devices::{tcp_printer, zbar, KillOnDrop, PtyCodeReader};
pub use harness::fake::FakeGateway;
pub use harness::gateway::{
    fresh_postgres_database, postgres_server_url, Backend, Gateway, Pki, RoleCert, ENROLLMENT_KEY,
};
pub use harness::hub::Hub;
pub use harness::kiosk::{
    dossier_json, random_file, sections, Enrolment, Kiosk, KioskSettings, NO_GATEWAY,
};
pub use harness::provisioning::{fresh_kiosk, ProvisioningGateway, SITE};
pub use harness::touch::TouchScreen;
pub use harness::wait::{wait_for, wait_for_file};
pub use harness::webdriver::{Browser, ChromeDriver};
pub use harness::x11::Xvfb;

/// The folder holding the built binaries (target/debug or target/release).
pub fn bin_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable path");
            // target/<profile>/deps/<test> or target/<profile>/<bin>
            let mut dir = exe.parent().expect("exe folder").to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            let release = dir.ends_with("release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            // The test process carries the CARGO_* variables cargo set for it (package name,
            // manifest dir, ...). Build scripts that watch such variables would see them change
            // and rebuild, and the next `cargo test` would rebuild them back: keep them out.
            for (key, _) in std::env::vars_os() {
                let key = key.to_string_lossy().into_owned();
                if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
                    cmd.env_remove(&key);
                }
            }
            cmd.args([
                "build",
                "--quiet",
                "-p",
                "motcua-kiosk",
                "-p",
                "motcua-gateway",
                "-p",
                "motcua-hub",
                "--bins",
            ]);
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build for the binaries");
            assert!(status.success(), "building the binaries failed");
            dir
        })
        .clone()
}

/// Path of one of the project's binaries, built on first use.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}
