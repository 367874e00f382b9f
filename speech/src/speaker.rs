//! The kiosk's voice: speaks a text to the sound device in the background.
//!
//! The touch screen's thread must never wait on speech, so [`Speaker::speak`] only sends the
//! text to a worker thread. The worker runs one `espeak-ng` at a time, which plays the sound
//! itself; a new text kills the one still speaking (a citizen who pressed "Listen" twice, or
//! moved on to the next screen, wants the new words, not the end of the old ones).
//!
//! A kiosk without `espeak-ng`, or without a speaker, is still a kiosk: the first problem is
//! logged once as a warning and kept for the self-test ([`Speaker::problem`]); speech keeps
//! being tried, so a speaker plugged in later works without a restart.

use std::io::Read;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use motcua_domain::queue::callout::CalloutLanguage;

use crate::engine::Espeak;
use crate::error::SpeechError;

/// How often the worker looks whether the program still speaking has ended, to reap it and
/// read what it reported.
const POLL: Duration = Duration::from_millis(200);

/// What the screen's thread asks of the worker.
enum Order {
    Say { text: String, lang: CalloutLanguage },
    Stop,
}

/// What the worker tells the rest of the kiosk.
#[derive(Default)]
struct Shared {
    warned: AtomicBool,
    problem: Mutex<Option<String>>,
    started: AtomicU64,
}

impl Shared {
    /// Keeps the first problem and logs it once; later ones are only debug-logged, so a kiosk
    /// without a speaker does not fill its journal.
    fn report(&self, problem: String) {
        if self.warned.swap(true, Ordering::SeqCst) {
            tracing::debug!(%problem, "speech still failing");
            return;
        }
        tracing::warn!(
            %problem,
            "giọng nói tắt, kiosk vẫn chạy bình thường / speech is off, the kiosk carries on"
        );
        if let Ok(mut p) = self.problem.lock() {
            *p = Some(problem);
        }
    }
}

/// Speaks texts in the background through `espeak-ng`, one at a time.
///
/// Dropping it stops what is being spoken and ends its thread.
pub struct Speaker {
    orders: Option<mpsc::Sender<Order>>,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl Speaker {
    /// A speaker that runs `engine`, with its worker thread started.
    pub fn new(engine: Espeak) -> Self {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let worker = thread::Builder::new().name("speaker".to_owned()).spawn({
            let shared = Arc::clone(&shared);
            move || work(&engine, &rx, &shared)
        });
        match worker {
            Ok(worker) => Self {
                orders: Some(tx),
                shared,
                worker: Some(worker),
            },
            Err(e) => {
                shared.report(format!(
                    "không tạo được luồng đọc / could not start the speech thread: {e}"
                ));
                Self {
                    orders: None,
                    shared,
                    worker: None,
                }
            }
        }
    }

    /// A speaker that never speaks: audio is off in the kiosk's configuration.
    pub fn silent() -> Self {
        Self {
            orders: None,
            shared: Arc::new(Shared::default()),
            worker: None,
        }
    }

    /// Whether texts are spoken at all (false for [`Speaker::silent`]).
    pub fn is_enabled(&self) -> bool {
        self.orders.is_some()
    }

    /// Speaks `text` in `lang`, cutting off whatever is being spoken. Returns at once.
    pub fn speak(&self, text: &str, lang: CalloutLanguage) {
        self.send(Order::Say {
            text: text.to_owned(),
            lang,
        });
    }

    /// Stops what is being spoken, if anything (the session ended, the screen went idle).
    pub fn stop(&self) {
        self.send(Order::Stop);
    }

    /// The first problem met while speaking (program missing, no sound device), if any: for
    /// the kiosk's self-test and status. It was logged once as a warning when it happened.
    pub fn problem(&self) -> Option<String> {
        self.shared.problem.lock().ok().and_then(|p| p.clone())
    }

    /// How many times the speech program was started: a count for status and tests.
    pub fn utterances_started(&self) -> u64 {
        self.shared.started.load(Ordering::SeqCst)
    }

    fn send(&self, order: Order) {
        if let Some(tx) = &self.orders {
            // The worker only ends when this speaker is dropped; a send after that is moot.
            let _ = tx.send(order);
        }
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        // Closing the channel ends the worker, which kills the program still speaking.
        self.orders = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker")
            .field("enabled", &self.is_enabled())
            .field("problem", &self.problem())
            .finish()
    }
}

/// The worker: takes orders until the speaker is dropped, one program speaking at most.
fn work(engine: &Espeak, orders: &mpsc::Receiver<Order>, shared: &Shared) {
    let mut speaking: Option<Child> = None;
    loop {
        let order = if speaking.is_some() {
            match orders.recv_timeout(POLL) {
                Ok(order) => Some(order),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match orders.recv() {
                Ok(order) => Some(order),
                Err(_) => break,
            }
        };
        // Of a burst of orders (a key pressed several times), only the last one counts.
        let order = order.map(|first| orders.try_iter().last().unwrap_or(first));
        if let Some(child) = speaking.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                if let Some(problem) = finished_problem(engine, child, status) {
                    shared.report(problem);
                }
                speaking = None;
            }
        }
        match order {
            None => {}
            Some(Order::Stop) => silence(&mut speaking),
            Some(Order::Say { text, lang }) => {
                silence(&mut speaking);
                match engine.spawn_playing(&text, lang) {
                    Ok(child) => {
                        shared.started.fetch_add(1, Ordering::SeqCst);
                        speaking = Some(child);
                    }
                    Err(SpeechError::EmptyText) => {}
                    Err(e) => shared.report(e.to_string()),
                }
            }
        }
    }
    silence(&mut speaking);
}

/// Kills the program still speaking and reaps it.
fn silence(speaking: &mut Option<Child>) {
    if let Some(mut child) = speaking.take() {
        // It may have just ended by itself; either way wait() reaps it.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// What went wrong with a program that ended by itself, if anything.
///
/// espeak-ng exits 0 even when it found no sound device; it says so on stderr
/// ("error: No such file or directory" after ALSA's own lines), so stderr is read too.
fn finished_problem(
    engine: &Espeak,
    child: &mut Child,
    status: std::process::ExitStatus,
) -> Option<String> {
    let mut stderr = Vec::new();
    if let Some(mut s) = child.stderr.take() {
        // The child has ended, so this reads what is left in the pipe and stops.
        let _ = s.read_to_end(&mut stderr);
    }
    let said = String::from_utf8_lossy(&stderr);
    let error_line = said
        .lines()
        .rev()
        .find(|l| l.to_ascii_lowercase().contains("error"));
    if !status.success() {
        return Some(engine.failed(status.to_string(), &stderr).to_string());
    }
    error_line.map(|line| {
        format!(
            "{} không phát được tiếng (không có loa hoặc thiết bị âm thanh?) / could not play \
             speech (no speaker or sound device?): {}",
            engine.program().display(),
            line.trim()
        )
    })
}
