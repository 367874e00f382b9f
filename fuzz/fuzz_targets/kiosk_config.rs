//! The kiosk's configuration files (`kiosk.toml` and the bootstrap file): any text gives a
//! config or an error that points at a line of it, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use motcua_kiosk::config::{BootstrapConfig, ConfigError, KioskConfig};

fn check_located(error: &ConfigError, text: &str) {
    if let ConfigError::Invalid { line, .. } = error {
        let lines = text.lines().count().max(1);
        assert!(*line >= 1 && *line <= lines + 1, "line {line} of {lines}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = KioskConfig::parse(text, "kiosk.toml") {
        check_located(&e, text);
        assert!(!e.to_string().is_empty());
    }
    if let Err(e) = BootstrapConfig::parse(text, Path::new("bootstrap.toml")) {
        check_located(&e, text);
    }
});
