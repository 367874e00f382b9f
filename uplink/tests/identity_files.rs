//! The kiosk's identity files: what enrolment writes, with which modes, how a renewal replaces
//! them, and what a file that does not belong is refused for.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{authority, enrol_files, DEVICE, SITE, YEAR};
use motcua_domain::wire::DeviceCertificate;
use motcua_identity::DeviceKey;
use motcua_uplink::identity::{check_issued, device_pem};
use motcua_uplink::{DeviceCredential, IdentityFileError, IdentityFiles, TrustAnchor};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn enrolled_files_round_trip_with_private_modes() {
    let data = tempfile::tempdir().unwrap();
    let ca = authority("CA tỉnh A");
    let files = IdentityFiles::in_data_dir(data.path());
    assert!(!files.is_enrolled());
    assert!(matches!(
        files.device(),
        Err(IdentityFileError::NotEnrolled { .. })
    ));

    let (files, peer) = enrol_files(data.path(), &ca);
    assert!(files.is_enrolled());
    assert_eq!(files.dir(), data.path().join("identity"));
    assert_eq!(mode(files.dir()), 0o700, "the identity folder");
    assert_eq!(mode(&files.device_path()), 0o600, "key and certificate");

    let loaded = files.device().expect("device.pem loads");
    assert_eq!(loaded.peer(), &peer);
    assert_eq!(peer.name, DEVICE);
    assert_eq!(peer.site.as_deref(), Some(SITE));
    let text = std::fs::read_to_string(files.device_path()).unwrap();
    assert!(
        text.contains("PRIVATE KEY") && text.contains("CERTIFICATE"),
        "one file holds both"
    );
    assert_eq!(
        files.anchor().unwrap().fingerprint(),
        motcua_identity::certificate_fingerprint(ca.cert_pem()).unwrap()
    );
    assert!(
        !format!("{loaded:?}").contains("PRIVATE"),
        "no key in Debug"
    );
}

#[test]
fn a_renewal_replaces_key_and_certificate_together_and_leaves_no_temporary_file() {
    let data = tempfile::tempdir().unwrap();
    let ca = authority("CA tỉnh A");
    let (files, first) = enrol_files(data.path(), &ca);
    let key = DeviceKey::generate(DEVICE, SITE).unwrap();
    let issued = ca.sign_device(&key.csr_pem, DEVICE, SITE, YEAR).unwrap();
    let saved = files.save_device(&key.key_pem, &issued.cert_pem).unwrap();
    assert_ne!(saved.peer().serial, first.serial);
    assert_eq!(files.device().unwrap().peer().serial, saved.peer().serial);
    assert_eq!(
        std::fs::read_to_string(files.device_path()).unwrap(),
        device_pem(&key.key_pem, &issued.cert_pem)
    );
    assert_eq!(mode(&files.device_path()), 0o600);
    let names: Vec<String> = std::fs::read_dir(files.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["ca.crt", "device.pem"], "{names:?}");
}

#[test]
fn a_key_that_does_not_match_its_certificate_is_refused_and_the_old_pair_stays() {
    let data = tempfile::tempdir().unwrap();
    let ca = authority("CA tỉnh A");
    let (files, first) = enrol_files(data.path(), &ca);
    let other = DeviceKey::generate(DEVICE, SITE).unwrap();
    let wrong = DeviceKey::generate(DEVICE, SITE).unwrap();
    let issued = ca.sign_device(&other.csr_pem, DEVICE, SITE, YEAR).unwrap();
    let err = files
        .save_device(&wrong.key_pem, &issued.cert_pem)
        .expect_err("a mismatched pair");
    assert!(
        err.to_string()
            .contains("does not belong to the certificate"),
        "{err}"
    );
    assert_eq!(files.device().unwrap().peer().serial, first.serial);
    // Hand-edited files are refused for what they lack.
    let err = DeviceCredential::from_pem(&other.key_pem, "device.pem").unwrap_err();
    assert!(err.to_string().contains("no certificate"), "{err}");
    let err = DeviceCredential::from_pem(&issued.cert_pem, "device.pem").unwrap_err();
    assert!(err.to_string().contains("no private key"), "{err}");
    let err = TrustAnchor::from_pem("not a certificate", "ca.crt").unwrap_err();
    assert!(err.to_string().contains("ca.crt"), "{err}");
}

#[test]
fn an_issued_certificate_must_name_this_kiosk_and_come_from_its_ca() {
    let ca = authority("CA tỉnh A");
    let other_ca = authority("CA tỉnh B");
    let anchor = TrustAnchor::from_pem(ca.cert_pem(), "ca.crt").unwrap();
    let key = DeviceKey::generate(DEVICE, SITE).unwrap();
    let issue = |signer: &motcua_identity::Authority, id: &str, site: &str| {
        let issued = signer.sign_device(&key.csr_pem, id, site, YEAR).unwrap();
        DeviceCertificate {
            device_id: id.into(),
            site: site.into(),
            serial: issued.identity.serial,
            certificate_pem: issued.cert_pem,
            ca_pem: signer.cert_pem().into(),
            not_after: String::new(),
        }
    };
    assert!(check_issued(&issue(&ca, DEVICE, SITE), DEVICE, SITE, &anchor).is_ok());
    let e = check_issued(&issue(&ca, "KIOSK-OTHER", SITE), DEVICE, SITE, &anchor).unwrap_err();
    assert!(e.to_string().contains("KIOSK-OTHER"), "{e}");
    let e = check_issued(&issue(&ca, DEVICE, "000.00.00.X"), DEVICE, SITE, &anchor).unwrap_err();
    assert!(e.to_string().contains("agency code"), "{e}");
    let e = check_issued(&issue(&other_ca, DEVICE, SITE), DEVICE, SITE, &anchor).unwrap_err();
    assert!(e.to_string().contains("not from the province's CA"), "{e}");
}

#[test]
fn new_files_belong_to_the_owner_of_the_data_folder() {
    use std::os::unix::fs::MetadataExt;
    // kioskctl may run as root beside a kioskd running as the service user: what it writes
    // must be the service's. As root the data folder is handed to another user first; as
    // anyone else the folder is one's own and the files must be too.
    let data = tempfile::tempdir().unwrap();
    let nobody = 65_534;
    let handed = std::os::unix::fs::chown(data.path(), Some(nobody), Some(nobody)).is_ok();
    let owner = std::fs::metadata(data.path()).unwrap();
    assert!(!handed || owner.uid() == nobody);
    let ca = authority("CA tỉnh A");
    let (files, _) = enrol_files(data.path(), &ca);
    for path in [files.dir().to_owned(), files.device_path(), files.ca_path()] {
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (owner.uid(), owner.gid()),
            "{}",
            path.display()
        );
    }
    assert_eq!(mode(&files.device_path()), 0o600);
}
