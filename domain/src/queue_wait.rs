//! The expected wait printed on a queue ticket ("khoảng 10–20 phút"), estimated honestly from
//! the service times measured today at the ticket's service area (issue #18).
//!
//! # Model
//!
//! A ticket is called when a counter becomes free for it. With `n` people waiting ahead, `f`
//! counters free right now and `c` counters open, the first `f` of those ahead go straight to
//! the free counters, so the ticket is called at the `m = n − f + 1`-th service completion among
//! `c` busy counters. Completions at `c` counters behave, to a first approximation, like the
//! `m` services ahead worked off in parallel: the wait is `W = (S₁ + … + Sₘ) / c`, where `Sᵢ`
//! are service times with the measured mean `μ` and standard deviation `σ`. By the central limit
//! theorem `W ≈ Normal(m·μ/c, m·σ²/c²)`; the ticket shows its 10th–90th percentile band
//! `m·μ/c ± 1.2816·√m·σ/c`, the low end rounded down and the high end up to whole minutes.
//!
//! Why this and not a single number: a ticket that promises "12 phút" is wrong almost every
//! time, and a citizen who is told a band can decide whether to go out and come back. Why a
//! 10–90 band: it should hold for about 8 visits in 10; a wider band would be true but useless.
//!
//! Known simplifications, stated so that nobody reads more into the figure than it holds:
//! - the services in progress count as whole services, not their remaining part (for
//!   exponential service that is exact; for long-tailed service it is slightly optimistic);
//! - with few people ahead the sum is far from normal; the band is therefore widened to at
//!   least [`MIN_BAND_MINUTES`], and its low end is clamped at 0. (Where `m·μ − z·√m·σ` falls
//!   as `m` grows it is negative, so after the clamp neither end ever falls as the queue grows;
//!   the tests check it on wild samples.)
//! - the band is in *working* minutes and knows nothing of the lunch break or closing time;
//!   [`crate::queue_hours`] lays it onto the day's sessions (break added, or a carry-over
//!   warning), and that is what a ticket should print.
//!
//! With fewer than [`MIN_MEASURED`] services measured today (opening time, a new area) the
//! measured mean is meaningless, so a prior is used instead: [`PRIOR_MEAN_SECS`] (6 minutes,
//! the usual length of a commune one-stop transaction such as a certified copy or a birth
//! registration) with [`PRIOR_SD_SECS`] (4 minutes, the spread of a lognormal with a 5-minute
//! median and a 6-minute mean).

use serde::{Deserialize, Serialize};

/// Services that must be measured today before their mean replaces the prior.
pub const MIN_MEASURED: usize = 5;
/// Prior mean service time (6 minutes), used until [`MIN_MEASURED`] services were measured.
pub const PRIOR_MEAN_SECS: f64 = 360.0;
/// Prior standard deviation of a service time (4 minutes).
pub const PRIOR_SD_SECS: f64 = 240.0;
/// The narrowest band printed: a band of 1–2 minutes claims a precision a counter never has.
pub const MIN_BAND_MINUTES: u32 = 5;
/// The standard normal's 90th percentile (the band is its ± around the mean).
const Z90: f64 = 1.281_551_565_5;

/// A wait band in whole minutes, printed on the ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRange {
    /// Lower end, minutes.
    pub low_minutes: u32,
    /// Upper end, minutes (at least `low_minutes + MIN_BAND_MINUTES`).
    pub high_minutes: u32,
}

/// Where an actual wait fell relative to the band that was printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitPlacement {
    /// Called before the band's low end.
    Earlier,
    /// Called within the band (both ends included).
    Inside,
    /// Called after the band's high end: the promise was broken.
    Later,
}

impl WaitRange {
    /// Vietnamese text for the ticket, e.g. "khoảng 10–20 phút".
    pub fn label_vi(&self) -> String {
        format!("khoảng {}–{} phút", self.low_minutes, self.high_minutes)
    }

    /// English text for the ticket, e.g. "about 10–20 min".
    pub fn label_en(&self) -> String {
        format!("about {}–{} min", self.low_minutes, self.high_minutes)
    }

    /// Places an actual wait (seconds) against the band; the ends count as inside.
    pub fn place(&self, wait_secs: i64) -> WaitPlacement {
        if wait_secs < i64::from(self.low_minutes) * 60 {
            WaitPlacement::Earlier
        } else if wait_secs > i64::from(self.high_minutes) * 60 {
            WaitPlacement::Later
        } else {
            WaitPlacement::Inside
        }
    }
}

/// Why no band can be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoEstimate {
    /// No counter serves the area now: any figure would be invented.
    #[error(
        "Chưa có quầy nào mở cho lĩnh vực này, chưa ước tính được thời gian chờ / \
         No counter is open for this area, so no wait can be estimated"
    )]
    NoCounterOpen,
}

/// Where the mean and spread of a service came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceSource {
    /// Measured from today's finished services.
    Measured,
    /// Fewer than [`MIN_MEASURED`] services today: the documented prior.
    Prior,
}

/// Mean and spread of one service, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceStats {
    /// Mean service time, seconds.
    pub mean_secs: f64,
    /// Standard deviation (sample, n − 1), seconds.
    pub sd_secs: f64,
    /// Services measured today (also when the prior is used).
    pub measured: usize,
    /// Whether the figures are measured or the prior.
    pub source: ServiceSource,
}

impl ServiceStats {
    /// Figures from today's finished service times (seconds) at the area, or the prior when
    /// fewer than [`MIN_MEASURED`] were measured.
    pub fn from_service_secs(service_secs: &[u32]) -> Self {
        let n = service_secs.len();
        if n < MIN_MEASURED {
            return Self {
                mean_secs: PRIOR_MEAN_SECS,
                sd_secs: PRIOR_SD_SECS,
                measured: n,
                source: ServiceSource::Prior,
            };
        }
        let nf = n as f64;
        let mean = service_secs.iter().map(|&s| f64::from(s)).sum::<f64>() / nf;
        let var = service_secs
            .iter()
            .map(|&s| (f64::from(s) - mean).powi(2))
            .sum::<f64>()
            / (nf - 1.0);
        Self {
            mean_secs: mean,
            sd_secs: var.sqrt(),
            measured: n,
            source: ServiceSource::Measured,
        }
    }
}

/// The area's queue at the moment a ticket is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueNow {
    /// Tickets of the area issued earlier and not yet called.
    pub waiting_ahead: u32,
    /// Counters serving the area now (open, staffed).
    pub counters_open: u32,
    /// Of those, counters with nobody at them (clamped to `counters_open`).
    pub counters_free: u32,
}

/// The band to print on a new ticket, or why there is none.
///
/// `service_secs` are the service times (called → finished, seconds) of the tickets finished
/// today at this area; see the module documentation for the model.
pub fn estimate_wait(now: QueueNow, service_secs: &[u32]) -> Result<WaitRange, NoEstimate> {
    estimate_with(now, ServiceStats::from_service_secs(service_secs))
}

/// [`estimate_wait`] with the service figures already computed (the hub keeps them per area).
pub fn estimate_with(now: QueueNow, stats: ServiceStats) -> Result<WaitRange, NoEstimate> {
    band_with(now, stats).map(|(band, _)| band)
}

/// The working-minute band and whether a counter is free for the ticket right now (nobody
/// ahead of it), which [`crate::queue_hours`] prints as "about to be called".
pub(crate) fn band_with(
    now: QueueNow,
    stats: ServiceStats,
) -> Result<(WaitRange, bool), NoEstimate> {
    if now.counters_open == 0 {
        return Err(NoEstimate::NoCounterOpen);
    }
    let free = now.counters_free.min(now.counters_open);
    if now.waiting_ahead < free {
        // A counter is free for this ticket: called as soon as staff press "next".
        return Ok((
            WaitRange {
                low_minutes: 0,
                high_minutes: MIN_BAND_MINUTES,
            },
            true,
        ));
    }
    let m = f64::from(now.waiting_ahead - free) + 1.0;
    let c = f64::from(now.counters_open);
    let mean = stats.mean_secs.max(0.0);
    let sd = stats.sd_secs.max(0.0);
    let centre = m * mean / c / 60.0;
    let half = (Z90 * m.sqrt() * sd / c / 60.0).max(f64::from(MIN_BAND_MINUTES) / 2.0);
    let low = centre - half;
    let high = centre + half;
    if low <= 0.0 {
        // `as` saturates: an absurd queue prints a huge number, never wraps.
        let high = (high.ceil() as u32).max(MIN_BAND_MINUTES);
        return Ok((
            WaitRange {
                low_minutes: 0,
                high_minutes: high,
            },
            false,
        ));
    }
    Ok((
        WaitRange {
            low_minutes: low.floor() as u32,
            high_minutes: high.ceil() as u32,
        },
        false,
    ))
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

    /// Five services of exactly 6 minutes: no spread, so only the minimum band widens.
    const FLAT: [u32; 5] = [360; 5];

    #[test]
    fn no_counter_open_gives_no_estimate_with_a_reason() {
        assert_eq!(
            estimate_wait(q(3, 0, 0), &FLAT),
            Err(NoEstimate::NoCounterOpen)
        );
        let msg = NoEstimate::NoCounterOpen.to_string();
        assert!(msg.starts_with("Chưa có quầy"), "{msg}");
        assert!(msg.contains("No counter is open"), "{msg}");
    }

    #[test]
    fn nobody_ahead_and_a_free_counter_is_zero_to_the_minimum_band() {
        assert_eq!(estimate_wait(q(0, 2, 1), &FLAT), Ok(r(0, 5)));
        assert_eq!(estimate_wait(q(1, 3, 2), &[]), Ok(r(0, 5)));
        // More free than open is a caller's slip: clamped, not trusted.
        assert_eq!(estimate_wait(q(0, 1, 9), &FLAT), Ok(r(0, 5)));
    }

    #[test]
    fn known_bands_from_the_normal_approximation() {
        // Nobody ahead, one busy counter, 6 ± 0 min: centre 6, band widened to ±2.5.
        assert_eq!(estimate_wait(q(0, 1, 0), &FLAT), Ok(r(3, 9)));
        // 3 ahead, 2 busy counters: m = 4, centre 4·6/2 = 12 min, ±2.5 → 9.5–14.5 → 9–15.
        assert_eq!(estimate_wait(q(3, 2, 0), &FLAT), Ok(r(9, 15)));
        // Prior (6 ± 4 min), 8 ahead, 2 counters: m = 9, centre 27, half 1.2816·3·4/2 = 7.69.
        assert_eq!(estimate_wait(q(8, 2, 0), &[300, 400]), Ok(r(19, 35)));
        let w = estimate_wait(q(8, 2, 0), &[]).unwrap();
        assert_eq!(w.label_vi(), "khoảng 19–35 phút");
        assert_eq!(w.label_en(), "about 19–35 min");
    }

    #[test]
    fn measured_figures_replace_the_prior_from_the_fifth_service() {
        let four = ServiceStats::from_service_secs(&[60, 60, 60, 60]);
        assert_eq!(four.source, ServiceSource::Prior);
        assert_eq!(four.mean_secs, PRIOR_MEAN_SECS);
        let five = ServiceStats::from_service_secs(&[60, 120, 180, 240, 300]);
        assert_eq!(five.source, ServiceSource::Measured);
        assert_eq!(five.mean_secs, 180.0);
        // Sample variance: (120² + 60² + 0 + 60² + 120²) / 4 = 9000.
        assert!((five.sd_secs - 9000f64.sqrt()).abs() < 1e-9);
        // Fast measured services give a shorter band than the 6-minute prior.
        let fast = estimate_wait(q(10, 2, 0), &[60, 120, 180, 240, 300]).unwrap();
        let prior = estimate_wait(q(10, 2, 0), &[60, 120, 180, 240]).unwrap();
        assert!(fast.high_minutes < prior.high_minutes, "{fast:?} {prior:?}");
    }

    #[test]
    fn a_wild_spread_gives_a_wide_band_and_no_band_is_narrower_than_the_minimum() {
        // One 2-hour service among four 1-minute ones: mean 24.8 min, σ ≈ 53 min. The band is
        // as wide as the data say, not narrowed to look precise.
        let wild = [60, 60, 60, 60, 7200];
        let stats = ServiceStats::from_service_secs(&wild);
        assert!((stats.mean_secs - 1488.0).abs() < 1e-9);
        let expect_high = (stats.mean_secs + Z90 * stats.sd_secs) / 60.0;
        assert_eq!(expect_high.ceil(), 94.0);
        assert_eq!(estimate_wait(q(0, 1, 0), &wild), Ok(r(0, 94)));
        for ahead in 0..60 {
            for counters in 1..6 {
                let w = estimate_wait(q(ahead, counters, 0), &FLAT).unwrap();
                assert!(w.high_minutes - w.low_minutes >= MIN_BAND_MINUTES, "{w:?}");
            }
        }
    }

    #[test]
    fn more_people_ahead_never_lowers_the_band() {
        let samples: [&[u32]; 4] = [
            &[],
            &FLAT,
            &[60, 60, 60, 60, 7200],
            &[120, 300, 1500, 200, 90],
        ];
        for s in samples {
            for counters in 1..=4 {
                for free in 0..=counters {
                    let mut prev = estimate_wait(q(0, counters, free), s).unwrap();
                    for ahead in 1..80 {
                        let w = estimate_wait(q(ahead, counters, free), s).unwrap();
                        assert!(
                            w.low_minutes >= prev.low_minutes
                                && w.high_minutes >= prev.high_minutes,
                            "{ahead} ahead, {counters} open, {free} free: {prev:?} then {w:?}"
                        );
                        prev = w;
                    }
                }
            }
        }
    }

    #[test]
    fn more_counters_never_raise_the_band() {
        let samples: [&[u32]; 3] = [&[], &FLAT, &[120, 300, 1500, 200, 90]];
        for s in samples {
            for ahead in 0..80 {
                for free in 0..=1 {
                    let mut prev = estimate_wait(q(ahead, 1, free), s).unwrap();
                    for counters in 2..8 {
                        let w = estimate_wait(q(ahead, counters, free), s).unwrap();
                        assert!(
                            w.low_minutes <= prev.low_minutes
                                && w.high_minutes <= prev.high_minutes,
                            "{ahead} ahead, {counters} open: {prev:?} then {w:?}"
                        );
                        prev = w;
                    }
                }
            }
        }
    }

    #[test]
    fn placement_counts_both_ends_as_inside() {
        let w = r(10, 20);
        assert_eq!(w.place(599), WaitPlacement::Earlier);
        assert_eq!(w.place(600), WaitPlacement::Inside);
        assert_eq!(w.place(1200), WaitPlacement::Inside);
        assert_eq!(w.place(1201), WaitPlacement::Later);
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#"{"low_minutes":10,"high_minutes":20}"#);
    }
}
