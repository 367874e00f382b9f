//! Replays a simulated commune desk day and prints the queue report (issue #18).
//!
//! `cargo run -p motcua-domain --example queue_day -- --counters 3 --seed 7 --arrivals 120`
//! Without `--counters` it runs 2, 3 and 4 counters on the same arrivals' seed. `--json` prints
//! the export instead of the table. `--blind` gives the estimator no office hours (the
//! session-blind band printed before, to compare). `--tickets` lists every ticket's printed
//! text and wait. The model is documented in `motcua_domain::queue_sim`.
//!
//! The promise columns: `đúng/inside` over all called tickets with a band, `xếp/queued` over
//! those that had to queue (not "about to be called"), `trưa/lunch` over those that waited
//! through the lunch break, `báo/warn` the tickets printed "may be carried over".

use std::process::ExitCode;

use chrono::NaiveDate;
use motcua_domain::queue_report::{build_report, stats_of, QueueStats, TicketRecord};
use motcua_domain::queue_sim::{simulate_day, waited_through_break, SimConfig};

const USAGE: &str =
    "dùng / usage: queue_day [--counters N] [--seed S] [--arrivals A] [--blind] [--tickets] [--json]";

struct Args {
    counters: Option<u32>,
    seed: u64,
    arrivals: u32,
    json: bool,
    blind: bool,
    tickets: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        counters: None,
        seed: 7,
        arrivals: 120,
        json: false,
        blind: false,
        tickets: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--json" | "--blind" | "--tickets" => {
                match flag.as_str() {
                    "--json" => args.json = true,
                    "--blind" => args.blind = true,
                    _ => args.tickets = true,
                }
                continue;
            }
            _ => {}
        }
        let value = it
            .next()
            .ok_or_else(|| format!("thiếu giá trị cho / missing value for {flag}"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--counters" => {
                let n: u32 = value.parse().map_err(bad)?;
                if n == 0 {
                    return Err("--counters phải ≥ 1 / must be at least 1".into());
                }
                args.counters = Some(n);
            }
            "--seed" => args.seed = value.parse().map_err(bad)?,
            "--arrivals" => args.arrivals = value.parse().map_err(bad)?,
            _ => return Err(format!("không rõ tham số / unknown argument {flag}")),
        }
    }
    Ok(args)
}

fn minutes(secs: Option<f64>) -> String {
    secs.map_or("–".into(), |s| format!("{:.1}", s / 60.0))
}

fn percent(share: Option<f64>) -> String {
    share.map_or("–".into(), |s| format!("{:.0}%", s * 100.0))
}

fn row(label: &str, s: &QueueStats, lunch: &QueueStats) -> String {
    format!(
        "{label:>8} {:>5} {:>5} {:>4} {:>5} {:>7} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>9} {:>5}",
        s.tickets,
        s.called,
        s.no_shows,
        s.not_called,
        minutes(s.mean_wait_secs),
        minutes(s.p90_wait_secs.map(|v| v as f64)),
        minutes(s.max_wait_secs.map(|v| v as f64)),
        percent(s.share_wait_within_target),
        minutes(s.mean_service_secs),
        percent(s.promise_inside_share),
        percent(s.promise_earlier_share),
        percent(s.promise_later_share),
        percent(s.queued_promise_inside_share),
        format!(
            "{} ({})",
            percent(lunch.promise_inside_share),
            lunch.promised_called
        ),
        s.carry_over_warned,
    )
}

/// The figures of the tickets that waited through the lunch break.
fn lunch_of(records: &[&TicketRecord]) -> QueueStats {
    let lunch: Vec<&TicketRecord> = records
        .iter()
        .copied()
        .filter(|r| waited_through_break(r))
        .collect();
    stats_of(&lunch)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runs = args.counters.map_or(vec![2, 3, 4], |n| vec![n]);
    let date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
    if !args.json {
        println!(
            "seed {}, {} arrivals, estimator {} (times in minutes; wait = issued → called)",
            args.seed,
            args.arrivals,
            if args.blind {
                "không biết giờ làm việc / session-blind"
            } else {
                "theo giờ làm việc / knows office hours"
            }
        );
        println!(
            "{:>8} {:>5} {:>5} {:>4} {:>5} {:>7} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>9} {:>5}",
            "quầy",
            "vé",
            "gọi",
            "vắng",
            "tồn",
            "chờ tb",
            "p90",
            "max",
            "≤15ph",
            "phục vụ",
            "đúng",
            "sớm",
            "muộn",
            "xếp",
            "trưa (n)",
            "báo"
        );
        println!(
            "{:>8} {:>5} {:>5} {:>4} {:>5} {:>7} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>9} {:>5}",
            "counters",
            "tix",
            "call",
            "nosh",
            "left",
            "wait",
            "p90",
            "max",
            "<=15m",
            "service",
            "inside",
            "early",
            "late",
            "queued",
            "lunch (n)",
            "warn"
        );
    }
    for counters in runs {
        let cfg = SimConfig {
            counters,
            arrivals: args.arrivals,
            seed: args.seed,
            date,
            knows_hours: !args.blind,
        };
        let records = simulate_day(&cfg);
        let report = build_report(&records);
        if args.json {
            match serde_json::to_string_pretty(&report) {
                Ok(j) => println!("{j}"),
                Err(e) => {
                    eprintln!("JSON: {e}");
                    return ExitCode::FAILURE;
                }
            }
            continue;
        }
        let all: Vec<&TicketRecord> = records.iter().collect();
        for day in &report.days {
            println!(
                "{}",
                row(&counters.to_string(), &day.total, &lunch_of(&all))
            );
            if args.counters.is_some() {
                for c in &day.counters {
                    let mine: Vec<&TicketRecord> = all
                        .iter()
                        .copied()
                        .filter(|r| r.counter.as_deref() == Some(c.counter.as_str()))
                        .collect();
                    println!("{}", row(&c.counter, &c.stats, &lunch_of(&mine)));
                }
            }
        }
        if args.tickets {
            let vn = motcua_domain::vietnam_offset();
            for r in &records {
                let wait = r.called_at.map_or("chưa gọi / not called".into(), |c| {
                    format!("{:.1}", (c - r.issued_at).num_seconds() as f64 / 60.0)
                });
                let text = r.promised.map_or("–".into(), |p| p.label());
                println!(
                    "  {} {wait:>8}  {text}",
                    r.issued_at.with_timezone(&vn).format("%H:%M")
                );
            }
        }
    }
    ExitCode::SUCCESS
}
