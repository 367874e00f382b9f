//! Text typed on the on-screen keyboard, Vietnamese by Telex.
//!
//! Citizens type on a touch keyboard that has plain Latin letters plus direct keys for ă â đ ê ô
//! ơ ư and the five tone marks. Every key is turned into Telex keystrokes for the word being
//! typed ("a" "w" → "ă", "tieengs" → "tiếng"), and the `vi` crate places the tone on the right
//! vowel, so a tone key pressed after the whole word ("Nguyen" + sắc → "Nguyến" is not a word,
//! but "Viet" + nặng → "Việt") lands where a Vietnamese reader expects it.

use unicode_normalization::UnicodeNormalization;

/// One key of the on-screen keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A letter, digit or punctuation typed as is (Telex letters such as `w` or `s` may modify
    /// the word being typed, as on a Telex keyboard).
    Char(char),
    /// A modified letter key: ă, â, đ, ê, ô, ơ, ư (lower or upper case).
    Modified(char),
    /// A tone key applied to the word being typed.
    Tone(Tone),
    /// Ends the word (a space).
    Space,
    /// Deletes the last character.
    Backspace,
    /// Empties the field.
    Clear,
}

/// The five Vietnamese tone marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Sắc (acute).
    Acute,
    /// Huyền (grave).
    Grave,
    /// Hỏi (hook above).
    Hook,
    /// Ngã (tilde).
    Tilde,
    /// Nặng (dot below).
    Dot,
}

impl Tone {
    fn telex(self) -> char {
        match self {
            Tone::Acute => 's',
            Tone::Grave => 'f',
            Tone::Hook => 'r',
            Tone::Tilde => 'x',
            Tone::Dot => 'j',
        }
    }

    /// Parses a key name used by the screens (`sac`, `huyen`, `hoi`, `nga`, `nang`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sac" => Tone::Acute,
            "huyen" => Tone::Grave,
            "hoi" => Tone::Hook,
            "nga" => Tone::Tilde,
            "nang" => Tone::Dot,
            _ => return None,
        })
    }
}

impl Key {
    /// Parses a key as the screens name it: a single character, `space`, `backspace`, `clear`,
    /// or `tone:<name>`. Modified letters (ă â đ ê ô ơ ư) are recognised as such.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "space" => return Some(Key::Space),
            "backspace" => return Some(Key::Backspace),
            "clear" => return Some(Key::Clear),
            _ => {}
        }
        if let Some(tone) = name.strip_prefix("tone:") {
            return Tone::from_name(tone).map(Key::Tone);
        }
        let mut chars = name.chars();
        let c = chars.next()?;
        if chars.next().is_some() {
            return None;
        }
        if telex_of_modified(c).is_some() {
            Some(Key::Modified(c))
        } else {
            Some(Key::Char(c))
        }
    }
}

/// The Telex keystrokes of a modified letter.
fn telex_of_modified(c: char) -> Option<&'static str> {
    Some(match c {
        'ă' => "aw",
        'â' => "aa",
        'đ' => "dd",
        'ê' => "ee",
        'ô' => "oo",
        'ơ' => "ow",
        'ư' => "uw",
        'Ă' => "Aw",
        'Â' => "AA",
        'Đ' => "DD",
        'Ê' => "EE",
        'Ô' => "OO",
        'Ơ' => "Ow",
        'Ư' => "Uw",
        _ => return None,
    })
}

/// A field's text: words already finished plus the Telex keystrokes of the word being typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextEntry {
    committed: String,
    word_keys: String,
    max_chars: usize,
}

impl TextEntry {
    /// An entry holding `text` (e.g. read from an ID card), limited to `max_chars` characters.
    pub fn new(text: &str, max_chars: usize) -> Self {
        Self {
            committed: text.nfc().take(max_chars).collect(),
            word_keys: String::new(),
            max_chars,
        }
    }

    /// What the field shows, in NFC.
    pub fn text(&self) -> String {
        let mut word = String::new();
        if !self.word_keys.is_empty() {
            vi::transform_buffer(&vi::TELEX, self.word_keys.chars(), &mut word);
        }
        let mut s = self.committed.clone();
        s.push_str(&word);
        s.nfc().collect()
    }

    /// Applies one key.
    pub fn press(&mut self, key: &Key) {
        match key {
            Key::Char(' ') | Key::Space => {
                self.commit_word();
                if self.len() < self.max_chars {
                    self.committed.push(' ');
                }
            }
            Key::Char(c) => self.push_keys(&c.to_string()),
            Key::Modified(c) => match telex_of_modified(*c) {
                Some(keys) => self.push_keys(keys),
                None => self.push_keys(&c.to_string()),
            },
            Key::Tone(t) => {
                if !self.word_keys.is_empty() {
                    self.word_keys.push(t.telex());
                } else if let Some(word) = self.take_last_committed_word() {
                    // A tone pressed after a prefilled or finished word: re-type that word with
                    // the tone so Telex places it.
                    self.word_keys = word;
                    self.word_keys.push(t.telex());
                }
            }
            Key::Backspace => {
                if !self.word_keys.is_empty() {
                    // Deleting a keystroke of the word being typed: take the shown word back
                    // as plain text and drop its last character, as a citizen expects.
                    let shown = self.text();
                    self.word_keys.clear();
                    self.committed = shown;
                }
                self.committed.pop();
            }
            Key::Clear => {
                self.committed.clear();
                self.word_keys.clear();
            }
        }
    }

    /// Applies a key to a code field (a dossier, ticket or lookup code). Codes are upper-case
    /// ASCII: a letter is added as it is, never through Telex, which would make `DD` a `Đ`,
    /// `AA` an `Â`, `W` an `Ư` and `S`, `F`, `R`, `X`, `J` tone marks, and codes hold those
    /// letters. Backspace and Clear work as in [`TextEntry::press`]; other keys do nothing.
    pub fn press_code(&mut self, key: &Key) {
        match key {
            Key::Char(c) if c.is_ascii_graphic() => {
                self.commit_word();
                if self.len() < self.max_chars {
                    self.committed.push(c.to_ascii_uppercase());
                }
            }
            Key::Backspace | Key::Clear => self.press(key),
            _ => {}
        }
    }

    fn len(&self) -> usize {
        self.text().chars().count()
    }

    fn push_keys(&mut self, keys: &str) {
        if self.len() >= self.max_chars {
            return;
        }
        self.word_keys.push_str(keys);
    }

    fn commit_word(&mut self) {
        if !self.word_keys.is_empty() {
            self.committed = self.text();
            self.word_keys.clear();
        }
    }

    /// Removes the last word from the committed text and returns it, if the text ends in one.
    fn take_last_committed_word(&mut self) -> Option<String> {
        let start = self
            .committed
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphabetic())
            .last()
            .map(|(i, _)| i)?;
        let word = self.committed.split_off(start);
        // Telex keystrokes of an already-composed word: decompose its letters back.
        let mut keys = String::new();
        for c in word.nfd() {
            match c {
                // The tone already on the word is dropped: the new one replaces it.
                '\u{301}' | '\u{300}' | '\u{309}' | '\u{303}' | '\u{323}' => {}
                '\u{306}' => keys.push('w'),
                '\u{31b}' => keys.push('w'),
                '\u{302}' => {
                    if let Some(last) = keys.chars().last() {
                        keys.push(last.to_ascii_lowercase());
                    }
                }
                'đ' => keys.push_str("dd"),
                'Đ' => keys.push_str("DD"),
                c => keys.push(c),
            }
        }
        Some(keys)
    }

    /// Forgets everything typed (the citizen's data leaves memory with it).
    pub fn wipe(&mut self) {
        self.committed.clear();
        self.word_keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_keys(entry: &mut TextEntry, keys: &[&str]) {
        for k in keys {
            entry.press(&Key::parse(k).unwrap_or_else(|| panic!("key {k}")));
        }
    }

    #[test]
    fn code_keys_are_added_as_they_are() {
        let mut code = TextEntry::new("", 8);
        for c in "dd-aasw x".chars() {
            code.press_code(&Key::Char(c));
        }
        // The space is not a code character; the ninth character does not fit.
        assert_eq!(code.text(), "DD-AASWX");
        code.press_code(&Key::Backspace);
        code.press_code(&Key::Tone(Tone::Acute));
        code.press_code(&Key::Modified('Đ'));
        assert_eq!(
            code.text(),
            "DD-AASW",
            "tone and Vietnamese letter keys do nothing"
        );
        code.press_code(&Key::Clear);
        assert_eq!(code.text(), "");
    }

    #[test]
    fn telex_letters_compose_vietnamese() {
        let mut e = TextEntry::new("", 80);
        for c in "Nguyeenx Thij Phuwowngj".chars() {
            e.press(&Key::Char(c));
        }
        assert_eq!(e.text(), "Nguyễn Thị Phượng");
    }

    #[test]
    fn direct_keys_and_tone_after_the_word() {
        let mut e = TextEntry::new("", 80);
        type_keys(
            &mut e,
            &["V", "i", "ê", "t", "tone:nang", "space", "N", "a", "m"],
        );
        assert_eq!(e.text(), "Việt Nam");
        let mut e = TextEntry::new("", 80);
        type_keys(&mut e, &["đ", "ư", "ơ", "n", "g", "tone:huyen"]);
        assert_eq!(e.text(), "đường");
    }

    #[test]
    fn tone_on_a_prefilled_word_replaces_its_tone() {
        let mut e = TextEntry::new("Phường 1, Sóc Trăng", 80);
        e.press(&Key::Tone(Tone::Dot));
        assert_eq!(e.text(), "Phường 1, Sóc Trặng");
        let mut e = TextEntry::new("Nguyên", 80);
        e.press(&Key::Tone(Tone::Tilde));
        assert_eq!(e.text(), "Nguyễn");
        let mut e = TextEntry::new("Viết", 80);
        e.press(&Key::Tone(Tone::Dot));
        assert_eq!(e.text(), "Việt");
    }

    #[test]
    fn backspace_removes_shown_characters() {
        let mut e = TextEntry::new("An", 80);
        type_keys(&mut e, &["space", "ô", "backspace"]);
        assert_eq!(e.text(), "An ");
        e.press(&Key::Backspace);
        e.press(&Key::Backspace);
        assert_eq!(e.text(), "A");
        e.press(&Key::Clear);
        assert_eq!(e.text(), "");
    }

    #[test]
    fn length_is_limited() {
        let mut e = TextEntry::new("0123456789", 10);
        e.press(&Key::Char('x'));
        assert_eq!(e.text(), "0123456789");
    }

    #[test]
    fn digits_are_typed_as_is() {
        let mut e = TextEntry::new("", 12);
        for c in "0912345678".chars() {
            e.press(&Key::Char(c));
        }
        assert_eq!(e.text(), "0912345678");
    }
}
