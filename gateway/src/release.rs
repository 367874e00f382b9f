//! Publishing software releases (`gateway release …`, on the gateway's machine, working on its
//! store and blob storage directly like `gateway provision`).
//!
//! `publish` reads the package's name and version with `dpkg-deb` (Debian's own reader of the
//! format), stores the `.deb` in the blob storage under `releases/<sha256>.deb` (S3 or the
//! local files, durable before the release is recorded), signs its manifest with the release
//! key and records it, rolling. `pause`, `resume` and `abort` change its state; an aborted
//! release is offered to no device again.
//!
//! The release key is separate from the provisioning key: `gateway release key init --dir D`
//! makes `D/release.key` (0600) and `D/release.pub`, the line kiosks are installed with.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use motcua_domain::release::{ReleaseManifest, WavePlan, PACKAGE_SIZE_MAX};
use motcua_identity::release::ReleaseKey;
use sha2::{Digest, Sha256};

use crate::files::{BlobStorage, Files, Key};
use crate::store::{NewRelease, ReleaseRow, RolloutState, Store};
use crate::GatewayError;

/// Where `gateway release` finds the gateway's store and blob storage.
#[derive(Debug, Clone)]
pub struct ReleaseSource {
    /// The gateway's data directory (SQLite database and local blob files).
    pub data_dir: PathBuf,
    /// PostgreSQL URL, when the gateway uses PostgreSQL.
    pub database_url: Option<String>,
    /// A CA trusted for PostgreSQL over TLS.
    pub database_ca_file: Option<PathBuf>,
    /// Where blobs are kept (as `gateway serve` is told).
    pub storage: BlobStorage,
}

impl ReleaseSource {
    async fn store(&self) -> Result<Store, GatewayError> {
        Store::open(
            self.database_url.as_deref(),
            self.database_ca_file.as_deref(),
            &self.data_dir,
        )
        .await
    }
}

/// What was published.
#[derive(Debug, Clone)]
pub struct Published {
    /// The signed manifest's content.
    pub manifest: ReleaseManifest,
    /// `false` when this version was published before (with this very package): nothing new.
    pub new: bool,
}

/// The object key of a release's package.
pub(crate) fn package_key(sha256: &str) -> Key {
    Key::from(format!("releases/{sha256}.deb"))
}

/// The release key's files in `dir`, made if missing; returns the public key line.
pub fn release_key_init(dir: &Path) -> Result<(PathBuf, String, bool), GatewayError> {
    let key_file = dir.join("release.key");
    let public_file = dir.join("release.pub");
    // A folder named for the key that does not exist yet is made, root's only.
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| GatewayError::Config(format!("cannot make {}: {e}", dir.display())))?;
    }
    let (key, created) = if key_file.exists() {
        (release_key(&key_file)?, false)
    } else {
        let key = ReleaseKey::generate()
            .map_err(|e| GatewayError::Config(format!("cannot make a release key: {e}")))?;
        crate::pki::write_new(&key_file, &key.to_pem(), true)?;
        (key, true)
    };
    let public_key = key.public_key();
    if !public_file.exists() {
        crate::pki::write_new(
            &public_file,
            &format!(
                "# motcua release public key: kiosks install only packages whose manifest it signed.\n\
                 # Not a secret: install it on every kiosk as /etc/motcua/release.pub.\n\
                 {public_key}\n"
            ),
            false,
        )?;
    }
    Ok((key_file, public_key, created))
}

/// Reads the release key (PEM).
pub fn release_key(path: &Path) -> Result<ReleaseKey, GatewayError> {
    ReleaseKey::from_pem(&crate::pki::read(path)?).map_err(|e| {
        GatewayError::Config(format!(
            "the release key {} cannot be used: {e}",
            path.display()
        ))
    })
}

/// The `Package` and `Version` of a `.deb` file's bytes (`shown` names it in errors), by
/// `dpkg-deb --field` on a private copy.
fn deb_fields_of(bytes: &[u8], shown: &Path) -> Result<(String, String), GatewayError> {
    let copy = tempfile::Builder::new()
        .suffix(".deb")
        .tempfile()
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, bytes)?;
            Ok(f)
        })
        .map_err(|source| GatewayError::File {
            action: "copy",
            path: shown.to_path_buf(),
            source,
        })?;
    let deb = shown;
    let out = std::process::Command::new("dpkg-deb")
        .arg("--field")
        .arg(copy.path())
        .args(["Package", "Version"])
        .output()
        .map_err(|e| {
            GatewayError::Config(format!("cannot run dpkg-deb (Debian's dpkg package): {e}"))
        })?;
    if !out.status.success() {
        return Err(GatewayError::ReleaseRefused(format!(
            "{} is not a Debian package: {}",
            deb.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                GatewayError::ReleaseRefused(format!("{} has no {name} field", deb.display()))
            })
    };
    Ok((field("Package")?, field("Version")?))
}

/// Publishes `deb` with `waves`: stores the package, signs and records its manifest.
/// Publishing a version again with the same package changes nothing; with another package it
/// is refused (a version names one package for good).
pub async fn publish(
    source: &ReleaseSource,
    key: &ReleaseKey,
    deb: &Path,
    waves: WavePlan,
    min_from_version: Option<String>,
    now: i64,
) -> Result<Published, GatewayError> {
    // Read once; dpkg-deb reads the same bytes from a private copy, so the fields and the hash
    // cannot be of two different files (one replaced in between).
    let bytes = std::fs::read(deb).map_err(|source| GatewayError::File {
        action: "read",
        path: deb.to_path_buf(),
        source,
    })?;
    let store = source.store().await?;
    let files = Files::open(&source.data_dir, &source.storage).await?;
    let package = Package { bytes, shown: deb };
    publish_on(&store, &files, key, package, waves, min_from_version, now).await
}

/// A package's bytes and how to name it in errors (its file, or the upload).
pub(crate) struct Package<'a> {
    /// The `.deb` file's bytes.
    pub bytes: Vec<u8>,
    /// Its name in messages.
    pub shown: &'a Path,
}

/// [`publish`] on an open store and blob storage (the admin API's).
pub(crate) async fn publish_on(
    store: &Store,
    files: &Files,
    key: &ReleaseKey,
    package: Package<'_>,
    waves: WavePlan,
    min_from_version: Option<String>,
    now: i64,
) -> Result<Published, GatewayError> {
    let Package { bytes, shown: deb } = package;
    let size = bytes.len() as u64;
    if size == 0 || size > PACKAGE_SIZE_MAX {
        return Err(GatewayError::ReleaseRefused(format!(
            "{} has {size} bytes; a release package has 1 to {PACKAGE_SIZE_MAX}",
            deb.display()
        )));
    }
    let (package, version) = deb_fields_of(&bytes, deb)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let manifest = ReleaseManifest {
        package,
        version,
        sha256,
        size,
        min_from_version,
        waves,
        published_at: now,
    };
    // The manifest must read back as a kiosk reads it (names, versions, sizes in range).
    ReleaseManifest::from_json(&manifest.to_json())
        .map_err(|e| GatewayError::ReleaseRefused(e.to_string()))?;
    if let Some(old) = store
        .releases()
        .await?
        .into_iter()
        .find(|r| r.version == manifest.version)
    {
        if old.sha256 != manifest.sha256 || old.package != manifest.package {
            return Err(GatewayError::ReleaseRefused(format!(
                "version {} was published before with another package ({} {}); give the new \
                 package a new version (cargo deb --deb-version)",
                old.version, old.package, old.sha256
            )));
        }
        return Ok(Published {
            manifest,
            new: false,
        });
    }
    files
        .put(&package_key(&manifest.sha256), Bytes::from(bytes))
        .await?;
    let recorded = store
        .publish_release(&NewRelease {
            version: manifest.version.clone(),
            package: manifest.package.clone(),
            sha256: manifest.sha256.clone(),
            size,
            manifest: key.seal(&manifest.to_json()),
            published_at: now,
        })
        .await?;
    if !recorded {
        // Another publish of this version won the race since the check above.
        let theirs = store
            .releases()
            .await?
            .into_iter()
            .find(|r| r.version == manifest.version);
        if theirs.is_some_and(|r| r.sha256 != manifest.sha256) {
            return Err(GatewayError::ReleaseRefused(format!(
                "version {} was just published with another package; give this package a new \
                 version",
                manifest.version
            )));
        }
    }
    Ok(Published {
        manifest,
        new: recorded,
    })
}

/// Every release, newest first.
pub async fn list(source: &ReleaseSource) -> Result<Vec<ReleaseRow>, GatewayError> {
    source.store().await?.releases().await
}

/// What a technician may do to a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutChange {
    /// Rolling → paused.
    Pause,
    /// Paused → rolling.
    Resume,
    /// Rolling or paused → aborted, for good.
    Abort,
}

/// Applies `change` to `version`; `Ok(false)` when the release is not in a state it applies to
/// (or there is no such version): the caller says which.
pub async fn change(
    source: &ReleaseSource,
    version: &str,
    change: RolloutChange,
    reason: Option<&str>,
) -> Result<bool, GatewayError> {
    change_in(&source.store().await?, version, change, reason).await
}

/// [`change`] on an open store (the admin API's).
pub(crate) async fn change_in(
    store: &Store,
    version: &str,
    change: RolloutChange,
    reason: Option<&str>,
) -> Result<bool, GatewayError> {
    let moves: &[(RolloutState, RolloutState)] = match change {
        RolloutChange::Pause => &[(RolloutState::Rolling, RolloutState::Paused)],
        RolloutChange::Resume => &[(RolloutState::Paused, RolloutState::Rolling)],
        RolloutChange::Abort => &[
            (RolloutState::Rolling, RolloutState::Aborted),
            (RolloutState::Paused, RolloutState::Aborted),
        ],
    };
    for (from, to) in moves {
        if store.set_release_state(version, *from, *to, reason).await? {
            return Ok(true);
        }
    }
    Ok(false)
}
