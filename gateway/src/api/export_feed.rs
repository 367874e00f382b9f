//! `GET /v1/export/feed`: the provincial one-stop system pulls new dossiers, their documents
//! and status changes as JSON lines, one event a line, from a cursor it keeps. Events are
//! written in the transaction of their change and numbered so that none becomes visible after
//! a later one (see `crate::store`'s `feed`): a consumer that saves the cursor of the last
//! event it handled and asks again from it — after a crash, a day offline — gets every event
//! once, none lost and none twice.
//!
//! Only the provincial system's certificate reads it: it carries citizens' personal data.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use motcua_domain::wire::ApiError;
use serde::Deserialize;

use super::auth::{Caller, ReadFeed};
use super::failure::{ApiResult, Failure, Query};
use super::state::AppState;
use crate::store::{FeedEvent, FeedRead};

/// Events read from the store at a time while a page is written (see the handler).
const FEED_READ_STEP: u64 = 25;
/// Events a page holds unless `limit` says fewer or more.
pub(crate) const FEED_LIMIT_DEFAULT: u64 = 100;
/// The most events a page holds.
pub(crate) const FEED_LIMIT_MAX: u64 = 500;
/// The most bytes of JSON lines a page holds (4 MiB): a dossier event lists up to 200
/// documents, so 500 of them could make a page of some 50 MB that neither side wants in
/// memory at once. A page ends before the event that would pass this (`Feed-More: true`), but
/// always holds one event, so an event larger than this alone still gets through.
pub const FEED_PAGE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The media type of the answer: one JSON object a line (JSON Lines / NDJSON).
pub(crate) const NDJSON: &str = "application/x-ndjson";
/// The cursor to ask with next (the last event's on the page, or `after` if none).
const FEED_CURSOR: &str = "feed-cursor";
/// `true` when more events follow the page: ask again at once.
const FEED_MORE: &str = "feed-more";
/// The last event the gateway holds (how far behind the consumer is).
const FEED_LAST_EVENT: &str = "feed-last-event";

/// The query of `GET /v1/export/feed`.
#[derive(Debug, Deserialize)]
pub(super) struct FeedQuery {
    after: Option<u64>,
    limit: Option<u64>,
}

/// The events after a cursor, as JSON lines (`application/x-ndjson`): each line one
/// `FeedEvent` (a dossier received with its documents, digitized documents added, a status
/// changed), in cursor order. Save the `cursor` of the last line handled and ask with it as
/// `after` next time (start with 0): every event comes once, even across a crash of either
/// side. The `Feed-Cursor` header is the cursor to ask with next, `Feed-More: true` says more
/// events follow at once. A page holds at most `limit` events and at most 4 MiB of lines: it
/// ends before the event that would pass 4 MiB (with `Feed-More: true`; ask on from its
/// `Feed-Cursor`), but always holds at least one event. Documents are links to `GET /v1/blobs/{sha256}` (same certificate).
/// Statuses are the national codes (TrangThaiHoSo 1–10), dates `yyyyMMddHHmmss` in Vietnam time.
#[utoipa::path(get, path = "/v1/export/feed", tag = "export", security(("system_certificate" = [])),
    params(
        ("after" = Option<u64>, Query, minimum = 0, description = "the cursor of the last event handled (0, the default: from the first event)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 500, description = "at most this many events (default 100, at most 500)"),
    ),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = FeedEvent,
            description = "one `FeedEvent` JSON object a line, in cursor order (no line: nothing new); at most `limit` lines and at most 4 MiB (4,194,304 bytes) of them, except that a page always holds one event even if that alone is larger",
            headers(
                ("Feed-Cursor" = u64, description = "the cursor to ask with next: the last line's, or `after` when there is none"),
                ("Feed-More" = bool, description = "`true`: more events follow, ask again at once; `false`: up to date"),
                ("Feed-Last-Event" = u64, description = "the last event the gateway holds"),
            )),
        (status = 400, body = ApiError, description = "`invalid_query` (not whole numbers) or `invalid_limit` (0 or over 500)"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError, description = "`forbidden_role`: only the provincial system's certificate reads the feed"),
        (status = 409, body = ApiError, description = "`cursor_ahead`: the cursor is past the last event this gateway ever wrote (its database was restored from an older backup, or the consumer is pointed at another gateway); `Feed-Last-Event` says where the feed ends",
            headers(
                ("Feed-Last-Event" = u64, description = "the last event the gateway holds: where the feed ends"),
            )),
    ))]
pub(super) async fn export_feed(
    State(state): State<AppState>,
    _caller: Caller<ReadFeed>,
    Query(query): Query<FeedQuery>,
) -> ApiResult {
    let limit = query.limit.unwrap_or(FEED_LIMIT_DEFAULT);
    if limit == 0 || limit > FEED_LIMIT_MAX {
        return Err(Failure::bad_request(
            "invalid_limit",
            format!(
                "limit phải từ 1 đến {FEED_LIMIT_MAX} / limit must be 1 to {FEED_LIMIT_MAX} \
                 events, not {limit}"
            ),
        ));
    }
    // A cursor past what SQL's BIGINT holds is past every event.
    let after = i64::try_from(query.after.unwrap_or(0)).unwrap_or(i64::MAX);
    // The page is read in steps, so the gateway holds the rows of a few events at a time (each
    // with its dossier's stored body, read for the applicant), not those of 500 large ones.
    // Each step is its own snapshot; they still join without a gap, as a snapshot that shows
    // an event shows every event before it (see `crate::store`'s `feed`).
    let mut lines = Lines::new(FEED_PAGE_BYTES_MAX);
    let mut cursor = after;
    let (more, last_event) = loop {
        let ask = (limit - lines.held).min(FEED_READ_STEP);
        let page = match state.0.store.feed_page(cursor, ask as i64).await? {
            FeedRead::Page(page) => page,
            FeedRead::CursorAhead { last_event } => return Err(cursor_ahead(after, last_event)),
        };
        let mut full = false;
        for event in &page.events {
            if !lines
                .push(event)
                .map_err(|e| unwritable(&e, event.cursor))?
            {
                full = true;
                break;
            }
            cursor = event.cursor;
        }
        if full || !page.more || lines.held >= limit {
            break (cursor < page.last_event, page.last_event);
        }
        if page.events.is_empty() {
            // "More" with nothing to read: the counter is ahead of the events (a counter row
            // restored by hand too high). Answer what there is instead of asking forever; the
            // consumer sees `Feed-More` and the log says why.
            tracing::warn!(
                cursor,
                last_event = page.last_event,
                "the export feed's counter is ahead of its events: feed_sequence.last_id \
                 should be the highest feed_events id"
            );
            break (cursor < page.last_event, page.last_event);
        }
    };
    let (held, body) = (lines.held, lines.body);
    tracing::debug!(
        after,
        events = held,
        bytes = body.len(),
        next = cursor,
        more,
        "export feed page"
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    // Personal data: no cache keeps a copy.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(FEED_CURSOR, HeaderValue::from(cursor));
    headers.insert(
        FEED_MORE,
        HeaderValue::from_static(if more { "true" } else { "false" }),
    );
    headers.insert(FEED_LAST_EVENT, HeaderValue::from(last_event));
    Ok(response)
}

/// 409 `cursor_ahead`: the cursor `after` is past the last event the gateway wrote.
fn cursor_ahead(after: i64, last_event: i64) -> Failure {
    tracing::warn!(after, last_event, "export feed asked past its last event");
    Failure::new(
        StatusCode::CONFLICT,
        "cursor_ahead",
        format!(
            "con trỏ {after} vượt quá sự kiện cuối cùng ({last_event}) / the cursor {after} is \
             past the last event this gateway wrote ({last_event}): was its database restored \
             from an older backup, or is this another gateway? Events after {last_event} were \
             not sent before; ask from there once the operators have checked"
        ),
    )
    .with_header(header::HeaderName::from_static(FEED_LAST_EVENT), last_event)
}

/// 500: an event could not be written as JSON (logged with its cursor).
fn unwritable(e: &serde_json::Error, cursor: i64) -> Failure {
    tracing::error!(error = %e, cursor, "a feed event cannot be written as JSON");
    Failure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the gateway could not write the feed; its log names the cause. Retry later.",
    )
}

/// A page's body as it is written: one JSON line an event, up to a byte cap but at least one.
struct Lines {
    body: Vec<u8>,
    /// Events written.
    held: u64,
    cap: usize,
}

impl Lines {
    fn new(cap: usize) -> Self {
        Self {
            body: Vec::new(),
            held: 0,
            cap,
        }
    }

    /// Writes the event's line, unless the page holds an event already and this line would
    /// take it past the cap: then nothing is written and the answer is `false` (page full).
    fn push(&mut self, event: &FeedEvent) -> Result<bool, serde_json::Error> {
        let start = self.body.len();
        serde_json::to_writer(&mut self.body, event)?;
        self.body.push(b'\n');
        if self.body.len() > self.cap && self.held > 0 {
            self.body.truncate(start);
            return Ok(false);
        }
        self.held += 1;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FeedApplicant, FeedEventKind};
    use motcua_domain::wire::DossierStatus;

    fn event(cursor: i64, name_len: usize) -> FeedEvent {
        FeedEvent {
            cursor,
            kind: FeedEventKind::DossierReceived,
            at: "20260531091500".into(),
            dossier_code: format!("000.17.22.H56-260531-{cursor:04}"),
            site: "000.17.22.H56".into(),
            procedure_code: "1.001193".into(),
            status_code: 1,
            status: DossierStatus::Submitted,
            status_label_vi: "Mới tiếp nhận".into(),
            status_label_en: "Received".into(),
            received_at: "20260531091500".into(),
            appointment_date: "20260605000000".into(),
            applicant: FeedApplicant {
                full_name: "ệ".repeat(name_len),
                id_number: None,
                birth_date: None,
                address: "Phường 1, Sóc Trăng".into(),
                phone: "0900000000".into(),
                email: String::new(),
            },
            applicant_purged: false,
            documents: vec![],
        }
    }

    fn line_len(e: &FeedEvent) -> usize {
        serde_json::to_vec(e).unwrap().len() + 1
    }

    /// Writes `events` until the page is full: the body and how many it holds.
    fn lines(events: &[FeedEvent], cap: usize) -> (Vec<u8>, u64) {
        let mut lines = Lines::new(cap);
        for e in events {
            if !lines.push(e).unwrap() {
                break;
            }
        }
        (lines.body, lines.held)
    }

    #[test]
    fn a_page_ends_before_the_line_that_would_pass_the_cap() {
        let events: Vec<FeedEvent> = (1..=5).map(|c| event(c, 100)).collect();
        let one = line_len(&events[0]);
        // Room for two lines and most of a third.
        let (body, held) = lines(&events, 3 * one - 1);
        assert_eq!(held, 2);
        assert_eq!(body.len(), 2 * one);
        let cursors: Vec<i64> = String::from_utf8(body)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<FeedEvent>(l).unwrap().cursor)
            .collect();
        assert_eq!(cursors, [1, 2]);
        // Exactly three lines fit in three lines' bytes.
        assert_eq!(lines(&events, 3 * one).1, 3);
        assert_eq!(lines(&events, usize::MAX).1, 5);
        assert_eq!(lines(&[], 10), (Vec::new(), 0));
    }

    #[test]
    fn an_event_larger_than_the_cap_still_goes_alone() {
        let events = [event(7, 5000), event(8, 10)];
        let (body, held) = lines(&events, 1000);
        assert_eq!(held, 1, "one event, however large");
        assert_eq!(body.len(), line_len(&events[0]));
        assert!(body.ends_with(b"\n"));
    }
}
