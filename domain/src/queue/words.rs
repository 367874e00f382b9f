//! Đọc số thành chữ (numbers as words) for the hall display's voice.
//!
//! The call-out is spoken by a speech engine. Handing it digits leaves the reading to the engine's
//! own number rules, which differ between engines, versions and voices (and some read "1023" digit
//! by digit). Spelling the number out here makes the wording ours, testable, and the same on
//! every kiosk.
//!
//! # Vietnamese choices
//!
//! Vietnamese has regional variants for the same number. We use the standard (Northern,
//! Hà Nội) reading taught in schools and used on invoices ("bằng chữ"), which also matches
//! `espeak-ng`'s `vi` voice (Vietnamese, Northern):
//!
//! - **"nghìn"** for thousands (the South says "ngàn"); **"tỷ"** (not the spelling "tỉ").
//! - **"linh"** for a zero tens before a unit: 105 = "một trăm linh năm" (the South and
//!   everyday speech also say "lẻ").
//! - **"tư"** for 4 after a tens of 20 or more: 24 = "hai mươi tư" ("hai mươi bốn" is also
//!   correct and common; "tư" is the usual spoken form in the North). After "mười" it stays
//!   "bốn": 14 = "mười bốn".
//! - **"lăm"** for 5 after any tens: 15 = "mười lăm", 25 = "hai mươi lăm" (not the colloquial
//!   Northern "nhăm"); after "linh" it stays "năm": 105 = "một trăm linh năm".
//! - **"mốt"** for 1 after a tens of 20 or more: 21 = "hai mươi mốt"; 11 = "mười một".
//! - Inside a larger number a zero hundreds is read **"không trăm"**: 1023 = "một nghìn không
//!   trăm hai mươi ba". A group of three zeros is skipped entirely: 1_000_001 = "một triệu
//!   không trăm linh một", not "một triệu không nghìn không trăm linh một".

/// Vietnamese digit names, read alone or before "trăm" / "mươi".
const VI_DIGITS: [&str; 10] = [
    "không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín",
];

/// Vietnamese names of the groups of three digits: units, thousands, millions, billions.
/// `u32::MAX` is about 4.29 billion, so the billions group never exceeds one digit and no
/// "nghìn tỷ" is needed.
const VI_SCALES: [&str; 4] = ["", "nghìn", "triệu", "tỷ"];

/// Reads `n` as Vietnamese words: 1023 → "một nghìn không trăm hai mươi ba".
///
/// Covers every `u32` (0 ..= 4 294 967 295); see the module documentation for the regional
/// choices ("nghìn", "linh", "tư", "lăm").
pub fn vietnamese_number(n: u32) -> String {
    if n == 0 {
        return VI_DIGITS[0].to_owned();
    }
    let groups = split_thousands(n);
    // The highest group that is not zero is read as a plain number ("mười lăm nghìn"); every
    // group below it is read in full ("không trăm linh năm") so that the listener hears where
    // the digits sit.
    let top = groups.iter().rposition(|&g| g != 0).unwrap_or(0);
    let mut words: Vec<&str> = Vec::new();
    for scale in (0..=top).rev() {
        let group = groups[scale];
        if group == 0 {
            continue;
        }
        push_vietnamese_group(&mut words, group, scale != top);
        if scale > 0 {
            words.push(VI_SCALES[scale]);
        }
    }
    words.join(" ")
}

/// Appends the words of one group of three digits (`1..=999`).
///
/// `inner` says a higher group was read before, so the hundreds are always named ("không
/// trăm") and a zero tens becomes "linh".
fn push_vietnamese_group(words: &mut Vec<&'static str>, group: u32, inner: bool) {
    let hundreds = (group / 100) as usize;
    let tens = (group / 10 % 10) as usize;
    let units = (group % 10) as usize;
    let hundreds_read = hundreds > 0 || inner;
    if hundreds_read {
        words.push(VI_DIGITS[hundreds]);
        words.push("trăm");
    }
    match tens {
        0 => {
            if units > 0 && hundreds_read {
                words.push("linh");
            }
        }
        1 => words.push("mười"),
        _ => {
            words.push(VI_DIGITS[tens]);
            words.push("mươi");
        }
    }
    if units > 0 {
        words.push(match (tens, units) {
            (2..=9, 1) => "mốt",
            (2..=9, 4) => "tư",
            (1..=9, 5) => "lăm",
            _ => VI_DIGITS[units],
        });
    }
}

/// English names of 0..=19, which have no regular pattern.
const EN_SMALL: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];

/// English tens, indexed by the tens digit (0 and 1 unused).
const EN_TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// English names of the groups of three digits.
const EN_SCALES: [&str; 4] = ["", "thousand", "million", "billion"];

/// Reads `n` as English words for the English setting: 1023 → "one thousand twenty-three".
///
/// American style without "and" ("one hundred five"), with hyphenated tens ("twenty-three"):
/// short, and read the same way by English speech voices.
pub fn english_number(n: u32) -> String {
    if n == 0 {
        return EN_SMALL[0].to_owned();
    }
    let groups = split_thousands(n);
    let mut parts: Vec<String> = Vec::new();
    for scale in (0..groups.len()).rev() {
        let group = groups[scale];
        if group == 0 {
            continue;
        }
        parts.push(english_group(group));
        if scale > 0 {
            parts.push(EN_SCALES[scale].to_owned());
        }
    }
    parts.join(" ")
}

/// One group of three digits (`1..=999`) in English.
fn english_group(group: u32) -> String {
    let hundreds = (group / 100) as usize;
    let rest = (group % 100) as usize;
    let mut parts: Vec<String> = Vec::new();
    if hundreds > 0 {
        parts.push(format!("{} hundred", EN_SMALL[hundreds]));
    }
    match rest {
        0 => {}
        1..=19 => parts.push(EN_SMALL[rest].to_owned()),
        _ if rest % 10 == 0 => parts.push(EN_TENS[rest / 10].to_owned()),
        _ => parts.push(format!("{}-{}", EN_TENS[rest / 10], EN_SMALL[rest % 10])),
    }
    parts.join(" ")
}

/// Splits `n` into groups of three digits, lowest first: `[units, thousands, millions,
/// billions]`.
fn split_thousands(n: u32) -> [u32; 4] {
    [
        n % 1000,
        n / 1_000 % 1000,
        n / 1_000_000 % 1000,
        n / 1_000_000_000,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks a table of known readings, naming the number that fails.
    fn check(read: fn(u32) -> String, table: &[(u32, &str)]) {
        for &(n, expected) in table {
            assert_eq!(read(n), expected, "reading of {n}");
        }
    }

    #[test]
    fn vietnamese_units_and_tens() {
        check(
            vietnamese_number,
            &[
                (0, "không"),
                (1, "một"),
                (4, "bốn"),
                (5, "năm"),
                (9, "chín"),
                (10, "mười"),
                (11, "mười một"),
                (14, "mười bốn"),
                (15, "mười lăm"),
                (19, "mười chín"),
                (20, "hai mươi"),
                (21, "hai mươi mốt"),
                (24, "hai mươi tư"),
                (25, "hai mươi lăm"),
                (30, "ba mươi"),
                (44, "bốn mươi tư"),
                (55, "năm mươi lăm"),
                (91, "chín mươi mốt"),
                (99, "chín mươi chín"),
            ],
        );
    }

    #[test]
    fn vietnamese_hundreds_use_linh_for_a_zero_tens() {
        check(
            vietnamese_number,
            &[
                (100, "một trăm"),
                (101, "một trăm linh một"),
                (104, "một trăm linh bốn"),
                (105, "một trăm linh năm"),
                (110, "một trăm mười"),
                (111, "một trăm mười một"),
                (115, "một trăm mười lăm"),
                (121, "một trăm hai mươi mốt"),
                (205, "hai trăm linh năm"),
                (999, "chín trăm chín mươi chín"),
            ],
        );
    }

    #[test]
    fn vietnamese_thousands_name_a_zero_hundreds() {
        check(
            vietnamese_number,
            &[
                (1000, "một nghìn"),
                (1001, "một nghìn không trăm linh một"),
                (1005, "một nghìn không trăm linh năm"),
                (1010, "một nghìn không trăm mười"),
                (1015, "một nghìn không trăm mười lăm"),
                (1023, "một nghìn không trăm hai mươi ba"),
                (1050, "một nghìn không trăm năm mươi"),
                (1100, "một nghìn một trăm"),
                (1234, "một nghìn hai trăm ba mươi tư"),
                (10_000, "mười nghìn"),
                (15_000, "mười lăm nghìn"),
                (21_000, "hai mươi mốt nghìn"),
                (24_005, "hai mươi tư nghìn không trăm linh năm"),
                (100_005, "một trăm nghìn không trăm linh năm"),
                (105_000, "một trăm linh năm nghìn"),
                (
                    999_999,
                    "chín trăm chín mươi chín nghìn chín trăm chín mươi chín",
                ),
            ],
        );
    }

    #[test]
    fn vietnamese_millions_and_billions_skip_zero_groups() {
        check(
            vietnamese_number,
            &[
                (1_000_000, "một triệu"),
                (1_000_001, "một triệu không trăm linh một"),
                (1_001_000, "một triệu không trăm linh một nghìn"),
                (1_050_000, "một triệu không trăm năm mươi nghìn"),
                (2_500_000, "hai triệu năm trăm nghìn"),
                (
                    15_025_105,
                    "mười lăm triệu không trăm hai mươi lăm nghìn một trăm linh năm",
                ),
                (
                    999_999_999,
                    "chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn \
                     chín trăm chín mươi chín",
                ),
                (1_000_000_000, "một tỷ"),
                (1_000_000_005, "một tỷ không trăm linh năm"),
                (2_000_001_000, "hai tỷ không trăm linh một nghìn"),
                (
                    u32::MAX,
                    "bốn tỷ hai trăm chín mươi tư triệu chín trăm sáu mươi bảy nghìn \
                     hai trăm chín mươi lăm",
                ),
            ],
        );
    }

    #[test]
    fn vietnamese_readings_are_well_formed_everywhere() {
        // Structural checks over many numbers, to catch a rule that only breaks on some
        // combination the tables above miss.
        let samples = (0..=2_100u32)
            .chain((0..=u32::MAX).step_by(7_654_321))
            .chain([u32::MAX - 1, u32::MAX]);
        for n in samples {
            let text = vietnamese_number(n);
            assert!(!text.is_empty() && text.trim() == text, "{n}: {text:?}");
            assert!(!text.contains("  "), "{n}: {text:?}");
            assert_eq!(n == 0, text == "không", "{n}: {text:?}");
            // Inside a number "không" only ever names a zero hundreds.
            assert_eq!(
                text.matches("không").count(),
                text.matches("không trăm").count() + usize::from(n == 0),
                "{n}: {text:?}"
            );
            // Rules that forbid some pairs of words.
            for bad in [
                "mười mốt",
                "mười tư",
                "linh mốt",
                "linh lăm",
                "linh tư",
                "mươi năm",
                "mười năm",
            ] {
                assert!(!text.contains(bad), "{n}: {text:?} contains {bad:?}");
            }
            assert!(!text.starts_with("không") || n == 0, "{n}: {text:?}");
            assert!(!text.starts_with("linh"), "{n}: {text:?}");
        }
    }

    #[test]
    fn english_readings() {
        check(
            english_number,
            &[
                (0, "zero"),
                (5, "five"),
                (10, "ten"),
                (11, "eleven"),
                (15, "fifteen"),
                (20, "twenty"),
                (21, "twenty-one"),
                (99, "ninety-nine"),
                (100, "one hundred"),
                (105, "one hundred five"),
                (115, "one hundred fifteen"),
                (1000, "one thousand"),
                (1005, "one thousand five"),
                (1023, "one thousand twenty-three"),
                (1050, "one thousand fifty"),
                (15_000, "fifteen thousand"),
                (100_005, "one hundred thousand five"),
                (1_000_001, "one million one"),
                (2_500_000, "two million five hundred thousand"),
                (1_000_000_000, "one billion"),
                (
                    u32::MAX,
                    "four billion two hundred ninety-four million nine hundred sixty-seven \
                     thousand two hundred ninety-five",
                ),
            ],
        );
    }
}
