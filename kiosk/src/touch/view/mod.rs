//! Shows the session on the window: every property of the screen is set from the flow state, so
//! what the state forgets, the screen forgets.
//!
//! The handlers mirror the screen files of `ui/ui`: [`citizen`] (home, ticket, lookup, rating),
//! [`submission`] (search to receipt) and [`staff`] (PIN, device panel, intake; the technician
//! shares the staff's PIN and panel screens). They share the leaf module `props` and never
//! import this one, so there is no cycle.

mod citizen;
mod props;
mod staff;
mod submission;

use motcua_flows::session::{Screen, Session};
use motcua_flows::Lang;
use motcua_ui::{KioskWindow, L};
use slint::{ComponentHandle, SharedString};

pub use citizen::Titles;
use props::model;

/// Sets the window from the session. `idle_seconds` > 0 shows the idle warning.
///
/// In steps: the language, a clean slate, the idle warning, then the handler of the session's
/// screen, which sets its screen name, header title and data.
pub fn show(w: &KioskWindow, s: &Session, idle_seconds: u64, titles: &Titles) {
    let lang = s.lang;
    w.global::<L>().set_en(lang == Lang::En);
    clear(w);
    w.set_idle_seconds(i32::try_from(idle_seconds).unwrap_or(0));
    match &s.screen {
        Screen::Home => citizen::home(w, &s.notice, titles, lang),
        Screen::Submission(f) => submission::show(w, f, lang),
        Screen::Ticket(f) => citizen::ticket(w, f, lang),
        Screen::Lookup(f) => citizen::lookup(w, f, lang),
        Screen::Rating(f) => citizen::rating(w, f, lang),
        Screen::Staff(f) => staff::staff(w, f, lang),
        Screen::Intake(i) => staff::intake(w, i, lang),
    }
}

/// Clears every property that may hold a citizen's data, so that a handler sets only its own
/// screen's and nothing of the previous screen survives (the idle wipe relies on it).
fn clear(w: &KioskWindow) {
    w.set_notice(SharedString::new());
    w.set_error(SharedString::new());
    w.set_busy(false);
    w.set_query(SharedString::new());
    w.set_procedures(model(Vec::new()));
    w.set_detail_name(SharedString::new());
    w.set_detail_facts(model(Vec::new()));
    w.set_detail_documents(model(Vec::new()));
    w.set_fields(model(Vec::new()));
    w.set_numeric(false);
    w.set_attachments(model(Vec::new()));
    w.set_scanning(false);
    w.set_scanning_text(SharedString::new());
    w.set_lines(model(Vec::new()));
    w.set_big(SharedString::new());
    w.set_heading(SharedString::new());
    w.set_hint(SharedString::new());
    w.set_print_state(SharedString::new());
    w.set_print_error(SharedString::new());
    w.set_can_rate(false);
    w.set_areas(model(Vec::new()));
    w.set_code(SharedString::new());
    w.set_secret(SharedString::new());
    w.set_secret_focused(false);
    w.set_aside(SharedString::new());
    w.set_levels(model(Vec::new()));
    w.set_status_lines(model(Vec::new()));
    w.set_pin_digits(0);
    w.set_test_result(SharedString::new());
    w.set_intake_dossier(SharedString::new());
    w.set_intake_pages(model(Vec::new()));
    w.set_intake_progress(model(Vec::new()));
    w.set_intake_missing(SharedString::new());
    w.set_intake_stored(SharedString::new());
}
