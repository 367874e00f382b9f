//! The `[audio]` table: the kiosk's voice for citizens who read with difficulty.
//!
//! ```toml
//! [audio]
//! enabled = true          # the "Nghe hướng dẫn / Listen" key and the spoken ticket number
//! program = "espeak-ng"   # the speech program (Debian espeak-ng)
//! ```
//!
//! On by default: the voice is for the citizens a commune desk most needs to reach (elderly,
//! first-time, low literacy), it only speaks when a citizen presses "Listen" or a ticket prints,
//! so it adds no noise to the hall, and a kiosk without a speaker just logs one warning. A
//! centre that wants a silent kiosk (a quiet reading room, a second kiosk beside a loud one)
//! sets `enabled = false`, which also hides the Listen key.

use std::path::PathBuf;

use serde::Deserialize;

/// The `[audio]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSettings {
    /// Whether the kiosk speaks at all (and shows the Listen key).
    pub enabled: bool,
    /// The speech program, a name on `PATH` or a path.
    pub program: PathBuf,
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            program: PathBuf::from(motcua_domain::queue::callout::ESPEAK_PROGRAM),
        }
    }
}

impl AudioSettings {
    /// The background speaker these settings ask for: silent when audio is off.
    pub fn speaker(&self) -> motcua_speech::Speaker {
        if self.enabled {
            motcua_speech::Speaker::new(motcua_speech::Espeak::with_program(&self.program))
        } else {
            motcua_speech::Speaker::silent()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawAudio {
    enabled: bool,
    program: PathBuf,
}

impl Default for RawAudio {
    fn default() -> Self {
        let d = AudioSettings::default();
        Self {
            enabled: d.enabled,
            program: d.program,
        }
    }
}

impl From<RawAudio> for AudioSettings {
    fn from(raw: RawAudio) -> Self {
        Self {
            enabled: raw.enabled,
            program: raw.program,
        }
    }
}
