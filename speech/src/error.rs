//! What can go wrong when speaking, in words a technician reads (Vietnamese first, then English).

use std::io;
use std::path::PathBuf;

/// An error of speech synthesis. Every variant names the program or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// The speech program is not installed (or not at the configured path).
    #[error(
        "không tìm thấy chương trình đọc {program} (cài gói espeak-ng) / the speech program \
         {program} was not found (install the espeak-ng package)"
    )]
    ProgramMissing {
        /// The program that was looked for.
        program: PathBuf,
    },
    /// The program exists but could not be started or talked to.
    #[error(
        "không chạy được chương trình đọc {program} / could not run the speech program \
         {program}: {source}"
    )]
    Spawn {
        /// The program that was started.
        program: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// The program ran and failed.
    #[error(
        "chương trình đọc {program} báo lỗi ({status}) / the speech program {program} failed \
         ({status}): {stderr}"
    )]
    ProgramFailed {
        /// The program that failed.
        program: PathBuf,
        /// Its exit status, as text.
        status: String,
        /// The start of what it wrote on stderr.
        stderr: String,
    },
    /// Nothing to say: the text is empty or only spaces.
    #[error("không có nội dung để đọc / there is no text to speak")]
    EmptyText,
    /// The text is longer than [`crate::MAX_TEXT_CHARS`].
    #[error(
        "nội dung cần đọc quá dài ({chars} ký tự, tối đa {max}) / the text to speak is too long \
         ({chars} characters, at most {max})"
    )]
    TextTooLong {
        /// Characters in the text.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The program's output is not a WAV file we can read (16-bit PCM mono).
    #[error(
        "âm thanh do {program} tạo ra không đọc được / the audio made by {program} is not \
         readable: {reason}"
    )]
    BadAudio {
        /// The program that made it.
        program: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The output file could not be written.
    #[error(
        "không ghi được tệp âm thanh {path} / could not write the audio file {path}: {source}"
    )]
    Write {
        /// The file (or its folder) that failed.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}
