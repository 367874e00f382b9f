//! WAV in and out: espeak-ng's output read, the chime made at its sample rate, the measured
//! [`AudioInfo`], and the atomic write of the result.

use std::f32::consts::PI;
use std::fs::File;
use std::io::{Cursor, Write};
use std::path::Path;
use std::time::Duration;

use crate::error::SpeechError;

/// The chime's first (higher) tone: E5, the "ding" of a two-tone "ding-dong".
pub const CHIME_HIGH_HZ: f32 = 659.25;
/// The chime's second (lower) tone: C5, a major third below, the "dong".
pub const CHIME_LOW_HZ: f32 = 523.25;
/// How long the chime lasts, pause before the speech included: long enough to make heads turn,
/// short enough not to delay the number.
pub const CHIME_LENGTH: Duration = Duration::from_millis(850);

/// Each tone's length; the rest of [`CHIME_LENGTH`] is the pause before the speech.
const TONE: Duration = Duration::from_millis(300);
/// The chime's peak level, as a share of full scale: clearly heard, softer than the voice
/// (espeak-ng peaks near full scale) so the number stays the loudest thing.
const CHIME_LEVEL: f32 = 0.45;

/// What was written, measured on the samples themselves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioInfo {
    /// How long it plays.
    pub duration: Duration,
    /// Samples per second (espeak-ng's own rate, 22 050 Hz for its voices).
    pub sample_rate: u32,
    /// How many samples (one channel).
    pub samples: u64,
    /// The largest absolute sample, 0.0 ..= 1.0 of full scale.
    pub peak: f32,
    /// The root mean square of the samples, 0.0 ..= 1.0 of full scale: near 0 means silence.
    pub rms: f32,
}

impl AudioInfo {
    /// Measures 16-bit samples played at `sample_rate`.
    pub(crate) fn measure(samples: &[i16], sample_rate: u32) -> Self {
        let mut peak = 0.0f32;
        let mut sum_squares = 0.0f64;
        for &s in samples {
            let v = f32::from(s) / 32768.0;
            peak = peak.max(v.abs());
            sum_squares += f64::from(v) * f64::from(v);
        }
        let n = samples.len() as u64;
        let rms = if n == 0 {
            0.0
        } else {
            (sum_squares / n as f64).sqrt() as f32
        };
        let duration = if sample_rate == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(n as f64 / f64::from(sample_rate))
        };
        Self {
            duration,
            sample_rate,
            samples: n,
            peak,
            rms,
        }
    }
}

/// Speech as read from espeak-ng.
pub(crate) struct Speech {
    pub samples: Vec<i16>,
    pub sample_rate: u32,
}

/// Reads espeak-ng's `--stdout` WAV.
///
/// Writing to a pipe, espeak-ng cannot go back to fill in the lengths, so its header claims a
/// RIFF and a data chunk of about 2 GiB (0x7ffff000). The data chunk's length is set here to
/// the bytes actually received before the file is parsed; a WAV with true lengths is left as it is.
pub(crate) fn parse_espeak_wav(bytes: &[u8]) -> Result<Speech, String> {
    let mut bytes = bytes.to_vec();
    fix_stream_lengths(&mut bytes)?;
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(format!(
            "expected 16-bit PCM mono, got {} channel(s) of {} bits ({:?})",
            spec.channels, spec.bits_per_sample, spec.sample_format
        ));
    }
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if samples.is_empty() {
        return Err("no samples".to_owned());
    }
    Ok(Speech {
        samples,
        sample_rate: spec.sample_rate,
    })
}

/// Caps the RIFF length and the data chunk's length at what the bytes hold (see
/// [`parse_espeak_wav`]), walking the chunks from the start.
fn fix_stream_lengths(bytes: &mut [u8]) -> Result<(), String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".to_owned());
    }
    let total = bytes.len();
    let riff_len = u32::try_from(total - 8).map_err(|_| "file too large".to_owned())?;
    bytes[4..8].copy_from_slice(&riff_len.to_le_bytes());
    let mut at = 12usize;
    while at + 8 <= total {
        let len = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let body = at + 8;
        if &bytes[at..at + 4] == b"data" {
            let available = total - body;
            let len = (len as usize).min(available) & !1;
            let len = u32::try_from(len).map_err(|_| "data too large".to_owned())?;
            bytes[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
            return Ok(());
        }
        // Chunks are padded to an even length.
        at = body
            .saturating_add(len as usize)
            .saturating_add(len as usize & 1);
    }
    Err("no data chunk".to_owned())
}

/// The chime, then a pause, then `speech`, all at `sample_rate`.
pub(crate) fn with_chime(speech: &[i16], sample_rate: u32) -> Vec<i16> {
    let mut out = chime(sample_rate);
    out.extend_from_slice(speech);
    out
}

/// A two-tone chime of [`CHIME_LENGTH`]: [`CHIME_HIGH_HZ`] then [`CHIME_LOW_HZ`], each struck
/// like a bell (a 5 ms rise, then an exponential decay, ending at zero so nothing clicks),
/// followed by silence up to [`CHIME_LENGTH`].
pub(crate) fn chime(sample_rate: u32) -> Vec<i16> {
    let rate = sample_rate as f32;
    let total = (CHIME_LENGTH.as_secs_f32() * rate) as usize;
    let tone = (TONE.as_secs_f32() * rate) as usize;
    let rise = (0.005 * rate).max(1.0);
    let mut out = Vec::with_capacity(total);
    for freq in [CHIME_HIGH_HZ, CHIME_LOW_HZ] {
        for i in 0..tone {
            let t = i as f32 / rate;
            let attack = (i as f32 / rise).min(1.0);
            // Decays to about 5 % by the end of the tone, then a linear fade of the last 5 ms.
            let decay = (-3.0 * i as f32 / tone as f32).exp();
            let tail = ((tone - i) as f32 / rise).min(1.0);
            let v = CHIME_LEVEL * attack * decay * tail * (2.0 * PI * freq * t).sin();
            out.push((v * 32767.0) as i16);
        }
    }
    out.resize(total.max(out.len()), 0);
    out
}

/// Writes `samples` as a 16-bit mono WAV at `out`, atomically: a temporary file in the same
/// folder, synced, renamed over `out`, and the folder synced so the rename survives a power cut.
pub(crate) fn write_atomically(
    out: &Path,
    samples: &[i16],
    sample_rate: u32,
) -> Result<(), SpeechError> {
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SpeechError::Write { path, source }
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut encoded = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut writer =
            hound::WavWriter::new(&mut encoded, spec).map_err(|e| SpeechError::Write {
                path: out.to_path_buf(),
                source: hound_io(e),
            })?;
        let mut i16_writer = writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            i16_writer.write_sample(s);
        }
        let finished = i16_writer.flush().and_then(|()| writer.finalize());
        finished.map_err(|e| SpeechError::Write {
            path: out.to_path_buf(),
            source: hound_io(e),
        })?;
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".speech-")
        .suffix(".wav.tmp")
        .tempfile_in(dir)
        .map_err(write_err(dir))?;
    tmp.write_all(encoded.get_ref())
        .map_err(write_err(tmp.path()))?;
    tmp.as_file().sync_all().map_err(write_err(tmp.path()))?;
    tmp.persist(out).map_err(|e| SpeechError::Write {
        path: out.to_path_buf(),
        source: e.error,
    })?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err(dir))
}

/// hound's error as an I/O error, for [`SpeechError::Write`].
fn hound_io(e: hound::Error) -> std::io::Error {
    match e {
        hound::Error::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chime_is_two_tones_then_silence_and_ends_without_a_click() {
        let rate = 22_050;
        let c = chime(rate);
        assert_eq!(c.len(), (CHIME_LENGTH.as_secs_f32() * rate as f32) as usize);
        let tone = (TONE.as_secs_f32() * rate as f32) as usize;
        let loud = |s: &[i16]| AudioInfo::measure(s, rate).rms;
        assert!(loud(&c[..tone]) > 0.05 && loud(&c[tone..2 * tone]) > 0.05);
        assert!(c[2 * tone..].iter().all(|&s| s == 0));
        assert!(c[tone - 1].abs() < 200 && c[2 * tone - 1].abs() < 200);
        let peak = AudioInfo::measure(&c, rate).peak;
        assert!(
            peak <= CHIME_LEVEL + 0.01 && peak > CHIME_LEVEL / 2.0,
            "{peak}"
        );
    }

    #[test]
    fn streaming_header_lengths_are_capped_at_the_bytes_received() {
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&0x7fff_f024u32.to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&[1, 0, 1, 0]);
        wav.extend_from_slice(&22_050u32.to_le_bytes());
        wav.extend_from_slice(&44_100u32.to_le_bytes());
        wav.extend_from_slice(&[2, 0, 16, 0]);
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&0x7fff_f000u32.to_le_bytes());
        for s in [1i16, -2, 300, -400] {
            wav.extend_from_slice(&s.to_le_bytes());
        }
        wav.push(7); // a half sample at the end of the pipe
        let speech = parse_espeak_wav(&wav).expect("parses");
        assert_eq!(speech.samples, [1, -2, 300, -400]);
        assert_eq!(speech.sample_rate, 22_050);
        assert!(parse_espeak_wav(b"RIFF\0\0\0\0WAVE").is_err());
        assert!(parse_espeak_wav(b"not audio at all").is_err());
    }

    #[test]
    fn measure_gives_duration_peak_and_rms() {
        let info = AudioInfo::measure(&[16384, -16384, 16384, -32768], 4);
        assert_eq!(info.duration, Duration::from_secs(1));
        assert_eq!(info.samples, 4);
        assert!((info.peak - 1.0).abs() < 1e-6);
        assert!((info.rms - (1.75f32 / 4.0).sqrt()).abs() < 1e-3);
        assert_eq!(AudioInfo::measure(&[], 22_050).rms, 0.0);
    }
}
