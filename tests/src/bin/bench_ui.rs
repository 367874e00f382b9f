//! Benchmark of the touch screen (a measurement, not a test; it asserts nothing about time).
//!
//! Reports, each beside a reference measured in the same run:
//! 1. cold start to first frame: a fresh process loads the config, opens the store, builds the
//!    window and the services, and renders the home screen (software renderer, 1080 × 1920);
//!    reference: the same binary started to print one line and exit;
//! 2. full-frame render time of every screen (the heaviest is the one that counts); reference:
//!    copying one full frame buffer (the least work any renderer does per frame);
//! 3. resident memory with the UI (peak), against the same process before the UI existed.
//!
//! Run: `cargo run --release -p motcua-tests --bin bench-ui [-- --frames N]`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use motcua_domain::cccd::SAMPLE_PAYLOAD as CARD;
use motcua_flows::session::Event;
use motcua_flows::submission::{ScannedPage, SubmissionEvent as S, Thumbnail};
use motcua_flows::text_entry::Key;
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::touch::TouchApp;
use motcua_tests::harness::bench::{arg, median, p95};
use motcua_ui::headless::Headless;
use slint::ComponentHandle;

fn config(dir: &std::path::Path) -> anyhow::Result<KioskConfig> {
    let text = format!(
        "[device]\nid = \"KIOSK-BENCH\"\nagency_code = \"000.17.22.H56\"\nsequence_first = 1\nsequence_last = 9999\n\n[store]\ndata_dir = \"{}\"\nmin_free_mb = 1\n\n[gateway]\nurl = \"http://127.0.0.1:9\"\n",
        dir.display()
    );
    Ok(KioskConfig::parse(&text, "bench.toml")?)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child mode: build everything, render the first frame, say so.
fn first_frame(dir: &str) -> anyhow::Result<()> {
    let config = config(std::path::Path::new(dir))?;
    let mut screen = Headless::install(motcua_ui::SCREEN_WIDTH, motcua_ui::SCREEN_HEIGHT)?;
    let app = TouchApp::new(config)?;
    app.window().show()?;
    screen.render();
    println!("first frame");
    Ok(())
}

fn time_child(args: &[&str]) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let elapsed = start.elapsed();
    child.wait()?;
    anyhow::ensure!(!line.is_empty(), "the child printed nothing");
    Ok(elapsed)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--first-frame") {
        return first_frame(args.get(2).map(String::as_str).unwrap_or("/tmp"));
    }
    if args.get(1).map(String::as_str) == Some("--noop") {
        println!("started");
        return Ok(());
    }
    let frames = arg("--frames", 30);
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("data");
    let dir_s = dir.display().to_string();

    // 1. Cold start (the first run also creates the store; it is not counted).
    time_child(&["--first-frame", &dir_s])?;
    let mut cold = Vec::new();
    let mut noop = Vec::new();
    for _ in 0..7 {
        cold.push(time_child(&["--first-frame", &dir_s])?.as_secs_f64() * 1000.0);
        noop.push(time_child(&["--noop"])?.as_secs_f64() * 1000.0);
    }
    let (cold, noop) = (median(cold), median(noop));
    println!("cold start to first frame: {cold:.1} ms (target <= 1500 ms)");
    println!(
        "  reference, the same binary starting and printing a line: {noop:.1} ms ({:.1}x)",
        cold / noop
    );

    // 2. Render time per screen.
    let rss_before = status_kib("VmRSS:");
    let mut screen = Headless::install(motcua_ui::SCREEN_WIDTH, motcua_ui::SCREEN_HEIGHT)?;
    let app = TouchApp::new(config(&dir)?)?;
    app.window().show()?;
    let thumb = Thumbnail {
        width: 180,
        height: 240,
        rgb: Arc::new(
            (0..180 * 240)
                .flat_map(|i| {
                    let v = if (i / 180) % 12 < 2 { 40 } else { 235 };
                    [v, v, v]
                })
                .collect(),
        ),
    };
    let mut results: Vec<(String, f64, f64)> = Vec::new();
    let mut measure = |name: &str, screen: &mut Headless, app: &TouchApp| {
        app.pump();
        screen.render();
        let times: Vec<f64> = (0..frames)
            .map(|_| screen.render().as_secs_f64() * 1000.0)
            .collect();
        results.push((name.to_owned(), median(times.clone()), p95(times)));
    };
    measure("home", &mut screen, &app);
    app.dispatch(Event::Open("submit".into()));
    measure("procedure search + keyboard", &mut screen, &app);
    app.dispatch(Event::Submission(S::Select("1.001193".into())));
    measure("procedure detail", &mut screen, &app);
    app.dispatch(Event::Submission(S::Begin));
    app.dispatch(Event::CodeScanned(CARD.into()));
    app.settle(Duration::from_secs(5));
    app.dispatch(Event::Submission(S::Focus(0)));
    measure("form + Vietnamese keyboard", &mut screen, &app);
    app.dispatch(Event::Submission(S::Key(Key::Char('x'))));
    app.dispatch(Event::Submission(S::FormDone));
    let sender = app.event_sender();
    for (i, attachment) in [0usize, 0, 0, 1, 1, 2].iter().enumerate() {
        sender.send(Event::Submission(S::Page {
            attachment: *attachment,
            page: ScannedPage {
                id: i as u64 + 1,
                path: dir.join(format!("none-{i}.pnm")),
                thumbnail: thumb.clone(),
            },
        }))?;
    }
    measure("attach, 6 thumbnails", &mut screen, &app);
    app.dispatch(Event::Submission(S::ToReview));
    measure("review", &mut screen, &app);
    app.dispatch(Event::Home);
    app.dispatch(Event::Open("lookup".into()));
    measure("code entry + keyboard", &mut screen, &app);
    app.skip_time(Duration::from_secs(52));
    measure("idle warning overlay", &mut screen, &app);

    // Reference: copying one full frame (RGB565) — the floor of any frame's cost.
    let src = vec![0x1234u16; (motcua_ui::SCREEN_WIDTH * motcua_ui::SCREEN_HEIGHT) as usize];
    let mut dst = vec![0u16; src.len()];
    let copies: Vec<f64> = (0..frames)
        .map(|_| {
            let t = Instant::now();
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&dst);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let copy = median(copies);
    println!("full-frame render, 1080 x 1920, software renderer ({frames} frames each):");
    for (name, med, p) in &results {
        println!(
            "  {name:<30} median {med:6.2} ms  p95 {p:6.2} ms  ({:.0}x a frame copy)",
            med / copy
        );
    }
    let heaviest = results
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .context("no screen measured")?;
    println!(
        "heaviest screen: {} {:.2} ms median (target <= 16 ms); reference frame copy {copy:.3} ms",
        heaviest.0, heaviest.1
    );

    // 3. Memory.
    let peak = status_kib("VmHWM:");
    println!(
        "resident memory with the UI: peak {:.1} MB (target <= 120 MB); before the UI {:.1} MB",
        peak as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    Ok(())
}
