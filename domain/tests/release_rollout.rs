//! A rollout over a simulated fleet of 200 devices (an in-process model: the wave and pause
//! rules of `motcua_domain::release` driven hour by hour, each device a device id and an
//! outcome): wave membership is stable per device and across releases, each wave's share is the
//! configured one, and a release that rolls back on many devices pauses itself before its late
//! waves.

use std::collections::BTreeSet;
use std::time::Duration;

use motcua_domain::release::{wave_position, PausePolicy, WavePlan};

const HOUR: Duration = Duration::from_secs(3600);

fn fleet(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("000.00.{:02}.H56-kiosk-{i:03}", i % 109))
        .collect()
}

fn plan(text: &str) -> WavePlan {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The devices offered the release `elapsed` after publishing.
fn offered(plan: &WavePlan, devices: &[String], elapsed: Duration) -> BTreeSet<String> {
    devices
        .iter()
        .filter(|d| plan.offers(wave_position(d), elapsed))
        .cloned()
        .collect()
}

#[test]
fn membership_is_stable_and_only_grows() {
    let devices = fleet(200);
    let waves = plan("1%@0h,10%@24h,100%@72h");
    let mut before = BTreeSet::new();
    for hour in 0..=80 {
        let now = offered(&waves, &devices, HOUR * hour);
        assert!(
            before.is_subset(&now),
            "hour {hour}: a device left its wave"
        );
        assert_eq!(
            now,
            offered(&waves, &devices, HOUR * hour),
            "hour {hour}: not stable"
        );
        before = now;
    }
    assert_eq!(before.len(), 200, "the last wave is the whole fleet");
    // Another release with other waves takes its canaries from the same front of the fleet.
    let first_next = offered(&plan("5%@0h,100%@48h"), &devices, Duration::ZERO);
    let first_this = offered(&waves, &devices, Duration::ZERO);
    assert!(first_this.is_subset(&first_next));
}

#[test]
fn each_wave_gets_its_configured_share() {
    let waves = plan("1%@0h,10%@24h,50%@48h,100%@72h");
    for n in [200usize, 20_000] {
        let devices = fleet(n);
        for (after_hours, share) in [(0u32, 0.01f64), (24, 0.10), (48, 0.50), (72, 1.0)] {
            let got = offered(&waves, &devices, HOUR * after_hours).len() as f64;
            let expected = share * n as f64;
            // Four standard deviations of a binomial draw: fails only if positions are not
            // spread evenly (or the share arithmetic is wrong).
            let sigma = (n as f64 * share * (1.0 - share)).sqrt();
            println!("{n} devices, {after_hours:>2} h: {got} offered, {expected} expected");
            assert!(
                (got - expected).abs() <= 4.0 * sigma + 1.0,
                "{n} devices at {after_hours} h: {got} offered, {expected} expected"
            );
        }
    }
}

#[test]
fn a_release_that_rolls_back_pauses_itself_before_the_whole_fleet() {
    let devices = fleet(200);
    let waves = plan("1%@0h,10%@24h,100%@72h");
    let policy = PausePolicy::default();
    // The release fails its health check on every third device (an injected fault: a driver
    // that exists only on some kiosks' hardware).
    let fails = |d: &str| wave_position(d) % 3 == 0;
    let (mut committed, mut rolled_back) = (0u64, 0u64);
    let mut installed = BTreeSet::new();
    let mut paused_at = None;
    for hour in 0..=96u32 {
        if policy.should_pause(committed, rolled_back) {
            paused_at = Some(hour);
            break;
        }
        for d in offered(&waves, &devices, HOUR * hour) {
            if installed.insert(d.clone()) {
                if fails(&d) {
                    rolled_back += 1;
                } else {
                    committed += 1;
                }
            }
        }
    }
    let paused_at = paused_at.expect("the rollout never paused");
    println!(
        "paused at hour {paused_at}: {committed} committed, {rolled_back} rolled back, {} of 200 reached",
        installed.len()
    );
    assert!(paused_at < 72, "paused only at hour {paused_at}");
    assert!(installed.len() < 100, "{} devices reached", installed.len());
    assert!(rolled_back > 0);

    // The same fleet with a healthy release reaches everyone.
    let (mut committed, mut reached) = (0u64, BTreeSet::new());
    for hour in 0..=96u32 {
        assert!(!policy.should_pause(committed, 0));
        for d in offered(&waves, &devices, HOUR * hour) {
            if reached.insert(d) {
                committed += 1;
            }
        }
    }
    assert_eq!(reached.len(), 200);
}
