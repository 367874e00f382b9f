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

/// One PIN check sent to the services: the role it unlocks and a number no other check of this
/// process has. A verdict unlocks only the screen still waiting for that very check, so a late
/// verdict on the staff PIN cannot open a technician screen opened meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinCheck {
    /// The role asked for.
    pub role: Role,
    /// Unique to this check.
    pub nonce: u64,
}

impl PinCheck {
    fn new(role: Role) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            role,
            nonce: NEXT.fetch_add(1, Ordering::Relaxed),
        }
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
#[derive(Clone, PartialEq, Eq)]
pub enum StaffStep {
    /// Typing the PIN (`digits` typed so far).
    Pin {
        /// The digits typed (never shown, only counted; not in `Debug`).
        digits: String,
        /// Why the last try failed.
        error: Option<Message>,
        /// The check with the services: keys wait, and only its verdict counts.
        checking: Option<PinCheck>,
    },
    /// Unlocked.
    Panel {
        /// Status, `None` while loading.
        status: Option<PanelStatus>,
        /// Result of the last printer test.
        printer_test: Option<Result<(), Message>>,
    },
}

impl std::fmt::Debug for StaffStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The digits typed end up in debug logs otherwise: only their count.
            Self::Pin {
                digits,
                error,
                checking,
            } => f
                .debug_struct("Pin")
                .field("digits", &format_args!("<{} digits>", digits.len()))
                .field("error", error)
                .field("checking", checking)
                .finish(),
            Self::Panel {
                status,
                printer_test,
            } => f
                .debug_struct("Panel")
                .field("status", status)
                .field("printer_test", printer_test)
                .finish(),
        }
    }
}

/// Events of the staff screens.
#[derive(Clone, PartialEq, Eq)]
pub enum StaffEvent {
    /// A PIN pad key: a digit, `backspace` or `ok` (a digit is not in `Debug`).
    PinKey(String),
    /// The services' verdict on the PIN sent with [`StaffEffect::CheckPin`].
    PinChecked {
        /// The check it answers (as it came in the effect).
        check: PinCheck,
        /// Whether the PIN was right.
        verdict: Result<(), Message>,
    },
    /// The services' status.
    Status(PanelStatus),
    /// Refresh the status.
    Refresh,
    /// Print a test slip.
    PrinterTest,
    /// The test slip's outcome.
    PrinterTested(Result<(), Message>),
}

impl std::fmt::Debug for StaffEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PinKey(key) if key.chars().any(|c| c.is_ascii_digit()) => {
                f.write_str("PinKey(<digit>)")
            }
            Self::PinKey(key) => f.debug_tuple("PinKey").field(key).finish(),
            Self::PinChecked { check, verdict } => f
                .debug_struct("PinChecked")
                .field("check", check)
                .field("verdict", verdict)
                .finish(),
            Self::Status(s) => f.debug_tuple("Status").field(s).finish(),
            Self::Refresh => f.write_str("Refresh"),
            Self::PrinterTest => f.write_str("PrinterTest"),
            Self::PrinterTested(r) => f.debug_tuple("PrinterTested").field(r).finish(),
        }
    }
}

/// Effects of the staff screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffEffect {
    /// Check a PIN for a role (against the config's hash, under the stored lockout).
    CheckPin {
        /// The check: its role and the tag its verdict must carry back.
        check: PinCheck,
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
                checking: None,
            },
        }
    }

    /// Whether a PIN is with the services for checking.
    pub fn checking(&self) -> bool {
        matches!(
            self.step,
            StaffStep::Pin {
                checking: Some(_),
                ..
            }
        )
    }

    /// Applies an event.
    pub fn handle(&mut self, event: StaffEvent) -> Vec<StaffEffect> {
        match (&mut self.step, event) {
            (
                StaffStep::Pin {
                    checking: Some(_), ..
                },
                StaffEvent::PinKey(_),
            ) => Vec::new(),
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
                    let check = PinCheck::new(self.role);
                    *checking = Some(check);
                    vec![StaffEffect::CheckPin {
                        check,
                        pin: Pin(std::mem::take(digits)),
                    }]
                }
                d if d.len() == 1 && d.chars().all(|c| c.is_ascii_digit()) && digits.len() < 12 => {
                    digits.push_str(d);
                    Vec::new()
                }
                _ => Vec::new(),
            },
            // Only the verdict on this screen's own pending check counts (same role, same
            // nonce): any other is a late answer to a screen that is gone.
            (
                StaffStep::Pin {
                    checking: Some(pending),
                    ..
                },
                StaffEvent::PinChecked { check, .. },
            ) if *pending != check || check.role != self.role => Vec::new(),
            (
                StaffStep::Pin {
                    checking: Some(_), ..
                },
                StaffEvent::PinChecked {
                    verdict: Ok(()), ..
                },
            ) => {
                self.step = StaffStep::Panel {
                    status: None,
                    printer_test: None,
                };
                vec![StaffEffect::LoadStatus]
            }
            (
                StaffStep::Pin {
                    error,
                    checking: checking @ Some(_),
                    ..
                },
                StaffEvent::PinChecked {
                    verdict: Err(m), ..
                },
            ) => {
                *checking = None;
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
        let check = match &effects[..] {
            [StaffEffect::CheckPin { check, pin }] if pin.digits() == "2468" => *check,
            other => panic!("{other:?}"),
        };
        assert_eq!(check.role, Role::Staff);
        assert!(!format!("{effects:?}").contains("2468"), "never in logs");
        // Keys typed while the services check are ignored.
        assert!(f.handle(StaffEvent::PinKey("ok".into())).is_empty());
        assert_eq!(
            f.handle(StaffEvent::PinChecked {
                check,
                verdict: Ok(())
            }),
            vec![StaffEffect::LoadStatus]
        );
        assert!(matches!(f.step, StaffStep::Panel { .. }));
    }

    #[test]
    fn a_refused_pin_shows_why_and_the_pad_takes_keys_again() {
        let mut f = StaffFlow::new(Role::Technician);
        let [StaffEffect::CheckPin { check, .. }] = &type_pin(&mut f, "1111")[..] else {
            panic!("no check");
        };
        assert!(f
            .handle(StaffEvent::PinChecked {
                check: *check,
                verdict: Err(locked_message(60_000))
            })
            .is_empty());
        assert!(
            matches!(&f.step, StaffStep::Pin { error: Some(m), checking: None, .. } if m.en.contains("Too many"))
        );
        assert_eq!(type_pin(&mut f, "2468").len(), 1);
    }

    #[test]
    fn a_verdict_unlocks_only_the_check_it_answers() {
        // The staff PIN is typed and sent; the officer goes Home and opens the technician
        // screen, whose own PIN is being typed when the staff verdict arrives.
        let mut staff = StaffFlow::new(Role::Staff);
        let [StaffEffect::CheckPin {
            check: staff_check, ..
        }] = &type_pin(&mut staff, "2468")[..]
        else {
            panic!("no check");
        };
        let mut tech = StaffFlow::new(Role::Technician);
        let late = StaffEvent::PinChecked {
            check: *staff_check,
            verdict: Ok(()),
        };
        // Not waiting for any check: nothing.
        assert!(tech.handle(late.clone()).is_empty());
        assert!(matches!(tech.step, StaffStep::Pin { .. }));
        // Waiting for its own check: the staff verdict still does not count.
        let [StaffEffect::CheckPin {
            check: tech_check, ..
        }] = &type_pin(&mut tech, "1357")[..]
        else {
            panic!("no check");
        };
        assert_ne!(tech_check, staff_check);
        assert!(tech.handle(late).is_empty());
        assert!(matches!(
            tech.step,
            StaffStep::Pin {
                checking: Some(_),
                ..
            }
        ));
        // A verdict forged with the technician's nonce but the staff role does not either.
        let forged = PinCheck {
            role: Role::Staff,
            nonce: tech_check.nonce,
        };
        assert!(tech
            .handle(StaffEvent::PinChecked {
                check: forged,
                verdict: Ok(())
            })
            .is_empty());
        assert!(matches!(tech.step, StaffStep::Pin { .. }));
        // Its own verdict does.
        assert_eq!(
            tech.handle(StaffEvent::PinChecked {
                check: *tech_check,
                verdict: Ok(())
            }),
            vec![StaffEffect::LoadStatus]
        );
    }

    #[test]
    fn typed_digits_are_not_in_debug_output() {
        let mut f = StaffFlow::new(Role::Staff);
        for d in ["2", "4", "6"] {
            f.handle(StaffEvent::PinKey(d.into()));
            assert!(!format!("{:?}", StaffEvent::PinKey(d.into())).contains(d));
        }
        let shown = format!("{f:?}");
        assert!(!shown.contains("246"), "{shown}");
        assert!(shown.contains("3 digits"), "{shown}");
        assert!(format!("{:?}", StaffEvent::PinKey("ok".into())).contains("ok"));
    }
}
