//! The kiosk's screen session: which flow a citizen is in, the language, and the idle timeout
//! that sends everything home and forgets the citizen.

use std::sync::Arc;

use motcua_domain::catalog::Catalog;
use motcua_domain::rating::RatingScale;

use super::intake_screen::{IntakeAction, IntakeReportView, IntakeScreen};
use super::lookup::{LookupEffect, LookupEvent, LookupFlow};
use super::rating::{RatingEffect, RatingEvent, RatingFlow};
use super::staff::{PinPolicy, Role, StaffEffect, StaffEvent, StaffFlow};
use super::submission::{Step, SubmissionEffect, SubmissionEvent, SubmissionFlow};
use super::ticket::{ServiceArea, TicketEffect, TicketEvent, TicketFlow, TicketStep};
use super::{Lang, Message};

mod scan;

/// Idle timeout settings (`[ui]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdlePolicy {
    /// Inactivity after which the session is wiped, ms (default 60 s).
    pub timeout_ms: u64,
    /// How long before the wipe the warning shows, ms (default 10 s).
    pub warning_ms: u64,
}

impl Default for IdlePolicy {
    fn default() -> Self {
        Self {
            timeout_ms: 60_000,
            warning_ms: 10_000,
        }
    }
}

/// What the kiosk offers (from the config and the catalog).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// The procedures.
    pub catalog: Arc<Catalog>,
    /// Queue areas.
    pub areas: Vec<ServiceArea>,
    /// Rating scale.
    pub rating_scale: RatingScale,
    /// Idle timeout.
    pub idle: IdlePolicy,
    /// PINs.
    pub pins: PinPolicy,
}

/// The screen the session is on.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// The home screen with the four choices.
    Home,
    /// Submitting a dossier.
    Submission(Box<SubmissionFlow>),
    /// Taking a queue ticket.
    Ticket(TicketFlow),
    /// Looking up a dossier.
    Lookup(LookupFlow),
    /// Rating a transaction.
    Rating(RatingFlow),
    /// Staff or technician screens.
    Staff(StaffFlow),
    /// Intake digitization (reached from the unlocked staff panel).
    Intake(IntakeScreen),
}

/// What a citizen (or officer) did.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Home screen choice: `submit`, `ticket`, `lookup`, `rate`, `staff`, `technician`.
    Open(String),
    /// Back to the home screen (the Home button): the session is wiped.
    Home,
    /// Switch the language.
    Language(Lang),
    /// "I am still here" on the idle warning.
    StillHere,
    /// A code reader delivered a payload (ID card, receipt, ticket).
    CodeScanned(String),
    /// Rate the ticket or dossier of the flow just finished.
    RateThis,
    /// The "Nghe hướng dẫn / Listen" key: say what this screen asks (see [`super::voice`]).
    Listen,
    /// Submission flow event.
    Submission(SubmissionEvent),
    /// Ticket flow event.
    Ticket(TicketEvent),
    /// Lookup flow event.
    Lookup(LookupEvent),
    /// Rating flow event.
    Rating(RatingEvent),
    /// Staff screens event.
    Staff(StaffEvent),
    /// An officer's action on the intake screen.
    Intake(IntakeAction),
    /// A key into the intake screen's code field.
    IntakeKey(super::text_entry::Key),
    /// A key of the intake screen's token PIN pad (a digit, `backspace`, `cancel`, `ok`).
    IntakePinKey(String),
    /// A page of the running intake batch arrived (its thumbnail).
    IntakePage(Option<super::submission::Thumbnail>),
    /// The services signed `done` of the `total` documents waiting.
    IntakeSigning {
        /// Signed so far.
        done: usize,
        /// To sign.
        total: usize,
    },
    /// The services' report on the intake.
    IntakeReport(IntakeReportView),
}

/// What the services must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// For the submission flow.
    Submission(SubmissionEffect),
    /// For the ticket flow.
    Ticket(TicketEffect),
    /// For the lookup flow.
    Lookup(LookupEffect),
    /// For the rating flow.
    Rating(RatingEffect),
    /// For the staff screens.
    Staff(StaffEffect),
    /// For the intake (carried out on the services' intake state).
    Intake(IntakeAction),
    /// Stop any scan and delete every file of the session (scanned pages).
    WipeSessionFiles,
    /// Say `text` aloud in `lang`, cutting off whatever is being said; done in the background,
    /// and nothing when audio is off or the kiosk has no sound.
    Speak {
        /// The words, written for the ear (see [`super::voice`]).
        text: String,
        /// Its language.
        lang: Lang,
    },
}

/// The session state.
#[derive(Debug, Clone)]
pub struct Session {
    settings: SessionSettings,
    /// The language.
    pub lang: Lang,
    /// The screen.
    pub screen: Screen,
    /// A notice for the home screen (e.g. an unreadable code), cleared on the next touch.
    pub notice: Option<Message>,
    last_activity_ms: u64,
}

impl Session {
    /// A session on the home screen at time `now_ms`.
    pub fn new(settings: SessionSettings, now_ms: u64) -> Self {
        Self {
            settings,
            lang: Lang::Vi,
            screen: Screen::Home,
            notice: None,
            last_activity_ms: now_ms,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Replaces the catalog (a newer one arrived); used from the next flow on.
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        self.settings.catalog = catalog;
    }

    /// Seconds left before the wipe, when the warning is due (`None` otherwise).
    pub fn idle_warning(&self, now_ms: u64) -> Option<u64> {
        if !self.holds_anything() {
            return None;
        }
        let idle = now_ms.saturating_sub(self.last_activity_ms);
        let IdlePolicy {
            timeout_ms,
            warning_ms,
        } = self.settings.idle;
        (idle + warning_ms >= timeout_ms && idle < timeout_ms)
            .then(|| (timeout_ms - idle).div_ceil(1000))
    }

    /// Whether there is anything to forget (a flow open, English chosen, a notice).
    pub fn holds_anything(&self) -> bool {
        self.screen != Screen::Home || self.lang != Lang::Vi || self.notice.is_some()
    }

    /// The passage of time: wipes the session after the idle timeout. Never counts as activity.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Effect> {
        let idle = now_ms.saturating_sub(self.last_activity_ms);
        // A running scan or a receipt being printed is activity of the kiosk for the citizen.
        if self.busy() {
            self.last_activity_ms = now_ms;
            return Vec::new();
        }
        if idle >= self.settings.idle.timeout_ms && self.holds_anything() {
            tracing::info!("idle timeout: session wiped");
            return self.wipe();
        }
        Vec::new()
    }

    fn busy(&self) -> bool {
        match &self.screen {
            Screen::Submission(f) => f.scanning.is_some() || f.step == Step::Submitting,
            Screen::Intake(i) => i.busy,
            // A PIN being checked: the verdict must find its screen.
            Screen::Staff(f) => f.checking(),
            _ => false,
        }
    }

    /// What the "Nghe hướng dẫn / Listen" key says on the current screen (see
    /// [`super::voice`]), or `None` where there is no such key: staff, technician and intake
    /// screens.
    pub fn instruction(&self) -> Option<super::Message> {
        use super::voice;
        Some(match &self.screen {
            Screen::Home => voice::home(self.notice.as_ref()),
            Screen::Submission(f) => voice::submission(f),
            Screen::Ticket(f) => voice::ticket(f),
            Screen::Lookup(f) => voice::lookup(f),
            Screen::Rating(f) => voice::rating(f),
            Screen::Staff(_) | Screen::Intake(_) => return None,
        })
    }

    /// Forgets the citizen: home screen, Vietnamese, no flow state, session files deleted.
    pub fn wipe(&mut self) -> Vec<Effect> {
        self.screen = Screen::Home;
        self.lang = Lang::Vi;
        self.notice = None;
        vec![Effect::WipeSessionFiles]
    }

    /// Applies a touch or a device event at `now_ms`.
    pub fn handle(&mut self, event: Event, now_ms: u64) -> Vec<Effect> {
        let from_person = !matches!(
            event,
            Event::Submission(
                SubmissionEvent::Page { .. }
                    | SubmissionEvent::ScanEnded(_)
                    | SubmissionEvent::Accepted { .. }
                    | SubmissionEvent::Refused(_)
                    | SubmissionEvent::Printed(_)
            ) | Event::Ticket(
                TicketEvent::Issued(_) | TicketEvent::IssueFailed(_) | TicketEvent::Printed(_)
            ) | Event::Lookup(LookupEvent::Answer(_))
                | Event::Rating(RatingEvent::Saved(_))
                | Event::Staff(
                    StaffEvent::Status(_)
                        | StaffEvent::PrinterTested(_)
                        | StaffEvent::PinChecked { .. }
                )
                | Event::IntakePage(_)
                | Event::IntakeSigning { .. }
                | Event::IntakeReport(_)
        );
        if from_person {
            self.last_activity_ms = now_ms;
            // "Listen" reads the notice out, so it must not clear it first.
            if !matches!(event, Event::StillHere | Event::Listen) {
                self.notice = None;
            }
        }
        match event {
            Event::Open(what) => self.open(&what),
            Event::Home => self.wipe(),
            Event::Language(lang) => {
                self.lang = lang;
                Vec::new()
            }
            Event::StillHere => Vec::new(),
            Event::Listen => self
                .instruction()
                .map(|m| Effect::Speak {
                    text: m.get(self.lang).to_owned(),
                    lang: self.lang,
                })
                .into_iter()
                .collect(),
            Event::CodeScanned(payload) => self.code_scanned(&payload),
            Event::RateThis => {
                let transaction = match &self.screen {
                    Screen::Ticket(t) => t.ticket().map(|t| t.ticket_id.clone()),
                    Screen::Submission(s) => s.accepted.as_ref().map(|a| a.code.clone()),
                    _ => None,
                };
                if let Some(t) = transaction {
                    self.screen =
                        Screen::Rating(RatingFlow::for_transaction(self.settings.rating_scale, &t));
                }
                Vec::new()
            }
            Event::Submission(e) => match &mut self.screen {
                Screen::Submission(f) => wrap(f.handle(e), Effect::Submission),
                // Pages of a scan that outlived its session: delete them.
                _ => match e {
                    SubmissionEvent::Page { page, .. } => {
                        vec![Effect::Submission(SubmissionEffect::DeletePages(vec![
                            page.path,
                        ]))]
                    }
                    _ => Vec::new(),
                },
            },
            Event::Ticket(e) => match &mut self.screen {
                Screen::Ticket(f) => {
                    let printed = matches!(e, TicketEvent::Printed(_));
                    let mut effects = wrap(f.handle(e), Effect::Ticket);
                    // The number is said as the ticket comes out of the printer (or fails to).
                    if let (true, TicketStep::Done { ticket, printed }) = (printed, &f.step) {
                        let words =
                            super::voice::ticket_announcement(ticket.number, printed.as_ref());
                        effects.push(Effect::Speak {
                            text: words.get(self.lang).to_owned(),
                            lang: self.lang,
                        });
                    }
                    effects
                }
                _ => Vec::new(),
            },
            Event::Lookup(e) => match &mut self.screen {
                Screen::Lookup(f) => wrap(f.handle(e), Effect::Lookup),
                _ => Vec::new(),
            },
            Event::Rating(e) => match &mut self.screen {
                Screen::Rating(f) => wrap(f.handle(e), Effect::Rating),
                _ => Vec::new(),
            },
            Event::Intake(action) => match &mut self.screen {
                Screen::Intake(i) => i.act(action).map(Effect::Intake).into_iter().collect(),
                _ => Vec::new(),
            },
            Event::IntakeKey(k) => {
                if let Screen::Intake(i) = &mut self.screen {
                    i.key(k);
                }
                Vec::new()
            }
            Event::IntakePinKey(k) => match &mut self.screen {
                Screen::Intake(i) => i.pin_key(&k).map(Effect::Intake).into_iter().collect(),
                _ => Vec::new(),
            },
            Event::IntakePage(thumbnail) => {
                if let Screen::Intake(i) = &mut self.screen {
                    i.progress.extend(thumbnail);
                }
                Vec::new()
            }
            Event::IntakeSigning { done, total } => {
                if let Screen::Intake(i) = &mut self.screen {
                    i.signing = Some((done, total));
                }
                Vec::new()
            }
            Event::IntakeReport(report) => {
                if let Screen::Intake(i) = &mut self.screen {
                    i.reported(report);
                }
                Vec::new()
            }
            Event::Staff(e) => match &mut self.screen {
                Screen::Staff(f) => wrap(f.handle(e), Effect::Staff),
                _ => Vec::new(),
            },
        }
    }

    fn open(&mut self, what: &str) -> Vec<Effect> {
        if what == "intake" {
            // Only from an unlocked staff panel.
            let unlocked = matches!(
                &self.screen,
                Screen::Staff(f) if matches!(f.step, super::staff::StaffStep::Panel { .. })
            );
            if unlocked {
                self.screen = Screen::Intake(IntakeScreen::default());
            }
            return Vec::new();
        }
        let mut effects = Vec::new();
        if self.screen != Screen::Home {
            // Leaving a flow for another forgets the first.
            effects.push(Effect::WipeSessionFiles);
        }
        self.screen = match what {
            "submit" => {
                Screen::Submission(Box::new(SubmissionFlow::new(self.settings.catalog.clone())))
            }
            "ticket" => Screen::Ticket(TicketFlow::new(self.settings.areas.clone())),
            "lookup" => Screen::Lookup(LookupFlow::default()),
            "rate" => Screen::Rating(RatingFlow::new(self.settings.rating_scale)),
            "staff" => Screen::Staff(StaffFlow::new(Role::Staff)),
            "technician" => Screen::Staff(StaffFlow::new(Role::Technician)),
            _ => return effects,
        };
        effects
    }
}

fn wrap<T>(effects: Vec<T>, f: impl Fn(T) -> Effect) -> Vec<Effect> {
    effects.into_iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    use super::super::text_entry::Key;
    use super::*;

    const CARD: &str = motcua_domain::cccd::SAMPLE_PAYLOAD;

    fn session() -> Session {
        Session::new(
            SessionSettings {
                catalog: Arc::new(motcua_domain::catalog::seed()),
                areas: vec![ServiceArea {
                    code: "TP".into(),
                    name_vi: "Tư pháp".into(),
                    name_en: "Justice".into(),
                }],
                rating_scale: RatingScale::Three,
                idle: IdlePolicy::default(),
                pins: PinPolicy::default(),
            },
            0,
        )
    }

    #[test]
    fn idle_timeout_warns_then_wipes_everything() {
        let mut s = session();
        s.handle(Event::Language(Lang::En), 1_000);
        s.handle(Event::Open("submit".into()), 2_000);
        s.handle(
            Event::Submission(SubmissionEvent::SearchKey(Key::Char('k'))),
            3_000,
        );
        let Screen::Submission(f) = &s.screen else {
            panic!("not in submission")
        };
        let code = f.results()[0].code.clone();
        s.handle(Event::Submission(SubmissionEvent::Select(code)), 4_000);
        s.handle(Event::Submission(SubmissionEvent::Begin), 5_000);
        s.handle(Event::CodeScanned(CARD.into()), 6_000);
        let Screen::Submission(f) = &s.screen else {
            panic!("not in submission")
        };
        assert_eq!(f.step, Step::Form);
        assert!(format!("{:?}", s.screen).contains("Phượng"));

        assert_eq!(s.idle_warning(55_000), None);
        assert_eq!(s.idle_warning(56_000), Some(10));
        assert_eq!(s.idle_warning(65_500), Some(1));
        assert!(s.tick(65_900).is_empty());
        // "Still here" restarts the clock.
        s.handle(Event::StillHere, 60_000);
        assert!(s.tick(119_000).is_empty());
        assert_eq!(s.tick(120_000), vec![Effect::WipeSessionFiles]);
        assert_eq!(s.screen, Screen::Home);
        assert_eq!(s.lang, Lang::Vi);
        assert!(!format!("{s:?}").contains("Phượng"));
        assert!(!format!("{s:?}").contains("079190001234"));
        assert_eq!(s.idle_warning(200_000), None);
    }

    #[test]
    fn a_running_scan_is_not_idleness() {
        let mut s = session();
        s.handle(Event::Open("submit".into()), 0);
        if let Screen::Submission(f) = &mut s.screen {
            f.scanning = Some(super::super::submission::ScanProgress {
                attachment: 0,
                pages: 0,
            });
        }
        assert!(s.tick(100_000).is_empty());
        assert!(matches!(s.screen, Screen::Submission(_)));
    }

    #[test]
    fn receipt_at_home_opens_the_lookup() {
        let mut s = session();
        let effects = s.handle(
            Event::CodeScanned("000.17.22.H56-261123-0001|1.001612|…|7KQ2-M9XD".into()),
            0,
        );
        assert_eq!(
            effects,
            vec![Effect::Lookup(LookupEffect::Lookup {
                code: "000.17.22.H56-261123-0001".into(),
                secret: motcua_domain::lookup_secret::LookupSecret::parse("7KQ2-M9XD")
                    .expect("secret"),
            })]
        );
        // A receipt whose QR has no secret opens the lookup asking for it.
        let mut s = session();
        let effects = s.handle(
            Event::CodeScanned("000.17.22.H56-261123-0001|1.001612|…".into()),
            0,
        );
        assert!(effects.is_empty());
        assert!(
            matches!(&s.screen, Screen::Lookup(f) if f.focus == super::super::lookup::LookupField::Secret)
        );
        let mut s = session();
        s.handle(Event::CodeScanned(CARD.into()), 0);
        assert!(s.notice.as_ref().is_some_and(|m| m.en.contains("ID card")));
        assert!(s.holds_anything());
    }

    #[test]
    fn bad_card_is_explained_in_the_form() {
        let mut s = session();
        s.handle(Event::Open("submit".into()), 0);
        let Screen::Submission(f) = &mut s.screen else {
            panic!()
        };
        let code = f.results()[0].code.clone();
        f.handle(SubmissionEvent::Select(code));
        f.handle(SubmissionEvent::Begin);
        s.handle(Event::CodeScanned("079190001234|x|y".into()), 1);
        let Screen::Submission(f) = &s.screen else {
            panic!()
        };
        assert!(f
            .error
            .as_ref()
            .is_some_and(|m| m.vi.contains("thẻ căn cước")));
        assert_eq!(f.step, Step::Identify);
    }

    #[test]
    fn intake_opens_only_from_the_unlocked_staff_panel() {
        let mut s = session();
        s.handle(Event::Open("intake".into()), 0);
        assert_eq!(s.screen, Screen::Home, "not from the home screen");
        s.handle(Event::Open("staff".into()), 1);
        s.handle(Event::Open("intake".into()), 2);
        assert!(matches!(s.screen, Screen::Staff(_)), "not before the PIN");
        let mut sent = Vec::new();
        for k in ["2", "4", "6", "8", "ok"] {
            sent = s.handle(Event::Staff(StaffEvent::PinKey(k.into())), 3);
        }
        let [Effect::Staff(StaffEffect::CheckPin { check, .. })] = &sent[..] else {
            panic!("{sent:?}");
        };
        s.handle(Event::Open("intake".into()), 3);
        assert!(
            matches!(s.screen, Screen::Staff(_)),
            "not while the PIN is checked"
        );
        s.handle(
            Event::Staff(StaffEvent::PinChecked {
                check: *check,
                verdict: Ok(()),
            }),
            3,
        );
        s.handle(Event::Open("intake".into()), 4);
        assert!(matches!(s.screen, Screen::Intake(_)));
        // A receipt scanned on the intake screen opens that dossier; a second touch while the
        // services work does nothing.
        let effects = s.handle(Event::CodeScanned("000.17.22.H56-261123-0001|x".into()), 5);
        assert_eq!(effects.len(), 1);
        assert!(s
            .handle(Event::Intake(IntakeAction::ScanBatch), 6)
            .is_empty());
        s.handle(Event::IntakeReport(IntakeReportView::default()), 7);
        assert_eq!(s.handle(Event::Intake(IntakeAction::ScanBatch), 8).len(), 1);
        // Staff walk away too: the intake screen is wiped like any other.
        s.handle(Event::IntakeReport(IntakeReportView::default()), 9);
        assert_eq!(s.tick(100_000), vec![Effect::WipeSessionFiles]);
        assert_eq!(s.screen, Screen::Home);
    }

    #[test]
    fn rate_the_ticket_just_taken() {
        let mut s = session();
        s.handle(Event::Open("ticket".into()), 0);
        s.handle(Event::Ticket(TicketEvent::Choose("TP".into())), 1);
        s.handle(
            Event::Ticket(TicketEvent::Issued(super::super::ticket::IssuedTicket {
                ticket_id: "TP-20261123-1@K".into(),
                number: 1,
                area: s.settings.areas[0].clone(),
                ahead: 0,
                wait_minutes: 0,
                wait_text: None,
                offline: false,
            })),
            2,
        );
        s.handle(Event::RateThis, 3);
        let effects = s.handle(Event::Rating(RatingEvent::Choose(1)), 4);
        assert_eq!(
            effects,
            vec![Effect::Rating(RatingEffect::Rate {
                transaction: "TP-20261123-1@K".into(),
                level: 1
            })]
        );
    }
}
