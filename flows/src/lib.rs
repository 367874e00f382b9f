//! The citizen and staff flows of the touch screen, as state machines: events in, effects out.
//!
//! Nothing here touches a screen, a device, the store, the clock or the network (the crate
//! depends on the domain alone: no tokio, SQLite, Slint or HTTP). The screen turns touches
//! into [`session::Event`]s; [`session::Session::handle`] updates the state and returns
//! [`session::Effect`]s (scan, submit, print, look up, rate); the kiosk's services carry them out
//! and report back with more events. So every flow is tested without hardware, and the screen
//! only shows what the state holds: when the state forgets a citizen, so does the screen.

pub mod intake;
pub mod intake_screen;
pub mod lookup;
pub mod rating;
pub mod session;
pub mod staff;
pub mod submission;
pub mod text_entry;
pub mod ticket;
pub mod voice;

/// The language of the screens. Vietnamese first; English for foreigners and the diaspora.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Tiếng Việt (default, and after every session).
    #[default]
    Vi,
    /// English.
    En,
}

/// A sentence shown to a citizen or technician, in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Vietnamese.
    pub vi: String,
    /// English.
    pub en: String,
}

impl Message {
    /// A message from its two versions.
    pub fn new(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            vi: vi.into(),
            en: en.into(),
        }
    }

    /// The version for `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }
}
