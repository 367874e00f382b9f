//! The pieces of the harness, one file each; the crate root re-exports what tests use.

pub mod bench;
pub mod child;
pub mod devices;
pub mod fake;
pub mod gateway;
pub mod hub;
pub mod kiosk;
pub mod load;
pub mod netns;
pub mod provisioning;
pub mod relay;
pub mod signing;
pub mod touch;
pub mod wait;
pub mod weak_link;
pub mod webdriver;
pub mod x11;

use std::path::Path;

/// Opens `dir/name` for appending (a process's log), creating the folder.
pub(crate) fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))?)
}
