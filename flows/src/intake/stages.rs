//! What the intake does with an event in each stage, one handler per stage, called by
//! [`IntakeFlow::handle`]. A handler answers `Err(event)` for an event its stage does not take;
//! `handle` then refuses it in words for the officer.

use motcua_domain::dossier::DossierCode;
use motcua_domain::qr_payload::dossier_code_in;

use super::{Effect, IntakeEvent, IntakeFlow, IntakePage, PageKind, QuestionAnswer, Stage};

/// Effects, or the event back (boxed: it can carry a whole procedure) when the stage does not
/// take it.
type Handled = Result<Vec<Effect>, Box<IntakeEvent>>;

impl IntakeFlow {
    /// No dossier open (or the last one done): a code opens one, if no pages are pending.
    pub(super) fn when_no_dossier(&mut self, event: IntakeEvent) -> Handled {
        match event {
            IntakeEvent::DossierCode(text) if self.kept_pages() == 0 => Ok(self.open(&text)),
            other => Err(Box::new(other)),
        }
    }

    fn open(&mut self, text: &str) -> Vec<Effect> {
        let code = DossierCode::parse(text.trim())
            .ok()
            .or_else(|| dossier_code_in(text));
        match code {
            Some(code) => {
                let code = code.to_string();
                // Pages dropped as blank of the last dossier go with it.
                self.pages.clear();
                self.stage = Stage::LookingUp(code.clone());
                vec![Effect::LookUpDossier(code)]
            }
            None => vec![Effect::Refuse(
                "không đọc được mã hồ sơ từ mã này / this code carries no dossier code".to_owned(),
            )],
        }
    }

    /// Waiting for the store: only the answer about the dossier asked for counts.
    pub(super) fn when_looking_up(&mut self, wanted: &str, event: IntakeEvent) -> Handled {
        match event {
            IntakeEvent::DossierFound {
                code,
                procedure,
                already_digitized,
            } if code == wanted => {
                self.dossier = Some((code, procedure, already_digitized));
                self.stage = Stage::Ready;
                Ok(Vec::new())
            }
            IntakeEvent::DossierNotFound(code) if code == wanted => {
                self.stage = Stage::NoDossier;
                Ok(vec![Effect::Refuse(format!(
                    "không có hồ sơ {code} trên máy này / dossier {code} is not on this kiosk"
                ))])
            }
            other => Err(Box::new(other)),
        }
    }

    /// A dossier is open and no scan runs: the officer scans, edits the pages, answers
    /// questions, commits, or opens another dossier once no pages are pending.
    pub(super) fn when_ready(&mut self, event: IntakeEvent) -> Handled {
        Ok(match event {
            IntakeEvent::DossierCode(text) if self.kept_pages() == 0 => self.open(&text),
            IntakeEvent::StartBatch => {
                self.stage = Stage::Scanning;
                vec![Effect::StartScan]
            }
            IntakeEvent::MovePage { page, to } => self.move_page(page, to),
            IntakeEvent::DeletePage(page) => self.delete_page(page),
            IntakeEvent::RestorePage(page) => self.restore_page(page),
            IntakeEvent::RescanPage(page) => self.rescan_page(page),
            IntakeEvent::AnswerQuestion { page, answer } => self.answer(page, answer),
            IntakeEvent::Commit => self.commit(),
            other => return Err(Box::new(other)),
        })
    }

    fn move_page(&mut self, page: u32, to: usize) -> Vec<Effect> {
        let Some(from) = self.position(page) else {
            return self.no_page(page);
        };
        let p = self.pages.remove(from);
        self.pages.insert(to.min(self.pages.len()), p);
        Vec::new()
    }

    fn delete_page(&mut self, page: u32) -> Vec<Effect> {
        let Some(at) = self.position(page) else {
            return self.no_page(page);
        };
        self.pages.remove(at);
        Vec::new()
    }

    fn restore_page(&mut self, page: u32) -> Vec<Effect> {
        let Some(at) = self.position(page) else {
            return self.no_page(page);
        };
        let p = &mut self.pages[at];
        match (&p.kind, &p.spool) {
            (PageKind::Dropped { .. }, Some(_)) => {
                p.kind = PageKind::Content;
                self.blanks = self.blanks.saturating_sub(1);
                Vec::new()
            }
            (PageKind::Dropped { .. }, None) => vec![Effect::Refuse(format!(
                "trang {page} không được giữ lại, hãy quét lại / page {page} was not kept: scan it again"
            ))],
            _ => vec![Effect::Refuse(format!(
                "trang {page} không bị bỏ / page {page} was not dropped"
            ))],
        }
    }

    fn rescan_page(&mut self, page: u32) -> Vec<Effect> {
        match self.position(page) {
            Some(at) if self.pages[at].kind == PageKind::Content => {
                self.stage = Stage::Rescanning(page);
                vec![Effect::ScanOne(page)]
            }
            Some(_) => vec![Effect::Refuse(format!(
                "trang {page} không phải trang giấy tờ / page {page} is not a document page"
            ))],
            None => self.no_page(page),
        }
    }

    fn answer(&mut self, page: u32, answer: QuestionAnswer) -> Vec<Effect> {
        let Some(at) = self.position(page) else {
            return self.no_page(page);
        };
        if self.pages[at].kind != PageKind::Question {
            return vec![Effect::Refuse(format!(
                "trang {page} không có câu hỏi nào / page {page} has no open question"
            ))];
        }
        let documents = self
            .dossier
            .as_ref()
            .map_or(0, |(_, p, _)| p.documents.len());
        match answer {
            QuestionAnswer::SeparatorFor(i) if i == 0 || i as usize > documents => {
                return vec![Effect::Refuse(format!(
                    "thủ tục có giấy tờ số 1 đến {documents} / the procedure has documents 1 to {documents}"
                ))];
            }
            QuestionAnswer::SeparatorFor(index) => {
                self.pages[at].kind = PageKind::Separator { index };
                self.pages[at].spool = None;
            }
            QuestionAnswer::DocumentPage => self.pages[at].kind = PageKind::Content,
            QuestionAnswer::Discard => {
                self.pages.remove(at);
            }
        }
        Vec::new()
    }

    fn commit(&mut self) -> Vec<Effect> {
        let questions = self.questions();
        if !questions.is_empty() {
            return vec![Effect::Refuse(format!(
                "còn trang chưa trả lời: {questions:?} / pages still need an answer: {questions:?}"
            ))];
        }
        let documents = self.plan();
        if documents.is_empty() {
            return vec![Effect::Refuse(
                "chưa có trang nào để lưu / no page to store".to_owned(),
            )];
        }
        let Some((dossier, _, _)) = &self.dossier else {
            return Vec::new();
        };
        let dossier = dossier.clone();
        self.stage = Stage::Committing;
        let mut effects = self.missing_warning();
        effects.push(Effect::CommitDocuments { dossier, documents });
        effects
    }

    /// A batch is being scanned: pages, blanks and foreign separators arrive, then its end.
    pub(super) fn when_scanning(&mut self, event: IntakeEvent) -> Handled {
        Ok(match event {
            IntakeEvent::BlankPage {
                reason,
                spool,
                thumbnail,
            } => {
                // Blank sides keep their number, so page numbers follow the paper, and stay
                // in the list (in no document) so the officer sees why and can restore them.
                self.blanks += 1;
                let number = self.next_number;
                self.next_number += 1;
                self.pages.push(IntakePage {
                    number,
                    kind: PageKind::Dropped { reason },
                    spool,
                    thumbnail,
                });
                Vec::new()
            }
            IntakeEvent::ForeignSeparator(sep) => {
                let number = self.next_number;
                self.next_number += 1;
                vec![Effect::Warn(format!(
                    "trang {number}: tờ phân cách của hồ sơ khác ({}), đã bỏ qua / page {number}: separator sheet of another dossier ({}), ignored",
                    sep.dossier_code, sep.dossier_code
                ))]
            }
            IntakeEvent::PageScanned {
                kind,
                spool,
                thumbnail,
            } => self.page_scanned(kind, spool, thumbnail),
            IntakeEvent::BatchEnded { error } => self.batch_ended(error),
            other => return Err(Box::new(other)),
        })
    }

    fn page_scanned(
        &mut self,
        kind: PageKind,
        spool: Option<std::path::PathBuf>,
        thumbnail: Option<std::path::PathBuf>,
    ) -> Vec<Effect> {
        let number = self.next_number;
        self.next_number += 1;
        let question = kind == PageKind::Question;
        self.pages.push(IntakePage {
            number,
            kind,
            spool,
            thumbnail: thumbnail.clone(),
        });
        let mut effects = vec![Effect::Progress {
            page: number,
            document: self.document_of(number),
            pages: self.kept_pages(),
            thumbnail,
        }];
        if question {
            effects.push(Effect::Ask {
                page: number,
                message: format!(
                    "trang {number} giống tờ phân cách nhưng không đọc được mã: đó là tờ phân cách của giấy tờ nào, hay là trang giấy tờ? / page {number} looks like a separator sheet but its code is unreadable: which document's separator is it, or is it a document page?"
                ),
            });
        }
        effects
    }

    fn batch_ended(&mut self, error: Option<String>) -> Vec<Effect> {
        self.stage = Stage::Ready;
        let mut effects = Vec::new();
        if let Some(error) = error {
            effects.push(Effect::Warn(format!(
                "máy quét dừng: {error}; {} trang đã quét được giữ lại, hãy gỡ giấy kẹt rồi quét tiếp / the scanner stopped: {error}; the {} page(s) already scanned are kept: clear the jam and scan the rest",
                self.kept_pages(),
                self.kept_pages()
            )));
        }
        effects.extend(self.missing_warning());
        effects
    }

    /// One page is being rescanned: its new scan replaces the old; no scan keeps the old.
    pub(super) fn when_rescanning(&mut self, wanted: u32, event: IntakeEvent) -> Handled {
        match event {
            IntakeEvent::PageRescanned { page, spool } if page == wanted => {
                if let Some(at) = self.position(page) {
                    self.pages[at].spool = Some(spool);
                }
                self.stage = Stage::Ready;
                Ok(Vec::new())
            }
            IntakeEvent::BatchEnded { error } => {
                self.stage = Stage::Ready;
                let why = error.as_deref().unwrap_or("no page");
                Ok(vec![Effect::Warn(format!(
                    "không quét lại được trang {wanted}: {why}; trang cũ được giữ / page {wanted} was not rescanned: {why}; the old scan is kept"
                ))])
            }
            other => Err(Box::new(other)),
        }
    }

    /// The documents are being stored: the executor's answer.
    pub(super) fn when_committing(&mut self, event: IntakeEvent) -> Handled {
        match event {
            IntakeEvent::Committed {
                stored,
                already_stored,
            } => {
                self.stage = Stage::Done;
                self.pages.clear();
                Ok(vec![Effect::Done {
                    stored,
                    already_stored,
                }])
            }
            IntakeEvent::CommitFailed(message) => {
                self.stage = Stage::Ready;
                Ok(vec![Effect::Warn(format!(
                    "chưa lưu được: {message}; các trang vẫn còn, hãy thử lại / not stored: {message}; the pages are kept, try again"
                ))])
            }
            other => Err(Box::new(other)),
        }
    }

    fn no_page(&self, page: u32) -> Vec<Effect> {
        vec![Effect::Refuse(format!(
            "không có trang {page} / there is no page {page}"
        ))]
    }

    fn missing_warning(&self) -> Vec<Effect> {
        let missing = self.missing_documents();
        if missing.is_empty() {
            return Vec::new();
        }
        let list: Vec<String> = missing.iter().map(|(i, n)| format!("{i}. {n}")).collect();
        vec![Effect::Warn(format!(
            "còn thiếu giấy tờ bắt buộc / required documents still missing: {}",
            list.join("; ")
        ))]
    }
}
