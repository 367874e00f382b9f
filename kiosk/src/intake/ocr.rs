//! The background OCR of spooled intake pages, for the invisible text layer of the documents'
//! PDFs (issue #19).
//!
//! Each page spooled by an intake is queued here ([`enqueue`]); one worker thread per process,
//! at idle CPU and I/O priority (its `tesseract` children too, see
//! [`motcua_scanner::pipeline::ocr`]), reads the spooled page back, recognises its words and
//! writes them beside it as `<page>.mcp.ocr.json` (through a temporary file and a rename, so a
//! half-written file never carries the name). The scanning never waits for it: on a busy
//! kiosk the OCR builds a backlog ([`backlog`]) that drains in the gaps and after the batch.
//!
//! At commit [`super::assemble_pdf`] queues the pages that have no words yet (pages restored
//! by the officer, pages spooled before a restart), waits for them up to
//! [`OcrSettings::commit_wait`] and puts in the text of the pages that have it. A page whose
//! OCR failed or did not finish in time goes in without text, with a warning: a page is never
//! lost or held back for its text. One worker per process (a static), because the staff screen
//! makes a new intake session for every touch and the queue must outlive them.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The settings live with the OCR in the scanner crate, so `kiosk::config` reads them without
/// depending on this module (which depends on the config).
pub use motcua_scanner::pipeline::ocr::OcrSettings;
use motcua_scanner::pipeline::ocr::{lower_priority, recognize, OcrConfig, PageText};
use motcua_scanner::pipeline::EncodedPage;

/// Where the words of the spooled page `spool` are kept.
pub fn words_path(spool: &Path) -> PathBuf {
    let mut name = spool.as_os_str().to_owned();
    name.push(".ocr.json");
    PathBuf::from(name)
}

/// The words of `spool`, if its OCR finished (`None` when missing or unreadable).
pub fn read_words(spool: &Path) -> Option<PageText> {
    let bytes = std::fs::read(words_path(spool)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// How far the OCR is (for the staff screen and `kioskctl`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Pages queued or being read now.
    pub waiting: usize,
    /// Pages read since the process started.
    pub done: u64,
    /// Pages whose OCR failed (they go into their PDF without text).
    pub failed: u64,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<PathBuf>,
    running: Option<PathBuf>,
    done: u64,
    failed: u64,
    worker: bool,
}

/// A queue of pages and its worker thread.
pub struct OcrQueue {
    state: Mutex<State>,
    changed: Condvar,
    config: OcrConfig,
}

static SHARED: OnceLock<Arc<OcrQueue>> = OnceLock::new();

/// The process's queue (made with the settings of its first caller).
pub fn shared(settings: &OcrSettings) -> Arc<OcrQueue> {
    SHARED
        .get_or_init(|| OcrQueue::new(settings.config.clone()))
        .clone()
}

/// Queues the spooled page `spool` on the process's queue when OCR is on.
pub fn enqueue(settings: &OcrSettings, spool: &Path) {
    if settings.enabled {
        shared(settings).enqueue(spool);
    }
}

/// The process's backlog (all zero before the first page).
pub fn backlog() -> Backlog {
    SHARED.get().map(|q| q.backlog()).unwrap_or_default()
}

impl OcrQueue {
    /// A queue whose worker runs tesseract as `config` says (started with the first page).
    pub fn new(config: OcrConfig) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            config,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic in the worker leaves the counters usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `spool` unless its words are there or it is queued already.
    pub fn enqueue(self: &Arc<Self>, spool: &Path) {
        if words_path(spool).exists() {
            return;
        }
        let mut state = self.lock();
        if state.running.as_deref() == Some(spool) || state.waiting.iter().any(|p| p == spool) {
            return;
        }
        state.waiting.push_back(spool.to_path_buf());
        if !state.worker {
            let queue = Arc::clone(self);
            let started = std::thread::Builder::new()
                .name("intake-ocr".to_owned())
                .spawn(move || queue.work());
            match started {
                Ok(_) => state.worker = true,
                Err(error) => {
                    tracing::warn!(%error, "intake OCR: worker not started; pages go without text")
                }
            }
        }
        self.changed.notify_all();
    }

    /// Pages waiting and done.
    pub fn backlog(&self) -> Backlog {
        let state = self.lock();
        Backlog {
            waiting: state.waiting.len() + usize::from(state.running.is_some()),
            done: state.done,
            failed: state.failed,
        }
    }

    /// Waits until none of `pages` is queued or being read, at most `timeout`; true when none
    /// is left.
    pub fn wait_for(&self, pages: &[PathBuf], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            let pending = pages
                .iter()
                .any(|p| state.running.as_ref() == Some(p) || state.waiting.iter().any(|w| w == p));
            let now = Instant::now();
            if !pending {
                return true;
            }
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn work(&self) {
        lower_priority();
        loop {
            let spool = {
                let mut state = self.lock();
                loop {
                    if let Some(p) = state.waiting.pop_front() {
                        state.running = Some(p.clone());
                        break p;
                    }
                    state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            };
            let result = ocr_page(&spool, &self.config);
            if let Err(error) = &result {
                tracing::warn!(page = %spool.display(), %error, "intake OCR: trang không có lớp chữ / page gets no text layer");
            }
            let mut state = self.lock();
            state.running = None;
            match result {
                Ok(()) => state.done += 1,
                Err(_) => state.failed += 1,
            }
            self.changed.notify_all();
        }
    }
}

/// Reads `spool`, recognises it and writes its words file (temporary file, then rename).
fn ocr_page(spool: &Path, config: &OcrConfig) -> Result<(), String> {
    if !spool.exists() {
        // Committed or deleted meanwhile: nothing to do.
        return Ok(());
    }
    let page = EncodedPage::read_spool(spool).map_err(|e| e.to_string())?;
    let words = recognize(&page, config).map_err(|e| e.to_string())?;
    if !spool.exists() {
        // Stored (a commit that did not wait for it) and removed while it was read.
        return Ok(());
    }
    let json = serde_json::to_vec(&words).map_err(|e| e.to_string())?;
    let target = words_path(spool);
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, json).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &target).map_err(|e| format!("{}: {e}", target.display()))
}
