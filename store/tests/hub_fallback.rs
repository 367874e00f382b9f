//! The kiosk's fallback block from the centre's hub (issue #18) on a real SQLite file: numbers
//! come from the block per area per Vietnam day, never past its end, survive a reopen (the
//! "durable before printing" promise of `hub_fallback.rs`, invariant 1), stay out of the
//! gateway outbox (the hub delivers them), and are reported until marked.

use chrono::{DateTime, FixedOffset, TimeZone};
use motcua_store::{HubBlock, Store, StoreError};

const KIOSK: &str = "KIOSK-T-01";

fn at(d: u32, h: u32, m: u32) -> DateTime<FixedOffset> {
    motcua_domain::vietnam_offset()
        .with_ymd_and_hms(2026, 12, d, h, m, 0)
        .unwrap()
}

fn numbers(store: &mut Store, area: &str, now: DateTime<FixedOffset>, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| store.issue_offline_ticket(KIOSK, area, now).unwrap().number)
        .collect()
}

#[test]
fn without_a_block_no_number_is_made_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(store.hub_block().unwrap(), None);
    let e = store
        .issue_offline_ticket(KIOSK, "TP", at(3, 8, 0))
        .unwrap_err();
    assert!(matches!(e, StoreError::NoHubBlock), "{e:?}");
    assert!(e.to_string().contains("khối số dự phòng"), "{e}");
}

#[test]
fn numbers_come_from_the_block_per_area_per_day_and_never_past_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let block = HubBlock {
        first: 9100,
        last: 9102,
    };
    assert!(store.save_hub_block(block, at(3, 7, 0)).unwrap());
    assert!(
        !store.save_hub_block(block, at(3, 7, 5)).unwrap(),
        "the same block again changes nothing"
    );
    assert_eq!(
        numbers(&mut store, "TP", at(3, 8, 0), 3),
        [9100, 9101, 9102]
    );
    // Another area has its own numbers from the same block.
    assert_eq!(numbers(&mut store, "HT", at(3, 8, 1), 2), [9100, 9101]);
    let e = store
        .issue_offline_ticket(KIOSK, "TP", at(3, 8, 2))
        .unwrap_err();
    match &e {
        StoreError::HubBlockUsedUp {
            area, first, last, ..
        } => assert_eq!((area.as_str(), *first, *last), ("TP", 9100, 9102)),
        other => panic!("expected the block used up, got {other:?}"),
    }
    assert!(e.to_string().contains("hết số dự phòng"), "{e}");
    // The next Vietnam day starts the block again (23:30 UTC is already the 4th in Vietnam).
    let next_day_utc = chrono::Utc
        .with_ymd_and_hms(2026, 12, 3, 23, 30, 0)
        .unwrap()
        .fixed_offset();
    let t = store
        .issue_offline_ticket(KIOSK, "TP", next_day_utc)
        .unwrap();
    assert_eq!((t.number, t.day.to_string()), (9100, "2026-12-04".into()));
    assert_eq!(t.ticket_id, "TP-20261204-9100@KIOSK-T-01");
    // None of them is in the gateway outbox: the hub delivers tickets.
    let outbox = store.outbox_status().unwrap();
    assert_eq!((outbox.pending, outbox.delivered), (0, 0), "{outbox:?}");
}

#[test]
fn a_number_taken_survives_a_reopen_and_is_not_given_again() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path(), 0).unwrap();
        store
            .save_hub_block(
                HubBlock {
                    first: 9000,
                    last: 9099,
                },
                at(3, 7, 0),
            )
            .unwrap();
        assert_eq!(numbers(&mut store, "TP", at(3, 8, 0), 2), [9000, 9001]);
    }
    let mut store = Store::open(dir.path(), 0).unwrap();
    assert_eq!(
        store.hub_block().unwrap(),
        Some(HubBlock {
            first: 9000,
            last: 9099
        })
    );
    assert_eq!(numbers(&mut store, "TP", at(3, 9, 0), 1), [9002]);
}

#[test]
fn offline_tickets_are_reported_oldest_first_until_marked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    store
        .save_hub_block(
            HubBlock {
                first: 9200,
                last: 9299,
            },
            at(3, 7, 0),
        )
        .unwrap();
    store
        .issue_offline_ticket(KIOSK, "HT", at(3, 9, 0))
        .unwrap();
    store
        .issue_offline_ticket(KIOSK, "TP", at(3, 8, 0))
        .unwrap();
    store
        .issue_offline_ticket(KIOSK, "TP", at(3, 10, 0))
        .unwrap();
    let pending = store.unreported_offline_tickets(KIOSK, 10).unwrap();
    let seen: Vec<(&str, u32)> = pending
        .iter()
        .map(|t| (t.area.as_str(), t.number))
        .collect();
    assert_eq!(seen, [("TP", 9200), ("HT", 9200), ("TP", 9201)]);
    assert_eq!(pending[0].issued_at, at(3, 8, 0));
    let first_two = store.unreported_offline_tickets(KIOSK, 2).unwrap();
    assert_eq!(
        store
            .mark_offline_reported(&first_two, at(3, 11, 0))
            .unwrap(),
        2
    );
    // Marking again (a repeated report) counts nothing new.
    assert_eq!(
        store
            .mark_offline_reported(&first_two, at(3, 11, 1))
            .unwrap(),
        0
    );
    drop(store);
    let store = Store::open(dir.path(), 0).unwrap();
    let left = store.unreported_offline_tickets(KIOSK, 10).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].area.as_str(), left[0].number), ("TP", 9201));
}

#[test]
fn a_new_block_from_a_rebuilt_hub_starts_at_its_own_first_number() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();
    let old = HubBlock {
        first: 9000,
        last: 9099,
    };
    store.save_hub_block(old, at(3, 7, 0)).unwrap();
    assert_eq!(numbers(&mut store, "TP", at(3, 8, 0), 2), [9000, 9001]);
    let new = HubBlock {
        first: 9300,
        last: 9301,
    };
    assert!(store.save_hub_block(new, at(3, 9, 0)).unwrap());
    assert_eq!(numbers(&mut store, "TP", at(3, 9, 1), 2), [9300, 9301]);
    assert!(store
        .issue_offline_ticket(KIOSK, "TP", at(3, 9, 2))
        .is_err());
    assert_eq!(
        store.unreported_offline_tickets(KIOSK, 10).unwrap().len(),
        4
    );
    let e = store
        .save_hub_block(HubBlock { first: 5, last: 4 }, at(3, 9, 3))
        .unwrap_err();
    assert!(matches!(e, StoreError::Rejected(_)), "{e:?}");
}
