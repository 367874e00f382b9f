//! SANE scanners through Debian's `scanimage` (package `sane-utils`), run as a child process.
//!
//! Why a child process: no SANE binding for Rust is maintained, `scanimage` is packaged and
//! tested by Debian, and a crashing backend (they are C drivers of varying quality) takes down
//! only the child, never the kiosk daemon.
//!
//! How a batch works: `scanimage --batch=DIR/b<id>-p%04d.pnm --batch-print` writes each page to
//! its own file and prints the file's path on stdout once the page is complete, so we read stdout
//! line by line and deliver each page as it arrives. SANE status words ("Document feeder jammed")
//! come on stderr; [`classify_exit`] turns them and the exit status into a [`ScanError`]. We force
//! `LC_ALL=C` so those words are not translated under us.
//!
//! SANE's `test` backend (`-d test`) simulates a feeder that runs dry after 10 sheets and can
//! return any SANE status through its `--read-return-value` option, which is how the tests
//! exercise jams, empty feeders and open covers without hardware.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::decode;
use super::{
    BatchEnd, BatchRequest, BatchSummary, ColorMode, DocumentScanner, FeedSource, Page,
    PageContent, PageSource, ScanError, ScanEvent, ScanSession, SessionWorker,
};

/// How to run `scanimage` for one device.
#[derive(Debug, Clone)]
pub struct SaneConfig {
    /// The program; default `scanimage` from `PATH`. Tests point it at a wrapper script.
    pub program: PathBuf,
    /// SANE device name, e.g. `test`, `fujitsu:fi-7160:1234`, `escl:https://10.0.0.5:443`.
    pub device: String,
    /// Extra environment for the child, e.g. `SANE_CONFIG_DIR` or `SANE_NET_HOSTS`.
    pub env: Vec<(OsString, OsString)>,
    /// How long a cancelled `scanimage` gets after SIGTERM (to let the backend stop the feeder
    /// and release the USB device) before SIGKILL. Default 5 s.
    pub stop_grace: Duration,
    /// Limit for listing devices and reading options (network discovery can hang). Default 30 s.
    pub query_timeout: Duration,
}

impl SaneConfig {
    /// Defaults for `device`.
    pub fn new(device: impl Into<String>) -> Self {
        SaneConfig {
            program: PathBuf::from("scanimage"),
            device: device.into(),
            env: Vec::new(),
            stop_grace: Duration::from_secs(5),
            query_timeout: Duration::from_secs(30),
        }
    }
}

/// A scanner SANE can see, from `scanimage -f`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The name to put in [`SaneConfig::device`].
    pub name: String,
    /// Vendor, e.g. `Fujitsu`.
    pub vendor: String,
    /// Model, e.g. `fi-7160`.
    pub model: String,
    /// Type, e.g. `sheetfed scanner`.
    pub kind: String,
}

/// One option line of `scanimage -A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaneOption {
    /// Name without leading dashes, e.g. `mode`, `resolution`, `l`.
    pub name: String,
    /// The allowed values as printed, e.g. `Gray|Color` or `1..1200dpi (in steps of 1)`.
    pub constraint: String,
    /// The current value (`None` if not shown).
    pub current: Option<String>,
    /// The option is inactive in the current configuration.
    pub inactive: bool,
}

/// Resolutions a device accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolutionRange {
    /// A fixed list, e.g. 150, 200, 300, 600.
    List(Vec<u32>),
    /// Anything from `min` to `max`.
    Range {
        /// Lowest dpi.
        min: u32,
        /// Highest dpi.
        max: u32,
    },
    /// The device did not say.
    Unknown,
}

impl ResolutionRange {
    /// Whether `dpi` is accepted (unknown ranges accept everything and let SANE decide).
    pub fn accepts(&self, dpi: u32) -> bool {
        match self {
            ResolutionRange::List(v) => v.contains(&dpi),
            ResolutionRange::Range { min, max } => (*min..=*max).contains(&dpi),
            ResolutionRange::Unknown => true,
        }
    }
}

/// What a device offers, parsed from `scanimage -d DEV -A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOptions {
    /// SANE device name.
    pub device: String,
    /// Every option line, for the technician screen.
    pub options: Vec<SaneOption>,
    /// Mode names exactly as SANE spells them (`Lineart`, `Gray`, `Color`, …).
    pub modes: Vec<String>,
    /// Source names exactly as SANE spells them (`Flatbed`, `ADF Front`, `ADF Duplex`, …);
    /// empty for devices without a source option.
    pub sources: Vec<String>,
    /// Accepted resolutions.
    pub resolutions: ResolutionRange,
}

impl DeviceOptions {
    /// The device's own name for `mode`, if it has one.
    pub fn mode_name(&self, mode: ColorMode) -> Option<&str> {
        self.modes
            .iter()
            .find(|m| ColorMode::classify(m) == Some(mode))
            .map(String::as_str)
    }

    /// The device's own name for `source`, if it has one.
    pub fn source_name(&self, source: FeedSource) -> Option<&str> {
        self.sources
            .iter()
            .find(|s| FeedSource::classify(s) == Some(source))
            .map(String::as_str)
    }

    /// Feeds this device has (for the staff screen's choices).
    pub fn feeds(&self) -> Vec<FeedSource> {
        let mut v: Vec<FeedSource> = self
            .sources
            .iter()
            .filter_map(|s| FeedSource::classify(s))
            .collect();
        v.dedup();
        v
    }
}

/// Parse `scanimage -f '%d\t%v\t%m\t%t%n'` output.
pub fn parse_device_list(stdout: &str) -> Vec<DeviceInfo> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let name = f.next()?.trim();
            if name.is_empty() {
                return None;
            }
            Some(DeviceInfo {
                name: name.to_owned(),
                vendor: f.next().unwrap_or_default().trim().to_owned(),
                model: f.next().unwrap_or_default().trim().to_owned(),
                kind: f.next().unwrap_or_default().trim().to_owned(),
            })
        })
        .collect()
}

/// Parse the option lines of `scanimage -d DEV -A` (lines indented by four spaces starting with
/// `-`; descriptions are indented further and skipped).
pub fn parse_device_options(device: &str, stdout: &str) -> DeviceOptions {
    let mut options = Vec::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("    -") else {
            continue;
        };
        if rest.starts_with(' ') {
            continue;
        }
        let rest = rest.trim_start_matches('-');
        let name_end = rest.find([' ', '[']).unwrap_or(rest.len());
        let name = rest[..name_end].to_owned();
        let mut tail = rest[name_end..].trim();
        let mut current = None;
        if tail.ends_with(']') {
            if let Some(open) = tail.rfind(" [").map(|i| i + 1).or_else(|| tail.rfind('[')) {
                current = Some(tail[open + 1..tail.len() - 1].to_owned());
                tail = tail[..open].trim();
            }
        }
        let inactive = current.as_deref() == Some("inactive");
        options.push(SaneOption {
            name,
            constraint: tail.to_owned(),
            current: if inactive { None } else { current },
            inactive,
        });
    }
    let list = |name: &str| -> Vec<String> {
        options
            .iter()
            .find(|o| o.name == name && !o.inactive)
            .map(|o| {
                o.constraint
                    .split('|')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let modes = list("mode");
    let sources = list("source");
    let resolutions = options
        .iter()
        .find(|o| o.name == "resolution")
        .map(|o| parse_resolutions(&o.constraint))
        .unwrap_or(ResolutionRange::Unknown);
    DeviceOptions {
        device: device.to_owned(),
        options,
        modes,
        sources,
        resolutions,
    }
}

fn parse_resolutions(constraint: &str) -> ResolutionRange {
    let spec = constraint.split(" (").next().unwrap_or_default().trim();
    let spec = spec.trim_end_matches("dpi");
    if let Some((lo, hi)) = spec.split_once("..") {
        match (lo.trim().parse::<f64>(), hi.trim().parse::<f64>()) {
            (Ok(lo), Ok(hi)) => ResolutionRange::Range {
                min: lo.ceil() as u32,
                max: hi.floor() as u32,
            },
            _ => ResolutionRange::Unknown,
        }
    } else {
        let v: Vec<u32> = spec
            .split('|')
            .filter_map(|s| s.trim().parse::<f64>().ok())
            .map(|f| f as u32)
            .collect();
        if v.is_empty() {
            ResolutionRange::Unknown
        } else {
            ResolutionRange::List(v)
        }
    }
}

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
fn last_message(stderr: &[String]) -> String {
    stderr
        .iter()
        .rev()
        .find(|l| l.starts_with("scanimage:"))
        .or_else(|| stderr.iter().rev().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim_start_matches("scanimage: ").to_owned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// A SANE scanner driven through `scanimage`.
#[derive(Debug, Clone)]
pub struct SaneScanner {
    config: SaneConfig,
    options: Option<DeviceOptions>,
}

impl SaneScanner {
    /// A scanner without probing it. Modes and sources are then passed by their common SANE
    /// names (`Color`, `ADF`, …), which some backends spell differently: prefer [`connect`].
    ///
    /// [`connect`]: SaneScanner::connect
    pub fn new(config: SaneConfig) -> Self {
        SaneScanner {
            config,
            options: None,
        }
    }

    /// Probe the device's options once (`scanimage -A`), failing early with "device not found"
    /// or "scanimage missing", and remember the device's own names for modes and sources.
    pub async fn connect(config: SaneConfig) -> Result<Self, ScanError> {
        let options = device_options(&config).await?;
        Ok(SaneScanner {
            config,
            options: Some(options),
        })
    }

    /// The options read by [`connect`](SaneScanner::connect), if any.
    pub fn options(&self) -> Option<&DeviceOptions> {
        self.options.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &SaneConfig {
        &self.config
    }

    /// Check the request against the device and build the `scanimage` arguments.
    fn batch_args(
        &self,
        request: &BatchRequest,
        pattern: &Path,
    ) -> Result<(Vec<OsString>, Option<String>), ScanError> {
        let device = &self.config.device;
        let unsupported = |what: String| ScanError::Unsupported {
            device: device.clone(),
            what,
        };
        let (mode, source) = match &self.options {
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
}

/// A fresh id per batch so page files of two batches never collide.
fn batch_id() -> String {
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

fn command(config: &SaneConfig) -> Command {
    let mut cmd = Command::new(&config.program);
    cmd.env("LC_ALL", "C")
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn spawn_error(config: &SaneConfig, e: std::io::Error) -> ScanError {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            ScanError::ScanimageMissing {
                program: config.program.clone(),
            }
        }
        _ => ScanError::io(&config.program, "starting scanimage", e),
    }
}

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
            seconds: super::whole_seconds(config.query_timeout),
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

impl DocumentScanner for SaneScanner {
    fn name(&self) -> String {
        format!("SANE {}", self.config.device)
    }

    fn start(&self, request: &BatchRequest) -> ScanSession {
        let (mut session, worker) = ScanSession::channel(self.config.device.clone());
        let fail = |worker: SessionWorker, e: ScanError| {
            // The channel is empty, so this cannot be full.
            let _ = worker.events.try_send(ScanEvent::Finished(Err(e)));
        };
        if request.resolution_dpi < 200 || request.mode != ColorMode::Color {
            tracing::warn!(
                device = %self.config.device,
                dpi = request.resolution_dpi,
                mode = ?request.mode,
                "below Decree 30/2020 digitization minimum (colour, 200 dpi)"
            );
        }
        let pattern = request.output_dir.join(format!(
            "b{}-p%04d.{}",
            batch_id(),
            request.format.extension()
        ));
        let (args, source_name) = match self.batch_args(request, &pattern) {
            Ok(a) => a,
            Err(e) => {
                fail(worker, e);
                return session;
            }
        };
        if !request.output_dir.is_dir() {
            fail(
                worker,
                ScanError::io(
                    &request.output_dir,
                    "opening the page folder",
                    std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
                ),
            );
            return session;
        }
        tracing::info!(device = %self.config.device, ?args, "starting scanimage batch");
        let mut child = match command(&self.config).args(&args).spawn() {
            Ok(c) => c,
            Err(e) => {
                fail(worker, spawn_error(&self.config, e));
                return session;
            }
        };
        session.set_process_id(child.id());
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            fail(
                worker,
                ScanError::WorkerStopped {
                    device: self.config.device.clone(),
                },
            );
            return session;
        };
        let job = BatchJob {
            device: self.config.device.clone(),
            stop_grace: self.config.stop_grace,
            page_timeout: request.page_timeout,
            dpi: request.resolution_dpi,
            mode: request.mode,
            source: PageSource::Sane {
                device: self.config.device.clone(),
                feed: Some(request.source),
                source_name,
            },
        };
        tokio::spawn(job.run(child, stdout, stderr, worker));
        session
    }
}

/// Everything the batch worker needs besides the process.
struct BatchJob {
    device: String,
    stop_grace: Duration,
    page_timeout: Duration,
    dpi: u32,
    mode: ColorMode,
    source: PageSource,
}

#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Cancelled,
    Dropped,
    Timeout,
}

impl BatchJob {
    /// Delivers the pages scanimage already announced, for at most 2 s (the pipe may stay open
    /// after the process ended). Returns false if the session was dropped meanwhile.
    async fn drain<R: AsyncBufRead + Unpin>(
        &self,
        lines: &mut tokio::io::Lines<R>,
        pages: &mut u32,
        worker: &mut SessionWorker,
    ) -> bool {
        let drain = async {
            while let Ok(Some(line)) = lines.next_line().await {
                match self.page(&line, *pages + 1).await {
                    Ok(page) => {
                        *pages += 1;
                        if !worker.send(ScanEvent::Page(page)).await {
                            return false;
                        }
                    }
                    Err(_) => break,
                }
            }
            true
        };
        tokio::time::timeout(Duration::from_secs(2), drain)
            .await
            .unwrap_or(true)
    }

    async fn run(
        self,
        mut child: Child,
        stdout: impl AsyncRead + Unpin + Send + 'static,
        stderr: impl AsyncRead + Unpin + Send + 'static,
        mut worker: SessionWorker,
    ) {
        let device = self.device.clone();
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut all = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(device = %device, "scanimage: {line}");
                all.push(line);
            }
            all
        });
        let mut lines = BufReader::new(stdout).lines();
        let mut pages = 0u32;
        let mut stop = None;
        let mut failure = None;
        // Set when scanimage exited before its stdout reached end of file: another process
        // (a forked helper, or a child of a concurrent spawn) may still hold the pipe open, so
        // the end of the process, not of the pipe, ends the batch.
        let mut exited = None;
        loop {
            tokio::select! {
                status = child.wait(), if exited.is_none() => {
                    exited = Some(status.ok());
                    if !self.drain(&mut lines, &mut pages, &mut worker).await {
                        stop = Some(Stop::Dropped);
                    }
                    break;
                }
                line = lines.next_line() => match line {
                    Ok(Some(line)) => {
                        match self.page(&line, pages + 1).await {
                            Ok(page) => {
                                pages += 1;
                                if !worker.send(ScanEvent::Page(page)).await {
                                    stop = Some(Stop::Dropped);
                                    break;
                                }
                            }
                            Err(e) => {
                                failure = Some(e);
                                stop = Some(Stop::Cancelled);
                                break;
                            }
                        }
                    }
                    Ok(None) | Err(_) => break,
                },
                _ = worker.cancelled() => {
                    stop = Some(if worker.events.is_closed() { Stop::Dropped } else { Stop::Cancelled });
                    break;
                }
                _ = tokio::time::sleep(self.page_timeout) => {
                    stop = Some(Stop::Timeout);
                    break;
                }
            }
        }
        let status = if let (Some(status), None) = (exited, stop.as_ref()) {
            status
        } else if stop.is_some() {
            terminate(&mut child, self.stop_grace).await
        } else {
            // stdout closed: the process is ending; still bound the wait.
            match tokio::time::timeout(self.page_timeout, child.wait()).await {
                Ok(s) => s.ok(),
                Err(_) => {
                    stop = Some(Stop::Timeout);
                    terminate(&mut child, self.stop_grace).await
                }
            }
        };
        if stop == Some(Stop::Dropped) {
            stderr_task.abort();
            return;
        }
        // Pages finished just before a stop are on disk and announced: deliver them too.
        if stop.is_some() && failure.is_none() {
            self.drain(&mut lines, &mut pages, &mut worker).await;
        }
        let stderr = match tokio::time::timeout(Duration::from_secs(2), stderr_task).await {
            Ok(Ok(v)) => v,
            _ => Vec::new(),
        };
        let result = match (failure, stop) {
            (Some(e), _) => Err(e),
            (None, Some(Stop::Timeout)) => Err(ScanError::Timeout {
                device: self.device.clone(),
                seconds: super::whole_seconds(self.page_timeout),
            }),
            (None, Some(_)) => Ok(BatchEnd::Cancelled),
            (None, None) => classify_exit(
                &self.device,
                &stderr,
                status.and_then(|s| s.code()),
                status.and_then(|s| s.signal()),
                pages,
            ),
        };
        if let Err(e) = &result {
            tracing::warn!(device = %self.device, pages, error = %e, "scan batch failed");
        }
        worker
            .finish(result.map(|end| BatchSummary { pages, end }))
            .await;
    }

    /// Decode one announced page file (off the async threads: pages can be 25 MB).
    async fn page(&self, line: &str, sequence: u32) -> Result<Page, ScanError> {
        let path = PathBuf::from(line.trim());
        let p = path.clone();
        let decoded = tokio::task::spawn_blocking(move || -> Result<_, ScanError> {
            let bytes = std::fs::read(&p).map_err(|e| ScanError::io(&p, "reading a page", e))?;
            let kind = decode::sniff(&bytes).ok_or_else(|| ScanError::Decode {
                path: p.clone(),
                detail: "unknown file type".to_owned(),
            })?;
            let mut pages =
                decode::decode_raster(kind, &bytes).map_err(|detail| ScanError::Decode {
                    path: p.clone(),
                    detail,
                })?;
            Ok(pages.remove(0))
        })
        .await
        .map_err(|_| ScanError::WorkerStopped {
            device: self.device.clone(),
        })??;
        Ok(Page {
            sequence,
            content: PageContent::Image(decoded.image),
            path,
            resolution_dpi: Some(self.dpi),
            color_mode: decoded.mode.or(Some(self.mode)),
            source: self.source.clone(),
        })
    }
}

/// Stop `scanimage` politely (SIGTERM lets it call `sane_cancel`, which stops the feeder and
/// frees the device), then firmly, and always reap it.
async fn terminate(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with a pid we own and have not reaped yet (try_wait above said it is
        // still running), so it cannot name another process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_parse_ranges_and_lists() {
        assert_eq!(
            parse_resolutions("1..1200dpi (in steps of 1)"),
            ResolutionRange::Range { min: 1, max: 1200 }
        );
        assert_eq!(
            parse_resolutions("75|150|300|600dpi"),
            ResolutionRange::List(vec![75, 150, 300, 600])
        );
    }
}
