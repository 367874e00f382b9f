//! The batch child process and its reader: one `scanimage --batch --batch-print` run, its
//! stdout read line by line (each line names a finished page file, decoded and delivered at
//! once), its stderr kept for [`super::exit::classify_exit`], and its end (finished, cancelled,
//! dropped or timed out) always followed by reaping the process.
//!
//! Kept apart because it is the only long-running, concurrent part of the SANE driver: the
//! select loop, the polite SIGTERM-then-SIGKILL stop and the draining of pages announced just
//! before a stop live here and nowhere else.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

use super::exit::classify_exit;
use crate::documents::decode;
use crate::documents::error::ScanError;
use crate::documents::page::{ColorMode, Page, PageContent, PageSource};
use crate::documents::session::{whole_seconds, BatchEnd, BatchSummary, ScanEvent, SessionWorker};

/// Everything the batch worker needs besides the process.
pub(super) struct BatchJob {
    pub(super) device: String,
    pub(super) stop_grace: Duration,
    pub(super) page_timeout: Duration,
    pub(super) dpi: u32,
    pub(super) mode: ColorMode,
    pub(super) source: PageSource,
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

    /// Runs the batch to its end and reports it through `worker`.
    pub(super) async fn run(
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
                seconds: whole_seconds(self.page_timeout),
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
