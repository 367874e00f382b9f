//! One delivery over a weak link, measured: a kiosk's dossier with one large document sent by
//! the real uplink (tus with resumption, the shipped settings) through the [`LinkLab`]'s shaped
//! veth pair and a [`Relay`] adding delay and resets, or the same number of bytes sent by curl
//! (tus by hand: HEAD for the offset, one PATCH of the rest, again after each failure) over the
//! same link. Both report their wire bytes (the kiosk veth's counters) and, sampled during the
//! run, the offsets the gateway recorded, so a caller can check that nothing it stored was
//! sent again and that its offset never went back.
//!
//! Used by the CI test `weak_link` (small payload, checks resumption) and by the benchmark
//! `bench-weaklink` (5 MB, reports times against curl).

use std::io::{Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::bail;
use base64::Engine;
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::wire::Applicant;
use motcua_store::{vietnam_now, NewDocument, Store};
use motcua_uplink::credentials::DeviceLink;
use motcua_uplink::identity::IdentityFiles;
use motcua_uplink::{Uplink, UplinkSettings};
use tokio::sync::watch;

use super::kiosk::{random_file, Enrolment, Kiosk, KioskSettings};
use super::netns::{LinkLab, NsGateway, GATEWAY_IP};
use super::relay::{Relay, RelaySettings};

/// The port the relay listens on at the gateway's end of the veth pair.
const RELAY_PORT: u16 = 8700;

/// A weak link: the rate of the veth pair, the relay's delay and resets, an outage.
#[derive(Debug, Clone)]
pub struct LinkProfile {
    /// Its name in reports.
    pub name: String,
    /// Rate of each direction, kbit/s.
    pub rate_kbit: u32,
    /// The relay's delay, each direction.
    pub delay: Duration,
    /// The relay resets every connection this often.
    pub reset_every: Option<Duration>,
    /// The link goes down this long after the start, for this long.
    pub outage: Option<(Duration, Duration)>,
}

/// What one delivery took.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Seconds from the start to the gateway's acknowledgement.
    pub secs: f64,
    /// Bytes of the document.
    pub payload: u64,
    /// Bytes the kiosk's end sent / received on the wire.
    pub tx: u64,
    /// See `tx`.
    pub rx: u64,
    /// Resets the relay made during the run.
    pub resets: u64,
    /// Connections through the relay during the run.
    pub connections: u64,
    /// The gateway's recorded offsets as sampled, in order (each distinct value once).
    pub offsets: Vec<u64>,
}

impl Delivery {
    /// Wire bytes sent per byte of payload.
    pub fn tx_per_payload(&self) -> f64 {
        self.tx as f64 / self.payload as f64
    }

    /// Whether any sampled offset was below the one before it.
    pub fn offset_went_back(&self) -> bool {
        self.offsets.windows(2).any(|w| w[1] < w[0])
    }
}

/// A lab with a gateway and an enrolled kiosk, ready for deliveries.
pub struct WeakLinkLab {
    // Dropped in this order: the gateway process before its namespaces.
    gateway: NsGateway,
    kiosk: Kiosk,
    lab: LinkLab,
    dir: PathBuf,
    runs: u32,
}

impl WeakLinkLab {
    /// Makes the namespaces (rate `rate_kbit`), starts the gateway in its own and enrols a
    /// kiosk through a clean relay. Moves the calling thread into the kiosk's namespace: call
    /// it from a thread that may stay there (a test's own thread, a benchmark's main thread).
    pub fn create(dir: &Path, rate_kbit: u32) -> anyhow::Result<Self> {
        // Built before entering the namespace (the build needs nothing of the network, but
        // its output must not be mixed into a link's figures).
        let _ = crate::bin_dir();
        let lab = LinkLab::create(rate_kbit)?;
        let gateway = lab.start_gateway(&dir.join("gateway"))?;
        lab.enter_kiosk_side()?;
        let relay = Relay::start(
            Some(&lab.gateway_ns),
            relay_addr(),
            gateway.addr,
            RelaySettings {
                delay: Duration::ZERO,
                reset_every: None,
            },
        )?;
        let mut settings = KioskSettings::at_url(&format!("https://{}", relay.addr()));
        settings.enrolment = Some(Enrolment {
            ca_file: gateway.pki.ca_cert(),
            key_file: gateway.enrollment_key_file(),
        });
        let kiosk = Kiosk::enrolled(&dir.join("kiosk"), &settings)?;
        drop(relay);
        Ok(Self {
            gateway,
            kiosk,
            lab,
            dir: dir.to_owned(),
            runs: 0,
        })
    }

    fn url() -> String {
        format!("https://{}", relay_addr())
    }

    fn relay(&self, profile: &LinkProfile) -> anyhow::Result<Relay> {
        Relay::start(
            Some(&self.lab.gateway_ns),
            relay_addr(),
            self.gateway.addr,
            RelaySettings {
                delay: profile.delay,
                reset_every: profile.reset_every,
            },
        )
    }

    /// The kiosk's uplink delivers a dossier with one document of `payload` random bytes,
    /// with the shipped uplink settings (`deploy/kiosk/kiosk.toml`); fails past `deadline`.
    pub fn kiosk_delivery(
        &mut self,
        profile: &LinkProfile,
        payload: usize,
        deadline: Duration,
    ) -> anyhow::Result<Delivery> {
        self.runs += 1;
        let data = self.kiosk.data_dir();
        let config = self.kiosk.load_config()?;
        let mut store = Store::open(&data, 0)?;
        let file = self.dir.join(format!("kiosk-{}.bin", self.runs));
        random_file(&file, payload)?;
        let blob = store.blobs().put_file(&file)?;
        std::fs::remove_file(&file)?;
        let before = store.outbox_status()?.delivered;
        store.submit_dossier(
            &config.device,
            &seed().procedures[0],
            &WorkingCalendar::new([]),
            applicant(),
            vec![NewDocument {
                name: "Hồ sơ quét".into(),
                file_name: "ho-so.pdf".into(),
                media_type: "application/pdf".into(),
                blob: blob.clone(),
            }],
            vietnam_now(),
        )?;
        let settings = shipped_settings(&Self::url());
        let link = DeviceLink::open(
            IdentityFiles::in_data_dir(&data),
            &settings.gateway_url,
            settings.request_timeout,
        )?;
        let uplink = Uplink::new(store, link, settings);
        let watcher = Store::open(&data, 0)?;
        let relay = self.relay(profile)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut offsets = Vec::new();
        let (b_tx, b_rx) = self.lab.kiosk_bytes()?;
        let start = Instant::now();
        let outage = profile
            .outage
            .map(|(at, length)| self.lab.switch().outage(at, length));
        let (_stop, stop_rx) = watch::channel(false);
        let gateway = &self.gateway;
        let outcome = rt.block_on(async {
            let watch = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    sample(&mut offsets, gateway.stored_offset(&blob.sha256)?);
                    let status = watcher.outbox_status()?;
                    if status.delivered > before && status.pending == 0 {
                        return Ok(());
                    }
                    if start.elapsed() > deadline {
                        bail!(
                            "not delivered after {deadline:?}: {}",
                            status.last_error.unwrap_or_default()
                        );
                    }
                }
            };
            tokio::select! {
                _ = uplink.run(stop_rx) => bail!("the uplink stopped"),
                done = watch => done,
            }
        });
        let secs = start.elapsed().as_secs_f64();
        if let Some(o) = outage {
            o.join()
                .map_err(|_| anyhow::anyhow!("outage thread panicked"))??;
        }
        outcome?;
        let (a_tx, a_rx) = self.lab.kiosk_bytes()?;
        Ok(Delivery {
            secs,
            payload: payload as u64,
            tx: a_tx - b_tx,
            rx: a_rx - b_rx,
            resets: relay.resets(),
            connections: relay.connections(),
            offsets,
        })
    }

    /// curl sends `payload` random bytes as a tus upload over the same link: a creation
    /// POST, then HEAD for the offset and one PATCH of the rest, again one second after
    /// each failure (curl gives up on a transfer slower than 1 byte/s for 30 s, as the
    /// kiosk's request time limit would); fails past `deadline`.
    pub fn curl_delivery(
        &mut self,
        profile: &LinkProfile,
        payload: usize,
        deadline: Duration,
    ) -> anyhow::Result<Delivery> {
        self.runs += 1;
        let file = self.dir.join(format!("curl-{}.bin", self.runs));
        let bytes = random_file(&file, payload)?;
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        drop(bytes);
        let relay = self.relay(profile)?;
        let mut offsets = Vec::new();
        let (b_tx, b_rx) = self.lab.kiosk_bytes()?;
        let start = Instant::now();
        let outage = profile
            .outage
            .map(|(at, length)| self.lab.switch().outage(at, length));
        let outcome = self.curl_upload(&file, &sha, payload as u64, start, deadline, &mut offsets);
        let secs = start.elapsed().as_secs_f64();
        if let Some(o) = outage {
            o.join()
                .map_err(|_| anyhow::anyhow!("outage thread panicked"))??;
        }
        std::fs::remove_file(&file)?;
        outcome?;
        let (a_tx, a_rx) = self.lab.kiosk_bytes()?;
        Ok(Delivery {
            secs,
            payload: payload as u64,
            tx: a_tx - b_tx,
            rx: a_rx - b_rx,
            resets: relay.resets(),
            connections: relay.connections(),
            offsets,
        })
    }

    fn curl_upload(
        &self,
        file: &Path,
        sha: &str,
        size: u64,
        start: Instant,
        deadline: Duration,
        offsets: &mut Vec<u64>,
    ) -> anyhow::Result<()> {
        let meta = format!(
            "sha256 {}",
            base64::engine::general_purpose::STANDARD.encode(sha.as_bytes())
        );
        let mut location = None;
        // Bounded: a try at most every second until the deadline.
        while start.elapsed() < deadline {
            sample(offsets, self.gateway.stored_offset(sha)?);
            let Some(url) = location.clone() else {
                let out = self
                    .curl(&["-X", "POST", "-D", "-", "-o", "/dev/null"])
                    .arg("-H")
                    .arg(format!("Upload-Length: {size}"))
                    .arg("-H")
                    .arg(format!("Upload-Metadata: {meta}"))
                    .arg(format!("{}/v1/uploads", Self::url()))
                    .output()?;
                location = header(&out.stdout, "location").map(|l| {
                    if l.starts_with("http") {
                        l
                    } else {
                        format!("{}{l}", Self::url())
                    }
                });
                if location.is_none() {
                    std::thread::sleep(Duration::from_secs(1));
                }
                continue;
            };
            let head = self.curl(&["-I", "-o", "-"]).arg(&url).output()?;
            let Some(offset) = header(&head.stdout, "upload-offset").and_then(|o| o.parse().ok())
            else {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            };
            if offset == size {
                sample(offsets, self.gateway.stored_offset(sha)?);
                return Ok(());
            }
            let mut body = std::fs::File::open(file)?;
            body.seek(SeekFrom::Start(offset))?;
            let status = self
                .curl(&[
                    "-X",
                    "PATCH",
                    "-o",
                    "/dev/null",
                    "-f",
                    "-y",
                    "30",
                    "-Y",
                    "1",
                ])
                .arg("-H")
                .arg(format!("Upload-Offset: {offset}"))
                .arg("-H")
                .arg("Content-Type: application/offset+octet-stream")
                .args(["--data-binary", "@-"])
                .arg(&url)
                .stdin(Stdio::from(body))
                .status()?;
            if !status.success() {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        bail!("curl did not finish the upload in {deadline:?}")
    }

    /// curl with the kiosk's TLS identity and the tus header.
    fn curl(&self, args: &[&str]) -> Command {
        let identity = self.kiosk.data_dir().join("identity");
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--connect-timeout", "10", "--max-time", "600"])
            .arg("--cacert")
            .arg(identity.join("ca.crt"))
            .arg("--cert")
            .arg(identity.join("device.pem"))
            .arg("--key")
            .arg(identity.join("device.pem"))
            .args(["-H", "Tus-Resumable: 1.0.0"])
            .args(args)
            .stderr(Stdio::null());
        cmd
    }
}

/// The relay's address at the gateway's end of the veth pair.
fn relay_addr() -> SocketAddr {
    SocketAddr::from((GATEWAY_IP, RELAY_PORT))
}

/// The uplink settings a kiosk ships with (`deploy/kiosk/kiosk.toml`'s defaults).
fn shipped_settings(url: &str) -> UplinkSettings {
    UplinkSettings {
        gateway_url: url.to_owned(),
        chunk_bytes: 4096 * 1024,
        max_rate_bytes_per_sec: 0,
        daily_upload_budget_bytes: None,
        retry_initial: Duration::from_millis(500),
        retry_max: Duration::from_secs(60),
        request_timeout: Duration::from_secs(30),
        retention: Duration::from_secs(30 * 86_400),
        poll_interval: Duration::from_millis(500),
    }
}

fn applicant() -> Applicant {
    Applicant {
        full_name: "Trần Thị Bình".into(),
        id_number: None,
        birth_date: None,
        address: "Phường Cửa Nam, Hà Nội".into(),
        phone: String::new(),
        email: String::new(),
    }
}

/// Keeps each new value of the gateway's offset.
fn sample(offsets: &mut Vec<u64>, offset: Option<u64>) {
    if let Some(o) = offset {
        if offsets.last() != Some(&o) {
            offsets.push(o);
        }
    }
}

/// A header's value in curl's `-D -` output (case-insensitive name).
fn header(out: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(out).lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}
