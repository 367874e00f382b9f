//! The updater's own check of a release kioskd asks for: it trusts nothing kioskd wrote. The
//! package is copied out of kioskd's spool into the updater's root-only folder first and only
//! the copy is checked and installed (kioskd cannot change it between the check and dpkg); the
//! manifest must open with the release public key, name the configured package and the version
//! asked for, upgrade the version installed now, and match the copy's size and SHA-256; the
//! package's own control fields must say the same.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use motcua_domain::release::ReleaseManifest;
use motcua_identity::release::TrustedReleaseKey;
use sha2::{Digest, Sha256};

use crate::files::Folder;

/// A checked package in the updater's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The release's version.
    pub version: String,
    /// The copy, in the updater's folder.
    pub package: PathBuf,
}

/// The file name of a request's `package_file`: exactly `downloads/<name>.deb`, one plain name
/// (no `/`, no `..`, no hidden file).
pub fn package_name(package_file: &str) -> Result<&str, String> {
    let name = package_file
        .strip_prefix("downloads/")
        .ok_or_else(|| format!("package_file \"{package_file}\" is not in downloads/"))?;
    let plain = !name.is_empty()
        && name.len() <= 200
        && name.ends_with(".deb")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+~-:".contains(c));
    if plain {
        Ok(name)
    } else {
        Err(format!(
            "package_file \"{package_file}\" is not a plain .deb name"
        ))
    }
}

/// What kioskd asked to install.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// The signed manifest's text.
    pub manifest: &'a str,
    /// The version asked for.
    pub version: &'a str,
    /// The package's file name in `downloads/` ([`package_name`]).
    pub file_name: &'a str,
}

/// Checks the request's manifest and package (for `package`, over `running`) and returns the
/// verified copy at `copy_to`.
pub fn verify(
    key: &TrustedReleaseKey,
    package: &str,
    running: &str,
    asked: Asked<'_>,
    downloads: &Folder,
    copy_to: &Path,
) -> Result<Verified, String> {
    let (asked_version, file_name) = (asked.version, asked.file_name);
    let json = key.open(asked.manifest.trim()).map_err(|e| e.to_string())?;
    let manifest = ReleaseManifest::from_json(&json).map_err(|e| e.to_string())?;
    if manifest.package != package {
        return Err(format!(
            "the manifest is for {}, this updater installs {package}",
            manifest.package
        ));
    }
    if manifest.version != asked_version {
        return Err(format!(
            "kioskd asked for {asked_version}, the signed manifest is for {}",
            manifest.version
        ));
    }
    if !manifest.upgrades(running) {
        return Err(format!(
            "{} does not upgrade the installed {running} (older, the same, or below its minimum {})",
            manifest.version,
            manifest.min_from_version.as_deref().unwrap_or("-")
        ));
    }
    let Some(source) = downloads
        .open_regular(file_name)
        .map_err(|e| e.to_string())?
    else {
        return Err(format!("{} is missing", downloads.shown(file_name)));
    };
    let (sha256, size) = copy_hashing(source, copy_to, manifest.size).map_err(|e| {
        let _ = std::fs::remove_file(copy_to);
        format!("copying the package to {}: {e}", copy_to.display())
    })?;
    let refuse = |why: String| {
        let _ = std::fs::remove_file(copy_to);
        Err(why)
    };
    if size != manifest.size {
        return refuse(format!(
            "the package has {size} bytes, the signed manifest says {}",
            manifest.size
        ));
    }
    if sha256 != manifest.sha256 {
        return refuse(format!(
            "the package's SHA-256 {sha256} is not the signed manifest's {}: altered",
            manifest.sha256
        ));
    }
    match control_fields(copy_to) {
        Ok((name, version)) if name == package && version == manifest.version => {}
        Ok((name, version)) => {
            return refuse(format!(
                "the package says it is {name} {version}, the manifest {package} {}",
                manifest.version
            ))
        }
        Err(e) => return refuse(e),
    }
    Ok(Verified {
        version: manifest.version,
        package: copy_to.to_owned(),
    })
}

/// Copies at most `max + 1` bytes of `from` to a new root-only file, hashing on the way.
fn copy_hashing(mut from: std::fs::File, to: &Path, max: u64) -> std::io::Result<(String, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(to);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    let mut limited = (&mut from).take(max + 1);
    loop {
        let n = match limited.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(std::io::Error::other("not a regular file"))
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        len += n as u64;
    }
    out.sync_all()?;
    Ok((hex::encode(hasher.finalize()), len))
}

/// The `Package` and `Version` control fields of a .deb (`dpkg-deb -f`).
fn control_fields(deb: &Path) -> Result<(String, String), String> {
    let out = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .args(["Package", "Version"])
        .output()
        .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "dpkg-deb cannot read the package: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    Ok((field("Package"), field("Version")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use motcua_identity::release::ReleaseKey;

    /// A real .deb made by dpkg-deb with these control fields.
    fn deb(dir: &Path, package: &str, version: &str) -> Vec<u8> {
        let tree = dir.join(format!("tree-{version}"));
        std::fs::create_dir_all(tree.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(tree.join("usr/share/doc/x")).unwrap();
        std::fs::write(tree.join("usr/share/doc/x/README"), version).unwrap();
        std::fs::write(
            tree.join("DEBIAN/control"),
            format!("Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: test\n"),
        )
        .unwrap();
        let out = dir.join(format!("{version}.built"));
        let ok = Command::new("dpkg-deb")
            .args(["--root-owner-group", "-b"])
            .arg(&tree)
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        std::fs::read(out).unwrap()
    }

    fn manifest(key: &ReleaseKey, bytes: &[u8], version: &str) -> String {
        let m = ReleaseManifest {
            package: "motcua-kiosk".into(),
            version: version.into(),
            sha256: hex::encode(Sha256::digest(bytes)),
            size: bytes.len() as u64,
            min_from_version: Some("0.1.0-1".into()),
            waves: "100%@0h".parse().unwrap(),
            published_at: 0,
        };
        key.seal(&m.to_json())
    }

    #[test]
    fn a_signed_package_verifies_and_every_kind_of_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let downloads = dir.path().join("downloads");
        std::fs::create_dir(&downloads).unwrap();
        let key = ReleaseKey::generate().unwrap();
        let trusted: TrustedReleaseKey = key.public_key().parse().unwrap();
        let good = deb(dir.path(), "motcua-kiosk", "0.2.0-1");
        let signed = manifest(&key, &good, "0.2.0-1");
        let folder = Folder::open(&downloads).unwrap();
        let copy = dir.path().join("copy.deb");
        let check = |bytes: &[u8], text: &str, version: &str, running: &str| {
            std::fs::write(downloads.join("p.deb"), bytes).unwrap();
            let asked = Asked {
                manifest: text,
                version,
                file_name: "p.deb",
            };
            verify(&trusted, "motcua-kiosk", running, asked, &folder, &copy)
        };
        let ok = check(&good, &signed, "0.2.0-1", "0.1.0-1").unwrap();
        assert_eq!(ok.version, "0.2.0-1");
        assert_eq!(std::fs::read(&copy).unwrap(), good);

        let mut altered = good.clone();
        let at = altered.len() / 2;
        altered[at] ^= 1;
        let e = check(&altered, &signed, "0.2.0-1", "0.1.0-1").unwrap_err();
        assert!(e.contains("SHA-256") && e.contains("altered"), "{e}");
        assert!(!copy.exists(), "a refused copy stays");
        let e = check(
            &good,
            &manifest(&ReleaseKey::generate().unwrap(), &good, "0.2.0-1"),
            "0.2.0-1",
            "0.1.0-1",
        )
        .unwrap_err();
        assert!(e.contains("not valid"), "{e}");
        let e = check(&good, &signed, "0.3.0-1", "0.1.0-1").unwrap_err();
        assert!(e.contains("asked for 0.3.0-1"), "{e}");
        // Not newer than what runs, and below the manifest's minimum.
        assert!(check(&good, &signed, "0.2.0-1", "0.2.0-1").is_err());
        assert!(check(&good, &signed, "0.2.0-1", "0.0.9-1").is_err());
        // Signed, but the package inside says it is another version.
        let other = deb(dir.path(), "motcua-kiosk", "0.9.0-1");
        let e = check(
            &other,
            &manifest(&key, &other, "0.2.0-1"),
            "0.2.0-1",
            "0.1.0-1",
        )
        .unwrap_err();
        assert!(e.contains("says it is motcua-kiosk 0.9.0-1"), "{e}");
        // A larger file than signed is not even copied whole.
        let mut longer = good.clone();
        longer.extend_from_slice(b"more");
        let e = check(&longer, &signed, "0.2.0-1", "0.1.0-1").unwrap_err();
        assert!(e.contains("bytes"), "{e}");
    }

    #[test]
    fn only_a_plain_deb_in_downloads_is_a_package_file() {
        assert_eq!(package_name("downloads/0.2.0-1.deb"), Ok("0.2.0-1.deb"));
        for bad in [
            "0.2.0.deb",
            "downloads/../../etc/shadow",
            "downloads/sub/0.2.0.deb",
            "downloads/.hidden.deb",
            "downloads/0.2.0.tar",
            "/var/lib/motcua/update/downloads/0.2.0.deb",
            "downloads/",
        ] {
            assert!(package_name(bad).is_err(), "{bad} was taken");
        }
    }
}
