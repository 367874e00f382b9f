//! The staff intake on the touch screen: carrying out the officer's actions with the intake
//! executor and reporting the intake as the staff screen shows it.

use motcua_flows::session::Event;

use super::messages::*;
use super::{thumbnail_from_file, Services};
use crate::intake::signing::SignScope;

impl Services {
    /// Carries out an officer's intake action and reports the intake as it now stands.
    pub(super) fn intake(
        &mut self,
        action: motcua_flows::intake_screen::IntakeAction,
        emit: &mut dyn FnMut(Event),
    ) -> motcua_flows::intake_screen::IntakeReportView {
        use crate::intake::session::IntakeSession;
        use motcua_flows::intake::{Effect as IE, IntakeEvent, PageKind, QuestionAnswer};
        use motcua_flows::intake_screen::IntakeAction as A;

        let mut message: Option<String> = None;
        let mut stored = Vec::new();
        // What became of hot-folder files that were not stored (moved to `returned/`).
        let mut put_back: Option<String> = None;
        // Missing documents have their own banner on the screen: their warning is not repeated.
        let note = |e: &IE, message: &mut Option<String>| match e {
            IE::Warn(m) if m.contains("required documents still missing") => {}
            IE::Warn(m) | IE::Refuse(m) | IE::Ask { message: m, .. } => *message = Some(m.clone()),
            _ => {}
        };
        let result = match action {
            A::Open(code) => {
                let mut session = IntakeSession::new(&self.config, &mut self.store);
                let r = session.open(&code, &mut |e| note(e, &mut message));
                let (flow, spooled) = session.into_parts();
                if r.is_ok() {
                    self.intake = Some((flow, spooled));
                }
                r
            }
            A::Sign => Ok(()),
            A::OpenSigner(pin) => {
                use crate::intake::signing::open_signer;
                self.signer = None;
                match open_signer(&self.config.signing, pin.as_ref().map(|p| p.expose())) {
                    Ok(signer) => self.signer = Some(signer),
                    Err(e) => message = Some(e.to_string()),
                }
                Ok(())
            }
            A::Commit => match self.intake.take() {
                Some((flow, spooled)) => {
                    let session =
                        IntakeSession::resume(&self.config, &mut self.store, flow.clone(), spooled);
                    match session.commit(&mut |e| note(e, &mut message)) {
                        Ok(report) => {
                            stored = report.already_stored.clone();
                            stored.extend(self.sign_waiting(
                                SignScope::Only(&report.stored),
                                &mut message,
                                emit,
                            ));
                            Ok(())
                        }
                        Err(e) => {
                            self.intake = Some((flow, spooled));
                            Err(e)
                        }
                    }
                }
                None => Ok(()),
            },
            A::SignWaiting => {
                // The screen lists the waiting codes beside the button.
                stored = self.sign_waiting(SignScope::AllWaiting, &mut message, emit);
                Ok(())
            }
            A::Rescan(page) => match self.intake.take() {
                Some((flow, spooled)) => match self.scanner() {
                    Ok(scanner) => {
                        let dir = self.session_dir.join("intake-batch");
                        let _ = std::fs::create_dir_all(&dir);
                        let request = self.batch_request(&dir);
                        let mut session =
                            IntakeSession::resume(&self.config, &mut self.store, flow, spooled);
                        let r = self.runtime.block_on(session.rescan_page(
                            page,
                            scanner.as_ref(),
                            &request,
                            &mut |e| note(e, &mut message),
                        ));
                        let files = session.take_scan_files();
                        self.intake = Some(session.into_parts());
                        put_back = self.settle_taken(&files);
                        let _ = std::fs::remove_dir_all(&dir);
                        r
                    }
                    Err(m) => {
                        self.intake = Some((flow, spooled));
                        message = Some(format!("{} / {}", m.vi, m.en));
                        Ok(())
                    }
                },
                None => Ok(()),
            },
            A::ScanBatch => match self.intake.take() {
                Some((flow, spooled)) => {
                    let scanner = match self.scanner() {
                        Ok(s) => s,
                        Err(m) => {
                            self.intake = Some((flow, spooled));
                            let mut report = self.intake_report();
                            report.message = Some(format!("{} / {}", m.vi, m.en));
                            return report;
                        }
                    };
                    let dir = self.session_dir.join("intake-batch");
                    let _ = std::fs::create_dir_all(&dir);
                    let request = self.batch_request(&dir);
                    let mut session =
                        IntakeSession::resume(&self.config, &mut self.store, flow, spooled);
                    let runtime = &self.runtime;
                    let r = runtime.block_on(session.scan_batch(
                        scanner.as_ref(),
                        &request,
                        &mut |e| {
                            if let IE::Progress { thumbnail, .. } = e {
                                emit(Event::IntakePage(
                                    thumbnail.as_deref().and_then(thumbnail_from_file),
                                ));
                            }
                            note(e, &mut message);
                        },
                    ));
                    let files = session.take_scan_files();
                    self.intake = Some(session.into_parts());
                    put_back = self.settle_taken(&files);
                    let _ = std::fs::remove_dir_all(&dir);
                    r
                }
                None => Ok(()),
            },
            A::MoveUp(page) | A::Delete(page) | A::Answer { page, .. } => {
                match self.intake.take() {
                    Some((flow, spooled)) => {
                        let position = flow.pages().iter().position(|p| p.number == page);
                        let dropped = position.is_some_and(|i| {
                            matches!(flow.pages()[i].kind, PageKind::Dropped { .. })
                        });
                        let event = match action {
                            A::MoveUp(_) => position
                                .filter(|&i| i > 0)
                                .map(|i| IntakeEvent::MovePage { page, to: i - 1 }),
                            A::Delete(_) => Some(IntakeEvent::DeletePage(page)),
                            // A page dropped as blank is shown as a question: "a page" restores it.
                            A::Answer {
                                answer: QuestionAnswer::DocumentPage,
                                ..
                            } if dropped => Some(IntakeEvent::RestorePage(page)),
                            A::Answer {
                                answer: QuestionAnswer::Discard,
                                ..
                            } if dropped => Some(IntakeEvent::DeletePage(page)),
                            A::Answer { answer, .. } => {
                                Some(IntakeEvent::AnswerQuestion { page, answer })
                            }
                            _ => None,
                        };
                        let mut session =
                            IntakeSession::resume(&self.config, &mut self.store, flow, spooled);
                        let r = match event {
                            Some(event) => session.apply(event, &mut |e| note(e, &mut message)),
                            None => Ok(()),
                        };
                        self.intake = Some(session.into_parts());
                        r
                    }
                    None => Ok(()),
                }
            }
        };
        let mut report = self.intake_report();
        report.stored = stored;
        if let Err(e) = result {
            tracing::warn!(error = %e, "intake action refused");
            message = Some(e.to_string());
        }
        report.message = match (message, put_back) {
            (Some(m), Some(p)) => Some(format!("{m}; {p}")),
            (m, p) => m.or(p),
        };
        report
    }

    /// Signs what waits with the open key (if any); the codes signed now. A token error is the
    /// message and the key is closed (the officer opens it again: a new PIN, the token back).
    fn sign_waiting(
        &mut self,
        scope: SignScope<'_>,
        message: &mut Option<String>,
        emit: &mut dyn FnMut(Event),
    ) -> Vec<String> {
        let Some(signer) = self.signer.as_ref() else {
            return Vec::new();
        };
        let result = crate::intake::signing::sign_waiting(
            &mut self.store,
            &self.config,
            signer,
            scope,
            &mut |done, total, _| {
                emit(Event::IntakeSigning { done, total });
            },
        );
        match result {
            Ok(report) => {
                if let Some((code, error)) = report.errors.first() {
                    *message = Some(format!("{code}: {error}"));
                    if error.officer_can_fix() {
                        self.signer = None;
                    }
                }
                report.signed
            }
            Err(e) => {
                *message = Some(e.to_string());
                Vec::new()
            }
        }
    }

    /// Deletes the batch's hot-folder files whose pages were spooled and moves the others into
    /// the hot folder's `returned/` (never back into the folder the citizen screen watches too);
    /// says where they are.
    fn settle_taken(&self, files: &crate::intake::taken::ScanFiles) -> Option<String> {
        let Some(crate::devices::ScannerConfig::HotFolder { folder }) =
            &self.config.peripherals.scanner
        else {
            return None;
        };
        let settings = self.hot_folder_settings(folder);
        crate::intake::taken::settle_taken(&self.taken_dir(), &settings.returned_dir, files)
            .message()
    }

    /// What the staff screen shows of the intake in progress.
    fn intake_report(&self) -> motcua_flows::intake_screen::IntakeReportView {
        use motcua_flows::intake::PageKind;
        use motcua_flows::intake_screen::{IntakePageView, IntakeReportView};
        let base = IntakeReportView {
            signer: self.signer.as_ref().map(|s| s.describe()),
            needs_pin: crate::intake::signing::needs_pin(&self.config.signing),
            awaiting_signature: match self.store.awaiting_signature() {
                Ok(waiting) => waiting.into_iter().map(|d| d.document_code).collect(),
                Err(error) => {
                    tracing::warn!(%error, "intake: documents awaiting a signature not read");
                    Vec::new()
                }
            },
            ..IntakeReportView::default()
        };
        let Some((flow, _)) = &self.intake else {
            return base;
        };
        let plan = flow.plan();
        let pages = flow
            .pages()
            .iter()
            .map(|p| {
                let document = plan
                    .iter()
                    .find(|d| d.page_numbers.contains(&p.number))
                    .map(|d| d.name.clone());
                let label = match (&p.kind, document) {
                    (PageKind::Question, _) => format!(
                        "Trang {0}: tờ phân cách không đọc được mã? / Page {0}: unreadable separator?",
                        p.number
                    ),
                    (PageKind::Separator { index }, _) => {
                        format!("Trang {0}: tờ phân cách {index} / Page {0}: separator {index}", p.number)
                    }
                    (PageKind::Content, Some(name)) => {
                        let name = bilingual(&name);
                        format!(
                            "Trang {0} · {1} / Page {0} · {2}",
                            p.number, name.vi, name.en
                        )
                    }
                    (PageKind::Content, None) => format!("Trang {0} / Page {0}", p.number),
                    (PageKind::Dropped { reason }, _) => {
                        let why = bilingual(reason);
                        format!(
                            "Trang {0}: đã bỏ vì {1} — chạm \"Là trang tài liệu\" để khôi phục / Page {0}: dropped as {2} — touch \"A page\" to restore",
                            p.number, why.vi, why.en
                        )
                    }
                };
                IntakePageView {
                    number: p.number,
                    label,
                    question: matches!(p.kind, PageKind::Question | PageKind::Dropped { .. }),
                    thumbnail: p.thumbnail.as_deref().and_then(thumbnail_from_file),
                }
            })
            .collect();
        IntakeReportView {
            dossier: flow.dossier_code().map(str::to_owned),
            pages,
            missing: flow
                .missing_documents()
                .into_iter()
                .map(|(_, name)| name)
                .collect(),
            ..base
        }
    }
}
