//! A dossier whose documents wait for the device's daily upload quota does not hold up the
//! rest of the outbox: against the real gateway (in-process, HTTPS with the kiosk's client
//! certificate, SQLite) with a small quota, the dossier's entry is put off (neither counted
//! failing nor held) and the ticket behind it is delivered.

use std::net::SocketAddr;
use std::time::Duration;

use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::{vietnam_now, DeviceIdentity, NewDocument, Store};
use motcua_uplink::{DeviceLink, IdentityFiles, TrustAnchor, Uplink, UplinkSettings};

const DEVICE: &str = "KIOSK-H56-0001";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_over_the_upload_quota_waits_and_the_ticket_behind_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = motcua_gateway::lab_pki(&dir.path().join("pki"), &["127.0.0.1".to_string()])
        .expect("lab CA");
    let site = seed().procedures[0].agency_code.clone();
    let mut config = motcua_gateway::GatewayConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().join("gateway"),
        "enrol-key-test",
        &pki,
        seed(),
    );
    // The day's quota holds one of the dossier's two documents.
    config.max_upload_bytes = 100_000;
    config.limits.upload_bytes_per_day = 100_000;
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
        agency_code: site,
        sequence: Some(SequenceRange { first: 1, last: 99 }),
    };
    let mut store = Store::open(&data, 0).unwrap();
    let documents = (0..2u8)
        .map(|d| NewDocument {
            name: format!("Giấy tờ {d}"),
            file_name: format!("giay-to-{d}.pdf"),
            media_type: "application/pdf".into(),
            blob: store.blobs().put_bytes(&[d + 1; 60_000]).unwrap(),
        })
        .collect();
    let applicant = Applicant {
        full_name: "Trần Văn Bình".into(),
        id_number: None,
        birth_date: None,
        address: "Phường 2".into(),
        phone: "0901234567".into(),
        email: String::new(),
    };
    store
        .submit_dossier(
            &device,
            &seed().procedures[0],
            &WorkingCalendar::new([]),
            applicant,
            documents,
            vietnam_now(),
        )
        .unwrap();
    store.issue_ticket(&device, "TP", vietnam_now()).unwrap();
    drop(store);

    let link = DeviceLink::open(files, &url, Duration::from_secs(10)).unwrap();
    let settings = UplinkSettings {
        gateway_url: url.clone(),
        chunk_bytes: 64 * 1024,
        max_rate_bytes_per_sec: 0,
        daily_upload_budget_bytes: None,
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(600),
        request_timeout: Duration::from_secs(10),
        retention: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(50),
    };
    let mut uplink = Uplink::new(Store::open(&data, 0).unwrap(), link, settings);
    // The dossier (oldest) is put off at its second document, the ticket delivered, and then
    // nothing is due: the dossier waits for the quota (at most retry_max), not in place.
    for turn in 0..2 {
        assert!(uplink.turn().await.unwrap(), "turn {turn} had an entry");
    }
    assert!(!uplink.turn().await.unwrap(), "nothing due after");
    let store = Store::open(&data, 0).unwrap();
    let status = store.outbox_status().unwrap();
    assert_eq!(
        (
            status.pending,
            status.delivered,
            status.failing,
            status.needs_technician
        ),
        (1, 1, 0, 0),
        "{status:?}"
    );
    let due_at = store
        .next_due_at()
        .unwrap()
        .expect("the dossier is pending");
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        due_at > now && due_at <= now + 600_000,
        "put off, at most retry_max ahead: {due_at} vs {now}"
    );
    gateway.shutdown().await;
}
