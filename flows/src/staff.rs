//! Staff and technician screens behind a PIN, with a lockout after repeated failures.

use super::Message;

/// Who is unlocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Intake staff (cán bộ một cửa).
    Staff,
    /// Technician (kỹ thuật viên).
    Technician,
}

/// PIN settings (`[ui]` in the config): each role's PIN as an Argon2id PHC string with its own
/// salt (`kioskctl pin`), so the config file does not give the PIN away. The services check a
/// PIN against them and keep the failed tries in the store (a restart does not reset them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPolicy {
    /// Argon2id PHC string of the staff PIN; `None` disables staff screens.
    pub staff_pin_hash: Option<String>,
    /// Argon2id PHC string of the technician PIN; `None` disables technician screens.
    pub technician_pin_hash: Option<String>,
    /// Failed tries before the lockout.
    pub max_attempts: u32,
    /// Lockout length, milliseconds.
    pub lockout_ms: u64,
}

impl Default for PinPolicy {
    fn default() -> Self {
        Self {
            staff_pin_hash: None,
            technician_pin_hash: None,
            max_attempts: 5,
            lockout_ms: 5 * 60 * 1000,
        }
    }
}

/// The digits typed on the PIN pad, on their way to the services. Never printed: effects and
/// events end up in debug logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    /// The digits.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(…)")
    }
}

/// The message of a PIN pad locked for `ms` more milliseconds.
pub fn locked_message(ms: u64) -> Message {
    let minutes = ms.div_ceil(60_000);
    Message::new(
        format!("Nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút."),
        format!("Too many wrong PINs. Try again in {minutes} min."),
    )
}

/// The message of a wrong PIN with `left` tries before the lockout.
pub fn wrong_pin_message(left: u32) -> Message {
    Message::new(
        format!("Mã PIN không đúng. Còn {left} lần thử."),
        format!("Wrong PIN. {left} tries left."),
    )
}

/// The message of a role without a PIN.
pub fn no_pin_message() -> Message {
    Message::new(
        "Chưa cấu hình mã PIN cho mục này.",
        "No PIN is configured for this screen.",
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
        /// A PIN is with the services for checking: keys wait.
        checking: bool,
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
    /// The services' verdict on the PIN sent with [`StaffEffect::CheckPin`].
    PinChecked(Result<(), Message>),
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
    /// Check a PIN for a role (against the config's hash, under the stored lockout).
    CheckPin {
        /// The role asked for.
        role: Role,
        /// The digits typed.
        pin: Pin,
    },
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
                checking: false,
            },
        }
    }

    /// Applies an event.
    pub fn handle(&mut self, event: StaffEvent) -> Vec<StaffEffect> {
        match (&mut self.step, event) {
            (StaffStep::Pin { checking: true, .. }, StaffEvent::PinKey(_)) => Vec::new(),
            (
                StaffStep::Pin {
                    digits, checking, ..
                },
                StaffEvent::PinKey(key),
            ) => match key.as_str() {
                "backspace" => {
                    digits.pop();
                    Vec::new()
                }
                "ok" => {
                    *checking = true;
                    vec![StaffEffect::CheckPin {
                        role: self.role,
                        pin: Pin(std::mem::take(digits)),
                    }]
                }
                d if d.len() == 1 && d.chars().all(|c| c.is_ascii_digit()) && digits.len() < 12 => {
                    digits.push_str(d);
                    Vec::new()
                }
                _ => Vec::new(),
            },
            (StaffStep::Pin { .. }, StaffEvent::PinChecked(Ok(()))) => {
                self.step = StaffStep::Panel {
                    status: None,
                    printer_test: None,
                };
                vec![StaffEffect::LoadStatus]
            }
            (
                StaffStep::Pin {
                    error, checking, ..
                },
                StaffEvent::PinChecked(Err(m)),
            ) => {
                *checking = false;
                *error = Some(m);
                Vec::new()
            }
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

    fn type_pin(f: &mut StaffFlow, pin: &str) -> Vec<StaffEffect> {
        for c in pin.chars() {
            f.handle(StaffEvent::PinKey(c.to_string()));
        }
        f.handle(StaffEvent::PinKey("ok".into()))
    }

    #[test]
    fn ok_sends_the_pin_for_checking_and_a_right_one_loads_the_status() {
        let mut f = StaffFlow::new(Role::Staff);
        let effects = type_pin(&mut f, "2468");
        assert!(matches!(
            &effects[..],
            [StaffEffect::CheckPin { role: Role::Staff, pin }] if pin.digits() == "2468"
        ));
        assert!(!format!("{effects:?}").contains("2468"), "never in logs");
        // Keys typed while the services check are ignored.
        assert!(f.handle(StaffEvent::PinKey("ok".into())).is_empty());
        assert_eq!(
            f.handle(StaffEvent::PinChecked(Ok(()))),
            vec![StaffEffect::LoadStatus]
        );
        assert!(matches!(f.step, StaffStep::Panel { .. }));
    }

    #[test]
    fn a_refused_pin_shows_why_and_the_pad_takes_keys_again() {
        let mut f = StaffFlow::new(Role::Technician);
        type_pin(&mut f, "1111");
        assert!(f
            .handle(StaffEvent::PinChecked(Err(locked_message(60_000))))
            .is_empty());
        assert!(
            matches!(&f.step, StaffStep::Pin { error: Some(m), checking: false, .. } if m.en.contains("Too many"))
        );
        assert_eq!(type_pin(&mut f, "2468").len(), 1);
    }
}
