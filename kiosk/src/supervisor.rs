//! Life under systemd: readiness, a one-line health status, and a watchdog that is fed only
//! while every work loop shows progress.
//!
//! - **Readiness.** `READY=1` is sent once every condition the daemon registered is met (config
//!   valid, store open and sound, uplink running, printer state known, first frame shown); until
//!   then `STATUS=` says what is awaited. Later issues (updates) rely on exactly this meaning.
//! - **Watchdog.** Each work loop (screen, uplink, code reader) holds a [`Heartbeat`] and beats
//!   whenever it makes progress. One supervisor thread sends `WATCHDOG=1` every quarter of the
//!   watchdog period, but only while every loop beat within its own allowance: a hung screen or
//!   a stuck uplink stops the pings and systemd restarts the service. A loop that merely waits
//!   (no network, no paper) still beats: waiting is not hanging.
//! - **Status.** After readiness the supervisor keeps `STATUS=` on a health line (outbox depth,
//!   printer state, last upload) that `systemctl status` shows a technician.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every notification is a no-op, so the same binary runs
//! from a terminal.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// What the daemon waits for before it tells systemd it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    /// The store is open and passed `PRAGMA quick_check`.
    Store,
    /// The uplink task runs (enrolled or waiting for enrolment).
    Uplink,
    /// The printer's state is known (a fault is reported, it does not block readiness).
    Printer,
    /// The touch screen showed its first frame.
    Screen,
}

impl Condition {
    fn words(self) -> &'static str {
        match self {
            Self::Store => "kho dữ liệu / store",
            Self::Uplink => "kết nối tỉnh / uplink",
            Self::Printer => "máy in / printer",
            Self::Screen => "màn hình / screen",
        }
    }
}

/// Progress reports of one work loop; cheap to clone and to call from any thread.
#[derive(Clone)]
pub struct Heartbeat {
    last_ms: Arc<AtomicU64>,
    epoch: Instant,
}

impl Heartbeat {
    /// Records that the loop made progress now.
    pub fn beat(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// The same beat as a plain closure (for crates that know nothing of this one).
    pub fn as_fn(&self) -> Arc<dyn Fn() + Send + Sync> {
        let beat = self.clone();
        Arc::new(move || beat.beat())
    }
}

struct Loop {
    name: &'static str,
    last_ms: Arc<AtomicU64>,
    allowance: Duration,
}

struct Inner {
    epoch: Instant,
    loops: Mutex<Vec<Loop>>,
    waiting: Mutex<BTreeSet<Condition>>,
    ready: AtomicBool,
    health: Mutex<String>,
    /// A loop is stalled: `STATUS=` says so and the health line waits until it recovers.
    stalled: AtomicBool,
    stopped: AtomicBool,
}

/// The daemon's readiness, health line and watchdog; see the [module documentation](self).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl Supervisor {
    /// A supervisor with nothing awaited yet and no loops.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                epoch: Instant::now(),
                loops: Mutex::new(Vec::new()),
                waiting: Mutex::new(BTreeSet::new()),
                ready: AtomicBool::new(false),
                health: Mutex::new(String::new()),
                stalled: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
            }),
        }
    }

    /// Registers a work loop that must beat at least every `allowance` for the watchdog to be
    /// fed. It counts as having beaten now.
    pub fn register(&self, name: &'static str, allowance: Duration) -> Heartbeat {
        let beat = Heartbeat {
            last_ms: Arc::new(AtomicU64::new(0)),
            epoch: self.inner.epoch,
        };
        beat.beat();
        lock(&self.inner.loops).push(Loop {
            name,
            last_ms: beat.last_ms.clone(),
            allowance,
        });
        beat
    }

    /// Adds conditions readiness waits for.
    pub fn await_conditions(&self, conditions: &[Condition]) {
        lock(&self.inner.waiting).extend(conditions.iter().copied());
        self.say_waiting();
    }

    /// Marks a condition met; sends `READY=1` when it was the last one.
    pub fn met(&self, condition: Condition) {
        let done = {
            let mut waiting = lock(&self.inner.waiting);
            waiting.remove(&condition);
            waiting.is_empty()
        };
        tracing::info!(condition = condition.words(), "ready condition met");
        if done && !self.inner.ready.swap(true, Ordering::SeqCst) {
            let health = lock(&self.inner.health).clone();
            let status = if health.is_empty() {
                "sẵn sàng / ready".to_owned()
            } else {
                health
            };
            notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
            tracing::info!("ready");
        } else {
            self.say_waiting();
        }
    }

    /// Whether `READY=1` was sent.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    fn say_waiting(&self) {
        let waiting: Vec<&str> = lock(&self.inner.waiting)
            .iter()
            .map(|c| c.words())
            .collect();
        if !waiting.is_empty() && !self.is_ready() {
            let status = format!("đang chờ / waiting for: {}", waiting.join(", "));
            notify(&[NotifyState::Status(&status)]);
        }
    }

    /// Tells systemd why the daemon cannot run (before it exits non-zero).
    pub fn failed(&self, why: &str) {
        let status = format!("LỖI / FAILED: {why}");
        notify(&[NotifyState::Status(&status)]);
    }

    /// Sets the health line (sent as `STATUS=` once ready, and refreshed by the watchdog).
    pub fn set_health(&self, line: String) {
        let changed = {
            let mut health = lock(&self.inner.health);
            let changed = *health != line;
            *health = line;
            changed
        };
        if changed && self.is_ready() && !self.inner.stalled.load(Ordering::SeqCst) {
            self.send_health();
        }
    }

    fn send_health(&self) {
        let line = lock(&self.inner.health).clone();
        if !line.is_empty() {
            notify(&[NotifyState::Status(&line)]);
        }
    }

    /// Loops that have not beaten within their allowance, by name.
    pub fn stalled(&self) -> Vec<&'static str> {
        let now = self.inner.epoch.elapsed();
        lock(&self.inner.loops)
            .iter()
            .filter(|l| {
                let last = Duration::from_millis(l.last_ms.load(Ordering::Relaxed));
                now.saturating_sub(last) > l.allowance
            })
            .map(|l| l.name)
            .collect()
    }

    /// Starts the watchdog thread if systemd asked for one (`WATCHDOG_USEC`); it feeds the
    /// watchdog every quarter period while no loop has stalled, and says which one did.
    pub fn start_watchdog(&self) -> Option<std::thread::JoinHandle<()>> {
        self.spawn_watchdog(sd_notify::watchdog_enabled()?)
    }

    /// The watchdog thread for a given period (what [`Supervisor::start_watchdog`] starts).
    pub fn spawn_watchdog(&self, period: Duration) -> Option<std::thread::JoinHandle<()>> {
        let tick = (period / 4).max(Duration::from_millis(50));
        let me = self.clone();
        tracing::info!(period_ms = period.as_millis() as u64, "watchdog enabled");
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut reported: Vec<&'static str> = Vec::new();
                while !me.inner.stopped.load(Ordering::SeqCst) {
                    let stalled = me.stalled();
                    me.inner.stalled.store(!stalled.is_empty(), Ordering::SeqCst);
                    if stalled.is_empty() {
                        notify(&[NotifyState::Watchdog]);
                        if !reported.is_empty() {
                            tracing::info!("work loops recovered");
                            me.send_health();
                        }
                    } else if stalled != reported {
                        tracing::error!(
                            loops = ?stalled,
                            "work loop stalled: the watchdog is no longer fed, systemd will restart the kiosk"
                        );
                        let status = format!(
                            "treo / stalled: {}; sẽ khởi động lại / will be restarted",
                            stalled.join(", ")
                        );
                        notify(&[NotifyState::Status(&status)]);
                    }
                    reported = stalled;
                    std::thread::sleep(tick);
                }
            })
            .ok()
    }

    /// Stops the watchdog thread and tells systemd the daemon is stopping.
    pub fn stopping(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        notify(&[NotifyState::Stopping]);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
}

/// The health line for `STATUS=`: outbox depth, printer state, last upload, both languages.
pub fn health_line(status: &motcua_store::OutboxStatus, printer: &str) -> String {
    let last = status
        .last_delivered_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.format("%d/%m %H:%M").to_string())
        .unwrap_or_else(|| "chưa có / never".to_owned());
    let mut failing = if status.failing > 0 {
        format!(" ({} lỗi / failing)", status.failing)
    } else {
        String::new()
    };
    if status.needs_technician > 0 {
        failing.push_str(&format!(
            " ({} cần kỹ thuật viên / need a technician)",
            status.needs_technician
        ));
    }
    format!(
        "chờ gửi / outbox: {}{failing}; máy in / printer: {printer}; gửi gần nhất / last upload: {last}",
        status.pending
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_past_its_allowance_is_named_and_one_within_it_is_not() {
        // No race on the clock: one loop may never be silent, the other may be for a day.
        let s = Supervisor::new();
        let _patient = s.register("uplink", Duration::from_secs(86_400));
        let _strict = s.register("screen", Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(s.stalled(), vec!["screen"]);
    }

    #[test]
    fn the_health_line_says_depth_failures_printer_and_last_upload() {
        let status = motcua_store::OutboxStatus {
            pending: 3,
            failing: 1,
            last_delivered_at: Some("2026-12-01T10:42:00+07:00".into()),
            ..Default::default()
        };
        let line = health_line(&status, "hết giấy / out of paper");
        assert!(line.contains("outbox: 3 (1 lỗi / failing)"), "{line}");
        assert!(!line.contains("technician"), "{line}");
        assert!(line.contains("out of paper"), "{line}");
        assert!(line.contains("01/12 10:42"), "{line}");
        let held = motcua_store::OutboxStatus {
            needs_technician: 1,
            ..status.clone()
        };
        let line = health_line(&held, "ok");
        assert!(
            line.contains("(1 cần kỹ thuật viên / need a technician)"),
            "{line}"
        );
    }
}
