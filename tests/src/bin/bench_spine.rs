//! Benchmark of the data spine (a measurement, not a test; it asserts nothing about time).
//!
//! Reports, each beside a reference measured in the same run:
//! 1. durable dossier submits per second on the kiosk (one small attachment each), against the
//!    bare cost of writing the same attachment durably (write, fsync, rename, fsync folder);
//! 2. blob upload throughput to a real gateway process over loopback with the kiosk's tus
//!    client, against a plain `curl` tus upload of a file of the same size to the same gateway,
//!    both over mutual TLS with the kiosk's own client certificate;
//! 3. kioskd's idle resident memory (no UI).
//!
//! Run: `cargo run --release -p motcua-tests --bin bench-spine [-- --dossiers N --upload-mb M]`

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::vietnam_now as now;
use motcua_store::DeviceIdentity;
use motcua_store::{NewDocument, Store};
use motcua_tests::harness::bench::{arg, median};
use motcua_tests::{random_file, Gateway, Kiosk, KioskSettings};
use motcua_uplink::credentials::DeviceLink;
use motcua_uplink::identity::IdentityFiles;
use motcua_uplink::Uplink;
use motcua_uplink::UplinkSettings;

fn device() -> DeviceIdentity {
    DeviceIdentity {
        id: "KIOSK-BENCH".into(),
        agency_code: "000.17.22.H56".into(),
        sequence: Some(SequenceRange::default()),
    }
}

fn bench_submits(n: usize) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut store = Store::open(tmp.path(), 0)?;
    let procedure = seed().procedures[0].clone();
    let calendar = WorkingCalendar::new([]);
    let dev = device();
    let mut payload = vec![0u8; 2048];
    let start = Instant::now();
    for i in 0..n {
        payload[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let blob = store.blobs().put_bytes(&payload)?;
        let doc = NewDocument {
            name: "Tờ khai".into(),
            file_name: "to-khai.pdf".into(),
            media_type: "application/pdf".into(),
            blob,
        };
        let applicant = Applicant {
            full_name: "Nguyễn Văn A".into(),
            id_number: None,
            birth_date: None,
            address: String::new(),
            phone: String::new(),
            email: String::new(),
        };
        store.submit_dossier(&dev, &procedure, &calendar, applicant, vec![doc], now())?;
    }
    let submits = n as f64 / start.elapsed().as_secs_f64();

    // Reference: the same attachments written durably, nothing else.
    let ref_dir = tempfile::tempdir()?;
    let start = Instant::now();
    for i in 0..n {
        payload[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let tmp_path = ref_dir.path().join("tmp");
        std::fs::write(&tmp_path, &payload)?;
        std::fs::File::open(&tmp_path)?.sync_all()?;
        std::fs::rename(&tmp_path, ref_dir.path().join(format!("{i}")))?;
        std::fs::File::open(ref_dir.path())?.sync_all()?;
    }
    let reference = n as f64 / start.elapsed().as_secs_f64();
    println!(
        "submits: {submits:.0} durable dossier submits/s ({n} dossiers, one 2 KiB attachment each; target >= 500/s)"
    );
    println!(
        "         reference: {reference:.0} bare durable file writes/s; ratio {:.2}",
        submits / reference
    );
    Ok(())
}

async fn ours(
    gateway_url: &str,
    kiosk_data: &Path,
    size_mb: usize,
    chunk_kib: usize,
) -> anyhow::Result<f64> {
    let tmp = tempfile::tempdir()?;
    let mut store = Store::open(tmp.path(), 0)?;
    let file = tmp.path().join("blob.bin");
    random_file(&file, size_mb * 1024 * 1024)?;
    let blob = store.blobs().put_file(&file)?;
    // A dossier makes the store track the blob's upload state.
    let doc = NewDocument {
        name: "x".into(),
        file_name: "blob.bin".into(),
        media_type: "application/octet-stream".into(),
        blob: blob.clone(),
    };
    let applicant = Applicant {
        full_name: "Bench".into(),
        id_number: None,
        birth_date: None,
        address: String::new(),
        phone: String::new(),
        email: String::new(),
    };
    store.submit_dossier(
        &device(),
        &seed().procedures[0],
        &WorkingCalendar::new([]),
        applicant,
        vec![doc],
        now(),
    )?;
    let config = UplinkSettings {
        gateway_url: gateway_url.to_owned(),
        chunk_bytes: chunk_kib * 1024,
        max_rate_bytes_per_sec: 0,
        daily_upload_budget_bytes: None,
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(1),
        request_timeout: Duration::from_secs(120),
        retention: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(100),
    };
    let link = DeviceLink::open(
        IdentityFiles::in_data_dir(kiosk_data),
        gateway_url,
        config.request_timeout,
    )?;
    let mut uplink = Uplink::new(store, link, config);
    let start = Instant::now();
    uplink.ensure_uploaded(&blob.sha256, blob.size).await?;
    Ok(blob.size as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// curl's TLS arguments: trust the kiosk's CA, present its key and certificate (one file).
fn curl_tls(kiosk_data: &Path) -> Vec<String> {
    let identity = kiosk_data.join("identity");
    vec![
        "--cacert".into(),
        identity.join("ca.crt").display().to_string(),
        "--cert".into(),
        identity.join("device.pem").display().to_string(),
        "--key".into(),
        identity.join("device.pem").display().to_string(),
    ]
}

fn curl(gateway_url: &str, kiosk_data: &Path, size_mb: usize, dir: &Path) -> anyhow::Result<f64> {
    let file = dir.join(format!("curl-{}.bin", rand::random::<u32>()));
    let bytes = random_file(&file, size_mb * 1024 * 1024)?;
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let meta = format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(sha.as_bytes())
    );
    let start = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-D", "-", "-X", "POST"])
        .args(curl_tls(kiosk_data))
        .arg("-H")
        .arg("Tus-Resumable: 1.0.0")
        .arg("-H")
        .arg(format!("Upload-Length: {}", bytes.len()))
        .arg("-H")
        .arg(format!("Upload-Metadata: {meta}"))
        .arg(format!("{gateway_url}/v1/uploads"))
        .output()
        .context("run curl (Debian package curl)")?;
    let headers = String::from_utf8_lossy(&out.stdout);
    let location = headers
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::trim)
        .context("curl: no Location in the creation answer")?
        .to_owned();
    let url = if location.starts_with("http") {
        location
    } else {
        format!("{gateway_url}{location}")
    };
    let status = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-f", "-X", "PATCH"])
        .args(curl_tls(kiosk_data))
        .arg("-H")
        .arg("Tus-Resumable: 1.0.0")
        .arg("-H")
        .arg("Upload-Offset: 0")
        .arg("-H")
        .arg("Content-Type: application/offset+octet-stream")
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(&url)
        .status()?;
    if !status.success() {
        bail!("curl PATCH failed");
    }
    let mbps = bytes.len() as f64 / start.elapsed().as_secs_f64() / 1e6;
    std::fs::remove_file(&file)?;
    Ok(mbps)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dossiers = arg("--dossiers", 2000);
    let upload_mb = arg("--upload-mb", 64);
    let runs = arg("--runs", 3);
    println!(
        "== motcua spine benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    bench_submits(dossiers)?;

    let tmp = tempfile::tempdir()?;
    let gateway = Gateway::start(&tmp.path().join("gateway"), None, 0)?;
    let url = gateway.url();
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    let data = kiosk.data_dir();
    let mut curl_runs = Vec::new();
    let mut ours_small = Vec::new();
    let mut ours_default = Vec::new();
    let mut ours_big = Vec::new();
    for _ in 0..runs {
        curl_runs.push(curl(&url, &data, upload_mb, tmp.path())?);
        ours_small.push(ours(&url, &data, upload_mb, 1024).await?);
        ours_default.push(ours(&url, &data, upload_mb, 4096).await?);
        ours_big.push(ours(&url, &data, upload_mb, 8192).await?);
    }
    let (c, s, o, b) = (
        median(curl_runs),
        median(ours_small),
        median(ours_default),
        median(ours_big),
    );
    println!("upload:  {upload_mb} MiB over loopback, mutual TLS, median of {runs} runs");
    println!("         curl single PATCH, same client certificate (reference): {c:.0} MB/s");
    println!(
        "         kiosk tus client, 1 MiB chunks: {s:.0} MB/s, ratio {:.2}",
        s / c
    );
    println!("         kiosk tus client, 4 MiB chunks (default): {o:.0} MB/s, ratio {:.2} (target >= 0.8)", o / c);
    println!(
        "         kiosk tus client, 8 MiB chunks: {b:.0} MB/s, ratio {:.2}",
        b / c
    );

    kiosk.start_daemon()?;
    std::thread::sleep(Duration::from_secs(3));
    let pid = kiosk.daemon_pid().context("kioskd pid")?;
    let rss = rss_kib(pid)?;
    println!(
        "idle:    kioskd RSS {:.1} MB after 3 s idle, enrolled, no UI (target <= 30 MB)",
        rss as f64 / 1024.0
    );
    Ok(())
}
