//! Benchmark of the kiosk's uplink on weak links (a measurement, not a test; run as root).
//!
//! For each link it makes two network namespaces joined by a veth pair limited by `tbf`, runs
//! the real gateway in one and the kiosk's uplink in the other, with a TCP relay adding delay
//! and resets, and `ip link set down/up` for an outage; it reports the time to deliver a dossier
//! with one document of `--mb` MB and the wire bytes per payload byte (the veth's counters),
//! beside curl sending the same number of bytes as a tus upload over the same link in the same
//! run. Links (`--links`, comma separated; all three by default):
//! - `delay`: 256 kbit/s with 300 ms of delay each way;
//! - `resets`: the same with every connection reset every 30 s;
//! - `outage`: the same with the link down for 2 minutes, 30 s into the upload.
//!
//! Run: `cargo build --release -p motcua-tests --bin bench-weaklink && sudo
//! target/release/bench-weaklink [--mb 5] [--links delay,resets,outage]` (5 MB at 256 kbit/s
//! takes close to three minutes per delivery, so the three links take about twenty).
//! The namespaces are deleted at the end, also on failure.

use std::time::Duration;

use anyhow::bail;
use motcua_tests::harness::bench::arg;
use motcua_tests::harness::netns;
use motcua_tests::harness::weak_link::{Delivery, LinkProfile, WeakLinkLab};

fn profile(name: &str) -> anyhow::Result<LinkProfile> {
    let mut p = LinkProfile {
        name: name.to_owned(),
        rate_kbit: 256,
        delay: Duration::from_millis(300),
        reset_every: None,
        outage: None,
    };
    match name {
        "delay" => {}
        "resets" => p.reset_every = Some(Duration::from_secs(30)),
        "outage" => p.outage = Some((Duration::from_secs(30), Duration::from_secs(120))),
        other => bail!("unknown link {other:?} (delay, resets, outage)"),
    }
    Ok(p)
}

fn line(who: &str, d: &Delivery) {
    println!(
        "  {who:<6} {:>7.1} s  {:>6.1} kB/s  wire tx {:>9} B = {:.3} x payload, rx {:>8} B, {} connections, {} resets, offset went back: {}",
        d.secs,
        d.payload as f64 / d.secs / 1000.0,
        d.tx,
        d.tx_per_payload(),
        d.rx,
        d.connections,
        d.resets,
        d.offset_went_back()
    );
}

fn main() -> anyhow::Result<()> {
    let mb = arg("--mb", 5);
    let links = std::env::args()
        .skip_while(|a| a != "--links")
        .nth(1)
        .unwrap_or_else(|| "delay,resets,outage".into());
    if let Some(why) = netns::unavailable() {
        bail!("cannot make the weak links: {why}");
    }
    let payload = mb * 1_000_000;
    let deadline = Duration::from_secs(1800);
    println!("== motcua weak-link benchmark: {mb} MB dossier document, kiosk uplink (shipped settings) vs curl tus, same link, same run");
    for name in links.split(',') {
        let profile = profile(name.trim())?;
        let tmp = tempfile::tempdir()?;
        // Its own thread: the lab moves the thread into the kiosk's namespace.
        let out = std::thread::scope(|s| {
            s.spawn(|| -> anyhow::Result<(Delivery, Delivery)> {
                let mut lab = WeakLinkLab::create(tmp.path(), profile.rate_kbit)?;
                let kiosk = lab.kiosk_delivery(&profile, payload, deadline)?;
                let curl = lab.curl_delivery(&profile, payload, deadline)?;
                Ok((kiosk, curl))
            })
            .join()
        });
        println!(
            "link {}: {} kbit/s, {} ms delay each way, resets {:?}, outage {:?}",
            profile.name,
            profile.rate_kbit,
            profile.delay.as_millis(),
            profile.reset_every,
            profile.outage
        );
        match out {
            Ok(Ok((kiosk, curl))) => {
                line("kiosk", &kiosk);
                line("curl", &curl);
                println!("  kiosk/curl time ratio {:.2}", kiosk.secs / curl.secs);
            }
            Ok(Err(e)) => println!("  FAILED: {e:#}"),
            Err(_) => println!("  FAILED: the run panicked"),
        }
    }
    Ok(())
}
