//! Keyboard-mode (HID wedge) reader: the key-event decoder, fed the events a reader sends.

use std::time::Duration;

use motcua_scanner::codes::{
    DropReason, Framed, KeyDecoder, Payload, ReaderEvent, WedgeConfig, WedgeReader,
};

const SHIFT: u16 = 42;
const RSHIFT: u16 = 54;
const ENTER: u16 = 28;
const KPENTER: u16 = 96;
const ALT: u16 = 56;
const CTRL: u16 = 29;
const CAPS: u16 = 58;

/// Key code and whether Shift is needed for `c`, US layout (what a reader set to "USA" sends).
fn us_key(c: char) -> (u16, bool) {
    const PLAIN: &str = "1234567890-=\0\0qwertyuiop[]\0\0asdfghjkl;'`\0\\zxcvbnm,./";
    const SHIFTED: &str = "!@#$%^&*()_+\0\0QWERTYUIOP{}\0\0ASDFGHJKL:\"~\0|ZXCVBNM<>?";
    if c == ' ' {
        return (57, false);
    }
    if let Some(i) = PLAIN.find(c) {
        return (i as u16 + 2, false);
    }
    let i = SHIFTED.find(c).expect("ASCII printable");
    (i as u16 + 2, true)
}

/// Events for typing `s` then Enter, as press/release pairs.
fn typed(s: &str) -> Vec<(u16, i32)> {
    let mut ev = Vec::new();
    for c in s.chars() {
        let (code, shift) = us_key(c);
        if shift {
            ev.push((SHIFT, 1));
        }
        ev.extend([(code, 1), (code, 0)]);
        if shift {
            ev.push((SHIFT, 0));
        }
    }
    ev.extend([(ENTER, 1), (ENTER, 0)]);
    ev
}

/// Events for one character in Unicode "Alt + keypad" mode (decimal code point).
fn alt_code(c: char) -> Vec<(u16, i32)> {
    const KP: [u16; 10] = [82, 79, 80, 81, 75, 76, 77, 71, 72, 73];
    let mut ev = vec![(ALT, 1)];
    for d in (c as u32).to_string().bytes() {
        let k = KP[usize::from(d - b'0')];
        ev.extend([(k, 1), (k, 0)]);
    }
    ev.push((ALT, 0));
    ev
}

fn run(decoder: &mut KeyDecoder, events: &[(u16, i32)]) -> Vec<Framed> {
    events
        .iter()
        .filter_map(|&(code, value)| decoder.key(code, value))
        .collect()
}

fn line(s: &str) -> Framed {
    Framed::Line(Payload::new(s))
}

#[test]
fn every_printable_ascii_character_round_trips() {
    let all: String = (0x20u8..0x7f).map(char::from).collect();
    let mut d = KeyDecoder::new(4096);
    assert_eq!(run(&mut d, &typed(&all)), vec![line(&all)]);
    let receipt = "000.17.22.H56-261123-0001|1.001193|********0123|MOTCUA:KIOSK-1";
    assert_eq!(run(&mut d, &typed(receipt)), vec![line(receipt)]);
    assert!(!d.has_partial());
}

#[test]
fn right_shift_caps_lock_keypad_and_autorepeat() {
    let mut d = KeyDecoder::new(64);
    // Right Shift + a, Caps Lock on: b → B, Shift+c → c, keypad 1 2 . then keypad Enter; an
    // autorepeat event (value 2) types nothing.
    let ev = [
        (RSHIFT, 1),
        (30, 1),
        (30, 0),
        (RSHIFT, 0),
        (CAPS, 1),
        (CAPS, 0),
        (48, 1),
        (48, 2),
        (48, 0),
        (SHIFT, 1),
        (46, 1),
        (46, 0),
        (SHIFT, 0),
        (CAPS, 1),
        (CAPS, 0),
        (79, 1),
        (79, 0),
        (80, 1),
        (80, 0),
        (83, 1),
        (83, 0),
        (KPENTER, 1),
        (KPENTER, 0),
    ];
    assert_eq!(run(&mut d, &ev), vec![line("ABc12.")]);
}

#[test]
fn vietnamese_survives_only_as_unicode_alt_codes() {
    let text = "Nguyễn Văn An|Nữ";
    let mut ev = Vec::new();
    for c in text.chars() {
        if c.is_ascii() {
            let mut t = typed(&c.to_string());
            t.truncate(t.len() - 2); // drop the Enter
            ev.extend(t);
        } else {
            ev.extend(alt_code(c));
        }
    }
    ev.extend([(ENTER, 1), (ENTER, 0)]);
    let mut d = KeyDecoder::new(256);
    assert_eq!(run(&mut d, &ev), vec![line(text)]);
}

#[test]
fn control_keys_shortcuts_and_bad_alt_codes_make_garbage() {
    let mut d = KeyDecoder::new(64);
    let mut ev = typed("ab");
    ev.splice(2..2, [(14, 1), (14, 0)]); // Backspace inside
    ev.extend([
        (CTRL, 1),
        (46, 1),
        (46, 0),
        (CTRL, 0),
        (ENTER, 1),
        (ENTER, 0),
    ]); // Ctrl+C
    ev.extend([(ALT, 1), (62, 1), (62, 0), (ALT, 0), (ENTER, 1), (ENTER, 0)]); // Alt+F4
    ev.extend(alt_code('\u{7}')); // BEL as an Alt code
    ev.extend([(ENTER, 1), (ENTER, 0)]);
    ev.extend([(ALT, 1), (71, 1), (71, 0), (ENTER, 1), (ENTER, 0), (ALT, 0)]); // Enter within Alt
    ev.extend([(ENTER, 1), (ENTER, 0)]);
    ev.extend([(86, 1), (86, 0), (ENTER, 1), (ENTER, 0)]); // 102nd key (non-US layout)
    ev.extend(typed("ok"));
    let g = Framed::Dropped(DropReason::Garbage);
    assert_eq!(
        run(&mut d, &ev),
        vec![
            g.clone(),
            g.clone(),
            g.clone(),
            g.clone(),
            g.clone(),
            g,
            line("ok")
        ]
    );
}

#[test]
fn overlong_and_cut_lines_are_dropped() {
    let mut d = KeyDecoder::new(5);
    let mut ev = typed("abcdef");
    ev.extend(typed("abcde"));
    assert_eq!(
        run(&mut d, &ev),
        vec![Framed::Dropped(DropReason::Overlong), line("abcde")]
    );
    let mut ev = typed("half");
    ev.truncate(ev.len() - 2);
    assert!(run(&mut d, &ev).is_empty());
    assert!(d.has_partial());
    assert_eq!(d.cut(), Some(DropReason::Partial));
    assert_eq!(d.cut(), None);
    // A lone Enter is nothing.
    assert!(run(&mut d, &[(ENTER, 1), (ENTER, 0)]).is_empty());
}

#[tokio::test]
async fn a_missing_event_device_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usb-Vendor_QR-event-kbd");
    let mut reader = WedgeReader::spawn(WedgeConfig::new(&path)).unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), reader.next())
        .await
        .expect("reported within 5 s")
        .expect("reader running");
    match event {
        ReaderEvent::Disconnected(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("usb-Vendor_QR-event-kbd") && msg.contains("cannot open"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Nothing was read, so nothing was counted.
    assert_eq!(reader.stats(), Default::default());
}
