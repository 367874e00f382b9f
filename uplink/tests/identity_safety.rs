//! The identity folder against other writers and against links put in its place: saves never
//! share a temporary file (no torn `device.pem` when `kioskctl identity renew` and kioskd's own
//! renewal meet), renewals hold a lock, and a symbolic link in place of the folder or of a file
//! is refused, never written, chmod-ed or chown-ed through (kioskctl may run as root in a folder
//! the service user owns).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{authority, enrol_files, serve, Answer, DEVICE, SITE, YEAR};
use motcua_identity::{Authority, DeviceKey};
use motcua_uplink::{DeviceLink, IdentityFileError, IdentityFiles};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A new key and certificate for the test device.
fn pair(ca: &Authority) -> (String, String) {
    let key = DeviceKey::generate(DEVICE, SITE).unwrap();
    let issued = ca.sign_device(&key.csr_pem, DEVICE, SITE, YEAR).unwrap();
    (key.key_pem, issued.cert_pem)
}

/// A folder standing for `/etc`: what a link would point root at.
struct Target {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    file: std::path::PathBuf,
}

fn target() -> Target {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etc");
    std::fs::create_dir(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = path.join("passwd");
    std::fs::write(&file, "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    Target {
        _dir: dir,
        path,
        file,
    }
}

impl Target {
    fn assert_untouched(&self) {
        assert_eq!(mode(&self.path), 0o755, "the target folder's mode");
        assert_eq!(mode(&self.file), 0o644, "the target file's mode");
        let owner = std::fs::metadata(&self.file).unwrap();
        let me = std::fs::metadata(self._dir.path()).unwrap();
        assert_eq!((owner.uid(), owner.gid()), (me.uid(), me.gid()));
        assert_eq!(
            std::fs::read_to_string(&self.file).unwrap(),
            "root:x:0:0::/root:/bin/sh\n"
        );
        assert_eq!(names(&self.path), ["passwd"], "nothing written there");
    }
}

/// The data folder handed to another user when the test runs as root, as the service user
/// owns /var/lib/motcua: root's writes would then chown.
fn data_folder() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let _ = std::os::unix::fs::chown(data.path(), Some(65_534), Some(65_534));
    data
}

#[test]
fn concurrent_saves_never_leave_a_torn_device_file() {
    let data = tempfile::tempdir().unwrap();
    let ca = authority("CA tỉnh A");
    let (files, _) = enrol_files(data.path(), &ca);
    let pairs: Vec<Vec<(String, String)>> = (0..4)
        .map(|_| (0..5).map(|_| pair(&ca)).collect())
        .collect();
    let written: Vec<String> = pairs
        .iter()
        .flatten()
        .map(|(k, c)| motcua_uplink::identity::device_pem(k, c))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (files, done) = (files.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                // Every look finds a whole pair, never a half-written one.
                files.device().expect("device.pem is always a whole pair");
                reads += 1;
            }
        })
    };
    let writers: Vec<_> = pairs
        .into_iter()
        .map(|mine| {
            // Each writer its own `IdentityFiles`, as two processes would have.
            let files = IdentityFiles::in_data_dir(data.path());
            std::thread::spawn(move || {
                for (key, cert) in mine {
                    files.save_device(&key, &cert).expect("saved");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let last = std::fs::read_to_string(files.device_path()).unwrap();
    assert!(written.contains(&last), "one of the pairs, whole");
    assert_eq!(mode(&files.device_path()), 0o600);
    assert_eq!(
        names(files.dir()),
        ["ca.crt", "device.pem"],
        "no temporary file left"
    );
}

#[test]
fn a_file_at_the_old_fixed_temporary_name_is_neither_used_nor_removed() {
    // Another process's half-written file under the name every writer used to share.
    let data = tempfile::tempdir().unwrap();
    let ca = authority("CA tỉnh A");
    let (files, _) = enrol_files(data.path(), &ca);
    let theirs = files.dir().join(".device.pem.tmp");
    std::fs::write(&theirs, "-----BEGIN PRIVATE KEY-----\nhalf").unwrap();
    let (key, cert) = pair(&ca);
    let saved = files.save_device(&key, &cert).unwrap();
    assert_eq!(files.device().unwrap().peer().serial, saved.peer().serial);
    assert_eq!(
        std::fs::read_to_string(&theirs).unwrap(),
        "-----BEGIN PRIVATE KEY-----\nhalf",
        "the other writer's file is its own"
    );
}

#[tokio::test]
async fn one_renewal_at_a_time() {
    let ca = authority("CA tỉnh A");
    let server = serve(&ca, &["127.0.0.1"], Some(ca.clone()), Answer::Normal).await;
    let data = data_folder();
    let (files, first) = enrol_files(data.path(), &ca);

    // Another process renewing holds the lock.
    let other = IdentityFiles::in_data_dir(data.path());
    let held = other.try_lock_renewal().unwrap().expect("the lock is free");
    assert!(files.try_lock_renewal().unwrap().is_none(), "it is held");
    let lock_file = files.dir().join(".lock");
    assert_eq!(mode(&lock_file), 0o600);
    let owner = std::fs::metadata(data.path()).unwrap();
    let m = std::fs::metadata(&lock_file).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (owner.uid(), owner.gid()),
        "kioskd can take the lock kioskctl made"
    );

    // `kioskctl identity renew` gives up after its wait and says why.
    let mut tool = DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10))
        .unwrap()
        .with_renewal_wait(Duration::ZERO);
    let err = tool.renew_now().await.unwrap_err();
    assert!(
        err.to_string().contains("another renewal is running"),
        "{err}"
    );
    assert!(
        err.to_string().starts_with("đang có một lần gia hạn khác"),
        "{err}"
    );
    // kioskd does not wait: the other process's file is picked up at its next turn.
    let mut daemon =
        DeviceLink::open(files.clone(), &server.url(), Duration::from_secs(10)).unwrap();
    let late = first.not_after - 60;
    assert!(daemon.renew_if_due(late).await.unwrap().is_none());
    assert_eq!(daemon.renewal_problem(), None, "not a failure");
    assert!(server.requests().is_empty(), "no renewal was asked");
    assert_eq!(files.device().unwrap().peer().serial, first.serial);

    // Once it is released, a renewal goes ahead.
    drop(held);
    let renewed = daemon
        .renew_if_due(late)
        .await
        .unwrap()
        .expect("renewed now");
    assert_eq!(server.requests(), ["POST /v1/devices/renew"]);
    // The tool, renewing after it, takes the file the daemon wrote and renews that one.
    let again = tool.renew_now().await.unwrap();
    assert_ne!(again.serial, renewed.serial);
    assert_eq!(files.device().unwrap().peer().serial, again.serial);
    assert_eq!(
        files.previous().unwrap().map(|p| p.peer().serial.clone()),
        Some(renewed.serial),
        "the pair it replaced is the daemon's, not the first one"
    );
}

#[test]
fn a_symbolic_link_in_place_of_the_identity_folder_is_refused() {
    let data = data_folder();
    let ca = authority("CA tỉnh A");
    let etc = target();
    std::os::unix::fs::symlink(&etc.path, data.path().join("identity")).unwrap();
    let files = IdentityFiles::in_data_dir(data.path());
    let (key, cert) = pair(&ca);

    let err = files.save_device(&key, &cert).unwrap_err();
    assert!(
        matches!(err, IdentityFileError::FolderIsSymlink { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with("thư mục identity là liên kết tượng trưng / the identity folder"),
        "{text}"
    );
    assert!(
        text.contains("is a symbolic link: refusing to read or write the device key through it"),
        "{text}"
    );
    for err in [
        files.save_anchor(&common::anchor(&ca)).unwrap_err(),
        files.try_lock_renewal().unwrap_err(),
        files.device().unwrap_err(),
        files.anchor().unwrap_err(),
    ] {
        assert!(
            matches!(err, IdentityFileError::FolderIsSymlink { .. }),
            "{err}"
        );
    }
    etc.assert_untouched();
}

#[test]
fn a_symbolic_link_in_place_of_an_identity_file_is_refused() {
    let data = data_folder();
    let ca = authority("CA tỉnh A");
    let (files, first) = enrol_files(data.path(), &ca);
    let etc = target();
    let (key, cert) = pair(&ca);

    // device.pem
    std::fs::remove_file(files.device_path()).unwrap();
    std::os::unix::fs::symlink(&etc.file, files.device_path()).unwrap();
    let err = files.save_device(&key, &cert).unwrap_err();
    assert!(
        matches!(err, IdentityFileError::FileIsSymlink { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("device.pem is a symbolic link"),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("tệp định danh là liên kết tượng trưng"),
        "{err}"
    );
    let err = files.device().unwrap_err();
    assert!(
        matches!(err, IdentityFileError::FileIsSymlink { .. }),
        "not read through it: {err}"
    );
    assert!(std::fs::symlink_metadata(files.device_path())
        .unwrap()
        .file_type()
        .is_symlink());

    // ca.crt
    std::fs::remove_file(files.ca_path()).unwrap();
    std::os::unix::fs::symlink(&etc.file, files.ca_path()).unwrap();
    let err = files.save_anchor(&common::anchor(&ca)).unwrap_err();
    assert!(
        matches!(err, IdentityFileError::FileIsSymlink { .. }),
        "{err}"
    );

    // The lock file: never created, chmod-ed or chown-ed through a link.
    std::os::unix::fs::symlink(&etc.file, files.dir().join(".lock")).unwrap();
    let err = files.try_lock_renewal().unwrap_err();
    assert!(
        matches!(err, IdentityFileError::FileIsSymlink { .. }),
        "{err}"
    );
    let dangling = etc.path.join("shadow");
    std::fs::remove_file(files.dir().join(".lock")).unwrap();
    std::os::unix::fs::symlink(&dangling, files.dir().join(".lock")).unwrap();
    assert!(files.try_lock_renewal().is_err());
    assert!(
        !dangling.exists(),
        "no file created through a dangling link"
    );

    etc.assert_untouched();
    // The real files are put back: everything works again.
    std::fs::remove_file(files.device_path()).unwrap();
    std::fs::remove_file(files.ca_path()).unwrap();
    std::fs::remove_file(files.dir().join(".lock")).unwrap();
    files.save_anchor(&common::anchor(&ca)).unwrap();
    let saved = files.save_device(&key, &cert).unwrap();
    assert_ne!(saved.peer().serial, first.serial);
    assert!(files.try_lock_renewal().unwrap().is_some());
}
