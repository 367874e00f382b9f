//! Queue tickets (số thứ tự): a number per service area per day, printed at the entrance kiosk.
//! The number itself is allocated durably by the kiosk store; this module names tickets so that a
//! rating can be tied to exactly one of them.

use chrono::NaiveDate;

/// Why a service area code is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service area code {0:?} is not valid: use 1 to 16 letters, digits, '.' or '_'")]
pub struct BadServiceArea(pub String);

/// Checks a configured service area code (it becomes part of ticket ids).
pub fn validate_service_area(code: &str) -> Result<(), BadServiceArea> {
    let ok = !code.is_empty()
        && code.len() <= 16
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BadServiceArea(code.to_owned()))
    }
}

/// The id of a ticket, `<area>-YYYYMMDD-<number>@<device>`; ratings refer to it.
///
/// The device is part of the id because each entrance kiosk numbers its own tickets: two
/// kiosks of one centre must never produce the same id (and the same rating slot).
pub fn ticket_id(device_id: &str, service_area: &str, date: NaiveDate, number: u32) -> String {
    format!(
        "{service_area}-{}-{number}@{device_id}",
        date.format("%Y%m%d")
    )
}

/// What a hub ticket's QR holds: its id and the rating code the hub gave it,
/// `<ticket id>#<code>`. Ticket ids are sequential, so the id alone would let anyone rate any
/// ticket; the code (64 random bits, kept by the hub as a hash) proves the QR was printed.
pub fn rating_qr(ticket_id: &str, code: &str) -> String {
    if code.is_empty() {
        ticket_id.to_owned()
    } else {
        format!("{ticket_id}#{code}")
    }
}

/// The ticket id and rating code of a scanned (or typed) QR; no code in an old ticket's QR.
/// The code is lowercased: a typed code may come in capitals.
pub fn split_rating_qr(payload: &str) -> (&str, Option<String>) {
    match payload.split_once('#') {
        Some((id, code)) if !code.is_empty() => (id, Some(code.to_ascii_lowercase())),
        Some((id, _)) => (id, None),
        None => (payload, None),
    }
}

/// A fresh rating code: 64 random bits as 16 lowercase hex digits.
pub fn new_rating_code(random: [u8; 8]) -> String {
    random.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rating_qr_splits_back() {
        let qr = rating_qr("HT-20261203-7@K1", "00ff10aa00ff10aa");
        assert_eq!(qr, "HT-20261203-7@K1#00ff10aa00ff10aa");
        assert_eq!(
            split_rating_qr(&qr.to_uppercase()),
            ("HT-20261203-7@K1", Some("00ff10aa00ff10aa".to_string()))
        );
        assert_eq!(
            split_rating_qr("HT-20261203-7@K1"),
            ("HT-20261203-7@K1", None)
        );
        assert_eq!(rating_qr("X", ""), "X");
        assert_eq!(
            new_rating_code([0, 1, 2, 3, 4, 5, 6, 255]),
            "00010203040506ff"
        );
    }

    #[test]
    fn ticket_ids_are_per_area_and_day() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(ticket_id("K1", "HT", d, 7), "HT-20261123-7@K1");
        assert_ne!(ticket_id("K1", "HT", d, 7), ticket_id("K2", "HT", d, 7));
        assert!(validate_service_area("HO_TICH.1").is_ok());
        assert!(validate_service_area("").is_err());
        assert!(validate_service_area("HT-1").is_err());
        assert!(validate_service_area("quầy").is_err());
    }
}
