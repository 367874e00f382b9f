//! The maintenance window: the daily hours, in Vietnam time, when a kiosk may install an update
//! (and restart), because no citizen is expected at the desk.
//!
//! Written `HH:MM-HH:MM`; a window whose end is before its start runs past midnight
//! (`22:00-05:00`). The kiosk also waits, inside the window, until no citizen session or intake
//! is open; the window only says when it may try.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Timelike, Utc};

/// Minutes in a day.
const DAY_MINUTES: u32 = 24 * 60;

/// Daily hours in Vietnam time, start included, end excluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Minutes after local midnight the window opens.
    start: u32,
    /// Minutes after local midnight it closes.
    end: u32,
}

/// Why a window was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("khung giờ bảo trì \"{text}\" không đúng dạng HH:MM-HH:MM (giờ Việt Nam), ví dụ 22:00-05:00 / the maintenance window \"{text}\" is not HH:MM-HH:MM (Vietnam time), e.g. 22:00-05:00: {detail}")]
pub struct WindowError {
    /// The window as written.
    pub text: String,
    /// What is wrong with it.
    pub detail: String,
}

impl MaintenanceWindow {
    /// Minutes after local midnight of a time.
    fn minute_of_day(now: DateTime<Utc>) -> u32 {
        let local = now.with_timezone(&crate::vietnam_offset());
        local.hour() * 60 + local.minute()
    }

    /// Whether `now` is inside the window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let m = Self::minute_of_day(now);
        if self.start < self.end {
            (self.start..self.end).contains(&m)
        } else {
            m >= self.start || m < self.end
        }
    }

    /// How many minutes from `now` until the window next opens (0 when inside it).
    pub fn minutes_until_open(&self, now: DateTime<Utc>) -> u32 {
        if self.contains(now) {
            return 0;
        }
        let m = Self::minute_of_day(now);
        (self.start + DAY_MINUTES - m) % DAY_MINUTES
    }
}

impl FromStr for MaintenanceWindow {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |detail: &str| WindowError {
            text: text.to_owned(),
            detail: detail.to_owned(),
        };
        let (start, end) = text
            .trim()
            .split_once('-')
            .ok_or_else(|| err("no '-' between the start and the end"))?;
        let start = parse_clock(start.trim()).map_err(|d| err(&d))?;
        let end = parse_clock(end.trim()).map_err(|d| err(&d))?;
        if start == DAY_MINUTES {
            return Err(err("24:00 is only an end (the start of the day is 00:00)"));
        }
        if start == end {
            return Err(err("the start and the end are the same time"));
        }
        Ok(Self { start, end })
    }
}

impl fmt::Display for MaintenanceWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// `HH:MM` (24-hour) → minutes after midnight; `24:00` (the end of the day) is 1440.
fn parse_clock(text: &str) -> Result<u32, String> {
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("\"{text}\" is not HH:MM"))?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return Err(format!("\"{text}\" is not HH:MM"));
    }
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| format!("\"{text}\" is not HH:MM"))?,
        m.parse().map_err(|_| format!("\"{text}\" is not HH:MM"))?,
    );
    match (h, m) {
        (24, 0) => Ok(DAY_MINUTES),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(format!("\"{text}\" is not a time of day")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A UTC instant at `h:m` Vietnam time on 2026-12-02.
    fn at(h: u32, m: u32) -> DateTime<Utc> {
        crate::vietnam_offset()
            .with_ymd_and_hms(2026, 12, 2, h, m, 0)
            .single()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn window(text: &str) -> MaintenanceWindow {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_window_past_midnight_is_in_vietnam_time() {
        let w = window("22:00-05:00");
        assert!(w.contains(at(22, 0)));
        assert!(w.contains(at(2, 30)));
        assert!(w.contains(at(4, 59)));
        assert!(!w.contains(at(5, 0)));
        assert!(
            !w.contains(at(14, 0)),
            "14:00 in Hanoi is 07:00 UTC, a working hour"
        );
        assert_eq!(w.minutes_until_open(at(21, 30)), 30);
        assert_eq!(w.minutes_until_open(at(5, 0)), 17 * 60);
        assert_eq!(w.minutes_until_open(at(23, 0)), 0);
        assert_eq!(w.to_string(), "22:00-05:00");
    }

    #[test]
    fn a_window_inside_one_day() {
        let w = window(" 12:00 - 13:30 ");
        assert!(w.contains(at(12, 0)) && w.contains(at(13, 29)));
        assert!(!w.contains(at(13, 30)) && !w.contains(at(11, 59)));
        assert!(window("18:00-24:00").contains(at(23, 59)));
        assert!(!window("18:00-24:00").contains(at(0, 0)));
        let all_day = window("00:00-24:00");
        assert!(
            all_day.contains(at(0, 0))
                && all_day.contains(at(12, 0))
                && all_day.contains(at(23, 59))
        );
        assert_eq!(all_day.to_string(), "00:00-24:00");
    }

    #[test]
    fn bad_windows_are_refused_with_the_text() {
        for bad in [
            "",
            "22:00",
            "22-05",
            "25:00-05:00",
            "22:60-05:00",
            "2:00-05:00",
            "05:00-05:00",
        ] {
            let err = bad.parse::<MaintenanceWindow>().expect_err(bad);
            assert!(err.to_string().contains(&format!("\"{bad}\"")), "{err}");
        }
    }
}
