//! A running scan: the [`DocumentScanner`] trait, the [`ScanSession`] a caller holds (events,
//! cancel, collect), the worker's side of it, and how a batch ends.
//!
//! Kept apart from the scanners so both of them (SANE and the hot folder) share one channel
//! protocol: pages as they are complete, then exactly one [`ScanEvent::Finished`].

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::error::ScanError;
use super::page::{BatchRequest, Page};

/// Why a session ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEnd {
    /// The feeder ran out of paper after at least one page: the normal end of a feeder batch.
    FeederEmptied,
    /// All requested pages were scanned (flatbed, or `max_pages`).
    Completed,
    /// [`ScanSession::cancel`] was called.
    Cancelled,
    /// A hot folder stayed quiet for its idle time after the session started.
    Idle,
}

/// How a session ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Pages delivered.
    pub pages: u32,
    /// Why it ended.
    pub end: BatchEnd,
}

/// Something that happened during a session.
#[derive(Debug)]
pub enum ScanEvent {
    /// A page is complete (the progress event: one per page, as it completes).
    Page(Page),
    /// A hot-folder file was set aside into `rejected/` because it never became readable; the
    /// session goes on.
    Rejected {
        /// Where the file now is.
        path: PathBuf,
        /// Why it was rejected.
        error: ScanError,
    },
    /// The session is over; nothing follows.
    Finished(Result<BatchSummary, ScanError>),
}

/// A failed session together with every page it produced before failing.
///
/// The staff flow must not lose the 14 pages that went through before a jam on page 15.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({} trang đã quét được giữ lại / page(s) already scanned are kept)", pages.len())]
pub struct BatchError {
    /// Pages completed before the failure, in order.
    pub pages: Vec<Page>,
    /// What failed.
    pub error: ScanError,
}

/// A source of scanned pages.
///
/// `start` is synchronous and returns at once (it must be called inside a Tokio runtime): the
/// work runs in a background task and reports through the returned [`ScanSession`]. This keeps
/// the trait object-safe, so the kiosk config can pick an implementation at run time.
pub trait DocumentScanner: Send + Sync {
    /// A short human-readable name for logs and the technician screen.
    fn name(&self) -> String;

    /// Start a session. Errors (including "device not found") arrive as the final
    /// [`ScanEvent::Finished`], so callers have one place to handle them.
    fn start(&self, request: &BatchRequest) -> ScanSession;
}

/// A running scan: a stream of [`ScanEvent`]s and a way to stop it.
///
/// Dropping the session cancels it: the worker stops the child process (SIGTERM, then SIGKILL)
/// and waits for it, so no zombie process is left behind.
#[derive(Debug)]
pub struct ScanSession {
    events: mpsc::Receiver<ScanEvent>,
    cancel: Option<oneshot::Sender<()>>,
    process_id: Option<u32>,
    label: String,
    finished: bool,
}

impl ScanSession {
    /// Create a session and the worker's ends of it.
    pub(crate) fn channel(label: String) -> (ScanSession, SessionWorker) {
        let (tx, rx) = mpsc::channel(8);
        let (cancel_tx, cancel_rx) = oneshot::channel();
        (
            ScanSession {
                events: rx,
                cancel: Some(cancel_tx),
                process_id: None,
                label,
                finished: false,
            },
            SessionWorker {
                events: tx,
                cancel: Some(cancel_rx),
            },
        )
    }

    /// The id of the child process driving this session, if any (for diagnostics and tests).
    pub fn process_id(&self) -> Option<u32> {
        self.process_id
    }

    pub(crate) fn set_process_id(&mut self, pid: Option<u32>) {
        self.process_id = pid;
    }

    /// The next event; `None` after [`ScanEvent::Finished`] was returned.
    pub async fn next_event(&mut self) -> Option<ScanEvent> {
        if self.finished {
            return None;
        }
        match self.events.recv().await {
            Some(ev) => {
                if matches!(ev, ScanEvent::Finished(_)) {
                    self.finished = true;
                }
                Some(ev)
            }
            None => {
                self.finished = true;
                Some(ScanEvent::Finished(Err(ScanError::WorkerStopped {
                    device: self.label.clone(),
                })))
            }
        }
    }

    /// Wait for the end and return every page, or the error with the pages delivered before it.
    /// Rejected hot-folder files are logged and skipped.
    pub async fn collect(mut self) -> Result<Vec<Page>, BatchError> {
        let mut pages = Vec::new();
        while let Some(ev) = self.next_event().await {
            match ev {
                ScanEvent::Page(p) => pages.push(p),
                ScanEvent::Rejected { path, error } => {
                    tracing::warn!(path = %path.display(), %error, "hot-folder file rejected");
                }
                ScanEvent::Finished(Ok(_)) => return Ok(pages),
                ScanEvent::Finished(Err(error)) => return Err(BatchError { pages, error }),
            }
        }
        Ok(pages)
    }

    /// Ask the worker to stop, then drain: pages completed before the stop are still returned.
    pub async fn cancel(mut self) -> Result<Vec<Page>, BatchError> {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
        self.collect().await
    }
}

/// The worker's side of a [`ScanSession`].
#[derive(Debug)]
pub(crate) struct SessionWorker {
    pub(super) events: mpsc::Sender<ScanEvent>,
    /// Resolves when the session is cancelled or dropped; `None` once that happened.
    cancel: Option<oneshot::Receiver<()>>,
}

impl SessionWorker {
    /// Resolves when the session was cancelled or dropped (at once if that already happened).
    pub(crate) async fn cancelled(&mut self) {
        if let Some(rx) = self.cancel.as_mut() {
            let _ = rx.await;
            self.cancel = None;
        }
    }

    /// Send an event; `false` if the session was dropped (stop working then). A cancelled but
    /// still-draining session keeps receiving, so pages finished before the stop are delivered.
    pub(crate) async fn send(&mut self, ev: ScanEvent) -> bool {
        self.events.send(ev).await.is_ok()
    }

    /// Send the final event, even after a cancel (a dropped session simply ignores it).
    pub(crate) async fn finish(self, result: Result<BatchSummary, ScanError>) {
        let _ = self.events.send(ScanEvent::Finished(result)).await;
    }
}

/// Seconds for messages, rounded up so a 300 ms limit is not shown as "0 s".
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
