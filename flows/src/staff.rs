//! Staff and technician screens behind a PIN, with a lockout after repeated failures.

use sha2::{Digest, Sha256};

use super::Message;

/// Who is unlocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Intake staff (cán bộ một cửa).
    Staff,
    /// Technician (kỹ thuật viên).
    Technician,
}

/// PIN settings (`[ui]` in the config): SHA-256 of each role's PIN, so the config file does not
/// hold the PIN itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPolicy {
    /// SHA-256 (hex) of the staff PIN; `None` disables staff screens.
    pub staff_pin_sha256: Option<String>,
    /// SHA-256 (hex) of the technician PIN; `None` disables technician screens.
    pub technician_pin_sha256: Option<String>,
    /// Failed tries before the lockout.
    pub max_attempts: u32,
    /// Lockout length, milliseconds.
    pub lockout_ms: u64,
}

impl Default for PinPolicy {
    fn default() -> Self {
        Self {
            staff_pin_sha256: None,
            technician_pin_sha256: None,
            max_attempts: 5,
            lockout_ms: 5 * 60 * 1000,
        }
    }
}

/// SHA-256 hex of a PIN (what the config holds).
pub fn pin_hash(pin: &str) -> String {
    hex::encode(Sha256::digest(pin.as_bytes()))
}

/// Failed attempts, kept across sessions (a walk-away does not reset the lockout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinGuard {
    failures: u32,
    locked_until_ms: Option<u64>,
}

impl PinGuard {
    /// Milliseconds of lockout left at `now_ms`.
    pub fn locked_for(&self, now_ms: u64) -> Option<u64> {
        self.locked_until_ms
            .filter(|&until| until > now_ms)
            .map(|until| until - now_ms)
    }

    /// Checks a PIN; returns whether it unlocks `role`.
    pub fn check(
        &mut self,
        policy: &PinPolicy,
        role: Role,
        pin: &str,
        now_ms: u64,
    ) -> Result<(), Message> {
        if let Some(left) = self.locked_for(now_ms) {
            return Err(locked_message(left));
        }
        let expected = match role {
            Role::Staff => policy.staff_pin_sha256.as_deref(),
            Role::Technician => policy.technician_pin_sha256.as_deref(),
        };
        let Some(expected) = expected else {
            return Err(Message::new(
                "Chưa cấu hình mã PIN cho mục này.",
                "No PIN is configured for this screen.",
            ));
        };
        if !pin.is_empty() && pin_hash(pin).eq_ignore_ascii_case(expected) {
            self.failures = 0;
            self.locked_until_ms = None;
            return Ok(());
        }
        self.failures += 1;
        if self.failures >= policy.max_attempts {
            self.failures = 0;
            self.locked_until_ms = Some(now_ms + policy.lockout_ms);
            tracing::warn!(?role, "PIN entry locked after repeated failures");
            return Err(locked_message(policy.lockout_ms));
        }
        let left = policy.max_attempts - self.failures;
        Err(Message::new(
            format!("Mã PIN không đúng. Còn {left} lần thử."),
            format!("Wrong PIN. {left} tries left."),
        ))
    }
}

fn locked_message(ms: u64) -> Message {
    let minutes = ms.div_ceil(60_000);
    Message::new(
        format!("Nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút."),
        format!("Too many wrong PINs. Try again in {minutes} min."),
    )
}

/// What the staff panel shows (filled in by the services).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PanelStatus {
    /// One line per device / subsystem, e.g. "Máy in: sẵn sàng / Printer: ready".
    pub lines: Vec<Message>,
}

/// Where the staff screens are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffStep {
    /// Typing the PIN (`digits` typed so far).
    Pin {
        /// The digits typed (never shown, only counted).
        digits: String,
        /// Why the last try failed.
        error: Option<Message>,
    },
    /// Unlocked.
    Panel {
        /// Status, `None` while loading.
        status: Option<PanelStatus>,
        /// Result of the last printer test.
        printer_test: Option<Result<(), Message>>,
    },
}

/// Events of the staff screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffEvent {
    /// A PIN pad key: a digit, `backspace` or `ok`.
    PinKey(String),
    /// The services' status.
    Status(PanelStatus),
    /// Refresh the status.
    Refresh,
    /// Print a test slip.
    PrinterTest,
    /// The test slip's outcome.
    PrinterTested(Result<(), Message>),
}

/// Effects of the staff screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffEffect {
    /// Gather device and outbox status.
    LoadStatus,
    /// Print a test slip.
    PrinterTest,
}

/// The staff screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffFlow {
    /// Which role is asked for.
    pub role: Role,
    /// Where it is.
    pub step: StaffStep,
}

impl StaffFlow {
    /// The PIN screen for `role`.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            step: StaffStep::Pin {
                digits: String::new(),
                error: None,
            },
        }
    }

    /// Applies an event.
    pub fn handle(
        &mut self,
        event: StaffEvent,
        policy: &PinPolicy,
        guard: &mut PinGuard,
        now_ms: u64,
    ) -> Vec<StaffEffect> {
        match (&mut self.step, event) {
            (StaffStep::Pin { digits, error }, StaffEvent::PinKey(key)) => match key.as_str() {
                "backspace" => {
                    digits.pop();
                    Vec::new()
                }
                "ok" => {
                    let pin = std::mem::take(digits);
                    match guard.check(policy, self.role, &pin, now_ms) {
                        Ok(()) => {
                            self.step = StaffStep::Panel {
                                status: None,
                                printer_test: None,
                            };
                            vec![StaffEffect::LoadStatus]
                        }
                        Err(m) => {
                            *error = Some(m);
                            Vec::new()
                        }
                    }
                }
                d if d.len() == 1 && d.chars().all(|c| c.is_ascii_digit()) && digits.len() < 12 => {
                    digits.push_str(d);
                    Vec::new()
                }
                _ => Vec::new(),
            },
            (StaffStep::Panel { status, .. }, StaffEvent::Status(s)) => {
                *status = Some(s);
                Vec::new()
            }
            (StaffStep::Panel { status, .. }, StaffEvent::Refresh) => {
                *status = None;
                vec![StaffEffect::LoadStatus]
            }
            (StaffStep::Panel { printer_test, .. }, StaffEvent::PrinterTest) => {
                *printer_test = None;
                vec![StaffEffect::PrinterTest]
            }
            (StaffStep::Panel { printer_test, .. }, StaffEvent::PrinterTested(r)) => {
                *printer_test = Some(r);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PinPolicy {
        PinPolicy {
            staff_pin_sha256: Some(pin_hash("2468")),
            technician_pin_sha256: None,
            max_attempts: 3,
            lockout_ms: 60_000,
        }
    }

    fn type_pin(f: &mut StaffFlow, pin: &str, guard: &mut PinGuard, now: u64) -> Vec<StaffEffect> {
        for c in pin.chars() {
            f.handle(StaffEvent::PinKey(c.to_string()), &policy(), guard, now);
        }
        f.handle(StaffEvent::PinKey("ok".into()), &policy(), guard, now)
    }

    #[test]
    fn right_pin_unlocks_and_loads_status() {
        let mut guard = PinGuard::default();
        let mut f = StaffFlow::new(Role::Staff);
        assert_eq!(
            type_pin(&mut f, "2468", &mut guard, 0),
            vec![StaffEffect::LoadStatus]
        );
        assert!(matches!(f.step, StaffStep::Panel { .. }));
    }

    #[test]
    fn repeated_failures_lock_even_the_right_pin_out() {
        let mut guard = PinGuard::default();
        let mut f = StaffFlow::new(Role::Staff);
        type_pin(&mut f, "1111", &mut guard, 0);
        type_pin(&mut f, "2222", &mut guard, 1);
        type_pin(&mut f, "3333", &mut guard, 2);
        assert!(guard.locked_for(3).is_some());
        assert!(type_pin(&mut f, "2468", &mut guard, 10_000).is_empty());
        assert!(
            matches!(&f.step, StaffStep::Pin { error: Some(m), .. } if m.en.contains("Too many"))
        );
        // After the lockout the right PIN works again.
        assert_eq!(type_pin(&mut f, "2468", &mut guard, 70_000).len(), 1);
    }

    #[test]
    fn unconfigured_role_stays_locked() {
        let mut guard = PinGuard::default();
        let mut f = StaffFlow::new(Role::Technician);
        assert!(type_pin(&mut f, "2468", &mut guard, 0).is_empty());
        assert!(matches!(f.step, StaffStep::Pin { .. }));
    }
}
