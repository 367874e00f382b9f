//! Status lookup: scan the receipt QR or type the dossier code; offline, the cached status.

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::dossier::DossierCode;
use motcua_domain::wire::DossierStatus;

use super::text_entry::{Key, TextEntry};
use super::Message;

/// What the kiosk knows of a dossier's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// Dossier code.
    pub code: String,
    /// Status.
    pub status: DossierStatus,
    /// Appointment date for the result.
    pub appointment_date: NaiveDate,
    /// When this status was learnt from the provincial system.
    pub updated_at: Option<DateTime<FixedOffset>>,
    /// True when the gateway could not be reached and this is the kiosk's cached copy.
    pub offline: bool,
}

/// Where the lookup is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupStep {
    /// Typing or scanning the code; `error` says why the last try failed.
    Entry {
        /// Why the last code was refused or not found.
        error: Option<Message>,
    },
    /// Asking the gateway.
    Looking {
        /// The code asked for.
        code: String,
    },
    /// The answer.
    Found(StatusReport),
}

/// Events of the lookup flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupEvent {
    /// A key of the on-screen keyboard, into the code field.
    Key(Key),
    /// Look up the typed code.
    Submit,
    /// A receipt QR was scanned (its dossier code).
    Scanned(String),
    /// The answer.
    Answer(Result<StatusReport, Message>),
    /// Look up another dossier.
    Again,
}

/// Effects of the lookup flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupEffect {
    /// Ask the gateway (falling back to the local cache) for this code.
    Lookup(String),
}

/// The lookup flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFlow {
    /// The code field.
    pub code: TextEntry,
    /// Where it is.
    pub step: LookupStep,
}

impl Default for LookupFlow {
    fn default() -> Self {
        Self {
            code: TextEntry::new("", 32),
            step: LookupStep::Entry { error: None },
        }
    }
}

impl LookupFlow {
    /// Applies an event.
    pub fn handle(&mut self, event: LookupEvent) -> Vec<LookupEffect> {
        match event {
            LookupEvent::Key(k) if matches!(self.step, LookupStep::Entry { .. }) => {
                // Typing again clears the last error; codes are upper-case ASCII (no Telex).
                self.step = LookupStep::Entry { error: None };
                match k {
                    Key::Char(c) => self.code.press(&Key::Char(c.to_ascii_uppercase())),
                    Key::Backspace | Key::Clear => self.code.press(&k),
                    _ => {}
                }
                Vec::new()
            }
            LookupEvent::Submit if matches!(self.step, LookupStep::Entry { .. }) => {
                let typed = self.code.text();
                self.start(typed.trim())
            }
            LookupEvent::Scanned(code) if !matches!(self.step, LookupStep::Looking { .. }) => {
                self.code = TextEntry::new(&code, 32);
                self.start(&code)
            }
            LookupEvent::Answer(answer) if matches!(self.step, LookupStep::Looking { .. }) => {
                self.step = match answer {
                    Ok(report) => LookupStep::Found(report),
                    Err(error) => LookupStep::Entry { error: Some(error) },
                };
                Vec::new()
            }
            LookupEvent::Again => {
                *self = Self::default();
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn start(&mut self, code: &str) -> Vec<LookupEffect> {
        match DossierCode::parse(code) {
            Ok(c) => {
                let code = c.to_string();
                self.step = LookupStep::Looking { code: code.clone() };
                vec![LookupEffect::Lookup(code)]
            }
            Err(_) => {
                self.step = LookupStep::Entry {
                    error: Some(Message::new(
                        "Mã hồ sơ không đúng. Mã có dạng 000.00.00.H00-YYMMDD-0001, in trên giấy tiếp nhận.",
                        "That is not a dossier code. It looks like 000.00.00.H00-YYMMDD-0001 and is printed on your receipt.",
                    )),
                };
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "000.17.22.H56-261123-0001";

    fn report(offline: bool) -> StatusReport {
        StatusReport {
            code: CODE.into(),
            status: DossierStatus::Submitted,
            appointment_date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default(),
            updated_at: None,
            offline,
        }
    }

    #[test]
    fn typed_code_is_checked_then_looked_up() {
        let mut f = LookupFlow::default();
        for c in "abc".chars() {
            f.handle(LookupEvent::Key(Key::Char(c)));
        }
        assert_eq!(f.code.text(), "ABC");
        assert!(f.handle(LookupEvent::Submit).is_empty());
        assert!(matches!(f.step, LookupStep::Entry { error: Some(_) }));
        f.handle(LookupEvent::Key(Key::Clear));
        for c in CODE.chars() {
            f.handle(LookupEvent::Key(Key::Char(c)));
        }
        assert_eq!(
            f.handle(LookupEvent::Submit),
            vec![LookupEffect::Lookup(CODE.into())]
        );
        f.handle(LookupEvent::Answer(Ok(report(true))));
        assert_eq!(f.step, LookupStep::Found(report(true)));
    }

    #[test]
    fn scanned_code_goes_straight_to_lookup_and_not_found_returns_to_entry() {
        let mut f = LookupFlow::default();
        assert_eq!(
            f.handle(LookupEvent::Scanned(CODE.into())),
            vec![LookupEffect::Lookup(CODE.into())]
        );
        // A second scan while looking is ignored.
        assert!(f.handle(LookupEvent::Scanned(CODE.into())).is_empty());
        f.handle(LookupEvent::Answer(Err(Message::new(
            "không thấy",
            "not found",
        ))));
        assert!(matches!(f.step, LookupStep::Entry { error: Some(_) }));
        f.handle(LookupEvent::Again);
        assert_eq!(f, LookupFlow::default());
    }
}
