//! The hub store's hall queries on a real SQLite file: pairing codes (once, until they expire),
//! the ticket a rating tablet offers, the promised wait kept for the report, the day report's
//! parts in the outbox, and events set aside.

use chrono::{DateTime, FixedOffset, TimeZone};
use motcua_domain::queue_hours::WaitEstimate;
use motcua_domain::queue_wait::WaitRange;
use motcua_domain::rating::RatingScale;
use motcua_domain::vietnam_offset;
use motcua_hub::{FallbackLayout, HubStore, ScreenKind};

fn at(h: u32, m: u32) -> DateTime<FixedOffset> {
    vietnam_offset()
        .with_ymd_and_hms(2026, 12, 3, h, m, 0)
        .single()
        .expect("valid time")
}

fn open(dir: &tempfile::TempDir) -> HubStore {
    HubStore::open(&dir.path().join("hub.db"), FallbackLayout::default()).expect("opens")
}

#[test]
fn a_pairing_code_pairs_once_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    hub.add_pairing_code("c1", ScreenKind::Rating, Some("1"), at(8, 10))
        .unwrap();
    hub.add_pairing_code("c2", ScreenKind::Display, None, at(8, 10))
        .unwrap();
    assert_eq!(
        hub.redeem_pairing_code("c1", "t1", at(8, 5)).unwrap(),
        Some((ScreenKind::Rating, Some("1".into())))
    );
    assert_eq!(hub.redeem_pairing_code("c1", "t9", at(8, 6)).unwrap(), None);
    assert_eq!(
        hub.redeem_pairing_code("c2", "t2", at(8, 11)).unwrap(),
        None
    );
    drop(hub);
    let hub = open(&dir);
    assert_eq!(
        hub.screen("t1").unwrap(),
        Some((ScreenKind::Rating, Some("1".into())))
    );
    assert_eq!(hub.screen("t2").unwrap(), None);
}

#[test]
fn the_tablet_offers_the_last_finished_ticket_until_rated_or_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let band = WaitEstimate::Range {
        band: WaitRange {
            low_minutes: 5,
            high_minutes: 15,
        },
    };
    let t1 = hub.issue("HT", "K1", at(8, 0), Some(&band)).unwrap();
    let t2 = hub.issue("HT", "K1", at(8, 1), None).unwrap();
    let day = at(8, 0).date_naive();
    assert!(hub.offered_for_rating("1", day).unwrap().is_none());
    hub.call_next("1", &["HT"], at(8, 10)).unwrap();
    hub.finish("1", at(8, 16)).unwrap();
    assert_eq!(hub.offered_for_rating("1", day).unwrap().unwrap().id, t1.id);
    assert!(hub.offered_for_rating("2", day).unwrap().is_none());
    assert_eq!(hub.service_secs("HT", day).unwrap(), vec![360]);
    // The next call takes the offer away: the next citizen is not asked about it.
    hub.call_next("1", &["HT"], at(8, 17)).unwrap();
    assert!(hub.offered_for_rating("1", day).unwrap().is_none());
    hub.finish("1", at(8, 20)).unwrap();
    assert_eq!(hub.offered_for_rating("1", day).unwrap().unwrap().id, t2.id);
    hub.rate(&t2.id, 1, RatingScale::Three, at(8, 21)).unwrap();
    assert!(hub.offered_for_rating("1", day).unwrap().is_none());
    let records = hub.day_records(day).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].promised, Some(band));
    assert_eq!(records[1].promised, None);
    assert!(records[1].rating.is_some());
    let calls = hub.recent_calls(day, 5).unwrap();
    assert_eq!(
        calls.iter().map(|c| c.number).collect::<Vec<_>>(),
        vec![2, 1]
    );
}

#[test]
fn day_reports_are_refreshed_and_refused_events_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let day = at(8, 0).date_naive();
    let keys = |hub: &HubStore| -> Vec<String> {
        hub.pending_events(100)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect()
    };
    hub.queue_day_report(day, "", &serde_json::json!({"n": 1}), at(9, 0))
        .unwrap();
    hub.queue_day_report(day, "counter:1", &serde_json::json!({"n": 1}), at(9, 0))
        .unwrap();
    assert_eq!(
        keys(&hub),
        vec!["report:2026-12-03", "report:2026-12-03:counter:1"]
    );
    hub.mark_delivered("report:2026-12-03", at(9, 1)).unwrap();
    // Same figures: nothing to send again; new figures: sent again.
    hub.queue_day_report(day, "", &serde_json::json!({"n": 1}), at(9, 2))
        .unwrap();
    assert_eq!(keys(&hub), vec!["report:2026-12-03:counter:1"]);
    hub.queue_day_report(day, "", &serde_json::json!({"n": 2}), at(9, 3))
        .unwrap();
    assert_eq!(keys(&hub).len(), 2);
    assert!(hub
        .set_aside_event("report:2026-12-03:counter:1", "invalid_event")
        .unwrap());
    assert_eq!(keys(&hub), vec!["report:2026-12-03"]);
    assert_eq!(
        hub.set_aside_events().unwrap(),
        vec![(
            "report:2026-12-03:counter:1".to_string(),
            "invalid_event".to_string()
        )]
    );
}
