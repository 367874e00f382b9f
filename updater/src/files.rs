//! Files in folders the unprivileged kioskd owns, handled by a root process. kioskd (or whoever
//! took it over) can put a symlink, a FIFO or a huge file anywhere in its own folders; the
//! updater therefore opens each folder without following a link (`O_NOFOLLOW | O_DIRECTORY`)
//! below a parent kioskd cannot change, opens files in it the same way and only if they are
//! regular files, reads at most a set number of bytes, and replaces a file by renaming a new
//! one over it inside the same folder (a link in its place is replaced, never followed).

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// A folder opened without following a symlink.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    shown: String,
}

/// A file operation that failed, with the path, for the log and the result.
#[derive(Debug, thiserror::Error)]
#[error("{what} {path}: {source}")]
pub struct FileError {
    what: &'static str,
    path: String,
    source: std::io::Error,
}

fn fail(what: &'static str, path: String) -> impl FnOnce(rustix::io::Errno) -> FileError {
    move |e| FileError {
        what,
        path,
        source: e.into(),
    }
}

impl Folder {
    /// Opens `path` (an absolute path whose parents belong to root) without following a link
    /// in its last part.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let shown = path.display().to_string();
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail("open folder", shown.clone()))?;
        Ok(Self { fd, shown })
    }

    /// A subfolder, not following a link.
    pub fn sub(&self, name: &str) -> Result<Self, FileError> {
        let shown = format!("{}/{name}", self.shown);
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail("open folder", shown.clone()))?;
        Ok(Self { fd, shown })
    }

    /// The path shown in messages.
    pub fn shown(&self, name: &str) -> String {
        format!("{}/{name}", self.shown)
    }

    /// The owner (uid, gid) of the folder.
    pub fn owner(&self) -> Result<(u32, u32), FileError> {
        let st = rustix::fs::fstat(&self.fd).map_err(fail("stat", self.shown.clone()))?;
        Ok((st.st_uid, st.st_gid))
    }

    /// Opens a regular file for reading; `Ok(None)` when there is none.
    pub fn open_regular(&self, name: &str) -> Result<Option<std::fs::File>, FileError> {
        let shown = self.shown(name);
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            // NONBLOCK: a FIFO in its place must not hang the updater.
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(fail("open", shown)(e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(fail("stat", shown.clone()))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(FileError {
                what: "refuse",
                path: shown,
                source: std::io::Error::other("not a regular file"),
            });
        }
        // A second name would be a hard link to a file that may not be kioskd's.
        if st.st_nlink != 1 {
            return Err(FileError {
                what: "refuse",
                path: shown,
                source: std::io::Error::other("a file with more than one link"),
            });
        }
        Ok(Some(std::fs::File::from(fd)))
    }

    /// The subfolder `name`, made (0700, owned by `owner`) when missing.
    pub fn sub_or_make(&self, name: &str, owner: (u32, u32)) -> Result<Self, FileError> {
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {
                let made = self.sub(name)?;
                rustix::fs::fchown(
                    &made.fd,
                    Some(rustix::fs::Uid::from_raw(owner.0)),
                    Some(rustix::fs::Gid::from_raw(owner.1)),
                )
                .map_err(fail("chown", made.shown.clone()))?;
                Ok(made)
            }
            Err(rustix::io::Errno::EXIST) => self.sub(name),
            Err(e) => Err(fail("make folder", self.shown(name))(e)),
        }
    }

    /// Renames `from` to `to` inside the folder (a link is renamed, never followed); `Ok(false)`
    /// when there is no `from`.
    pub fn rename(&self, from: &str, to: &str) -> Result<bool, FileError> {
        match rustix::fs::renameat(&self.fd, from, &self.fd, to) {
            Ok(()) => self.sync().map(|()| true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(fail("rename", self.shown(from))(e)),
        }
    }

    /// The whole of a regular file of at most `max` bytes; `Ok(None)` when there is none.
    pub fn read(&self, name: &str, max: u64) -> Result<Option<Vec<u8>>, FileError> {
        let Some(f) = self.open_regular(name)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        f.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| FileError {
                what: "read",
                path: self.shown(name),
                source,
            })?;
        if bytes.len() as u64 > max {
            return Err(FileError {
                what: "refuse",
                path: self.shown(name),
                source: std::io::Error::other(format!("larger than {max} bytes")),
            });
        }
        Ok(Some(bytes))
    }

    /// Writes `bytes` as `name` atomically: a new file (never an existing one or a link), owned
    /// by `owner` with `mode`, fsynced, renamed over `name`, the folder fsynced.
    pub fn replace(
        &self,
        name: &str,
        bytes: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<(), FileError> {
        self.replace_from(name, &mut &bytes[..], mode, owner)
    }

    /// [`Folder::replace`] with the content streamed from `from`.
    pub fn replace_from(
        &self,
        name: &str,
        from: &mut dyn Read,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<(), FileError> {
        // A name kioskd cannot guess in advance (it could otherwise plant a folder there).
        let mut attempt = 0u32;
        let (temp, fd) = loop {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let temp = format!(".{name}.updater-{}-{nanos:x}-{attempt}", std::process::id());
            match rustix::fs::openat(
                &self.fd,
                temp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode),
            ) {
                Ok(fd) => break (temp, fd),
                Err(rustix::io::Errno::EXIST) if attempt < 8 => attempt += 1,
                Err(e) => return Err(fail("create", self.shown(&temp))(e)),
            }
        };
        let shown = self.shown(&temp);
        if let Some((uid, gid)) = owner {
            rustix::fs::fchown(
                &fd,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
            )
            .map_err(fail("chown", shown.clone()))?;
        }
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(fail("chmod", shown.clone()))?;
        let mut file = std::fs::File::from(fd);
        std::io::copy(from, &mut file)
            .and_then(|_| file.flush())
            .and_then(|()| file.sync_all())
            .map_err(|source| FileError {
                what: "write",
                path: shown.clone(),
                source,
            })?;
        if let Err(e) = rustix::fs::renameat(&self.fd, temp.as_str(), &self.fd, name) {
            let _ = rustix::fs::unlinkat(&self.fd, temp.as_str(), AtFlags::empty());
            return Err(fail("rename", self.shown(name))(e));
        }
        self.sync()
    }

    /// Removes `name` (nothing there is fine).
    pub fn remove(&self, name: &str) -> Result<(), FileError> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => self.sync(),
            Err(e) => Err(fail("remove", self.shown(name))(e)),
        }
    }

    /// Whether `name` exists (as anything, a link included).
    pub fn has(&self, name: &str) -> bool {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
    }

    fn sync(&self) -> Result<(), FileError> {
        rustix::fs::fsync(self.fd.as_fd()).map_err(fail("fsync", self.shown.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_neither_followed_on_read_nor_on_replace() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"root's").unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        std::os::unix::fs::symlink(&secret, spool.join("state.json")).unwrap();
        let f = Folder::open(&spool).unwrap();
        assert!(f.read("state.json", 100).is_err(), "a link was read");
        f.replace("state.json", b"{}", 0o644, None).unwrap();
        assert_eq!(std::fs::read(&secret).unwrap(), b"root's");
        assert_eq!(std::fs::read(spool.join("state.json")).unwrap(), b"{}");
        // A linked folder is refused.
        std::os::unix::fs::symlink(dir.path(), dir.path().join("spool2")).unwrap();
        assert!(Folder::open(&dir.path().join("spool2")).is_err());
        std::os::unix::fs::symlink(dir.path(), spool.join("downloads")).unwrap();
        assert!(f.sub("downloads").is_err(), "a linked subfolder was opened");
    }

    #[test]
    fn a_hard_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("roots"), b"x").unwrap();
        std::fs::hard_link(dir.path().join("roots"), dir.path().join("request.json")).unwrap();
        let f = Folder::open(dir.path()).unwrap();
        assert!(f.read("request.json", 10).is_err());
    }

    #[test]
    fn a_fifo_or_a_large_file_is_refused_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let f = Folder::open(dir.path()).unwrap();
        assert!(f.read("none", 10).unwrap().is_none());
        std::fs::write(dir.path().join("big"), vec![b'x'; 11]).unwrap();
        assert!(f.read("big", 10).is_err());
        assert_eq!(f.read("big", 11).unwrap().unwrap().len(), 11);
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert!(f.read("fifo", 10).is_err());
        }
    }
}
