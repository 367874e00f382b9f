//! The staff intake flow: an officer opens a dossier, scans its paper in one or more batches,
//! checks and corrects the pages, and commits them as coded PDF documents queued for the
//! gateway.
//!
//! [`IntakeFlow`] is a state machine in the project's style: [`IntakeEvent`]s in, [`Effect`]s
//! out, no hardware, no store, no clock inside, so every path (a jam, an unreadable separator,
//! a missing document) is tested with plain events. The daemon or `kioskctl intake` executes
//! the effects (the kiosk's `intake::session`): it looks dossiers up in the store, runs the
//! scanner and the page pipeline (which spools each compressed page to a file), and at commit
//! assembles each document's PDF from the spooled pages in the order the officer left them,
//! stores it as a blob and calls the store's `add_digitized_documents`.
//!
//! How pages become documents: in scan order, a separator sheet for required document *i*
//! starts document *i*; pages before the first separator are "unsorted" (index 0). The split
//! is recomputed from the page list after every change, so moving, deleting or rescanning a
//! page, or answering a question about a sheet, is one edit of that list.
//!
//! Nothing scanned is dropped silently: blank pages are counted, pages of a jammed batch stay,
//! and a page that looks like a separator sheet whose code cannot be read
//! ([`PageKind::Question`]) blocks the commit until the officer says what it is.

mod stages;

use std::path::PathBuf;

use chrono::NaiveDate;
use motcua_domain::catalog::Procedure;
use motcua_domain::document_code::{DocumentCodeFields, DocumentCodeTemplate};
use motcua_domain::qr_payload::Separator;

/// What a scanned (non-blank) page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageKind {
    /// A document page, spooled at `spool`.
    Content,
    /// A separator sheet for required document `index` of the procedure.
    Separator {
        /// The required document's index (1-based).
        index: u32,
    },
    /// A page that looks like a separator sheet but whose code could not be read: the
    /// officer decides ([`IntakeEvent::AnswerQuestion`]).
    Question,
    /// A page the pipeline found blank and dropped, kept aside (in no document) so the
    /// officer can see why and restore it ([`IntakeEvent::RestorePage`]).
    Dropped {
        /// Why it was dropped, "vi / en".
        reason: String,
    },
}

/// One page of the intake, in the order the officer sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakePage {
    /// Page number in scan order over all batches of this intake (1-based, never reused;
    /// dropped blank sides count, so numbers follow the paper).
    pub number: u32,
    /// What it is.
    pub kind: PageKind,
    /// The compressed page's spool file (written by the page pipeline); `None` for separator
    /// sheets (and dropped pages the executor could not keep).
    pub spool: Option<PathBuf>,
    /// A small PNG of the page for the staff screen, if the executor made one.
    pub thumbnail: Option<PathBuf>,
}

/// The officer's answer about a [`PageKind::Question`] page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionAnswer {
    /// It is the separator sheet of required document `index`.
    SeparatorFor(u32),
    /// It is a document page after all.
    DocumentPage,
    /// Drop it.
    Discard,
}

/// Events the flow reacts to: the officer's actions and the executor's results.
#[derive(Debug, Clone, PartialEq)]
pub enum IntakeEvent {
    /// A code was read (receipt QR payload) or typed (dossier code).
    DossierCode(String),
    /// The store knows the dossier.
    DossierFound {
        /// Its code.
        code: String,
        /// Its procedure from the catalog.
        procedure: Procedure,
        /// Indices of required documents digitized for it before (earlier intakes).
        already_digitized: Vec<u32>,
    },
    /// The store does not know the dossier.
    DossierNotFound(String),
    /// The officer starts a batch (feeder or hot folder).
    StartBatch,
    /// The pipeline processed a page of the batch.
    PageScanned {
        /// What it is (a separator of another dossier is reported as [`IntakeEvent::ForeignSeparator`]).
        kind: PageKind,
        /// Where the compressed page was spooled (content and question pages).
        spool: Option<PathBuf>,
        /// A small PNG of the page for the staff screen.
        thumbnail: Option<PathBuf>,
    },
    /// A blank page was dropped.
    BlankPage {
        /// Why, "vi / en" (the pipeline's explanation).
        reason: String,
        /// The page compressed anyway, so it can be restored.
        spool: Option<PathBuf>,
        /// Its thumbnail.
        thumbnail: Option<PathBuf>,
    },
    /// A separator sheet of another dossier was fed.
    ForeignSeparator(Separator),
    /// The batch ended; `error` says why if it ended early (a jam): the pages so far stay.
    BatchEnded {
        /// The scanner's error, in words for the officer.
        error: Option<String>,
    },
    /// Move page `page` to position `to` (0-based) in the page list.
    MovePage {
        /// The page number.
        page: u32,
        /// Its new position.
        to: usize,
    },
    /// Delete page `page`.
    DeletePage(u32),
    /// Put page `page`, dropped as blank, back where it was scanned as a document page.
    RestorePage(u32),
    /// Rescan page `page`: the executor scans one page and answers with `PageRescanned`.
    RescanPage(u32),
    /// The new scan of page `page`.
    PageRescanned {
        /// The page number.
        page: u32,
        /// The new spool file.
        spool: PathBuf,
    },
    /// The officer's answer about a question page.
    AnswerQuestion {
        /// The page number.
        page: u32,
        /// The answer.
        answer: QuestionAnswer,
    },
    /// The officer commits the documents.
    Commit,
    /// The executor stored them.
    Committed {
        /// Document codes stored now.
        stored: Vec<String>,
        /// Document codes that were stored before with the same content.
        already_stored: Vec<String>,
    },
    /// Storing failed; nothing was committed and the pages stay.
    CommitFailed(String),
}

/// A document as it will be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDocument {
    /// Its code from the template.
    pub code: String,
    /// Required document index (0 = unsorted).
    pub index: u32,
    /// Its name (the procedure's required-document name).
    pub name: String,
    /// Spool files of its pages, in order.
    pub pages: Vec<PathBuf>,
    /// Their page numbers.
    pub page_numbers: Vec<u32>,
}

/// What the executor must do, or show.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Look the dossier up in the store (answer `DossierFound` / `DossierNotFound`).
    LookUpDossier(String),
    /// Start scanning a batch (answer `PageScanned`/`BlankPage`/… then `BatchEnded`).
    StartScan,
    /// Scan one page to replace page `page` (answer `PageRescanned`).
    ScanOne(u32),
    /// Progress, after every page: pages kept so far and the document the page went to.
    Progress {
        /// The page number.
        page: u32,
        /// Index of the document it belongs to now (0 = unsorted), `None` for a question.
        document: Option<u32>,
        /// Non-blank pages kept so far.
        pages: usize,
        /// The page's thumbnail, for the progress screen.
        thumbnail: Option<PathBuf>,
    },
    /// Ask the officer about a page (see [`PageKind::Question`]).
    Ask {
        /// The page number.
        page: u32,
        /// The question in Vietnamese and English.
        message: String,
    },
    /// Show a warning (it does not stop the flow).
    Warn(String),
    /// Refuse an action, saying why.
    Refuse(String),
    /// Assemble, store and queue these documents for `dossier` (answer `Committed` or
    /// `CommitFailed`).
    CommitDocuments {
        /// The dossier code.
        dossier: String,
        /// The documents.
        documents: Vec<PlannedDocument>,
    },
    /// The intake is complete.
    Done {
        /// Document codes stored now.
        stored: Vec<String>,
        /// Document codes stored before.
        already_stored: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    NoDossier,
    LookingUp(String),
    Ready,
    Scanning,
    Rescanning(u32),
    Committing,
    Done,
}

/// The intake state machine; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct IntakeFlow {
    template: DocumentCodeTemplate,
    date: NaiveDate,
    stage: Stage,
    dossier: Option<(String, Procedure, Vec<u32>)>,
    pages: Vec<IntakePage>,
    next_number: u32,
    blanks: u32,
}

const UNSORTED_NAME: &str = "Chưa phân loại / Unsorted pages";

impl IntakeFlow {
    /// A flow coding documents with `template`, dated `date` (the digitization date).
    pub fn new(template: DocumentCodeTemplate, date: NaiveDate) -> Self {
        Self {
            template,
            date,
            stage: Stage::NoDossier,
            dossier: None,
            pages: Vec::new(),
            next_number: 1,
            blanks: 0,
        }
    }

    /// The pages, in order.
    pub fn pages(&self) -> &[IntakePage] {
        &self.pages
    }

    /// Blank pages dropped so far (and not restored).
    pub fn blank_pages(&self) -> u32 {
        self.blanks
    }

    /// Pages kept (not dropped as blank).
    fn kept_pages(&self) -> usize {
        self.pages
            .iter()
            .filter(|p| !matches!(p.kind, PageKind::Dropped { .. }))
            .count()
    }

    /// The open dossier's code.
    pub fn dossier_code(&self) -> Option<&str> {
        self.dossier.as_ref().map(|(c, _, _)| c.as_str())
    }

    /// Pages waiting for the officer's answer.
    pub fn questions(&self) -> Vec<u32> {
        self.pages
            .iter()
            .filter(|p| p.kind == PageKind::Question)
            .map(|p| p.number)
            .collect()
    }

    /// Required (mandatory) documents of the procedure that have no page in this intake and
    /// were not digitized before: `(index, name)`.
    pub fn missing_documents(&self) -> Vec<(u32, String)> {
        let Some((_, procedure, before)) = &self.dossier else {
            return Vec::new();
        };
        let planned = self.plan();
        procedure
            .documents
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u32 + 1, d))
            .filter(|(i, d)| {
                d.mandatory
                    && !before.contains(i)
                    && !planned.iter().any(|p| p.index == *i && !p.pages.is_empty())
            })
            .map(|(i, d)| (i, d.name_vi.clone()))
            .collect()
    }

    /// The documents as they would be committed now.
    pub fn plan(&self) -> Vec<PlannedDocument> {
        let Some((dossier, procedure, _)) = &self.dossier else {
            return Vec::new();
        };
        let mut docs: Vec<PlannedDocument> = Vec::new();
        let mut current = 0u32;
        for page in &self.pages {
            match (&page.kind, &page.spool) {
                (PageKind::Separator { index }, _) => current = *index,
                (PageKind::Content, Some(spool)) => {
                    let pos = match docs.iter().position(|d| d.index == current) {
                        Some(pos) => pos,
                        None => {
                            let name = match current {
                                0 => UNSORTED_NAME.to_owned(),
                                i => procedure
                                    .documents
                                    .get(i as usize - 1)
                                    .map(|d| d.name_vi.clone())
                                    .unwrap_or_else(|| format!("Giấy tờ {i} / Document {i}")),
                            };
                            docs.push(PlannedDocument {
                                code: self.template.render(&DocumentCodeFields {
                                    dossier,
                                    procedure: &procedure.code,
                                    index: current,
                                    date: self.date,
                                }),
                                index: current,
                                name,
                                pages: Vec::new(),
                                page_numbers: Vec::new(),
                            });
                            docs.len() - 1
                        }
                    };
                    docs[pos].pages.push(spool.clone());
                    docs[pos].page_numbers.push(page.number);
                }
                _ => {}
            }
        }
        docs.sort_by_key(|d| d.index);
        docs
    }

    fn document_of(&self, number: u32) -> Option<u32> {
        self.plan()
            .iter()
            .find(|d| d.page_numbers.contains(&number))
            .map(|d| d.index)
    }

    fn position(&self, number: u32) -> Option<usize> {
        self.pages.iter().position(|p| p.number == number)
    }

    /// Reacts to one event: each stage has its handler ([`stages`]); an event its stage does
    /// not take is refused, saying so, and changes nothing.
    pub fn handle(&mut self, event: IntakeEvent) -> Vec<Effect> {
        let stage = self.stage.clone();
        let handled = match &stage {
            Stage::NoDossier | Stage::Done => self.when_no_dossier(event),
            Stage::LookingUp(wanted) => self.when_looking_up(wanted, event),
            Stage::Ready => self.when_ready(event),
            Stage::Scanning => self.when_scanning(event),
            Stage::Rescanning(page) => self.when_rescanning(*page, event),
            Stage::Committing => self.when_committing(event),
        };
        handled.unwrap_or_else(|event| {
            vec![Effect::Refuse(format!(
                "không thể làm việc này lúc này / not possible now ({event:?} while {stage:?})"
            ))]
        })
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use motcua_domain::catalog::seed;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).expect("date")
    }

    const CODE: &str = "000.17.22.H56-261123-0001";

    /// A flow with the birth registration dossier open (3 documents, the third optional).
    fn open() -> IntakeFlow {
        let mut f = IntakeFlow::new(DocumentCodeTemplate::default(), date());
        let effects = f.handle(IntakeEvent::DossierCode(format!("{CODE}|1.001193|x")));
        assert_eq!(effects, [Effect::LookUpDossier(CODE.to_owned())]);
        let procedure = seed().find("1.001193").expect("procedure").clone();
        assert!(f
            .handle(IntakeEvent::DossierFound {
                code: CODE.to_owned(),
                procedure,
                already_digitized: Vec::new(),
            })
            .is_empty());
        f
    }

    fn content(f: &mut IntakeFlow, name: &str) -> Vec<Effect> {
        f.handle(IntakeEvent::PageScanned {
            kind: PageKind::Content,
            spool: Some(PathBuf::from(name)),
            thumbnail: None,
        })
    }

    fn separator(f: &mut IntakeFlow, index: u32) {
        f.handle(IntakeEvent::PageScanned {
            kind: PageKind::Separator { index },
            spool: None,
            thumbnail: None,
        });
    }

    fn pages_of(f: &IntakeFlow) -> Vec<(u32, Vec<u32>)> {
        f.plan()
            .into_iter()
            .map(|d| (d.index, d.page_numbers))
            .collect()
    }

    #[test]
    fn a_batch_splits_into_coded_documents_and_warns_of_missing_ones() {
        let mut f = open();
        assert_eq!(f.handle(IntakeEvent::StartBatch), [Effect::StartScan]);
        let e = content(&mut f, "p1");
        assert_eq!(
            e,
            [Effect::Progress {
                page: 1,
                document: Some(0),
                pages: 1,
                thumbnail: None,
            }]
        );
        separator(&mut f, 1);
        content(&mut f, "p3");
        f.handle(IntakeEvent::BlankPage {
            reason: "blank".into(),
            spool: Some(PathBuf::from("p4")),
            thumbnail: None,
        });
        content(&mut f, "p5");
        let e = f.handle(IntakeEvent::BatchEnded { error: None });
        // Document 2 (mandatory) is missing; document 3 is optional.
        assert_eq!(e.len(), 1);
        let Effect::Warn(w) = &e[0] else {
            panic!("{e:?}")
        };
        assert!(w.contains("2. Giấy chứng sinh") && !w.contains("3."), "{w}");
        assert_eq!(f.blank_pages(), 1);
        // Page numbers follow the paper: the blank side was page 4.
        assert_eq!(pages_of(&f), [(0, vec![1]), (1, vec![3, 5])]);
        let codes: Vec<String> = f.plan().into_iter().map(|d| d.code).collect();
        assert_eq!(codes, [format!("{CODE}-00"), format!("{CODE}-01")]);

        // A second batch after the first: document 2.
        f.handle(IntakeEvent::StartBatch);
        separator(&mut f, 2);
        content(&mut f, "p6");
        assert!(f.handle(IntakeEvent::BatchEnded { error: None }).is_empty());
        let e = f.handle(IntakeEvent::Commit);
        let [Effect::CommitDocuments { dossier, documents }] = &e[..] else {
            panic!("{e:?}")
        };
        assert_eq!(dossier, CODE);
        assert_eq!(documents.len(), 3);
        assert_eq!(documents[2].pages, [PathBuf::from("p6")]);
        let e = f.handle(IntakeEvent::Committed {
            stored: vec!["a".into()],
            already_stored: vec![],
        });
        assert!(matches!(&e[..], [Effect::Done { .. }]));
    }

    #[test]
    fn a_dropped_page_says_why_and_can_be_restored() {
        let mut f = open();
        f.handle(IntakeEvent::StartBatch);
        separator(&mut f, 1);
        content(&mut f, "a");
        assert!(f
            .handle(IntakeEvent::BlankPage {
                reason: "blank: 0 content mark(s) after removing 2 punched hole(s)".into(),
                spool: Some(PathBuf::from("b")),
                thumbnail: None,
            })
            .is_empty());
        content(&mut f, "c");
        f.handle(IntakeEvent::BatchEnded { error: None });
        assert_eq!(f.blank_pages(), 1);
        assert_eq!(pages_of(&f), [(1, vec![2, 4])]);
        let dropped = &f.pages()[2];
        assert_eq!(dropped.number, 3);
        assert!(
            matches!(&dropped.kind, PageKind::Dropped { reason } if reason.contains("punched")),
            "{dropped:?}"
        );
        // Restored in its place; a kept page cannot be restored.
        assert!(f.handle(IntakeEvent::RestorePage(3)).is_empty());
        assert_eq!(pages_of(&f), [(1, vec![2, 3, 4])]);
        assert_eq!(f.blank_pages(), 0);
        assert!(matches!(
            &f.handle(IntakeEvent::RestorePage(3))[..],
            [Effect::Refuse(_)]
        ));
        // A dropped page that could not be kept cannot be restored either.
        f.handle(IntakeEvent::StartBatch);
        f.handle(IntakeEvent::BlankPage {
            reason: "blank".into(),
            spool: None,
            thumbnail: None,
        });
        f.handle(IntakeEvent::BatchEnded { error: None });
        assert!(matches!(
            &f.handle(IntakeEvent::RestorePage(5))[..],
            [Effect::Refuse(_)]
        ));
    }

    #[test]
    fn pages_can_be_moved_deleted_and_rescanned() {
        let mut f = open();
        f.handle(IntakeEvent::StartBatch);
        separator(&mut f, 1);
        content(&mut f, "a");
        content(&mut f, "b");
        separator(&mut f, 2);
        content(&mut f, "c");
        f.handle(IntakeEvent::BatchEnded { error: None });
        // Page 5 ("c") belongs to document 1, before page 2.
        assert!(f
            .handle(IntakeEvent::MovePage { page: 5, to: 1 })
            .is_empty());
        assert_eq!(pages_of(&f), [(1, vec![5, 2, 3])]);
        assert!(f.handle(IntakeEvent::DeletePage(3)).is_empty());
        assert_eq!(pages_of(&f), [(1, vec![5, 2])]);
        assert_eq!(f.handle(IntakeEvent::RescanPage(2)), [Effect::ScanOne(2)]);
        f.handle(IntakeEvent::PageRescanned {
            page: 2,
            spool: PathBuf::from("b2"),
        });
        assert_eq!(f.plan()[0].pages, [PathBuf::from("c"), PathBuf::from("b2")]);
        // A separator cannot be rescanned; an unknown page is refused.
        assert!(matches!(
            &f.handle(IntakeEvent::RescanPage(1))[..],
            [Effect::Refuse(_)]
        ));
        assert!(matches!(
            &f.handle(IntakeEvent::DeletePage(99))[..],
            [Effect::Refuse(_)]
        ));
    }

    #[test]
    fn a_jam_keeps_the_pages_scanned_before_it() {
        let mut f = open();
        f.handle(IntakeEvent::StartBatch);
        separator(&mut f, 1);
        content(&mut f, "a");
        let e = f.handle(IntakeEvent::BatchEnded {
            error: Some("kẹt giấy / paper jam".into()),
        });
        let Effect::Warn(w) = &e[0] else {
            panic!("{e:?}")
        };
        assert!(w.contains("paper jam") && w.contains("2 page(s)"), "{w}");
        assert_eq!(pages_of(&f), [(1, vec![2])]);
        // Scanning goes on after the jam is cleared.
        assert_eq!(f.handle(IntakeEvent::StartBatch), [Effect::StartScan]);
        content(&mut f, "b");
        f.handle(IntakeEvent::BatchEnded { error: None });
        assert_eq!(pages_of(&f), [(1, vec![2, 3])]);
    }

    #[test]
    fn an_unreadable_separator_is_asked_not_guessed() {
        let mut f = open();
        f.handle(IntakeEvent::StartBatch);
        separator(&mut f, 1);
        content(&mut f, "a");
        let e = f.handle(IntakeEvent::PageScanned {
            kind: PageKind::Question,
            spool: Some(PathBuf::from("q")),
            thumbnail: None,
        });
        assert!(matches!(&e[1], Effect::Ask { page: 3, .. }), "{e:?}");
        content(&mut f, "b");
        f.handle(IntakeEvent::BatchEnded { error: None });
        // Not committed while the question is open; the page is in no document meanwhile.
        assert!(matches!(
            &f.handle(IntakeEvent::Commit)[..],
            [Effect::Refuse(_)]
        ));
        assert_eq!(pages_of(&f), [(1, vec![2, 4])]);
        // Out-of-range answers are refused.
        assert!(matches!(
            &f.handle(IntakeEvent::AnswerQuestion {
                page: 3,
                answer: QuestionAnswer::SeparatorFor(9)
            })[..],
            [Effect::Refuse(_)]
        ));
        f.handle(IntakeEvent::AnswerQuestion {
            page: 3,
            answer: QuestionAnswer::SeparatorFor(2),
        });
        assert_eq!(pages_of(&f), [(1, vec![2]), (2, vec![4])]);
        assert!(f.questions().is_empty());
    }

    #[test]
    fn bad_codes_and_unknown_dossiers_are_refused() {
        let mut f = IntakeFlow::new(DocumentCodeTemplate::default(), date());
        assert!(matches!(
            &f.handle(IntakeEvent::DossierCode("hello".into()))[..],
            [Effect::Refuse(_)]
        ));
        f.handle(IntakeEvent::DossierCode(CODE.into()));
        assert!(matches!(
            &f.handle(IntakeEvent::DossierNotFound(CODE.into()))[..],
            [Effect::Refuse(_)]
        ));
        // No batch without a dossier.
        assert!(matches!(
            &f.handle(IntakeEvent::StartBatch)[..],
            [Effect::Refuse(_)]
        ));
    }
}
