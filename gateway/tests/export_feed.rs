//! The provincial export feed (issue 16, item 5), over HTTPS against both backends: dossiers,
//! their documents (by link) and status changes as JSON lines from a cursor, in the national
//! status codes and dates; only the provincial system's certificate reads it; a consumer that
//! crashes mid-page and resumes from its saved cursor gets every event exactly once, across a
//! gateway restart too; paging while several kiosks and the provincial system write at once
//! loses and repeats nothing; and a page of large events ends at its byte cap, the next one
//! going on exactly after it.

#[macro_use]
mod harness;

use std::collections::BTreeMap;

use harness::*;
use motcua_domain::limits::{DOCUMENTS_MAX, DOCUMENT_NAME_MAX, FILE_NAME_MAX};
use motcua_domain::wire::DocumentRef;
use motcua_domain::wire::{DigitizedDocument, DigitizedDocuments, DossierStatus};
use motcua_gateway::{FeedEvent, FeedEventKind, StatusChange, FEED_PAGE_BYTES_MAX};
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn code(n: u16) -> String {
    format!("{SITE}-260531-{n:04}")
}

/// One page as the provincial system reads it: its events, `Feed-Cursor`, `Feed-More`, and
/// the bytes of its body.
struct Page {
    events: Vec<FeedEvent>,
    cursor: i64,
    more: bool,
    bytes: usize,
}

async fn feed(h: &Harness, cred: &Cred, query: &str) -> reqwest::Response {
    h.req(Method::GET, &format!("/v1/export/feed{query}"), Some(cred))
        .send()
        .await
        .expect("feed request")
}

async fn read_page(h: &Harness, after: i64, limit: u32) -> Page {
    let r = feed(h, &h.system, &format!("?after={after}&limit={limit}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), "application/x-ndjson");
    assert_eq!(header(&r, "cache-control"), "no-store");
    let cursor = header(&r, "feed-cursor").parse().expect("numeric cursor");
    let more = match header(&r, "feed-more").as_str() {
        "true" => true,
        "false" => false,
        other => panic!("Feed-More: {other}"),
    };
    let text = r.text().await.expect("body");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "lines end: {text:?}"
    );
    let events: Vec<FeedEvent> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(events.len() <= limit as usize);
    Page {
        events,
        cursor,
        more,
        bytes: text.len(),
    }
}

/// Every event from the start, in pages of 500.
async fn read_all(h: &Harness) -> Vec<FeedEvent> {
    let (mut all, mut after) = (Vec::new(), 0);
    loop {
        let page = read_page(h, after, 500).await;
        all.extend(page.events);
        after = page.cursor;
        if !page.more {
            return all;
        }
    }
}

async fn deliver(h: &Harness, cred: &Cred, device: &str, n: u16, docs: Vec<Vec<u8>>) {
    let mut refs = Vec::new();
    for data in &docs {
        h.upload_all(cred, data).await;
        refs.push(document(data));
    }
    let c = code(n);
    let r = h
        .post_json(
            "/v1/dossiers",
            cred,
            Some(&format!("d:{c}")),
            &dossier(device, &c, refs),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "{c}");
}

async fn set_status(h: &Harness, n: u16, status: DossierStatus) {
    let r = h
        .req(
            Method::POST,
            &format!("/v1/admin/dossiers/{}/status", code(n)),
            Some(&h.system),
        )
        .json(&StatusChange { status })
        .send()
        .await
        .expect("status change");
    assert_eq!(r.status(), StatusCode::OK, "{}", code(n));
}

async fn the_feed_carries_dossiers_documents_and_status_changes(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-A").await;
    let intake = h.enroll("INTAKE-1").await;
    let (scan, later) = (blob(3000, 7), blob(2000, 9));
    deliver(&h, &kiosk, "KIOSK-A", 1, vec![scan.clone()]).await;
    // A kiosk's retry is no second event.
    let c = code(1);
    let retry = h
        .post_json(
            "/v1/dossiers",
            &kiosk,
            Some(&format!("d:{c}")),
            &dossier("KIOSK-A", &c, vec![document(&scan)]),
        )
        .await;
    assert_eq!(retry.status(), StatusCode::OK, "a duplicate");
    h.upload_all(&intake, &later).await;
    let docs = DigitizedDocuments {
        dossier_code: c.clone(),
        device_id: "INTAKE-1".into(),
        digitized_at: vn_time(),
        documents: vec![DigitizedDocument {
            document_code: format!("{c}-01"),
            document_index: 1,
            name: "Tờ khai đăng ký khai sinh".into(),
            media_type: "application/pdf".into(),
            pages: 2,
            size: later.len() as u64,
            sha256: sha_hex(&later),
        }],
    };
    let path = format!("/v1/dossiers/{c}/documents");
    let r = h.post_json(&path, &intake, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    set_status(&h, 1, DossierStatus::Processing).await;
    set_status(&h, 1, DossierStatus::Processing).await; // the system's retry: no event

    let page = read_page(&h, 0, 100).await;
    assert_eq!((page.cursor, page.more), (3, false));
    let kinds: Vec<_> = page.events.iter().map(|e| (e.cursor, e.kind)).collect();
    assert_eq!(
        kinds,
        [
            (1, FeedEventKind::DossierReceived),
            (2, FeedEventKind::DocumentsAdded),
            (3, FeedEventKind::StatusChanged)
        ]
    );
    let received = &page.events[0];
    assert_eq!(received.dossier_code, c);
    assert_eq!(received.site, SITE);
    assert_eq!(received.procedure_code, "1.001193");
    assert_eq!(
        (received.status_code, received.status),
        (1, DossierStatus::Submitted)
    );
    assert_eq!(received.status_label_vi, "Mới tiếp nhận");
    assert_eq!(received.received_at, "20260531091500");
    assert_eq!(received.appointment_date, "20260605000000");
    assert!(received.at.len() == 14 && received.at.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(received.applicant.full_name, "Nguyễn Văn An");
    assert_eq!(
        received.applicant.id_number.as_deref(),
        Some("079201001234")
    );
    assert!(!received.applicant_purged);
    assert_eq!(received.documents.len(), 1);
    let doc = &received.documents[0];
    assert_eq!(
        (doc.size, doc.sha256.as_str()),
        (3000, sha_hex(&scan).as_str())
    );
    assert_eq!(doc.file_name.as_deref(), Some("giay-chung-sinh.pdf"));
    assert_eq!(doc.media_type, "application/pdf");
    assert_eq!(doc.link, format!("/v1/blobs/{}", sha_hex(&scan)));
    // The link opens the document with the same certificate.
    let r = h
        .req(Method::GET, &doc.link, Some(&h.system))
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), scan.as_slice());

    let added = &page.events[1];
    assert_eq!(
        added.documents.len(),
        1,
        "only the documents this ingest added"
    );
    let d = &added.documents[0];
    assert_eq!(d.document_code.as_deref(), Some(format!("{c}-01").as_str()));
    assert_eq!((d.pages, d.size), (Some(2), 2000));
    assert_eq!(d.link, format!("/v1/blobs/{}", sha_hex(&later)));
    let changed = &page.events[2];
    assert_eq!(
        (changed.status_code, changed.status),
        (4, DossierStatus::Processing)
    );
    assert_eq!(changed.status_label_en, "Processing");
    assert!(changed.documents.is_empty());

    // Up to date: an empty page that keeps the cursor.
    let none = read_page(&h, 3, 100).await;
    assert!(none.events.is_empty());
    assert_eq!((none.cursor, none.more), (3, false));
    h.finish().await;
}

async fn only_the_provincial_system_reads_the_feed(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-A").await;
    deliver(&h, &kiosk, "KIOSK-A", 1, vec![]).await;
    for (cred, words) in [
        (&kiosk, "a kiosk cannot read the export feed"),
        (&h.technician, "technicians cannot read citizens' data"),
        (&h.auditor, "auditors cannot read the export feed"),
    ] {
        let r = feed(&h, cred, "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body: Value = r.json().await.expect("error body");
        assert_eq!(body["error"], "forbidden_role");
        let message = body["message"].as_str().expect("message");
        assert!(message.contains(words), "{message}");
        assert!(!message.contains("Nguyễn"), "{message}");
    }
    let r = h
        .req(Method::GET, "/v1/export/feed", None)
        .send()
        .await
        .expect("feed without a certificate");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "certificate_required");
    assert_eq!(read_page(&h, 0, 10).await.events.len(), 1);
    // A revoked system certificate reads nothing more.
    let r = h
        .req(
            Method::POST,
            &format!("/v1/admin/certificates/{}/revoke", h.system.serial),
            Some(&h.technician),
        )
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    let r = feed(&h, &h.system, "").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "certificate_revoked");
    h.finish().await;
}

async fn bad_cursors_and_limits_are_refused(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-A").await;
    deliver(&h, &kiosk, "KIOSK-A", 1, vec![]).await;
    for (query, error) in [
        ("?limit=0", "invalid_limit"),
        ("?limit=501", "invalid_limit"),
        ("?after=-1", "invalid_query"),
        ("?after=abc", "invalid_query"),
        ("?limit=1.5", "invalid_query"),
    ] {
        let r = feed(&h, &h.system, query).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_code(r).await, error, "{query}");
    }
    assert_eq!(
        read_page(&h, 0, 500).await.events.len(),
        1,
        "500 is allowed"
    );
    // Past the end (a restored database, another gateway): refused, not an empty page that
    // would hide the events the consumer never got.
    for after in ["2", "18446744073709551615"] {
        let r = feed(&h, &h.system, &format!("?after={after}")).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{after}");
        assert_eq!(header(&r, "feed-last-event"), "1");
        assert_eq!(error_code(r).await, "cursor_ahead");
    }
    h.finish().await;
}

/// The consumer's side: handles the lines of each page in order, saving the cursor after each;
/// "crashes" after handling `handle` lines of a page (the rest of the page is lost with it) and
/// resumes from the saved cursor.
async fn consume(
    h: &Harness,
    saved: &mut i64,
    handled: &mut Vec<FeedEvent>,
    limit: u32,
    handle: usize,
) {
    loop {
        let page = read_page(h, *saved, limit).await;
        for event in page.events.into_iter().take(handle) {
            *saved = event.cursor;
            handled.push(event);
        }
        if !page.more && *saved == page.cursor {
            return;
        }
    }
}

async fn a_consumer_that_crashes_resumes_exactly_once(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-A").await;
    for n in 1..=9 {
        deliver(&h, &kiosk, "KIOSK-A", n, vec![blob(500, n as u8)]).await;
    }
    for n in [2, 5, 7] {
        set_status(&h, n, DossierStatus::Accepted).await;
    }
    let mut saved = 0;
    let mut handled = Vec::new();
    // Pages of 5, each crash after 3 lines.
    consume(&h, &mut saved, &mut handled, 5, 3).await;
    // More happens while the consumer is down, and the gateway restarts.
    set_status(&h, 2, DossierStatus::Returned).await;
    deliver(&h, &kiosk, "KIOSK-A", 10, vec![]).await;
    h.restart().await;
    consume(&h, &mut saved, &mut handled, 4, 4).await;
    let all = read_all(&h).await;
    assert_eq!(all.len(), 9 + 3 + 2);
    assert_eq!(handled, all, "each event once, in order, none lost");
    let cursors: Vec<i64> = all.iter().map(|e| e.cursor).collect();
    assert_eq!(cursors, (1..=14).collect::<Vec<i64>>(), "no gaps");
    let last = all.last().expect("events");
    assert_eq!(
        (last.kind, last.dossier_code.as_str()),
        (FeedEventKind::DossierReceived, code(10).as_str())
    );
    h.finish().await;
}

async fn paging_while_kiosks_and_the_system_write_loses_nothing(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let h = std::sync::Arc::new(h);
    const KIOSKS: u16 = 3;
    const EACH: u16 = 6;
    let mut creds = Vec::new();
    for k in 0..KIOSKS {
        creds.push(h.enroll(&format!("KIOSK-{k}")).await);
    }
    let mut writers = Vec::new();
    for (k, cred) in creds.into_iter().enumerate() {
        let h = std::sync::Arc::clone(&h);
        writers.push(tokio::spawn(async move {
            for i in 0..EACH {
                let n = k as u16 * 100 + i + 1;
                deliver(&h, &cred, &format!("KIOSK-{k}"), n, vec![]).await;
                // The provincial system takes each one up as it arrives.
                set_status(&h, n, DossierStatus::Accepted).await;
            }
        }));
    }
    let mut saved = 0;
    let mut handled: Vec<FeedEvent> = Vec::new();
    while !writers.iter().all(|w| w.is_finished()) {
        let page = read_page(&h, saved, 4).await;
        saved = page.cursor;
        handled.extend(page.events);
    }
    for w in writers {
        w.await.expect("writer");
    }
    let mut tail = Vec::new();
    consume(&h, &mut saved, &mut tail, 4, 4).await;
    handled.extend(tail);
    let cursors: Vec<i64> = handled.iter().map(|e| e.cursor).collect();
    let total = i64::from(KIOSKS * EACH * 2);
    assert_eq!(
        cursors,
        (1..=total).collect::<Vec<i64>>(),
        "each event once, in order"
    );
    let mut per_dossier: BTreeMap<String, Vec<FeedEventKind>> = BTreeMap::new();
    for e in &handled {
        per_dossier
            .entry(e.dossier_code.clone())
            .or_default()
            .push(e.kind);
    }
    assert_eq!(per_dossier.len(), usize::from(KIOSKS * EACH));
    for (code, kinds) in per_dossier {
        assert_eq!(
            kinds,
            [FeedEventKind::DossierReceived, FeedEventKind::StatusChanged],
            "{code}"
        );
    }
    assert_eq!(handled, read_all(&h).await);
    match std::sync::Arc::try_unwrap(h) {
        Ok(h) => h.finish().await,
        Err(_) => panic!("the writers still hold the harness"),
    }
}

/// A dossier as large as a kiosk may send: the most documents, each with the longest name
/// (Vietnamese, three bytes a letter in UTF-8) and file name; all cite the one uploaded `scan`.
fn large_dossier(n: u16, scan: &[u8]) -> motcua_domain::wire::DossierSubmission {
    let documents: Vec<DocumentRef> = (0..DOCUMENTS_MAX)
        .map(|i| {
            let name = format!("Bản sao giấy tờ số {i} ");
            let pad = DOCUMENT_NAME_MAX - name.chars().count();
            let file_name = format!("ban-sao-{i}-");
            let file_pad = FILE_NAME_MAX - 4 - file_name.len();
            DocumentRef {
                name: format!("{name}{}", "ệ".repeat(pad)),
                file_name: format!("{file_name}{}.pdf", "a".repeat(file_pad)),
                ..document(scan)
            }
        })
        .collect();
    dossier("KIOSK-A", &code(n), documents)
}

/// The line of `event` as the gateway writes it.
fn line_bytes(event: &FeedEvent) -> usize {
    serde_json::to_vec(event).expect("event as JSON").len() + 1
}

async fn a_page_ends_at_its_byte_cap_and_the_next_goes_on_after_it(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-A").await;
    let scan = blob(4000, 3);
    h.upload_all(&kiosk, &scan).await;
    // Small events first, so the page is read from the store in more than one step (25).
    const SMALL: u16 = 30;
    for n in 1..=SMALL {
        deliver(&h, &kiosk, "KIOSK-A", 100 + n, vec![]).await;
    }
    // Each large event is some 390 KB: about ten fill the cap, so fourteen need two pages.
    const LARGE: u16 = 14;
    for n in 1..=LARGE {
        let c = code(n);
        let r = h
            .post_json(
                "/v1/dossiers",
                &kiosk,
                Some(&format!("d:{c}")),
                &large_dossier(n, &scan),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{c}");
    }
    set_status(&h, 3, DossierStatus::Accepted).await;
    let total = i64::from(SMALL + LARGE) + 1;

    let first = read_page(&h, 0, 500).await;
    let held = first.events.len();
    let (small, large) = (SMALL as usize, LARGE as usize);
    assert!(
        held > small + 1 && held < small + large,
        "the cap cut the page: {held} events"
    );
    assert!(first.bytes <= FEED_PAGE_BYTES_MAX, "{} bytes", first.bytes);
    assert!(first.more, "the rest follows at once");
    assert_eq!(first.cursor, first.events[held - 1].cursor);
    assert!(first
        .events
        .iter()
        .skip(small)
        .all(|e| e.documents.len() == DOCUMENTS_MAX));
    let second = read_page(&h, first.cursor, 500).await;
    assert_eq!(
        second.events[0].cursor,
        first.cursor + 1,
        "the next page goes on exactly after the cut"
    );
    assert!(
        first.bytes + line_bytes(&second.events[0]) > FEED_PAGE_BYTES_MAX,
        "the page ended only where the next line would pass the cap"
    );
    let mut cursors: Vec<i64> = first.events.iter().map(|e| e.cursor).collect();
    cursors.extend(second.events.iter().map(|e| e.cursor));
    let mut after = second.cursor;
    let mut more = second.more;
    while more {
        let page = read_page(&h, after, 500).await;
        cursors.extend(page.events.iter().map(|e| e.cursor));
        (after, more) = (page.cursor, page.more);
    }
    assert_eq!(
        cursors,
        (1..=total).collect::<Vec<i64>>(),
        "each event once, in order"
    );
    // A small limit still wins over the cap.
    let small = read_page(&h, 0, 2).await;
    assert_eq!((small.events.len(), small.cursor, small.more), (2, 2, true));
    h.finish().await;
}

scenarios!(
    the_feed_carries_dossiers_documents_and_status_changes,
    only_the_provincial_system_reads_the_feed,
    bad_cursors_and_limits_are_refused,
    a_consumer_that_crashes_resumes_exactly_once,
    paging_while_kiosks_and_the_system_write_loses_nothing,
    a_page_ends_at_its_byte_cap_and_the_next_goes_on_after_it,
);
