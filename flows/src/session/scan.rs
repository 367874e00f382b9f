//! Routing a scanned code to the screen on show: an ID card to the submission form, a receipt
//! to the status lookup (its lookup secret too, when its QR carries one), a ticket or dossier
//! code to the rating, a code at the staff intake to the dossier it opens.

use motcua_domain::cccd;
use motcua_domain::qr_payload::{dossier_code_in, receipt_in};

use super::{wrap, Effect, Screen, Session};
use crate::intake_screen::IntakeAction;
use crate::lookup::{LookupEvent, LookupFlow};
use crate::rating::RatingEvent;
use crate::submission::{Step, SubmissionEvent};
use crate::Message;

impl Session {
    /// Routes a scanned payload to what the current screen can use.
    pub(super) fn code_scanned(&mut self, payload: &str) -> Vec<Effect> {
        let looks_like_card = {
            let t = payload.trim_start_matches('\u{feff}').trim();
            t.len() > 12 && t.as_bytes()[..12].iter().all(u8::is_ascii_digit)
        };
        match &mut self.screen {
            Screen::Submission(f) if matches!(f.step, Step::Identify | Step::Form) => {
                let event = match cccd::parse(payload) {
                    Ok(card) => SubmissionEvent::Card(Box::new(card)),
                    Err(e) => SubmissionEvent::BadCard(Message::new(
                        format!("Không đọc được thẻ căn cước. {} Hoặc chạm \"Không có thẻ — nhập tay\".", e.message_vi()),
                        "The ID card could not be read. Please scan it again, or touch \"No card — type instead\".".to_owned(),
                    )),
                };
                wrap(f.handle(event), Effect::Submission)
            }
            Screen::Lookup(f) => match receipt_in(payload) {
                Some(r) => wrap(
                    f.handle(LookupEvent::Scanned {
                        code: r.code.to_string(),
                        secret: r.secret,
                    }),
                    Effect::Lookup,
                ),
                None => {
                    f.handle(LookupEvent::Scanned {
                        code: String::new(),
                        secret: None,
                    });
                    Vec::new()
                }
            },
            Screen::Intake(i) => i
                .act(IntakeAction::Open(payload.trim().to_owned()))
                .map(Effect::Intake)
                .into_iter()
                .collect(),
            Screen::Rating(f) => {
                let code = dossier_code_in(payload)
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| payload.trim().to_owned());
                wrap(f.handle(RatingEvent::Transaction(code)), Effect::Rating)
            }
            Screen::Home => {
                if let Some(r) = receipt_in(payload) {
                    // A receipt shown at the home screen: the citizen wants its status.
                    let mut flow = LookupFlow::default();
                    let effects = flow.handle(LookupEvent::Scanned {
                        code: r.code.to_string(),
                        secret: r.secret,
                    });
                    self.screen = Screen::Lookup(flow);
                    wrap(effects, Effect::Lookup)
                } else {
                    self.notice = Some(if looks_like_card {
                        Message::new(
                            "Đã đọc thẻ căn cước. Hãy chọn \"Nộp hồ sơ\" trước, rồi quét thẻ.",
                            "ID card read. Choose \"Submit a dossier\" first, then scan the card.",
                        )
                    } else {
                        Message::new(
                            "Mã vừa quét không phải giấy tiếp nhận hồ sơ.",
                            "The code scanned is not a dossier receipt.",
                        )
                    });
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }
}
