//! A replay of a commune one-stop desk's day, to see how honest the ticket's wait band is and
//! how often a visit stays within 15 minutes, before any real day was recorded (issue #18).
//!
//! # Model (every number here is an assumption, chosen to look like a commune desk)
//! - **Office hours** 7:30–11:30 and 13:30–17:00. Tickets are printed only then.
//! - **Arrivals**: a non-homogeneous Poisson process whose intensity is constant per half hour
//!   ([`ARRIVAL_PROFILE`]): a morning peak 8:00–10:30 and a smaller afternoon one 14:00–15:30.
//!   The day's count is fixed (`arrivals`); given its count, a Poisson process's arrival times
//!   are independent draws from its normalised intensity, which is how they are drawn here.
//! - **Counters**: `counters` open for the whole of both sessions, one FIFO queue (one area).
//!   A free counter calls the next ticket at once; of several free counters the one idle
//!   longest calls.
//! - **Service**: lognormal, median 5 minutes, σ = 0.75 (mean ≈ 6.6 minutes, ~3 % over 20
//!   minutes, ~0.5 % over 30), clamped to 30 s … 90 min.
//! - **No-shows**: [`NO_SHOW_PROBABILITY`] of called tickets; the counter waits
//!   [`NO_SHOW_SECS`] and calls the next.
//! - **Session ends**: a service under way is finished; nobody new is called. Tickets still
//!   waiting at 11:30 are carried over and called first at 13:30 (their wait includes lunch);
//!   tickets still waiting at 17:00 are carried over to the next day and stay uncalled here.
//! - **Promised wait**: each ticket gets [`estimate_wait_in_hours`] from the queue at its
//!   printing, the service times finished so far that day and the sessions above. With
//!   `knows_hours: false` the estimator is given one session covering the whole day instead,
//!   which replays the session-blind band printed before the sessions were an input (to compare
//!   the two on the same day).
//! - **Ratings** are not simulated: any model of satisfaction would be invented, so the
//!   satisfaction figures come only from real ratings.
//!
//! The random source is [`SplitMix64`], a tiny deterministic generator so that a seed replays
//! the same day and the domain crate needs no dependency. It is not for anything secret.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};

use crate::queue_hours::{estimate_wait_in_hours, Session, COMMUNE_SESSIONS};
use crate::queue_report::TicketRecord;
use crate::queue_wait::QueueNow;

/// Office sessions, seconds since midnight: 7:30–11:30 and 13:30–17:00 (the same as
/// [`COMMUNE_SESSIONS`]; a test checks it).
pub const SESSIONS: [(i64, i64); 2] = [(27_000, 41_400), (48_600, 61_200)];
/// Relative arrival intensity per half hour from 7:30 (only slots inside [`SESSIONS`] count).
pub const ARRIVAL_PROFILE: [(i64, f64); 15] = [
    (27_000, 1.0), // 7:30
    (28_800, 2.0), // 8:00 peak
    (30_600, 3.0),
    (32_400, 3.0),
    (34_200, 2.5),
    (36_000, 2.0), // 10:00
    (37_800, 1.2), // 10:30
    (39_600, 0.6), // 11:00
    (48_600, 1.0), // 13:30
    (50_400, 2.0), // 14:00 peak
    (52_200, 2.5),
    (54_000, 2.0), // 15:00
    (55_800, 1.2), // 15:30
    (57_600, 0.8),
    (59_400, 0.4), // 16:30
];
const SLOT_SECS: i64 = 1_800;
/// Median service time, seconds.
pub const SERVICE_MEDIAN_SECS: f64 = 300.0;
/// σ of the service time's logarithm.
pub const SERVICE_LOG_SIGMA: f64 = 0.75;
/// Share of called tickets nobody answers.
pub const NO_SHOW_PROBABILITY: f64 = 0.04;
/// Time a counter spends calling an absent citizen, seconds.
pub const NO_SHOW_SECS: i64 = 60;

/// Sebastiano Vigna's splitmix64: deterministic per seed, fast, statistically fine for a
/// simulation. Not for anything secret (it is trivially predictable).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator replaying the stream of `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box–Muller; one of the pair is dropped for simplicity).
    pub fn next_normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// One simulated day's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Counters open in both sessions (at least 1).
    pub counters: u32,
    /// Tickets printed in the day.
    pub arrivals: u32,
    /// Seed of the random stream.
    pub seed: u64,
    /// The day (only labels the records).
    pub date: NaiveDate,
    /// Whether the estimator is told the sessions (false replays the session-blind band).
    pub knows_hours: bool,
}

/// The whole day as one session: what a session-blind estimator assumes.
const ALL_DAY: [Session; 1] = [Session {
    opens: chrono::NaiveTime::MIN,
    closes: match chrono::NaiveTime::from_hms_opt(23, 59, 59) {
        Some(t) => t,
        None => chrono::NaiveTime::MIN,
    },
}];

/// Whether a ticket was printed in one session and called in a later one: it waited through a
/// break (lunch, in the commune schedule).
pub fn waited_through_break(r: &TicketRecord) -> bool {
    use chrono::Timelike;
    let vn = crate::vietnam_offset();
    let session = |t: DateTime<FixedOffset>| {
        session_at(i64::from(t.with_timezone(&vn).num_seconds_from_midnight()))
    };
    match (session(r.issued_at), r.called_at.and_then(session)) {
        (Some(issued), Some(called)) => called > issued,
        _ => false,
    }
}

/// The area code of the simulated desk (hộ tịch, civil status).
pub const SIM_AREA: &str = "HT";

fn sample_arrival(rng: &mut SplitMix64) -> i64 {
    let total: f64 = ARRIVAL_PROFILE.iter().map(|&(_, w)| w).sum();
    let mut pick = rng.next_f64() * total;
    let mut slot = ARRIVAL_PROFILE[ARRIVAL_PROFILE.len() - 1].0;
    for &(start, w) in &ARRIVAL_PROFILE {
        if pick < w {
            slot = start;
            break;
        }
        pick -= w;
    }
    slot + (rng.next_f64() * SLOT_SECS as f64) as i64
}

fn sample_service(rng: &mut SplitMix64) -> i64 {
    let secs = SERVICE_MEDIAN_SECS * (SERVICE_LOG_SIGMA * rng.next_normal()).exp();
    (secs as i64).clamp(30, 90 * 60)
}

fn session_at(t: i64) -> Option<usize> {
    SESSIONS
        .iter()
        .position(|&(open, close)| (open..close).contains(&t))
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    /// Ticket at the counter, when it was called, when the counter frees.
    busy: Option<(usize, i64, i64)>,
    free_since: i64,
}

/// Replays one day; the records are in ticket order (by printing time).
pub fn simulate_day(cfg: &SimConfig) -> Vec<TicketRecord> {
    let mut rng = SplitMix64::new(cfg.seed);
    let mut arrivals: Vec<i64> = (0..cfg.arrivals)
        .map(|_| sample_arrival(&mut rng))
        .collect();
    arrivals.sort_unstable();
    let n_counters = cfg.counters.max(1) as usize;
    let vn = crate::vietnam_offset();
    let local_midnight = cfg.date.and_time(chrono::NaiveTime::MIN);
    let midnight = DateTime::<FixedOffset>::from_naive_utc_and_offset(
        local_midnight - Duration::seconds(i64::from(vn.local_minus_utc())),
        vn,
    );
    let clock = |secs: i64| midnight + Duration::seconds(secs);
    let mut records: Vec<TicketRecord> = arrivals
        .iter()
        .map(|&t| TicketRecord {
            area: SIM_AREA.to_owned(),
            counter: None,
            issued_at: clock(t),
            called_at: None,
            finished_at: None,
            no_show: false,
            promised: None,
            rating: None,
        })
        .collect();
    let mut counters = vec![
        Counter {
            busy: None,
            free_since: SESSIONS[0].0
        };
        n_counters
    ];
    let mut queue = std::collections::VecDeque::new();
    let mut measured: Vec<u32> = Vec::new();
    let mut next_arrival = 0usize;
    let mut next_session = 1usize; // the morning opens with the first arrival's dispatch
    loop {
        let done = counters
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.busy.map(|(_, _, until)| (until, i)))
            .min();
        let arrival = arrivals.get(next_arrival).copied();
        let opening = SESSIONS.get(next_session).map(|&(open, _)| open);
        // Completions first at equal times, so an arrival sees the counter that just freed.
        let t = match [done.map(|d| d.0), arrival, opening]
            .into_iter()
            .flatten()
            .min()
        {
            Some(t) => t,
            None => break,
        };
        if let Some((until, i)) = done.filter(|&(until, _)| until == t) {
            if let Some((ticket, called, _)) = counters[i].busy.take() {
                let r = &mut records[ticket];
                if !r.no_show {
                    r.finished_at = Some(clock(until));
                    measured.push(u32::try_from(until - called).unwrap_or(u32::MAX));
                }
            }
            counters[i].free_since = t;
        } else if arrival == Some(t) {
            let open = session_at(t).is_some();
            let free = counters.iter().filter(|c| c.busy.is_none()).count();
            let now = QueueNow {
                waiting_ahead: queue.len() as u32,
                counters_open: if open { n_counters as u32 } else { 0 },
                counters_free: if open { free as u32 } else { 0 },
            };
            let sessions: &[Session] = if cfg.knows_hours {
                &COMMUNE_SESSIONS
            } else {
                &ALL_DAY
            };
            let issued = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
                u32::try_from(t).unwrap_or(0),
                0,
            )
            .unwrap_or(chrono::NaiveTime::MIN);
            records[next_arrival].promised =
                estimate_wait_in_hours(now, &measured, issued, sessions).ok();
            queue.push_back(next_arrival);
            next_arrival += 1;
        } else {
            next_session += 1;
        }
        // Call waiting tickets while a session is open and a counter is free.
        if session_at(t).is_some() {
            while let Some(&ticket) = queue.front() {
                let Some(i) = (0..n_counters)
                    .filter(|&i| counters[i].busy.is_none())
                    .min_by_key(|&i| (counters[i].free_since, i))
                else {
                    break;
                };
                queue.pop_front();
                let r = &mut records[ticket];
                r.counter = Some(format!("Q{}", i + 1));
                r.called_at = Some(clock(t));
                r.no_show = rng.next_f64() < NO_SHOW_PROBABILITY;
                let length = if r.no_show {
                    NO_SHOW_SECS
                } else {
                    sample_service(&mut rng)
                };
                counters[i].busy = Some((ticket, t, t + length));
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue_report::build_report;

    fn cfg(counters: u32, arrivals: u32, seed: u64) -> SimConfig {
        SimConfig {
            counters,
            arrivals,
            seed,
            date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            knows_hours: true,
        }
    }

    #[test]
    fn the_simulated_sessions_are_the_commune_schedule() {
        use chrono::Timelike;
        let commune: Vec<(i64, i64)> = COMMUNE_SESSIONS
            .iter()
            .map(|s| {
                (
                    i64::from(s.opens.num_seconds_from_midnight()),
                    i64::from(s.closes.num_seconds_from_midnight()),
                )
            })
            .collect();
        assert_eq!(commune, SESSIONS);
    }

    #[test]
    fn knowing_the_hours_keeps_more_lunch_tickets_inside_their_promise() {
        // Two counters, a busy day: many morning tickets are called after lunch.
        let inside = |knows_hours: bool| {
            let mut c = cfg(2, 160, 7);
            c.knows_hours = knows_hours;
            let day = simulate_day(&c);
            let lunch: Vec<&TicketRecord> =
                day.iter().filter(|r| waited_through_break(r)).collect();
            assert!(
                lunch.len() >= 5,
                "only {} waited through lunch",
                lunch.len()
            );
            crate::queue_report::stats_of(&lunch)
                .promise_inside_share
                .expect("lunch tickets had promises")
        };
        let (blind, aware) = (inside(false), inside(true));
        assert!(aware > blind + 0.3, "blind {blind:.2}, aware {aware:.2}");
    }

    fn secs_of_day(t: DateTime<FixedOffset>) -> i64 {
        use chrono::Timelike;
        i64::from(t.num_seconds_from_midnight())
    }

    #[test]
    fn splitmix64_matches_its_reference_stream() {
        // The usual splitmix64 test vector for seed 1234567 (rechecked against a transliteration
        // of Vigna's splitmix64.c in Python).
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
        let u = (0..1000).map(|_| r.next_f64()).fold(0.0, f64::max);
        assert!(u < 1.0);
    }

    #[test]
    fn a_seed_replays_the_same_day_and_another_seed_does_not() {
        let a = simulate_day(&cfg(3, 120, 7));
        let b = simulate_day(&cfg(3, 120, 7));
        let c = simulate_day(&cfg(3, 120, 8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(build_report(&a), build_report(&b));
    }

    #[test]
    fn every_ticket_is_printed_in_office_hours_and_ends_served_absent_or_carried_over() {
        for (counters, seed) in [(2, 1), (3, 2), (4, 3), (1, 4)] {
            let day = simulate_day(&cfg(counters, 150, seed));
            assert_eq!(day.len(), 150);
            let mut busy: Vec<(String, i64, i64)> = Vec::new();
            for r in &day {
                let issued = secs_of_day(r.issued_at);
                assert!(session_at(issued).is_some(), "printed at {}", r.issued_at);
                assert!(
                    r.promised.is_some(),
                    "a counter is open whenever tickets print"
                );
                match (r.called_at, r.finished_at, r.no_show) {
                    // Carried over to the next day: never called, still waiting at 17:00.
                    (None, None, false) => assert!(r.counter.is_none()),
                    (Some(called), finished, no_show) => {
                        let c = secs_of_day(called);
                        assert!(session_at(c).is_some(), "called at {called}");
                        assert!(called >= r.issued_at);
                        let end = match (finished, no_show) {
                            (Some(f), false) => secs_of_day(f),
                            (None, true) => c + NO_SHOW_SECS,
                            other => panic!("served and absent at once: {other:?}"),
                        };
                        assert!(end > c);
                        let counter = r.counter.clone().expect("a called ticket has a counter");
                        busy.push((counter, c, end));
                    }
                    other => panic!("finished or absent without a call: {other:?}"),
                }
            }
            // No counter serves two citizens at once.
            busy.sort();
            for w in busy.windows(2) {
                if w[0].0 == w[1].0 {
                    assert!(w[0].2 <= w[1].1, "overlap at {}: {w:?}", w[0].0);
                }
            }
            // One FIFO queue: the tickets carried over are the last ones printed.
            let called = day.iter().take_while(|r| r.called_at.is_some()).count();
            assert!(day[called..].iter().all(|r| r.called_at.is_none()));
        }
    }

    #[test]
    fn the_day_has_its_peaks_and_its_long_tail() {
        let day = simulate_day(&cfg(4, 2000, 11));
        let issued: Vec<i64> = day.iter().map(|r| secs_of_day(r.issued_at)).collect();
        let count =
            |from: i64, to: i64| issued.iter().filter(|&&t| (from..to).contains(&t)).count();
        // The 8:30–9:30 hour gets more than twice the hourly rate of the first and last half
        // hours (the profile says three times and 7.5 times).
        assert!(count(30_600, 34_200) > 2 * 2 * count(27_000, 28_800));
        assert!(count(30_600, 34_200) > 2 * 2 * count(59_400, 61_200));
        let mut rng = SplitMix64::new(5);
        let services: Vec<i64> = (0..4000).map(|_| sample_service(&mut rng)).collect();
        let over_20 = services.iter().filter(|&&s| s > 1200).count();
        let under_5 = services.iter().filter(|&&s| s < 300).count();
        assert!(
            (60..200).contains(&over_20),
            "{over_20} of 4000 over 20 min"
        );
        assert!(
            (1800..2200).contains(&under_5),
            "median ≈ 5 min: {under_5} under"
        );
    }
}
