//! A hub's queue outbox delivered by the uplink's client to the real gateway (in-process,
//! HTTPS with the hub's device certificate from enrolment, SQLite; issue #18): a batch large
//! enough to go gzip-compressed is stored, the same batch again is all duplicates, and a batch
//! the gateway refuses comes back as an error that names the bad event.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use motcua_domain::catalog::seed;
use motcua_domain::wire::hub::{QueueEvent, QueueEventBatch, QueueEventsAccepted};
use motcua_uplink::{DeviceLink, GatewayError, IdentityFiles, TrustAnchor};
use serde_json::json;

const HUB: &str = "HUB-H56-0001";

/// The log lines of this test process, captured in memory (the gateway logs the wire and
/// decoded sizes of a gzip body).
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
    fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn issued(n: u32) -> QueueEvent {
    let ticket = format!("TP-20261203-{n:04}@{HUB}");
    QueueEvent {
        key: format!("issued:{ticket}"),
        kind: "issued".into(),
        ticket_id: ticket,
        payload: json!({"area": "TP", "number": n, "issued_at": "2026-12-03T08:00:00+07:00"}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubs_batch_is_stored_once_and_a_refusal_names_the_event() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter("motcua_gateway=debug")
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

    let data = dir.path().join("hub");
    std::fs::create_dir_all(&data).unwrap();
    let files = IdentityFiles::in_data_dir(&data);
    let anchor = TrustAnchor::from_pem(&pki.ca_cert_pem().unwrap(), "lab CA").unwrap();
    motcua_uplink::credentials::enroll(
        &url,
        Duration::from_secs(10),
        &files,
        &anchor,
        HUB,
        &site,
        "enrol-key-test",
    )
    .await
    .expect("enrolled");
    let link = DeviceLink::open(files, &url, Duration::from_secs(10)).unwrap();
    let client = link.client();

    // Well over the size from which bodies go gzip-compressed.
    let batch = QueueEventBatch {
        events: (1..=100).map(issued).collect(),
    };
    assert!(serde_json::to_vec(&batch).unwrap().len() > motcua_uplink::client::COMPRESS_FROM);
    let got = client.send_queue_events(&batch).await.expect("delivered");
    assert_eq!(
        got,
        QueueEventsAccepted {
            stored: 100,
            duplicates: 0
        }
    );
    assert!(
        log.text()
            .lines()
            .any(|l| l.contains("gzip request body decoded") && l.contains("/v1/queue/events")),
        "the batch did not arrive gzip-compressed: {}",
        log.text()
    );
    let got = client
        .send_queue_events(&batch)
        .await
        .expect("delivered again");
    assert_eq!((got.stored, got.duplicates), (0, 100));

    let mut bad = QueueEventBatch {
        events: vec![issued(101), issued(102)],
    };
    bad.events[1].kind = "served".into();
    match client.send_queue_events(&bad).await {
        Err(GatewayError::Status {
            status,
            code,
            message,
            ..
        }) => {
            assert_eq!((status, code.as_str()), (400, "invalid_event"));
            assert!(
                message.contains("event 1") && message.contains("served"),
                "{message}"
            );
        }
        other => panic!("a bad batch was not refused: {other:?}"),
    }
    // Nothing of the refused batch was stored: its good event is new now.
    let got = client
        .send_queue_events(&QueueEventBatch {
            events: vec![issued(101)],
        })
        .await
        .expect("delivered");
    assert_eq!((got.stored, got.duplicates), (1, 0));
    gateway.shutdown().await;
}
