//! Error mapping: what `scanimage` wrote on stderr and how it exited, turned into the end of a
//! batch or a [`ScanError`].
//!
//! Kept apart because it is the one place that knows SANE's status words (we run `scanimage`
//! under `LC_ALL=C`, so they are the English ones of `sane_strstatus`); it is public so it can
//! be tested against the real messages without hardware.

use crate::documents::error::ScanError;
use crate::documents::session::BatchEnd;

/// SANE status words as `sane_strstatus` prints them in the C locale, with their numbers as
/// printed in "Scanned page N. (scanner status = S)".
const STATUS_JAMMED: (&str, i32) = ("Document feeder jammed", 6);
const STATUS_NO_DOCS: (&str, i32) = ("Document feeder out of documents", 7);
const STATUS_COVER_OPEN: (&str, i32) = ("Scanner cover is open", 8);
const STATUS_IO: (&str, i32) = ("Error during device I/O", 9);
const STATUS_BUSY: (&str, i32) = ("Device busy", 3);
const STATUS_CANCELLED: (&str, i32) = ("Operation was canceled", 2);
const STATUS_DENIED: (&str, i32) = ("Access to resource has been denied", 11);

/// Turn what `scanimage` said and how it exited into the end of a batch.
///
/// `stderr` is every line it wrote, `code`/`signal` its exit, `pages` the pages already
/// delivered. "Out of documents" is the normal end of a feeder batch when pages were scanned and
/// an empty feeder when none were. Public so the parsing can be tested against the real
/// messages without hardware.
pub fn classify_exit(
    device: &str,
    stderr: &[String],
    code: Option<i32>,
    signal: Option<i32>,
    pages: u32,
) -> Result<BatchEnd, ScanError> {
    let device = device.to_owned();
    let has = |needle: &str| stderr.iter().any(|l| l.contains(needle));
    let status_code = stderr.iter().rev().find_map(|l| {
        let s = l.split("(scanner status = ").nth(1)?;
        s.trim_end_matches(')').trim().parse::<i32>().ok()
    });
    let status_is = |s: (&str, i32)| has(s.0) || status_code == Some(s.1);

    if let Some(line) = stderr.iter().find(|l| l.contains("open of device")) {
        let reason = line.split("failed:").nth(1).unwrap_or_default().trim();
        return Err(match reason {
            r if r.contains(STATUS_BUSY.0) => ScanError::DeviceBusy { device },
            r if r.contains(STATUS_DENIED.0) => ScanError::AccessDenied { device },
            r if r.contains(STATUS_IO.0) => ScanError::DeviceIo {
                device,
                detail: r.to_owned(),
            },
            _ => ScanError::DeviceNotFound { device },
        });
    }
    if has("no SANE devices found") {
        return Err(ScanError::NoDevice);
    }
    if let Some(line) = stderr
        .iter()
        .find(|l| l.contains("setting of option") || l.contains("unrecognized option"))
    {
        return Err(ScanError::Unsupported {
            device,
            what: line.trim_start_matches("scanimage: ").to_owned(),
        });
    }
    if status_is(STATUS_JAMMED) {
        return Err(ScanError::FeederJammed {
            device,
            pages_scanned: pages,
        });
    }
    if status_is(STATUS_COVER_OPEN) {
        return Err(ScanError::CoverOpen { device });
    }
    if status_is(STATUS_NO_DOCS) {
        return if pages == 0 {
            Err(ScanError::FeederEmpty { device })
        } else {
            Ok(BatchEnd::FeederEmptied)
        };
    }
    if status_is(STATUS_BUSY) {
        return Err(ScanError::DeviceBusy { device });
    }
    if status_is(STATUS_DENIED) {
        return Err(ScanError::AccessDenied { device });
    }
    if status_is(STATUS_IO) {
        return Err(ScanError::DeviceIo {
            device,
            detail: STATUS_IO.0.to_owned(),
        });
    }
    if status_is(STATUS_CANCELLED) {
        return Err(ScanError::CancelledAtDevice { device });
    }
    if let Some(signal) = signal {
        return Err(ScanError::Killed { device, signal });
    }
    match code {
        Some(0) if pages > 0 => Ok(BatchEnd::Completed),
        Some(0) => Err(ScanError::FeederEmpty { device }),
        _ => Err(ScanError::Failed {
            device,
            code,
            detail: last_message(stderr),
        }),
    }
}

/// The last line worth showing: a `scanimage:` message if there is one.
pub(super) fn last_message(stderr: &[String]) -> String {
    stderr
        .iter()
        .rev()
        .find(|l| l.starts_with("scanimage:"))
        .or_else(|| stderr.iter().rev().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim_start_matches("scanimage: ").to_owned())
        .unwrap_or_else(|| "no message".to_owned())
}
