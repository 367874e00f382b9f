//! The form's applicant: prefilled from the ID card, validated field by field (the first field
//! in error gets the focus and a message saying how to write it).

use chrono::NaiveDate;
use motcua_domain::cccd::CccdCard;
use motcua_domain::wire::Applicant;

use super::{FieldKey, FormField, SubmissionFlow};
use crate::text_entry::TextEntry;
use crate::Message;

impl SubmissionFlow {
    pub(super) fn prefill(&mut self, card: &CccdCard) {
        let values = [
            (FieldKey::FullName, card.full_name.clone()),
            (FieldKey::IdNumber, card.id_number.clone()),
            (
                FieldKey::BirthDate,
                card.birth_date.format("%d/%m/%Y").to_string(),
            ),
            (FieldKey::Address, card.address.clone()),
        ];
        for (key, value) in values {
            if let Some(f) = self.fields.iter_mut().find(|f| f.key == key) {
                f.entry = TextEntry::new(&value, key.max_chars());
                f.from_card = true;
            }
        }
        self.focus = FieldKey::ALL
            .iter()
            .position(|k| *k == FieldKey::Phone)
            .unwrap_or(0);
    }

    /// The applicant from the form, or the first field in error.
    pub(super) fn applicant(&self) -> Result<Applicant, (usize, Message)> {
        let idx = |k: FieldKey| FieldKey::ALL.iter().position(|x| *x == k).unwrap_or(0);
        let full_name = self.value(FieldKey::FullName).trim().to_owned();
        if full_name.chars().count() < 2 {
            return Err((
                idx(FieldKey::FullName),
                Message::new("Vui lòng nhập họ và tên.", "Please enter your full name."),
            ));
        }
        let id = self.value(FieldKey::IdNumber).trim().to_owned();
        if !id.is_empty() && (id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit())) {
            return Err((
                idx(FieldKey::IdNumber),
                Message::new(
                    "Số định danh cá nhân gồm đúng 12 chữ số.",
                    "A personal ID number has exactly 12 digits.",
                ),
            ));
        }
        let birth = self.value(FieldKey::BirthDate).trim().to_owned();
        let birth_date = if birth.is_empty() {
            None
        } else {
            match NaiveDate::parse_from_str(&birth, "%d/%m/%Y") {
                Ok(d) => Some(d),
                Err(_) => {
                    return Err((
                        idx(FieldKey::BirthDate),
                        Message::new(
                            "Ngày sinh viết theo dạng ngày/tháng/năm, ví dụ 05/09/1960.",
                            "Write the date of birth as dd/mm/yyyy, e.g. 05/09/1960.",
                        ),
                    ))
                }
            }
        };
        let phone = self.value(FieldKey::Phone).trim().to_owned();
        if !phone.is_empty()
            && (phone.len() < 9 || !phone.chars().all(|c| c.is_ascii_digit() || c == '+'))
        {
            return Err((
                idx(FieldKey::Phone),
                Message::new(
                    "Số điện thoại chỉ gồm chữ số (ít nhất 9 số).",
                    "A phone number has digits only (at least 9).",
                ),
            ));
        }
        Ok(Applicant {
            full_name,
            id_number: (!id.is_empty()).then_some(id),
            birth_date,
            address: self.value(FieldKey::Address).trim().to_owned(),
            phone,
            email: String::new(),
        })
    }
}

/// The form's fields, all empty.
pub(super) fn empty_fields() -> Vec<FormField> {
    FieldKey::ALL
        .iter()
        .map(|&key| FormField {
            key,
            entry: TextEntry::new("", key.max_chars()),
            from_card: false,
        })
        .collect()
}
