//! Self-submission of a dossier: find the procedure, identify (CCCD QR prefill), fill the form,
//! attach scanned documents, review, submit, get the receipt.

mod applicant;
mod reuse;
mod steps;

use std::sync::Arc;

use chrono::NaiveDate;
use motcua_domain::catalog::{Catalog, Procedure};
use motcua_domain::cccd::CccdCard;
use motcua_domain::lookup_secret::LookupSecret;
use motcua_domain::wire::Applicant;

use crate::text_entry::{Key, TextEntry};
use crate::Message;
use applicant::empty_fields;
pub use reuse::{consent_explanation, consent_question, held_label, ReuseState};

/// A form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKey {
    /// Họ và tên (required).
    FullName,
    /// Số CCCD (12 digits, optional).
    IdNumber,
    /// Ngày sinh dd/mm/yyyy (optional).
    BirthDate,
    /// Địa chỉ thường trú.
    Address,
    /// Số điện thoại (optional).
    Phone,
}

impl FieldKey {
    /// All fields, in screen order.
    pub const ALL: [FieldKey; 5] = [
        FieldKey::FullName,
        FieldKey::IdNumber,
        FieldKey::BirthDate,
        FieldKey::Address,
        FieldKey::Phone,
    ];

    /// The field's label.
    pub fn label(self) -> Message {
        match self {
            FieldKey::FullName => Message::new("Họ và tên", "Full name"),
            FieldKey::IdNumber => Message::new("Số định danh (CCCD)", "Personal ID number"),
            FieldKey::BirthDate => {
                Message::new("Ngày sinh (ngày/tháng/năm)", "Date of birth (dd/mm/yyyy)")
            }
            FieldKey::Address => Message::new("Nơi thường trú", "Permanent address"),
            FieldKey::Phone => Message::new("Số điện thoại", "Phone number"),
        }
    }

    /// Whether the field takes digits (the keyboard opens on digits).
    pub fn numeric(self) -> bool {
        matches!(
            self,
            FieldKey::IdNumber | FieldKey::BirthDate | FieldKey::Phone
        )
    }

    pub(crate) fn max_chars(self) -> usize {
        match self {
            FieldKey::FullName => 100,
            FieldKey::IdNumber => 12,
            FieldKey::BirthDate => 10,
            FieldKey::Address => 200,
            FieldKey::Phone => 15,
        }
    }
}

/// One field of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// Which field.
    pub key: FieldKey,
    /// Its text.
    pub entry: TextEntry,
    /// Filled from the ID card (the screen marks it so the citizen checks it).
    pub from_card: bool,
}

/// A scanned page of an attachment, kept in the session folder until submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedPage {
    /// Unique within the session.
    pub id: u64,
    /// The page file (removed when the session is wiped).
    pub path: std::path::PathBuf,
    /// A small RGB picture for the screen.
    pub thumbnail: Thumbnail,
}

/// Pixels of a page thumbnail (RGB8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// RGB bytes, row by row.
    pub rgb: Arc<Vec<u8>>,
}

/// One document the procedure asks for, with the pages scanned for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Name (Vietnamese).
    pub name_vi: String,
    /// Name (English).
    pub name_en: String,
    /// Whether the dossier cannot be accepted without it.
    pub mandatory: bool,
    /// Pages scanned.
    pub pages: Vec<ScannedPage>,
    /// Its kind across procedures (catalog `kind_code`), if it may be reused.
    pub kind_code: Option<String>,
    /// The province already holds it digitized for the citizen of the card read in this
    /// session, who agreed to the lookup: "Đã có bản số hoá — không cần nộp lại / Already
    /// held — no need to submit"; it is not asked for (pages scanned anyway are sent instead).
    pub held: bool,
}

/// The step of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Searching the procedure.
    Search,
    /// The procedure's detail: documents, time, fee.
    Detail,
    /// "Scan your ID card" (or type instead).
    Identify,
    /// The form.
    Form,
    /// "Tra cứu giấy tờ đã được số hoá? / Look up documents the province already holds?":
    /// only for an ID number read from the card in this session, on a kiosk with a link, for a
    /// procedure with a reusable document (see `reuse`).
    Consent,
    /// Scanning documents.
    Attach,
    /// Checking everything before submitting.
    Review,
    /// Stored and printing the receipt.
    Submitting,
    /// Accepted: the receipt.
    Done,
}

/// A scan in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanProgress {
    /// The attachment being scanned.
    pub attachment: usize,
    /// Pages received so far in this scan.
    pub pages: u32,
}

/// The accepted dossier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Dossier code.
    pub code: String,
    /// Appointment date.
    pub appointment_date: NaiveDate,
    /// The receipt's lookup secret, shown with the code so that a citizen whose receipt did
    /// not print can still check the status later (its `Debug` hides it).
    pub lookup_secret: Option<LookupSecret>,
    /// `None` while printing, then the printer's outcome.
    pub printed: Option<Result<(), Message>>,
}

/// What is submitted (the services turn pages into PDFs, store and queue them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitRequest {
    /// The procedure.
    pub procedure_code: String,
    /// The applicant.
    pub applicant: Applicant,
    /// (document name, its pages) for every attachment with pages.
    pub documents: Vec<(String, Vec<ScannedPage>)>,
    /// Kind codes of held documents cited instead of pages (the gateway links its copy).
    pub reused_documents: Vec<String>,
}

/// Events of the submission flow.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmissionEvent {
    /// A key into the search field.
    SearchKey(Key),
    /// A procedure was chosen.
    Select(String),
    /// Start the dossier (from the detail screen).
    Begin,
    /// An ID card QR was read and parsed.
    Card(Box<CccdCard>),
    /// A QR looked like an ID card but was not valid.
    BadCard(Message),
    /// Type the details instead of scanning the card.
    TypeInstead,
    /// Focus a form field.
    Focus(usize),
    /// A key into the focused field.
    Key(Key),
    /// The form is complete.
    FormDone,
    /// Scan pages for an attachment (more pages are appended).
    Scan(usize),
    /// A page arrived.
    Page {
        /// The attachment.
        attachment: usize,
        /// The page.
        page: ScannedPage,
    },
    /// The scan ended; an error (jam, no paper) is shown and the pages already scanned kept.
    ScanEnded(Option<Message>),
    /// Remove one page.
    RemovePage {
        /// The attachment.
        attachment: usize,
        /// The page id.
        page: u64,
    },
    /// Remove all pages of an attachment and scan again.
    Rescan(usize),
    /// Go to the review.
    ToReview,
    /// Submit.
    Submit,
    /// The store accepted the dossier.
    Accepted {
        /// Its code.
        code: String,
        /// Appointment date.
        appointment_date: NaiveDate,
        /// Its receipt's lookup secret.
        lookup_secret: Option<LookupSecret>,
    },
    /// The store refused (disk full, ...); nothing was accepted.
    Refused(Message),
    /// The receipt printer finished.
    Printed(Result<(), Message>),
    /// Print the receipt again.
    Reprint,
    /// The services' answer to [`SubmissionEffect::CheckLink`]: whether the kiosk can ask
    /// the province now.
    Link(bool),
    /// The citizen's answer on the consent screen.
    Consent(bool),
    /// The province's answer: the kinds held (`Err`: offline, refused or no answer in time;
    /// everything is asked as before).
    Held(Result<Vec<String>, Message>),
    /// One step back.
    Back,
}

/// Effects of the submission flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionEffect {
    /// Start scanning pages for an attachment.
    StartScan(usize),
    /// Delete these page files (removed or rescanned pages).
    DeletePages(Vec<std::path::PathBuf>),
    /// Store and queue the dossier durably.
    Submit(SubmitRequest),
    /// Print (or reprint) the receipt of an accepted dossier.
    PrintReceipt(String),
    /// Answer [`SubmissionEvent::Link`]: can the province be asked now?
    CheckLink,
    /// Ask the province which of these kinds it holds for this ID number (the card's, with the
    /// citizen's consent); answer [`SubmissionEvent::Held`].
    AskHeld {
        /// The ID number read from the card in this session.
        id_number: String,
        /// The procedure's kind codes.
        kind_codes: Vec<String>,
    },
}

/// The self-submission flow.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionFlow {
    catalog: Arc<Catalog>,
    /// Where it is.
    pub step: Step,
    /// The search field.
    pub query: TextEntry,
    /// The chosen procedure.
    pub procedure: Option<Procedure>,
    /// The form.
    pub fields: Vec<FormField>,
    /// The focused field.
    pub focus: usize,
    /// The documents asked for.
    pub attachments: Vec<Attachment>,
    /// The ID number of the chip card read in this session (the only one ever looked up).
    pub card_id: Option<String>,
    /// Where the "never asked twice" lookup is (see `reuse`).
    pub reuse: ReuseState,
    /// A scan in progress.
    pub scanning: Option<ScanProgress>,
    /// The accepted dossier.
    pub accepted: Option<Accepted>,
    /// What went wrong last (shown on the current step).
    pub error: Option<Message>,
}

impl SubmissionFlow {
    /// A new submission over `catalog`.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            catalog,
            step: Step::Search,
            query: TextEntry::new("", 60),
            procedure: None,
            fields: empty_fields(),
            focus: 0,
            attachments: Vec::new(),
            card_id: None,
            reuse: ReuseState::NotOffered,
            scanning: None,
            accepted: None,
            error: None,
        }
    }

    /// Procedures matching the search field (diacritics and case ignored), best first.
    pub fn results(&self) -> Vec<&Procedure> {
        self.catalog.search(&self.query.text())
    }

    /// The text of a field.
    pub fn value(&self, key: FieldKey) -> String {
        self.fields
            .iter()
            .find(|f| f.key == key)
            .map(|f| f.entry.text())
            .unwrap_or_default()
    }

    /// Mandatory documents with no page yet.
    pub fn missing_documents(&self) -> Vec<&Attachment> {
        self.attachments
            .iter()
            .filter(|a| a.mandatory && !a.held && a.pages.is_empty())
            .collect()
    }

    /// Applies an event: scanner results and "back" whatever the step, everything else by the
    /// step the citizen is on (an event that does not belong to the step is ignored).
    pub fn handle(&mut self, event: SubmissionEvent) -> Vec<SubmissionEffect> {
        use SubmissionEvent as E;
        match event {
            E::Page { attachment, page } => return self.page_arrived(attachment, page),
            E::ScanEnded(error) => {
                self.scanning = None;
                self.error = error;
                return Vec::new();
            }
            E::Back => {
                self.back();
                return Vec::new();
            }
            _ => {}
        }
        match self.step {
            Step::Search => self.on_search(event),
            Step::Detail => self.on_detail(event),
            Step::Identify => self.on_identify(event),
            Step::Form => self.on_form(event),
            Step::Consent => self.on_consent(event),
            Step::Attach => self.on_attach(event),
            Step::Review => self.on_review(event),
            Step::Submitting => self.on_submitting(event),
            Step::Done => self.on_done(event),
        }
    }

    /// Every page file the flow still holds (to delete when the session is wiped).
    pub fn page_files(&self) -> Vec<std::path::PathBuf> {
        self.attachments
            .iter()
            .flat_map(|a| a.pages.iter().map(|p| p.path.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> SubmissionFlow {
        SubmissionFlow::new(Arc::new(motcua_domain::catalog::seed()))
    }

    fn page(id: u64) -> ScannedPage {
        ScannedPage {
            id,
            path: format!("/tmp/session/p{id}.pnm").into(),
            thumbnail: Thumbnail {
                width: 1,
                height: 1,
                rgb: Arc::new(vec![0, 0, 0]),
            },
        }
    }

    fn card() -> CccdCard {
        motcua_domain::cccd::parse(motcua_domain::cccd::SAMPLE_PAYLOAD).expect("a valid card")
    }

    fn type_text(f: &mut SubmissionFlow, text: &str) {
        for c in text.chars() {
            f.handle(SubmissionEvent::Key(Key::Char(c)));
        }
    }

    /// Walks to the attach step of the first search hit for "khai sinh".
    fn to_attach(f: &mut SubmissionFlow) {
        for c in "dang ky khai sinh".chars() {
            f.handle(SubmissionEvent::SearchKey(Key::Char(c)));
        }
        let code = f.results().first().map(|p| p.code.clone()).expect("a hit");
        f.handle(SubmissionEvent::Select(code));
        f.handle(SubmissionEvent::Begin);
        f.handle(SubmissionEvent::Card(Box::new(card())));
        f.handle(SubmissionEvent::FormDone);
        assert_eq!(f.step, Step::Attach);
    }

    #[test]
    fn search_ignores_diacritics_and_case() {
        let mut f = flow();
        for c in "DANG KY KHAI SINH".chars() {
            f.handle(SubmissionEvent::SearchKey(Key::Char(c)));
        }
        let names: Vec<_> = f.results().iter().map(|p| p.name_vi.clone()).collect();
        assert!(
            names
                .first()
                .is_some_and(|n| n.starts_with("Đăng ký khai sinh")),
            "{names:?}"
        );
    }

    #[test]
    fn card_prefills_the_form_and_edits_clear_the_mark() {
        let mut f = flow();
        to_attach(&mut f);
        assert_eq!(f.value(FieldKey::FullName), "Nguyễn Thị Phượng");
        assert_eq!(f.value(FieldKey::BirthDate), "05/09/1990");
        assert!(f.fields[0].from_card);
        f.handle(SubmissionEvent::Back);
        f.handle(SubmissionEvent::Focus(0));
        f.handle(SubmissionEvent::Key(Key::Backspace));
        assert!(!f.fields[0].from_card);
        assert_eq!(f.value(FieldKey::FullName), "Nguyễn Thị Phượn");
    }

    #[test]
    fn form_errors_point_at_the_field() {
        let mut f = flow();
        for c in "khai sinh".chars() {
            f.handle(SubmissionEvent::SearchKey(Key::Char(c)));
        }
        let code = f.results()[0].code.clone();
        f.handle(SubmissionEvent::Select(code));
        f.handle(SubmissionEvent::Begin);
        f.handle(SubmissionEvent::TypeInstead);
        f.handle(SubmissionEvent::FormDone);
        assert_eq!((f.step, f.focus), (Step::Form, 0));
        type_text(&mut f, "Tran Van An");
        f.handle(SubmissionEvent::Focus(2));
        type_text(&mut f, "31/02/1960");
        f.handle(SubmissionEvent::FormDone);
        assert_eq!((f.step, f.focus), (Step::Form, 2));
        f.handle(SubmissionEvent::Key(Key::Clear));
        type_text(&mut f, "28/02/1960");
        f.handle(SubmissionEvent::FormDone);
        assert_eq!(f.step, Step::Attach);
    }

    #[test]
    fn scanning_pages_remove_rescan_and_missing_documents() {
        let mut f = flow();
        to_attach(&mut f);
        assert_eq!(f.handle(SubmissionEvent::ToReview), Vec::new());
        assert!(f.error.as_ref().is_some_and(|m| m.vi.contains("Còn thiếu")));
        assert_eq!(f.step, Step::Attach);
        let mandatory: Vec<usize> = f
            .attachments
            .iter()
            .enumerate()
            .filter(|(_, a)| a.mandatory)
            .map(|(i, _)| i)
            .collect();
        let mut next_id = 0;
        for &i in &mandatory {
            assert_eq!(
                f.handle(SubmissionEvent::Scan(i)),
                vec![SubmissionEffect::StartScan(i)]
            );
            // No second scan while one runs.
            assert!(f.handle(SubmissionEvent::Scan(i)).is_empty());
            for _ in 0..2 {
                next_id += 1;
                f.handle(SubmissionEvent::Page {
                    attachment: i,
                    page: page(next_id),
                });
            }
            f.handle(SubmissionEvent::ScanEnded(None));
        }
        let first = mandatory[0];
        let removed = f.handle(SubmissionEvent::RemovePage {
            attachment: first,
            page: 1,
        });
        assert_eq!(
            removed,
            vec![SubmissionEffect::DeletePages(vec![page(1).path])]
        );
        assert_eq!(f.attachments[first].pages.len(), 1);
        let rescan = f.handle(SubmissionEvent::Rescan(first));
        assert_eq!(rescan.len(), 2);
        assert!(f.attachments[first].pages.is_empty());
        // A jam after one page: the page is kept, the error shown.
        f.handle(SubmissionEvent::Page {
            attachment: first,
            page: page(99),
        });
        f.handle(SubmissionEvent::ScanEnded(Some(Message::new(
            "kẹt giấy",
            "paper jam",
        ))));
        assert_eq!(f.attachments[first].pages.len(), 1);
        assert!(f.error.is_some());
        f.handle(SubmissionEvent::ToReview);
        assert_eq!(f.step, Step::Review);

        let effects = f.handle(SubmissionEvent::Submit);
        let [SubmissionEffect::Submit(req)] = effects.as_slice() else {
            panic!("expected a submit, got {effects:?}");
        };
        assert_eq!(req.applicant.full_name, "Nguyễn Thị Phượng");
        assert_eq!(req.documents.len(), mandatory.len());
        // Double tap: nothing more.
        assert!(f.handle(SubmissionEvent::Submit).is_empty());
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).expect("date");
        let effects = f.handle(SubmissionEvent::Accepted {
            code: "X-1".into(),
            appointment_date: day,
            lookup_secret: None,
        });
        assert!(effects.contains(&SubmissionEffect::PrintReceipt("X-1".into())));
        f.handle(SubmissionEvent::Printed(Err(Message::new(
            "hết giấy",
            "out of paper",
        ))));
        assert_eq!(
            f.handle(SubmissionEvent::Reprint),
            vec![SubmissionEffect::PrintReceipt("X-1".into())]
        );
    }

    #[test]
    fn a_refused_submission_returns_to_review_with_the_reason() {
        let mut f = flow();
        to_attach(&mut f);
        for i in 0..f.attachments.len() {
            f.handle(SubmissionEvent::Scan(i));
            f.handle(SubmissionEvent::Page {
                attachment: i,
                page: page(i as u64),
            });
            f.handle(SubmissionEvent::ScanEnded(None));
        }
        f.handle(SubmissionEvent::ToReview);
        f.handle(SubmissionEvent::Submit);
        f.handle(SubmissionEvent::Refused(Message::new(
            "đầy bộ nhớ",
            "disk full",
        )));
        assert_eq!(f.step, Step::Review);
        assert_eq!(
            f.page_files().len(),
            f.attachments.len(),
            "pages kept for a retry"
        );
    }
}
