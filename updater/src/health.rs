//! The health gate: a new version is committed only after its unit reached `active` (for a
//! Type=notify unit that is READY=1: config valid, store open and checked, uplink running)
//! within `ready_within`, then stayed active for `healthy_for` as the same process, with no
//! restart by systemd (a watchdog abort or a crash would be one). The verdict is a pure function
//! of what `systemctl show` said and when, so it is tested without a system; [`watch`] feeds it.

use std::time::{Duration, Instant};

use crate::system::{unit_state, UnitState};

/// How a probation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still deciding.
    Waiting,
    /// Ready in time and stayed up: commit.
    Healthy,
    /// Not healthy, in words for the technician.
    Unhealthy(String),
}

/// One probation in progress.
#[derive(Debug, Clone)]
pub struct Probation {
    ready_within: Duration,
    healthy_for: Duration,
    started: Instant,
    ready: Option<(Instant, u32, u64)>,
}

impl Probation {
    /// A probation starting at `started`.
    pub fn new(ready_within: Duration, healthy_for: Duration, started: Instant) -> Self {
        Self {
            ready_within,
            healthy_for,
            started,
            ready: None,
        }
    }

    /// Takes what systemd said at `now`.
    pub fn observe(&mut self, now: Instant, state: &UnitState) -> Verdict {
        match self.ready {
            None => {
                if state.active == "active" && state.main_pid != 0 {
                    self.ready = Some((now, state.main_pid, state.restarts));
                    return self.check_stayed(now);
                }
                if now.duration_since(self.started) >= self.ready_within {
                    return Verdict::Unhealthy(format!(
                        "không sẵn sàng (READY=1) trong {} giây / not ready (READY=1) within {} s: the unit is {}/{} after {} restarts",
                        self.ready_within.as_secs(),
                        self.ready_within.as_secs(),
                        state.active,
                        state.sub,
                        state.restarts
                    ));
                }
                Verdict::Waiting
            }
            Some((since, pid, restarts)) => {
                if state.active != "active" || state.main_pid != pid || state.restarts != restarts {
                    return Verdict::Unhealthy(format!(
                        "dừng hoặc khởi động lại trong thời gian thử / stopped or restarted {} s after it was ready (the unit is {}/{}, pid {} was {pid}, restarts {} were {restarts})",
                        now.duration_since(since).as_secs(),
                        state.active,
                        state.sub,
                        state.main_pid,
                        state.restarts
                    ));
                }
                self.check_stayed(now)
            }
        }
    }

    fn check_stayed(&self, now: Instant) -> Verdict {
        match self.ready {
            Some((since, _, _)) if now.duration_since(since) >= self.healthy_for => {
                Verdict::Healthy
            }
            _ => Verdict::Waiting,
        }
    }
}

/// Watches `unit` until a verdict (bounded: `ready_within + healthy_for` and a minute more).
pub fn watch(unit: &str, ready_within: Duration, healthy_for: Duration) -> Verdict {
    let started = Instant::now();
    let mut probation = Probation::new(ready_within, healthy_for, started);
    let limit = ready_within + healthy_for + Duration::from_secs(60);
    loop {
        let verdict = match unit_state(unit) {
            Ok(state) => probation.observe(Instant::now(), &state),
            Err(e) => {
                tracing::warn!("systemctl show {unit}: {e}");
                Verdict::Waiting
            }
        };
        if verdict != Verdict::Waiting {
            return verdict;
        }
        if started.elapsed() > limit {
            return Verdict::Unhealthy(format!("no verdict on {unit} within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(active: &str, pid: u32, restarts: u64) -> UnitState {
        UnitState {
            active: active.into(),
            sub: "running".into(),
            main_pid: pid,
            restarts,
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn ready_in_time_and_up_for_the_window_is_healthy() {
        let t0 = Instant::now();
        let mut p = Probation::new(30 * S, 10 * S, t0);
        assert_eq!(p.observe(t0, &state("activating", 10, 0)), Verdict::Waiting);
        assert_eq!(
            p.observe(t0 + 5 * S, &state("active", 10, 0)),
            Verdict::Waiting
        );
        assert_eq!(
            p.observe(t0 + 14 * S, &state("active", 10, 0)),
            Verdict::Waiting
        );
        assert_eq!(
            p.observe(t0 + 15 * S, &state("active", 10, 0)),
            Verdict::Healthy
        );
    }

    #[test]
    fn never_ready_is_unhealthy_at_the_deadline_only() {
        let t0 = Instant::now();
        let mut p = Probation::new(30 * S, 10 * S, t0);
        assert_eq!(
            p.observe(t0 + 29 * S, &state("activating", 11, 4)),
            Verdict::Waiting
        );
        let Verdict::Unhealthy(why) = p.observe(t0 + 30 * S, &state("activating", 12, 5)) else {
            panic!("not unhealthy");
        };
        assert!(
            why.contains("not ready") && why.contains("5 restarts"),
            "{why}"
        );
    }

    #[test]
    fn a_restart_or_a_stop_after_ready_is_unhealthy() {
        let t0 = Instant::now();
        for after in [
            state("active", 20, 0),
            state("active", 10, 1),
            state("failed", 0, 0),
        ] {
            let mut p = Probation::new(30 * S, 10 * S, t0);
            assert_eq!(p.observe(t0 + S, &state("active", 10, 0)), Verdict::Waiting);
            assert!(
                matches!(p.observe(t0 + 3 * S, &after), Verdict::Unhealthy(w) if w.contains("restarted")),
                "{after:?}"
            );
        }
    }
}
