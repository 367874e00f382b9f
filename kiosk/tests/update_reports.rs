//! kioskd's reports of the updater's work to the real gateway (in-process, mutual TLS): a
//! kioskd started as the new version while the updater's `state.json` says probation reports
//! `installed`; the updater's `result.json` is reported (`rolled_back` with its detail, or
//! `committed`) and deleted, a rolled-back version is remembered so it is not downloaded or
//! installed again, a committed one's download is deleted. The package is a real `.deb` built
//! with `dpkg-deb`, downloaded and verified by the real downloader.

#![cfg(feature = "demo")]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use motcua_domain::catalog::seed;
use motcua_domain::update::{UpdateOutcome, UpdatePhase, UpdateResult, UpdateState};
use motcua_domain::wire::ReleaseStage;
use motcua_gateway::{BlobStorage, ReleaseSource};
use motcua_identity::release::ReleaseKey;
use motcua_kiosk::update::{care, Spool};
use motcua_uplink::release::{self, DownloadSettings, ReleaseDownloader, Turn};
use motcua_uplink::{DeviceLink, IdentityFiles, TrustAnchor};

fn deb(dir: &Path, version: &str) -> std::path::PathBuf {
    let root = dir.join(format!("pkg-{version}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: motcua-kiosk\nVersion: {version}\nArchitecture: all\n\
             Maintainer: motcua tests <tests@example.invalid>\nDescription: test release\n"
        ),
    )
    .unwrap();
    let out = dir.join(format!("motcua-kiosk_{version}.deb"));
    let made = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
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

fn write(spool: &Spool, name: &str, value: &impl serde::Serialize) {
    std::fs::write(spool.dir().join(name), serde_json::to_vec(value).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probation_reports_installed_and_results_are_reported_then_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let pki = motcua_gateway::lab_pki(&dir.path().join("pki"), &["127.0.0.1".to_string()])
        .expect("lab CA");
    let site = seed().procedures[0].agency_code.clone();
    let gateway_dir = dir.path().join("gateway");
    let gateway = motcua_gateway::start(motcua_gateway::GatewayConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        gateway_dir.clone(),
        "enrol-key-test",
        &pki,
        seed(),
    ))
    .await
    .expect("gateway");
    let url = format!("https://127.0.0.1:{}", gateway.local_addr().port());
    let source = ReleaseSource {
        data_dir: gateway_dir,
        database_url: None,
        database_ca_file: None,
        storage: BlobStorage::Local,
    };
    let key = ReleaseKey::generate().unwrap();
    for v in ["0.2.0-1", "0.3.0-1"] {
        motcua_gateway::publish_release(
            &source,
            &key,
            &deb(dir.path(), v),
            "100%@0h".parse().unwrap(),
            None,
            chrono::Utc::now().timestamp() - 60,
        )
        .await
        .expect("published");
    }
    let row = |v: &'static str| {
        let source = source.clone();
        async move {
            motcua_gateway::list_releases(&source)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.version == v)
                .expect("release")
        }
    };

    // Two kiosks: one rolls 0.3.0-1 back, the other commits it.
    for (device, outcome) in [
        ("KIOSK-H56-0101", UpdateOutcome::RolledBack),
        ("KIOSK-H56-0102", UpdateOutcome::KeptWithAlert),
    ] {
        let data = dir.path().join(device);
        std::fs::create_dir_all(&data).unwrap();
        let files = IdentityFiles::in_data_dir(&data);
        let anchor = TrustAnchor::from_pem(&pki.ca_cert_pem().unwrap(), "lab CA").unwrap();
        motcua_uplink::credentials::enroll(
            &url,
            Duration::from_secs(10),
            &files,
            &anchor,
            device,
            &site,
            "enrol-key-test",
        )
        .await
        .expect("enrolled");
        let link = DeviceLink::open(files, &url, Duration::from_secs(10)).expect("link");
        let client = link.client();
        let spool = Spool::of(&data);
        let mut downloader = ReleaseDownloader::new(DownloadSettings {
            dir: spool.downloads(),
            package: "motcua-kiosk".into(),
            running: "0.1.0-1".into(),
            key: key.public_key().parse().unwrap(),
            max_rate_bytes_per_sec: 0,
        });
        let turn = downloader.turn(client).await.expect("a turn");
        assert!(
            matches!(&turn, Turn::Ready { version, .. } if version == "0.3.0-1"),
            "the newest is offered: {turn:?}"
        );

        // The updater installed it; kioskd starts as 0.3.0-1 on probation.
        std::fs::create_dir_all(spool.dir()).unwrap();
        let state = UpdateState {
            phase: UpdatePhase::Probation,
            version: Some("0.3.0-1".into()),
            previous_version: Some("0.1.0-1".into()),
            since: "2026-12-03T02:00:00+07:00".into(),
            note: None,
        };
        write(&spool, "state.json", &state);
        assert!(
            care::report_installed(&spool, client, "0.1.0-1").await,
            "not this version: nothing to tell"
        );
        assert!(care::report_installed(&spool, client, "0.3.0-1").await);

        let result = UpdateResult {
            version: "0.3.0-1".into(),
            outcome,
            running_version: "0.1.0-1".into(),
            detail: Some("kioskd: not ready in 120 s".into()),
            finished_at: "2026-12-03T02:05:00+07:00".into(),
        };
        write(&spool, "result.json", &result);
        let reported = care::settle_result(&spool, client).await;
        assert!(spool.result().is_none(), "the reported result is deleted");
        let downloads = spool.downloads();
        match outcome {
            UpdateOutcome::RolledBack => {
                assert_eq!(reported, Some(ReleaseStage::RolledBack));
                assert!(release::refused(&downloads)
                    .iter()
                    .any(|r| r.version == "0.3.0-1"));
            }
            _ => {
                assert_eq!(
                    reported,
                    Some(ReleaseStage::Committed),
                    "kept with an alert counts as committed"
                );
            }
        }
        assert!(
            !downloads.join("0.3.0-1.deb").exists(),
            "its download is gone"
        );
        // Nothing left to report: settling again does nothing.
        assert_eq!(care::settle_result(&spool, client).await, None);
    }
    let r = row("0.3.0-1").await;
    assert_eq!(
        (r.downloaded, r.installed, r.rolled_back, r.committed),
        (2, 2, 1, 1)
    );
    gateway.shutdown().await;
}

/// kioskd's update task as it runs: enrolled, a release published, a window of the whole day:
/// it downloads and verifies the package, reports `downloaded`, and writes the install request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kioskds_update_task_downloads_and_asks_for_the_install_inside_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let pki = motcua_gateway::lab_pki(&dir.path().join("pki"), &["127.0.0.1".to_string()])
        .expect("lab CA");
    let site = seed().procedures[0].agency_code.clone();
    let gateway_dir = dir.path().join("gateway");
    let gateway = motcua_gateway::start(motcua_gateway::GatewayConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        gateway_dir.clone(),
        "enrol-key-test",
        &pki,
        seed(),
    ))
    .await
    .expect("gateway");
    let url = format!("https://127.0.0.1:{}", gateway.local_addr().port());
    let source = ReleaseSource {
        data_dir: gateway_dir,
        database_url: None,
        database_ca_file: None,
        storage: BlobStorage::Local,
    };
    let key = ReleaseKey::generate().unwrap();
    motcua_gateway::publish_release(
        &source,
        &key,
        &deb(dir.path(), "0.2.0-1"),
        "100%@0h".parse().unwrap(),
        None,
        chrono::Utc::now().timestamp() - 60,
    )
    .await
    .expect("published");
    let data = dir.path().join("kiosk");
    std::fs::create_dir_all(&data).unwrap();
    let files = IdentityFiles::in_data_dir(&data);
    let anchor = TrustAnchor::from_pem(&pki.ca_cert_pem().unwrap(), "lab CA").unwrap();
    motcua_uplink::credentials::enroll(
        &url,
        Duration::from_secs(10),
        &files,
        &anchor,
        "KIOSK-H56-0103",
        &site,
        "enrol-key-test",
    )
    .await
    .expect("enrolled");
    motcua_store::Store::open(&data, 0).expect("store");
    let pub_file = dir.path().join("release.pub");
    std::fs::write(&pub_file, key.public_key()).unwrap();
    let text = format!(
        "[device]\nid = \"KIOSK-H56-0103\"\nagency_code = \"{site}\"\nsequence_first = 1\nsequence_last = 99\n\n\
         [store]\ndata_dir = \"{}\"\n\n[gateway]\nurl = \"{url}\"\n\n\
         [update]\nrelease_public_key_file = \"{}\"\nmaintenance_window = \"00:00-24:00\"\n",
        data.display(),
        pub_file.display()
    );
    let config = motcua_kiosk::config::KioskConfig::parse(&text, "kiosk.toml").expect("config");
    let spool = Spool::of(&data);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(
        care::UpdateCare {
            config,
            running: "0.1.0-1".into(),
            presence: Default::default(),
        }
        .run(stopped),
    );
    let mut asked = None;
    for _ in 0..100 {
        if let Some(r) = spool.request() {
            asked = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    let _ = task.await;
    match asked {
        Some(motcua_domain::update::UpdateRequest::Install { version, .. }) => {
            assert_eq!(version, "0.2.0-1")
        }
        other => panic!("no install request: {other:?}"),
    }
    assert!(spool.downloads().join("0.2.0-1.deb").is_file());
    let row = motcua_gateway::list_releases(&source)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.version == "0.2.0-1")
        .expect("release");
    assert_eq!(row.downloaded, 1);
    gateway.shutdown().await;
}
