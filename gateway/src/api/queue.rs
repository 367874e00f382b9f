//! The centre queue services (issue #18): a hub delivers its outbox of queue events
//! (`POST /v1/queue/events`), and the province's operators read the day reports the hubs sent
//! (`GET /v1/queue/reports`).
//!
//! The hub is enrolled like a kiosk, so it posts with a device certificate, and every event is
//! filed under that certificate's site and device: the body names neither, so no hub can write
//! another centre's figures. A batch is checked whole before anything is stored, and refused
//! whole, naming the first bad event: the hub's drain then knows that resending it cannot help
//! (a retry of a good batch, on the other hand, is always safe: keys already stored count as
//! duplicates).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use motcua_domain::limits::CODE_MAX;
use motcua_domain::wire::hub::{
    QueueEvent, QueueEventBatch, QueueEventsAccepted, DAY_REPORT_KIND, MAX_QUEUE_EVENT_PAYLOAD,
    QUEUE_EVENT_KINDS,
};
use motcua_domain::wire::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Device, ReadQueueReports};
use super::failure::{parse_limited, ApiResult, Failure, Query};
use super::state::{now_vn, AppState};
use crate::GatewayError;

fn invalid_event(i: usize, event: &QueueEvent, why: &str) -> Failure {
    Failure::bad_request(
        "invalid_event",
        format!(
            "sự kiện thứ {i} (đếm từ 0, khóa {:?}) không hợp lệ: {why}; không sự kiện nào của \
             lô được lưu / event {i} (counting from 0, key {:?}) is not valid: {why}; nothing of \
             the batch was stored",
            event.key, event.key
        ),
    )
}

/// `YYYY-MM-DD`, a real date.
fn is_day(text: &str) -> bool {
    text.len() == 10 && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// A day report's key names its day: `report:<day>` or `report:<day>:<more>`.
fn names_day(key: &str, day: &str) -> bool {
    key.strip_prefix("report:")
        .and_then(|rest| rest.strip_prefix(day))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

/// What the lengths ([`motcua_domain::limits::Limited`]) do not cover; the first bad event.
fn check_event(i: usize, event: &QueueEvent) -> Result<(), Failure> {
    if event.key.trim().is_empty() || event.ticket_id.trim().is_empty() {
        return Err(invalid_event(
            i,
            event,
            "key and ticket_id must not be empty",
        ));
    }
    if !QUEUE_EVENT_KINDS.contains(&event.kind.as_str()) {
        return Err(invalid_event(
            i,
            event,
            &format!(
                "kind {:?} is none of {}",
                event.kind,
                QUEUE_EVENT_KINDS.join(", ")
            ),
        ));
    }
    if !event.payload.is_object() {
        return Err(invalid_event(i, event, "payload must be a JSON object"));
    }
    let size = event.payload.to_string().len();
    if size > MAX_QUEUE_EVENT_PAYLOAD {
        return Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
            format!(
                "nội dung sự kiện thứ {i} (đếm từ 0, khóa {:?}) dài {size} byte, tối đa \
                 {MAX_QUEUE_EVENT_PAYLOAD}; không sự kiện nào của lô được lưu / the payload of \
                 event {i} (counting from 0, key {:?}) is {size} bytes of JSON, at most \
                 {MAX_QUEUE_EVENT_PAYLOAD} are accepted; nothing of the batch was stored",
                event.key, event.key
            ),
        ));
    }
    if event.kind == DAY_REPORT_KIND
        && !(is_day(&event.ticket_id) && names_day(&event.key, &event.ticket_id))
    {
        return Err(invalid_event(
            i,
            event,
            "a day_report's ticket_id is its day (YYYY-MM-DD) and its key report:<day>[:…]",
        ));
    }
    Ok(())
}

/// Stores a hub's outbox events under the site and device of its certificate, each once by
/// its key (per site). A `day_report` replaces the one stored under its key (the hub sends the
/// day's report again as the day goes on) and counts as stored; any other key already stored
/// counts as a duplicate and is left as it was. The batch is one transaction: all or nothing.
#[utoipa::path(post, path = "/v1/queue/events", tag = "queue", security(("device_certificate" = [])),
    request_body = QueueEventBatch,
    responses(
        (status = 200, body = QueueEventsAccepted, description = "every event is stored (now or before): the hub may mark the batch delivered"),
        (status = 400, body = ApiError, description = "`invalid_json`; `invalid_body`: no events; `invalid_event`: an empty key or ticket_id, a kind not listed, a payload that is not a JSON object, or a day_report whose ticket_id is not its day `YYYY-MM-DD` or whose key is not `report:<day>[:…]`. The whole batch is refused; the message names the first bad event"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`: not a device certificate"),
        (status = 413, body = ApiError, description = "`event_too_large`: an event's payload is more than 16 KiB of JSON; the whole batch is refused"),
        (status = 422, body = ApiError, description = "more than 500 events, or a key, kind or ticket_id over its `maxLength`: the whole batch is refused"),
    ))]
pub(super) async fn queue_events(
    State(state): State<AppState>,
    device: Device,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let batch: QueueEventBatch = parse_limited(body)?;
    if batch.events.is_empty() {
        return Err(Failure::bad_request(
            "invalid_body",
            "events must list at least one event",
        ));
    }
    for (i, event) in batch.events.iter().enumerate() {
        check_event(i, event)?;
    }
    let stored = state
        .0
        .store
        .store_queue_events(&device.site, &device.id, &batch.events, &now_vn())
        .await?;
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let accepted = QueueEventsAccepted {
        stored: count(stored),
        duplicates: count(batch.events.len().saturating_sub(stored)),
    };
    tracing::info!(device_id = %device.id, site = %device.site, stored = accepted.stored, duplicates = accepted.duplicates, "queue events stored");
    Ok(Json(accepted).into_response())
}

/// Which site's reports of which day.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReportsQuery {
    /// The site (agency code) of the centre.
    #[param(min_length = 1, max_length = 64)]
    pub site: String,
    /// The day, Vietnam time.
    #[param(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub day: String,
}

/// One day report as the centre's hub last sent it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueReport {
    /// Its key (`report:<day>:…`).
    pub key: String,
    /// The hub that sent it last.
    pub device_id: String,
    /// When it was first received (RFC 3339).
    pub received_at: String,
    /// When it was last replaced (RFC 3339).
    pub updated_at: String,
    /// The report, as the hub wrote it.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// The day reports of one site and day.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueReports {
    /// The site asked.
    pub site: String,
    /// The day asked.
    pub day: String,
    /// Its reports, by key; empty when none arrived.
    pub reports: Vec<QueueReport>,
}

/// The day reports a centre's hub sent for a day, for the province's operators.
#[utoipa::path(get, path = "/v1/queue/reports", tag = "queue",
    security(("system_certificate" = []), ("technician_certificate" = [])),
    params(ReportsQuery),
    responses(
        (status = 200, body = QueueReports),
        (status = 400, body = ApiError, description = "`invalid_query`: no site (or a longer one than 64 characters), or day is not of the form `YYYY-MM-DD`"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`: neither the provincial system nor a technician"),
    ))]
pub(super) async fn queue_reports(
    State(state): State<AppState>,
    _caller: Caller<ReadQueueReports>,
    Query(query): Query<ReportsQuery>,
) -> ApiResult {
    // What the document states, no more: a day of that shape that is no date has no reports.
    let site_ok = !query.site.is_empty() && query.site.chars().count() <= CODE_MAX;
    let day_shaped = query.day.len() == 10
        && query.day.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    if !site_ok || !day_shaped {
        return Err(Failure::bad_request(
            "invalid_query",
            "site must be an agency code (1–64 characters) and day a date YYYY-MM-DD",
        ));
    }
    let mut reports = Vec::new();
    for row in state.0.store.queue_reports(&query.site, &query.day).await? {
        let payload = serde_json::from_str(&row.payload).map_err(|e| {
            GatewayError::Unreadable(format!("the stored day report {}: {e}", row.key))
        })?;
        reports.push(QueueReport {
            key: row.key,
            device_id: row.device_id,
            received_at: row.received_at,
            updated_at: row.updated_at,
            payload,
        });
    }
    Ok(Json(QueueReports {
        site: query.site,
        day: query.day,
        reports,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_reports_key_names_its_day() {
        assert!(names_day("report:2026-12-03", "2026-12-03"));
        assert!(names_day("report:2026-12-03:Q1", "2026-12-03"));
        assert!(!names_day("report:2026-12-031", "2026-12-03"));
        assert!(!names_day("report:2026-12-04:Q1", "2026-12-03"));
        assert!(!names_day("issued:2026-12-03", "2026-12-03"));
        assert!(is_day("2026-12-03"));
        assert!(!is_day("2026-13-03") && !is_day("2026-12-3") && !is_day("20261203"));
    }
}
