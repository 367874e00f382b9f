//! Waiting for a condition with a bounded deadline: the deadline only gives up (with a message
//! naming what never happened), it never decides a test.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout` with `what`.
pub fn wait_for<T>(
    timeout: Duration,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `path` exists, or fails after `timeout` naming it.
pub fn wait_for_file(path: &Path, timeout: Duration) -> anyhow::Result<()> {
    wait_for(timeout, &format!("{} to exist", path.display()), || {
        Ok(path.exists().then_some(()))
    })
}
