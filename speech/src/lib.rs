//! Giọng nói (speech) of motcua: Vietnamese and English text spoken by `espeak-ng`.
//!
//! Two users, two shapes:
//!
//! - the **hub** makes the hall display's call-out as a WAV file ([`synthesize_wav`]): the text
//!   from `motcua_domain::queue::callout`, a short two-tone chime first so that people in the hall
//!   look up before their number is read, written atomically so the display never fetches half a
//!   file;
//! - the **kiosk** speaks a screen's instruction or a ticket number straight to its sound device
//!   ([`Speaker`]): in the background, one utterance at a time, a new one cutting off the
//!   previous, and a kiosk without `espeak-ng` or without a speaker goes on silently after one
//!   warning in the log.
//!
//! The engine is the Debian `espeak-ng` program, run directly (never through a shell) with the
//! voice arguments fixed in `motcua_domain::queue::callout::espeak_args`; the text always goes on
//! its standard input, never on its command line, so no text is taken for an option and none
//! shows in the process list. Which program runs is an [`Espeak`] value, so tests and odd
//! installations can point at another path.

mod engine;
mod error;
mod speaker;
mod wav;

pub use engine::{Espeak, MAX_TEXT_CHARS};
pub use error::SpeechError;
pub use motcua_domain::queue::callout::CalloutLanguage;
pub use speaker::Speaker;
pub use wav::{AudioInfo, CHIME_HIGH_HZ, CHIME_LENGTH, CHIME_LOW_HZ};

use std::path::Path;

/// Speaks `text` in `lang` with the system's `espeak-ng` into the WAV file `out`, with the
/// chime before it when `chime` is set, and measures what was written.
///
/// Shorthand for [`Espeak::default`]`.synthesize_wav(..)`; see [`Espeak::synthesize_wav`].
pub fn synthesize_wav(
    text: &str,
    lang: CalloutLanguage,
    chime: bool,
    out: &Path,
) -> Result<AudioInfo, SpeechError> {
    Espeak::default().synthesize_wav(text, lang, chime, out)
}
