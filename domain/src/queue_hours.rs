//! The wait printed on a ticket, placed in the office's working hours (issue #18).
//!
//! [`crate::queue_wait`] estimates a band of *working* minutes: how long the counters must work
//! before the ticket is called. A simulated day showed that band is right for tickets served in
//! the session they were printed in (~8 in 10 inside) but almost always wrong for tickets that
//! wait through the lunch break, because nobody is called between the sessions. This module lays
//! the working band onto the day's sessions:
//! - the band ends before the current session closes → [`WaitEstimate::Range`] (printed as is);
//! - nobody ahead and a counter free → [`WaitEstimate::AboutToBeCalled`];
//! - the band runs past the close → the part after it moves into the next session (the break is
//!   added) → [`WaitEstimate::AfterBreak`], printed with the time the office reopens;
//! - the band runs past the last session of the day → [`WaitEstimate::MayCarryOver`]: the ticket
//!   says the visit may move to the next working day instead of promising a time that does not
//!   exist.
//!
//! The services under way at a close are finished during the break, not after it, so the part
//! of the band moved past a break is shortened by their expected remaining time: the mean
//! residual of a service in progress, `(μ² + σ²) / 2μ` (renewal theory; 4.3 minutes for the
//! 6 ± 4 minute prior), never below zero. Without it a ticket first in line at 13:30 was told
//! "a few minutes after 13:30" and called at 13:30 sharp.
//!
//! A call happens only strictly before a session's close (a service under way is finished, but
//! nobody new is called at the closing minute), so working time that ends exactly at the close
//! falls at the next opening.
//!
//! The sessions are an input: [`COMMUNE_SESSIONS`] is the usual commune schedule
//! (07:30–11:30, 13:30–17:00), but each province sets its own office hours by decision of its
//! People's Committee (summer and winter hours differ in some), so the hub passes the centre's
//! configured sessions.

use chrono::{NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use crate::queue_wait::{
    band_with, NoEstimate, QueueNow, ServiceStats, WaitPlacement, WaitRange, MIN_BAND_MINUTES,
};

/// One office session of the day: tickets are called from `opens` until just before `closes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Opening time (local civil time).
    pub opens: NaiveTime,
    /// Closing time; nobody new is called from this minute.
    pub closes: NaiveTime,
}

const fn hm(h: u32, m: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(h, m, 0) {
        Some(t) => t,
        None => NaiveTime::MIN,
    }
}

/// The usual commune one-stop schedule, 07:30–11:30 and 13:30–17:00. Provinces set their own
/// office hours, so this is only a default for a centre with none configured.
pub const COMMUNE_SESSIONS: [Session; 2] = [
    Session {
        opens: hm(7, 30),
        closes: hm(11, 30),
    },
    Session {
        opens: hm(13, 30),
        closes: hm(17, 0),
    },
];

/// What the ticket says about its wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WaitEstimate {
    /// Nobody ahead and a counter free: called as soon as staff press "next". `band` is the
    /// 0–[`crate::queue_wait::MIN_BAND_MINUTES`] band it is judged against.
    AboutToBeCalled {
        /// Elapsed minutes from printing.
        band: WaitRange,
    },
    /// Called within the current session, in this band of elapsed minutes.
    Range {
        /// Elapsed minutes from printing.
        band: WaitRange,
    },
    /// Part or all of the band falls after a break; the break is included in `band`.
    AfterBreak {
        /// Elapsed minutes from printing, break included (what the report judges).
        band: WaitRange,
        /// When the session that holds the band's high end opens.
        resumes: NaiveTime,
        /// Minutes after `resumes` of the band's low end, when it also falls after the break;
        /// `None` when the ticket may still be called before the break.
        low_after: Option<u32>,
        /// Minutes after `resumes` of the band's high end.
        high_after: u32,
    },
    /// The band runs past the last session of the day: the visit may move to the next working
    /// day. No end is promised.
    MayCarryOver {
        /// Elapsed minutes from printing of the band's low end, breaks included (or to the last
        /// close when even that end falls after it).
        earliest_minutes: u32,
    },
}

impl WaitEstimate {
    /// Vietnamese text for the ticket.
    pub fn label_vi(&self) -> String {
        match self {
            Self::AboutToBeCalled { .. } => "sắp được gọi".into(),
            Self::Range { band } => band.label_vi(),
            Self::AfterBreak {
                resumes,
                low_after: Some(low),
                high_after,
                ..
            } => format!(
                "sau {}, khoảng {low}–{high_after} phút",
                resumes.format("%H:%M")
            ),
            Self::AfterBreak {
                band,
                resumes,
                low_after: None,
                high_after,
            } => format!(
                "từ khoảng {} phút, có thể sau {} (đến {high_after} phút sau giờ mở lại)",
                band.low_minutes,
                resumes.format("%H:%M")
            ),
            Self::MayCarryOver { .. } => "có thể sang ngày làm việc sau".into(),
        }
    }

    /// English text for the ticket.
    pub fn label_en(&self) -> String {
        match self {
            Self::AboutToBeCalled { .. } => "about to be called".into(),
            Self::Range { band } => band.label_en(),
            Self::AfterBreak {
                resumes,
                low_after: Some(low),
                high_after,
                ..
            } => format!(
                "after {}, about {low}–{high_after} min",
                resumes.format("%H:%M")
            ),
            Self::AfterBreak {
                band,
                resumes,
                low_after: None,
                high_after,
            } => format!(
                "from about {} min, possibly after {} (up to {high_after} min after it reopens)",
                band.low_minutes,
                resumes.format("%H:%M")
            ),
            Self::MayCarryOver { .. } => "may be carried over to the next working day".into(),
        }
    }

    /// The ticket's text, Vietnamese first.
    pub fn label(&self) -> String {
        format!("{} / {}", self.label_vi(), self.label_en())
    }

    /// Whether the ticket had to queue (anything but [`WaitEstimate::AboutToBeCalled`]).
    pub fn queued(&self) -> bool {
        !matches!(self, Self::AboutToBeCalled { .. })
    }

    /// Places an actual wait (seconds, issued → called) against what was printed. A
    /// carry-over warning promises no end, so a call after its earliest minute is inside.
    pub fn place(&self, wait_secs: i64) -> WaitPlacement {
        match self {
            Self::AboutToBeCalled { band }
            | Self::Range { band }
            | Self::AfterBreak { band, .. } => band.place(wait_secs),
            Self::MayCarryOver { earliest_minutes } => {
                if wait_secs < i64::from(*earliest_minutes) * 60 {
                    WaitPlacement::Earlier
                } else {
                    WaitPlacement::Inside
                }
            }
        }
    }
}

/// Sessions as (opens, closes) seconds since midnight, sorted, empty ones dropped.
fn secs_of(sessions: &[Session]) -> Vec<(i64, i64)> {
    let mut s: Vec<(i64, i64)> = sessions
        .iter()
        .map(|s| {
            (
                i64::from(s.opens.num_seconds_from_midnight()),
                i64::from(s.closes.num_seconds_from_midnight()),
            )
        })
        .filter(|(o, c)| o < c)
        .collect();
    s.sort_unstable();
    s
}

/// The clock second (and session index) at which `work` seconds of counter time, counted from
/// `from`, have passed; `None` when the day's sessions end first.
/// `credit` seconds are taken off the work left each time a close is crossed (the services
/// under way finish in the break).
fn advance(sessions: &[(i64, i64)], from: i64, mut work: i64, credit: i64) -> Option<(i64, usize)> {
    let mut crossed = false;
    for (i, &(opens, closes)) in sessions.iter().enumerate() {
        if closes <= from {
            continue;
        }
        if crossed {
            work = (work - credit).max(0);
        }
        crossed = true;
        let start = from.max(opens);
        let available = closes - start;
        if work < available {
            return Some((start + work, i));
        }
        work -= available;
    }
    None
}

fn minutes_floor(secs: i64) -> u32 {
    u32::try_from(secs.max(0) / 60).unwrap_or(u32::MAX)
}

fn minutes_ceil(secs: i64) -> u32 {
    u32::try_from((secs.max(0) + 59) / 60).unwrap_or(u32::MAX)
}

/// Lays a band of working minutes, printed at `issued`, onto the day's `sessions`. `free` says
/// a counter is free for the ticket (nobody ahead): it is called at once if a session is open.
/// `break_credit_secs` is the work finished during each break (see the module documentation).
pub fn in_hours(
    band: WaitRange,
    free: bool,
    issued: NaiveTime,
    sessions: &[Session],
    break_credit_secs: i64,
) -> WaitEstimate {
    let s = secs_of(sessions);
    let t = i64::from(issued.num_seconds_from_midnight());
    let open_now = s.iter().position(|&(o, c)| (o..c).contains(&t));
    if free && open_now.is_some() {
        // A free counter calls at once, even a minute before the close.
        return WaitEstimate::AboutToBeCalled { band };
    }
    let credit = break_credit_secs.max(0);
    let low = advance(&s, t, i64::from(band.low_minutes) * 60, credit);
    let high = advance(&s, t, i64::from(band.high_minutes) * 60, credit);
    let Some((high_at, high_session)) = high else {
        let earliest = match low {
            Some((at, _)) => at - t,
            None => s.last().map_or(0, |&(_, closes)| closes - t),
        };
        return WaitEstimate::MayCarryOver {
            earliest_minutes: minutes_floor(earliest),
        };
    };
    if open_now == Some(high_session) {
        return WaitEstimate::Range { band };
    }
    let resumes = s[high_session].0;
    let low_at = low.map_or(high_at, |(at, _)| at);
    let low_after = (low.map(|(_, i)| i) == Some(high_session) || open_now.is_none())
        .then(|| minutes_floor(low_at - resumes));
    // The break credit may squeeze the band; keep it as wide as the narrowest printed band.
    let high_at = high_at.max(low_at + i64::from(MIN_BAND_MINUTES) * 60);
    WaitEstimate::AfterBreak {
        band: WaitRange {
            low_minutes: minutes_floor(low_at - t),
            high_minutes: minutes_ceil(high_at - t),
        },
        resumes: NaiveTime::from_num_seconds_from_midnight_opt(
            u32::try_from(resumes).unwrap_or(0),
            0,
        )
        .unwrap_or(NaiveTime::MIN),
        low_after,
        high_after: minutes_ceil(high_at - resumes),
    }
}

/// The estimate for a ticket printed at `issued`, from the queue, the service figures and the
/// day's sessions (see the module documentation).
pub fn estimate_in_hours(
    now: QueueNow,
    stats: ServiceStats,
    issued: NaiveTime,
    sessions: &[Session],
) -> Result<WaitEstimate, NoEstimate> {
    let (band, free) = band_with(now, stats)?;
    let mean = stats.mean_secs.max(1.0);
    let residual = (mean * mean + stats.sd_secs.powi(2)) / (2.0 * mean);
    // `as` saturates; a residual is minutes, never near i64's range.
    Ok(in_hours(band, free, issued, sessions, residual as i64))
}

/// [`estimate_in_hours`] from today's finished service times (seconds) at the area.
pub fn estimate_wait_in_hours(
    now: QueueNow,
    service_secs: &[u32],
    issued: NaiveTime,
    sessions: &[Session],
) -> Result<WaitEstimate, NoEstimate> {
    estimate_in_hours(
        now,
        ServiceStats::from_service_secs(service_secs),
        issued,
        sessions,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(waiting_ahead: u32, counters_open: u32, counters_free: u32) -> QueueNow {
        QueueNow {
            waiting_ahead,
            counters_open,
            counters_free,
        }
    }

    fn r(low_minutes: u32, high_minutes: u32) -> WaitRange {
        WaitRange {
            low_minutes,
            high_minutes,
        }
    }

    fn at(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    const FLAT: [u32; 5] = [360; 5];

    #[test]
    fn a_band_inside_the_session_is_printed_as_is() {
        let e = in_hours(r(10, 20), false, at(9, 0), &COMMUNE_SESSIONS, 0);
        assert_eq!(e, WaitEstimate::Range { band: r(10, 20) });
        assert_eq!(e.label(), "khoảng 10–20 phút / about 10–20 min");
        // Ending one minute before the close is still this session.
        let e = in_hours(r(10, 20), false, at(11, 9), &COMMUNE_SESSIONS, 0);
        assert_eq!(e, WaitEstimate::Range { band: r(10, 20) });
    }

    #[test]
    fn nobody_ahead_and_a_free_counter_is_about_to_be_called() {
        let e = estimate_wait_in_hours(q(0, 2, 1), &FLAT, at(8, 0), &COMMUNE_SESSIONS).unwrap();
        assert_eq!(e, WaitEstimate::AboutToBeCalled { band: r(0, 5) });
        assert_eq!(e.label(), "sắp được gọi / about to be called");
        assert!(!e.queued());
        assert_eq!(e.place(0), WaitPlacement::Inside);
        // Even a minute before the close: the free counter calls now.
        let e = estimate_wait_in_hours(q(0, 2, 1), &FLAT, at(16, 59), &COMMUNE_SESSIONS).unwrap();
        assert!(!e.queued(), "{e:?}");
    }

    #[test]
    fn a_ticket_at_11_20_with_a_20_minute_band_is_after_the_break() {
        // 10–20 working minutes from 11:20: both ends reach 11:30, where nobody is called, so
        // the ticket is called 13:30–13:40, 130–140 minutes after printing.
        let e = in_hours(r(10, 20), false, at(11, 20), &COMMUNE_SESSIONS, 0);
        assert_eq!(
            e,
            WaitEstimate::AfterBreak {
                band: r(130, 140),
                resumes: at(13, 30),
                low_after: Some(0),
                high_after: 10,
            }
        );
        assert_eq!(
            e.label(),
            "sau 13:30, khoảng 0–10 phút / after 13:30, about 0–10 min"
        );
        assert_eq!(e.place(135 * 60), WaitPlacement::Inside);
        // What the session-blind band would have said (10–20) is far too early.
        assert_eq!(e.place(20 * 60), WaitPlacement::Earlier);
        // Through the estimator: 3 ahead, 2 busy counters, 6 ± 0 min → 9–15 working minutes.
        // The service under way at 11:30 has 3 min left on average, finished in the break, so
        // the 5 minutes after the break become 2.
        let e = estimate_wait_in_hours(q(3, 2, 0), &FLAT, at(11, 20), &COMMUNE_SESSIONS).unwrap();
        assert!(
            matches!(
                e,
                WaitEstimate::AfterBreak {
                    low_after: None,
                    high_after: 2,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.label_vi().contains("có thể sau 13:30"),
            "{}",
            e.label_vi()
        );
    }

    #[test]
    fn the_services_under_way_at_the_close_finish_in_the_break() {
        // 5 minutes of the 10 after the break were the services in progress at 11:30.
        let e = in_hours(r(10, 20), false, at(11, 20), &COMMUNE_SESSIONS, 300);
        assert!(
            matches!(
                e,
                WaitEstimate::AfterBreak {
                    low_after: Some(0),
                    high_after: 5,
                    ..
                }
            ),
            "{e:?}"
        );
        // The credit never makes the band start before the office reopens, nor narrower than
        // the minimum band.
        let e = in_hours(r(10, 20), false, at(11, 20), &COMMUNE_SESSIONS, 3600);
        assert!(
            matches!(e, WaitEstimate::AfterBreak { band, high_after: 5, .. } if band == r(130, 135)),
            "{e:?}"
        );
    }

    #[test]
    fn a_band_straddling_the_break_may_still_be_called_before_it() {
        let e = in_hours(r(5, 30), false, at(11, 15), &COMMUNE_SESSIONS, 0);
        // Low end 11:20 (morning); high end 15 working minutes after 13:30 → 13:45.
        assert_eq!(
            e,
            WaitEstimate::AfterBreak {
                band: r(5, 150),
                resumes: at(13, 30),
                low_after: None,
                high_after: 15,
            }
        );
        assert_eq!(
            e.label_en(),
            "from about 5 min, possibly after 13:30 (up to 15 min after it reopens)"
        );
    }

    #[test]
    fn a_ticket_at_16_50_with_a_long_queue_may_carry_over() {
        // 12 ahead, 2 busy counters: about 39 working minutes, only 10 left today.
        let e = estimate_wait_in_hours(q(12, 2, 0), &FLAT, at(16, 50), &COMMUNE_SESSIONS).unwrap();
        assert_eq!(
            e,
            WaitEstimate::MayCarryOver {
                earliest_minutes: 10
            }
        );
        assert_eq!(
            e.label(),
            "có thể sang ngày làm việc sau / may be carried over to the next working day"
        );
        // It promises no end, so a late call does not break it.
        assert_eq!(e.place(9 * 60), WaitPlacement::Earlier);
        assert_eq!(e.place(10 * 60), WaitPlacement::Inside);
        // A band that starts today but may end after 17:00 warns too.
        let e = in_hours(r(5, 15), false, at(16, 50), &COMMUNE_SESSIONS, 0);
        assert_eq!(
            e,
            WaitEstimate::MayCarryOver {
                earliest_minutes: 5
            }
        );
    }

    #[test]
    fn provinces_set_their_own_hours_and_a_ticket_before_opening_waits_for_it() {
        let summer = [
            Session {
                opens: at(13, 0),
                closes: at(17, 0),
            },
            Session {
                opens: at(7, 0),
                closes: at(11, 0),
            },
        ];
        // Unsorted input is sorted; 10:55 + 10 min runs into the 13:00 session.
        let e = in_hours(r(5, 10), false, at(10, 55), &summer, 0);
        assert!(
            matches!(e, WaitEstimate::AfterBreak { resumes, high_after: 5, .. } if resumes == at(13, 0)),
            "{e:?}"
        );
        // Printed at 7:20 before a 7:30 opening: the wait starts at the opening.
        let e = in_hours(r(0, 5), true, at(7, 20), &COMMUNE_SESSIONS, 0);
        assert_eq!(
            e,
            WaitEstimate::AfterBreak {
                band: r(10, 15),
                resumes: at(7, 30),
                low_after: Some(0),
                high_after: 5,
            }
        );
        // No sessions at all: nothing can be promised.
        let e = in_hours(r(0, 5), true, at(9, 0), &[], 0);
        assert_eq!(
            e,
            WaitEstimate::MayCarryOver {
                earliest_minutes: 0
            }
        );
    }

    #[test]
    fn more_people_ahead_never_brings_the_call_earlier() {
        // Elapsed-time ends never fall as the queue grows, wherever the ticket is printed; once
        // the band leaves the day it stays a carry-over warning.
        for issued in [at(8, 0), at(11, 0), at(11, 25), at(16, 30)] {
            for counters in 1..=3 {
                let mut prev =
                    estimate_wait_in_hours(q(0, counters, 0), &FLAT, issued, &COMMUNE_SESSIONS)
                        .unwrap();
                for ahead in 1..60 {
                    let e = estimate_wait_in_hours(
                        q(ahead, counters, 0),
                        &FLAT,
                        issued,
                        &COMMUNE_SESSIONS,
                    )
                    .unwrap();
                    match (prev, e) {
                        (_, WaitEstimate::MayCarryOver { .. }) => {}
                        (WaitEstimate::MayCarryOver { .. }, later) => {
                            panic!("{ahead} ahead at {issued}: carry-over then {later:?}")
                        }
                        (
                            WaitEstimate::Range { band: a }
                            | WaitEstimate::AfterBreak { band: a, .. }
                            | WaitEstimate::AboutToBeCalled { band: a },
                            WaitEstimate::Range { band: b }
                            | WaitEstimate::AfterBreak { band: b, .. }
                            | WaitEstimate::AboutToBeCalled { band: b },
                        ) => assert!(
                            b.low_minutes >= a.low_minutes && b.high_minutes >= a.high_minutes,
                            "{ahead} ahead at {issued}: {a:?} then {b:?}"
                        ),
                    }
                    prev = e;
                }
            }
        }
    }

    #[test]
    fn the_estimate_round_trips_through_json() {
        let e = in_hours(r(10, 20), false, at(11, 20), &COMMUNE_SESSIONS, 0);
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(json["kind"], "after_break");
        assert_eq!(json["resumes"], "13:30:00");
        let back: WaitEstimate = serde_json::from_value(json).unwrap();
        assert_eq!(back, e);
    }
}
