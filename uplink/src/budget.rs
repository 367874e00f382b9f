//! The daily upload budget of a metered link (`[uplink] daily_upload_budget_mib`, 3G/4G plans
//! paid by the byte): how many bytes of document uploads (tus PATCH bodies, the big traffic)
//! the uplink may send per Vietnam calendar day. When today's budget is used up, document
//! uploads pause until it renews (the next midnight, by the day rule of
//! [`motcua_store::BudgetDay`]); the small records (dossier records without documents, tickets,
//! ratings, health reports) are not counted and still go.
//!
//! # What is counted, and by how much the budget can be passed
//! Each PATCH body is counted, durably, *before* it is sent, and cut to what is left of the
//! budget: the bodies sent on a day never add up to more than the budget. A PATCH cut by the
//! link stays counted whole (some of it went out and was billed; how much is not known), so
//! the count errs on the side of the bill. Not counted: each request's HTTP headers and TLS
//! framing (well under 1 KiB per request, about 0.5 % of a body), the gateway's answers and
//! the small records; size the budget with room for them.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate};
use motcua_store::{BudgetDay, Store, StoreError};

/// The clock the budget's days are read from: Vietnam time ([`motcua_store::vietnam_now`]);
/// tests pass another ([`crate::Uplink::with_clock`]) instead of waiting for midnight.
pub type Clock = Arc<dyn Fn() -> DateTime<FixedOffset> + Send + Sync>;

const MIB: f64 = 1024.0 * 1024.0;

/// Where today's budget stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetState {
    /// The budget in bytes.
    pub limit_bytes: u64,
    /// Bytes counted against it on [`BudgetState::day`].
    pub used_bytes: u64,
    /// The day the count belongs to.
    pub day: NaiveDate,
    /// When a fresh budget starts (the next midnight, Vietnam time, by the kiosk's clock).
    pub renews_at: DateTime<FixedOffset>,
}

impl BudgetState {
    /// The state of a budget of `limit` bytes with `count` counted, at `now`.
    pub fn of(limit: u64, count: &BudgetDay, now: DateTime<FixedOffset>) -> Self {
        let renews = count.renews_on(now.date_naive());
        let renews_at = renews
            .and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(*now.offset()).single())
            .unwrap_or(now);
        Self {
            limit_bytes: limit,
            used_bytes: count.bytes,
            day: count.day,
            renews_at,
        }
    }

    /// Bytes left today.
    pub fn left(&self) -> u64 {
        self.limit_bytes.saturating_sub(self.used_bytes)
    }

    /// Whether nothing is left today.
    pub fn used_up(&self) -> bool {
        self.left() == 0
    }

    /// The state in a technician's words, Vietnamese first: what is used, and when it is used
    /// up, when documents resume.
    pub fn words(&self) -> String {
        let (used, limit) = (mib(self.used_bytes), mib(self.limit_bytes));
        if self.used_up() {
            let at = resume_text(&self.renews_at);
            format!(
                "hết hạn mức tải lên hôm nay ({used}/{limit} MiB), tài liệu gửi tiếp lúc {at} / \
                 today's upload budget is used up ({used} of {limit} MiB); documents resume at {at}"
            )
        } else {
            format!("hạn mức tải lên hôm nay / today's upload budget: {used}/{limit} MiB")
        }
    }
}

/// Today's budget as `store` counts it (`None` when no budget is configured), for the health
/// line and `kioskctl status`; reads only.
pub fn state(
    store: &Store,
    limit: Option<u64>,
    now: DateTime<FixedOffset>,
) -> Result<Option<BudgetState>, StoreError> {
    let Some(limit) = limit else {
        return Ok(None);
    };
    let count = store.upload_budget(now.date_naive())?;
    Ok(Some(BudgetState::of(limit, &count, now)))
}

/// `at` as the status line says it: `00:00 03/12/2026 (giờ VN / Vietnam time)`.
pub fn resume_text(at: &DateTime<FixedOffset>) -> String {
    format!("{} (giờ VN / Vietnam time)", at.format("%H:%M %d/%m/%Y"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB)
}

/// How much the next PATCH may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Allowance {
    /// No budget is configured.
    Unlimited,
    /// This many bytes are left today (at least 1).
    Left(u64),
    /// Nothing is left today.
    UsedUp(BudgetState),
}

/// The body of a PATCH that wants `wanted` bytes, cut to the `left` of today's budget
/// (`None`: no budget).
pub(crate) fn cut(wanted: u64, left: Option<u64>) -> u64 {
    left.map_or(wanted, |left| wanted.min(left))
}

/// The uplink's budget: the limit, the clock, and whether its running out was logged.
pub(crate) struct Meter {
    limit: Option<u64>,
    clock: Clock,
    /// The day whose budget was said to be used up (logged once, not per attempt).
    announced: Option<NaiveDate>,
}

impl Meter {
    /// A meter of `limit` bytes a day (`None`: no budget), reading days from `clock`.
    pub(crate) fn new(limit: Option<u64>, clock: Clock) -> Self {
        Self {
            limit,
            clock,
            announced: None,
        }
    }

    pub(crate) fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The clock's time now.
    pub(crate) fn now(&self) -> DateTime<FixedOffset> {
        (self.clock)()
    }

    /// What is left today. Records where the clock is (the day rule needs it after a clock
    /// was set back), logs once when the budget has run out and once when it renewed.
    pub(crate) fn allowance(&mut self, store: &mut Store) -> Result<Allowance, StoreError> {
        let Some(limit) = self.limit else {
            return Ok(Allowance::Unlimited);
        };
        let now = self.now();
        let count = store.count_upload_bytes(now.date_naive(), 0)?;
        let state = BudgetState::of(limit, &count, now);
        if state.used_up() {
            if self.announced != Some(state.day) {
                self.announced = Some(state.day);
                tracing::warn!(
                    used_bytes = state.used_bytes,
                    limit_bytes = state.limit_bytes,
                    resumes_at = %state.renews_at.to_rfc3339(),
                    "{}; phiếu, đánh giá, hồ sơ không kèm tài liệu vẫn gửi / tickets, ratings, records without documents still go",
                    state.words()
                );
            }
            return Ok(Allowance::UsedUp(state));
        }
        if self.announced.take().is_some() {
            tracing::info!(
                limit_bytes = state.limit_bytes,
                "hạn mức tải lên mới, tài liệu gửi tiếp / a new upload budget: documents resume"
            );
        }
        Ok(Allowance::Left(state.left()))
    }

    /// Counts `bytes` about to be sent (nothing when there is no budget).
    pub(crate) fn count(&self, store: &mut Store, bytes: u64) -> Result<(), StoreError> {
        if self.limit.is_some() {
            store.count_upload_bytes(self.now().date_naive(), bytes)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(t).unwrap()
    }

    fn counted(day: &str, bytes: u64) -> BudgetDay {
        BudgetDay {
            bytes,
            ..BudgetDay::fresh(NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap())
        }
    }

    #[test]
    fn what_is_left_and_the_next_midnight_in_vietnam() {
        let s = BudgetState::of(
            1000,
            &counted("2026-12-02", 400),
            at("2026-12-02T23:59:00+07:00"),
        );
        assert_eq!((s.left(), s.used_up()), (600, false));
        assert_eq!(s.renews_at, at("2026-12-03T00:00:00+07:00"));
        let s = BudgetState::of(
            1000,
            &counted("2026-12-02", 1000),
            at("2026-12-02T08:00:00+07:00"),
        );
        assert!(s.used_up());
        let words = s.words();
        assert!(
            words.starts_with("hết hạn mức tải lên hôm nay"),
            "Vietnamese first: {words}"
        );
        assert!(words.contains("00:00 03/12/2026"), "{words}");
        assert!(words.contains("resume"), "{words}");
        // More counted than the budget (a budget lowered in the config): nothing left.
        let s = BudgetState::of(
            1000,
            &counted("2026-12-02", 5000),
            at("2026-12-02T08:00:00+07:00"),
        );
        assert_eq!(s.left(), 0);
    }

    #[test]
    fn a_patch_is_cut_to_what_is_left() {
        assert_eq!(cut(4096, None), 4096);
        assert_eq!(cut(4096, Some(100)), 100);
        assert_eq!(cut(4096, Some(10_000)), 4096);
    }

    #[test]
    fn a_clock_one_day_behind_the_count_resumes_at_the_second_midnight() {
        let s = BudgetState::of(
            1000,
            &counted("2026-12-03", 1000),
            at("2026-12-02T10:00:00+07:00"),
        );
        assert_eq!(s.renews_at, at("2026-12-04T00:00:00+07:00"));
    }
}
