//! Small records do not wait behind a big upload: while a scanned dossier's document goes up
//! slowly (the kiosk's rate cap makes the link slow), a queue ticket issued meanwhile reaches
//! the real gateway (in-process, HTTPS with the kiosk's certificate, SQLite) within seconds,
//! and the dossier's upload then resumes from the gateway's offset and is delivered too.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::{vietnam_now, DeviceIdentity, NewDocument, Store};
use motcua_uplink::{DeviceLink, IdentityFiles, TrustAnchor, Uplink, UplinkSettings};

const DEVICE: &str = "KIOSK-H56-0002";
/// 4 MiB at 256 KiB/s: about 16 s of uploading.
const BLOB: usize = 4 * 1024 * 1024;
const RATE: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_goes_ahead_of_a_slow_document_upload() {
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
    // Random bytes: a real scan does not compress, and no two runs share a blob.
    let mut scan = vec![0u8; BLOB];
    rand::fill(&mut scan[..]);
    let blob = store.blobs().put_bytes(&scan).unwrap();
    store
        .submit_dossier(
            &device,
            &seed().procedures[0],
            &WorkingCalendar::new([]),
            Applicant {
                full_name: "Lê Thị Hoa".into(),
                id_number: None,
                birth_date: None,
                address: "Xã Tân Phú".into(),
                phone: String::new(),
                email: String::new(),
            },
            vec![NewDocument {
                name: "Bản quét".into(),
                file_name: "ban-quet.pdf".into(),
                media_type: "application/pdf".into(),
                blob: blob.clone(),
            }],
            vietnam_now(),
        )
        .unwrap();

    let link = DeviceLink::open(files, &url, Duration::from_secs(10)).unwrap();
    let settings = UplinkSettings {
        gateway_url: url.clone(),
        chunk_bytes: 4096 * 1024,
        max_rate_bytes_per_sec: RATE,
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
        // The upload is under way before the ticket is issued.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = store.upload_state(&blob.sha256).unwrap();
            if s.is_some_and(|s| s.uploaded_bytes > 0) {
                break;
            }
            assert!(Instant::now() < deadline, "the upload never started");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        store.issue_ticket(&device, "TP", vietnam_now()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ticket_went_first = None;
        loop {
            let status = store.outbox_status().unwrap();
            let upload = store.upload_state(&blob.sha256).unwrap();
            let uploaded = upload.as_ref().is_some_and(|u| u.completed);
            if status.delivered >= 1 && ticket_went_first.is_none() {
                // The first delivery is the ticket: the dossier cannot be delivered before its
                // document is complete.
                ticket_went_first = Some(!uploaded);
            }
            if status.pending == 0 {
                assert_eq!(status.delivered, 2, "{status:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not delivered in time: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            ticket_went_first,
            Some(true),
            "the ticket waited until the document was uploaded"
        );
    };
    local.run_until(check).await;
    stop.send(true).unwrap();
    local.run_until(run).await.unwrap();
    // Delivered means the gateway verified the whole document (else `missing_blobs`).
    let upload = store
        .upload_state(&blob.sha256)
        .unwrap()
        .expect("upload state");
    assert!(upload.completed, "{upload:?}");
    gateway.shutdown().await;
}
