//! Call-out WAV files made with the real `espeak-ng`, measured by the real `sox` (Debian
//! packages, installed by scripts/install-deps.sh): long enough to be speech, not silent, the
//! chime first, and clear errors when the program is missing or fails.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use motcua_domain::queue::callout::callout_text;
use motcua_speech::{
    synthesize_wav, CalloutLanguage, Espeak, SpeechError, CHIME_HIGH_HZ, CHIME_LENGTH,
};

/// What `sox FILE -n stat` says of a file (or of a part of it).
#[derive(Debug)]
struct SoxStat {
    length_s: f64,
    rms: f64,
    max: f64,
    min: f64,
    rough_hz: f64,
}

/// Runs `sox <file> -n [effects…] stat` and reads its report, which it writes on stderr.
fn sox_stat(file: &Path, effects: &[&str]) -> SoxStat {
    let out = Command::new("sox")
        .arg(file)
        .arg("-n")
        .args(effects)
        .arg("stat")
        .output()
        .expect("sox runs (apt-get install sox)");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sox failed: {report}");
    let field = |name: &str| -> f64 {
        report
            .lines()
            .find_map(|l| {
                let (key, value) = l.split_once(':')?;
                (key.trim() == name).then(|| value.trim().parse::<f64>().ok())?
            })
            .unwrap_or_else(|| panic!("no {name:?} in sox's report:\n{report}"))
    };
    SoxStat {
        length_s: field("Length (seconds)"),
        rms: field("RMS     amplitude"),
        max: field("Maximum amplitude"),
        min: field("Minimum amplitude"),
        rough_hz: field("Rough   frequency"),
    }
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn vietnamese_and_english_callouts_are_plausible_speech_that_sox_agrees_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (lang, name) in [
        (CalloutLanguage::Vietnamese, "vi.wav"),
        (CalloutLanguage::English, "en.wav"),
    ] {
        let out = dir.path().join(name);
        let text = callout_text(1023, 3, lang);
        let info = synthesize_wav(&text, lang, true, &out).expect("synthesized");
        let stat = sox_stat(&out, &[]);
        assert!(
            (1.5..=15.0).contains(&stat.length_s),
            "{lang:?}: {} s is not a plausible call-out",
            stat.length_s
        );
        assert!(stat.rms > 0.01, "{lang:?}: silent (RMS {})", stat.rms);
        // What we measured is what sox measures.
        assert!(
            (info.duration.as_secs_f64() - stat.length_s).abs() < 0.01,
            "{info:?} {stat:?}"
        );
        assert!(
            (f64::from(info.rms) - stat.rms).abs() < 0.01,
            "{info:?} {stat:?}"
        );
        let peak = stat.max.abs().max(stat.min.abs());
        assert!(
            (f64::from(info.peak) - peak).abs() < 0.01,
            "{info:?} {stat:?}"
        );
        assert_eq!(info.sample_rate, 22_050, "espeak-ng's own rate");
        // No temporary file is left beside it.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(
            names.iter().all(|n| n.to_string_lossy().ends_with(".wav")),
            "{names:?}"
        );
    }
}

#[test]
fn the_chime_comes_first_and_lasts_its_length() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lang = CalloutLanguage::Vietnamese;
    let text = callout_text(1023, 3, lang);
    let with = dir.path().join("with.wav");
    let without = dir.path().join("without.wav");
    let chimed = synthesize_wav(&text, lang, true, &with).expect("with chime");
    let plain = synthesize_wav(&text, lang, false, &without).expect("without chime");
    let added = chimed.duration.saturating_sub(plain.duration);
    assert!(
        (added.as_secs_f64() - CHIME_LENGTH.as_secs_f64()).abs() < 0.01,
        "the chime added {added:?}"
    );
    // The first 0.25 s is the high tone, loud and at its pitch (sox's zero-crossing estimate).
    let head = sox_stat(&with, &["trim", "0", "0.25"]);
    assert!(head.rms > 0.05, "no chime at the start: {head:?}");
    let pitch_error = (head.rough_hz - f64::from(CHIME_HIGH_HZ)).abs() / f64::from(CHIME_HIGH_HZ);
    assert!(
        pitch_error < 0.05,
        "the start is not the chime's tone: {head:?}"
    );
    // Without the chime, the start is speech, not that tone.
    let plain_head = sox_stat(&without, &["trim", "0", "0.25"]);
    assert!(
        (plain_head.rough_hz - f64::from(CHIME_HIGH_HZ)).abs() / f64::from(CHIME_HIGH_HZ) > 0.05
            || plain_head.rms < 0.05,
        "{plain_head:?}"
    );
}

#[test]
fn the_text_goes_on_stdin_never_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let program = script(
        dir.path(),
        "espeak-spy",
        &format!("printf '%s\\n' \"$@\" > {d}/args.txt\ntee {d}/stdin.txt | exec espeak-ng \"$@\""),
    );
    let out = dir.path().join("out.wav");
    let text = "--help Mời công dân có số thứ tự mười lăm";
    let info = Espeak::with_program(&program)
        .synthesize_wav(text, CalloutLanguage::Vietnamese, false, &out)
        .expect("synthesized through the spy");
    assert!(info.rms > 0.01, "{info:?}");
    let args = fs::read_to_string(dir.path().join("args.txt")).expect("args");
    assert_eq!(args, "-v\nvi\n-s\n150\n-b\n1\n--stdin\n--stdout\n");
    let stdin = fs::read_to_string(dir.path().join("stdin.txt")).expect("stdin");
    assert_eq!(stdin.trim_end(), text);
}

#[test]
fn a_missing_program_is_a_clear_error_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("callout.wav");
    let missing = dir.path().join("no-such-espeak-ng");
    let err = Espeak::with_program(&missing)
        .synthesize_wav("Xin chào", CalloutLanguage::Vietnamese, true, &out)
        .expect_err("no program");
    assert!(matches!(err, SpeechError::ProgramMissing { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("không tìm thấy chương trình đọc"),
        "{message}"
    );
    assert!(message.contains("was not found"), "{message}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(!out.exists());
}

#[test]
fn a_failing_program_leaves_the_previous_file_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("callout.wav");
    synthesize_wav("Xin chào", CalloutLanguage::Vietnamese, false, &out).expect("first file");
    let before = fs::read(&out).expect("read");
    let failing = script(
        dir.path(),
        "espeak-broken",
        "echo 'voice vi not found' >&2\nexit 3",
    );
    let err = Espeak::with_program(&failing)
        .synthesize_wav("Xin chào", CalloutLanguage::Vietnamese, false, &out)
        .expect_err("fails");
    let message = err.to_string();
    assert!(matches!(err, SpeechError::ProgramFailed { .. }), "{err:?}");
    assert!(
        message.contains("voice vi not found") && message.contains("báo lỗi"),
        "{message}"
    );
    let garbage = script(
        dir.path(),
        "espeak-garbage",
        "cat >/dev/null\necho not-a-wav",
    );
    let err = Espeak::with_program(&garbage)
        .synthesize_wav("Xin chào", CalloutLanguage::Vietnamese, false, &out)
        .expect_err("not audio");
    assert!(matches!(err, SpeechError::BadAudio { .. }), "{err:?}");
    assert_eq!(
        fs::read(&out).expect("read"),
        before,
        "the old file is untouched"
    );
}

#[test]
fn empty_and_overlong_texts_are_refused_before_running_anything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x.wav");
    let missing = Espeak::with_program(dir.path().join("absent"));
    let err = missing
        .synthesize_wav("  \n", CalloutLanguage::English, true, &out)
        .expect_err("empty");
    assert!(matches!(err, SpeechError::EmptyText), "{err:?}");
    let long = "a".repeat(motcua_speech::MAX_TEXT_CHARS + 1);
    let err = missing
        .synthesize_wav(&long, CalloutLanguage::English, true, &out)
        .expect_err("long");
    assert!(matches!(err, SpeechError::TextTooLong { .. }), "{err:?}");
}
