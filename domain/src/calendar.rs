//! The working calendar of a one-stop desk: which days count towards a legal processing time.
//!
//! A procedure's processing time (thời hạn giải quyết) is stated in working days, and the
//! appointment date printed on the receipt (Form 01, item 5) is derived from it. Weekends are
//! Saturday and Sunday; public holidays and make-up working Saturdays (ngày làm bù) are decided
//! every year by the government and differ in practice between years, so they are configuration,
//! passed in by the caller, never hard-coded here.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// How many calendar days after the receiving date [`WorkingCalendar`] searches before giving up
/// (about ten years). A real calendar needs at most a few months even for the longest procedure;
/// the cap only exists so that a misconfigured calendar (for example a year of holidays declared
/// by mistake) cannot hang the kiosk while it prints a receipt.
pub const MAX_SEARCH_DAYS: u32 = 3660;

/// Why no appointment date could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The calendar holds fewer working days than needed within [`MAX_SEARCH_DAYS`]: the holiday
    /// configuration is almost certainly wrong, or the processing time is absurd.
    #[error(
        "no {needed} working day(s) found within {MAX_SEARCH_DAYS} calendar days after {received}; \
         check the holiday configuration and the procedure's processing time"
    )]
    SearchLimitExceeded {
        /// The receiving date the search started from.
        received: NaiveDate,
        /// The number of working days that were needed (at least 1 for a same-day procedure
        /// received on a day off).
        needed: u32,
    },
    /// The search ran past the last date chrono can represent.
    #[error("date out of range while counting working days after {received}")]
    OutOfRange {
        /// The receiving date the search started from.
        received: NaiveDate,
    },
}

/// Public holidays, make-up working days and the Saturday/Sunday weekend of one desk.
///
/// The calendar is plain data (serialisable) so that a province can ship it in its
/// configuration next to the procedure catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingCalendar {
    /// Days off besides weekends (Tết, 30/4, 1/5, 2/9, Giỗ Tổ Hùng Vương, New Year, and the
    /// bridging days the government grants in a given year).
    #[serde(default)]
    holidays: BTreeSet<NaiveDate>,
    /// Weekend days declared working days (make-up Saturdays, ngày làm bù).
    #[serde(default)]
    extra_working_days: BTreeSet<NaiveDate>,
}

impl WorkingCalendar {
    /// A calendar with the given public holidays (and bridging days off) and the usual
    /// Saturday/Sunday weekend.
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self {
            holidays: holidays.into_iter().collect(),
            extra_working_days: BTreeSet::new(),
        }
    }

    /// Adds weekend days on which the desk works anyway (make-up Saturdays decided together with
    /// a bridging holiday, e.g. Saturday 26/04/2025 worked in exchange for Friday 02/05/2025).
    ///
    /// If a date is listed both as a holiday and as an extra working day, the holiday wins: the
    /// conflict is a configuration mistake, and promising a later appointment is the safer error.
    #[must_use]
    pub fn with_extra_working_days(mut self, days: impl IntoIterator<Item = NaiveDate>) -> Self {
        self.extra_working_days.extend(days);
        self
    }

    /// The configured holidays, in date order.
    pub fn holidays(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.holidays.iter().copied()
    }

    /// The configured make-up working days, in date order.
    pub fn extra_working_days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.extra_working_days.iter().copied()
    }

    /// Whether the desk works on `d`: not a holiday, and either a weekday or a declared make-up
    /// working day.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.holidays.contains(&d) {
            return false;
        }
        if self.extra_working_days.contains(&d) {
            return true;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The appointment date (ngày hẹn trả kết quả) for a dossier received on `received` whose
    /// legal processing time is `processing_days` working days.
    ///
    /// The processing time counts from the working day after receipt, so with `N >= 1` the result
    /// is the N-th working day strictly after `received`. With `0` (same-day procedures) it is
    /// `received` itself when that is a working day, else the next working day.
    ///
    /// Errors only when the calendar is misconfigured: fewer than the needed working days within
    /// [`MAX_SEARCH_DAYS`] calendar days, or the end of chrono's date range. Callers that print a
    /// receipt should treat an error as a configuration fault to report, not as a date.
    pub fn try_appointment_date(
        &self,
        received: NaiveDate,
        processing_days: u32,
    ) -> Result<NaiveDate, CalendarError> {
        if processing_days == 0 && self.is_working_day(received) {
            return Ok(received);
        }
        let needed = processing_days.max(1);
        let mut found = 0u32;
        let mut day = received;
        for _ in 0..MAX_SEARCH_DAYS {
            day = day
                .succ_opt()
                .ok_or(CalendarError::OutOfRange { received })?;
            if self.is_working_day(day) {
                found += 1;
                if found == needed {
                    return Ok(day);
                }
            }
        }
        Err(CalendarError::SearchLimitExceeded { received, needed })
    }

    /// Like [`WorkingCalendar::try_appointment_date`], but never fails: when the search hits its
    /// limit it **saturates** at the last date examined (at most [`MAX_SEARCH_DAYS`] calendar
    /// days after `received`), an obviously far-off date rather than a panic or a hang at the
    /// counter. Use the `try_` form (or [`WorkingCalendar::validate_for`]) when loading
    /// configuration so that such a calendar is rejected before it reaches a citizen.
    pub fn appointment_date(&self, received: NaiveDate, processing_days: u32) -> NaiveDate {
        match self.try_appointment_date(received, processing_days) {
            Ok(d) => d,
            Err(_) => received
                .checked_add_days(chrono::Days::new(u64::from(MAX_SEARCH_DAYS)))
                .unwrap_or(NaiveDate::MAX),
        }
    }

    /// Checks that an appointment date exists for a dossier received on `from` with the longest
    /// processing time in use, so that configuration errors show up at start-up rather than at
    /// the counter.
    pub fn validate_for(
        &self,
        from: NaiveDate,
        max_processing_days: u32,
    ) -> Result<(), CalendarError> {
        self.try_appointment_date(from, max_processing_days)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    /// Tết Ất Tỵ 2025 for civil servants: Saturday 25/01 to Sunday 02/02/2025.
    fn tet_2025() -> Vec<NaiveDate> {
        (25..=31)
            .map(|x| d(2025, 1, x))
            .chain([d(2025, 2, 1), d(2025, 2, 2)])
            .collect()
    }

    /// 30/4–1/5/2025: Wednesday 30/04 to Sunday 04/05, with Friday 02/05 swapped for the
    /// make-up Saturday 26/04/2025.
    fn reunification_2025() -> WorkingCalendar {
        WorkingCalendar::new([d(2025, 4, 30), d(2025, 5, 1), d(2025, 5, 2)])
            .with_extra_working_days([d(2025, 4, 26)])
    }

    #[test]
    fn weekdays_work_weekends_do_not() {
        let cal = WorkingCalendar::default();
        assert!(cal.is_working_day(d(2025, 3, 3))); // Monday
        assert!(cal.is_working_day(d(2025, 3, 7))); // Friday
        assert!(!cal.is_working_day(d(2025, 3, 8))); // Saturday
        assert!(!cal.is_working_day(d(2025, 3, 9))); // Sunday
    }

    #[test]
    fn n_days_count_from_the_next_working_day() {
        let cal = WorkingCalendar::default();
        // Monday + 1 -> Tuesday; Monday + 5 -> next Monday.
        assert_eq!(cal.appointment_date(d(2025, 3, 3), 1), d(2025, 3, 4));
        assert_eq!(cal.appointment_date(d(2025, 3, 3), 5), d(2025, 3, 10));
        // Friday + 1 skips the weekend.
        assert_eq!(cal.appointment_date(d(2025, 3, 7), 1), d(2025, 3, 10));
        // Received on a Saturday (weekend desk): + 1 -> Monday.
        assert_eq!(cal.appointment_date(d(2025, 3, 8), 1), d(2025, 3, 10));
        // 15 working days (building permit) from Monday 03/03 -> Monday 24/03.
        assert_eq!(cal.appointment_date(d(2025, 3, 3), 15), d(2025, 3, 24));
    }

    #[test]
    fn zero_days_is_same_day_or_next_working_day() {
        let cal = WorkingCalendar::default();
        assert_eq!(cal.appointment_date(d(2025, 3, 5), 0), d(2025, 3, 5));
        assert_eq!(cal.appointment_date(d(2025, 3, 8), 0), d(2025, 3, 10));
        assert_eq!(cal.appointment_date(d(2025, 3, 9), 0), d(2025, 3, 10));
    }

    #[test]
    fn tet_holiday_run_is_skipped() {
        let cal = WorkingCalendar::new(tet_2025());
        assert!(!cal.is_working_day(d(2025, 1, 28)));
        // Received Friday 24/01, the last day before Tết: next working day is Monday 03/02.
        assert_eq!(cal.appointment_date(d(2025, 1, 24), 1), d(2025, 2, 3));
        assert_eq!(cal.appointment_date(d(2025, 1, 24), 3), d(2025, 2, 5));
        // Same-day procedure submitted online during Tết: ready on the first day back.
        assert_eq!(cal.appointment_date(d(2025, 1, 29), 0), d(2025, 2, 3));
        // 10 working days (criminal record certificate) from Thursday 23/01: Friday 24/01, then
        // 03/02 to 07/02 and 10/02 to 13/02 -> Thursday 13/02.
        assert_eq!(cal.appointment_date(d(2025, 1, 23), 10), d(2025, 2, 13));
    }

    #[test]
    fn make_up_saturday_counts_and_swapped_friday_does_not() {
        let cal = reunification_2025();
        assert!(cal.is_working_day(d(2025, 4, 26)));
        assert!(!cal.is_working_day(d(2025, 4, 27))); // the Sunday stays off
        assert!(!cal.is_working_day(d(2025, 5, 2)));
        // Friday 25/04 + 1 -> the make-up Saturday 26/04.
        assert_eq!(cal.appointment_date(d(2025, 4, 25), 1), d(2025, 4, 26));
        // Friday 25/04 + 3 -> Sat 26, Mon 28, Tue 29 -> Tuesday 29/04.
        assert_eq!(cal.appointment_date(d(2025, 4, 25), 3), d(2025, 4, 29));
        // Tuesday 29/04 + 1 -> Monday 05/05 (30/4 to 4/5 off).
        assert_eq!(cal.appointment_date(d(2025, 4, 29), 1), d(2025, 5, 5));
        // Same-day procedure on the make-up Saturday is done that day.
        assert_eq!(cal.appointment_date(d(2025, 4, 26), 0), d(2025, 4, 26));
    }

    #[test]
    fn holiday_wins_over_conflicting_extra_working_day() {
        let cal = WorkingCalendar::new([d(2025, 4, 26)]).with_extra_working_days([d(2025, 4, 26)]);
        assert!(!cal.is_working_day(d(2025, 4, 26)));
    }

    #[test]
    fn endless_holidays_terminate_with_an_error_or_saturate() {
        let start = d(2025, 1, 1);
        let all_off = (0..4000u64).filter_map(|i| start.checked_add_days(chrono::Days::new(i)));
        let cal = WorkingCalendar::new(all_off);
        assert_eq!(
            cal.try_appointment_date(start, 1),
            Err(CalendarError::SearchLimitExceeded {
                received: start,
                needed: 1
            })
        );
        assert_eq!(
            cal.try_appointment_date(start, 0),
            Err(CalendarError::SearchLimitExceeded {
                received: start,
                needed: 1
            })
        );
        assert_eq!(
            cal.appointment_date(start, 5),
            start + chrono::Days::new(u64::from(MAX_SEARCH_DAYS))
        );
        assert!(cal.validate_for(start, 15).is_err());
        assert!(WorkingCalendar::default().validate_for(start, 15).is_ok());
    }

    #[test]
    fn absurd_processing_time_terminates() {
        let cal = WorkingCalendar::default();
        assert!(matches!(
            cal.try_appointment_date(d(2025, 1, 1), u32::MAX),
            Err(CalendarError::SearchLimitExceeded { .. })
        ));
    }

    #[test]
    fn end_of_date_range_is_an_error_not_a_panic() {
        let cal = WorkingCalendar::default();
        assert_eq!(
            cal.try_appointment_date(NaiveDate::MAX, 1),
            Err(CalendarError::OutOfRange {
                received: NaiveDate::MAX
            })
        );
        assert_eq!(cal.appointment_date(NaiveDate::MAX, 1), NaiveDate::MAX);
    }

    #[test]
    fn serde_round_trip_for_configuration() {
        let cal = reunification_2025();
        let json = serde_json::to_string(&cal).expect("serialise");
        assert_eq!(
            json,
            r#"{"holidays":["2025-04-30","2025-05-01","2025-05-02"],"extra_working_days":["2025-04-26"]}"#
        );
        let back: WorkingCalendar = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, cal);
        let only_holidays: WorkingCalendar =
            serde_json::from_str(r#"{"holidays":["2025-09-02"]}"#).expect("deserialise");
        assert!(!only_holidays.is_working_day(d(2025, 9, 2)));
    }
}
