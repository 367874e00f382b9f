//! Release packages for the release scenarios: real `.deb` files made by `dpkg-deb`, and the
//! gateway's release source (store and blob storage) as `gateway release` would open it.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::Harness;

/// `GET /v1/admin/releases` as the technician.
pub async fn releases(h: &Harness) -> Value {
    let r = h
        .req(Method::GET, "/v1/admin/releases", Some(&h.technician))
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("JSON")
}

/// The release `version` in a list of [`releases`].
pub fn release<'a>(list: &'a Value, version: &str) -> &'a Value {
    list["releases"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["version"] == version))
        .unwrap_or_else(|| panic!("{version} in {list}"))
}

/// A real Debian package `motcua-kiosk` of `version` whose payload is `payload`, built by
/// `dpkg-deb`.
pub fn deb(dir: &Path, version: &str, payload: &str) -> PathBuf {
    deb_of(dir, "motcua-kiosk", version, payload)
}

/// A real Debian package named `package` (the fleet simulation runs several rollouts side by
/// side, one package each), otherwise as [`deb`].
pub fn deb_of(dir: &Path, package: &str, version: &str, payload: &str) -> PathBuf {
    let root = dir.join(format!("pkg-{package}-{version}-{}", payload.len()));
    std::fs::create_dir_all(root.join("DEBIAN")).expect("DEBIAN");
    std::fs::create_dir_all(root.join("usr/share/motcua")).expect("payload dir");
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {package}\nVersion: {version}\nArchitecture: all\n\
             Maintainer: motcua tests <tests@example.invalid>\nDescription: test release\n"
        ),
    )
    .expect("control");
    std::fs::write(root.join("usr/share/motcua/payload"), payload).expect("payload");
    let out = dir.join(format!("{package}_{version}_{}.deb", payload.len()));
    let status = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group"])
        .arg(&root)
        .arg(&out)
        .output()
        .expect("dpkg-deb");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}

impl Harness {
    /// The store and blob storage this gateway serves from, for `motcua_gateway::publish_release`.
    pub fn release_source(&self) -> motcua_gateway::ReleaseSource {
        let config = self.config();
        motcua_gateway::ReleaseSource {
            data_dir: config.data_dir,
            database_url: config.database_url,
            database_ca_file: None,
            storage: config.blob_storage,
        }
    }
}
