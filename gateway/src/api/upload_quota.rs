//! The device's upload quota: how many uploads it may keep open and how many bytes a day
//! (Vietnam time) it may send, and the 429 that says when the quota renews. Shared by the
//! creation ([`super::uploads`]), the appends ([`super::upload_append`]) and the finish
//! ([`super::upload_finish`]), which releases what a failed upload had charged.

use axum::http::{header, StatusCode};

use super::failure::Failure;
use super::state::AppState;
use super::tus::TusFailure;
use crate::store::UploadQuota;

/// Seconds from `now` to the next midnight in Vietnam, when the day's upload quota renews.
fn seconds_to_vietnam_midnight(now: chrono::DateTime<chrono::FixedOffset>) -> i64 {
    let next = now
        .date_naive()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(0, 0, 0));
    next.and_then(|n| n.and_local_timezone(*now.offset()).single())
        .map_or(3600, |n| (n - now).num_seconds().max(1))
}

/// The device's upload quota as of now, and now in Vietnam.
pub(super) fn quota_now(state: &AppState) -> (UploadQuota, chrono::DateTime<chrono::FixedOffset>) {
    let limits = &state.0.limits;
    let vn_now = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    let quota = UploadQuota {
        max_open: i64::from(limits.max_open_uploads),
        bytes_per_day: limits.upload_bytes_per_day,
        day: vn_now.format("%Y-%m-%d").to_string(),
        now_unix: vn_now.timestamp(),
        live_since_unix: vn_now
            .timestamp()
            .saturating_sub(i64::try_from(limits.upload_expiry.as_secs()).unwrap_or(i64::MAX / 2)),
    };
    (quota, vn_now)
}

/// 429 `upload_quota_exceeded`, `Retry-After` until midnight in Vietnam: `length` more bytes
/// would pass the day's quota (`spent` so far, when known).
pub(super) fn quota_spent(
    state: &AppState,
    vn_now: chrono::DateTime<chrono::FixedOffset>,
    spent: Option<u64>,
    length: u64,
) -> Failure {
    let retry_after = seconds_to_vietnam_midnight(vn_now);
    let quota = state.0.limits.upload_bytes_per_day;
    let (vi, en) = match spent {
        Some(spent) => (
            format!("ki-ốt đã gửi {spent} byte hôm nay, "),
            format!("this device has uploaded {spent} bytes today and "),
        ),
        None => Default::default(),
    };
    Failure::new(
        StatusCode::TOO_MANY_REQUESTS,
        "upload_quota_exceeded",
        format!(
            "{vi}tệp {length} byte vượt hạn mức {quota} byte mỗi ngày; gửi tiếp sau nửa đêm / \
             {en}this {length}-byte upload would pass the quota of {quota} bytes a day; retry \
             after midnight (Vietnam time), in {retry_after} s"
        ),
    )
    .with_header(header::RETRY_AFTER, retry_after)
    .tus()
}
