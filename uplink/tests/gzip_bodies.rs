//! The kiosk's larger JSON bodies go gzip-compressed: a dossier with several documents and a
//! long address, drained from the kiosk's store (a real SQLite file) by the uplink, reaches
//! the real gateway (in-process, HTTPS with the kiosk's certificate) compressed, as the
//! gateway's own log of the body's wire and decoded sizes shows, and is delivered; a queue
//! ticket (a small body) goes uncompressed.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::{vietnam_now, DeviceIdentity, NewDocument, Store};
use motcua_uplink::{DeviceLink, IdentityFiles, TrustAnchor, Uplink, UplinkSettings};

const DEVICE: &str = "KIOSK-H56-0003";

/// The log lines of this test process, captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// `name=value` of a log line, as a number.
fn field(line: &str, name: &str) -> Option<usize> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    line[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_dossier_goes_gzip_compressed_and_is_delivered() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("motcua_gateway=debug,motcua_uplink=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = tempfile::tempdir().unwrap();
    let pki = motcua_gateway::lab_pki(&dir.path().join("pki"), &["127.0.0.1".to_string()])
        .expect("lab CA");
    let site = seed().procedures[0].agency_code.clone();
    let config = motcua_gateway::GatewayConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().join("gateway"),
        "enrol-key-test",
        &pki,
        seed(),
    );
    let gateway = motcua_gateway::start(config).await.expect("gateway");
    let url = format!("https://127.0.0.1:{}", gateway.local_addr().port());

    let data = dir.path().join("kiosk");
    std::fs::create_dir_all(&data).unwrap();
    let files = IdentityFiles::in_data_dir(&data);
    let anchor = TrustAnchor::from_pem(&pki.ca_cert_pem().unwrap(), "lab CA").unwrap();
    motcua_uplink::credentials::enroll(
        &url,
        Duration::from_secs(10),
        &files,
        &anchor,
        DEVICE,
        &site,
        "enrol-key-test",
    )
    .await
    .expect("enrolled");
    let device = DeviceIdentity {
        id: DEVICE.into(),
        agency_code: site.clone(),
        sequence: Some(SequenceRange {
            first: 1,
            last: 999,
        }),
    };
    let mut store = Store::open(&data, 0).unwrap();
    let names = [
        "Tờ khai đăng ký khai sinh",
        "Giấy chứng sinh",
        "Căn cước công dân của cha",
        "Căn cước công dân của mẹ",
        "Giấy chứng nhận kết hôn",
        "Văn bản ủy quyền có chứng thực",
    ];
    let mut documents = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut scan = vec![0u8; 2048];
        rand::fill(&mut scan[..]);
        documents.push(NewDocument {
            name: (*name).into(),
            file_name: format!("ban-quet-{i}.pdf"),
            media_type: "application/pdf".into(),
            blob: store.blobs().put_bytes(&scan).unwrap(),
        });
    }
    let submitted = store
        .submit_dossier(
            &device,
            &seed().procedures[0],
            &WorkingCalendar::new([]),
            Applicant {
                full_name: "Nguyễn Thị Thanh Hương".into(),
                id_number: Some("094186001234".into()),
                birth_date: None,
                address: "Số 12, hẻm 34, đường Trần Hưng Đạo, khóm 5, phường 2, thành phố Sóc \
                          Trăng, tỉnh Sóc Trăng (gần chợ Sóc Trăng, đối diện trường tiểu học)"
                    .into(),
                phone: "0912345678".into(),
                email: "huong.nguyen@example.vn".into(),
            },
            documents,
            vietnam_now(),
        )
        .unwrap();
    // The body as the uplink makes it: the dossier read back from the store.
    let stored = store.dossier(&submitted.code).unwrap().expect("stored");
    let plain_len = serde_json::to_vec(&stored).unwrap().len();
    assert!(
        plain_len > motcua_uplink::client::COMPRESS_FROM,
        "the dossier is {plain_len} bytes"
    );
    store.issue_ticket(&device, "TP", vietnam_now()).unwrap();

    let link = DeviceLink::open(files, &url, Duration::from_secs(10)).unwrap();
    let settings = UplinkSettings {
        gateway_url: url.clone(),
        chunk_bytes: 1024 * 1024,
        max_rate_bytes_per_sec: 0,
        daily_upload_budget_bytes: None,
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        retention: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(50),
    };
    let uplink = Uplink::new(Store::open(&data, 0).unwrap(), link, settings);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let local = tokio::task::LocalSet::new();
    let run = local.spawn_local(uplink.run(stop_rx));
    let check = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = store.outbox_status().unwrap();
            if status.pending == 0 {
                assert_eq!(status.delivered, 2, "{status:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not delivered in time: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    local.run_until(check).await;
    stop.send(true).unwrap();
    local.run_until(run).await.unwrap();
    gateway.shutdown().await;

    let lines = log.lines();
    let decoded: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("gzip request body decoded"))
        .collect();
    let dossier = decoded
        .iter()
        .find(|l| l.contains("path=/v1/dossiers"))
        .unwrap_or_else(|| panic!("the dossier did not arrive gzip-compressed: {lines:#?}"));
    let sent = field(dossier, "sent").expect("sent");
    let got = field(dossier, "decoded").expect("decoded");
    assert_eq!(got, plain_len, "{dossier}");
    // The documents' SHA-256s (hex) are most of what does not shrink: about half goes.
    assert!(sent < plain_len * 3 / 4, "{sent} bytes sent of {plain_len}");
    assert!(
        !decoded.iter().any(|l| l.contains("path=/v1/tickets")),
        "a ticket is too small to compress: {decoded:#?}"
    );
    println!("dossier: {plain_len} bytes of JSON, {sent} sent gzip-compressed");
}
