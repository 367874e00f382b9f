//! Load benchmark of the gateway (a measurement, not a test; it asserts nothing about time):
//! K simulated kiosks deliver dossiers with S bytes of scans each through one, then through two
//! `gateway serve` processes on one PostgreSQL and one S3 bucket, measured in the same run.
//!
//! Each kiosk is a distinct device identity, enrolled with the uplink's own enrolment code at
//! one of `--sites` sites, and delivers with the uplink's `GatewayClient` (mutual TLS, the real
//! kiosk client): `POST /v1/blobs/held`, then per scan a tus creation and PATCHes of
//! `--chunk-bytes`, then the dossier's ingest. All kiosks run at once as tokio tasks, each its
//! own TLS connection; with two instances kiosk i talks to instance i mod 2 (a client-side
//! spread standing in for a load balancer). Each run has a fresh database and bucket and new
//! enrolments (not timed). Scans are pseudo-random bytes, distinct per run (no deduplication).
//!
//! Reports per run: dossiers/s and MB/s (all dossiers over the time from the start to the last
//! acknowledgement), and p50/p99 ingest latency (a dossier's first request to its ingest's
//! acknowledgement), then the two/one ratios. After each run the gateways' counts must equal
//! what was acknowledged (every dossier, every scan once), else the run fails. The gateways share this machine's cores with
//! PostgreSQL, s3s-fs and the kiosks' client, which bounds the ratio.
//!
//! Run (PostgreSQL and s3s-fs are started here unless `MOTCUA_TEST_DATABASE_URL` and the
//! `MOTCUA_TEST_S3_*` variables name them):
//!
//! ```text
//! cargo build --release -p motcua-gateway
//! cargo run --release -p motcua-tests --bin bench-load -- \
//!     --kiosks 300 --dossiers-per-kiosk 1 --scan-bytes 3000000 --instances 1,2
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use motcua_domain::dossier::DossierCode;
use motcua_domain::wire::{Applicant, DocumentRef, DossierSubmission};
use motcua_tests::harness::bench::arg;
use motcua_tests::harness::load::{
    enroll_kiosk, fresh_database, kiosk_client, Instance, Postgres, Shared, S3,
};
use motcua_uplink::{DeviceCredential, GatewayClient, TrustAnchor};
use sha2::{Digest, Sha256};

/// The run's shape, from the command line.
#[derive(Debug, Clone)]
struct Plan {
    kiosks: usize,
    dossiers: usize,
    scan_bytes: usize,
    scans: usize,
    chunk: usize,
    sites: usize,
}

/// Attempts of one dossier after the first.
const RETRIES: u32 = 4;

/// What one kiosk measured.
#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    bytes: u64,
    failures: Vec<String>,
    retries: usize,
}

/// What one run (one instance count) measured.
struct Run {
    instances: usize,
    delivered: usize,
    failed: usize,
    retries: usize,
    elapsed: Duration,
    bytes: u64,
    p50: Duration,
    p99: Duration,
}

impl Run {
    fn dossiers_per_s(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64()
    }
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

/// The value after `name` as a list of numbers (`--instances 1,2`), or `default`.
fn list_arg(name: &str, default: &[usize]) -> anyhow::Result<Vec<usize>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(v) = args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
    else {
        return Ok(default.to_vec());
    };
    v.split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .with_context(|| format!("{name} {v}"))
        })
        .collect()
}

/// Nearest-rank percentile `q` (0..=100) of sorted `v`.
fn percentile(v: &[Duration], q: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = (v.len() * q).div_ceil(100).max(1);
    v[rank.min(v.len()) - 1]
}

/// Pseudo-random bytes (xorshift64), distinct per seed, cheap to make.
fn noise(n: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    Bytes::from(out)
}

/// Site `s` of the run: agency codes `000.17.<10+s>.H56`.
fn site(s: usize) -> String {
    format!("000.17.{:02}.H56", 10 + s)
}

/// The scans of one dossier: `plan.scans` blobs totalling `plan.scan_bytes`.
fn scans(plan: &Plan, seed: u64) -> Vec<Bytes> {
    let each = plan.scan_bytes / plan.scans;
    (0..plan.scans)
        .map(|i| {
            let len = if i + 1 == plan.scans {
                plan.scan_bytes - each * (plan.scans - 1)
            } else {
                each
            };
            noise(len, seed.wrapping_mul(31).wrapping_add(i as u64))
        })
        .collect()
}

fn dossier(device: &str, agency: &str, code: &str, docs: Vec<DocumentRef>) -> DossierSubmission {
    let received = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    DossierSubmission {
        code: code.into(),
        procedure_code: "1.001193".into(),
        agency_code: agency.into(),
        device_id: device.into(),
        applicant: Applicant {
            full_name: "Nguyễn Văn An".into(),
            id_number: Some("079201001234".into()),
            birth_date: None,
            address: "Phường 1, Sóc Trăng".into(),
            phone: "0900000000".into(),
            email: String::new(),
        },
        received_at: received,
        appointment_date: received.date_naive() + chrono::Days::new(5),
        documents: docs,
        lookup_sha256: None,
        reused_documents: Vec::new(),
    }
}

/// One dossier delivered the way the kiosk's drain does it; returns the bytes sent.
async fn deliver(
    client: &GatewayClient,
    plan: &Plan,
    device: &str,
    agency: &str,
    code: &str,
    blobs: &[Bytes],
) -> anyhow::Result<u64> {
    let shas: Vec<String> = blobs
        .iter()
        .map(|b| hex::encode(Sha256::digest(b)))
        .collect();
    let held = client.blobs_held(&shas).await?.unwrap_or_default();
    let mut docs = Vec::new();
    let mut sent = 0u64;
    for (i, (blob, sha)) in blobs.iter().zip(&shas).enumerate() {
        docs.push(DocumentRef {
            name: format!("Bản quét {}", i + 1),
            file_name: format!("ban-quet-{}.pdf", i + 1),
            media_type: "application/pdf".into(),
            size: blob.len() as u64,
            sha256: sha.clone(),
        });
        if held.iter().any(|h| &h.sha256 == sha) {
            continue;
        }
        let url = client.create_upload(sha, blob.len() as u64).await?;
        let mut offset = 0usize;
        while offset < blob.len() {
            let end = (offset + plan.chunk).min(blob.len());
            let next = client
                .patch(&url, offset as u64, blob.slice(offset..end))
                .await?;
            if next as usize <= offset {
                bail!("the gateway's offset did not move past {offset}");
            }
            offset = next as usize;
        }
        sent += blob.len() as u64;
    }
    let body = dossier(device, agency, code, docs);
    let ack = client
        .ingest("/v1/dossiers", &format!("{device}/{code}"), &body)
        .await?;
    if ack.duplicate {
        bail!("dossier {code} was acknowledged as a duplicate");
    }
    Ok(sent)
}

/// Enrols the run's kiosks (16 at a time, through the instances in turn); not timed.
async fn enroll_all(
    plan: &Plan,
    dir: &Path,
    anchor: &TrustAnchor,
    bases: &[String],
) -> anyhow::Result<Vec<(String, String, DeviceCredential)>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for k in 0..plan.kiosks {
        let (gate, anchor, dir) = (gate.clone(), anchor.clone(), dir.join(format!("kiosk-{k}")));
        let base = bases[k % bases.len()].clone();
        let (id, agency) = (format!("KIOSK-{k:04}"), site(k % plan.sites));
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let cred = enroll_kiosk(&base, &anchor, &dir, &id, &agency).await?;
            anyhow::Ok((id, agency, cred))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

/// One run through `n` instances.
async fn run(
    plan: &Plan,
    n: usize,
    work: &Path,
    pg: &Postgres,
    s3: &S3,
    shared: &Shared,
    day: u64,
) -> anyhow::Result<Run> {
    let database = fresh_database(pg).await?;
    let bucket = s3.bucket()?;
    let mut instances = Vec::new();
    for i in 0..n {
        let dir = work.join(format!("run-{n}/gateway-{i}"));
        instances.push(Instance::spawn(shared, &dir, &database, s3, &bucket).await?);
    }
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
    let anchor = shared.anchor()?;
    let kiosks = enroll_all(plan, &work.join(format!("run-{n}")), &anchor, &bases).await?;
    println!(
        "  {n} instance(s): {} kiosks enrolled, delivering…",
        kiosks.len()
    );

    // Each kiosk makes its first dossier's scans and its client, then all start together.
    let start_line = Arc::new(tokio::sync::Barrier::new(plan.kiosks + 1));
    let date =
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1).context("date")? + chrono::Days::new(day);
    let mut tasks = Vec::new();
    for (k, (id, agency, cred)) in kiosks.into_iter().enumerate() {
        let client = kiosk_client(&bases[k % n], &anchor, &cred)?;
        let (plan, start_line) = (plan.clone(), start_line.clone());
        // Sequence numbers of this kiosk at its site: no two kiosks share a code.
        let first_seq = (k / plan.sites) * plan.dossiers + 1;
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let seed = |d: usize| ((day << 40) ^ ((k as u64) << 20) ^ d as u64) + 1;
            let mut blobs = scans(&plan, seed(0));
            start_line.wait().await;
            for d in 0..plan.dossiers {
                if d > 0 {
                    blobs = scans(&plan, seed(d));
                }
                let code = match u32::try_from(first_seq + d)
                    .map_err(anyhow::Error::from)
                    .and_then(|s| Ok(DossierCode::new(&agency, date, s)?))
                {
                    Ok(c) => c.to_string(),
                    Err(e) => {
                        out.failures.push(format!("{id}: no dossier code: {e}"));
                        continue;
                    }
                };
                // As the kiosk's drain does, a failed delivery is tried again after a pause
                // (1, 2, 4, 8 s); the latency counts from the first attempt.
                let t0 = Instant::now();
                let mut attempt = 0u32;
                loop {
                    match deliver(&client, &plan, &id, &agency, &code, &blobs).await {
                        Ok(sent) => {
                            out.latencies.push(t0.elapsed());
                            out.bytes += sent;
                            break;
                        }
                        Err(e) if attempt >= RETRIES => {
                            out.failures.push(format!("{id} {code}: {e:#}"));
                            break;
                        }
                        Err(_) => {
                            out.retries += 1;
                            tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                            attempt += 1;
                        }
                    }
                }
            }
            out
        }));
    }
    start_line.wait().await;
    let started = Instant::now();
    let mut latencies = Vec::new();
    let (mut bytes, mut failures, mut retries) = (0u64, Vec::new(), 0);
    for t in tasks {
        let o = t.await?;
        latencies.extend(o.latencies);
        bytes += o.bytes;
        failures.extend(o.failures);
        retries += o.retries;
    }
    let elapsed = started.elapsed();
    for f in failures.iter().take(5) {
        eprintln!("    failed: {f}");
    }
    // What the gateways hold must be what was acknowledged: every dossier, every scan once.
    let stats: serde_json::Value = shared
        .role_client("technician")?
        .get(format!("{}/v1/admin/stats", bases[0]))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let held = (stats["dossiers"].as_u64(), stats["blobs"].as_u64());
    let expected = (
        latencies.len() as u64,
        (latencies.len() * plan.scans) as u64,
    );
    if held != (Some(expected.0), Some(expected.1)) {
        bail!("the gateways hold {held:?} dossiers and blobs, {expected:?} were acknowledged: {stats}");
    }
    for i in instances {
        i.stop().await;
    }
    latencies.sort();
    Ok(Run {
        instances: n,
        delivered: latencies.len(),
        failed: failures.len(),
        retries,
        elapsed,
        bytes,
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
    })
}

fn report(r: &Run) {
    println!(
        "  {} instance(s): {} dossiers delivered ({} failed, {} attempts retried) in {:.1} s: \
         {:.2} dossiers/s, {:.1} MB/s of scans; ingest latency p50 {:.2} s, p99 {:.2} s",
        r.instances,
        r.delivered,
        r.failed,
        r.retries,
        r.elapsed.as_secs_f64(),
        r.dossiers_per_s(),
        r.mb_per_s(),
        r.p50.as_secs_f64(),
        r.p99.as_secs_f64()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let plan = Plan {
        kiosks: arg("--kiosks", 300),
        dossiers: arg("--dossiers-per-kiosk", 1),
        scan_bytes: arg("--scan-bytes", 3_000_000),
        scans: arg("--scans", 3),
        chunk: arg("--chunk-bytes", 4 * 1024 * 1024),
        sites: arg("--sites", 10),
    };
    let counts = list_arg("--instances", &[1, 2])?;
    if plan.kiosks == 0 || plan.dossiers == 0 || plan.scans == 0 || plan.sites == 0 {
        bail!("--kiosks, --dossiers-per-kiosk, --scans and --sites must be at least 1");
    }
    if plan.scan_bytes < plan.scans || plan.chunk == 0 {
        bail!("--scan-bytes must be at least --scans, --chunk-bytes at least 1");
    }
    if counts.contains(&0) {
        bail!("--instances are counts of gateway processes, at least 1");
    }
    let work = tempfile::Builder::new()
        .prefix("motcua-bench-load")
        .tempdir()?;
    let pg = Postgres::start(&work.path().join("postgres"))?;
    let s3 = S3::start(work.path()).await?;
    let shared = Shared::create(&work.path().join("shared"))?;
    println!(
        "bench-load: {} kiosks at {} sites, {} dossier(s) each of {} scans totalling {} bytes, \
         PATCHes of {} bytes; PostgreSQL {}, S3 {}; {} cores",
        plan.kiosks,
        plan.sites,
        plan.dossiers,
        plan.scans,
        plan.scan_bytes,
        plan.chunk,
        if std::env::var("MOTCUA_TEST_DATABASE_URL").is_ok() {
            "from MOTCUA_TEST_DATABASE_URL"
        } else {
            "started here"
        },
        s3.endpoint,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let mut runs = Vec::new();
    for (day, &n) in counts.iter().enumerate() {
        let r = run(&plan, n, work.path(), &pg, &s3, &shared, day as u64).await?;
        report(&r);
        runs.push(r);
    }
    if let (Some(one), Some(two)) = (
        runs.iter().find(|r| r.instances == 1),
        runs.iter().find(|r| r.instances == 2),
    ) {
        println!(
            "  two/one: dossiers/s ×{:.2}, p99 latency ×{:.2} (both gateways share the machine's \
             cores with PostgreSQL, s3s-fs and the kiosks)",
            two.dossiers_per_s() / one.dossiers_per_s(),
            two.p99.as_secs_f64() / one.p99.as_secs_f64()
        );
    }
    Ok(())
}
