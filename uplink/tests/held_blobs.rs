//! The uplink asks the gateway which blobs its site holds before creating uploads, and sends
//! none of those: against the real gateway (in-process, HTTPS with client certificates,
//! SQLite), a second kiosk of the site delivering a dossier that cites a document the first
//! kiosk uploaded creates no upload for it, only for its own new document.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::wire::Applicant;
use motcua_store::{vietnam_now, DeviceIdentity, NewDocument, Store};
use motcua_uplink::{DeviceLink, IdentityFiles, TrustAnchor, Uplink, UplinkSettings};

fn settings(url: &str) -> UplinkSettings {
    UplinkSettings {
        gateway_url: url.to_owned(),
        chunk_bytes: 64 * 1024,
        max_rate_bytes_per_sec: 0,
        daily_upload_budget_bytes: None,
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(600),
        request_timeout: Duration::from_secs(10),
        retention: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(50),
    }
}

/// Queues one dossier of `device` (numbers from `first`) with these documents; their hashes.
fn queue_dossier(
    data: &Path,
    device: &str,
    site: &str,
    first: u16,
    scans: &[&[u8]],
) -> Vec<String> {
    let mut store = Store::open(data, 0).unwrap();
    let mut hashes = Vec::new();
    let documents = scans
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let blob = store.blobs().put_bytes(bytes).unwrap();
            hashes.push(blob.sha256.clone());
            NewDocument {
                name: format!("Giấy tờ {i}"),
                file_name: format!("giay-to-{i}.pdf"),
                media_type: "application/pdf".into(),
                blob,
            }
        })
        .collect();
    let identity = DeviceIdentity {
        id: device.into(),
        agency_code: site.into(),
        sequence: Some(SequenceRange {
            first,
            last: first + 99,
        }),
    };
    let applicant = Applicant {
        full_name: "Nguyễn Thị Hoa".into(),
        id_number: None,
        birth_date: None,
        address: "Xã Tân Hòa".into(),
        phone: "0912345678".into(),
        email: String::new(),
    };
    store
        .submit_dossier(
            &identity,
            &seed().procedures[0],
            &WorkingCalendar::new([]),
            applicant,
            documents,
            vietnam_now(),
        )
        .unwrap();
    hashes
}

/// Enrols `device` in `data` and delivers its outbox; asserts all of it was delivered.
async fn enrol_and_drain(data: &Path, url: &str, anchor: &TrustAnchor, device: &str, site: &str) {
    let files = IdentityFiles::in_data_dir(data);
    motcua_uplink::credentials::enroll(
        url,
        Duration::from_secs(10),
        &files,
        anchor,
        device,
        site,
        "enrol-key-test",
    )
    .await
    .expect("enrolled");
    let link = DeviceLink::open(files, url, Duration::from_secs(10)).unwrap();
    let mut uplink = Uplink::new(Store::open(data, 0).unwrap(), link, settings(url));
    for _ in 0..5 {
        if !uplink.turn().await.unwrap() {
            break;
        }
    }
    let status = Store::open(data, 0).unwrap().outbox_status().unwrap();
    assert_eq!((status.pending, status.delivered), (0, 1), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_the_site_holds_is_not_uploaded_again() {
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
    let anchor = TrustAnchor::from_pem(&pki.ca_cert_pem().unwrap(), "lab CA").unwrap();
    let shared: Vec<u8> = b"giay khai sinh "
        .iter()
        .copied()
        .cycle()
        .take(150_000)
        .collect();
    let own: Vec<u8> = b"so ho khau "
        .iter()
        .copied()
        .cycle()
        .take(90_000)
        .collect();

    let first = dir.path().join("kiosk-1");
    std::fs::create_dir_all(&first).unwrap();
    let hashes = queue_dossier(&first, "KIOSK-H56-0001", &site, 1, &[&shared]);
    enrol_and_drain(&first, &url, &anchor, "KIOSK-H56-0001", &site).await;
    let state = Store::open(&first, 0)
        .unwrap()
        .upload_state(&hashes[0])
        .unwrap()
        .unwrap();
    assert!(
        state.completed && state.upload_url.is_some(),
        "the first kiosk uploaded it: {state:?}"
    );

    let second = dir.path().join("kiosk-2");
    std::fs::create_dir_all(&second).unwrap();
    let hashes = queue_dossier(&second, "KIOSK-H56-0002", &site, 200, &[&shared, &own]);
    enrol_and_drain(&second, &url, &anchor, "KIOSK-H56-0002", &site).await;
    let store = Store::open(&second, 0).unwrap();
    let held = store.upload_state(&hashes[0]).unwrap().unwrap();
    assert!(
        held.completed && held.upload_url.is_none(),
        "the held blob was never uploaded by the second kiosk: {held:?}"
    );
    let sent = store.upload_state(&hashes[1]).unwrap().unwrap();
    assert!(
        sent.completed && sent.upload_url.is_some(),
        "its own document was: {sent:?}"
    );
    gateway.shutdown().await;
}
