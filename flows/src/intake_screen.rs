//! The staff intake screen (behind the staff PIN): open a dossier by its receipt QR or code,
//! scan batches, fix the page order, answer unreadable separator sheets, sign and commit.
//!
//! Signing takes two touches: the first opens the officer's token (its PIN pad, unless the
//! key needs none) and the screen names the signer; the second signs, stores and queues. So
//! the officer always sees whose signature goes on the copies before they are stored.
//!
//! The intake state machine itself ([`crate::intake::IntakeFlow`]) lives with the services on
//! the worker thread, next to the store and the scanner; this is what the screen shows of it.

use crate::intake::QuestionAnswer;

use super::submission::Thumbnail;
use super::text_entry::{Key, TextEntry};

/// One page as the officer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakePageView {
    /// Page number in scan order.
    pub number: u32,
    /// "Trang 3 · Giấy tờ 1: Tờ khai …" (Vietnamese / English).
    pub label: String,
    /// A sheet that looks like a separator but whose QR could not be read, or a page dropped
    /// as blank (the label says why): the officer decides ("a page" restores a dropped one).
    pub question: bool,
    /// The page.
    pub thumbnail: Option<Thumbnail>,
}

/// What the services report of the intake.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntakeReportView {
    /// The open dossier.
    pub dossier: Option<String>,
    /// Its pages, in order.
    pub pages: Vec<IntakePageView>,
    /// Required documents still without pages ("vi / en" names).
    pub missing: Vec<String>,
    /// Document codes stored by the last commit.
    pub stored: Vec<String>,
    /// The last message (warning, refusal, jam), "vi / en".
    pub message: Option<String>,
    /// Who signs, once the token is open ("Người ký / Signer: …").
    pub signer: Option<String>,
    /// Whether opening the key needs the token's PIN.
    pub needs_pin: bool,
    /// Document codes stored but waiting for a signature (not sent).
    pub awaiting_signature: Vec<String>,
}

/// The signing token's PIN on its way to the services. Its `Debug` shows only its length, so
/// a logged action or screen never carries it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TokenPin(String);

impl TokenPin {
    /// The longest PIN accepted on the pad.
    pub const MAX_DIGITS: usize = 16;

    /// The PIN, for the token's login only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Digits typed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nothing typed yet.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for TokenPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenPin({} digits)", self.0.len())
    }
}

/// An officer's action on the intake screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeAction {
    /// Open a dossier by receipt QR payload or dossier code.
    Open(String),
    /// Scan a batch from the feeder or hot folder.
    ScanBatch,
    /// Move a page one place earlier.
    MoveUp(u32),
    /// Delete a page.
    Delete(u32),
    /// Scan a page again (fed crooked, creased) in its place.
    Rescan(u32),
    /// Answer a question page.
    Answer {
        /// The page.
        page: u32,
        /// The answer.
        answer: QuestionAnswer,
    },
    /// The sign button: opens the key first (asking the PIN on the pad when the token needs
    /// one), and once the signer is named, signs, stores and queues ([`IntakeAction::Commit`]).
    Sign,
    /// Open the signing key (with the PIN typed on the pad).
    OpenSigner(Option<TokenPin>),
    /// Store the documents, sign them with the open key and queue them for the gateway.
    Commit,
    /// Sign the documents stored earlier and still waiting (the token was missing, the PIN
    /// wrong), with the open key.
    SignWaiting,
}

/// The intake screen's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeScreen {
    /// The code field (before a dossier is open).
    pub code: TextEntry,
    /// What the services last reported.
    pub report: IntakeReportView,
    /// Waiting for the services.
    pub busy: bool,
    /// Pages received during the running batch, with their thumbnails.
    pub progress: Vec<Thumbnail>,
    /// The token's PIN pad is up, with what was typed.
    pub token_pin: Option<TokenPin>,
    /// Signing in progress: documents signed, of how many.
    pub signing: Option<(usize, usize)>,
}

impl Default for IntakeScreen {
    fn default() -> Self {
        Self {
            code: TextEntry::new("", 64),
            report: IntakeReportView::default(),
            busy: false,
            progress: Vec::new(),
            token_pin: None,
            signing: None,
        }
    }
}

impl IntakeScreen {
    /// A key into the code field (upper-case ASCII, no Telex).
    pub fn key(&mut self, key: Key) {
        self.code.press_code(&key);
    }

    /// An action: returns what the services must do (nothing while they are busy).
    pub fn act(&mut self, action: IntakeAction) -> Option<IntakeAction> {
        if self.busy {
            return None;
        }
        let signer_open = self.report.signer.is_some();
        let action = match action {
            IntakeAction::Open(code) if code.trim().is_empty() => {
                IntakeAction::Open(self.code.text().trim().to_owned())
            }
            IntakeAction::Sign | IntakeAction::SignWaiting if !signer_open => {
                if self.report.needs_pin {
                    self.token_pin = Some(TokenPin::default());
                    return None;
                }
                IntakeAction::OpenSigner(None)
            }
            IntakeAction::Sign => IntakeAction::Commit,
            other => other,
        };
        if matches!(action, IntakeAction::ScanBatch) {
            self.progress.clear();
        }
        self.busy = true;
        Some(action)
    }

    /// A key of the token's PIN pad: a digit, `backspace`, `cancel`, or `ok` (which returns
    /// the action opening the key).
    pub fn pin_key(&mut self, key: &str) -> Option<IntakeAction> {
        let pin = self.token_pin.as_mut()?;
        match key {
            "ok" if !pin.is_empty() => {
                let pin = self.token_pin.take()?;
                self.act(IntakeAction::OpenSigner(Some(pin)))
            }
            "cancel" => {
                self.token_pin = None;
                None
            }
            "backspace" => {
                pin.0.pop();
                None
            }
            d if d.len() == 1
                && d.chars().all(|c| c.is_ascii_digit())
                && pin.len() < TokenPin::MAX_DIGITS =>
            {
                pin.0.push_str(d);
                None
            }
            _ => None,
        }
    }

    /// The services' report.
    pub fn reported(&mut self, report: IntakeReportView) {
        self.busy = false;
        self.progress.clear();
        self.signing = None;
        self.report = report;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_touch_opens_the_token_with_its_pin_and_the_second_commits() {
        let mut screen = IntakeScreen::default();
        screen.report.needs_pin = true;
        assert_eq!(
            screen.act(IntakeAction::Sign),
            None,
            "the PIN pad comes first"
        );
        assert!(screen.token_pin.is_some());
        for d in ["1", "2", "3", "9", "backspace", "4"] {
            assert_eq!(screen.pin_key(d), None);
        }
        let Some(IntakeAction::OpenSigner(Some(pin))) = screen.pin_key("ok") else {
            panic!("ok opens the key");
        };
        assert_eq!(pin.expose(), "1234");
        assert_eq!(format!("{pin:?}"), "TokenPin(4 digits)", "never printed");
        assert!(screen.token_pin.is_none() && screen.busy);
        let mut report = IntakeReportView {
            signer: Some("Người ký / Signer: Nguyễn Văn An".to_owned()),
            needs_pin: true,
            ..Default::default()
        };
        screen.reported(report.clone());
        assert_eq!(screen.act(IntakeAction::Sign), Some(IntakeAction::Commit));
        report.signer = None;
        screen.reported(report);
        assert_eq!(screen.act(IntakeAction::SignWaiting), None);
        assert_eq!(screen.pin_key("cancel"), None);
        assert!(screen.token_pin.is_none() && !screen.busy);
    }

    #[test]
    fn a_key_without_pin_opens_at_once() {
        let mut screen = IntakeScreen::default();
        assert_eq!(
            screen.act(IntakeAction::Sign),
            Some(IntakeAction::OpenSigner(None))
        );
    }
}
