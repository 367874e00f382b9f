//! The hub's store on real SQLite files: one sequence per area per day across kiosks, fallback
//! blocks that never collide, counter actions as a state machine, one rating per ticket, the
//! outbox, and durability across reopening.

use chrono::{DateTime, Duration, FixedOffset, TimeZone};
use motcua_domain::rating::RatingScale;
use motcua_domain::vietnam_offset;
use motcua_hub::{FallbackLayout, HubError, HubStore, TicketSource, TicketState, TransferTarget};
use std::collections::BTreeSet;

fn at(day: u32, h: u32, m: u32) -> DateTime<FixedOffset> {
    vietnam_offset()
        .with_ymd_and_hms(2026, 11, day, h, m, 0)
        .single()
        .expect("valid time")
}

fn open(dir: &tempfile::TempDir) -> HubStore {
    HubStore::open(&dir.path().join("hub.db"), FallbackLayout::default()).expect("opens")
}

#[test]
fn two_kiosks_share_one_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let mut numbers = Vec::new();
    for i in 0..6 {
        let kiosk = if i % 2 == 0 { "K1" } else { "K2" };
        let t = hub.issue("HT", kiosk, at(23, 8, i), None).unwrap();
        assert_eq!(t.source, TicketSource::Hub);
        assert_eq!(t.kiosk_id, kiosk);
        numbers.push(t.number);
    }
    assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
    let waiting = hub.waiting("HT", at(23, 9, 0)).unwrap();
    assert_eq!(waiting.len(), 6);
    assert_eq!(waiting[1].id, "HT-20261123-2@K2");
    assert_eq!(waiting[1].issued_at, at(23, 8, 1));
}

#[test]
fn areas_and_days_have_their_own_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    assert_eq!(hub.issue("HT", "K1", at(23, 8, 0), None).unwrap().number, 1);
    assert_eq!(hub.issue("HT", "K1", at(23, 8, 1), None).unwrap().number, 2);
    assert_eq!(hub.issue("DD", "K1", at(23, 8, 2), None).unwrap().number, 1);
    // 23:30 UTC on the 23rd is already the 24th in Vietnam: a new day, from 1 again.
    let late_utc = chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 17, 30, 0)
        .unwrap()
        .fixed_offset();
    let t = hub.issue("HT", "K1", late_utc, None).unwrap();
    assert_eq!((t.number, t.day.to_string()), (1, "2026-11-24".into()));
    assert_eq!(hub.issue("HT", "K2", at(23, 9, 0), None).unwrap().number, 3);
    assert!(matches!(
        hub.issue("HT-1", "K1", at(23, 9, 0), None),
        Err(HubError::BadCode(_))
    ));
    assert!(matches!(
        hub.issue("HT", "K 1", at(23, 9, 0), None),
        Err(HubError::BadCode(_))
    ));
}

#[test]
fn fallback_blocks_are_disjoint_stable_and_never_used_by_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let mut blocks = Vec::new();
    for k in 0..50 {
        let b = hub.join(&format!("K{k}"), at(23, 7, 0)).unwrap();
        assert_eq!(b.last - b.first + 1, 100);
        blocks.push((b.first, b.last));
    }
    assert_eq!(blocks[0], (9000, 9099));
    assert_eq!(blocks[49], (13900, 13999));
    let mut sorted = blocks.clone();
    sorted.sort();
    for pair in sorted.windows(2) {
        assert!(pair[0].1 < pair[1].0, "blocks overlap: {pair:?}");
    }
    // Asking again gives the same block.
    assert_eq!(hub.join("K7", at(24, 7, 0)).unwrap().first, blocks[7].0);

    // A small layout, so the hub's sequence reaches the blocks within a few tickets.
    let small = FallbackLayout {
        base: 3,
        block_size: 2,
    };
    let mut hub = HubStore::open(&dir.path().join("small.db"), small).unwrap();
    let mut reserved = BTreeSet::new();
    for k in 0..50 {
        let b = hub.join(&format!("K{k}"), at(23, 7, 0)).unwrap();
        reserved.extend(b.first..=b.last);
    }
    assert_eq!(reserved.len(), 100, "50 disjoint blocks of 2");
    let numbers: Vec<u32> = (0..5)
        .map(|i| hub.issue("HT", "K0", at(23, 8, i), None).unwrap().number)
        .collect();
    assert_eq!(numbers, [1, 2, 103, 104, 105]);
    assert!(numbers.iter().all(|n| !reserved.contains(n)));
    // A kiosk joining after the hub passed the blocks gets a block above the hub's numbers,
    // and the hub's sequence then skips that block too.
    let late = hub.join("LATE", at(23, 9, 0)).unwrap();
    // 103..104 and 105..106 hold hub numbers (103, 104, 105): moved up by whole blocks.
    assert_eq!((late.first, late.last), (107, 108));
    assert_eq!(
        hub.issue("HT", "K0", at(23, 9, 1), None).unwrap().number,
        106
    );
    assert_eq!(
        hub.issue("HT", "K0", at(23, 9, 2), None).unwrap().number,
        109
    );
    let mut hub2 = HubStore::open(
        &dir.path().join("late.db"),
        FallbackLayout {
            base: 3,
            block_size: 5,
        },
    )
    .unwrap();
    for i in 0..4 {
        hub2.issue("HT", "K0", at(23, 8, i), None).unwrap(); // 1..=4, inside the first block's span
    }
    let b = hub2.join("K1", at(23, 9, 0)).unwrap();
    assert_eq!(
        (b.first, b.last),
        (8, 12),
        "moved up past numbers the hub issued"
    );
}

#[test]
fn offline_tickets_are_accepted_once_and_only_inside_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let b1 = hub.join("K1", at(23, 7, 0)).unwrap();
    let b2 = hub.join("K2", at(23, 7, 0)).unwrap();
    assert!(matches!(
        hub.record_offline("K9", "HT", 9000, at(23, 8, 0)),
        Err(HubError::UnknownKiosk(_))
    ));
    let t = hub
        .record_offline("K1", "HT", b1.first, at(23, 8, 0))
        .unwrap();
    assert_eq!(t.source, TicketSource::Fallback);
    assert_eq!(t.state, TicketState::Waiting);
    let events = hub.pending_events(100).unwrap().len();
    let again = hub
        .record_offline("K1", "HT", b1.first, at(23, 8, 0))
        .unwrap();
    assert_eq!(again, t, "recording twice returns the same ticket");
    assert_eq!(
        hub.pending_events(100).unwrap().len(),
        events,
        "and writes nothing"
    );
    // K2's number, and a number right past K1's block, are refused for K1.
    for n in [b2.first, b1.last + 1, 1] {
        assert!(
            matches!(
                hub.record_offline("K1", "HT", n, at(23, 8, 1)),
                Err(HubError::OutsideBlock { .. })
            ),
            "{n}"
        );
    }
    // Both kiosks' offline tickets and the hub's sequence live side by side.
    hub.record_offline("K2", "HT", b2.first, at(23, 8, 2))
        .unwrap();
    assert_eq!(hub.issue("HT", "K1", at(23, 8, 3), None).unwrap().number, 1);
    let waiting: Vec<u32> = hub
        .waiting("HT", at(23, 9, 0))
        .unwrap()
        .iter()
        .map(|t| t.number)
        .collect();
    assert_eq!(waiting, [b1.first, b2.first, 1], "in order of issue time");
}

#[test]
fn calls_are_fifo_across_the_counters_areas_and_transfers_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let a1 = hub.issue("HT", "K1", at(23, 8, 0), None).unwrap();
    let b1 = hub.issue("DD", "K2", at(23, 8, 1), None).unwrap();
    let c1 = hub.issue("XD", "K1", at(23, 8, 2), None).unwrap();
    let a2 = hub.issue("HT", "K2", at(23, 8, 3), None).unwrap();
    let areas = ["HT", "DD"];
    let first = hub.call_next("Q1", &areas, at(23, 9, 0)).unwrap().unwrap();
    assert_eq!(first.id, a1.id);
    assert_eq!(first.state, TicketState::Called);
    assert_eq!(first.first_called_at, Some(at(23, 9, 0)));
    hub.finish("Q1", at(23, 9, 5)).unwrap();
    assert_eq!(
        hub.call_next("Q1", &areas, at(23, 9, 6))
            .unwrap()
            .unwrap()
            .id,
        b1.id
    );
    // Transferred to counter Q2: Q2 calls it before its own area's older queue.
    let moved = hub
        .transfer("Q1", &TransferTarget::Counter("Q2".into()), at(23, 9, 7))
        .unwrap();
    assert_eq!(moved.state, TicketState::Waiting);
    assert_eq!(moved.for_counter.as_deref(), Some("Q2"));
    assert_eq!(
        hub.call_next("Q1", &areas, at(23, 9, 8))
            .unwrap()
            .unwrap()
            .id,
        a2.id
    );
    let q2 = hub.call_next("Q2", &["XD"], at(23, 9, 9)).unwrap().unwrap();
    assert_eq!(q2.id, b1.id, "reserved for Q2");
    assert_eq!(q2.calls, 2);
    // Transferred to area XD: it waits there, in its place by issue time (before c1).
    hub.transfer("Q2", &TransferTarget::Area("XD".into()), at(23, 9, 10))
        .unwrap();
    let xd: Vec<String> = hub
        .waiting("XD", at(23, 9, 11))
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(xd, [b1.id.clone(), c1.id.clone()]);
    assert_eq!(
        hub.call_next("Q2", &["XD"], at(23, 9, 12))
            .unwrap()
            .unwrap()
            .id,
        b1.id
    );
    let done = hub.finish("Q2", at(23, 9, 20)).unwrap();
    assert_eq!(done.state, TicketState::Finished);
    assert_eq!(done.issued_at, at(23, 8, 1));
    assert_eq!(done.first_called_at, Some(at(23, 9, 6)));
    assert_eq!(done.last_called_at, Some(at(23, 9, 12)));
    assert_eq!(done.finished_at, Some(at(23, 9, 20)));
    // Nothing else waits in HT or DD today; yesterday's queue is not called tomorrow.
    hub.finish("Q1", at(23, 9, 21)).unwrap();
    assert_eq!(hub.call_next("Q1", &areas, at(23, 10, 0)).unwrap(), None);
    assert_eq!(hub.call_next("Q2", &["XD"], at(24, 8, 0)).unwrap(), None);
}

#[test]
fn every_invalid_transition_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let now = at(23, 9, 0);
    // Nothing called: every action on the current ticket is refused.
    assert!(matches!(
        hub.call_again("Q1", now),
        Err(HubError::NothingCalled(_))
    ));
    assert!(matches!(
        hub.no_show("Q1", now),
        Err(HubError::NothingCalled(_))
    ));
    assert!(matches!(
        hub.finish("Q1", now),
        Err(HubError::NothingCalled(_))
    ));
    assert!(matches!(
        hub.transfer("Q1", &TransferTarget::Area("DD".into()), now),
        Err(HubError::NothingCalled(_))
    ));
    let t = hub.issue("HT", "K1", at(23, 8, 0), None).unwrap();
    hub.issue("HT", "K1", at(23, 8, 1), None).unwrap();
    assert!(matches!(
        hub.rate(&t.id, 1, RatingScale::Five, now),
        Err(HubError::NotFinished {
            state: "waiting",
            ..
        })
    ));
    hub.call_next("Q1", &["HT"], now).unwrap().unwrap();
    // Busy: no second call before this one is settled; no transfer to where it is.
    assert!(matches!(
        hub.call_next("Q1", &["HT"], now),
        Err(HubError::CounterBusy { .. })
    ));
    assert!(matches!(
        hub.transfer("Q1", &TransferTarget::Counter("Q1".into()), now),
        Err(HubError::TransferToSelf(_))
    ));
    assert!(matches!(
        hub.transfer("Q1", &TransferTarget::Area("HT".into()), now),
        Err(HubError::TransferToSelf(_))
    ));
    assert!(matches!(
        hub.rate(&t.id, 1, RatingScale::Five, now),
        Err(HubError::NotFinished {
            state: "called",
            ..
        })
    ));
    let again = hub.call_again("Q1", now + Duration::minutes(1)).unwrap();
    assert_eq!(again.calls, 2);
    let absent = hub.no_show("Q1", now + Duration::minutes(2)).unwrap();
    assert_eq!(absent.state, TicketState::NoShow);
    // Settled: it is no longer the counter's, so neither finish nor a call again reach it.
    assert!(matches!(
        hub.finish("Q1", now),
        Err(HubError::NothingCalled(_))
    ));
    assert!(matches!(
        hub.call_again("Q1", now),
        Err(HubError::NothingCalled(_))
    ));
    assert!(matches!(
        hub.rate(&t.id, 1, RatingScale::Five, now),
        Err(HubError::NotFinished {
            state: "no_show",
            ..
        })
    ));
    assert!(matches!(
        hub.rate("HT-20261123-99@K1", 1, RatingScale::Five, now),
        Err(HubError::UnknownTicket(_))
    ));
    // The next ticket is served; a no-show is never called again.
    let next = hub.call_next("Q1", &["HT"], now).unwrap().unwrap();
    assert_ne!(next.id, t.id);
    hub.finish("Q1", now).unwrap();
    assert_eq!(hub.call_next("Q1", &["HT"], now).unwrap(), None);
    assert_eq!(hub.ticket(&t.id).unwrap().state, TicketState::NoShow);
}

#[test]
fn a_finished_ticket_is_rated_once_with_its_score() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let t = hub.issue("HT", "K1", at(23, 8, 0), None).unwrap();
    let u = hub.issue("HT", "K1", at(23, 8, 1), None).unwrap();
    for _ in 0..2 {
        hub.call_next("Q1", &["HT"], at(23, 9, 0)).unwrap().unwrap();
        hub.finish("Q1", at(23, 9, 1)).unwrap();
    }
    assert!(matches!(
        hub.rate(&t.id, 6, RatingScale::Five, at(23, 9, 2)),
        Err(HubError::BadRating(_))
    ));
    assert_eq!(
        hub.rate(&t.id, 2, RatingScale::Five, at(23, 9, 2)).unwrap(),
        2
    );
    assert!(matches!(
        hub.rate(&t.id, 5, RatingScale::Five, at(23, 9, 3)),
        Err(HubError::AlreadyRated(_))
    ));
    assert_eq!(
        hub.rate(&u.id, 3, RatingScale::Three, at(23, 9, 4))
            .unwrap(),
        0
    );
}

#[test]
fn the_outbox_holds_every_event_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut hub = open(&dir);
    let t = hub.issue("HT", "K1", at(23, 8, 0), None).unwrap();
    hub.call_next("Q1", &["HT"], at(23, 9, 0)).unwrap();
    hub.call_again("Q1", at(23, 9, 1)).unwrap();
    hub.transfer("Q1", &TransferTarget::Counter("Q2".into()), at(23, 9, 2))
        .unwrap();
    hub.call_next("Q2", &[], at(23, 9, 3)).unwrap().unwrap();
    hub.finish("Q2", at(23, 9, 4)).unwrap();
    hub.rate(&t.id, 1, RatingScale::Three, at(23, 9, 5))
        .unwrap();
    let events = hub.pending_events(100).unwrap();
    let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
    let id = &t.id;
    assert_eq!(
        keys,
        [
            format!("issued:{id}"),
            format!("called:{id}:1"),
            format!("called:{id}:2"),
            format!("transferred:{id}:2"),
            format!("called:{id}:3"),
            format!("finished:{id}"),
            format!("rated:{id}"),
        ]
    );
    let rated: serde_json::Value = serde_json::from_str(&events[6].payload).unwrap();
    assert_eq!(rated["score"], 2);
    assert!(hub.mark_delivered(&keys[0], at(23, 10, 0)).unwrap());
    assert!(!hub.mark_delivered(&keys[0], at(23, 10, 0)).unwrap());
    assert_eq!(hub.pending_events(100).unwrap().len(), 6);
}

#[test]
fn the_store_survives_reopening_and_the_sequence_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (block, called) = {
        let mut hub = open(&dir);
        hub.issue("HT", "K1", at(23, 8, 0), None).unwrap();
        hub.issue("HT", "K2", at(23, 8, 1), None).unwrap();
        let block = hub.join("K1", at(23, 8, 2)).unwrap();
        let called = hub.call_next("Q1", &["HT"], at(23, 9, 0)).unwrap().unwrap();
        (block, called)
    };
    let mut hub = open(&dir);
    assert_eq!(
        hub.issue("HT", "K1", at(23, 10, 0), None).unwrap().number,
        3
    );
    assert_eq!(hub.join("K1", at(24, 7, 0)).unwrap(), block);
    assert_eq!(hub.ticket(&called.id).unwrap().state, TicketState::Called);
    assert!(matches!(
        hub.call_next("Q1", &["HT"], at(23, 10, 1)),
        Err(HubError::CounterBusy { .. })
    ));
    assert_eq!(hub.finish("Q1", at(23, 10, 2)).unwrap().id, called.id);
    assert_eq!(hub.pending_events(100).unwrap().len(), 5);
    // The pragmas the promises rest on.
    let conn = rusqlite::Connection::open(dir.path().join("hub.db")).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
}

#[test]
fn a_database_from_a_newer_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    let conn = rusqlite::Connection::open(dir.path().join("hub.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        HubStore::open(&dir.path().join("hub.db"), FallbackLayout::default()),
        Err(HubError::Corrupt { .. })
    ));
}
