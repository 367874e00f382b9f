//! The uplink over TLS against a real TLS server on loopback: only a server the province's CA
//! certified is spoken to, an untrusted one's "acknowledgement" is never read, failures are
//! said in words, certificate refusals wait for a technician, and renewal replaces the device's
//! certificate and the client that presents it.

mod common;

use std::time::Duration;

use common::{anchor, authority, enrol_files, serve, Answer, DEVICE, SITE};
use motcua_domain::dossier::SequenceRange;
use motcua_store::{vietnam_now, DeviceIdentity, Store};
use motcua_uplink::{DeviceLink, GatewayClient, GatewayError, LinkStatus, Uplink, UplinkSettings};

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

/// A kiosk store holding one queued ticket (an outbox entry to deliver).
fn store_with_a_ticket(dir: &std::path::Path) -> Store {
    let mut store = Store::open(dir, 0).unwrap();
    let device = DeviceIdentity {
        id: DEVICE.into(),
        agency_code: SITE.into(),
        sequence: Some(SequenceRange { first: 1, last: 99 }),
    };
    store.issue_ticket(&device, "TP", vietnam_now()).unwrap();
    assert_eq!(store.outbox_status().unwrap().pending, 1);
    store
}

/// One delivery attempt of the kiosk's uplink against `url`; returns the outbox afterwards.
async fn attempt(
    data: &std::path::Path,
    url: &str,
    status: &LinkStatus,
) -> motcua_store::OutboxStatus {
    let files = motcua_uplink::IdentityFiles::in_data_dir(data);
    let link = DeviceLink::open(files, url, Duration::from_secs(10)).unwrap();
    let store = store_with_a_ticket(data);
    let mut uplink = Uplink::new(store, link, settings(url)).with_status(status.clone());
    assert!(
        uplink.turn().await.unwrap(),
        "there was an entry to attempt"
    );
    Store::open(data, 0).unwrap().outbox_status().unwrap()
}

#[tokio::test]
async fn the_provinces_gateway_acknowledges_over_mutual_tls() {
    // The control for the tests below: this server does answer 201 with the key.
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Normal).await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let status = LinkStatus::default();
    let outbox = attempt(data.path(), &server.url(), &status).await;
    assert_eq!((outbox.pending, outbox.delivered), (0, 1), "{outbox:?}");
    assert_eq!(server.requests(), ["POST /v1/tickets"]);
    assert_eq!(status.line(), None);
}

#[tokio::test]
async fn an_untrusted_server_answering_201_is_not_an_acknowledgement() {
    let province = authority("CA tỉnh A");
    let impostor = authority("CA lạ / another CA");
    // It would acknowledge anything, and does not even ask for a client certificate.
    let server = serve(&impostor, &["127.0.0.1"], None, Answer::Normal).await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &province);
    let status = LinkStatus::default();
    let outbox = attempt(data.path(), &server.url(), &status).await;
    assert_eq!((outbox.pending, outbox.delivered), (1, 0), "{outbox:?}");
    assert!(server.requests().is_empty(), "no request reached it");
    let error = outbox.last_error.expect("the failure is recorded");
    assert!(error.contains("not signed by the province's CA"), "{error}");
    assert!(error.contains("may not be the real gateway"), "{error}");
    assert!(error.contains("nothing was delivered"), "{error}");
    assert!(!error.contains("CẦN KỸ THUẬT VIÊN"), "retryable: {error}");
    let line = status.line().expect("the status line shows it");
    assert!(
        line.starts_with("máy chủ không đáng tin / untrusted server"),
        "{line}"
    );
}

#[tokio::test]
async fn a_certificate_for_another_host_name_is_untrusted() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["gateway.example"], Some(ca.clone()), Answer::Normal).await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let client = GatewayClient::new(
        &server.url(),
        &anchor(&ca),
        Some(
            &motcua_uplink::IdentityFiles::in_data_dir(data.path())
                .device()
                .unwrap(),
        ),
        Duration::from_secs(10),
    )
    .unwrap();
    let err = client
        .ingest("/v1/tickets", "k-1", &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(err.is_untrusted(), "{err}");
    assert!(
        err.to_string().contains("not for the name 127.0.0.1"),
        "{err}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_revoked_certificate_keeps_entries_pending_and_asks_for_re_enrolment() {
    let ca = authority("CA tỉnh A");
    let server = serve(
        &ca,
        &["127.0.0.1"],
        Some(ca.clone()),
        Answer::Refuse("certificate_revoked"),
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let status = LinkStatus::default();
    let outbox = attempt(data.path(), &server.url(), &status).await;
    assert_eq!((outbox.pending, outbox.delivered), (1, 0));
    let error = outbox.last_error.unwrap();
    assert!(
        error.starts_with(
            "chứng thư bị thu hồi / certificate revoked: a technician must re-enrol this kiosk"
        ),
        "{error}"
    );
    assert!(status
        .line()
        .unwrap()
        .starts_with("chứng thư bị thu hồi / certificate revoked"));
    // Retried slowly: the entry is not due again within the normal backoff.
    let store = Store::open(data.path(), 0).unwrap();
    let next = store.next_due_at().unwrap().unwrap();
    assert!(
        next >= chrono::Utc::now().timestamp_millis() + 60_000,
        "the next attempt waits the longest delay"
    );
}

#[tokio::test]
async fn a_kiosk_certificate_from_another_ca_is_refused_at_the_handshake() {
    let province = authority("CA tỉnh A");
    let other = authority("CA tỉnh B");
    let server = serve(
        &province,
        &["127.0.0.1"],
        Some(province.clone()),
        Answer::Normal,
    )
    .await;
    let data = tempfile::tempdir().unwrap();
    let (files, _) = enrol_files(data.path(), &other);
    // It trusts the province's gateway but holds a certificate from elsewhere.
    files.save_anchor(&anchor(&province)).unwrap();
    let link = DeviceLink::open(files, &server.url(), Duration::from_secs(10)).unwrap();
    let err = link
        .client()
        .ingest("/v1/tickets", "k-1", &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(err.is_certificate_refused(), "{err}");
    assert!(
        err.to_string()
            .contains("a technician must re-enrol this kiosk"),
        "{err}"
    );
    assert!(server.requests().is_empty(), "{err}");
}

#[tokio::test]
async fn plain_http_is_refused_before_anything_is_sent() {
    let ca = authority("CA tỉnh A");
    let err = GatewayClient::new(
        "http://127.0.0.1:8700",
        &anchor(&ca),
        None,
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(err, GatewayError::Setup { .. }), "{err}");
    assert!(err.to_string().contains("https:// only"), "{err}");
}

#[tokio::test]
async fn renewal_when_due_makes_a_new_key_saves_it_and_uses_it() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Normal).await;
    let data = tempfile::tempdir().unwrap();
    let (files, first) = enrol_files(data.path(), &ca);
    let old_file = std::fs::read_to_string(files.device_path()).unwrap();
    let mut link = DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10)).unwrap();

    // A fresh certificate is not due: nothing is asked.
    let now = chrono::Utc::now().timestamp();
    assert!(link.renew_if_due(now).await.unwrap().is_none());
    assert!(server.requests().is_empty());

    // In the last third of its life it is.
    let late = first.not_after - 60;
    let renewed = link.renew_if_due(late).await.unwrap().expect("renewed");
    assert_ne!(renewed.serial, first.serial);
    assert_eq!(
        (renewed.name.as_str(), renewed.site.as_deref()),
        (DEVICE, Some(SITE))
    );
    assert_eq!(server.requests(), ["POST /v1/devices/renew"]);
    let new_file = std::fs::read_to_string(files.device_path()).unwrap();
    assert_ne!(new_file, old_file);
    let old_key = old_file.split("-----END PRIVATE KEY-----").next().unwrap();
    assert!(!new_file.starts_with(old_key), "a new key pair");
    assert_eq!(files.device().unwrap().peer().serial, renewed.serial);

    // The client now presents the new certificate.
    link.client()
        .ingest("/v1/tickets", "k-2", &serde_json::json!({}))
        .await
        .expect("acknowledged with the new certificate");
    assert_eq!(link.peer().serial, renewed.serial);
}

#[tokio::test]
async fn a_device_file_replaced_beside_a_running_link_is_picked_up() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Normal).await;
    let data = tempfile::tempdir().unwrap();
    let (files, first) = enrol_files(data.path(), &ca);
    let mut running =
        DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10)).unwrap();
    assert!(!running.reload_if_changed().unwrap(), "nothing changed yet");
    // `kioskctl identity renew` in another process.
    let mut tool = DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10)).unwrap();
    let renewed = tool.renew_now().await.unwrap();
    assert!(running.reload_if_changed().unwrap());
    assert_eq!(running.peer().serial, renewed.serial);
    assert_ne!(running.peer().serial, first.serial);
}

#[tokio::test]
async fn a_server_speaking_no_tls_is_said_to_be_so() {
    // Plain HTTP on the gateway's port (a misconfigured proxy, an old gateway).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let ca = authority("CA tỉnh A");
    let client = GatewayClient::new(
        &format!("https://{addr}"),
        &anchor(&ca),
        None,
        Duration::from_secs(10),
    )
    .unwrap();
    let err = client
        .ingest("/v1/tickets", "k-1", &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
}

/// Replaces `device.pem` the way a careless hand would: a file that is no key pair.
fn replace_with_garbage(files: &motcua_uplink::IdentityFiles) {
    let tmp = files.dir().join("garbage.tmp");
    std::fs::write(&tmp, "-----BEGIN PRIVATE KEY-----\nnot a key\n").unwrap();
    std::fs::rename(&tmp, files.device_path()).unwrap();
}

#[tokio::test]
async fn an_unusable_replaced_device_file_is_reported_once_and_a_later_good_one_is_taken() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Normal).await;
    let data = tempfile::tempdir().unwrap();
    let (files, first) = enrol_files(data.path(), &ca);
    let mut link = DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10)).unwrap();

    replace_with_garbage(&files);
    let err = link.reload_if_changed().unwrap_err();
    assert!(err.to_string().contains("no private key"), "{err}");
    // The same file again: no second error (the uplink warns at every turn it gets one).
    for _ in 0..3 {
        assert!(!link.reload_if_changed().unwrap(), "not read again");
    }
    assert_eq!(link.peer().serial, first.serial, "the loaded one stays");
    let problem = link.reload_problem().expect("kept for the status line");
    assert!(problem.contains("not usable"), "{problem}");

    // Through the uplink: the status line says it, and deliveries go on with the loaded one.
    let store = store_with_a_ticket(data.path());
    let status = LinkStatus::default();
    let mut uplink = Uplink::new(store, link, settings(&server.url())).with_status(status.clone());
    assert!(uplink.turn().await.unwrap());
    let line = status.line().expect("the problem is shown");
    assert!(
        line.contains("the replaced device certificate is not usable"),
        "{line}"
    );
    let outbox = Store::open(data.path(), 0)
        .unwrap()
        .outbox_status()
        .unwrap();
    assert_eq!(outbox.delivered, 1, "{outbox:?}");

    // A usable file later is taken, and the problem goes.
    let key = motcua_identity::DeviceKey::generate(DEVICE, SITE).unwrap();
    let issued = ca
        .sign_device(&key.csr_pem, DEVICE, SITE, common::YEAR)
        .unwrap();
    let saved = files.save_device(&key.key_pem, &issued.cert_pem).unwrap();
    assert!(!uplink.turn().await.unwrap(), "nothing left to deliver");
    assert_eq!(uplink.link().peer().serial, saved.peer().serial);
    assert_eq!(uplink.link().reload_problem(), None);
    assert_eq!(status.line(), None);
}

#[tokio::test]
async fn a_renewal_keeps_the_previous_pair_until_the_new_certificate_has_been_used() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Normal).await;
    let data = tempfile::tempdir().unwrap();
    let (files, first) = enrol_files(data.path(), &ca);
    let old_file = std::fs::read_to_string(files.device_path()).unwrap();

    // `kioskctl identity renew` beside a running kioskd.
    let mut tool = DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10)).unwrap();
    let renewed = tool.renew_now().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(files.previous_path()).unwrap(),
        old_file,
        "the replaced pair is kept"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(files.previous_path()).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(tool.previous().map(|p| &p.serial), Some(&first.serial));

    let daemon = DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10)).unwrap();
    assert_eq!(daemon.peer().serial, renewed.serial);
    assert_eq!(daemon.previous().map(|p| &p.serial), Some(&first.serial));

    // The first delivery with the new certificate confirms it: the old pair goes.
    let store = store_with_a_ticket(data.path());
    let mut uplink = Uplink::new(store, daemon, settings(&server.url()));
    assert!(uplink.turn().await.unwrap());
    let outbox = Store::open(data.path(), 0)
        .unwrap()
        .outbox_status()
        .unwrap();
    assert_eq!(outbox.delivered, 1, "{outbox:?}");
    assert!(
        !files.previous_path().exists(),
        "forgotten after its first use"
    );
    assert_eq!(uplink.link().previous(), None);
    assert_eq!(uplink.link().peer().serial, renewed.serial);
}

#[tokio::test]
async fn a_gateway_not_knowing_the_renewed_certificate_gets_the_previous_one_again() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::ForgetRenewed).await;
    let data = tempfile::tempdir().unwrap();
    let (files, first) = enrol_files(data.path(), &ca);
    let old_file = std::fs::read_to_string(files.device_path()).unwrap();
    let mut link = DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10)).unwrap();
    let renewed = link
        .renew_if_due(first.not_after - 60)
        .await
        .unwrap()
        .expect("renewed");

    let store = store_with_a_ticket(data.path());
    let status = LinkStatus::default();
    let mut uplink = Uplink::new(store, link, settings(&server.url())).with_status(status.clone());
    assert!(uplink.turn().await.unwrap());
    // Refused for the new certificate: back to the old pair, in use and in device.pem.
    let outbox = Store::open(data.path(), 0)
        .unwrap()
        .outbox_status()
        .unwrap();
    assert_eq!((outbox.pending, outbox.delivered), (1, 0), "{outbox:?}");
    let error = outbox.last_error.unwrap_or_default();
    assert!(
        error.starts_with(
            "cổng không biết chứng thư mới / the gateway does not know the renewed certificate"
        ),
        "{error}"
    );
    assert!(error.contains(&renewed.serial), "{error}");
    assert!(!error.contains("re-enrol"), "no technician needed: {error}");
    assert_eq!(uplink.link().peer().serial, first.serial);
    assert_eq!(
        std::fs::read_to_string(files.device_path()).unwrap(),
        old_file
    );
    assert!(!files.previous_path().exists());
    assert_eq!(uplink.link().previous(), None);
    let problem = uplink
        .link()
        .renewal_problem()
        .expect("said on the status line");
    assert!(
        problem.contains("does not know the renewed certificate"),
        "{problem}"
    );
    assert!(status
        .line()
        .unwrap()
        .contains("does not know the renewed certificate"));
    // Retried as usual, not after the longest delay a technician's problem gets.
    let next = Store::open(data.path(), 0)
        .unwrap()
        .next_due_at()
        .unwrap()
        .unwrap();
    assert!(
        next < chrono::Utc::now().timestamp_millis() + 60_000,
        "retried soon"
    );
    // And the old certificate is accepted.
    uplink
        .link()
        .client()
        .ingest("/v1/tickets", "k-old", &serde_json::json!({}))
        .await
        .expect("the previous certificate works");
}

/// The province's own gateway answering without end (a broken proxy in front of it): the
/// kiosk reads no more than 1 MiB of a JSON answer and reports it, and keeps nothing of it.
#[tokio::test]
async fn an_endless_json_answer_is_cut_at_the_cap() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Endless).await;
    let data = tempfile::tempdir().unwrap();
    enrol_files(data.path(), &ca);
    let files = motcua_uplink::IdentityFiles::in_data_dir(data.path());
    let link = DeviceLink::open(files, &server.url(), Duration::from_secs(10)).unwrap();
    let err = link.client().remote_actions().await.unwrap_err();
    assert!(
        err.to_string().contains("larger than this kiosk reads"),
        "{err}"
    );
}
