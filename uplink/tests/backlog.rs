//! A kiosk back after a week offline drains its backlog through the real gateway (in-process,
//! HTTPS with its client certificate, SQLite) with the gateway's default upload quotas and a
//! tight request rate: the gateway answers 429 with `Retry-After` along the way, the uplink
//! waits and carries on, and every entry is delivered with none held for a technician.
//!
//! The backlog is a quiet commune desk's week at the scale of the province's figures (about
//! 20 dossiers a day: see the README's "Gateway limits"), two documents each, dated over seven
//! days; the blobs are small (the byte figures are checked against the quota below, not sent).

use std::net::SocketAddr;
use std::time::Duration;

use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::{vietnam_now, DeviceIdentity, NewDocument, Store};
use motcua_uplink::{DeviceLink, IdentityFiles, TrustAnchor, Uplink, UplinkSettings};

const DEVICE: &str = "KIOSK-H56-0001";
const DAYS: i64 = 7;
const DOSSIERS_PER_DAY: u32 = 20;
const DOCUMENTS_PER_DOSSIER: u32 = 2;

/// The worst case the default daily quota is sized for: a busy desk (60 dossiers a day), three
/// documents of two colour pages of 1 MiB each, for seven days, delivered in one day.
#[test]
fn a_busy_desks_worst_week_fits_in_one_days_default_quota() {
    let week: u64 = 7 * 60 * 3 * 2 * 1024 * 1024;
    assert!(
        week <= motcua_gateway::DEFAULT_UPLOAD_BYTES_PER_DAY,
        "{week}"
    );
    // And its requests (about ten per dossier, one per ticket or rating: 200 tickets and 100
    // ratings a day) take well under an hour at the default rate.
    let requests = 7 * (60 * 10 + 200 + 100);
    assert!(requests / motcua_gateway::DEFAULT_RATE_LIMIT_PER_MINUTE < 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_offline_drains_through_the_gateway_without_anything_held() {
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
    // The default quotas; a rate a fast test client goes over, in a short window.
    config.limits.requests_per_window = 40;
    config.limits.rate_window = Duration::from_secs(2);
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
    for day in 0..DAYS {
        let at = vietnam_now() - chrono::Duration::days(DAYS - day);
        for n in 0..DOSSIERS_PER_DAY {
            let documents = (0..DOCUMENTS_PER_DOSSIER)
                .map(|d| {
                    let bytes: Vec<u8> = format!("scan {day}-{n}-{d} ")
                        .bytes()
                        .cycle()
                        .take(20_000)
                        .collect();
                    NewDocument {
                        name: format!("Giấy tờ {d}"),
                        file_name: format!("giay-to-{d}.pdf"),
                        media_type: "application/pdf".into(),
                        blob: store.blobs().put_bytes(&bytes).unwrap(),
                    }
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
                    at,
                )
                .unwrap();
        }
    }
    drop(store);
    let backlog = u64::from(DOSSIERS_PER_DAY) * DAYS as u64;
    let status = Store::open(&data, 0).unwrap().outbox_status().unwrap();
    assert_eq!(status.pending, backlog, "{status:?}");

    let link = DeviceLink::open(files, &url, Duration::from_secs(10)).unwrap();
    let settings = UplinkSettings {
        gateway_url: url.clone(),
        chunk_bytes: 64 * 1024,
        max_rate_bytes_per_sec: 0,
        daily_upload_budget_bytes: None,
        retry_initial: Duration::from_millis(100),
        // A failure would wait this long: the loop below would then run out of turns.
        retry_max: Duration::from_secs(600),
        request_timeout: Duration::from_secs(10),
        retention: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(50),
    };
    let mut uplink = Uplink::new(Store::open(&data, 0).unwrap(), link, settings);
    // Bounded: each turn delivers an entry or waits out one 429 (at most the 2 s window).
    for _ in 0..(backlog * 10) {
        if !uplink.turn().await.unwrap() {
            break;
        }
    }
    let status = Store::open(&data, 0).unwrap().outbox_status().unwrap();
    assert_eq!(
        (status.pending, status.needs_technician, status.delivered),
        (0, 0, backlog),
        "everything delivered, nothing held: {status:?}"
    );
    gateway.shutdown().await;
}
