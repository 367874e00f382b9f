//! Câu gọi số (the call-out): what the hall display shows and says when a counter calls a ticket.
//!
//! Two texts for one call: the screen shows digits, which are quicker to read from across the
//! hall ("Mời công dân có số thứ tự 1023 đến quầy số 3"), and the loudspeaker gets the numbers
//! spelled out ("… một nghìn không trăm hai mươi ba đến quầy số ba"), so the speech engine says
//! exactly our wording whatever its own number rules are (see [`super::words`]).
//!
//! The speech itself is made by the hub with `espeak-ng`; [`espeak_args`] gives it the voice
//! arguments, so the choice of voice and speed is fixed here and tested.

use serde::{Deserialize, Serialize};

use super::words::{english_number, vietnamese_number};

/// Ngôn ngữ gọi số (the call-out language), a centre setting.
///
/// Vietnamese is the default: citizens are addressed in Vietnamese; English is for centres
/// that serve foreigners too. In settings it is written `"vietnamese"` or `"english"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CalloutLanguage {
    /// Tiếng Việt.
    #[default]
    Vietnamese,
    /// English.
    English,
}

/// The text to speak for a call, numbers in words: "Mời công dân có số thứ tự một nghìn không
/// trăm hai mươi ba đến quầy số ba" / "Ticket number one thousand twenty-three, please go to
/// counter three".
///
/// It is one line with no digits, so the engine neither reads digits its own way nor splits
/// the sentence.
pub fn callout_text(ticket_number: u32, counter: u32, lang: CalloutLanguage) -> String {
    match lang {
        CalloutLanguage::Vietnamese => vietnamese_sentence(
            &vietnamese_number(ticket_number),
            &vietnamese_number(counter),
        ),
        CalloutLanguage::English => {
            english_sentence(&english_number(ticket_number), &english_number(counter))
        }
    }
}

/// The text to show on the hall screen for a call, numbers as digits: "Mời công dân có số thứ
/// tự 1023 đến quầy số 3" / "Ticket number 1023, please go to counter 3".
///
/// Same sentence as [`callout_text`], so what is heard and what is seen never disagree.
pub fn callout_display_text(ticket_number: u32, counter: u32, lang: CalloutLanguage) -> String {
    let (ticket, counter) = (ticket_number.to_string(), counter.to_string());
    match lang {
        CalloutLanguage::Vietnamese => vietnamese_sentence(&ticket, &counter),
        CalloutLanguage::English => english_sentence(&ticket, &counter),
    }
}

/// The one Vietnamese sentence, shared by the spoken and the shown text.
fn vietnamese_sentence(ticket: &str, counter: &str) -> String {
    format!("Mời công dân có số thứ tự {ticket} đến quầy số {counter}")
}

/// The one English sentence, shared by the spoken and the shown text.
fn english_sentence(ticket: &str, counter: &str) -> String {
    format!("Ticket number {ticket}, please go to counter {counter}")
}

/// The speech program the hub runs for a call-out.
pub const ESPEAK_PROGRAM: &str = "espeak-ng";

/// Speaking speed in words per minute. `espeak-ng`'s default, 175, is hurried for a large,
/// noisy hall where people listen for their number; 150 is slower but still natural.
pub const ESPEAK_SPEED_WPM: u32 = 150;

/// Arguments for [`ESPEAK_PROGRAM`] to speak a call-out in `lang`.
///
/// The text is **not** among them: the hub writes [`callout_text`] to the child's stdin and
/// closes it. That keeps the text from ever being taken for an option, and the program is
/// started directly (`std::process::Command`), **never through a shell**, so no character of
/// the text can be interpreted. The arguments are:
///
/// - `-v vi` (espeak-ng's "Vietnamese (Northern)" voice, matching the Northern readings of
///   [`super::words`]) or `-v en` (English);
/// - `-s 150`, see [`ESPEAK_SPEED_WPM`];
/// - `-b 1`: the input is UTF-8. Otherwise espeak-ng guesses the encoding, and a kiosk service
///   runs without a UTF-8 locale; the Vietnamese diacritics must never be misread;
/// - `--stdin`: read stdin to its end as one text, rather than line by line.
///
/// The hub may add output options (such as `-w FILE` or `--stdout`) after these.
pub fn espeak_args(lang: CalloutLanguage) -> Vec<String> {
    let voice = match lang {
        CalloutLanguage::Vietnamese => "vi",
        CalloutLanguage::English => "en",
    };
    [
        "-v",
        voice,
        "-s",
        &ESPEAK_SPEED_WPM.to_string(),
        "-b",
        "1",
        "--stdin",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_callout_speaks_words_and_shows_digits() {
        let lang = CalloutLanguage::Vietnamese;
        assert_eq!(
            callout_text(1023, 3, lang),
            "Mời công dân có số thứ tự một nghìn không trăm hai mươi ba đến quầy số ba"
        );
        assert_eq!(
            callout_display_text(1023, 3, lang),
            "Mời công dân có số thứ tự 1023 đến quầy số 3"
        );
        assert_eq!(
            callout_text(15, 21, lang),
            "Mời công dân có số thứ tự mười lăm đến quầy số hai mươi mốt"
        );
        assert_eq!(
            callout_text(105, 14, lang),
            "Mời công dân có số thứ tự một trăm linh năm đến quầy số mười bốn"
        );
    }

    #[test]
    fn english_callout_speaks_words_and_shows_digits() {
        let lang = CalloutLanguage::English;
        assert_eq!(
            callout_text(1023, 3, lang),
            "Ticket number one thousand twenty-three, please go to counter three"
        );
        assert_eq!(
            callout_display_text(1023, 3, lang),
            "Ticket number 1023, please go to counter 3"
        );
        assert_eq!(
            callout_text(7, 12, lang),
            "Ticket number seven, please go to counter twelve"
        );
    }

    #[test]
    fn spoken_text_is_one_line_without_digits() {
        for lang in [CalloutLanguage::Vietnamese, CalloutLanguage::English] {
            for (ticket, counter) in [
                (0, 0),
                (1, 1),
                (1023, 3),
                (999_999, 40),
                (u32::MAX, u32::MAX),
            ] {
                let text = callout_text(ticket, counter, lang);
                assert!(!text.chars().any(|c| c.is_ascii_digit()), "{text:?}");
                assert!(!text.contains('\n') && !text.starts_with('-'), "{text:?}");
                let shown = callout_display_text(ticket, counter, lang);
                assert!(shown.contains(&ticket.to_string()), "{shown:?}");
                assert!(shown.ends_with(&counter.to_string()), "{shown:?}");
            }
        }
    }

    #[test]
    fn espeak_arguments_pick_the_voice_and_never_carry_the_text() {
        assert_eq!(
            espeak_args(CalloutLanguage::Vietnamese),
            ["-v", "vi", "-s", "150", "-b", "1", "--stdin"]
        );
        assert_eq!(
            espeak_args(CalloutLanguage::English),
            ["-v", "en", "-s", "150", "-b", "1", "--stdin"]
        );
    }

    #[test]
    fn language_setting_defaults_to_vietnamese_and_reads_lowercase_names() {
        assert_eq!(CalloutLanguage::default(), CalloutLanguage::Vietnamese);
        let english: CalloutLanguage = serde_json::from_str("\"english\"").expect("english");
        assert_eq!(english, CalloutLanguage::English);
        assert_eq!(
            serde_json::to_string(&CalloutLanguage::Vietnamese).expect("serialize"),
            "\"vietnamese\""
        );
        assert!(serde_json::from_str::<CalloutLanguage>("\"French\"").is_err());
    }
}
