//! Replays a simulated commune desk day and prints the queue report (issue #18).
//!
//! `cargo run -p motcua-domain --example queue_day -- --counters 3 --seed 7 --arrivals 120`
//! Without `--counters` it runs 2, 3 and 4 counters on the same arrivals' seed. `--json` prints
//! the export instead of the table. The model is documented in `motcua_domain::queue_sim`.

use std::process::ExitCode;

use chrono::NaiveDate;
use motcua_domain::queue_report::{build_report, QueueStats};
use motcua_domain::queue_sim::{simulate_day, SimConfig};

const USAGE: &str = "dùng / usage: queue_day [--counters N] [--seed S] [--arrivals A] [--json]";

struct Args {
    counters: Option<u32>,
    seed: u64,
    arrivals: u32,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        counters: None,
        seed: 7,
        arrivals: 120,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            args.json = true;
            continue;
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

fn row(label: &str, s: &QueueStats) -> String {
    format!(
        "{label:>8} {:>5} {:>5} {:>4} {:>5} {:>7} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6}",
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
    )
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
            "seed {}, {} arrivals (times in minutes; wait = issued → called)",
            args.seed, args.arrivals
        );
        println!(
            "{:>8} {:>5} {:>5} {:>4} {:>5} {:>7} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6}",
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
            "muộn"
        );
        println!(
            "{:>8} {:>5} {:>5} {:>4} {:>5} {:>7} {:>6} {:>6} {:>7} {:>7} {:>6} {:>6} {:>6}",
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
            "late"
        );
    }
    for counters in runs {
        let cfg = SimConfig {
            counters,
            arrivals: args.arrivals,
            seed: args.seed,
            date,
        };
        let report = build_report(&simulate_day(&cfg));
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
        for day in &report.days {
            println!("{}", row(&counters.to_string(), &day.total));
            if args.counters.is_some() {
                for c in &day.counters {
                    println!("{}", row(&c.counter, &c.stats));
                }
            }
        }
    }
    ExitCode::SUCCESS
}
