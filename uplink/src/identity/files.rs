//! The identity folder on disk: opened once without following a symbolic link, every file read
//! and written through that descriptor, writes atomic, renewals under a lock.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::credential::{device_pem, DeviceCredential, TrustAnchor};
use super::{
    IdentityFileError, CA_FILE, DEVICE_FILE, IDENTITY_DIR, LOCK_FILE, PENDING_FILE, PREVIOUS_FILE,
};

/// The identity folder of a kiosk and its files.
#[derive(Debug, Clone)]
pub struct IdentityFiles {
    dir: PathBuf,
}

/// A version of `device.pem` as the folder shows it: a renewal or `kioskctl` renames a new file
/// into place, so the inode changes with every replacement, whatever the clock does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    inode: u64,
    len: u64,
}

/// The renewal lock (`identity/.lock`, `flock`ed), held until dropped.
#[derive(Debug)]
pub struct RenewalLock {
    _file: File,
    dir: OwnedFd,
}

impl IdentityFiles {
    /// The identity folder inside a data folder (`<data_dir>/identity`).
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(IDENTITY_DIR),
        }
    }

    /// The identity folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `device.pem`.
    pub fn device_path(&self) -> PathBuf {
        self.dir.join(DEVICE_FILE)
    }

    /// `ca.crt`.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join(CA_FILE)
    }

    /// `device.prev.pem`.
    pub fn previous_path(&self) -> PathBuf {
        self.dir.join(PREVIOUS_FILE)
    }

    /// Whether the kiosk was enrolled (both files exist; whether they are usable is for
    /// [`Self::anchor`] and [`Self::device`] to say).
    pub fn is_enrolled(&self) -> bool {
        self.device_path().is_file() && self.ca_path().is_file()
    }

    /// When `device.pem` last changed (a renewal or enrolment replaced it), if it exists.
    pub fn device_modified(&self) -> Option<SystemTime> {
        std::fs::metadata(self.device_path())
            .and_then(|m| m.modified())
            .ok()
    }

    /// Which `device.pem` is in place (its inode, size and time), if one is.
    pub fn device_stamp(&self) -> Option<FileStamp> {
        let m = std::fs::symlink_metadata(self.device_path()).ok()?;
        Some(FileStamp {
            modified: m.modified().ok(),
            inode: m.ino(),
            len: m.len(),
        })
    }

    fn dir_error(&self, source: std::io::Error, writing: bool) -> IdentityFileError {
        let path = self.dir.display().to_string();
        if source.raw_os_error() == Some(Errno::LOOP.raw_os_error()) {
            IdentityFileError::FolderIsSymlink { path }
        } else if writing {
            IdentityFileError::Write { path, source }
        } else {
            IdentityFileError::Read { path, source }
        }
    }

    /// Opens the folder without following a symbolic link; everything else goes through it.
    fn open_dir(&self) -> std::io::Result<OwnedFd> {
        if std::fs::symlink_metadata(&self.dir)?
            .file_type()
            .is_symlink()
        {
            return Err(Errno::LOOP.into());
        }
        // O_NOFOLLOW again: the folder may have been swapped since the look.
        Ok(rustix::fs::openat(
            CWD,
            &self.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Reads `name` from the folder, refusing a symbolic link.
    fn read(&self, name: &str) -> Result<String, IdentityFileError> {
        let dir = match self.open_dir() {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(IdentityFileError::NotEnrolled {
                    path: self.dir.join(name).display().to_string(),
                })
            }
            Err(e) => return Err(self.dir_error(e, false)),
        };
        self.read_in(&dir, name)
    }

    /// Reads `name` from the open folder `dir`, refusing a symbolic link.
    fn read_in(&self, dir: &OwnedFd, name: &str) -> Result<String, IdentityFileError> {
        let path = self.dir.join(name);
        let fd = match rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                return Err(IdentityFileError::NotEnrolled {
                    path: path.display().to_string(),
                })
            }
            Err(Errno::LOOP) => {
                return Err(IdentityFileError::FileIsSymlink {
                    path: path.display().to_string(),
                })
            }
            Err(e) => {
                return Err(IdentityFileError::Read {
                    path: path.display().to_string(),
                    source: e.into(),
                })
            }
        };
        let mut text = String::new();
        File::from(fd)
            .read_to_string(&mut text)
            .map_err(|source| IdentityFileError::Read {
                path: path.display().to_string(),
                source,
            })?;
        Ok(text)
    }

    /// Loads the trust anchor `ca.crt`.
    pub fn anchor(&self) -> Result<TrustAnchor, IdentityFileError> {
        let text = self.read(CA_FILE)?;
        TrustAnchor::from_pem(&text, &self.ca_path().display().to_string())
    }

    /// Loads the device's key and certificate `device.pem`.
    pub fn device(&self) -> Result<DeviceCredential, IdentityFileError> {
        let text = self.read(DEVICE_FILE)?;
        DeviceCredential::from_pem(&text, &self.device_path().display().to_string())
    }

    /// Loads the pair a renewal replaced (`device.prev.pem`), if one is kept.
    pub fn previous(&self) -> Result<Option<DeviceCredential>, IdentityFileError> {
        match self.read(PREVIOUS_FILE) {
            Ok(text) => {
                DeviceCredential::from_pem(&text, &self.previous_path().display().to_string())
                    .map(Some)
            }
            Err(IdentityFileError::NotEnrolled { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Saves the trust anchor (mode 0644: it is public).
    pub fn save_anchor(&self, anchor: &TrustAnchor) -> Result<(), IdentityFileError> {
        let dir = self.prepare_dir()?;
        self.write(&dir, CA_FILE, anchor.pem().as_bytes(), 0o644)
    }

    /// Checks that the key and certificate belong together, then replaces `device.pem`
    /// atomically (mode 0600) and removes a kept previous pair (an enrolment starts afresh).
    /// Returns what was saved.
    pub fn save_device(
        &self,
        key_pem: &str,
        certificate_pem: &str,
    ) -> Result<DeviceCredential, IdentityFileError> {
        let text = device_pem(key_pem, certificate_pem);
        let credential = DeviceCredential::from_pem(&text, "the new device key and certificate")?;
        let dir = self.prepare_dir()?;
        self.write(&dir, DEVICE_FILE, text.as_bytes(), 0o600)?;
        self.remove(&dir, PREVIOUS_FILE)?;
        Ok(credential)
    }

    /// A renewal's save, under the renewal lock: the current `device.pem` is kept as
    /// `device.prev.pem` (same rules; when it is usable), then the new pair replaces `device.pem`. A crash in
    /// between leaves the current pair in both files.
    pub fn save_renewed(
        &self,
        lock: &RenewalLock,
        key_pem: &str,
        certificate_pem: &str,
    ) -> Result<DeviceCredential, IdentityFileError> {
        let text = device_pem(key_pem, certificate_pem);
        let credential = DeviceCredential::from_pem(&text, "the new device key and certificate")?;
        let current = self.read_in(&lock.dir, DEVICE_FILE)?;
        // An unusable current file is nothing to go back to.
        if DeviceCredential::from_pem(&current, DEVICE_FILE).is_ok() {
            self.write(&lock.dir, PREVIOUS_FILE, current.as_bytes(), 0o600)?;
        } else {
            self.remove(&lock.dir, PREVIOUS_FILE)?;
        }
        self.write(&lock.dir, DEVICE_FILE, text.as_bytes(), 0o600)?;
        Ok(credential)
    }

    /// The key pair of a provisioning under way (`device.pending.key`), if one is kept.
    pub fn pending_key(&self) -> Result<Option<String>, IdentityFileError> {
        match self.read(PENDING_FILE) {
            Ok(text) => Ok(Some(text)),
            Err(IdentityFileError::NotEnrolled { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Keeps the key pair of a provisioning under way (mode 0600, atomically), made before the
    /// first request so that a retry after a lost answer asks for a certificate of the same key.
    pub fn save_pending_key(&self, key_pem: &str) -> Result<(), IdentityFileError> {
        let dir = self.prepare_dir()?;
        self.write(&dir, PENDING_FILE, key_pem.as_bytes(), 0o600)
    }

    /// The provisioning's certificate is saved: its pending key is no longer needed.
    pub fn forget_pending_key(&self) -> Result<(), IdentityFileError> {
        let dir = self.prepare_dir()?;
        self.remove(&dir, PENDING_FILE)
    }

    /// The new certificate was used: the previous pair is no longer needed.
    pub fn forget_previous(&self, lock: &RenewalLock) -> Result<(), IdentityFileError> {
        self.remove(&lock.dir, PREVIOUS_FILE)
    }

    /// The gateway does not know the new certificate: the previous pair goes back into
    /// `device.pem` (atomically) and `device.prev.pem` is removed. Returns what is in use now,
    /// or `None` when no previous pair is kept.
    pub fn restore_previous(
        &self,
        lock: &RenewalLock,
    ) -> Result<Option<DeviceCredential>, IdentityFileError> {
        let text = match self.read_in(&lock.dir, PREVIOUS_FILE) {
            Ok(text) => text,
            Err(IdentityFileError::NotEnrolled { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let previous =
            DeviceCredential::from_pem(&text, &self.previous_path().display().to_string())?;
        self.write(&lock.dir, DEVICE_FILE, text.as_bytes(), 0o600)?;
        self.remove(&lock.dir, PREVIOUS_FILE)?;
        Ok(Some(previous))
    }

    /// Takes the renewal lock if no other process holds it; `None` when one does.
    pub fn try_lock_renewal(&self) -> Result<Option<RenewalLock>, IdentityFileError> {
        let dir = self.prepare_dir()?;
        let path = self.dir.join(LOCK_FILE);
        let file = self.create(&dir, LOCK_FILE, OFlags::empty(), 0o600)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(RenewalLock { _file: file, dir })),
            Err(Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(IdentityFileError::Write {
                path: path.display().to_string(),
                source: e.into(),
            }),
        }
    }

    /// Takes the renewal lock, waiting up to `wait` for another process to finish with it.
    pub async fn lock_renewal(
        &self,
        wait: std::time::Duration,
    ) -> Result<RenewalLock, IdentityFileError> {
        let until = std::time::Instant::now() + wait;
        loop {
            if let Some(lock) = self.try_lock_renewal()? {
                return Ok(lock);
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(IdentityFileError::Busy {
                    path: self.dir.join(LOCK_FILE).display().to_string(),
                });
            }
            tokio::time::sleep(left.min(std::time::Duration::from_millis(100))).await;
        }
    }

    /// The owner new files get: the data folder's. `kioskctl` may run as root while `kioskd`
    /// runs as the service user: files it writes must stay readable by the service.
    fn owner(&self) -> Option<(u32, u32)> {
        let parent = self.dir.parent()?;
        let m = std::fs::metadata(parent).ok()?;
        Some((m.uid(), m.gid()))
    }

    /// Creates the folder if needed and opens it (never through a symbolic link), mode 0700,
    /// owned like the data folder.
    fn prepare_dir(&self) -> Result<OwnedFd, IdentityFileError> {
        let err = |source| self.dir_error(source, true);
        if let Some(parent) = self.dir.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        // mkdir never follows a symbolic link in the last place.
        match rustix::fs::mkdirat(CWD, &self.dir, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(err(e.into())),
        }
        let dir = self.open_dir().map_err(err)?;
        let dir = File::from(dir);
        dir.set_permissions(std::fs::Permissions::from_mode(0o700))
            .map_err(err)?;
        give_to(&dir, self.owner()).map_err(err)?;
        Ok(dir.into())
    }

    /// Opens `name` in `dir` for writing (`O_CREAT | O_NOFOLLOW` and `extra`), then sets its
    /// mode and owner on the open file.
    fn create(
        &self,
        dir: &OwnedFd,
        name: &str,
        extra: OFlags,
        mode: u32,
    ) -> Result<File, IdentityFileError> {
        let path = self.dir.join(name);
        let fd = rustix::fs::openat(
            dir,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | extra,
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| match e {
            Errno::LOOP => IdentityFileError::FileIsSymlink {
                path: path.display().to_string(),
            },
            e => IdentityFileError::Write {
                path: path.display().to_string(),
                source: e.into(),
            },
        })?;
        let file = File::from(fd);
        let err = |source| IdentityFileError::Write {
            path: path.display().to_string(),
            source,
        };
        // The umask may have taken bits away; the mode is exactly what is asked.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(err)?;
        give_to(&file, self.owner()).map_err(err)?;
        Ok(file)
    }

    /// Refuses `name` in `dir` when it is a symbolic link.
    fn refuse_symlink(&self, dir: &OwnedFd, name: &str) -> Result<(), IdentityFileError> {
        let path = self.dir.join(name);
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                Err(IdentityFileError::FileIsSymlink {
                    path: path.display().to_string(),
                })
            }
            Ok(_) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(IdentityFileError::Write {
                path: path.display().to_string(),
                source: e.into(),
            }),
        }
    }

    /// Writes `name` atomically: a temporary file of its own name (created exclusively, owned
    /// like the data folder, `mode`), fsynced, renamed over the old one, the folder fsynced.
    fn write(
        &self,
        dir: &OwnedFd,
        name: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), IdentityFileError> {
        self.refuse_symlink(dir, name)?;
        let path = self.dir.join(name);
        let err = |source| IdentityFileError::Write {
            path: path.display().to_string(),
            source,
        };
        let tmp = format!(".{name}.{:016x}.tmp", rand::random::<u64>());
        let mut file = self.create(dir, &tmp, OFlags::EXCL, mode)?;
        let written = file
            .write_all(bytes)
            .and_then(|()| file.sync_all())
            .and_then(|()| Ok(rustix::fs::renameat(dir, &tmp, dir, name)?));
        if let Err(e) = written {
            let _ = rustix::fs::unlinkat(dir, &tmp, AtFlags::empty());
            return Err(err(e));
        }
        rustix::fs::fsync(dir).map_err(|e| err(e.into()))
    }

    /// Removes `name` from `dir` if it is there, the folder fsynced.
    fn remove(&self, dir: &OwnedFd, name: &str) -> Result<(), IdentityFileError> {
        let err = |e: Errno| IdentityFileError::Write {
            path: self.dir.join(name).display().to_string(),
            source: e.into(),
        };
        match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
            Ok(()) => rustix::fs::fsync(dir).map_err(err),
            Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(err(e)),
        }
    }
}

/// Gives the open `file` to `owner` when it belongs to someone else (only root can; a process
/// writing in its own folder never needs to). By descriptor: never a path a link could divert.
fn give_to(file: &File, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    if file.metadata()?.uid() != uid {
        std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
    }
    Ok(())
}
