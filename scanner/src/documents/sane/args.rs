//! Command building: a [`BatchRequest`] checked against the device's options and turned into
//! `scanimage --batch` arguments, plus the page file names of a batch.
//!
//! Kept apart so the one place that speaks `scanimage`'s command line is small and the
//! request is refused with [`ScanError::Unsupported`] before any process is started.

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use super::options::DeviceOptions;
use crate::documents::error::ScanError;
use crate::documents::page::{BatchRequest, FeedSource};

/// Check the request against the device and build the `scanimage` arguments.
///
/// `options` are the device's options when it was probed; without them modes and sources are
/// passed by their common SANE names. Returns the arguments and the source name used.
pub(super) fn batch_args(
    device: &str,
    options: Option<&DeviceOptions>,
    request: &BatchRequest,
    pattern: &Path,
) -> Result<(Vec<OsString>, Option<String>), ScanError> {
    let unsupported = |what: String| ScanError::Unsupported {
        device: device.to_owned(),
        what,
    };
    let (mode, source) = match options {
        Some(opts) => {
            if !opts.resolutions.accepts(request.resolution_dpi) {
                return Err(unsupported(format!(
                    "độ phân giải / resolution {} dpi",
                    request.resolution_dpi
                )));
            }
            let mode = match (opts.modes.is_empty(), opts.mode_name(request.mode)) {
                (_, Some(m)) => Some(m.to_owned()),
                (true, None) => None,
                (false, None) => {
                    return Err(unsupported(format!("chế độ / mode {:?}", request.mode)))
                }
            };
            let source = match (opts.sources.is_empty(), opts.source_name(request.source)) {
                (_, Some(s)) => Some(s.to_owned()),
                (true, None) if request.source == FeedSource::Flatbed => None,
                _ => {
                    return Err(unsupported(format!(
                        "nguồn giấy / source {:?}",
                        request.source
                    )))
                }
            };
            (mode, source)
        }
        None => (
            Some(request.mode.default_sane_name().to_owned()),
            Some(
                match request.source {
                    FeedSource::Flatbed => "Flatbed",
                    FeedSource::Adf => "ADF",
                    FeedSource::AdfDuplex => "ADF Duplex",
                }
                .to_owned(),
            ),
        ),
    };
    let mut args: Vec<OsString> = vec!["-d".into(), device.into()];
    args.push(format!("--format={}", request.format.scanimage_name()).into());
    let mut batch = OsString::from("--batch=");
    batch.push(pattern.as_os_str());
    args.push(batch);
    args.push("--batch-print".into());
    // A flatbed has no "out of paper": scan it once unless told otherwise.
    let count = match (request.max_pages, request.source) {
        (Some(n), _) => Some(n),
        (None, FeedSource::Flatbed) => Some(1),
        (None, _) => None,
    };
    if let Some(n) = count {
        args.push(format!("--batch-count={n}").into());
    }
    args.push(format!("--resolution={}", request.resolution_dpi).into());
    if let Some(m) = &mode {
        args.push(format!("--mode={m}").into());
    }
    if let Some(s) = &source {
        args.push(format!("--source={s}").into());
    }
    args.extend(request.extra_args.iter().map(OsString::from));
    Ok((args, source))
}

/// A fresh id per batch so page files of two batches never collide.
pub(super) fn batch_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!(
        "{millis:x}{:x}{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
