//! "Never asked twice" (Circular 01/2023/TT-VPCP, issue #19 part 5) in the submission flow.
//!
//! Offered only when the ID number on the form is the one read from the chip card in this
//! session (typed numbers are never looked up: anyone can type anyone's), the procedure has a
//! reusable document (catalog `kind_code`) and the kiosk can reach the province. The citizen is
//! asked first; on yes the province answers which kinds it holds, and those documents are shown
//! as already held and not asked for. No, offline, a refusal or no answer: everything is asked
//! as before. The answer lives in this flow only, which the session drops at its end.

use super::{FieldKey, Step, SubmissionEffect, SubmissionEvent, SubmissionFlow};
use crate::Message;

type Effects = Vec<SubmissionEffect>;

/// Where the lookup is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReuseState {
    /// Not offered (yet): no card, no reusable document, or the form not done.
    NotOffered,
    /// Waiting for the services to say whether the province can be asked.
    CheckingLink,
    /// The consent screen: waiting for the citizen.
    Asking,
    /// The citizen agreed: waiting for the province.
    LookingUp,
    /// Done: these many documents are held (0 also when the lookup failed or was declined).
    Done,
}

/// The consent screen's question.
pub fn consent_question() -> Message {
    Message::new(
        "Tra cứu giấy tờ đã được số hoá?",
        "Look up documents the province already holds?",
    )
}

/// What the consent screen explains.
pub fn consent_explanation() -> Message {
    Message::new(
        "Ki-ốt sẽ hỏi hệ thống của tỉnh, theo số định danh trên thẻ vừa quét, những giấy tờ nào \
         của thủ tục này đã được số hoá. Giấy tờ đã có sẽ không phải nộp lại. Chỉ tên loại giấy \
         tờ được trả về, không có nội dung.",
        "The kiosk will ask the provincial system, by the ID number on the card just read, which \
         documents of this procedure are already digitized. Those need not be submitted again. \
         Only the kinds of document are returned, never their content.",
    )
}

/// How a held document is marked on the attach step, the review and the receipt.
pub fn held_label() -> Message {
    Message::new(
        "Đã có bản số hoá — không cần nộp lại",
        "Already held — no need to submit",
    )
}

fn lookup_failed() -> Message {
    Message::new(
        "Không tra cứu được giấy tờ đã số hoá; vui lòng nộp đủ giấy tờ.",
        "Documents already held could not be looked up; please attach every document.",
    )
}

impl SubmissionFlow {
    /// The form is complete: offer the lookup if it applies, else go on to the attachments.
    pub(super) fn form_done(&mut self) -> Effects {
        self.forget_held();
        let from_card = self
            .card_id
            .as_deref()
            .is_some_and(|id| id == self.value(FieldKey::IdNumber).trim());
        if from_card && !self.kind_codes().is_empty() {
            self.reuse = ReuseState::CheckingLink;
            self.step = Step::Consent;
            return vec![SubmissionEffect::CheckLink];
        }
        self.step = Step::Attach;
        Vec::new()
    }

    /// The consent step: the link's state, the citizen's answer, the province's answer.
    pub(super) fn on_consent(&mut self, event: SubmissionEvent) -> Effects {
        match (event, &self.reuse) {
            (SubmissionEvent::Link(true), ReuseState::CheckingLink) => {
                self.reuse = ReuseState::Asking;
                Vec::new()
            }
            (SubmissionEvent::Link(false), ReuseState::CheckingLink)
            | (SubmissionEvent::Consent(false), ReuseState::Asking) => {
                self.reuse = ReuseState::Done;
                self.step = Step::Attach;
                Vec::new()
            }
            (SubmissionEvent::Consent(true), ReuseState::Asking) => match self.card_id.clone() {
                Some(id_number) => {
                    self.reuse = ReuseState::LookingUp;
                    vec![SubmissionEffect::AskHeld {
                        id_number,
                        kind_codes: self.kind_codes(),
                    }]
                }
                None => {
                    self.reuse = ReuseState::Done;
                    self.step = Step::Attach;
                    Vec::new()
                }
            },
            (SubmissionEvent::Held(answer), ReuseState::LookingUp) => {
                match answer {
                    Ok(held) => {
                        for a in &mut self.attachments {
                            a.held = a.kind_code.as_ref().is_some_and(|k| held.contains(k));
                        }
                    }
                    Err(_) => self.error = Some(lookup_failed()),
                }
                self.reuse = ReuseState::Done;
                self.step = Step::Attach;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// The procedure's kind codes, each once.
    fn kind_codes(&self) -> Vec<String> {
        let mut kinds: Vec<String> = Vec::new();
        for k in self.attachments.iter().filter_map(|a| a.kind_code.clone()) {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
        kinds
    }

    /// Kinds cited instead of pages: held documents the citizen did not scan anyway.
    pub(super) fn reused_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = Vec::new();
        for a in self
            .attachments
            .iter()
            .filter(|a| a.held && a.pages.is_empty())
        {
            if let Some(k) = &a.kind_code {
                if !kinds.contains(k) {
                    kinds.push(k.clone());
                }
            }
        }
        kinds
    }

    /// Forgets the province's answer (back to the form: the ID number may change).
    pub(super) fn forget_held(&mut self) {
        for a in &mut self.attachments {
            a.held = false;
        }
        self.reuse = ReuseState::NotOffered;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::text_entry::Key;

    const KIND: &str = "ban_sao_can_cuoc";

    /// The seed's business household registration: document #2 is of [`KIND`].
    fn to_form(card: bool) -> SubmissionFlow {
        let mut f = SubmissionFlow::new(Arc::new(motcua_domain::catalog::seed()));
        f.handle(SubmissionEvent::Select("2.000720".into()));
        f.handle(SubmissionEvent::Begin);
        if card {
            let card = motcua_domain::cccd::parse(motcua_domain::cccd::SAMPLE_PAYLOAD)
                .expect("a valid card");
            f.handle(SubmissionEvent::Card(Box::new(card)));
        } else {
            f.handle(SubmissionEvent::TypeInstead);
        }
        f
    }

    fn submitted(f: &mut SubmissionFlow) -> super::super::SubmitRequest {
        for i in 0..f.attachments.len() {
            if f.attachments[i].mandatory && !f.attachments[i].held {
                f.handle(SubmissionEvent::Scan(i));
                f.handle(SubmissionEvent::Page {
                    attachment: i,
                    page: super::super::ScannedPage {
                        id: i as u64,
                        path: format!("/tmp/p{i}").into(),
                        thumbnail: super::super::Thumbnail {
                            width: 1,
                            height: 1,
                            rgb: Arc::new(vec![0; 3]),
                        },
                    },
                });
                f.handle(SubmissionEvent::ScanEnded(None));
            }
        }
        f.handle(SubmissionEvent::ToReview);
        assert_eq!(f.step, Step::Review, "{:?}", f.error);
        match f.handle(SubmissionEvent::Submit).as_slice() {
            [SubmissionEffect::Submit(r)] => r.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_held_document_is_not_asked_for_and_is_cited() {
        let mut f = to_form(true);
        let id = f.card_id.clone().expect("card");
        assert_eq!(
            f.handle(SubmissionEvent::FormDone),
            [SubmissionEffect::CheckLink]
        );
        assert_eq!(f.step, Step::Consent);
        assert!(f.handle(SubmissionEvent::Link(true)).is_empty());
        assert_eq!(f.reuse, ReuseState::Asking);
        let effects = f.handle(SubmissionEvent::Consent(true));
        assert_eq!(
            effects,
            [SubmissionEffect::AskHeld {
                id_number: id,
                kind_codes: vec![KIND.into()]
            }]
        );
        f.handle(SubmissionEvent::Held(Ok(vec![KIND.into()])));
        assert_eq!(f.step, Step::Attach);
        let held: Vec<_> = f.attachments.iter().filter(|a| a.held).collect();
        assert_eq!(held.len(), 1);
        assert!(f.missing_documents().iter().all(|a| !a.held));
        let request = submitted(&mut f);
        assert_eq!(request.reused_documents, [KIND]);
        assert_eq!(
            request.documents.len(),
            f.attachments.len() - 2,
            "not the held one, nor the optional one"
        );
    }

    #[test]
    fn no_consent_offline_or_a_failed_lookup_asks_everything() {
        for answers in [
            vec![SubmissionEvent::Link(true), SubmissionEvent::Consent(false)],
            vec![SubmissionEvent::Link(false)],
            vec![
                SubmissionEvent::Link(true),
                SubmissionEvent::Consent(true),
                SubmissionEvent::Held(Err(Message::new("x", "x"))),
            ],
        ] {
            let mut f = to_form(true);
            f.handle(SubmissionEvent::FormDone);
            for a in answers {
                f.handle(a);
            }
            assert_eq!(f.step, Step::Attach);
            assert!(f.attachments.iter().all(|a| !a.held));
            assert!(submitted(&mut f).reused_documents.is_empty());
        }
    }

    #[test]
    fn a_typed_or_changed_id_number_is_never_looked_up() {
        let mut f = to_form(false);
        f.focus = 1;
        for c in "079201001234".chars() {
            f.handle(SubmissionEvent::Key(Key::Char(c)));
        }
        f.focus = 0;
        for c in "Nguyen Van An".chars() {
            f.handle(SubmissionEvent::Key(Key::Char(c)));
        }
        f.focus = 3;
        for c in "Soc Trang".chars() {
            f.handle(SubmissionEvent::Key(Key::Char(c)));
        }
        assert!(
            f.handle(SubmissionEvent::FormDone).is_empty(),
            "{:?}",
            f.error
        );
        assert_eq!(f.step, Step::Attach);

        let mut f = to_form(true);
        f.focus = 1;
        f.handle(SubmissionEvent::Key(Key::Backspace));
        f.handle(SubmissionEvent::Key(Key::Char('0')));
        f.handle(SubmissionEvent::FormDone);
        assert_eq!(f.step, Step::Attach, "another number than the card's");
    }

    #[test]
    fn going_back_forgets_the_answer() {
        let mut f = to_form(true);
        f.handle(SubmissionEvent::FormDone);
        f.handle(SubmissionEvent::Link(true));
        f.handle(SubmissionEvent::Consent(true));
        f.handle(SubmissionEvent::Held(Ok(vec![KIND.into()])));
        assert!(f.attachments.iter().any(|a| a.held));
        f.handle(SubmissionEvent::Back);
        assert_eq!(f.step, Step::Form);
        assert!(f.attachments.iter().all(|a| !a.held));
        assert_eq!(f.reuse, ReuseState::NotOffered);
    }
}
