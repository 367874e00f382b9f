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

#[cfg(test)]
mod tests {
    use super::*;

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
