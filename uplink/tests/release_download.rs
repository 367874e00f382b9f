//! The release downloader against the real gateway (in-process, HTTPS with the kiosk's client
//! certificate, SQLite and local package files), with real `.deb` packages built by
//! `dpkg-deb`: an offer downloaded, verified, kept and reported `downloaded`; a download killed
//! midway resumed from its `.part` file's length with a range request (only the rest comes);
//! a package altered in the gateway's storage refused, deleted, reported `failed` and never
//! downloaded again; a manifest signed by another key refused before any byte is fetched; an
//! aborted release (410) dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use motcua_domain::catalog::seed;
use motcua_gateway::{BlobStorage, ReleaseSource, RolloutChange};
use motcua_identity::release::{ReleaseKey, TrustedReleaseKey};
use motcua_uplink::release::{self, DownloadSettings, ReleaseDownloader, Turn};
use motcua_uplink::{DeviceLink, IdentityFiles, TrustAnchor};
use sha2::{Digest, Sha256};

const DEVICE: &str = "KIOSK-H56-0042";
const VERSION: &str = "0.2.0-1";
/// Random bytes (they do not compress): the package is a little larger.
const PAYLOAD: usize = 256 * 1024;

struct Fixture {
    _dir: tempfile::TempDir,
    gateway_dir: PathBuf,
    kiosk_dir: PathBuf,
    link: DeviceLink,
    key: ReleaseKey,
    deb: PathBuf,
    _gateway: motcua_gateway::RunningGateway,
}

/// A real Debian package of `version` with `payload` random bytes, built by `dpkg-deb`.
fn deb(dir: &Path, version: &str, payload: usize) -> PathBuf {
    let root = dir.join(format!("pkg-{version}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/motcua")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: motcua-kiosk\nVersion: {version}\nArchitecture: all\n\
             Maintainer: motcua tests <tests@example.invalid>\nDescription: test release\n"
        ),
    )
    .unwrap();
    let mut bytes = vec![0u8; payload];
    rand::fill(&mut bytes[..]);
    std::fs::write(root.join("usr/share/motcua/payload"), bytes).unwrap();
    let out = dir.join(format!("motcua-kiosk_{version}.deb"));
    let made = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Znone"])
        .arg(&root)
        .arg(&out)
        .output()
        .expect("dpkg-deb runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    out
}

fn source(gateway_dir: &Path) -> ReleaseSource {
    ReleaseSource {
        data_dir: gateway_dir.to_owned(),
        database_url: None,
        database_ca_file: None,
        storage: BlobStorage::Local,
    }
}

/// A gateway with one enrolled kiosk and `VERSION` published to the whole fleet at once.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki = motcua_gateway::lab_pki(&dir.path().join("pki"), &["127.0.0.1".to_string()])
        .expect("lab CA");
    let site = seed().procedures[0].agency_code.clone();
    let gateway_dir = dir.path().join("gateway");
    let config = motcua_gateway::GatewayConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        gateway_dir.clone(),
        "enrol-key-test",
        &pki,
        seed(),
    );
    let gateway = motcua_gateway::start(config).await.expect("gateway");
    let url = format!("https://127.0.0.1:{}", gateway.local_addr().port());
    let kiosk_dir = dir.path().join("kiosk");
    std::fs::create_dir_all(&kiosk_dir).unwrap();
    let files = IdentityFiles::in_data_dir(&kiosk_dir);
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
    let link = DeviceLink::open(files, &url, Duration::from_secs(10)).expect("link");
    let key = ReleaseKey::generate().unwrap();
    let deb = deb(dir.path(), VERSION, PAYLOAD);
    motcua_gateway::publish_release(
        &source(&gateway_dir),
        &key,
        &deb,
        "100%@0h".parse().unwrap(),
        None,
        chrono::Utc::now().timestamp() - 60,
    )
    .await
    .expect("published");
    Fixture {
        _dir: dir,
        gateway_dir,
        kiosk_dir,
        link,
        key,
        deb,
        _gateway: gateway,
    }
}

impl Fixture {
    fn downloads(&self) -> PathBuf {
        self.kiosk_dir.join("update/downloads")
    }

    fn downloader(&self, trusted: &ReleaseKey, rate: u64) -> ReleaseDownloader {
        let key: TrustedReleaseKey = trusted.public_key().parse().unwrap();
        ReleaseDownloader::new(DownloadSettings {
            dir: self.downloads(),
            package: "motcua-kiosk".into(),
            running: "0.1.0-1".into(),
            key,
            max_rate_bytes_per_sec: rate,
        })
    }

    async fn row(&self) -> motcua_gateway::ReleaseRow {
        motcua_gateway::list_releases(&source(&self.gateway_dir))
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.version == VERSION)
            .expect("the release")
    }

    fn package(&self) -> Vec<u8> {
        std::fs::read(&self.deb).unwrap()
    }
}

fn part_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_killed_midway_resumes_from_its_part_with_a_range_and_is_reported() {
    let f = fixture().await;
    let package = f.package();
    let size = package.len() as u64;
    let part = f.downloads().join(format!("{VERSION}.deb.part"));

    // Slowly (64 KiB/s), until a quarter is on disk, then the task is killed as a stopped
    // kioskd would be.
    let mut slow = f.downloader(&f.key, 64 * 1024);
    let client = f.link.client().clone();
    let task = tokio::spawn(async move { slow.turn(&client).await.map(|_| ()) });
    for _ in 0..400 {
        if part_len(&part) >= size / 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    let cut = part_len(&part);
    assert!(cut >= size / 4 && cut < size, "cut at {cut} of {size}");
    assert_eq!(f.row().await.downloaded, 0, "nothing reported yet");

    // A new kioskd: resumes at the part's length, receives only the rest.
    let mut again = f.downloader(&f.key, 0);
    let turn = again.turn(f.link.client()).await.expect("a turn");
    assert_eq!(
        turn,
        Turn::Ready {
            version: VERSION.into(),
            resumed_from: Some(cut),
            received: size - cut,
        }
    );
    let kept = std::fs::read(f.downloads().join(format!("{VERSION}.deb"))).unwrap();
    assert_eq!(kept, package, "the package is whole, byte for byte");
    assert!(!part.exists());
    let manifest =
        std::fs::read_to_string(f.downloads().join(format!("{VERSION}.manifest"))).unwrap();
    assert!(manifest.starts_with("MOTCUA-RELEASE1."));
    let trusted: TrustedReleaseKey = f.key.public_key().parse().unwrap();
    let (version, m, _) = release::ready_download(&f.downloads(), &trusted).expect("ready");
    assert_eq!(version, VERSION);
    assert_eq!(m.sha256, hex::encode(Sha256::digest(&package)));
    let row = f.row().await;
    assert_eq!((row.downloaded, row.failed), (1, 0), "downloaded reported");

    // Next check: nothing is fetched again.
    let turn = again.turn(f.link.client()).await.expect("a turn");
    assert_eq!(
        turn,
        Turn::Ready {
            version: VERSION.into(),
            resumed_from: None,
            received: 0,
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_altered_at_the_gateway_is_refused_deleted_reported_and_not_retried() {
    let f = fixture().await;
    let sha = hex::encode(Sha256::digest(f.package()));
    let stored = f.gateway_dir.join(format!("releases/{sha}.deb"));
    let mut bytes = std::fs::read(&stored).expect("the stored package");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();

    let mut d = f.downloader(&f.key, 0);
    let turn = d.turn(f.link.client()).await.expect("a turn");
    let Turn::Refused { version, detail } = turn else {
        panic!("refused expected, got {turn:?}");
    };
    assert_eq!(version, VERSION);
    assert!(
        detail.contains("does not match its signed manifest"),
        "{detail}"
    );
    let left: Vec<_> = std::fs::read_dir(f.downloads())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(VERSION))
        .collect();
    assert!(left.is_empty(), "the bad package is deleted: {left:?}");
    let row = f.row().await;
    assert_eq!((row.failed, row.downloaded), (1, 0), "failed reported");
    let refused = release::refused(&f.downloads());
    assert!(refused.iter().any(|r| r.version == VERSION && r.reported));

    // A restarted kioskd does not fetch it again (the gateway offers a failed release no more,
    // and the kiosk would refuse it if it did).
    let mut again = f.downloader(&f.key, 0);
    let turn = again.turn(f.link.client()).await.expect("a turn");
    assert!(
        matches!(turn, Turn::Refused { .. } | Turn::NothingOffered),
        "{turn:?}"
    );
    assert!(!f.downloads().join(format!("{VERSION}.deb.part")).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_signed_by_another_key_is_refused_before_any_download() {
    let f = fixture().await;
    let other = ReleaseKey::generate().unwrap();
    let mut d = f.downloader(&other, 0);
    let turn = d.turn(f.link.client()).await.expect("a turn");
    let Turn::Refused { detail, .. } = turn else {
        panic!("refused expected, got {turn:?}");
    };
    assert!(detail.contains("signature is not valid"), "{detail}");
    assert!(!f.downloads().join(format!("{VERSION}.deb.part")).exists());
    assert!(release::last_offer(&f.downloads()).is_none());
    assert_eq!(f.row().await.failed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_release_drops_its_partial_download() {
    let f = fixture().await;
    let part = f.downloads().join(format!("{VERSION}.deb.part"));
    // Offered (and a part begun), then withdrawn at the gateway.
    let mut d = f.downloader(&f.key, 0);
    let offer = f
        .link
        .client()
        .release_offer("motcua-kiosk", "0.1.0-1")
        .await
        .unwrap();
    assert!(offer.release.is_some());
    std::fs::create_dir_all(f.downloads()).unwrap();
    std::fs::write(&part, &f.package()[..1000]).unwrap();
    let changed = motcua_gateway::change_release(
        &source(&f.gateway_dir),
        VERSION,
        RolloutChange::Abort,
        Some("test"),
    )
    .await
    .unwrap();
    assert!(changed);
    // Its offer was seen before (offer.json), so the downloader asks after it: 410, dropped.
    release::write_atomically(
        &f.downloads(),
        release::OFFER_FILE,
        &serde_json::to_vec(&offer.release).unwrap(),
    )
    .unwrap();
    let turn = d.turn(f.link.client()).await.expect("a turn");
    assert_eq!(
        turn,
        Turn::Withdrawn {
            version: VERSION.into()
        }
    );
    assert!(!part.exists(), "the partial download is deleted");
    assert!(release::refused(&f.downloads())
        .iter()
        .any(|r| r.version == VERSION));
    let err = f
        .link
        .client()
        .release_package(VERSION, 1000, "\"x\"", 10, 0)
        .await
        .err()
        .expect("410");
    assert_eq!(err.status(), Some(410));
}
