//! Turns what the screens send (`action(name, argument)`, `key(name)`) into session events.

use motcua_flows::intake::QuestionAnswer;
use motcua_flows::intake_screen::IntakeAction;
use motcua_flows::lookup::{LookupEvent, LookupField};
use motcua_flows::rating::RatingEvent;
use motcua_flows::session::{Event, Screen, Session};
use motcua_flows::staff::StaffEvent;
use motcua_flows::submission::{Step, SubmissionEvent as S};
use motcua_flows::text_entry::Key;
use motcua_flows::ticket::TicketEvent;
use motcua_flows::Lang;

/// The event for a screen action, given where the session is; `None` for anything unknown.
pub fn action_event(session: &Session, action: &str, arg: &str) -> Option<Event> {
    let index = || arg.parse::<usize>().ok();
    Some(match action {
        "home" => Event::Home,
        "language" => Event::Language(if arg == "en" { Lang::En } else { Lang::Vi }),
        "still-here" => Event::StillHere,
        "open" => Event::Open(arg.to_owned()),
        "rate-this" => Event::RateThis,
        "listen" => Event::Listen,
        "select" => Event::Submission(S::Select(arg.to_owned())),
        "begin" => Event::Submission(S::Begin),
        "type-instead" => Event::Submission(S::TypeInstead),
        "focus" => Event::Submission(S::Focus(index()?)),
        "form-done" => Event::Submission(S::FormDone),
        "scan" => Event::Submission(S::Scan(index()?)),
        "rescan" => Event::Submission(S::Rescan(index()?)),
        "remove-page" => {
            let (a, p) = arg.split_once(':')?;
            Event::Submission(S::RemovePage {
                attachment: a.parse().ok()?,
                page: p.parse().ok()?,
            })
        }
        "consent" => Event::Submission(S::Consent(arg == "yes")),
        "to-review" => Event::Submission(S::ToReview),
        "submit" => Event::Submission(S::Submit),
        "back" => Event::Submission(S::Back),
        "reprint" => match &session.screen {
            Screen::Ticket(_) => Event::Ticket(TicketEvent::Reprint),
            _ => Event::Submission(S::Reprint),
        },
        "area" => Event::Ticket(TicketEvent::Choose(arg.to_owned())),
        "code-done" => match &session.screen {
            Screen::Lookup(_) => Event::Lookup(LookupEvent::Submit),
            Screen::Rating(_) => Event::Rating(RatingEvent::Submit),
            _ => return None,
        },
        "lookup-focus" => Event::Lookup(LookupEvent::Focus(if arg == "secret" {
            LookupField::Secret
        } else {
            LookupField::Code
        })),
        "level" => Event::Rating(RatingEvent::Choose(arg.parse().ok()?)),
        "pin" => match &session.screen {
            Screen::Intake(_) => Event::IntakePinKey(arg.to_owned()),
            _ => Event::Staff(StaffEvent::PinKey(arg.to_owned())),
        },
        "refresh" => Event::Staff(StaffEvent::Refresh),
        "printer-test" => Event::Staff(StaffEvent::PrinterTest),
        "intake-open" => Event::Intake(IntakeAction::Open(String::new())),
        "intake-scan" => Event::Intake(IntakeAction::ScanBatch),
        "intake-sign" => Event::Intake(IntakeAction::Sign),
        "intake-sign-waiting" => Event::Intake(IntakeAction::SignWaiting),
        "intake-up" => Event::Intake(IntakeAction::MoveUp(arg.parse().ok()?)),
        "intake-delete" => Event::Intake(IntakeAction::Delete(arg.parse().ok()?)),
        "intake-rescan" => Event::Intake(IntakeAction::Rescan(arg.parse().ok()?)),
        "intake-page" => Event::Intake(IntakeAction::Answer {
            page: arg.parse().ok()?,
            answer: QuestionAnswer::DocumentPage,
        }),
        _ => return None,
    })
}

/// The event for an on-screen keyboard key, given which field is being typed into.
pub fn key_event(session: &Session, name: &str) -> Option<Event> {
    let key = Key::parse(name)?;
    Some(match &session.screen {
        Screen::Submission(f) => match f.step {
            Step::Search => Event::Submission(S::SearchKey(key)),
            Step::Form => Event::Submission(S::Key(key)),
            _ => return None,
        },
        Screen::Lookup(_) => Event::Lookup(LookupEvent::Key(key)),
        Screen::Intake(_) => Event::IntakeKey(key),
        Screen::Rating(_) => Event::Rating(RatingEvent::Key(key)),
        _ => return None,
    })
}
