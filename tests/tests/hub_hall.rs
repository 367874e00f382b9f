//! The centre's hall end to end (issue #18), every part a real process: a gateway, the hub
//! (`motcua-hub`, running as an enrolled device of the site), two kiosks (kioskd for the join
//! and the reports, `kioskctl ticket` for tickets), and Debian's Chromium through chromedriver
//! as the counter PC, the hall TV and the rating tablet.
//!
//! What it shows: tickets from both kiosks share one sequence; a device of another site is
//! refused; the counter page calls the next ticket with its keyboard shortcut and the display
//! receives the call through its push channel (the latency is printed, never asserted); the
//! call-out audio is a plausible, non-silent WAV (`sox`); the rating tablet rates the served
//! ticket once and refuses a second rating; the day's report shows the waits; the events and
//! the report reach the gateway; with the hub stopped a kiosk numbers a ticket from its own
//! block and says so, and the hub records it when it is back. Screenshots of the pages go to
//! `target/screenshots/hub-*.png`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use motcua_tests::{wait_for, Browser, ChromeDriver, Gateway, Hub, Kiosk, KioskSettings};
use serde_json::{json, Value};

const SITE: &str = "000.17.22.H56";
const PIN: &str = "2468";

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

/// `(duration s, RMS amplitude)` of a WAV, as `sox FILE -n stat` reports them.
fn sox_stat(wav: &Path) -> anyhow::Result<(f64, f64)> {
    let out = Command::new("sox")
        .arg(wav)
        .args(["-n", "stat"])
        .output()
        .context("run sox (scripts/install-deps.sh installs it)")?;
    let text = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| -> anyhow::Result<f64> {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("no {name:?} in sox's output: {text}"))
    };
    Ok((field("Length (seconds)")?, field("RMS     amplitude")?))
}

fn ticket(kiosk: &Kiosk) -> anyhow::Result<(u32, String)> {
    let out = kiosk.ctl(&["ticket", "--area", "HT"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    anyhow::ensure!(out.status.success(), "kioskctl ticket failed: {stderr}");
    let number = stdout
        .trim()
        .parse()
        .with_context(|| format!("ticket number in {stdout:?}"))?;
    Ok((number, stderr))
}

fn sign_in(b: &Browser<'_>, hub: &Hub, counter: &str) -> anyhow::Result<()> {
    b.open(&format!("{}/login", hub.page_url))?;
    if let Err(e) = b.find("#name option") {
        let _ = b.screenshot(&screenshots().join("hub-login-failed.png"));
        let text = b.run(
            "return document.title + ' | ' + document.body.innerText;",
            json!([]),
        )?;
        let raw = b.run("return 1;", json!([]));
        anyhow::bail!(
            "{e}: the page shows {text}; run: {raw:?}; find: {:?}",
            b.find_once("#name")
        );
    }
    b.run(
        "document.getElementById('counter').value = arguments[0];",
        json!([counter]),
    )?;
    b.type_into("#pin", PIN)?;
    b.click("#sign-in")?;
    wait_for(Duration::from_secs(15), "the counter page", || {
        Ok(b.url()?.ends_with("/counter").then_some(()))
    })?;
    b.find("#next")?;
    Ok(())
}

fn pair(b: &Browser<'_>, counter_page: &Browser<'_>, hub: &Hub, kind: &str) -> anyhow::Result<()> {
    counter_page.click(&format!("#pair-{kind}"))?;
    let code = wait_for(Duration::from_secs(10), "a pairing code", || {
        let text = counter_page.text("#pair-code")?;
        Ok(text
            .split_whitespace()
            .find(|w| w.len() == 6 && w.bytes().all(|c| c.is_ascii_digit()))
            .map(str::to_owned))
    })?;
    b.open(&format!("{}/pair", hub.page_url))?;
    b.type_into("#code", &code)?;
    b.click("#submit")?;
    let page = if kind == "display" {
        "/display"
    } else {
        "/rating"
    };
    wait_for(Duration::from_secs(15), page, || {
        Ok(b.url()?.ends_with(page).then_some(()))
    })
}

/// A JSON request from inside a page (its cookies), returning `[status, body]`.
fn page_fetch(b: &Browser<'_>, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
    b.run_async(
        "const [m, p, body, done] = arguments;
         const o = { method: m, headers: {} };
         if (m !== 'GET') { o.headers['Content-Type'] = 'application/json'; o.body = JSON.stringify(body); }
         fetch(p, o).then(async r => done([r.status, await r.json().catch(() => null)]))
                    .catch(e => done([0, String(e)]));",
        json!([method, path, body]),
    )
}

/// A POST to the hub's kiosk port with `kiosk`'s certificate, from a client that does not
/// check the hub (as a tampered kiosk would): `(status, body)`.
fn kiosk_post(kiosk: &Kiosk, hub: &Hub, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
    let pem = kiosk.identity_pem()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let client = reqwest::Client::builder()
                .use_rustls_tls()
                .danger_accept_invalid_certs(true)
                .identity(reqwest::Identity::from_pem(&pem)?)
                .build()?;
            let r = client
                .post(format!("{}{path}", hub.kiosk_url))
                .json(&body)
                .send()
                .await?;
            anyhow::Ok((r.status().as_u16(), r.json::<Value>().await?))
        })
}

#[test]
fn a_hall_shares_one_sequence_calls_by_voice_rates_once_and_reports() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let gateway = Gateway::start(&dir.path().join("gateway"), None, 0)?;
    let settings = |id: &str| KioskSettings::new(&gateway).device(id);
    // The hub runs on an enrolled device of the site.
    let hub_device = Kiosk::enrolled(&dir.path().join("hub-device"), &settings("KIOSK-H56-HUB"))?;
    let hash = motcua_identity::pin::hash_pin(PIN)?;
    let mut hub = Hub::start(
        &dir.path().join("hub"),
        &hub_device.data_dir(),
        &gateway.url(),
        &format!(
            "[[counters]]\ncode = \"1\"\nnumber = 1\nareas = [\"HT\"]\n\
             [[counters]]\ncode = \"2\"\nnumber = 2\nareas = [\"HT\"]\n\
             [[staff]]\nname = \"Nguyễn Thị Lan\"\npin_hash = \"{hash}\"\n"
        ),
    )?;
    let hub_section = format!("[hub]\nurl = \"{}\"\n", hub.kiosk_url);
    let mut k1 = Kiosk::enrolled(
        &dir.path().join("k1"),
        &settings("KIOSK-H56-0001").with(&hub_section),
    )?;
    let mut k2 = Kiosk::enrolled(
        &dir.path().join("k2"),
        &settings("KIOSK-H56-0002").with(&hub_section),
    )?;
    // kioskd joins the hub for each kiosk's fallback block.
    k1.start_daemon()?;
    k2.start_daemon()?;
    let block = |k: &Kiosk| -> anyhow::Result<Option<(u32, u32)>> {
        let store = motcua_store::Store::open(&k.data_dir(), 0)?;
        Ok(store.hub_block()?.map(|b| (b.first, b.last)))
    };
    let b1 = wait_for(Duration::from_secs(60), "kiosk 1's block", || block(&k1))?;
    let b2 = wait_for(Duration::from_secs(60), "kiosk 2's block", || block(&k2))?;
    assert!(b1.1 < b2.0 || b2.1 < b1.0, "blocks overlap: {b1:?} {b2:?}");

    // An event the gateway will refuse (a kind it does not know, as from a newer hub) must not
    // hold back the others: it is set aside with the gateway's words.
    hub.db()?.execute(
        "INSERT INTO outbox(key, kind, ticket_id, payload, at_us) VALUES ('bogus:1', 'bogus', 'x', '{}', 0)",
        [],
    )?;

    // One sequence across the hall.
    let numbers: Vec<u32> = [&k1, &k2, &k1, &k2]
        .iter()
        .map(|k| ticket(k).map(|t| t.0))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(
        numbers,
        vec![1, 2, 3, 4],
        "one sequence for the area across both kiosks"
    );

    // A device of another site is refused by the hub.
    let stranger = Kiosk::create(
        &dir.path().join("stranger"),
        &KioskSettings::at_url(&gateway.url())
            .device("KIOSK-X99-0001")
            .with(&hub_section),
    )?;
    stranger.install_identity(&gateway.pki, "KIOSK-X99-0001", "000.99.99.X99")?;
    // Its kiosk does not take this hub for its own (another site's certificate)...
    let refused = stranger.ctl(&["ticket", "--area", "HT"])?;
    assert!(
        !refused.status.success(),
        "another site's kiosk got a ticket: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
    // ...and the hub refuses that kiosk even from a client that skips the check.
    let answer = kiosk_post(&stranger, &hub, "/v1/hub/join", json!({}))?;
    assert_eq!(answer.0, 403, "{answer:?}");
    assert_eq!(answer.1["code"], "other_site", "{answer:?}");

    // The counter PC, the hall TV and the rating tablet.
    let driver = ChromeDriver::start(&dir.path().join("browsers"))?;
    let counter = driver.browser(&dir.path().join("browsers/counter"), &hub.spki_pin)?;
    sign_in(&counter, &hub, "1")?;
    let display = driver.browser(&dir.path().join("browsers/display"), &hub.spki_pin)?;
    pair(&display, &counter, &hub, "display")?;
    let tablet = driver.browser(&dir.path().join("browsers/tablet"), &hub.spki_pin)?;
    pair(&tablet, &counter, &hub, "rating")?;
    wait_for(
        Duration::from_secs(15),
        "the display's push channel",
        || {
            Ok(display
                .run(
                    "return window.motcuaDisplay && window.motcuaDisplay.connected;",
                    json!([]),
                )?
                .as_bool()
                .filter(|c| *c))
        },
    )?;
    counter.open(&format!("{}/counter", hub.page_url))?;
    wait_for(Duration::from_secs(10), "the waiting list", || {
        Ok((counter.text("#count")? == "4").then_some(()))
    })?;
    // Call next with the keyboard shortcut; the display gets it pushed.
    let pressed_ms = counter
        .run("return Date.now();", json!([]))?
        .as_f64()
        .unwrap_or(0.0);
    counter.press("n")?;
    let call = wait_for(Duration::from_secs(10), "the call on the display", || {
        let calls = display.run("return window.motcuaDisplay.calls;", json!([]))?;
        Ok(calls.as_array().and_then(|c| c.first().cloned()))
    })?;
    let latency_ms = call["received_ms"].as_f64().unwrap_or(0.0) - pressed_ms;
    println!(
        "counter key → display push: {latency_ms:.0} ms (key press through WebDriver included)"
    );
    assert_eq!(call["number"], 1);
    assert_eq!(call["counter_number"], 1);
    assert_eq!(call["text"], "Mời công dân có số thứ tự 1 đến quầy số 1");
    wait_for(
        Duration::from_secs(10),
        "the called number on the display",
        || Ok((display.text("#counter-1 .number")? == "1").then_some(())),
    )?;
    // The call-out: fetched by the display, made on the hub.
    let audio = call["audio"]
        .as_str()
        .context("no audio in the call")?
        .to_owned();
    let fetched = page_fetch(&display, "GET", &audio, json!(null))?;
    assert_eq!(
        fetched[0], 200,
        "the display fetches the call-out: {fetched}"
    );
    let wav = wait_for(Duration::from_secs(30), "the call-out WAV", || {
        let dir = hub.dir.join("state/audio");
        Ok(std::fs::read_dir(&dir).ok().and_then(|mut d| {
            d.find_map(|e| {
                e.ok()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            })
        }))
    })?;
    let (seconds, rms) = sox_stat(&wav)?;
    println!("call-out audio: {seconds:.2} s, RMS {rms:.3}");
    assert!((1.5..15.0).contains(&seconds), "{seconds} s");
    assert!(rms > 0.01, "silent call-out (RMS {rms})");
    display.screenshot(&screenshots().join("hub-display.png"))?;
    counter.screenshot(&screenshots().join("hub-counter.png"))?;

    // Finish (F); the tablet offers ticket 1 once.
    counter.press("f")?;
    wait_for(Duration::from_secs(10), "the rating buttons", || {
        Ok(tablet.find("#level-1").ok())
    })?;
    tablet.screenshot(&screenshots().join("hub-rating.png"))?;
    let rated_id = format!(
        "HT-{}-1@{}",
        chrono::Utc::now()
            .with_timezone(&motcua_domain::vietnam_offset())
            .format("%Y%m%d"),
        "KIOSK-H56-0001"
    );
    tablet.click("#level-1")?;
    wait_for(Duration::from_secs(10), "the thanks", || {
        Ok(tablet.text("#message")?.contains("Cảm ơn").then_some(()))
    })?;
    let again = page_fetch(
        &tablet,
        "POST",
        "/api/rating",
        json!({ "ticket_id": rated_id, "level": 3 }),
    )?;
    assert_eq!(again[0], 409, "{again}");
    assert_eq!(again[1]["code"], "already_rated", "{again}");

    // Ticket 2 is called and served too, so the report has two waits.
    counter.press("n")?;
    wait_for(Duration::from_secs(10), "ticket 2 called", || {
        Ok((counter.text("#current")? == "2").then_some(()))
    })?;
    counter.press("f")?;
    // Ticket ids are sequential: a kiosk rating of ticket 2 with a made-up rating code (what a
    // home-made QR would hold) is refused, and nothing is kept.
    let day_digits = chrono::Utc::now()
        .with_timezone(&motcua_domain::vietnam_offset())
        .format("%Y%m%d")
        .to_string();
    let forged = kiosk_post(
        &k2,
        &hub,
        "/v1/hub/ratings",
        json!({ "ticket_id": format!("HT-{day_digits}-2@KIOSK-H56-0002"), "level": 1, "levels": 3,
                "rating_code": "0000000000000000" }),
    )?;
    assert_eq!(forged.0, 403, "{forged:?}");
    assert_eq!(forged.1["code"], "wrong_code", "{forged:?}");
    let report = wait_for(Duration::from_secs(10), "the report", || {
        let r = page_fetch(&counter, "GET", "/api/report", json!(null))?;
        Ok((r[1]["report"]["total"]["called"] == 2).then_some(r))
    })?;
    let total = &report[1]["report"]["total"];
    assert_eq!(total["tickets"], 4, "{total}");
    assert_eq!(total["ratings"], 1, "{total}");
    assert_eq!(total["satisfaction_share"], 1.0, "{total}");
    assert!(total["mean_wait_secs"].as_f64().is_some(), "{total}");
    assert_eq!(
        report[1]["report"]["counters"][0]["counter"], "1",
        "{report}"
    );
    counter.open(&format!("{}/report", hub.page_url))?;
    counter.find("#total td")?;
    counter.screenshot(&screenshots().join("hub-report.png"))?;

    // The events and the report reach the gateway.
    let day = chrono::Utc::now()
        .with_timezone(&motcua_domain::vietnam_offset())
        .format("%Y-%m-%d")
        .to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let at_gateway = wait_for(
        Duration::from_secs(90),
        "the day report at the gateway",
        || {
            let body: Value = runtime.block_on(async {
                gateway
                    .get_as(
                        "technician",
                        &format!("/v1/queue/reports?site={SITE}&day={day}"),
                    )
                    .await?
                    .json::<Value>()
                    .await
                    .map_err(anyhow::Error::from)
            })?;
            let centre = body["reports"].as_array().and_then(|r| {
                r.iter()
                    .find(|r| r["key"] == format!("report:{day}"))
                    .cloned()
            });
            Ok(centre
                .filter(|c| {
                    c["payload"]["total"]["called"] == 2 && c["payload"]["total"]["ratings"] == 1
                })
                .map(|c| (c, body.clone())))
        },
    )
    .with_context(|| format!("the hub's log: {}", hub.log()))?;
    assert_eq!(at_gateway.0["device_id"], "KIOSK-H56-HUB", "{at_gateway:?}");
    let parts = at_gateway.1["reports"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        parts
            .iter()
            .any(|r| r["key"] == format!("report:{day}:counter:1")),
        "the counter's part of the report: {parts:?}"
    );
    // Issued ×4, called ×2, finished ×2, rated ×1, and the day's report.
    let events = wait_for(
        Duration::from_secs(60),
        "the hub's events at the gateway",
        || {
            let db = rusqlite::Connection::open(dir.path().join("gateway/gateway.sqlite3"))?;
            let n: i64 = db
                .query_row(
                    "SELECT COUNT(*) FROM queue_events WHERE site = ?1",
                    [SITE],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            Ok((n >= 10).then_some(n))
        },
    )?;
    println!("hub events at the gateway: {events}");
    let set_aside: Option<String> = hub.db()?.query_row(
        "SELECT set_aside FROM outbox WHERE key = 'bogus:1'",
        [],
        |r| r.get(0),
    )?;
    let set_aside = set_aside.context("the refused event was not set aside")?;
    assert!(set_aside.contains("invalid_event"), "{set_aside}");

    // The hub stops: kiosk 1 numbers from its own block and says so.
    hub.kill();
    let started = Instant::now();
    let (offline_number, words) = ticket(&k1)?;
    println!(
        "offline ticket {offline_number} in {:?}: {words}",
        started.elapsed()
    );
    assert!(
        (b1.0..=b1.1).contains(&offline_number),
        "{offline_number} outside {b1:?}"
    );
    assert!(
        words.contains("offline") || words.contains("MẤT KẾT NỐI"),
        "{words}"
    );
    // Back: kioskd reports it and the hub puts it in the queue.
    hub.restart()?;
    wait_for(
        Duration::from_secs(120),
        "the offline ticket in the hub's queue",
        || {
            let n: i64 = hub.db()?.query_row(
                "SELECT COUNT(*) FROM tickets WHERE source = 'fallback' AND number = ?1",
                [offline_number],
                |r| r.get(0),
            )?;
            Ok((n == 1).then_some(()))
        },
    )?;
    k1.kill_daemon();
    k2.kill_daemon();
    Ok(())
}
