//! When kioskd asks the root updater for an install: a verified download (its manifest signed
//! by the configured release key) in the real spool, a real SQLite store that passes
//! `quick_check`, and the request file written atomically only inside the maintenance window,
//! with no citizen session or intake open and nothing pending for the updater.

use chrono::{DateTime, Utc};
use motcua_domain::release::ReleaseManifest;
use motcua_domain::update::UpdateRequest;
use motcua_identity::release::{ReleaseKey, TrustedReleaseKey};
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::update::{care, Spool};
use sha2::{Digest, Sha256};

const VERSION: &str = "0.2.0-1";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

struct Kiosk {
    _dir: tempfile::TempDir,
    config: KioskConfig,
    spool: Spool,
    key: TrustedReleaseKey,
}

/// A kiosk whose config trusts `signer`'s public key, with a store and a download of
/// `VERSION` whose manifest `signer` sealed.
fn kiosk(signer: &ReleaseKey, trusted: &ReleaseKey) -> Kiosk {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pub_file = dir.path().join("release.pub");
    std::fs::write(&pub_file, format!("# test\n{}\n", trusted.public_key())).unwrap();
    let text = format!(
        "[device]\nid = \"KIOSK-H56-0001\"\nagency_code = \"000.17.22.H56\"\nsequence_first = 1\nsequence_last = 99\n\n\
         [store]\ndata_dir = \"{}\"\n\n[gateway]\nurl = \"https://127.0.0.1:8700\"\n\n\
         [update]\nrelease_public_key_file = \"{}\"\nmaintenance_window = \"01:00-05:00\"\n",
        data.display(),
        pub_file.display()
    );
    let config = KioskConfig::parse(&text, "kiosk.toml").expect("config");
    motcua_store::Store::open(&data, 0).expect("store");
    let spool = Spool::of(&data);
    let downloads = spool.downloads();
    std::fs::create_dir_all(&downloads).unwrap();
    let package = b"not really a deb, the updater checks it again".to_vec();
    let manifest = ReleaseManifest {
        package: "motcua-kiosk".into(),
        version: VERSION.into(),
        sha256: hex::encode(Sha256::digest(&package)),
        size: package.len() as u64,
        min_from_version: None,
        waves: "100%@0h".parse().unwrap(),
        published_at: 0,
    };
    std::fs::write(downloads.join(format!("{VERSION}.deb")), &package).unwrap();
    std::fs::write(
        downloads.join(format!("{VERSION}.manifest")),
        signer.seal(&manifest.to_json()),
    )
    .unwrap();
    let key = config.update.key().expect("the key file reads");
    Kiosk {
        _dir: dir,
        config,
        spool,
        key,
    }
}

fn ask(k: &Kiosk, session_open: bool, now: DateTime<Utc>) -> Result<Option<String>, String> {
    care::request_install(
        &k.config,
        &k.spool,
        &k.key,
        "0.1.0-1",
        session_open,
        Some(&k.config.update.window),
        now,
    )
}

#[test]
fn the_install_request_is_written_only_inside_the_window_and_without_a_citizen() {
    let key = ReleaseKey::generate().unwrap();
    let k = kiosk(&key, &key);
    let request = k.spool.dir().join("request.json");

    // 10:00 in Vietnam: outside 01:00-05:00.
    let why = ask(&k, false, at("2026-12-02T10:00:00+07:00")).expect_err("waits");
    assert!(why.contains("maintenance window"), "{why}");
    assert!(!request.exists());
    // 02:00, but a citizen is at the screen, then an intake is under way.
    let inside = at("2026-12-03T02:00:00+07:00");
    let why = ask(&k, true, inside).expect_err("waits");
    assert!(why.contains("citizen session"), "{why}");
    let intake = k
        .config
        .store
        .data_dir
        .join("intake/000.17.22.H56-261203-0001");
    std::fs::create_dir_all(&intake).unwrap();
    let why = ask(&k, false, inside).expect_err("waits");
    assert!(why.contains("intake"), "{why}");
    std::fs::remove_dir(&intake).unwrap();
    assert!(!request.exists());

    // 02:00 and nobody there: the request, whole, naming the download and its manifest.
    assert_eq!(ask(&k, false, inside), Ok(Some(VERSION.to_owned())));
    let written: UpdateRequest =
        serde_json::from_slice(&std::fs::read(&request).unwrap()).expect("a request");
    let UpdateRequest::Install {
        version,
        package_file,
        manifest,
        ..
    } = written
    else {
        panic!("an install request");
    };
    assert_eq!(version, VERSION);
    assert_eq!(package_file, format!("downloads/{VERSION}.deb"));
    assert!(manifest.starts_with("MOTCUA-RELEASE1."));
    let leftovers: Vec<_> = std::fs::read_dir(k.spool.dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Asked once: the request waits for the updater.
    let why = ask(&k, false, inside).expect_err("pending");
    assert!(why.contains("updater"), "{why}");

    // `kioskctl update apply --now` ignores the window, not the citizen.
    std::fs::remove_file(&request).unwrap();
    let now = at("2026-12-02T10:00:00+07:00");
    let apply =
        |open| care::request_install(&k.config, &k.spool, &k.key, "0.1.0-1", open, None, now);
    assert!(apply(true).is_err());
    assert_eq!(apply(false), Ok(Some(VERSION.to_owned())));
}

#[test]
fn a_download_signed_by_another_key_or_not_newer_is_not_installed() {
    let key = ReleaseKey::generate().unwrap();
    let other = ReleaseKey::generate().unwrap();
    let k = kiosk(&other, &key);
    let inside = at("2026-12-03T02:00:00+07:00");
    assert_eq!(ask(&k, false, inside), Ok(None));
    let k = kiosk(&key, &key);
    let same = care::request_install(
        &k.config,
        &k.spool,
        &k.key,
        VERSION,
        false,
        Some(&k.config.update.window),
        inside,
    );
    assert_eq!(same, Ok(None), "the running version is not installed again");
    assert!(!k.spool.dir().join("request.json").exists());
}
