//! Provisioning's link steps against a real TLS server on loopback: the CA is fetched without
//! verification and trusted only when it matches the setup code's fingerprint; the key pair is
//! made before the first request and kept, so the retry after a failure asks for the same key;
//! the gateway's refusals are said in a technician's words.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{authority, serve, serve_provisioning, Answer, DEVICE, SITE};
use motcua_identity::setup_code::SetupCode;
use motcua_uplink::provision::{enrol_with_token, fetch_ca};
use motcua_uplink::{IdentityFiles, ProvisionError};

const TIMEOUT: Duration = Duration::from_secs(10);

fn code(url: &str, ca_sha256: &str) -> SetupCode {
    SetupCode {
        gateway_url: url.into(),
        ca_sha256: ca_sha256.into(),
        site: SITE.into(),
        device_id: DEVICE.into(),
        token: "token".into(),
        expires_at: i64::MAX,
        profile: "commune-desk".into(),
        profile_sha256: "00".repeat(32),
    }
}

#[tokio::test]
async fn the_ca_is_trusted_only_when_it_matches_the_code() {
    let ca = authority("province CA");
    let server = serve(&ca, &["127.0.0.1"], None, Answer::Normal).await;
    let fingerprint = motcua_identity::certificate_fingerprint(ca.cert_pem()).unwrap();
    let anchor = fetch_ca(&server.url(), &fingerprint.to_uppercase(), TIMEOUT)
        .await
        .expect("the matching CA");
    assert_eq!(anchor.fingerprint(), fingerprint);

    let other = authority("someone else's CA");
    let theirs = motcua_identity::certificate_fingerprint(other.cert_pem()).unwrap();
    let err = fetch_ca(&server.url(), &theirs, TIMEOUT).await.unwrap_err();
    assert!(matches!(err, ProvisionError::CaMismatch { .. }), "{err}");
    assert!(
        err.to_string().starts_with(
            "mã không khớp CA của tỉnh / the gateway's CA does not match the setup code"
        ),
        "{err}"
    );
    let err = fetch_ca("http://127.0.0.1:9", &theirs, TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
}

#[tokio::test]
async fn a_retry_after_a_failure_asks_for_the_same_key_pair() {
    let ca = authority("province CA");
    let dir = tempfile::tempdir().unwrap();
    let files = IdentityFiles::in_data_dir(dir.path());
    let anchor = common::anchor(&ca);
    let fingerprint = anchor.fingerprint().to_owned();

    // The gateway refuses (another kiosk used the token): words for the technician, the key
    // pair kept, nothing else saved.
    let refusing = serve_provisioning(&ca, Answer::Status("409 Conflict", "token_used")).await;
    let err = enrol_with_token(
        &code(&refusing.url(), &fingerprint),
        &anchor,
        &files,
        TIMEOUT,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Some("token_used"));
    assert!(
        err.to_string().contains(
            "mã này đã được dùng cho ki-ốt khác / this code was already used by another kiosk"
        ),
        "{err}"
    );
    let pending = files.pending_key().unwrap().expect("the key pair is kept");
    let path = files.dir().join("device.pending.key");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!files.is_enrolled());

    // The retry: a certificate for the same key, saved with the CA; the pending key dropped.
    let server = serve_provisioning(&ca, Answer::Normal).await;
    let outcome = enrol_with_token(&code(&server.url(), &fingerprint), &anchor, &files, TIMEOUT)
        .await
        .expect("provisioned");
    assert_eq!(outcome.peer.name, DEVICE);
    assert_eq!(outcome.provisioned.blocks.len(), 1);
    assert!(files.is_enrolled());
    let device = std::fs::read_to_string(files.device_path()).unwrap();
    assert!(
        device.starts_with(pending.trim_end()),
        "device.pem holds the kept key"
    );
    assert!(files.pending_key().unwrap().is_none());
    let first = &refusing.csrs.lock().unwrap().clone();
    assert!(first.is_empty(), "the refusing server signs nothing");
    assert_eq!(server.csrs.lock().unwrap().len(), 1);
}

/// A peer answering the unverified CA fetch (or any request) with an endless body: the kiosk
/// reads no more than its cap and says so, instead of filling its memory.
#[tokio::test]
async fn an_endless_answer_is_cut_at_the_cap() {
    let ca = authority("province CA");
    let server = serve(&ca, &["127.0.0.1"], None, Answer::Endless).await;
    let fingerprint = motcua_identity::certificate_fingerprint(ca.cert_pem()).unwrap();
    let err = fetch_ca(&server.url(), &fingerprint, TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("larger than a certificate"),
        "{err}"
    );
}
