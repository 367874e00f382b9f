//! Probing a device with short `scanimage` runs: listing devices (`-f`) and reading a device's
//! options (`-A`), each bounded by [`SaneConfig::query_timeout`] (network discovery can hang).
//!
//! Kept apart from the batch path because these are one-shot commands whose whole output is
//! read at once; parsing that output is [`super::options`], turning failures into errors is
//! [`super::exit`].

use std::os::unix::process::ExitStatusExt;

use super::config::{command, spawn_error, SaneConfig};
use super::exit::{classify_exit, last_message};
use super::options::{parse_device_list, parse_device_options, DeviceInfo, DeviceOptions};
use crate::documents::error::ScanError;
use crate::documents::session::whole_seconds;

/// Run a short `scanimage` query with the config's time limit.
async fn query(config: &SaneConfig, args: &[&str]) -> Result<std::process::Output, ScanError> {
    let child = command(config)
        .args(args)
        .spawn()
        .map_err(|e| spawn_error(config, e))?;
    match tokio::time::timeout(config.query_timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(ScanError::io(&config.program, "running scanimage", e)),
        // Dropping the future kills the child (kill_on_drop) and Tokio reaps it.
        Err(_) => Err(ScanError::Timeout {
            device: config.device.clone(),
            seconds: whole_seconds(config.query_timeout),
        }),
    }
}

fn stderr_lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// List the scanners SANE can see (`scanimage -f`). [`ScanError::NoDevice`] when there are none.
/// `config.device` is not used.
pub async fn list_devices(config: &SaneConfig) -> Result<Vec<DeviceInfo>, ScanError> {
    let out = query(config, &["-f", "%d\t%v\t%m\t%t%n"]).await?;
    let devices = parse_device_list(&String::from_utf8_lossy(&out.stdout));
    if devices.is_empty() {
        if !out.status.success() {
            let stderr = stderr_lines(&out);
            classify_exit(&config.device, &stderr, out.status.code(), None, 0)?;
        }
        return Err(ScanError::NoDevice);
    }
    Ok(devices)
}

/// Read the options of `config.device` (`scanimage -d DEV -A`).
pub async fn device_options(config: &SaneConfig) -> Result<DeviceOptions, ScanError> {
    let out = query(config, &["-d", &config.device, "-A"]).await?;
    if !out.status.success() {
        let stderr = stderr_lines(&out);
        classify_exit(
            &config.device,
            &stderr,
            out.status.code(),
            out.status.signal(),
            0,
        )?;
        return Err(ScanError::Failed {
            device: config.device.clone(),
            code: out.status.code(),
            detail: last_message(&stderr),
        });
    }
    Ok(parse_device_options(
        &config.device,
        &String::from_utf8_lossy(&out.stdout),
    ))
}
