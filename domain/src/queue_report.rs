//! Queue statistics per day, per service area and per counter, from ticket records (issue #18),
//! for the centre's screen and for export. The targets they are read against: a wait of at most
//! 15 minutes per visit and at least 95 % of citizens satisfied.
//!
//! Definitions, so that a figure means the same thing to everyone who reads the export:
//! - **wait** is issued → called. Every called ticket counts, no-shows included: a citizen who
//!   gave up after 40 minutes is exactly the failure the figure must show. Tickets never called
//!   (carried over, still waiting at export time) have no wait yet and are counted apart in
//!   `not_called`; note that leaving them out flatters the wait figures.
//! - **p90** is the nearest-rank 90th percentile: the smallest wait such that at least 90 % of
//!   the waits are at most it (sorted waits, index ⌈0.9·n⌉ − 1).
//! - **service** is called → finished, for tickets served (not no-shows).
//! - **satisfied** is a rating whose indicator score ([`RatingScale::score`]) is 2: "Hài lòng" on
//!   the 3-level scale, "Rất hài lòng" or "Hài lòng" on the 5-level one. The share is over the
//!   ratings given, not over the tickets.
//! - **promised-wait accuracy** is over called tickets that had a printed band: the share whose
//!   wait fell inside it (ends included), called earlier, called later. A band after a break
//!   is judged in elapsed minutes, break included. A carry-over warning
//!   ([`WaitEstimate::MayCarryOver`]) promises no end, so it is counted apart
//!   (`carry_over_warned`) and not in the shares.
//! - the same accuracy over **queued** tickets only (`queued_*`): those not printed as "about
//!   to be called", so that the many easy 0–5 minute cases do not hide the hard ones.
//! - `promised_not_called`: tickets with a band (not a carry-over warning) never called that
//!   day, a broken promise that has no wait and would otherwise vanish from the shares.
//! - the **day** of a ticket is the Vietnamese civil date of its issue time.
//!
//! A record whose times run backwards (a clock stepped between issue and call) is counted in
//! `clock_anomalies` and left out of the time figures instead of making them negative.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::queue_hours::WaitEstimate;
use crate::queue_wait::WaitPlacement;
use crate::rating::RatingScale;

/// The target wait per visit, seconds (15 minutes).
pub const TARGET_WAIT_SECS: i64 = 15 * 60;

/// A rating given for a ticket, on the scale shown at the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRating {
    /// The scale shown.
    pub scale: RatingScale,
    /// The level chosen, 1 = best.
    pub level: u8,
}

/// What the store knows about one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketRecord {
    /// Service area code.
    pub area: String,
    /// Counter that called it, if it was called.
    pub counter: Option<String>,
    /// When it was printed.
    pub issued_at: DateTime<FixedOffset>,
    /// When a counter called it.
    pub called_at: Option<DateTime<FixedOffset>>,
    /// When its service finished (absent for no-shows).
    pub finished_at: Option<DateTime<FixedOffset>>,
    /// Called, but nobody came.
    pub no_show: bool,
    /// What the ticket said about its wait, if anything was printed.
    pub promised: Option<WaitEstimate>,
    /// The citizen's rating, if given.
    pub rating: Option<TicketRating>,
}

/// The figures of one group of tickets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueStats {
    /// Tickets in the group.
    pub tickets: u32,
    /// Of those, called by a counter (no-shows included).
    pub called: u32,
    /// Never called (carried over or still waiting).
    pub not_called: u32,
    /// Called, but nobody came.
    pub no_shows: u32,
    /// Mean wait of called tickets, seconds.
    pub mean_wait_secs: Option<f64>,
    /// Nearest-rank 90th percentile wait, seconds.
    pub p90_wait_secs: Option<i64>,
    /// Longest wait, seconds.
    pub max_wait_secs: Option<i64>,
    /// Share of called tickets that waited at most 15 minutes.
    pub share_wait_within_target: Option<f64>,
    /// Mean service time of served tickets, seconds.
    pub mean_service_secs: Option<f64>,
    /// Ratings given.
    pub ratings: u32,
    /// Ratings with indicator score 2.
    pub satisfied: u32,
    /// `satisfied / ratings`.
    pub satisfaction_share: Option<f64>,
    /// Ratings whose level is not on their scale (a store defect; left out of the shares).
    pub invalid_ratings: u32,
    /// Called tickets that had a printed band.
    pub promised_called: u32,
    /// Share of those called within the band.
    pub promise_inside_share: Option<f64>,
    /// Share called before the band's low end.
    pub promise_earlier_share: Option<f64>,
    /// Share called after the band's high end.
    pub promise_later_share: Option<f64>,
    /// Of `promised_called`, tickets that had to queue (not "about to be called").
    pub queued_promised_called: u32,
    /// Share of those called within the band.
    pub queued_promise_inside_share: Option<f64>,
    /// Share of those called before the band's low end.
    pub queued_promise_earlier_share: Option<f64>,
    /// Share of those called after the band's high end.
    pub queued_promise_later_share: Option<f64>,
    /// Tickets printed with "may be carried over to the next working day".
    pub carry_over_warned: u32,
    /// Tickets with a band (not a carry-over warning) never called.
    pub promised_not_called: u32,
    /// Records with times running backwards, left out of the time figures.
    pub clock_anomalies: u32,
}

/// One area's figures on a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaReport {
    /// Service area code.
    pub area: String,
    /// Its figures.
    pub stats: QueueStats,
}

/// One counter's figures on a day (the tickets it called).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterReport {
    /// Counter name.
    pub counter: String,
    /// Its figures.
    pub stats: QueueStats,
}

/// One day's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayReport {
    /// Vietnamese civil date of issue.
    pub date: NaiveDate,
    /// All tickets of the day.
    pub total: QueueStats,
    /// Per area, by code.
    pub areas: Vec<AreaReport>,
    /// Per counter, by name (tickets never called belong to no counter).
    pub counters: Vec<CounterReport>,
}

/// The export: one entry per day, oldest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueueReport {
    /// Days with tickets.
    pub days: Vec<DayReport>,
}

/// Builds the report from ticket records in any order.
pub fn build_report(records: &[TicketRecord]) -> QueueReport {
    type Groups<'a> = BTreeMap<String, Vec<&'a TicketRecord>>;
    let mut days: BTreeMap<NaiveDate, (Vec<&TicketRecord>, Groups, Groups)> = BTreeMap::new();
    let vn = crate::vietnam_offset();
    for r in records {
        let date = r.issued_at.with_timezone(&vn).date_naive();
        let (all, areas, counters) = days.entry(date).or_default();
        all.push(r);
        areas.entry(r.area.clone()).or_default().push(r);
        if let Some(counter) = &r.counter {
            counters.entry(counter.clone()).or_default().push(r);
        }
    }
    let days = days
        .into_iter()
        .map(|(date, (all, areas, counters))| DayReport {
            date,
            total: stats_of(&all),
            areas: areas
                .into_iter()
                .map(|(area, rs)| AreaReport {
                    area,
                    stats: stats_of(&rs),
                })
                .collect(),
            counters: counters
                .into_iter()
                .map(|(counter, rs)| CounterReport {
                    counter,
                    stats: stats_of(&rs),
                })
                .collect(),
        })
        .collect();
    QueueReport { days }
}

fn share(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

/// Nearest-rank percentile `p` (0 < p ≤ 1) of sorted values.
fn nearest_rank(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn mean(values: &[i64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<i64>() as f64 / values.len() as f64)
}

/// The figures of one group of records.
pub fn stats_of(records: &[&TicketRecord]) -> QueueStats {
    let mut s = QueueStats::default();
    let mut waits = Vec::new();
    let mut services = Vec::new();
    // Placements of all promised tickets, then of queued ones.
    let mut placed = [[0u32; 3]; 2];
    for r in records {
        s.tickets += 1;
        if let Some(rating) = r.rating {
            match rating.scale.score(rating.level) {
                Ok(score) => {
                    s.ratings += 1;
                    if score == 2 {
                        s.satisfied += 1;
                    }
                }
                Err(_) => s.invalid_ratings += 1,
            }
        }
        let carry_over = matches!(r.promised, Some(WaitEstimate::MayCarryOver { .. }));
        if carry_over {
            s.carry_over_warned += 1;
        }
        let Some(called) = r.called_at else {
            s.not_called += 1;
            if r.promised.is_some() && !carry_over {
                s.promised_not_called += 1;
            }
            continue;
        };
        s.called += 1;
        if r.no_show {
            s.no_shows += 1;
        }
        let wait = (called - r.issued_at).num_seconds();
        let service = match (r.no_show, r.finished_at) {
            (false, Some(done)) => Some((done - called).num_seconds()),
            _ => None,
        };
        if wait < 0 || service.is_some_and(|d| d < 0) {
            s.clock_anomalies += 1;
            continue;
        }
        waits.push(wait);
        services.extend(service);
        if let Some(promise) = r.promised.filter(|_| !carry_over) {
            let slot = match promise.place(wait) {
                WaitPlacement::Inside => 0,
                WaitPlacement::Earlier => 1,
                WaitPlacement::Later => 2,
            };
            placed[0][slot] += 1;
            if promise.queued() {
                placed[1][slot] += 1;
            }
        }
    }
    waits.sort_unstable();
    let within = waits.iter().filter(|&&w| w <= TARGET_WAIT_SECS).count();
    s.mean_wait_secs = mean(&waits);
    s.p90_wait_secs = nearest_rank(&waits, 0.9);
    s.max_wait_secs = waits.last().copied();
    s.share_wait_within_target = (!waits.is_empty()).then(|| within as f64 / waits.len() as f64);
    s.mean_service_secs = mean(&services);
    s.satisfaction_share = share(s.satisfied, s.ratings);
    let [all, queued] = placed;
    s.promised_called = all.iter().sum();
    s.promise_inside_share = share(all[0], s.promised_called);
    s.promise_earlier_share = share(all[1], s.promised_called);
    s.promise_later_share = share(all[2], s.promised_called);
    s.queued_promised_called = queued.iter().sum();
    s.queued_promise_inside_share = share(queued[0], s.queued_promised_called);
    s.queued_promise_earlier_share = share(queued[1], s.queued_promised_called);
    s.queued_promise_later_share = share(queued[2], s.queued_promised_called);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue_wait::WaitRange;
    use chrono::TimeZone;

    fn at(day: u32, h: u32, m: u32) -> DateTime<FixedOffset> {
        crate::vietnam_offset()
            .with_ymd_and_hms(2026, 11, day, h, m, 0)
            .unwrap()
    }

    /// A served ticket: issued at 8:00 + `issued` min, waited `wait` min, served `service` min.
    fn served(counter: &str, issued: u32, wait: u32, service: u32) -> TicketRecord {
        let issued_at = at(23, 8, 0) + chrono::Duration::minutes(i64::from(issued));
        let called_at = issued_at + chrono::Duration::minutes(i64::from(wait));
        TicketRecord {
            area: "HT".into(),
            counter: Some(counter.into()),
            issued_at,
            called_at: Some(called_at),
            finished_at: Some(called_at + chrono::Duration::minutes(i64::from(service))),
            no_show: false,
            promised: None,
            rating: None,
        }
    }

    fn band(low_minutes: u32, high_minutes: u32) -> Option<WaitEstimate> {
        Some(WaitEstimate::Range {
            band: WaitRange {
                low_minutes,
                high_minutes,
            },
        })
    }

    fn rated(mut r: TicketRecord, scale: RatingScale, level: u8) -> TicketRecord {
        r.rating = Some(TicketRating { scale, level });
        r
    }

    /// A small day with known answers (waits in minutes):
    /// Q1: 2, 5, 10, 20, 40 (no-show); Q2: 0, 15, 16; one ticket never called; a CT ticket.
    fn hand_built_day() -> Vec<TicketRecord> {
        let five = RatingScale::Five;
        let three = RatingScale::Three;
        let mut no_show = served("Q1", 30, 40, 0);
        no_show.no_show = true;
        no_show.finished_at = None;
        no_show.promised = band(20, 30); // later
        let mut never = served("Q1", 200, 0, 0);
        never.counter = None;
        never.called_at = None;
        never.finished_at = None;
        never.promised = band(5, 10);
        let mut ct = served("Q2", 50, 3, 4);
        ct.area = "CT".into();
        let mut a = served("Q1", 0, 2, 4);
        a.promised = Some(WaitEstimate::AboutToBeCalled {
            band: WaitRange {
                low_minutes: 0,
                high_minutes: 5,
            },
        }); // inside, not queued
        let mut b = served("Q1", 5, 5, 6);
        b.promised = band(6, 12); // earlier
        let mut c = served("Q1", 10, 10, 8);
        c.promised = band(5, 10); // inside (the end counts)
        let mut d = served("Q2", 12, 15, 10);
        d.promised = band(9, 14); // later
        vec![
            rated(a, five, 1),                        // 2
            rated(b, five, 2),                        // 2
            rated(c, five, 3),                        // 1
            rated(served("Q1", 20, 20, 2), three, 1), // 2
            no_show,
            rated(served("Q2", 1, 0, 6), three, 3), // 0
            d,
            rated(served("Q2", 40, 16, 12), five, 9), // invalid
            never,
            ct,
        ]
    }

    #[test]
    fn a_hand_built_day_gives_the_known_figures() {
        let report = build_report(&hand_built_day());
        assert_eq!(report.days.len(), 1);
        let day = &report.days[0];
        assert_eq!(day.date, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
        let t = &day.total;
        assert_eq!(
            (t.tickets, t.called, t.not_called, t.no_shows),
            (10, 9, 1, 1)
        );
        // Waits: 0 2 3 5 10 15 16 20 40 → mean 111/9; ⌈0.9·9⌉ = 9th → 40.
        assert!((t.mean_wait_secs.unwrap() - 111.0 * 60.0 / 9.0).abs() < 1e-9);
        assert_eq!(t.p90_wait_secs, Some(40 * 60));
        assert_eq!(t.max_wait_secs, Some(40 * 60));
        // ≤ 15 min: 0 2 3 5 10 15 → 6 of 9.
        assert_eq!(t.share_wait_within_target, Some(6.0 / 9.0));
        // Services of the 8 served: 4 6 8 2 6 10 12 4 → 52/8.
        assert_eq!(t.mean_service_secs, Some(52.0 * 60.0 / 8.0));
        // Ratings: scores 2 2 1 2 0, one invalid.
        assert_eq!((t.ratings, t.satisfied, t.invalid_ratings), (5, 3, 1));
        assert_eq!(t.satisfaction_share, Some(0.6));
        // Promises of called tickets: inside a, c; earlier b; later no-show, d.
        assert_eq!(t.promised_called, 5);
        assert_eq!(t.promise_inside_share, Some(0.4));
        assert_eq!(t.promise_earlier_share, Some(0.2));
        assert_eq!(t.promise_later_share, Some(0.4));
        // Queued only (a was "about to be called"): c inside, b earlier, no-show and d later.
        assert_eq!(t.queued_promised_called, 4);
        assert_eq!(t.queued_promise_inside_share, Some(0.25));
        assert_eq!(t.queued_promise_earlier_share, Some(0.25));
        assert_eq!(t.queued_promise_later_share, Some(0.5));
        // The never-called ticket had a 5–10 band: a broken promise with no wait.
        assert_eq!((t.promised_not_called, t.carry_over_warned), (1, 0));
        assert_eq!(t.clock_anomalies, 0);

        let areas: Vec<_> = day
            .areas
            .iter()
            .map(|a| (a.area.as_str(), a.stats.tickets))
            .collect();
        assert_eq!(areas, vec![("CT", 1), ("HT", 9)]);
        let q1 = &day.counters[0];
        assert_eq!(q1.counter, "Q1");
        // Q1 waits: 2 5 10 20 40 → mean 15.4 min, p90 = ⌈4.5⌉ = 5th → 40, ≤ 15: 3 of 5.
        assert_eq!(q1.stats.tickets, 5);
        assert!((q1.stats.mean_wait_secs.unwrap() - 15.4 * 60.0).abs() < 1e-9);
        assert_eq!(q1.stats.p90_wait_secs, Some(40 * 60));
        assert_eq!(q1.stats.share_wait_within_target, Some(0.6));
        let q2 = &day.counters[1];
        // Q2 waits: 0 15 16 3 → p90 = ⌈3.6⌉ = 4th of 0 3 15 16 → 16.
        assert_eq!((q2.counter.as_str(), q2.stats.tickets), ("Q2", 4));
        assert_eq!(q2.stats.p90_wait_secs, Some(16 * 60));
        assert_eq!(q2.stats.share_wait_within_target, Some(0.75));
    }

    #[test]
    fn a_carry_over_warning_is_counted_apart_from_the_bands() {
        let warned = |wait: Option<u32>| {
            let mut r = served("Q1", 0, wait.unwrap_or(0), 5);
            if wait.is_none() {
                (r.counter, r.called_at, r.finished_at) = (None, None, None);
            }
            r.promised = Some(WaitEstimate::MayCarryOver {
                earliest_minutes: 10,
            });
            r
        };
        let mut ranged = served("Q1", 0, 8, 5);
        ranged.promised = band(5, 10);
        let s = stats_of(&[&warned(None), &warned(Some(30)), &ranged]);
        assert_eq!((s.carry_over_warned, s.promised_not_called), (2, 0));
        assert_eq!((s.promised_called, s.queued_promised_called), (1, 1));
        assert_eq!(s.promise_inside_share, Some(1.0));
    }

    #[test]
    fn nearest_rank_percentile_follows_its_definition() {
        assert_eq!(nearest_rank(&[], 0.9), None);
        assert_eq!(nearest_rank(&[7], 0.9), Some(7));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&ten, 0.9), Some(9));
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(nearest_rank(&eleven, 0.9), Some(10));
    }

    #[test]
    fn days_split_on_the_vietnamese_date_and_backward_clocks_are_set_apart() {
        let mut late = served("Q1", 0, 5, 5);
        // 23:30 on the 23rd in Vietnam is 16:30 UTC: still the 23rd.
        late.issued_at = at(23, 23, 30).with_timezone(&chrono::Utc).fixed_offset();
        late.called_at = Some(late.issued_at + chrono::Duration::minutes(5));
        late.finished_at = None;
        let mut next = served("Q1", 0, 5, 5);
        next.issued_at = at(24, 8, 0);
        next.called_at = Some(at(24, 7, 50)); // called before it was issued
        let report = build_report(&[next, late]);
        let dates: Vec<_> = report.days.iter().map(|d| d.date.to_string()).collect();
        assert_eq!(dates, vec!["2026-11-23", "2026-11-24"]);
        let second = &report.days[1].total;
        assert_eq!((second.called, second.clock_anomalies), (1, 1));
        assert_eq!(second.mean_wait_secs, None);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["days"][0]["total"]["p90_wait_secs"], 300);
        assert_eq!(json["days"][0]["counters"][0]["counter"], "Q1");
        let back: QueueReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }
}
