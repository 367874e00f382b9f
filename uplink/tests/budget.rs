//! The daily upload budget of a metered link, against the real gateway (in-process, HTTPS with
//! the kiosk's client certificate, SQLite) and the kiosk's real SQLite store: the documents stop
//! when the day's budget is used up (the last PATCH cut to what was left, so the budget is met
//! exactly), the small records behind them go, a restart keeps the count, a clock set back
//! grants no fresh budget, and the next day the documents resume; the log says once per run
//! that the budget ran out, not at each attempt. The days come from an injected clock, not from
//! waiting for midnight.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::seed;
use motcua_domain::dossier::SequenceRange;
use motcua_domain::rating::RatingScale;
use motcua_domain::wire::{Applicant, HealthReport};
use motcua_store::{vietnam_now, BlobInfo, DeviceIdentity, NewDocument, Store};
use motcua_uplink::{DeviceLink, IdentityFiles, TrustAnchor, Uplink, UplinkSettings};

const DEVICE: &str = "KIOSK-H56-0007";
const BUDGET: u64 = 100_000;
const DOCUMENT: usize = 60_000;

fn applicant(name: &str) -> Applicant {
    Applicant {
        full_name: name.into(),
        id_number: None,
        birth_date: None,
        address: "Xã Tân Phú".into(),
        phone: String::new(),
        email: String::new(),
    }
}

fn health_report(at: DateTime<FixedOffset>) -> HealthReport {
    HealthReport {
        software_version: "0.1.0".into(),
        generated_at: at,
        sent_at: None,
        uptime_s: 60,
        outbox_pending: 1,
        oldest_undelivered_s: None,
        needs_technician: 0,
        set_aside: 0,
        printer: None,
        disk_free_bytes: Some(1 << 30),
        disk_floor_bytes: 1 << 20,
        last_self_test: None,
    }
}

/// The log lines of this test process, captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
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
    /// How many captured lines hold `level` and `words`.
    fn count(&self, level: &str, words: &str) -> usize {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| l.contains(level) && l.contains(words))
            .count()
    }
}

/// Turns of `uplink` until nothing is due (at most 20); returns how many had an entry.
async fn drain(uplink: &mut Uplink) -> usize {
    for n in 0..20 {
        if !uplink.turn().await.expect("a turn") {
            return n;
        }
    }
    panic!("the outbox never ran dry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_budget_stops_documents_not_records_survives_a_restart_and_renews_the_next_day() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("motcua_uplink=info")
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
        agency_code: site,
        sequence: Some(SequenceRange { first: 1, last: 99 }),
    };

    // The kiosk's clock: today, then set back, then tomorrow.
    let today = vietnam_now();
    let clock = Arc::new(Mutex::new(today));
    let set_clock = |t: DateTime<FixedOffset>| *clock.lock().unwrap() = t;
    let read_clock: motcua_uplink::budget::Clock = {
        let clock = clock.clone();
        Arc::new(move || *clock.lock().unwrap())
    };

    // A dossier with two scanned documents (120 000 bytes, over the 100 000 budget), then a
    // dossier without documents, a ticket, its rating and a health report.
    let mut store = Store::open(&data, 0).unwrap();
    let blobs: Vec<BlobInfo> = (0..2)
        .map(|_| {
            let mut scan = vec![0u8; DOCUMENT];
            rand::fill(&mut scan[..]);
            store.blobs().put_bytes(&scan).unwrap()
        })
        .collect();
    let documents = blobs
        .iter()
        .enumerate()
        .map(|(i, blob)| NewDocument {
            name: format!("Bản quét {i}"),
            file_name: format!("ban-quet-{i}.pdf"),
            media_type: "application/pdf".into(),
            blob: blob.clone(),
        })
        .collect();
    let procedure = &seed().procedures[0];
    let calendar = WorkingCalendar::new([]);
    store
        .submit_dossier(
            &device,
            procedure,
            &calendar,
            applicant("Lê Thị Hoa"),
            documents,
            today,
        )
        .unwrap();
    let paperless = store
        .submit_dossier(
            &device,
            procedure,
            &calendar,
            applicant("Trần Văn Bình"),
            Vec::new(),
            today,
        )
        .unwrap();
    let ticket = store.issue_ticket(&device, "TP", today).unwrap();
    store
        .rate(&device, RatingScale::Five, &ticket.ticket_id, 5, today)
        .unwrap();
    store
        .rate(&device, RatingScale::Five, &paperless.code, 4, today)
        .unwrap();
    store
        .queue_health_report(&device, &health_report(today), today)
        .unwrap();

    let settings = UplinkSettings {
        gateway_url: url.clone(),
        chunk_bytes: 64 * 1024,
        max_rate_bytes_per_sec: 0,
        daily_upload_budget_bytes: Some(BUDGET),
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(600),
        request_timeout: Duration::from_secs(10),
        retention: Duration::from_secs(3600),
        poll_interval: Duration::from_millis(50),
    };
    let uplink = |store: Store| {
        let link = DeviceLink::open(files.clone(), &url, Duration::from_secs(10)).unwrap();
        Uplink::new(store, link, settings.clone()).with_clock(read_clock.clone())
    };

    // Today: the first document whole, the second cut at what was left (40 000 bytes); the
    // records behind the dossier all delivered, the dossier put off (not failing, not held).
    let mut up = uplink(Store::open(&data, 0).unwrap());
    assert_eq!(drain(&mut up).await, 6, "every entry attempted once");
    let uploaded = |store: &Store, blob: &BlobInfo| {
        let state = store.upload_state(&blob.sha256).unwrap().expect("started");
        (state.uploaded_bytes, state.completed)
    };
    let status = store.outbox_status().unwrap();
    assert_eq!(
        (
            status.pending,
            status.delivered,
            status.failing,
            status.needs_technician
        ),
        (1, 4, 0, 0),
        "{status:?}"
    );
    assert!(!status.health_report_waiting, "the health report went");
    assert_eq!(uploaded(&store, &blobs[0]), (DOCUMENT as u64, true));
    assert_eq!(
        uploaded(&store, &blobs[1]),
        (BUDGET - DOCUMENT as u64, false)
    );
    assert_eq!(
        store.upload_budget(today.date_naive()).unwrap().bytes,
        BUDGET
    );
    let why = status.last_error.unwrap_or_default();
    assert!(
        why.starts_with("hết hạn mức tải lên hôm nay") && why.contains("resume"),
        "{why}"
    );
    let words = motcua_uplink::budget::state(&store, Some(BUDGET), today)
        .unwrap()
        .expect("a budget")
        .words();
    assert!(words.contains("used up"), "{words}");

    // A restart of kioskd: the count is the store's, so nothing more goes today.
    drop(up);
    drop(store);
    let store = Store::open(&data, 0).unwrap();
    store.retry_now().unwrap();
    let mut up = uplink(Store::open(&data, 0).unwrap());
    assert_eq!(drain(&mut up).await, 1);
    assert_eq!(
        uploaded(&store, &blobs[1]),
        (BUDGET - DOCUMENT as u64, false)
    );

    // The clock set back three days: no fresh budget; and set right again, the same count.
    for t in [today - chrono::Days::new(3), today] {
        set_clock(t);
        store.retry_now().unwrap();
        assert_eq!(drain(&mut up).await, 1, "clock {t}");
        assert_eq!(
            uploaded(&store, &blobs[1]),
            (BUDGET - DOCUMENT as u64, false)
        );
        assert_eq!(store.outbox_status().unwrap().pending, 1);
    }
    assert_eq!(
        store.upload_budget(today.date_naive()).unwrap().bytes,
        BUDGET
    );

    // Said once per run of the uplink when the budget ran out (this one and the one before the
    // restart), not at each of the attempts that met it.
    assert_eq!(log.count("WARN", "today's upload budget is used up"), 2);
    assert_eq!(log.count("INFO", "a new upload budget"), 0);

    // The next day: the rest of the document goes (counted on that day) and the dossier with it.
    let tomorrow = today + chrono::Days::new(1);
    set_clock(tomorrow);
    store.retry_now().unwrap();
    assert_eq!(drain(&mut up).await, 1);
    let status = store.outbox_status().unwrap();
    assert_eq!((status.pending, status.delivered), (0, 5), "{status:?}");
    assert_eq!(uploaded(&store, &blobs[1]), (DOCUMENT as u64, true));
    assert_eq!(
        store.upload_budget(tomorrow.date_naive()).unwrap().bytes,
        (2 * DOCUMENT) as u64 - BUDGET
    );
    assert_eq!(log.count("INFO", "a new upload budget"), 1);
    assert_eq!(log.count("WARN", "today's upload budget is used up"), 2);
    gateway.shutdown().await;
}
