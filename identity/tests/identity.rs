//! The CA signs what it should and the names read back the way the gateway authorises by.

use std::time::Duration;

use motcua_identity::{certificate_fingerprint, Authority, DeviceKey, PeerIdentity, Role};

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn a_device_certificate_names_the_device_and_its_site_whatever_the_request_says() {
    let (ca, _key) = Authority::create("motcua test CA", DAY * 365).expect("CA");
    // The request claims another site: the CA writes the one the gateway decided.
    let device = DeviceKey::generate("KIOSK-01", "claimed.site").expect("key");
    let issued = ca
        .sign_device(&device.csr_pem, "KIOSK-01", "000.17.22.H56", DAY * 30)
        .expect("signed");
    let id = PeerIdentity::from_pem(&issued.cert_pem).expect("readable");
    assert_eq!(id.role, Role::Device);
    assert_eq!(id.name, "KIOSK-01");
    assert_eq!(id.site.as_deref(), Some("000.17.22.H56"));
    assert_eq!(id, issued.identity);
    assert_eq!(id.serial.len(), 32, "128-bit serial: {}", id.serial);
    assert!(id.not_after - id.not_before >= 30 * 86_400);
    assert!(!device.key_pem.contains("CERTIFICATE REQUEST"));
    assert!(
        format!("{device:?}").find("PRIVATE").is_none(),
        "Debug never shows the key"
    );
}

#[test]
fn a_tampered_request_is_refused() {
    let (ca, _) = Authority::create("motcua test CA", DAY).expect("CA");
    let device = DeviceKey::generate("KIOSK-01", "site").expect("key");
    let garbage = device.csr_pem.replace('A', "B");
    assert!(ca.sign_device(&garbage, "KIOSK-01", "site", DAY).is_err());
    assert!(ca
        .sign_device("not a request", "KIOSK-01", "site", DAY)
        .is_err());
}

#[test]
fn role_certificates_carry_their_role_and_no_site() {
    let (ca, _) = Authority::create("motcua test CA", DAY).expect("CA");
    for role in [Role::System, Role::Technician, Role::Auditor] {
        let (issued, key) = ca.issue_role(role, "Nguyễn Văn A", DAY).expect("issued");
        assert!(key.contains("PRIVATE KEY"));
        assert_eq!(issued.identity.role, role);
        assert_eq!(issued.identity.name, "Nguyễn Văn A");
        assert_eq!(issued.identity.site, None);
    }
    assert!(ca.issue_role(Role::Device, "x", DAY).is_err());
}

#[test]
fn a_reloaded_ca_signs_under_the_same_name_and_a_wrong_key_is_refused() {
    let (ca, key) = Authority::create("motcua test CA", DAY).expect("CA");
    let again = Authority::load(ca.cert_pem(), &key).expect("loads");
    let device = DeviceKey::generate("K", "S").expect("key");
    again
        .sign_device(&device.csr_pem, "K", "S", DAY)
        .expect("signs");
    let (_, other_key) = Authority::create("another CA", DAY).expect("CA");
    let err = Authority::load(ca.cert_pem(), &other_key).expect_err("mismatch");
    assert!(err.to_string().contains("does not belong"), "{err}");
    assert_eq!(
        certificate_fingerprint(ca.cert_pem()).expect("fp"),
        certificate_fingerprint(again.cert_pem()).expect("fp")
    );
}

#[test]
fn renewal_is_due_in_the_last_third_of_the_life() {
    let (ca, _) = Authority::create("motcua test CA", DAY).expect("CA");
    let device = DeviceKey::generate("K", "S").expect("key");
    let id = ca
        .sign_device(&device.csr_pem, "K", "S", Duration::from_secs(90))
        .expect("signed")
        .identity;
    let life = id.not_after - id.not_before;
    assert!(!id.renewal_due(id.not_before + life / 2));
    assert!(id.renewal_due(id.not_after - life / 3 + 1));
    assert!(id.renewal_due(id.not_after + 10));
}

#[test]
fn a_server_certificate_covers_names_and_addresses() {
    let (ca, _) = Authority::create("motcua test CA", DAY).expect("CA");
    let (cert, key) = ca
        .issue_server(&["localhost".into(), "127.0.0.1".into()], DAY)
        .expect("issued");
    assert!(cert.contains("BEGIN CERTIFICATE") && key.contains("PRIVATE KEY"));
    // A server certificate is not a peer identity (no role).
    assert!(PeerIdentity::from_pem(&cert).is_err());
    assert!(ca.issue_server(&[], DAY).is_err());
}

#[test]
fn a_huge_lifetime_is_clamped_to_the_far_future_instead_of_overflowing() {
    let (ca, key) = Authority::create("motcua test CA", Duration::from_secs(u64::MAX)).expect("CA");
    assert_eq!(ca.not_after(), motcua_identity::FAR_FUTURE_UNIX);
    let reloaded = Authority::load(ca.cert_pem(), &key).expect("reloaded");
    assert_eq!(reloaded.not_after(), motcua_identity::FAR_FUTURE_UNIX);
    let device = DeviceKey::generate("KIOSK-01", "site").expect("key");
    for lifetime in [
        Duration::from_secs(u64::MAX),
        Duration::from_secs(i64::MAX as u64),
    ] {
        let issued = ca
            .sign_device(&device.csr_pem, "KIOSK-01", "site", lifetime)
            .expect("signed");
        assert_eq!(issued.identity.not_after, motcua_identity::FAR_FUTURE_UNIX);
    }
    // An ordinary CA reports when it ends.
    let (short, _) = Authority::create("motcua test CA", DAY).expect("CA");
    let now = unix_now();
    assert!((now + 86_000..=now + 86_500).contains(&short.not_after()));
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A setup-code token is bound to the kiosk's key: two certificates of one key name the same
/// key digest (a retry after a lost answer), another key a different one.
#[test]
fn certificates_of_one_key_share_its_digest() {
    let (ca, _) = Authority::create("motcua test CA", DAY).expect("CA");
    let kiosk = DeviceKey::generate("KIOSK-01", "site").expect("key");
    let other = DeviceKey::generate("KIOSK-01", "site").expect("key");
    let sign = |k: &DeviceKey| {
        ca.sign_device(&k.csr_pem, "KIOSK-01", "site", DAY)
            .expect("signed")
            .cert_pem
    };
    let (first, again, foreign) = (sign(&kiosk), sign(&kiosk), sign(&other));
    assert_ne!(first, again);
    let digest = |pem: &str| motcua_identity::certificate_key_sha256(pem).expect("digest");
    assert_eq!(digest(&first), digest(&again));
    assert_ne!(digest(&first), digest(&foreign));
    assert_eq!(digest(&first).len(), 64);
    assert!(motcua_identity::certificate_key_sha256("not a certificate").is_err());
}
