//! Status lookup: scan the receipt QR (code and lookup secret), or type the dossier code and the
//! lookup code printed under the QR; offline, the cached status, under the same rule.
//!
//! Dossier codes are sequential, so the code alone shows nothing: a wrong lookup code, an
//! unknown dossier and another site's dossier get one and the same message
//! ([`not_found_message`]), and a citizen who lost the receipt is sent to the counter with
//! their ID card ([`lost_receipt_message`]).

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_domain::dossier::DossierCode;
use motcua_domain::lookup_secret::LookupSecret;
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
    /// Typing or scanning; `error` says why the last try failed.
    Entry {
        /// Why the last try was refused or not found.
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

/// The two fields of the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupField {
    /// The dossier code.
    Code,
    /// The lookup code (the receipt's secret).
    Secret,
}

/// Events of the lookup flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupEvent {
    /// A key of the on-screen keyboard, into the focused field.
    Key(Key),
    /// The citizen touched a field.
    Focus(LookupField),
    /// Look up what was typed.
    Submit,
    /// A receipt QR was scanned: its dossier code (empty if the payload had none) and its
    /// secret, when the province's QR template carries one.
    Scanned {
        /// The dossier code.
        code: String,
        /// The secret in the QR.
        secret: Option<LookupSecret>,
    },
    /// The answer.
    Answer(Result<StatusReport, Message>),
    /// Look up another dossier.
    Again,
}

/// Effects of the lookup flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupEffect {
    /// Ask the gateway (falling back to the local cache, under the same rule) for this dossier,
    /// showing its receipt's secret.
    Lookup {
        /// The dossier code.
        code: String,
        /// The receipt's secret.
        secret: LookupSecret,
    },
}

/// The one answer to a wrong lookup code, an unknown code and another site's code.
pub fn not_found_message() -> Message {
    Message::new(
        "Không tìm thấy hồ sơ khớp mã hồ sơ và mã tra cứu này. Vui lòng kiểm tra lại hai mã trên giấy tiếp nhận.",
        "No dossier matches this dossier code and lookup code. Please check both codes on your receipt.",
    )
}

/// For a citizen without the receipt: the status is only told at the counter.
pub fn lost_receipt_message() -> Message {
    Message::new(
        "Mất giấy tiếp nhận? Xin mời đến quầy tiếp nhận, mang theo thẻ căn cước, cán bộ sẽ tra cứu giúp.",
        "Lost your receipt? Please go to the counter with your ID card; an officer will look it up for you.",
    )
}

/// Too many failed tries (by this kiosk, or on this code): wait, or ask at the counter.
pub fn too_many_message(retry_after_s: u64) -> Message {
    let minutes = retry_after_s.div_ceil(60).max(1);
    Message::new(
        format!("Đã thử sai quá nhiều lần. Vui lòng chờ {minutes} phút rồi thử lại, hoặc hỏi cán bộ tại quầy."),
        format!("Too many tries. Please wait {minutes} minutes and try again, or ask at the counter."),
    )
}

/// The lookup flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFlow {
    /// The code field.
    pub code: TextEntry,
    /// The lookup code field.
    pub secret: TextEntry,
    /// The field keys go into.
    pub focus: LookupField,
    /// Where it is.
    pub step: LookupStep,
}

/// Longest text of the lookup code field: 8 characters, a dash, room for spaces.
const SECRET_FIELD_CHARS: usize = 12;
/// Longest text of the dossier code field.
const CODE_FIELD_CHARS: usize = 32;

impl Default for LookupFlow {
    fn default() -> Self {
        Self {
            code: TextEntry::new("", CODE_FIELD_CHARS),
            secret: TextEntry::new("", SECRET_FIELD_CHARS),
            focus: LookupField::Code,
            step: LookupStep::Entry { error: None },
        }
    }
}

impl LookupFlow {
    /// Applies an event.
    pub fn handle(&mut self, event: LookupEvent) -> Vec<LookupEffect> {
        let entry = matches!(self.step, LookupStep::Entry { .. });
        match event {
            LookupEvent::Key(k) if entry => {
                // Typing again clears the last error. Codes never go through Telex (lookup
                // codes hold W, S, F, R, X, J).
                self.step = LookupStep::Entry { error: None };
                let field = match self.focus {
                    LookupField::Code => &mut self.code,
                    LookupField::Secret => &mut self.secret,
                };
                field.press_code(&k);
                Vec::new()
            }
            LookupEvent::Focus(field) if entry => {
                self.focus = field;
                Vec::new()
            }
            LookupEvent::Submit if entry => {
                let code = self.code.text();
                let secret = self.secret.text();
                self.start(code.trim(), Some(secret.trim()))
            }
            LookupEvent::Scanned { code, secret }
                if !matches!(self.step, LookupStep::Looking { .. }) =>
            {
                self.code = TextEntry::new(&code, CODE_FIELD_CHARS);
                let typed = secret.map(|s| s.to_string()).unwrap_or_default();
                self.secret = TextEntry::new(&typed, SECRET_FIELD_CHARS);
                match secret {
                    Some(_) => self.start(&code, Some(&typed)),
                    // A receipt whose QR has no secret (another template): type it.
                    None => self.start(&code, None),
                }
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

    /// Checks the code, then the secret (`None`: none was given, as from a QR without one).
    fn start(&mut self, code: &str, secret: Option<&str>) -> Vec<LookupEffect> {
        let Ok(code) = DossierCode::parse(code) else {
            self.focus = LookupField::Code;
            self.step = LookupStep::Entry {
                error: Some(Message::new(
                    "Mã hồ sơ không đúng. Mã có dạng 000.00.00.H00-YYMMDD-0001, in trên giấy tiếp nhận.",
                    "That is not a dossier code. It looks like 000.00.00.H00-YYMMDD-0001 and is printed on your receipt.",
                )),
            };
            return Vec::new();
        };
        let secret = match secret.filter(|s| !s.is_empty()).map(LookupSecret::parse) {
            Some(Ok(secret)) => secret,
            other => {
                self.focus = LookupField::Secret;
                let error = match other {
                    Some(Err(_)) => Message::new(
                        "Mã tra cứu có 8 ký tự, dạng XXXX-XXXX, in dưới mã QR trên giấy tiếp nhận.",
                        "The lookup code has 8 characters, like XXXX-XXXX, printed under the QR on your receipt.",
                    ),
                    _ => Message::new(
                        "Hãy nhập cả mã tra cứu (8 ký tự, dạng XXXX-XXXX) in dưới mã QR trên giấy tiếp nhận.",
                        "Please also type the lookup code (8 characters, like XXXX-XXXX) printed under the QR on your receipt.",
                    ),
                };
                self.step = LookupStep::Entry { error: Some(error) };
                return Vec::new();
            }
        };
        let code = code.to_string();
        self.step = LookupStep::Looking { code: code.clone() };
        vec![LookupEffect::Lookup { code, secret }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: &str = "000.17.22.H56-261123-0001";

    fn secret() -> LookupSecret {
        LookupSecret::parse("7KQ2-M9XD").unwrap()
    }

    fn report(offline: bool) -> StatusReport {
        StatusReport {
            code: CODE.into(),
            status: DossierStatus::Submitted,
            appointment_date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default(),
            updated_at: None,
            offline,
        }
    }

    fn type_into(f: &mut LookupFlow, text: &str) {
        for c in text.chars() {
            f.handle(LookupEvent::Key(Key::Char(c)));
        }
    }

    #[test]
    fn typing_needs_the_code_and_the_lookup_code() {
        let mut f = LookupFlow::default();
        type_into(&mut f, "abc");
        assert_eq!(f.code.text(), "ABC");
        assert!(f.handle(LookupEvent::Submit).is_empty());
        assert!(matches!(f.step, LookupStep::Entry { error: Some(_) }));
        f.handle(LookupEvent::Key(Key::Clear));
        type_into(&mut f, CODE);
        // The code alone is not enough: the focus moves to the lookup code.
        assert!(f.handle(LookupEvent::Submit).is_empty());
        assert_eq!(f.focus, LookupField::Secret);
        let LookupStep::Entry { error: Some(e) } = &f.step else {
            panic!("{:?}", f.step)
        };
        assert!(e.vi.contains("mã tra cứu") && e.en.contains("lookup code"));
        // A malformed one is refused in words.
        type_into(&mut f, "7KQ2-M9X");
        assert!(f.handle(LookupEvent::Submit).is_empty());
        assert!(matches!(f.step, LookupStep::Entry { error: Some(_) }));
        // Typed in lower case without the dash, with O for 0.
        f.handle(LookupEvent::Key(Key::Clear));
        type_into(&mut f, "7kq2m9xd");
        assert_eq!(f.code.text(), CODE, "keys went to the lookup code field");
        assert_eq!(
            f.handle(LookupEvent::Submit),
            vec![LookupEffect::Lookup {
                code: CODE.into(),
                secret: secret()
            }]
        );
        f.handle(LookupEvent::Answer(Ok(report(true))));
        assert_eq!(f.step, LookupStep::Found(report(true)));
    }

    #[test]
    fn letters_are_typed_as_they_are_never_through_telex() {
        let mut f = LookupFlow::default();
        f.handle(LookupEvent::Focus(LookupField::Secret));
        // W, S, F, R, X, J, D, A, E are Telex keys; Crockford's alphabet holds them.
        type_into(&mut f, "hw7qhnpp");
        assert_eq!(f.secret.text(), "HW7QHNPP");
        f.handle(LookupEvent::Key(Key::Clear));
        type_into(&mut f, "ddaa-eesf");
        assert_eq!(f.secret.text(), "DDAA-EESF");
        f.handle(LookupEvent::Key(Key::Backspace));
        type_into(&mut f, "rxj");
        assert_eq!(f.secret.text(), "DDAA-EESRXJ");
    }

    #[test]
    fn focus_switches_between_the_fields() {
        let mut f = LookupFlow::default();
        f.handle(LookupEvent::Focus(LookupField::Secret));
        type_into(&mut f, "7KQ2");
        f.handle(LookupEvent::Focus(LookupField::Code));
        type_into(&mut f, "X");
        assert_eq!(
            (f.code.text(), f.secret.text()),
            ("X".into(), "7KQ2".into())
        );
    }

    #[test]
    fn a_scanned_receipt_with_its_secret_goes_straight_to_lookup() {
        let mut f = LookupFlow::default();
        let scan = LookupEvent::Scanned {
            code: CODE.into(),
            secret: Some(secret()),
        };
        assert_eq!(
            f.handle(scan.clone()),
            vec![LookupEffect::Lookup {
                code: CODE.into(),
                secret: secret()
            }]
        );
        // A second scan while looking is ignored.
        assert!(f.handle(scan).is_empty());
        f.handle(LookupEvent::Answer(Err(not_found_message())));
        assert_eq!(
            f.step,
            LookupStep::Entry {
                error: Some(not_found_message())
            }
        );
        f.handle(LookupEvent::Again);
        assert_eq!(f, LookupFlow::default());
    }

    #[test]
    fn a_scanned_receipt_without_a_secret_asks_for_it() {
        let mut f = LookupFlow::default();
        let effects = f.handle(LookupEvent::Scanned {
            code: CODE.into(),
            secret: None,
        });
        assert!(effects.is_empty());
        assert_eq!(f.code.text(), CODE);
        assert_eq!(f.focus, LookupField::Secret);
        type_into(&mut f, "7KQ2-M9XD");
        assert_eq!(f.handle(LookupEvent::Submit).len(), 1);
    }

    #[test]
    fn the_messages_name_the_counter_and_the_wait() {
        let lost = lost_receipt_message();
        assert!(lost.vi.contains("quầy") && lost.vi.contains("căn cước"));
        assert!(lost.en.contains("counter") && lost.en.contains("ID card"));
        let m = too_many_message(3599);
        assert!(
            m.vi.contains("60 phút") && m.en.contains("60 minutes"),
            "{m:?}"
        );
        assert!(too_many_message(0).en.contains("1 minutes"));
    }
}
