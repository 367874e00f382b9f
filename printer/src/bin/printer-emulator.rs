//! `printer-emulator`: a receipt printer in software for demos and manual tests.
//!
//! Listens on TCP and/or a pseudo-terminal, writes every cut slip as a PNG, answers status
//! queries; faults can be set from the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use motcua_printer::emulator::{Conditions, Emulator, EmulatorConfig};

/// ESC/POS printer emulator: slips become PNGs in --out.
#[derive(Debug, Parser)]
#[command(name = "printer-emulator", version)]
struct Args {
    /// TCP address to listen on (a network printer listens on port 9100).
    #[arg(long, default_value = "127.0.0.1:9100")]
    tcp: Option<SocketAddr>,
    /// Do not listen on TCP.
    #[arg(long)]
    no_tcp: bool,
    /// Also open a pseudo-terminal and print its path (use it as a serial port).
    #[arg(long)]
    pty: bool,
    /// Folder for the PNGs (slip-0001.png, slip-0002.png, …).
    #[arg(long, default_value = "printer-out")]
    out: PathBuf,
    /// Head width in dots: 384 (58 mm) or 576 (80 mm).
    #[arg(long, default_value_t = 576)]
    dots: u32,
    /// Start out of paper.
    #[arg(long)]
    paper_end: bool,
    /// Start with paper nearly used up.
    #[arg(long)]
    paper_near_end: bool,
    /// Start with the cover open.
    #[arg(long)]
    cover_open: bool,
    /// Start offline.
    #[arg(long)]
    offline: bool,
    /// Be slow: sleep this many milliseconds per KiB received.
    #[arg(long)]
    slow_ms: Option<u64>,
    /// Never answer (hung firmware).
    #[arg(long)]
    unresponsive: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config = EmulatorConfig {
        dots: args.dots,
        output_dir: args.out.clone(),
        tcp: if args.no_tcp { None } else { args.tcp },
        pty: args.pty,
        conditions: Conditions {
            paper_end: args.paper_end,
            paper_near_end: args.paper_near_end,
            cover_open: args.cover_open,
            offline: args.offline,
            slow_per_kib: args.slow_ms.map(Duration::from_millis),
            unresponsive: args.unresponsive,
        },
    };
    let emu = match Emulator::start(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("printer-emulator: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(a) = emu.tcp_addr() {
        println!("tcp: {a}");
    }
    if let Some(p) = emu.pty_path() {
        println!("pty: {p}");
    }
    println!("out: {}", args.out.display());
    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let pages = emu.pages();
        for p in &pages[seen..] {
            println!("printed: {}", p.display());
        }
        seen = pages.len();
    }
}
