//! The staff intake screen (behind the staff PIN): open a dossier by its receipt QR or code,
//! scan batches, fix the page order, answer unreadable separator sheets, commit.
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
    /// Store the documents and queue them for the gateway.
    Commit,
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
}

impl Default for IntakeScreen {
    fn default() -> Self {
        Self {
            code: TextEntry::new("", 64),
            report: IntakeReportView::default(),
            busy: false,
            progress: Vec::new(),
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
        let action = match action {
            IntakeAction::Open(code) if code.trim().is_empty() => {
                IntakeAction::Open(self.code.text().trim().to_owned())
            }
            other => other,
        };
        if matches!(action, IntakeAction::ScanBatch) {
            self.progress.clear();
        }
        self.busy = true;
        Some(action)
    }

    /// The services' report.
    pub fn reported(&mut self, report: IntakeReportView) {
        self.busy = false;
        self.progress.clear();
        self.report = report;
    }
}
