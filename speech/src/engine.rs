//! Running `espeak-ng`: to a WAV file for the hub, to the sound device for the kiosk.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;

use motcua_domain::queue::callout::{espeak_args, CalloutLanguage, ESPEAK_PROGRAM};

use crate::error::SpeechError;
use crate::wav::{self, AudioInfo};

/// The longest text spoken at once, in characters.
///
/// A call-out is under 100 characters and a screen's instruction a few hundred; the bound keeps
/// a wrong caller from tying the engine (and the sound) up for minutes.
pub const MAX_TEXT_CHARS: usize = 2000;

/// How much of the program's stderr an error keeps: enough for espeak-ng's one-line messages.
const STDERR_KEPT: usize = 500;

/// The speech engine: which `espeak-ng` program runs.
///
/// [`Espeak::default`] is `espeak-ng` found on `PATH` (the Debian package); [`Espeak::with_program`]
/// names another path, for tests (a missing program must give a clear error) and for
/// installations that keep it elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Espeak {
    program: PathBuf,
}

impl Default for Espeak {
    fn default() -> Self {
        Self::with_program(ESPEAK_PROGRAM)
    }
}

impl Espeak {
    /// The engine run from `program` (a name looked up on `PATH`, or a path).
    pub fn with_program(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }

    /// The program this engine runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Speaks `text` in `lang` into the WAV file `out` (16-bit PCM mono at espeak-ng's sample
    /// rate), with a two-tone chime and a short pause before the speech when `chime` is set.
    ///
    /// The file appears whole or not at all: it is written to a temporary file in `out`'s
    /// folder, flushed to disk and renamed over `out`, so a display fetching the call-out never
    /// plays half of it and an old file stays until the new one is complete. The returned
    /// [`AudioInfo`] is measured on the samples written, chime included.
    pub fn synthesize_wav(
        &self,
        text: &str,
        lang: CalloutLanguage,
        chime: bool,
        out: &Path,
    ) -> Result<AudioInfo, SpeechError> {
        let text = checked_text(text)?;
        let mut args = espeak_args(lang);
        args.push("--stdout".to_owned());
        let mut child = self.spawn(&args, Stdio::piped())?;
        let stdin = child.stdin.take();
        let writer = thread::spawn({
            let text = text.to_owned();
            move || write_text(stdin, &text)
        });
        let mut stdout = Vec::new();
        let read = child
            .stdout
            .take()
            .map(|mut s| s.read_to_end(&mut stdout))
            .transpose();
        let mut stderr = Vec::new();
        if let Some(mut s) = child.stderr.take() {
            // Best effort: stderr only decorates the error message.
            let _ = s.read_to_end(&mut stderr);
        }
        let status = child.wait().map_err(|source| self.spawn_error(source))?;
        let written = writer.join().unwrap_or(Ok(()));
        read.map_err(|source| self.spawn_error(source))?;
        if !status.success() {
            return Err(self.failed(status.to_string(), &stderr));
        }
        written.map_err(|source| self.spawn_error(source))?;
        let speech = wav::parse_espeak_wav(&stdout).map_err(|reason| SpeechError::BadAudio {
            program: self.program.clone(),
            reason,
        })?;
        let samples = if chime {
            wav::with_chime(&speech.samples, speech.sample_rate)
        } else {
            speech.samples
        };
        wav::write_atomically(out, &samples, speech.sample_rate)?;
        Ok(AudioInfo::measure(&samples, speech.sample_rate))
    }

    /// Starts the program speaking `text` in `lang` to the default sound device (espeak-ng
    /// plays it itself), with stdout discarded and stderr piped for the caller to read once the
    /// child has ended: espeak-ng reports a missing sound device there and still exits 0.
    pub(crate) fn spawn_playing(
        &self,
        text: &str,
        lang: CalloutLanguage,
    ) -> Result<Child, SpeechError> {
        let text = checked_text(text)?;
        let mut child = self.spawn(&espeak_args(lang), Stdio::null())?;
        // The text is short (see MAX_TEXT_CHARS) and espeak-ng reads all of its stdin before it
        // speaks, so writing it here cannot wait on the speech.
        write_text(child.stdin.take(), text).map_err(|source| self.spawn_error(source))?;
        Ok(child)
    }

    fn spawn(&self, args: &[String], stdout: Stdio) -> Result<Child, SpeechError> {
        Command::new(&self.program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| self.spawn_error(source))
    }

    pub(crate) fn spawn_error(&self, source: io::Error) -> SpeechError {
        if source.kind() == io::ErrorKind::NotFound {
            SpeechError::ProgramMissing {
                program: self.program.clone(),
            }
        } else {
            SpeechError::Spawn {
                program: self.program.clone(),
                source,
            }
        }
    }

    pub(crate) fn failed(&self, status: String, stderr: &[u8]) -> SpeechError {
        let text = String::from_utf8_lossy(stderr);
        let stderr: String = text.trim().chars().take(STDERR_KEPT).collect();
        SpeechError::ProgramFailed {
            program: self.program.clone(),
            status,
            stderr,
        }
    }
}

/// The text as it will be spoken: trimmed, not empty, within [`MAX_TEXT_CHARS`].
fn checked_text(text: &str) -> Result<&str, SpeechError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SpeechError::EmptyText);
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(SpeechError::TextTooLong {
            chars,
            max: MAX_TEXT_CHARS,
        });
    }
    Ok(text)
}

/// Writes the text and closes the child's stdin, which ends espeak-ng's `--stdin` input.
fn write_text(stdin: Option<std::process::ChildStdin>, text: &str) -> io::Result<()> {
    let Some(mut stdin) = stdin else {
        return Ok(());
    };
    stdin.write_all(text.as_bytes())?;
    stdin.write_all(b"\n")
}
