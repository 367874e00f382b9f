//! What each step of the submission does with an event: one handler per step, called by
//! [`SubmissionFlow::handle`]. A handler returns the effects for the services; an event that
//! does not belong to its step changes nothing.

use motcua_domain::cccd::CccdCard;

use super::{
    Accepted, Attachment, ScanProgress, ScannedPage, Step, SubmissionEffect, SubmissionEvent,
    SubmissionFlow, SubmitRequest,
};
use crate::Message;

type Effects = Vec<SubmissionEffect>;

impl SubmissionFlow {
    /// Search: typing narrows the list; choosing a procedure shows its detail.
    pub(super) fn on_search(&mut self, event: SubmissionEvent) -> Effects {
        match event {
            SubmissionEvent::SearchKey(k) => self.query.press(&k),
            SubmissionEvent::Select(code) => self.choose_procedure(&code),
            _ => {}
        }
        Vec::new()
    }

    fn choose_procedure(&mut self, code: &str) {
        let Some(p) = self.catalog.find(code) else {
            return;
        };
        self.attachments = p
            .documents
            .iter()
            .map(|d| Attachment {
                name_vi: d.name_vi.clone(),
                name_en: d.name_en.clone(),
                mandatory: d.mandatory,
                pages: Vec::new(),
                kind_code: d.kind_code.clone(),
                held: false,
            })
            .collect();
        self.procedure = Some(p.clone());
        self.step = Step::Detail;
    }

    /// Detail: the citizen starts the dossier.
    pub(super) fn on_detail(&mut self, event: SubmissionEvent) -> Effects {
        if let SubmissionEvent::Begin = event {
            self.step = Step::Identify;
        }
        Vec::new()
    }

    /// Identify: an ID card read prefills the form; or the citizen types instead.
    pub(super) fn on_identify(&mut self, event: SubmissionEvent) -> Effects {
        match event {
            SubmissionEvent::Card(card) => self.card_read(&card),
            SubmissionEvent::BadCard(m) => self.error = Some(m),
            SubmissionEvent::TypeInstead => {
                self.error = None;
                self.step = Step::Form;
            }
            _ => {}
        }
        Vec::new()
    }

    /// Form: typing into the focused field (a card may still be read); done checks the form.
    pub(super) fn on_form(&mut self, event: SubmissionEvent) -> Effects {
        match event {
            SubmissionEvent::Card(card) => self.card_read(&card),
            SubmissionEvent::BadCard(m) => self.error = Some(m),
            SubmissionEvent::Focus(i) if i < self.fields.len() => self.focus = i,
            SubmissionEvent::Key(k) => {
                if let Some(f) = self.fields.get_mut(self.focus) {
                    f.entry.press(&k);
                    f.from_card = false;
                }
            }
            SubmissionEvent::FormDone => match self.applicant() {
                Ok(_) => {
                    self.error = None;
                    return self.form_done();
                }
                Err((field, m)) => {
                    self.focus = field;
                    self.error = Some(m);
                }
            },
            _ => {}
        }
        Vec::new()
    }

    fn card_read(&mut self, card: &CccdCard) {
        self.prefill(card);
        self.card_id = Some(card.id_number.clone());
        self.error = None;
        self.step = Step::Form;
    }

    /// Attach: scanning, rescanning and removing pages; review once nothing mandatory is
    /// missing. Nothing starts while a scan runs.
    pub(super) fn on_attach(&mut self, event: SubmissionEvent) -> Effects {
        let idle = self.scanning.is_none();
        match event {
            SubmissionEvent::Scan(i) if idle && i < self.attachments.len() => self.start_scan(i),
            SubmissionEvent::Link(_) | SubmissionEvent::Held(_) => Vec::new(),
            SubmissionEvent::Rescan(i) if idle && i < self.attachments.len() => {
                let old: Vec<_> = self.attachments[i]
                    .pages
                    .drain(..)
                    .map(|p| p.path)
                    .collect();
                let mut effects = vec![SubmissionEffect::DeletePages(old)];
                effects.extend(self.start_scan(i));
                effects
            }
            SubmissionEvent::RemovePage { attachment, page } => self.remove_page(attachment, page),
            SubmissionEvent::ToReview if idle => {
                self.go_to_review();
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn start_scan(&mut self, attachment: usize) -> Effects {
        self.error = None;
        self.scanning = Some(ScanProgress {
            attachment,
            pages: 0,
        });
        vec![SubmissionEffect::StartScan(attachment)]
    }

    /// A scanned page, whatever the step: pages arriving after the citizen moved on are still
    /// kept with their document; a page for no document is deleted.
    pub(super) fn page_arrived(&mut self, attachment: usize, page: ScannedPage) -> Effects {
        let Some(a) = self.attachments.get_mut(attachment) else {
            return vec![SubmissionEffect::DeletePages(vec![page.path])];
        };
        a.pages.push(page);
        if let Some(s) = &mut self.scanning {
            s.pages += 1;
        }
        Vec::new()
    }

    fn remove_page(&mut self, attachment: usize, page: u64) -> Effects {
        let mut removed = Vec::new();
        if let Some(a) = self.attachments.get_mut(attachment) {
            a.pages.retain(|p| {
                if p.id == page {
                    removed.push(p.path.clone());
                    false
                } else {
                    true
                }
            });
        }
        if removed.is_empty() {
            Vec::new()
        } else {
            vec![SubmissionEffect::DeletePages(removed)]
        }
    }

    fn go_to_review(&mut self) {
        let missing = self.missing_documents();
        if missing.is_empty() {
            self.error = None;
            self.step = Step::Review;
            return;
        }
        let vi: Vec<_> = missing.iter().map(|a| a.name_vi.as_str()).collect();
        let en: Vec<_> = missing.iter().map(|a| a.name_en.as_str()).collect();
        self.error = Some(Message::new(
            format!("Còn thiếu giấy tờ bắt buộc: {}.", vi.join("; ")),
            format!("Required documents missing: {}.", en.join("; ")),
        ));
    }

    /// Review: submit asks the services to store the dossier; a form that became invalid sends
    /// the citizen back to the field in error.
    pub(super) fn on_review(&mut self, event: SubmissionEvent) -> Effects {
        if !matches!(event, SubmissionEvent::Submit) {
            return Vec::new();
        }
        match (self.applicant(), &self.procedure) {
            (Ok(applicant), Some(p)) => {
                let request = SubmitRequest {
                    procedure_code: p.code.clone(),
                    applicant,
                    documents: self
                        .attachments
                        .iter()
                        .filter(|a| !a.pages.is_empty())
                        .map(|a| (a.name_vi.clone(), a.pages.clone()))
                        .collect(),
                    reused_documents: self.reused_kinds(),
                };
                // A held document scanned anyway is sent as scanned, not cited.
                for a in &mut self.attachments {
                    a.held &= a.pages.is_empty();
                }
                self.error = None;
                self.step = Step::Submitting;
                vec![SubmissionEffect::Submit(request)]
            }
            (Err((field, m)), _) => {
                self.step = Step::Form;
                self.focus = field;
                self.error = Some(m);
                Vec::new()
            }
            (_, None) => Vec::new(),
        }
    }

    /// Submitting: the store's answer. Accepted means durable: the receipt is printed and the
    /// page files (now PDFs in the store) deleted; refused goes back to the review.
    pub(super) fn on_submitting(&mut self, event: SubmissionEvent) -> Effects {
        match event {
            SubmissionEvent::Accepted {
                code,
                appointment_date,
                lookup_secret,
            } => {
                self.step = Step::Done;
                self.accepted = Some(Accepted {
                    code: code.clone(),
                    appointment_date,
                    lookup_secret,
                    printed: None,
                });
                let pages = self
                    .attachments
                    .iter_mut()
                    .flat_map(|a| a.pages.drain(..).map(|p| p.path))
                    .collect();
                vec![
                    SubmissionEffect::DeletePages(pages),
                    SubmissionEffect::PrintReceipt(code),
                ]
            }
            SubmissionEvent::Refused(m) => {
                self.step = Step::Review;
                self.error = Some(m);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Done: the printer's outcome, and a reprint once the last print finished.
    pub(super) fn on_done(&mut self, event: SubmissionEvent) -> Effects {
        match (event, &mut self.accepted) {
            (SubmissionEvent::Printed(result), Some(a)) => {
                a.printed = Some(result);
                Vec::new()
            }
            (SubmissionEvent::Reprint, Some(a)) if a.printed.is_some() => {
                a.printed = None;
                vec![SubmissionEffect::PrintReceipt(a.code.clone())]
            }
            _ => Vec::new(),
        }
    }

    /// One step back (not while a scan runs on the attach step, not after submitting).
    pub(super) fn back(&mut self) {
        self.error = None;
        self.step = match self.step {
            Step::Detail => Step::Search,
            Step::Identify => Step::Detail,
            Step::Form => Step::Identify,
            Step::Consent => {
                self.forget_held();
                Step::Form
            }
            Step::Attach if self.scanning.is_none() => {
                self.forget_held();
                Step::Form
            }
            Step::Review => Step::Attach,
            other => other,
        };
    }
}
