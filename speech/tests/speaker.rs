//! The kiosk's background speaker, with stand-in programs that record what they were given
//! (this machine has no sound device, so the real espeak-ng cannot be heard here): one
//! utterance at a time, a new one kills the previous, and a missing program or sound device is
//! reported once while the speaker keeps working.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use motcua_speech::{CalloutLanguage, Espeak, Speaker};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// Waits (bounded) until `ready` holds; the test fails with `what` otherwise.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    for _ in 0..500 {
        if ready() {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("gave up waiting for {what}");
}

/// The files a stand-in program wrote, one per run, named by its pid.
fn runs(dir: &Path) -> Vec<(u32, String)> {
    let mut found: Vec<(u32, String)> = fs::read_dir(dir)
        .expect("list")
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name.strip_suffix(".said")?.parse().ok()?;
            Some((pid, fs::read_to_string(e.path()).ok()?))
        })
        .collect();
    found.sort_by_key(|(_, text)| text.clone());
    found
}

#[test]
fn a_new_text_kills_the_one_still_speaking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    // Records its stdin, then "speaks" for a long time as the same process.
    let program = script(
        dir.path(),
        "espeak-slow",
        &format!("cat > {d}/$$.tmp && mv {d}/$$.tmp {d}/$$.said\nexec sleep 60"),
    );
    let speaker = Speaker::new(Espeak::with_program(&program));
    assert!(speaker.is_enabled());
    speaker.speak(
        "1 Chạm vào màn hình để bắt đầu",
        CalloutLanguage::Vietnamese,
    );
    wait_until("the first utterance", || runs(dir.path()).len() == 1);
    let (first_pid, first_text) = runs(dir.path())[0].clone();
    assert_eq!(first_text.trim_end(), "1 Chạm vào màn hình để bắt đầu");
    assert!(
        Path::new(&format!("/proc/{first_pid}")).exists(),
        "still speaking"
    );

    speaker.speak(
        "2 Số thứ tự của bạn là mười lăm",
        CalloutLanguage::Vietnamese,
    );
    wait_until("the second utterance", || runs(dir.path()).len() == 2);
    // The first was killed and reaped before the second started.
    assert!(
        !Path::new(&format!("/proc/{first_pid}")).exists(),
        "the first utterance was not stopped"
    );
    let (second_pid, second_text) = runs(dir.path())[1].clone();
    assert_eq!(second_text.trim_end(), "2 Số thứ tự của bạn là mười lăm");
    assert_eq!(speaker.utterances_started(), 2);

    speaker.stop();
    wait_until("stop to kill it", || {
        !Path::new(&format!("/proc/{second_pid}")).exists()
    });
    assert_eq!(speaker.problem(), None, "killing is not a problem");
}

#[test]
fn dropping_the_speaker_silences_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let program = script(
        dir.path(),
        "espeak-slow",
        &format!("cat > {d}/$$.tmp && mv {d}/$$.tmp {d}/$$.said\nexec sleep 60"),
    );
    let speaker = Speaker::new(Espeak::with_program(&program));
    speaker.speak("Xin chào", CalloutLanguage::Vietnamese);
    wait_until("the utterance", || runs(dir.path()).len() == 1);
    let pid = runs(dir.path())[0].0;
    drop(speaker);
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn a_missing_program_is_reported_once_and_speaking_goes_on_returning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-espeak-ng");
    let speaker = Speaker::new(Espeak::with_program(&missing));
    for _ in 0..3 {
        speaker.speak("Nghe hướng dẫn", CalloutLanguage::Vietnamese);
    }
    wait_until("the problem report", || speaker.problem().is_some());
    let problem = speaker.problem().expect("problem");
    assert!(
        problem.contains("không tìm thấy chương trình đọc"),
        "{problem}"
    );
    assert!(
        problem.contains(&missing.display().to_string()),
        "{problem}"
    );
    assert_eq!(speaker.utterances_started(), 0);
    // Still accepts orders.
    speaker.speak("Listen", CalloutLanguage::English);
    speaker.stop();
}

#[test]
fn no_sound_device_is_read_from_stderr_though_the_program_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    // What espeak-ng does on a machine without a sound card.
    let program = script(
        dir.path(),
        "espeak-nosound",
        "cat >/dev/null\necho \"ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM default\" >&2\n\
         echo 'error: No such file or directory' >&2\nexit 0",
    );
    let speaker = Speaker::new(Espeak::with_program(&program));
    speaker.speak("Xin chào", CalloutLanguage::Vietnamese);
    wait_until("the problem report", || speaker.problem().is_some());
    let problem = speaker.problem().expect("problem");
    assert!(problem.contains("không phát được tiếng"), "{problem}");
    assert!(problem.contains("No such file or directory"), "{problem}");
    // Later utterances are still tried (a speaker may be plugged in).
    speaker.speak("Xin chào lần nữa", CalloutLanguage::Vietnamese);
    wait_until("the second try", || speaker.utterances_started() == 2);
}

#[test]
fn a_silent_speaker_does_nothing() {
    let speaker = Speaker::silent();
    assert!(!speaker.is_enabled());
    speaker.speak("Xin chào", CalloutLanguage::Vietnamese);
    speaker.stop();
    assert_eq!(speaker.utterances_started(), 0);
    assert_eq!(speaker.problem(), None);
}
