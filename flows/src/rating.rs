//! Rating: one rating per transaction (a ticket or a dossier), on the configured scale.

use motcua_domain::rating::RatingScale;

use super::text_entry::{Key, TextEntry};
use super::Message;

/// Where the rating is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingStep {
    /// Which transaction: a ticket or dossier code, scanned or typed.
    Entry {
        /// Why the last code was refused.
        error: Option<Message>,
    },
    /// Choosing the level for `transaction`.
    Choose {
        /// The ticket id or dossier code.
        transaction: String,
        /// Why the last try failed (already rated, store error).
        error: Option<Message>,
    },
    /// Recording.
    Saving {
        /// The transaction.
        transaction: String,
        /// The level chosen.
        level: u8,
    },
    /// Thank you.
    Done,
}

/// Events of the rating flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingEvent {
    /// A key into the code field.
    Key(Key),
    /// Use the typed code.
    Submit,
    /// A receipt or ticket code was scanned (or handed over by the ticket flow).
    Transaction(String),
    /// The citizen chose a level (1 = best).
    Choose(u8),
    /// The store answered.
    Saved(Result<(), Message>),
}

/// Effects of the rating flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingEffect {
    /// Record the rating durably (the store refuses a second one for the same transaction).
    Rate {
        /// The ticket id or dossier code.
        transaction: String,
        /// The level.
        level: u8,
    },
}

/// The rating flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingFlow {
    /// The scale (3 or 5 levels, from the config).
    pub scale: RatingScale,
    /// The code field.
    pub code: TextEntry,
    /// Where it is.
    pub step: RatingStep,
}

impl RatingFlow {
    /// A rating on `scale`, for a transaction still to be given.
    pub fn new(scale: RatingScale) -> Self {
        Self {
            scale,
            code: TextEntry::new("", 64),
            step: RatingStep::Entry { error: None },
        }
    }

    /// A rating of a known transaction (the ticket just taken, the dossier just submitted).
    pub fn for_transaction(scale: RatingScale, transaction: &str) -> Self {
        let mut flow = Self::new(scale);
        flow.handle(RatingEvent::Transaction(transaction.to_owned()));
        flow
    }

    /// Applies an event.
    pub fn handle(&mut self, event: RatingEvent) -> Vec<RatingEffect> {
        match (event, &self.step) {
            (RatingEvent::Key(k), RatingStep::Entry { .. }) => {
                // Ticket and dossier codes never go through Telex ("DD" stays "DD").
                self.step = RatingStep::Entry { error: None };
                self.code.press_code(&k);
                Vec::new()
            }
            (RatingEvent::Submit, RatingStep::Entry { .. }) => {
                let code = self.code.text();
                self.set_transaction(code.trim());
                Vec::new()
            }
            (RatingEvent::Transaction(code), RatingStep::Entry { .. }) => {
                self.set_transaction(code.trim());
                Vec::new()
            }
            (RatingEvent::Choose(level), RatingStep::Choose { transaction, .. }) => {
                if level == 0 || level > self.scale.levels() {
                    return Vec::new();
                }
                let transaction = transaction.clone();
                self.step = RatingStep::Saving {
                    transaction: transaction.clone(),
                    level,
                };
                vec![RatingEffect::Rate { transaction, level }]
            }
            (RatingEvent::Saved(result), RatingStep::Saving { transaction, .. }) => {
                self.step = match result {
                    Ok(()) => RatingStep::Done,
                    Err(error) => RatingStep::Choose {
                        transaction: transaction.clone(),
                        error: Some(error),
                    },
                };
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn set_transaction(&mut self, code: &str) {
        // A hub ticket's QR is its id and rating code (about 50 characters, up to 100).
        if code.len() < 4 || code.len() > 100 || code.chars().any(char::is_control) {
            self.step = RatingStep::Entry {
                error: Some(Message::new(
                    "Hãy quét hoặc nhập mã số thứ tự hay mã hồ sơ cần đánh giá.",
                    "Scan or type the ticket or dossier code you want to rate.",
                )),
            };
            return;
        }
        self.step = RatingStep::Choose {
            transaction: code.to_owned(),
            error: None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_a_ticket_once() {
        let mut f = RatingFlow::for_transaction(RatingScale::Three, "TP-20261123-7@K1");
        assert!(
            f.handle(RatingEvent::Choose(4)).is_empty(),
            "no level 4 on a 3-level scale"
        );
        assert_eq!(
            f.handle(RatingEvent::Choose(1)),
            vec![RatingEffect::Rate {
                transaction: "TP-20261123-7@K1".into(),
                level: 1
            }]
        );
        // A double tap while saving does not rate twice.
        assert!(f.handle(RatingEvent::Choose(2)).is_empty());
        f.handle(RatingEvent::Saved(Ok(())));
        assert_eq!(f.step, RatingStep::Done);
    }

    #[test]
    fn letters_are_typed_as_they_are_never_through_telex() {
        let mut f = RatingFlow::new(RatingScale::Five);
        // D, A, E, O, W and the tone keys S, F, R, X, J are Telex keys; codes hold them.
        for c in "dd-aas-ww@kee".chars() {
            f.handle(RatingEvent::Key(Key::Char(c)));
        }
        assert_eq!(f.code.text(), "DD-AAS-WW@KEE");
        f.handle(RatingEvent::Key(Key::Backspace));
        for c in "ofrxj".chars() {
            f.handle(RatingEvent::Key(Key::Char(c)));
        }
        assert_eq!(f.code.text(), "DD-AAS-WW@KEOFRXJ");
        f.handle(RatingEvent::Submit);
        assert!(
            matches!(&f.step, RatingStep::Choose { transaction, .. } if transaction == "DD-AAS-WW@KEOFRXJ"),
            "{:?}",
            f.step
        );
    }

    #[test]
    fn already_rated_is_said_and_typed_codes_are_checked() {
        let mut f = RatingFlow::new(RatingScale::Five);
        f.handle(RatingEvent::Submit);
        assert!(matches!(f.step, RatingStep::Entry { error: Some(_) }));
        for c in "tp-20261123-7@k1".chars() {
            f.handle(RatingEvent::Key(Key::Char(c)));
        }
        f.handle(RatingEvent::Submit);
        assert!(
            matches!(&f.step, RatingStep::Choose { transaction, .. } if transaction == "TP-20261123-7@K1")
        );
        f.handle(RatingEvent::Choose(5));
        f.handle(RatingEvent::Saved(Err(Message::new(
            "đã đánh giá",
            "already rated",
        ))));
        assert!(matches!(f.step, RatingStep::Choose { error: Some(_), .. }));
    }
}
