//! Hàng đợi của trung tâm (issue #18): what the hall display says when it calls a ticket.
//!
//! The queue's state lives in the hub; this module only holds the pure rules that turn a ticket
//! and a counter into words, so that the screen, the loudspeaker and the tests agree on one
//! wording: [`words`] reads numbers in Vietnamese (and English), [`callout`] builds the sentence
//! and the `espeak-ng` voice arguments.

pub mod callout;
pub mod words;
