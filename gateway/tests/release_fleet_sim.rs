//! A fleet of 200 kiosks against the real in-process gateway over mTLS (issue #17, "Updates"):
//! wave membership stable per device, the share per wave as configured, and a rollout that
//! pauses itself after injected rollbacks.
//!
//! The devices are not processes: each is an enrolled certificate (`KIOSK-ST-0001` ..
//! `KIOSK-ST-0200`, enrolled over HTTP with `POST /v1/devices/enroll` as a kiosk does, which
//! takes a few seconds for the 200) and an HTTPS client presenting it, asking
//! `GET /v1/releases/offer` and reporting stages as `kioskd` would. What is simulated is only
//! the kiosk side; the offers, the wave arithmetic, the recorded stages and the pause are the
//! gateway's own, through its store (SQLite, or PostgreSQL with S3).
//!
//! Time: the gateway reads the wall clock and counts the waves from the `published_at` inside
//! the signed manifest, so "24 h after publishing" is a release published 24 h ago. The
//! simulation publishes the same plan (`1%@0h,10%@24h,100%@72h`) as one package per elapsed
//! time (`motcua-sim-0h`, `-23h`, `-24h`, `-72h`) and asks every device about each: a device's
//! wave position does not depend on the release, so these rollouts side by side show what one
//! rollout offers over time. The expected members are computed here, independently of the
//! gateway (SHA-256 of the device id, position below the wave's share): only that is asserted;
//! the measured shares (which with 200 devices are near the configured ones, not equal) are
//! printed.
//!
//! The pause: release 0.2.0-1 of `motcua-kiosk`, published 72 h ago (every wave due, so
//! without a pause all 200 would be offered), is polled by the devices one after another; each
//! offered device downloads and installs it, and some keep it while others roll it back at
//! injected points, against the default [`PausePolicy`] (more than 10 % of at least 3 outcomes,
//! at least 2 rollbacks). The first rollback (1 of 3) and the second (2 of 20, exactly 10 %) do
//! not stop the rollout; the third (3 of 29) does, and no device is offered it after that.

#[macro_use]
mod harness;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt};
use harness::*;
use motcua_domain::release::{wave_position, PausePolicy};
use motcua_domain::wire::ReleaseOffer;
use motcua_identity::release::ReleaseKey;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

const FLEET: usize = 200;
const WAVES: &str = "1%@0h,10%@24h,100%@72h";
/// The version the simulated kiosks run.
const RUNNING: &str = "0.1.0-1";
/// Requests in flight at once (kiosks poll on their own clocks; this only bounds the test).
const IN_FLIGHT: usize = 16;
/// The outcomes (1-based, in the order devices report them) that are rollbacks.
const ROLLBACK_AT: [u64; 3] = [3, 20, 29];
/// The release whose rollout pauses itself.
const PAUSED: &str = "0.2.0-1";

/// A simulated kiosk: its id, its wave position as computed here, and its HTTPS client.
struct Kiosk {
    id: String,
    position: u32,
    client: reqwest::Client,
}

/// One elapsed time of the plan: its rollout (a package published `hours` ago) and the share
/// the plan gives then, in basis points (written here, not read from the gateway).
struct Point {
    label: &'static str,
    package: &'static str,
    version: &'static str,
    hours: i64,
    share: u32,
}

const POINTS: [Point; 4] = [
    Point {
        label: "0h",
        package: "motcua-sim-0h",
        version: "1.0.0-1",
        hours: 0,
        share: 100,
    },
    Point {
        label: "23h",
        package: "motcua-sim-23h",
        version: "1.0.1-1",
        hours: 23,
        share: 100,
    },
    Point {
        label: "24h",
        package: "motcua-sim-24h",
        version: "1.0.2-1",
        hours: 24,
        share: 1_000,
    },
    Point {
        label: "72h",
        package: "motcua-sim-72h",
        version: "1.0.3-1",
        hours: 72,
        share: 10_000,
    },
];

/// The wave position as `motcua_domain::release::wave_position` is specified, computed again
/// here: the first 8 bytes of SHA-256("motcua-wave\0" + id), big-endian, modulo 10 000.
fn position(id: &str) -> u32 {
    let digest = Sha256::digest(format!("motcua-wave\u{0}{id}").as_bytes());
    let head: [u8; 8] = digest[..8].try_into().expect("8 bytes");
    (u64::from_be_bytes(head) % 10_000) as u32
}

/// The pause rule with the default policy's numbers, written out.
fn should_pause(committed: u64, rolled_back: u64) -> bool {
    let outcomes = committed + rolled_back;
    rolled_back >= 2 && outcomes >= 3 && rolled_back * 100 > 10 * outcomes
}

/// A client presenting `cred` that keeps its connection, as a kiosk's does between polls (the
/// harness's clients open one per request, which 200 devices would pay for in handshakes).
fn kiosk_client(h: &Harness, cred: &Cred) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(h.ca_pem.as_bytes()).expect("CA PEM"))
        .identity(
            reqwest::Identity::from_pem(format!("{}{}", cred.cert_pem, cred.key_pem).as_bytes())
                .expect("identity PEM"),
        )
        .timeout(Duration::from_secs(30))
        .build()
        .expect("kiosk client")
}

async fn enrol_fleet(h: &Harness) -> Vec<Kiosk> {
    let ids: Vec<String> = (1..=FLEET).map(|i| format!("KIOSK-ST-{i:04}")).collect();
    let mut fleet: Vec<Kiosk> = stream::iter(ids)
        .map(|id| async move {
            let cred = h.enroll(&id).await;
            Kiosk {
                position: position(&id),
                client: kiosk_client(h, &cred),
                id,
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    fleet.sort_by(|a, b| a.id.cmp(&b.id));
    fleet
}

/// The version `package` offers `k` now, if any.
async fn offer(h: &Harness, k: &Kiosk, package: &str) -> Option<String> {
    let r = k
        .client
        .get(h.url(&format!(
            "/v1/releases/offer?package={package}&running={RUNNING}"
        )))
        .send()
        .await
        .expect("offer");
    assert_eq!(r.status(), StatusCode::OK, "{}", k.id);
    let offer: ReleaseOffer = r.json().await.expect("offer JSON");
    offer.release.map(|r| r.version)
}

/// The devices `point`'s rollout offers, asking every device; each offer must be its version.
async fn offered_set(h: &Harness, fleet: &[Kiosk], point: &Point) -> BTreeSet<String> {
    stream::iter(fleet)
        .map(|k| async move { (k.id.clone(), offer(h, k, point.package).await) })
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|(id, version)| async move {
            version.map(|v| {
                assert_eq!(v, point.version, "{id} at {}", point.label);
                id
            })
        })
        .collect()
        .await
}

async fn report(h: &Harness, k: &Kiosk, stage: &str) {
    let r = k
        .client
        .post(h.url(&format!("/v1/releases/{PAUSED}/report")))
        .json(&json!({"stage": stage, "detail": format!("simulated {stage}")}))
        .send()
        .await
        .expect("report");
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "{} {stage}", k.id);
}

fn percent(n: usize) -> f64 {
    n as f64 * 100.0 / FLEET as f64
}

/// What the devices told the gateway of the paused release, counted here.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sent {
    offered: u64,
    downloaded: u64,
    installed: u64,
    committed: u64,
    rolled_back: u64,
}

async fn two_hundred_devices_follow_the_waves_and_rollbacks_pause_the_rollout(backend: Backend) {
    let started = Instant::now();
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    assert_eq!(
        h.config().release_pause,
        PausePolicy {
            max_rollbacks: 1_000,
            min_outcomes: 3,
            min_rollbacks: 2
        },
        "the gateway pauses by the rule written out in should_pause"
    );
    let fleet = enrol_fleet(&h).await;
    let enrolled = started.elapsed();
    for k in &fleet {
        assert_eq!(k.position, wave_position(&k.id), "{}", k.id);
    }

    // 1. The same plan at each elapsed time; every device asked twice.
    let key = ReleaseKey::generate().expect("key");
    let now = chrono::Utc::now().timestamp();
    for p in &POINTS {
        let deb = deb_of(h.dir.path(), p.package, p.version, p.label);
        motcua_gateway::publish_release(
            &h.release_source(),
            &key,
            &deb,
            WAVES.parse().expect("waves"),
            None,
            now - p.hours * 3600,
        )
        .await
        .expect("published");
    }
    let mut sets = Vec::new();
    for p in &POINTS {
        let expected: BTreeSet<String> = fleet
            .iter()
            .filter(|k| k.position < p.share)
            .map(|k| k.id.clone())
            .collect();
        let first = offered_set(&h, &fleet, p).await;
        let second = offered_set(&h, &fleet, p).await;
        assert_eq!(first, expected, "offered {} after publishing", p.label);
        assert_eq!(second, first, "asked again {} after publishing", p.label);
        sets.push(first);
    }
    for (w, pair) in sets.windows(2).enumerate() {
        assert!(
            pair[0].is_subset(&pair[1]),
            "a device offered at {} is offered at {}",
            POINTS[w].label,
            POINTS[w + 1].label
        );
    }
    assert_eq!(sets[3].len(), FLEET, "at 72h the whole fleet");
    let list = releases(&h).await;
    for (p, set) in POINTS.iter().zip(&sets) {
        assert_eq!(
            release(&list, p.version)["offered"],
            set.len(),
            "{}",
            p.package
        );
    }
    let waves_done = started.elapsed();

    // 2. The pause: devices poll one after another; rollbacks at the outcomes ROLLBACK_AT.
    let deb = deb(h.dir.path(), PAUSED, "the release that rolls back");
    motcua_gateway::publish_release(
        &h.release_source(),
        &key,
        &deb,
        WAVES.parse().expect("waves"),
        None,
        now - 72 * 3600,
    )
    .await
    .expect("published");
    let mut sent = Sent::default();
    let mut paused_at: Option<(usize, u64, u64)> = None;
    let mut after_pause = 0;
    for (i, k) in fleet.iter().enumerate() {
        let seq = i + 1;
        let offered = offer(&h, k, "motcua-kiosk").await;
        if paused_at.is_some() {
            assert_eq!(offered, None, "{} asked after the pause", k.id);
            after_pause += 1;
            continue;
        }
        assert_eq!(
            offered.as_deref(),
            Some(PAUSED),
            "{} before the pause ({} rolled back of {})",
            k.id,
            sent.rolled_back,
            sent.committed + sent.rolled_back
        );
        sent.offered += 1;
        report(&h, k, "downloaded").await;
        sent.downloaded += 1;
        // Every 10th waits for its maintenance window, every 7th is in its health window.
        if seq % 10 == 0 {
            continue;
        }
        report(&h, k, "installed").await;
        sent.installed += 1;
        if seq % 7 == 0 {
            continue;
        }
        let outcome = sent.committed + sent.rolled_back + 1;
        if !ROLLBACK_AT.contains(&outcome) {
            report(&h, k, "committed").await;
            sent.committed += 1;
            continue;
        }
        report(&h, k, "rolled_back").await;
        sent.rolled_back += 1;
        let state = release(&releases(&h).await, PAUSED)["state"].clone();
        let expected = if should_pause(sent.committed, sent.rolled_back) {
            "paused"
        } else {
            "rolling"
        };
        assert_eq!(
            state, expected,
            "after {} rolled back of {}",
            sent.rolled_back, outcome
        );
        if expected == "paused" {
            paused_at = Some((seq, sent.rolled_back, outcome));
        }
    }
    let (paused_seq, paused_rb, paused_outcomes) = paused_at.expect("the rollout paused");
    assert_eq!(
        (paused_rb, paused_outcomes),
        (3, 29),
        "the first two rollbacks (1 of 3, 2 of 20) do not pause it"
    );
    // Devices offered it before but not done with it are not offered it while it is paused.
    let mut unfinished = 0;
    for (i, k) in fleet.iter().enumerate().take(paused_seq) {
        if (i + 1) % 10 == 0 || (i + 1) % 7 == 0 {
            assert_eq!(offer(&h, k, "motcua-kiosk").await, None, "{}", k.id);
            unfinished += 1;
        }
    }

    let list = releases(&h).await;
    let r = release(&list, PAUSED);
    assert_eq!(r["state"], "paused", "{r}");
    assert!(
        r["state_reason"]
            .as_str()
            .is_some_and(|why| why.contains(&format!("{paused_rb} of {paused_outcomes}"))),
        "{r}"
    );
    let shown = Sent {
        offered: r["offered"].as_u64().expect("offered"),
        downloaded: r["downloaded"].as_u64().expect("downloaded"),
        installed: r["installed"].as_u64().expect("installed"),
        committed: r["committed"].as_u64().expect("committed"),
        rolled_back: r["rolled_back"].as_u64().expect("rolled_back"),
    };
    assert_eq!(shown, sent, "the admin API counts what the devices sent");
    assert_eq!(r["failed"], 0);
    let page = h
        .req(Method::GET, "/v1/admin/fleet.html", Some(&h.technician))
        .send()
        .await
        .expect("fleet page")
        .text()
        .await
        .expect("page");
    let row = page
        .split(&format!("<tr data-release=\"{PAUSED}\">"))
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("a row of {PAUSED} in {page}"));
    assert!(row.contains("Tạm dừng / Paused"), "{row}");
    let cells = format!(
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>0</td>",
        sent.offered, sent.downloaded, sent.installed, sent.committed, sent.rolled_back
    );
    assert!(row.contains(&cells), "{cells} in {row}");
    let total = started.elapsed();

    println!("fleet simulation ({backend:?}): {FLEET} enrolled devices, waves {WAVES}");
    println!("  elapsed  rollout          offered  measured  configured");
    for (p, set) in POINTS.iter().zip(&sets) {
        println!(
            "  {:>7}  {:<15}  {:>3}/{FLEET}  {:>6.1} %  {:>8.0} %",
            p.label,
            p.package,
            set.len(),
            percent(set.len()),
            f64::from(p.share) / 100.0
        );
    }
    let plan: motcua_domain::release::WavePlan = WAVES.parse().expect("waves");
    for (w, wave) in plan.waves().iter().enumerate() {
        let members = fleet.iter().filter(|k| k.position < wave.share).count();
        let new = fleet
            .iter()
            .filter(|k| plan.wave_of(k.position) == w)
            .count();
        println!(
            "  wave {} ({}%): {members}/{FLEET} = {:.1} % ({new} new in this wave)",
            w + 1,
            wave.share / 100,
            percent(members)
        );
    }
    println!(
        "  pause of {PAUSED} (published 72h ago): offered {}, downloaded {}, installed {}, \
         committed {}, rolled back {}; paused by itself at the rollback of device #{paused_seq} \
         ({paused_rb} of {paused_outcomes} outcomes); asked after it: {after_pause} new devices and \
         {unfinished} unfinished ones, 0 offered",
        sent.offered, sent.downloaded, sent.installed, sent.committed, sent.rolled_back
    );
    println!(
        "  time: enrolment {:.1} s, waves {:.1} s, pause {:.1} s, total {:.1} s",
        enrolled.as_secs_f64(),
        (waves_done - enrolled).as_secs_f64(),
        (total - waves_done).as_secs_f64(),
        total.as_secs_f64()
    );
    h.finish().await;
}

scenarios!(two_hundred_devices_follow_the_waves_and_rollbacks_pause_the_rollout);
