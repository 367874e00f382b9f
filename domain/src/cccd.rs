//! Parser of the QR code on Vietnam's chip citizen identity card (CCCD, 2021 design).
//!
//! The kiosk pre-fills the applicant of a dossier from this QR so that elderly citizens need not
//! type their name and address. The payload is pipe-separated UTF-8:
//!
//! ```text
//! ID number (12 digits)|old ID (9 digits, may be empty)|full name|birth date DDMMYYYY|Nam/Nữ|permanent address|issue date DDMMYYYY
//! ```
//!
//! A six-field variant omits the old-ID field. Cards issued from 07/2024 carry a different QR
//! whose format is unverified; it is rejected here rather than guessed at.
//!
//! The QR is untrusted input (anyone can print a QR), so it is parsed defensively: bounded size,
//! no control characters, every field validated, and the ID number cross-checked against the
//! birth date and sex it encodes. What was read must still be shown to the citizen for
//! confirmation before use. A card is personal data: neither [`CccdCard`]'s `Debug` nor any
//! [`CccdError`] message ever contains the name, address, birth date or full ID number.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Largest payload accepted, in bytes. A real card's QR is well under this (7 short fields); the
/// limit is checked before anything else so that a hostile QR or a stuck scanner cannot make the
/// kiosk normalise or allocate arbitrarily large strings.
pub const MAX_PAYLOAD_BYTES: usize = 512;

/// Longest accepted full name, in characters (after normalisation).
pub const MAX_NAME_CHARS: usize = 100;

/// Longest accepted permanent address, in characters (after normalisation).
pub const MAX_ADDRESS_CHARS: usize = 300;

/// A made-up card's QR payload for demos and tests: Nguyễn Thị Phượng, female, born 05/09/1990,
/// ID 079190001234 (its century, sex and year digits agree with that), old ID 025123456, an
/// address in Sóc Trăng, issued 01/02/2021. No such person or card exists. Use this constant
/// rather than a copy (the demo's code reader hint, flow, screen and reader tests), so every
/// demo and test shows the same citizen and a change of format is made once.
pub const SAMPLE_PAYLOAD: &str =
    "079190001234|025123456|Nguyễn Thị Phượng|05091990|Nữ|12 Lê Lợi, Phường 1, Sóc Trăng|01022021";

/// Byte order mark, which some scanners in "UTF-8 with BOM" mode send before the payload.
const BOM: char = '\u{feff}';

/// Sex as printed on the card (giới tính).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    /// Nam.
    Male,
    /// Nữ.
    Female,
}

impl Sex {
    /// The Vietnamese label as printed on the card, for display to the citizen.
    pub fn label_vi(self) -> &'static str {
        match self {
            Sex::Male => "Nam",
            Sex::Female => "Nữ",
        }
    }

    /// The English label.
    pub fn label_en(self) -> &'static str {
        match self {
            Sex::Male => "Male",
            Sex::Female => "Female",
        }
    }
}

/// The data read from a CCCD QR, validated and normalised to Unicode NFC.
///
/// `Debug` is implemented by hand and redacts the personal values (the ID number is masked to
/// its last three digits) so that logging a card by accident leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct CccdCard {
    /// Personal identification number (số định danh cá nhân), exactly 12 ASCII digits.
    pub id_number: String,
    /// Number of the old identity card (CMND), 9 digits (12 on some older cards), if printed.
    pub old_id: Option<String>,
    /// Full name, NFC, with runs of whitespace collapsed to one space.
    pub full_name: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Sex, consistent with the ID number's 4th digit.
    pub sex: Sex,
    /// Permanent address (nơi thường trú), NFC, trimmed.
    pub address: String,
    /// Date the card was issued.
    pub issue_date: NaiveDate,
}

impl CccdCard {
    /// The ID number with all but its last three digits replaced by `*`, for logs and support
    /// screens where a technician must tell two cards apart without seeing the number.
    pub fn masked_id(&self) -> String {
        mask(&self.id_number)
    }
}

fn mask(id: &str) -> String {
    let n = id.chars().count();
    let keep = if n > 3 { 3 } else { 0 };
    let mut out: String = "*".repeat(n - keep);
    out.extend(id.chars().skip(n - keep));
    out
}

/// Prints as `<redacted>` (without quotes) in a `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for CccdCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CccdCard")
            .field("id_number", &self.masked_id())
            .field("old_id", &self.old_id.as_ref().map(|_| Redacted))
            .field("full_name", &Redacted)
            .field("birth_date", &Redacted)
            .field("sex", &self.sex)
            .field("address", &Redacted)
            .field("issue_date", &self.issue_date)
            .finish()
    }
}

/// A field of the CCCD QR, named in errors instead of its (personal) value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CccdField {
    /// Số định danh cá nhân.
    IdNumber,
    /// Số CMND cũ.
    OldId,
    /// Họ và tên.
    FullName,
    /// Ngày sinh.
    BirthDate,
    /// Giới tính.
    Sex,
    /// Nơi thường trú.
    Address,
    /// Ngày cấp.
    IssueDate,
}

impl CccdField {
    /// English name of the field, used in [`CccdError`]'s `Display`.
    pub fn label_en(self) -> &'static str {
        match self {
            CccdField::IdNumber => "ID number",
            CccdField::OldId => "old ID number",
            CccdField::FullName => "full name",
            CccdField::BirthDate => "birth date",
            CccdField::Sex => "sex",
            CccdField::Address => "permanent address",
            CccdField::IssueDate => "issue date",
        }
    }

    /// Vietnamese name of the field, as the citizen knows it from the card.
    pub fn label_vi(self) -> &'static str {
        match self {
            CccdField::IdNumber => "số định danh cá nhân",
            CccdField::OldId => "số CMND cũ",
            CccdField::FullName => "họ và tên",
            CccdField::BirthDate => "ngày sinh",
            CccdField::Sex => "giới tính",
            CccdField::Address => "nơi thường trú",
            CccdField::IssueDate => "ngày cấp",
        }
    }

    /// Accepted digit counts, in English and Vietnamese, for fields made of digits.
    fn expected_digits(self) -> (&'static str, &'static str) {
        match self {
            CccdField::IdNumber => ("12", "12"),
            CccdField::OldId => ("9 or 12", "9 hoặc 12"),
            _ => ("8", "8"),
        }
    }
}

impl fmt::Display for CccdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_en())
    }
}

/// Why a QR payload is not an acceptable CCCD card.
///
/// Messages name the field and the character position but never echo a personal value, so an
/// error can be logged and shown as is. `Display` is English (for logs and staff);
/// [`CccdError::message_vi`] is the sentence for the citizen on screen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CccdError {
    /// Larger than [`MAX_PAYLOAD_BYTES`]; not a CCCD QR.
    #[error(
        "QR payload is {bytes} bytes, more than the {MAX_PAYLOAD_BYTES}-byte limit of a CCCD QR"
    )]
    TooLong {
        /// Size of the payload received.
        bytes: usize,
    },
    /// Nothing but whitespace, line terminators or a byte order mark.
    #[error("QR payload is empty")]
    Empty,
    /// A control character (or an invisible bidi/line-separator formatting character, which could
    /// make the text shown for confirmation differ from what is stored).
    #[error("control or invisible formatting character in field {field}, character {position}")]
    ControlCharacter {
        /// 1-based ordinal of the `|`-separated field.
        field: usize,
        /// 1-based character position within that field.
        position: usize,
    },
    /// Not 7 fields (or 6 without the old ID).
    #[error("expected 7 fields (or 6 without the old ID) separated by '|', found {found}")]
    FieldCount {
        /// Number of fields found.
        found: usize,
    },
    /// A required field is empty.
    #[error("the {field} field is empty")]
    EmptyField {
        /// The empty field.
        field: CccdField,
    },
    /// A number or date field contains something other than an ASCII digit.
    #[error("the {field} field has a character other than a digit at position {position}")]
    NotDigits {
        /// The field.
        field: CccdField,
        /// 1-based character position of the first offending character.
        position: usize,
    },
    /// A number or date field has the wrong number of digits.
    #[error("the {field} field has {found} digits, expected {}", .field.expected_digits().0)]
    WrongLength {
        /// The field.
        field: CccdField,
        /// Number of digits found.
        found: usize,
    },
    /// Eight digits that are not a real calendar date (e.g. 31 February).
    #[error("the {field} field is not a real calendar date in DDMMYYYY form")]
    InvalidDate {
        /// The date field.
        field: CccdField,
    },
    /// A text field longer than its limit.
    #[error("the {field} field has {found} characters, more than the limit of {max}")]
    FieldTooLong {
        /// The field.
        field: CccdField,
        /// Characters found.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// The name contains something other than letters, spaces, apostrophes or hyphens.
    #[error(
        "the full name has a character other than a letter, space, apostrophe or hyphen at \
         position {position}"
    )]
    InvalidNameCharacter {
        /// 1-based character position in the normalised name.
        position: usize,
    },
    /// The name is made only of apostrophes and hyphens.
    #[error("the full name contains no letter")]
    NameWithoutLetters,
    /// The sex field is neither "Nam" nor "Nữ".
    #[error("the sex field is neither \"Nam\" nor \"Nữ\"")]
    InvalidSex,
    /// The card claims to be issued before its holder was born.
    #[error("the issue date is before the birth date")]
    IssueBeforeBirth,
    /// The ID number's 4th digit encodes another century of birth than the birth date's.
    #[error("digit 4 of the ID number (century of birth) does not match the birth date")]
    CenturyMismatch,
    /// The ID number's 5th and 6th digits are not the last two digits of the birth year.
    #[error("digits 5-6 of the ID number (year of birth) do not match the birth date")]
    BirthYearMismatch,
    /// The ID number's 4th digit encodes the other sex than the sex field.
    #[error("digit 4 of the ID number (sex) does not match the sex field")]
    SexMismatch,
}

impl CccdError {
    /// The error in Vietnamese, for the citizen on the kiosk screen, ending with what to do.
    pub fn message_vi(&self) -> String {
        let detail = match self {
            CccdError::TooLong { bytes } => {
                format!("Dữ liệu mã QR quá dài ({bytes} byte, tối đa {MAX_PAYLOAD_BYTES} byte)")
            }
            CccdError::Empty => "Không đọc được dữ liệu từ mã QR".to_owned(),
            CccdError::ControlCharacter { field, position } => format!(
                "Mã QR có ký tự điều khiển không hợp lệ ở trường thứ {field}, ký tự thứ {position}"
            ),
            CccdError::FieldCount { found } => format!(
                "Mã QR không đúng định dạng thẻ căn cước (có {found} trường thông tin, cần 6 hoặc 7)"
            ),
            CccdError::EmptyField { field } => format!("Mã QR thiếu {}", field.label_vi()),
            CccdError::NotDigits { field, position } => format!(
                "Trường {} có ký tự không phải chữ số ở vị trí thứ {position}",
                field.label_vi()
            ),
            CccdError::WrongLength { field, found } => format!(
                "Trường {} có {found} chữ số, cần {} chữ số",
                field.label_vi(),
                field.expected_digits().1
            ),
            CccdError::InvalidDate { field } => format!(
                "Trường {} không phải là ngày hợp lệ (ngày, tháng, năm dạng DDMMYYYY)",
                field.label_vi()
            ),
            CccdError::FieldTooLong { field, found, max } => format!(
                "Trường {} quá dài ({found} ký tự, tối đa {max} ký tự)",
                field.label_vi()
            ),
            CccdError::InvalidNameCharacter { position } => format!(
                "Họ và tên có ký tự không hợp lệ ở vị trí thứ {position} (chỉ được có chữ cái, \
                 dấu cách, dấu nháy đơn và dấu gạch nối)"
            ),
            CccdError::NameWithoutLetters => "Họ và tên không có chữ cái nào".to_owned(),
            CccdError::InvalidSex => "Giới tính phải là “Nam” hoặc “Nữ”".to_owned(),
            CccdError::IssueBeforeBirth => "Ngày cấp thẻ sớm hơn ngày sinh".to_owned(),
            CccdError::CenturyMismatch => {
                "Chữ số thứ 4 của số định danh cá nhân không khớp với thế kỷ của năm sinh"
                    .to_owned()
            }
            CccdError::BirthYearMismatch => {
                "Chữ số thứ 5 và 6 của số định danh cá nhân không khớp với năm sinh".to_owned()
            }
            CccdError::SexMismatch => {
                "Chữ số thứ 4 của số định danh cá nhân không khớp với giới tính".to_owned()
            }
        };
        format!("{detail}. Vui lòng quét lại thẻ hoặc nhờ cán bộ hỗ trợ.")
    }
}

/// Whether `c` must not appear in a payload: C0/C1 controls (including CR, LF and tab inside the
/// payload), a byte order mark past the start, line/paragraph separators, and bidirectional
/// overrides/isolates, which can make the text displayed for confirmation differ from the text
/// stored.
fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            BOM | '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Parses and validates the QR payload of a CCCD card.
///
/// Steps, in order: size limit ([`MAX_PAYLOAD_BYTES`], before anything else); trim surrounding
/// whitespace, CR/LF and a leading BOM (scanners in keyboard mode append terminators); reject
/// control characters; normalise to NFC (some readers send decomposed "Nữ"); split into 7 fields
/// (or 6 without the old ID); validate each field; then cross-check the ID number against the
/// birth date and sex, and the issue date against the birth date.
///
/// Leniency, decided deliberately: the sex field accepts any letter case and "Nu" without its
/// tone mark (some readers strip diacritics); this cannot produce a wrong value because the sex
/// is cross-checked against the ID number's 4th digit. Names and addresses are trimmed, and runs
/// of whitespace in names collapse to one space. Number and date fields are strict: no spaces.
pub fn parse(payload: &str) -> Result<CccdCard, CccdError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(CccdError::TooLong {
            bytes: payload.len(),
        });
    }
    let trimmed = payload.trim_matches(|c: char| c.is_whitespace() || c == BOM);
    if trimmed.is_empty() {
        return Err(CccdError::Empty);
    }
    check_forbidden_characters(trimmed)?;

    let text: String = trimmed.nfc().collect();
    let fields: Vec<&str> = text.split('|').collect();
    let (id, old_id, name, birth, sex, address, issue) = match fields.as_slice() {
        [id, old, name, birth, sex, address, issue] => {
            (*id, Some(*old), *name, *birth, *sex, *address, *issue)
        }
        [id, name, birth, sex, address, issue] => {
            (*id, None, *name, *birth, *sex, *address, *issue)
        }
        _ => {
            return Err(CccdError::FieldCount {
                found: fields.len(),
            })
        }
    };

    let id_number = parse_id_number(id)?;
    let old_id = match old_id {
        Some(o) if !o.is_empty() => {
            check_digits(CccdField::OldId, o, &[9, 12])?;
            Some(o.to_owned())
        }
        _ => None,
    };
    let full_name = parse_name(name)?;
    let birth_date = parse_date(CccdField::BirthDate, birth)?;
    let sex = parse_sex(sex)?;
    let address = parse_address(address)?;
    let issue_date = parse_date(CccdField::IssueDate, issue)?;

    check_id_consistency(&id_number, birth_date, sex)?;
    if issue_date < birth_date {
        return Err(CccdError::IssueBeforeBirth);
    }

    Ok(CccdCard {
        id_number,
        old_id,
        full_name,
        birth_date,
        sex,
        address,
        issue_date,
    })
}

fn check_forbidden_characters(s: &str) -> Result<(), CccdError> {
    let mut field = 1;
    let mut position = 0;
    for c in s.chars() {
        if c == '|' {
            field += 1;
            position = 0;
            continue;
        }
        position += 1;
        if is_forbidden(c) {
            return Err(CccdError::ControlCharacter { field, position });
        }
    }
    Ok(())
}

/// Checks that `s` is non-empty, made of ASCII digits, and of one of the `lengths`.
fn check_digits(field: CccdField, s: &str, lengths: &[usize]) -> Result<(), CccdError> {
    if s.is_empty() {
        return Err(CccdError::EmptyField { field });
    }
    if let Some(i) = s.chars().position(|c| !c.is_ascii_digit()) {
        return Err(CccdError::NotDigits {
            field,
            position: i + 1,
        });
    }
    // All ASCII from here on, so the byte length is the digit count.
    if !lengths.contains(&s.len()) {
        return Err(CccdError::WrongLength {
            field,
            found: s.len(),
        });
    }
    Ok(())
}

fn parse_id_number(s: &str) -> Result<String, CccdError> {
    check_digits(CccdField::IdNumber, s, &[12])?;
    Ok(s.to_owned())
}

/// Value of a run of ASCII digits (callers have checked them; at most 4 digits here).
fn digits_value(s: &str) -> u32 {
    s.bytes()
        .fold(0u32, |acc, b| acc * 10 + u32::from(b.wrapping_sub(b'0')))
}

fn parse_date(field: CccdField, s: &str) -> Result<NaiveDate, CccdError> {
    check_digits(field, s, &[8])?;
    let (day, month, year) = (
        digits_value(&s[0..2]),
        digits_value(&s[2..4]),
        digits_value(&s[4..8]),
    );
    let year = i32::try_from(year).map_err(|_| CccdError::InvalidDate { field })?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or(CccdError::InvalidDate { field })
}

fn is_name_char(c: char) -> bool {
    c.is_alphabetic()
        || is_combining_mark(c)
        || matches!(c, ' ' | '\'' | '\u{2019}' | '-' | '\u{2010}')
}

fn parse_name(s: &str) -> Result<String, CccdError> {
    let field = CccdField::FullName;
    let name = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(CccdError::EmptyField { field });
    }
    let found = name.chars().count();
    if found > MAX_NAME_CHARS {
        return Err(CccdError::FieldTooLong {
            field,
            found,
            max: MAX_NAME_CHARS,
        });
    }
    if let Some(i) = name.chars().position(|c| !is_name_char(c)) {
        return Err(CccdError::InvalidNameCharacter { position: i + 1 });
    }
    if !name.chars().any(char::is_alphabetic) {
        return Err(CccdError::NameWithoutLetters);
    }
    Ok(name)
}

fn parse_sex(s: &str) -> Result<Sex, CccdError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(CccdError::EmptyField {
            field: CccdField::Sex,
        });
    }
    match s.to_lowercase().as_str() {
        "nam" => Ok(Sex::Male),
        "nữ" | "nu" => Ok(Sex::Female),
        _ => Err(CccdError::InvalidSex),
    }
}

fn parse_address(s: &str) -> Result<String, CccdError> {
    let field = CccdField::Address;
    let address = s.trim();
    if address.is_empty() {
        return Err(CccdError::EmptyField { field });
    }
    let found = address.chars().count();
    if found > MAX_ADDRESS_CHARS {
        return Err(CccdError::FieldTooLong {
            field,
            found,
            max: MAX_ADDRESS_CHARS,
        });
    }
    Ok(address.to_owned())
}

/// The ID number's 4th digit encodes century and sex (0/1: 1900s male/female, 2/3: 2000s,
/// 4/5: 2100s, 6/7: 2200s, 8/9: 2300s); digits 5–6 are the birth year's last two digits.
fn check_id_consistency(id: &str, birth: NaiveDate, sex: Sex) -> Result<(), CccdError> {
    // `id` has been checked to be 12 ASCII digits.
    let code = digits_value(&id[3..4]);
    let year_digits = digits_value(&id[4..6]);
    let year = birth.year();
    let century_ok = (1900..2400).contains(&year) && (year - 1900) / 100 == (code / 2) as i32;
    if !century_ok {
        return Err(CccdError::CenturyMismatch);
    }
    if year.rem_euclid(100) != year_digits as i32 {
        return Err(CccdError::BirthYearMismatch);
    }
    let id_sex = if code % 2 == 0 {
        Sex::Male
    } else {
        Sex::Female
    };
    if id_sex != sex {
        return Err(CccdError::SexMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "079090012345";
    const NAME: &str = "Nguyễn Văn An";
    const ADDRESS: &str = "123 Lê Lợi, Phường Bến Thành, Quận 1, TP. Hồ Chí Minh";
    const VALID: &str = "079090012345|025123456|Nguyễn Văn An|15031990|Nam|123 Lê Lợi, Phường Bến Thành, Quận 1, TP. Hồ Chí Minh|20042021";

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    /// The valid payload with field `i` (0-based, 7-field layout) replaced.
    fn with_field(i: usize, value: &str) -> String {
        let mut f: Vec<&str> = VALID.split('|').collect();
        f[i] = value;
        f.join("|")
    }

    fn err(payload: &str) -> CccdError {
        match parse(payload) {
            Ok(_) => panic!("payload unexpectedly accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn valid_seven_fields() {
        let card = parse(VALID).expect("valid payload");
        assert_eq!(card.id_number, ID);
        assert_eq!(card.old_id.as_deref(), Some("025123456"));
        assert_eq!(card.full_name, NAME);
        assert_eq!(card.birth_date, d(1990, 3, 15));
        assert_eq!(card.sex, Sex::Male);
        assert_eq!(card.address, ADDRESS);
        assert_eq!(card.issue_date, d(2021, 4, 20));
    }

    #[test]
    fn the_sample_payload_is_a_valid_card() {
        let card = parse(SAMPLE_PAYLOAD).expect("the sample parses");
        assert_eq!(card.id_number, "079190001234");
        assert_eq!(card.old_id.as_deref(), Some("025123456"));
        assert_eq!(card.full_name, "Nguyễn Thị Phượng");
        assert_eq!(card.birth_date, d(1990, 9, 5));
        assert_eq!(card.sex, Sex::Female);
        assert_eq!(card.address, "12 Lê Lợi, Phường 1, Sóc Trăng");
        assert_eq!(card.issue_date, d(2021, 2, 1));
    }

    #[test]
    fn valid_seven_fields_with_empty_old_id() {
        let card = parse(&with_field(1, "")).expect("valid payload");
        assert_eq!(card.old_id, None);
    }

    #[test]
    fn valid_twelve_digit_old_id() {
        let card = parse(&with_field(1, "079090000001")).expect("valid payload");
        assert_eq!(card.old_id.as_deref(), Some("079090000001"));
    }

    #[test]
    fn valid_six_fields_female_2000s_ethnic_name() {
        let card =
            parse("066305001234|H'Hen Niê|01012005|Nữ|Buôn Ko Tam, xã Ea Tu, Đắk Lắk|10052022")
                .expect("valid payload");
        assert_eq!(card.old_id, None);
        assert_eq!(card.full_name, "H'Hen Niê");
        assert_eq!(card.sex, Sex::Female);
        assert_eq!(card.sex.label_vi(), "Nữ");
        assert_eq!(card.birth_date, d(2005, 1, 1));
    }

    #[test]
    fn nfd_input_is_normalised_to_nfc() {
        let nfd: String = "066305001234||Trần Thị Ngọc Hà|01012005|Nữ|Hà Nội|10052022"
            .nfd()
            .collect();
        assert_ne!(nfd, nfd.nfc().collect::<String>());
        let card = parse(&nfd).expect("valid NFD payload");
        assert_eq!(card.full_name, "Trần Thị Ngọc Hà");
        assert_eq!(card.address, "Hà Nội");
        assert_eq!(card.sex, Sex::Female);
    }

    #[test]
    fn surrounding_crlf_whitespace_and_bom_are_trimmed() {
        assert_eq!(parse(&format!("{VALID}\r\n")), parse(VALID));
        assert_eq!(parse(&format!("  \t{VALID}\n")), parse(VALID));
        assert_eq!(parse(&format!("\u{feff}{VALID}\r")), parse(VALID));
    }

    #[test]
    fn name_spaces_are_collapsed_and_sex_is_lenient() {
        let card = parse(&with_field(2, "  Nguyễn   Văn\u{a0} An ")).expect("valid payload");
        assert_eq!(card.full_name, NAME);
        for sex in ["NAM", "nam", " Nam "] {
            assert_eq!(parse(&with_field(4, sex)).map(|c| c.sex), Ok(Sex::Male));
        }
        let female = "066305001234||Lê Thị Lan|01012005|{}|Hà Nội|10052022";
        for sex in ["Nữ", "NỮ", "nữ", "Nu", "NU"] {
            let p = female.replace("{}", sex);
            assert_eq!(parse(&p).map(|c| c.sex), Ok(Sex::Female), "{sex}");
        }
    }

    #[test]
    fn every_century_code_is_understood() {
        // (4th digit, birth year, sex)
        let cases = [
            ('0', 1950, "Nam"),
            ('1', 1950, "Nữ"),
            ('2', 2050, "Nam"),
            ('3', 2050, "Nữ"),
            ('4', 2150, "Nam"),
            ('5', 2150, "Nữ"),
            ('6', 2250, "Nam"),
            ('7', 2250, "Nữ"),
            ('8', 2350, "Nam"),
            ('9', 2350, "Nữ"),
        ];
        for (code, year, sex) in cases {
            let p = format!("001{code}50001234||Lê An|0101{year}|{sex}|Hà Nội|01012399");
            assert!(parse(&p).is_ok(), "century code {code}");
        }
    }

    /// At least 20 malformed payloads, each with its specific error.
    #[test]
    fn malformed_payloads_give_specific_errors() {
        use CccdError as E;
        use CccdField as F;
        let long_address = "a".repeat(MAX_ADDRESS_CHARS + 1);
        let long_name = "a".repeat(MAX_NAME_CHARS + 1);
        let cases: Vec<(&str, String, CccdError)> = vec![
            (
                "too long",
                "1".repeat(MAX_PAYLOAD_BYTES + 1),
                E::TooLong { bytes: 513 },
            ),
            (
                "too long before trimming",
                format!("{VALID}{}", " ".repeat(400)),
                E::TooLong {
                    bytes: VALID.len() + 400,
                },
            ),
            ("empty", String::new(), E::Empty),
            ("only CRLF", "\r\n".into(), E::Empty),
            ("BOM only", "\u{feff}".into(), E::Empty),
            (
                "5 fields",
                "079090012345|Nguyễn Văn An|15031990|Nam|Hà Nội".into(),
                E::FieldCount { found: 5 },
            ),
            (
                "8 fields",
                format!("{VALID}|extra"),
                E::FieldCount { found: 8 },
            ),
            (
                "no separator",
                "079090012345".into(),
                E::FieldCount { found: 1 },
            ),
            (
                "only pipes",
                "||||||".into(),
                E::EmptyField { field: F::IdNumber },
            ),
            (
                "ID with letters",
                with_field(0, "07909001234A"),
                E::NotDigits {
                    field: F::IdNumber,
                    position: 12,
                },
            ),
            (
                "ID with a space",
                with_field(0, "0790 9001234"),
                E::NotDigits {
                    field: F::IdNumber,
                    position: 5,
                },
            ),
            (
                "ID with fullwidth digits",
                with_field(0, "０７９090012345"),
                E::NotDigits {
                    field: F::IdNumber,
                    position: 1,
                },
            ),
            (
                "11-digit ID",
                with_field(0, "07909001234"),
                E::WrongLength {
                    field: F::IdNumber,
                    found: 11,
                },
            ),
            (
                "old ID of 8 digits",
                with_field(1, "02512345"),
                E::WrongLength {
                    field: F::OldId,
                    found: 8,
                },
            ),
            (
                "old ID with a letter",
                with_field(1, "02512345X"),
                E::NotDigits {
                    field: F::OldId,
                    position: 9,
                },
            ),
            (
                "empty name",
                with_field(2, ""),
                E::EmptyField { field: F::FullName },
            ),
            (
                "blank name",
                with_field(2, "   "),
                E::EmptyField { field: F::FullName },
            ),
            (
                "name with digits",
                with_field(2, "Nguyễn Văn 2"),
                E::InvalidNameCharacter { position: 12 },
            ),
            (
                "name with punctuation",
                with_field(2, "Nguyễn, Văn An"),
                E::InvalidNameCharacter { position: 7 },
            ),
            (
                "name without letters",
                with_field(2, "'-"),
                E::NameWithoutLetters,
            ),
            (
                "overlong name",
                with_field(2, &long_name),
                E::FieldTooLong {
                    field: F::FullName,
                    found: 101,
                    max: 100,
                },
            ),
            (
                "bad birth date 31022000",
                with_field(3, "31022000"),
                E::InvalidDate {
                    field: F::BirthDate,
                },
            ),
            (
                "birth date month 13",
                with_field(3, "01131990"),
                E::InvalidDate {
                    field: F::BirthDate,
                },
            ),
            (
                "7-digit birth date",
                with_field(3, "1503199"),
                E::WrongLength {
                    field: F::BirthDate,
                    found: 7,
                },
            ),
            (
                "9-digit birth date",
                with_field(3, "150319900"),
                E::WrongLength {
                    field: F::BirthDate,
                    found: 9,
                },
            ),
            (
                "birth date with slashes",
                with_field(3, "15/03/1990"),
                E::NotDigits {
                    field: F::BirthDate,
                    position: 3,
                },
            ),
            (
                "empty birth date",
                with_field(3, ""),
                E::EmptyField {
                    field: F::BirthDate,
                },
            ),
            ("sex Male", with_field(4, "Male"), E::InvalidSex),
            (
                "empty sex",
                with_field(4, ""),
                E::EmptyField { field: F::Sex },
            ),
            (
                "empty address",
                with_field(5, ""),
                E::EmptyField { field: F::Address },
            ),
            (
                "overlong address",
                with_field(5, &long_address),
                E::FieldTooLong {
                    field: F::Address,
                    found: 301,
                    max: 300,
                },
            ),
            (
                "issue date 00",
                with_field(6, "00012021"),
                E::InvalidDate {
                    field: F::IssueDate,
                },
            ),
            (
                "issue before birth",
                with_field(6, "14031990"),
                E::IssueBeforeBirth,
            ),
            (
                "century digit mismatch",
                with_field(0, "079290012345"),
                E::CenturyMismatch,
            ),
            (
                "birth-year digits mismatch",
                with_field(0, "079091012345"),
                E::BirthYearMismatch,
            ),
            (
                "sex digit mismatch",
                with_field(0, "079190012345"),
                E::SexMismatch,
            ),
            (
                "birth before 1900",
                with_field(3, "15031890"),
                E::CenturyMismatch,
            ),
            (
                "control character in name",
                with_field(2, "Nguyễn\u{7}Văn An"),
                E::ControlCharacter {
                    field: 3,
                    position: 7,
                },
            ),
            (
                "LF inside address",
                with_field(5, "Hà Nội\nViệt Nam"),
                E::ControlCharacter {
                    field: 6,
                    position: 7,
                },
            ),
            (
                "NUL in ID",
                with_field(0, "0790900\u{0}2345"),
                E::ControlCharacter {
                    field: 1,
                    position: 8,
                },
            ),
            (
                "bidi override in address",
                with_field(5, "\u{202e}iộN àH"),
                E::ControlCharacter {
                    field: 6,
                    position: 1,
                },
            ),
            (
                "BOM inside",
                format!("{ID}\u{feff}|{}", &VALID[ID.len() + 1..]),
                E::ControlCharacter {
                    field: 1,
                    position: 13,
                },
            ),
        ];
        assert!(cases.len() >= 20);
        for (what, payload, expected) in &cases {
            assert_eq!(parse(payload).err().as_ref(), Some(expected), "{what}");
        }
    }

    #[test]
    fn errors_never_echo_personal_values() {
        let payloads = [
            with_field(2, "Nguyễn Văn 2"),
            with_field(3, "31022000"),
            with_field(0, "07909001234A"),
            with_field(4, "Nguyễn"),
            with_field(0, "079290012345"),
            with_field(5, &"Lê Lợi ".repeat(50)),
        ];
        for p in &payloads {
            let e = err(p);
            for msg in [e.to_string(), e.message_vi(), format!("{e:?}")] {
                for secret in ["079090", "Nguyễn", "Lê Lợi", "1503", "2000", "1234"] {
                    assert!(!msg.contains(secret), "{msg:?} leaks {secret:?}");
                }
            }
        }
    }

    #[test]
    fn messages_are_worded_in_both_languages() {
        let e = CccdError::WrongLength {
            field: CccdField::OldId,
            found: 8,
        };
        assert_eq!(
            e.to_string(),
            "the old ID number field has 8 digits, expected 9 or 12"
        );
        assert_eq!(
            e.message_vi(),
            "Trường số CMND cũ có 8 chữ số, cần 9 hoặc 12 chữ số. Vui lòng quét lại thẻ hoặc nhờ cán bộ hỗ trợ."
        );
        assert!(CccdError::InvalidSex.message_vi().contains("Nữ"));
    }

    #[test]
    fn debug_redacts_personal_data() {
        let card = parse(VALID).expect("valid payload");
        let dbg = format!("{card:?}");
        assert!(dbg.contains("*********345"), "{dbg}");
        for secret in [
            ID,
            "025123456",
            "Nguyễn",
            "Văn",
            "Lê Lợi",
            "Bến Thành",
            "1990",
        ] {
            assert!(!dbg.contains(secret), "{dbg} leaks {secret:?}");
        }
        assert_eq!(card.masked_id(), "*********345");
        let pretty = format!("{card:#?}");
        assert!(!pretty.contains("Nguyễn") && !pretty.contains(ID));
    }

    #[test]
    fn mask_handles_odd_input_without_panicking() {
        assert_eq!(mask(""), "");
        assert_eq!(mask("12"), "**");
        assert_eq!(mask("1234"), "*234");
        assert_eq!(mask("ữữữữ"), "*ữữữ");
    }

    /// Property-style: every truncation and many single-character mutations of a valid payload
    /// either parse or return an error, never panic; successful parses are valid cards.
    #[test]
    fn truncations_and_mutations_never_panic() {
        let payload = format!("{VALID}\r\n");
        let mut parsed = 0;
        for (i, _) in payload.char_indices().chain([(payload.len(), ' ')]) {
            if let Ok(card) = parse(&payload[..i]) {
                parsed += 1;
                assert_eq!(card.id_number.len(), 12);
            }
        }
        // Only the complete payload (with or without its terminator) parses.
        assert_eq!(parsed, 3);

        let nasty = [
            '|',
            '\0',
            '\u{301}',
            '9',
            'a',
            ' ',
            '\u{feff}',
            'ữ',
            '\u{10ffff}',
            '/',
        ];
        let chars: Vec<char> = VALID.chars().collect();
        for i in 0..chars.len() {
            for &n in &nasty {
                let mut m = chars.clone();
                m[i] = n;
                let s: String = m.iter().collect();
                if let Ok(card) = parse(&s) {
                    assert!(card.id_number.bytes().all(|b| b.is_ascii_digit()));
                    assert!(card.issue_date >= card.birth_date);
                }
                m.remove(i);
                let s: String = m.iter().collect();
                let _ = parse(&s);
            }
        }

        // Pseudo-random byte soup (xorshift), made UTF-8 lossily.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let len = (x % 600) as usize;
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(if x % 5 == 0 { b'|' } else { (x >> 24) as u8 });
            }
            let s = String::from_utf8_lossy(&bytes);
            let _ = parse(&s);
        }
    }
}
