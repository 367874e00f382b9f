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
//!
//! One job per file: `options` parses what a device offers, `probe` runs the short
//! `scanimage -f`/`-A` queries, `args` builds a batch's command line, `config` starts every
//! `scanimage` the same way, `batch` runs and reads a batch's child process, `exit` maps its
//! messages and exit status to errors. This file only ties them to [`DocumentScanner`].

mod args;
mod batch;
mod config;
mod exit;
mod options;
mod probe;

use self::batch::BatchJob;
use self::config::{command, spawn_error};
use crate::documents::error::ScanError;
use crate::documents::page::{BatchRequest, ColorMode, PageSource};
use crate::documents::session::{DocumentScanner, ScanEvent, ScanSession, SessionWorker};

pub use self::config::SaneConfig;
pub use self::exit::classify_exit;
pub use self::options::{
    parse_device_list, parse_device_options, DeviceInfo, DeviceOptions, ResolutionRange, SaneOption,
};
pub use self::probe::{device_options, list_devices};

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
            args::batch_id(),
            request.format.extension()
        ));
        let (args, source_name) = match args::batch_args(
            &self.config.device,
            self.options.as_ref(),
            request,
            &pattern,
        ) {
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
