//! The kiosk's hub client against a real TLS server on loopback (issue #18): the hub presents
//! a DEVICE certificate (the province's CA, client authentication only, no host name), which
//! the kiosk accepts only for its own site (and the hub's device id, when configured); the
//! kiosk presents its own device certificate, which the hub reads its id from. Every refusal is
//! said in words, and tells the kiosk whether to fall back to its block.

mod common;

use std::sync::{Arc, Mutex};

use common::{authority, enrol_files, DEVICE, SITE, YEAR};
use motcua_domain::wire::hub::{HubJoined, HubOfflineTicket, HubRefusal};
use motcua_identity::{Authority, DeviceKey, PeerIdentity};
use motcua_uplink::{HubClient, HubError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const HUB: &str = "KIOSK-T-HUB";

/// A hub on loopback: its certificate is a device certificate `ca` signed for `hub_id` at
/// `site`; it requires a client certificate of `client_ca` and answers as the contract says.
struct Hub {
    url: String,
    /// `METHOD PATH by <client device id>` of every request it read.
    seen: Arc<Mutex<Vec<String>>>,
}

async fn hub(ca: &Authority, hub_id: &str, site: &str, client_ca: &Authority) -> Hub {
    let key = DeviceKey::generate(hub_id, site).expect("a key");
    let issued = ca
        .sign_device(&key.csr_pem, hub_id, site, YEAR)
        .expect("a device certificate");
    serve(&issued.cert_pem, &key.key_pem, client_ca).await
}

async fn serve(cert_pem: &str, key_pem: &str, client_ca: &Authority) -> Hub {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("cert pem");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(client_ca.cert_pem().as_bytes()).expect("ca"))
        .expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, log) = (acceptor.clone(), log.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let peer = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| PeerIdentity::from_der(c).ok())
                    .map(|p| p.name)
                    .unwrap_or_default();
                let _ = answer(tls, peer, log).await;
            });
        }
    });
    Hub { url, seen }
}

async fn answer(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    peer: String,
    log: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let mut stream = BufReader::new(tls);
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        stream.read_line(&mut header).await?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    log.lock()
        .unwrap()
        .push(format!("{method} {path} by {peer}"));
    let (status, json) = match path.as_str() {
        "/v1/hub/join" => (
            "200 OK",
            serde_json::to_value(HubJoined {
                kiosk_id: peer.clone(),
                first: 9000,
                last: 9099,
            })
            .unwrap(),
        ),
        "/v1/hub/tickets" => {
            let asked: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let area = asked["area"].as_str().unwrap_or_default().to_owned();
            (
                "200 OK",
                serde_json::json!({
                    "ticket_id": format!("{area}-20261203-7@{peer}"),
                    "number": 7,
                    "area": area,
                    "issued_at": "2026-12-03T08:00:00+07:00",
                    "ahead": 2,
                    "counters_open": 1,
                    "wait": {"kind": "range", "band": {"low_minutes": 5, "high_minutes": 20}},
                }),
            )
        }
        "/v1/hub/offline-tickets" => {
            let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let ids: Vec<String> = sent["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    format!(
                        "{}-20261203-{}@{peer}",
                        t["area"].as_str().unwrap(),
                        t["number"]
                    )
                })
                .collect();
            ("200 OK", serde_json::json!({ "ticket_ids": ids }))
        }
        "/v1/hub/ratings" => (
            "409 Conflict",
            serde_json::to_value(HubRefusal {
                code: "already_rated".into(),
                message: "Vé đã được đánh giá / already rated".into(),
            })
            .unwrap(),
        ),
        _ => (
            "404 Not Found",
            serde_json::json!({"code": "bad_request", "message": "no"}),
        ),
    };
    let body = json.to_string();
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let inner = stream.get_mut();
    inner.write_all(head.as_bytes()).await?;
    inner.write_all(body.as_bytes()).await?;
    inner.flush().await?;
    inner.shutdown().await
}

/// The kiosk's hub client from its enrolled identity files (signed by `ca`).
fn kiosk_client(
    data: &std::path::Path,
    ca: &Authority,
    url: &str,
    hub_id: Option<&str>,
) -> HubClient {
    let (files, _) = enrol_files(data, ca);
    HubClient::new(
        url,
        &files.anchor().unwrap(),
        &files.device().unwrap(),
        hub_id,
    )
    .expect("a hub client")
}

#[tokio::test]
async fn the_hub_of_the_kiosks_own_site_is_spoken_to_and_sees_the_kiosks_certificate() {
    let ca = authority("CA tỉnh A");
    let server = hub(&ca, HUB, SITE, &ca).await;
    let data = tempfile::tempdir().unwrap();
    let client = kiosk_client(data.path(), &ca, &server.url, Some(HUB));
    let joined = client.join().await.expect("joined");
    assert_eq!(
        joined,
        HubJoined {
            kiosk_id: DEVICE.into(),
            first: 9000,
            last: 9099
        }
    );
    let ticket = client.issue("TP").await.expect("a ticket");
    assert_eq!(ticket.ticket_id, format!("TP-20261203-7@{DEVICE}"));
    let wait = ticket.wait.expect("a wait");
    assert_eq!(wait.label_vi(), "khoảng 5–20 phút");
    let recorded = client
        .report_offline(&[HubOfflineTicket {
            area: "TP".into(),
            number: 9000,
            issued_at: chrono::DateTime::parse_from_rfc3339("2026-12-03T09:00:00+07:00").unwrap(),
            rating_code: Some("00ff10aa00ff10aa".into()),
        }])
        .await
        .expect("recorded");
    assert_eq!(recorded.ticket_ids, [format!("TP-20261203-9000@{DEVICE}")]);
    let refused = client
        .rate("TP-20261203-7@X", Some("00ff10aa00ff10aa"), 1, 5)
        .await
        .unwrap_err();
    assert_eq!(refused.refusal_code(), Some("already_rated"));
    assert!(
        !refused.hub_unavailable(),
        "a refusal is shown, not a reason to fall back"
    );
    assert!(refused.to_string().contains("already rated"), "{refused}");
    assert_eq!(
        *server.seen.lock().unwrap(),
        [
            format!("POST /v1/hub/join by {DEVICE}"),
            format!("POST /v1/hub/tickets by {DEVICE}"),
            format!("POST /v1/hub/offline-tickets by {DEVICE}"),
            format!("POST /v1/hub/ratings by {DEVICE}"),
        ]
    );
}

#[tokio::test]
async fn a_device_of_another_site_is_not_taken_for_the_hub() {
    let ca = authority("CA tỉnh A");
    let server = hub(&ca, HUB, "000.17.22.H99", &ca).await;
    let data = tempfile::tempdir().unwrap();
    let client = kiosk_client(data.path(), &ca, &server.url, None);
    let e = client.join().await.unwrap_err();
    match &e {
        HubError::NotOurHub { detail, .. } => {
            assert!(
                detail.contains("000.17.22.H99") && detail.contains(SITE),
                "{detail}"
            )
        }
        other => panic!("expected not our hub, got {other:?}"),
    }
    assert!(e.to_string().contains("không phải máy chủ quầy"), "{e}");
    assert!(
        e.hub_unavailable(),
        "the kiosk numbers from its block instead"
    );
    assert!(
        server.seen.lock().unwrap().is_empty(),
        "nothing was sent to it"
    );
}

#[tokio::test]
async fn another_device_of_the_site_is_refused_when_the_hub_is_named() {
    let ca = authority("CA tỉnh A");
    let server = hub(&ca, "KIOSK-T-0002", SITE, &ca).await;
    let data = tempfile::tempdir().unwrap();
    let client = kiosk_client(data.path(), &ca, &server.url, Some(HUB));
    match client.join().await.unwrap_err() {
        HubError::NotOurHub { detail, .. } => {
            assert!(
                detail.contains("KIOSK-T-0002") && detail.contains(HUB),
                "{detail}"
            )
        }
        other => panic!("expected not our hub, got {other:?}"),
    }
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused() {
    let province = authority("CA tỉnh A");
    let impostor = authority("CA lạ / another CA");
    // Same names, wrong CA; it would accept the kiosk's certificate.
    let server = hub(&impostor, HUB, SITE, &province).await;
    let data = tempfile::tempdir().unwrap();
    let client = kiosk_client(data.path(), &province, &server.url, None);
    match client.issue("TP").await.unwrap_err() {
        HubError::NotOurHub { detail, .. } => {
            assert!(
                detail.contains("not signed by the province's CA"),
                "{detail}"
            )
        }
        other => panic!("expected not our hub, got {other:?}"),
    }
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_server_certificate_is_not_a_hubs() {
    // The gateway's kind of certificate (server authentication, a host name): not a device.
    let ca = authority("CA tỉnh A");
    let (cert, key) = ca.issue_server(&["127.0.0.1".into()], YEAR).unwrap();
    let server = serve(&cert, &key, &ca).await;
    let data = tempfile::tempdir().unwrap();
    let client = kiosk_client(data.path(), &ca, &server.url, None);
    assert!(matches!(
        client.join().await.unwrap_err(),
        HubError::NotOurHub { .. }
    ));
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_hub_says_so_and_means_fall_back() {
    let ca = authority("CA tỉnh A");
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let data = tempfile::tempdir().unwrap();
    let client = kiosk_client(data.path(), &ca, &format!("https://127.0.0.1:{port}"), None);
    let e = client.issue("TP").await.unwrap_err();
    assert!(matches!(e, HubError::Unreachable { .. }), "{e:?}");
    assert!(e.hub_unavailable());
    assert!(
        e.to_string().contains("không kết nối được máy chủ quầy"),
        "{e}"
    );
}

#[tokio::test]
async fn the_hub_is_reached_over_https_only() {
    let ca = authority("CA tỉnh A");
    let data = tempfile::tempdir().unwrap();
    let (files, _) = enrol_files(data.path(), &ca);
    let e = HubClient::new(
        "http://127.0.0.1:8710",
        &files.anchor().unwrap(),
        &files.device().unwrap(),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, HubError::Setup { .. }), "{e:?}");
}
