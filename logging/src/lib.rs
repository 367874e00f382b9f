//! Logging for every motcua binary (kioskd, kioskctl, gateway): to journald when systemd
//! started the program with its journal on stderr (`JOURNAL_STREAM`), else to stderr, with
//! colour only on a terminal. One crate so the kiosk and the gateway, which share no other
//! code of this kind, log alike. Personal data (names, ID numbers, addresses) is never passed
//! to a log call anywhere.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` overrides the `default` filter.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry().with(filter);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            registry.with(journald).init();
            return;
        }
    }
    registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .init();
}
