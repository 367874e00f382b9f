//! kioskd's catching up with the centre's hub (issue #18), against a real TLS hub on loopback
//! presenting a device certificate of the kiosk's site: the join keeps the hub's block, the
//! tickets numbered from it while the hub was down are reported oldest first and marked once
//! the hub answered, and a hub that is down leaves them waiting for the next try. The
//! citizen's screen services take the hub's number and its wait range onto the slip, and
//! show the hub's refusal of a second rating.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeZone;
use motcua_identity::{Authority, DeviceKey, PeerIdentity};
use motcua_kiosk::hub_link;
use motcua_store::{HubBlock, Store};
use motcua_uplink::{HubClient, IdentityFiles, TrustAnchor};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const DEVICE: &str = "KIOSK-H56-0001";
const SITE: &str = "000.17.22.H56";
const DAY: Duration = Duration::from_secs(86_400);

/// A hub answering joins with 9300–9399 and recording offline tickets; returns its URL and
/// the bodies of the offline-ticket requests (with the kiosk named by its certificate).
async fn hub(ca: &Authority) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let key = DeviceKey::generate("KIOSK-H56-HUB", SITE).unwrap();
    let cert = ca
        .sign_device(&key.csr_pem, "KIOSK-H56-HUB", SITE, DAY)
        .unwrap();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs,
            PrivateKeyDer::from_pem_slice(key.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let reports = Arc::new(Mutex::new(Vec::new()));
    let seen = reports.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let kiosk = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| PeerIdentity::from_der(c).ok())
                    .map(|p| p.name)
                    .unwrap_or_default();
                let mut stream = BufReader::new(tls);
                let mut line = String::new();
                let _ = stream.read_line(&mut line).await;
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    if stream.read_line(&mut header).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim_end().to_ascii_lowercase();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(v) = header.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = stream.read_exact(&mut body).await;
                let mut status = "200 OK";
                let answer = if line.contains("/v1/hub/join") {
                    serde_json::json!({"kiosk_id": kiosk, "first": 9300, "last": 9399})
                } else if line.contains("/v1/hub/tickets") {
                    let asked: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let area = asked["area"].as_str().unwrap_or_default().to_owned();
                    serde_json::json!({
                        "ticket_id": format!("{area}-20261203-7@{kiosk}"),
                        "number": 7,
                        "area": area,
                        "issued_at": "2026-12-03T09:00:00+07:00",
                        "ahead": 2,
                        "counters_open": 1,
                        "wait": {"kind": "range", "band": {"low_minutes": 5, "high_minutes": 20}},
                    })
                } else if line.contains("/v1/hub/ratings") {
                    status = "409 Conflict";
                    serde_json::json!({"code": "already_rated", "message": "đã đánh giá / already rated"})
                } else {
                    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let ids: Vec<String> = sent["tickets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| format!("{}-x-{}@{kiosk}", t["area"], t["number"]))
                        .collect();
                    seen.lock()
                        .unwrap()
                        .push(serde_json::json!({"by": kiosk, "sent": sent}));
                    serde_json::json!({ "ticket_ids": ids })
                };
                let body = answer.to_string();
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let inner = stream.get_mut();
                let _ = inner.write_all(head.as_bytes()).await;
                let _ = inner.write_all(body.as_bytes()).await;
                let _ = inner.shutdown().await;
            });
        }
    });
    (url, reports)
}

fn client(data: &std::path::Path, ca: &Authority, url: &str) -> HubClient {
    let files = IdentityFiles::in_data_dir(data);
    let key = DeviceKey::generate(DEVICE, SITE).unwrap();
    let issued = ca.sign_device(&key.csr_pem, DEVICE, SITE, DAY).unwrap();
    files
        .save_anchor(&TrustAnchor::from_pem(ca.cert_pem(), "test CA").unwrap())
        .unwrap();
    files.save_device(&key.key_pem, &issued.cert_pem).unwrap();
    HubClient::new(
        url,
        &files.anchor().unwrap(),
        &files.device().unwrap(),
        None,
    )
    .unwrap()
}

fn at(h: u32) -> chrono::DateTime<chrono::FixedOffset> {
    motcua_domain::vietnam_offset()
        .with_ymd_and_hms(2026, 12, 3, h, 0, 0)
        .unwrap()
}

#[tokio::test]
async fn offline_tickets_reach_the_hub_once_it_answers_and_are_marked() {
    let (ca, _) = Authority::create("CA tỉnh", DAY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), 0).unwrap();

    // The hub is down: nothing can be joined or reported, nothing is lost.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = client(dir.path(), &ca, &format!("https://127.0.0.1:{port}"));
    assert!(hub_link::join(&down, &mut store).await.is_err());
    assert_eq!(store.hub_block().unwrap(), None);

    let (url, reports) = hub(&ca).await;
    let up = client(dir.path(), &ca, &url);
    let block = hub_link::join(&up, &mut store).await.unwrap();
    assert_eq!(
        block,
        HubBlock {
            first: 9300,
            last: 9399
        }
    );
    assert_eq!(store.hub_block().unwrap(), Some(block));
    store.issue_offline_ticket(DEVICE, "TP", at(10)).unwrap();
    store.issue_offline_ticket(DEVICE, "HT", at(9)).unwrap();
    store.issue_offline_ticket(DEVICE, "TP", at(11)).unwrap();

    // Down again: the report fails and the tickets wait.
    assert!(hub_link::report_offline(&down, &mut store, DEVICE)
        .await
        .is_err());
    assert_eq!(
        store.unreported_offline_tickets(DEVICE, 10).unwrap().len(),
        3
    );

    // Back: all three, oldest first, then marked; a second round sends nothing.
    assert_eq!(
        hub_link::report_offline(&up, &mut store, DEVICE)
            .await
            .unwrap(),
        3
    );
    assert!(store
        .unreported_offline_tickets(DEVICE, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        hub_link::report_offline(&up, &mut store, DEVICE)
            .await
            .unwrap(),
        0
    );
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["by"], DEVICE);
    let sent: Vec<(String, u64)> = reports[0]["sent"]["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["area"].as_str().unwrap().to_owned(),
                t["number"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("HT".into(), 9300),
            ("TP".into(), 9300),
            ("TP".into(), 9301)
        ]
    );
}

#[test]
fn the_screen_prints_the_hubs_number_and_wait_and_shows_its_refusal_of_a_rating() {
    use motcua_flows::rating::{RatingEffect, RatingEvent};
    use motcua_flows::session::{Effect, Event};
    use motcua_flows::ticket::{TicketEffect, TicketEvent};
    use motcua_printer::emulator::{read_png, Emulator, EmulatorConfig};

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (ca, _) = Authority::create("CA tỉnh", DAY).unwrap();
    let (url, _) = rt.block_on(hub(&ca));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _ = client(&data, &ca, &url);
    let mut printer_config = EmulatorConfig::new(dir.path().join("printer"));
    printer_config.pty = false;
    let printer = Emulator::start(printer_config).unwrap();
    let text = format!(
        "[device]\nid = \"{DEVICE}\"\nagency_code = \"{SITE}\"\nsequence_first = 1\nsequence_last = 4999\n\n[store]\ndata_dir = \"{}\"\nmin_free_mb = 0\n\n[gateway]\nurl = \"https://127.0.0.1:9/\"\n\n[printer]\ntransport = \"tcp\"\naddress = \"{}\"\npaper_mm = 80\n\n[hub]\nurl = \"{url}\"\ndevice_id = \"KIOSK-H56-HUB\"\n",
        data.display(),
        printer.tcp_addr().unwrap(),
    );
    let config = motcua_kiosk::config::KioskConfig::parse(&text, "kiosk.toml").unwrap();
    let mut services = motcua_kiosk::touch::services::Services::new(
        config.clone(),
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .unwrap()
    .with_clock(|| at(9));
    let area = config.screen.areas[0].area.clone();
    let mut events = Vec::new();
    services.execute(
        Effect::Ticket(TicketEffect::Issue(area.clone())),
        &mut |e| {
            if let Event::Ticket(t) = e {
                events.push(t);
            }
        },
    );
    let ticket = match &events[..] {
        [TicketEvent::Issued(t), TicketEvent::Printed(Ok(()))] => t.clone(),
        other => panic!("expected the hub's ticket printed, got {other:?}"),
    };
    assert_eq!(ticket.number, 7);
    assert!(!ticket.offline);
    assert_eq!(
        ticket.ticket_id,
        format!("{}-20261203-7@{DEVICE}", area.code)
    );
    let content = services.ticket_content(&ticket);
    assert_eq!(content.waiting, Some(2));
    assert_eq!(
        content.wait_text,
        Some(("khoảng 5–20 phút".into(), "about 5–20 min".into()))
    );
    assert_eq!(content.notice, None);
    assert_eq!(
        content.qr_payload.as_deref(),
        Some(ticket.ticket_id.as_str())
    );
    let pages = printer.wait_for_pages(1, Duration::from_secs(20));
    let printed = read_png(&pages[0]).unwrap();
    let settings = config.peripherals.printer.as_ref().unwrap();
    let expected = motcua_printer::Renderer::new(&settings.fonts)
        .unwrap()
        .ticket(&content, settings.paper)
        .unwrap();
    assert!(
        printed.rows(0, expected.height()) == expected.rows(0, expected.height())
            && printed.black_dots() == expected.black_dots(),
        "the slip printed is the hub's ticket"
    );
    // The kiosk reached the hub without a block: it joined on the way.
    let store = Store::open(&data, 0).unwrap();
    assert_eq!(
        store.hub_block().unwrap(),
        Some(HubBlock {
            first: 9300,
            last: 9399
        })
    );

    let mut saved = None;
    services.execute(
        Effect::Rating(RatingEffect::Rate {
            transaction: ticket.ticket_id.clone(),
            level: 1,
        }),
        &mut |e| {
            if let Event::Rating(RatingEvent::Saved(r)) = e {
                saved = Some(r);
            }
        },
    );
    let refused = saved.expect("an answer").unwrap_err();
    assert!(refused.vi.contains("đã được đánh giá"), "{refused:?}");
    assert!(refused.en.contains("already rated"), "{refused:?}");
    // Neither the ticket nor the refused rating went to the gateway outbox.
    assert_eq!(store.outbox_status().unwrap().pending, 0);
}
