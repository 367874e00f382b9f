//! The dossier code (mã hồ sơ) of Circular 01/2018/TT-VPCP art. 19: `<agency code>-YYMMDD-XXXX`,
//! e.g. `000.17.22.H56-210531-0001`.
//!
//! The agency code is configuration and never parsed for meaning (codes change with province
//! mergers). YYMMDD is the receiving date and XXXX a 4-digit sequence within the day per agency.
//! Allocation (which number comes next) needs durable state and lives in the kiosk store; the
//! rules it follows live here so they are tested without a disk.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// The largest sequence number a day can hold (4 digits).
pub const MAX_DAILY_SEQUENCE: u16 = 9999;

/// Why a dossier code could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DossierCodeError {
    /// The agency code is empty, too long, or holds characters other than letters, digits and dots.
    #[error(
        "agency code {0:?} is not valid: use 1 to 32 letters, digits and dots (QCVN 102:2016)"
    )]
    BadAgency(String),
    /// The sequence number is outside 1..=9999.
    #[error("sequence number {0} is outside 1..=9999")]
    BadSequence(u32),
    /// The date is outside 2000–2099, which YYMMDD cannot express.
    #[error("date {0} cannot be written as YYMMDD (years 2000-2099 only)")]
    BadDate(NaiveDate),
    /// The text is not of the form `<agency>-YYMMDD-XXXX`.
    #[error("{0:?} is not a dossier code of the form <agency>-YYMMDD-XXXX")]
    Malformed(String),
}

/// A dossier code, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DossierCode {
    agency: String,
    date: NaiveDate,
    sequence: u16,
}

/// Checks an agency code as configured for a kiosk (letters, digits, dots; 1–32 chars).
pub fn validate_agency_code(agency: &str) -> Result<(), DossierCodeError> {
    let ok = !agency.is_empty()
        && agency.len() <= 32
        && agency
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.');
    if ok {
        Ok(())
    } else {
        Err(DossierCodeError::BadAgency(agency.to_owned()))
    }
}

impl DossierCode {
    /// Builds a code from its parts, checking each.
    pub fn new(agency: &str, date: NaiveDate, sequence: u32) -> Result<Self, DossierCodeError> {
        validate_agency_code(agency)?;
        if !(2000..=2099).contains(&date.year()) {
            return Err(DossierCodeError::BadDate(date));
        }
        let sequence = u16::try_from(sequence)
            .ok()
            .filter(|s| (1..=MAX_DAILY_SEQUENCE).contains(s))
            .ok_or(DossierCodeError::BadSequence(sequence))?;
        Ok(Self {
            agency: agency.to_owned(),
            date,
            sequence,
        })
    }

    /// Reads a code typed by a citizen or decoded from a receipt QR.
    pub fn parse(text: &str) -> Result<Self, DossierCodeError> {
        let malformed = || DossierCodeError::Malformed(text.chars().take(64).collect());
        let text = text.trim();
        let mut parts = text.rsplitn(3, '-');
        let (seq, ymd, agency) = match (parts.next(), parts.next(), parts.next()) {
            (Some(s), Some(d), Some(a)) => (s, d, a),
            _ => return Err(malformed()),
        };
        if seq.len() != 4
            || ymd.len() != 6
            || !(seq.bytes().chain(ymd.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(malformed());
        }
        let date =
            NaiveDate::parse_from_str(&format!("20{ymd}"), "%Y%m%d").map_err(|_| malformed())?;
        let sequence: u32 = seq.parse().map_err(|_| malformed())?;
        Self::new(agency, date, sequence)
    }

    /// The receiving agency.
    pub fn agency(&self) -> &str {
        &self.agency
    }

    /// The receiving date.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The sequence number within the day.
    pub fn sequence(&self) -> u16 {
        self.sequence
    }
}

impl fmt::Display for DossierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{:02}{:02}{:02}-{:04}",
            self.agency,
            self.date.year() % 100,
            self.date.month(),
            self.date.day(),
            self.sequence
        )
    }
}

/// The block of daily sequence numbers this device may hand out.
///
/// Several kiosks of one agency must never print the same code while offline, so the province
/// gives each device a disjoint block (e.g. kiosk 1: 1–4999, kiosk 2: 5000–9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceRange {
    /// First number of the block (≥ 1).
    pub first: u16,
    /// Last number of the block (≤ 9999).
    pub last: u16,
}

impl Default for SequenceRange {
    fn default() -> Self {
        Self {
            first: 1,
            last: MAX_DAILY_SEQUENCE,
        }
    }
}

impl SequenceRange {
    /// Checks 1 ≤ first ≤ last ≤ 9999.
    pub fn validate(&self) -> Result<(), DossierCodeError> {
        if self.first == 0 || self.first > self.last {
            return Err(DossierCodeError::BadSequence(u32::from(self.first)));
        }
        if self.last > MAX_DAILY_SEQUENCE {
            return Err(DossierCodeError::BadSequence(u32::from(self.last)));
        }
        Ok(())
    }

    /// The number following `last_issued` on a day (`None` = nothing issued yet that day), or
    /// `None` when the block is exhausted for the day.
    pub fn next_after(&self, last_issued: Option<u16>) -> Option<u16> {
        match last_issued {
            None => Some(self.first),
            Some(n) if n < self.first => Some(self.first),
            Some(n) if n >= self.last => None,
            Some(n) => Some(n + 1),
        }
    }
}

/// The date to put in a new code: today, unless the device already issued codes on a later
/// date, which means the clock jumped backwards; then that later date, so that a code is never
/// issued twice and codes never go back in time.
pub fn code_date(today: NaiveDate, latest_issued: Option<NaiveDate>) -> NaiveDate {
    latest_issued.map_or(today, |latest| latest.max(today))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn formats_like_the_circular_example() {
        let code = DossierCode::new("000.17.22.H56", d(2021, 5, 31), 1).unwrap();
        assert_eq!(code.to_string(), "000.17.22.H56-210531-0001");
    }

    #[test]
    fn parse_round_trips_and_rejects_malformed_codes() {
        let code = DossierCode::parse(" 000.17.22.H56-210531-0001\r\n").unwrap();
        assert_eq!(code.agency(), "000.17.22.H56");
        assert_eq!(code.date(), d(2021, 5, 31));
        assert_eq!(code.sequence(), 1);
        assert_eq!(DossierCode::parse(&code.to_string()).unwrap(), code);
        for bad in [
            "",
            "000.17.22.H56",
            "000.17.22.H56-210531",
            "000.17.22.H56-210532-0001",
            "000.17.22.H56-210531-0000",
            "000.17.22.H56-210531-00001",
            "000.17.22.H56-2105a1-0001",
            "-210531-0001",
            "000 17-210531-0001",
        ] {
            assert!(
                DossierCode::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn sequence_range_hands_out_its_block_then_stops() {
        let r = SequenceRange {
            first: 5000,
            last: 5002,
        };
        assert!(r.validate().is_ok());
        assert_eq!(r.next_after(None), Some(5000));
        assert_eq!(r.next_after(Some(17)), Some(5000));
        assert_eq!(r.next_after(Some(5000)), Some(5001));
        assert_eq!(r.next_after(Some(5002)), None);
        assert!(SequenceRange { first: 0, last: 3 }.validate().is_err());
        assert!(SequenceRange { first: 4, last: 3 }.validate().is_err());
        assert!(SequenceRange {
            first: 1,
            last: 10000
        }
        .validate()
        .is_err());
    }

    #[test]
    fn clock_jumping_back_keeps_the_latest_date() {
        assert_eq!(code_date(d(2026, 11, 23), None), d(2026, 11, 23));
        assert_eq!(
            code_date(d(2026, 11, 23), Some(d(2026, 11, 20))),
            d(2026, 11, 23)
        );
        assert_eq!(
            code_date(d(2020, 1, 1), Some(d(2026, 11, 23))),
            d(2026, 11, 23)
        );
    }
}
