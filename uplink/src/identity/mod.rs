//! The kiosk's identity on the link, as files in `<data_dir>/identity/` (mode 0700):
//!
//! - `device.pem` (0600): the device's private key **and** its certificate in one file, so a
//!   renewal replaces both at once (written to a temporary file, fsynced, renamed, the folder
//!   fsynced): a crash leaves either the old pair or the new one, never a key with the wrong
//!   certificate;
//! - `ca.crt`: the trust anchor, the province's CA, given to `kioskctl enroll` by the
//!   technician. The gateway's server certificate must be signed by it, and nothing else is
//!   trusted (no system roots);
//! - `device.prev.pem` (0600): the pair a renewal replaced, kept until the new certificate has
//!   been used once (the gateway keeps the old one valid until then), so a gateway that does
//!   not know the new certificate can be answered with the old one;
//! - `.lock`: taken (`flock`) around a renewal and its save, so `kioskctl identity renew` and
//!   kioskd's own renewal never interleave.
//!
//! Every file is written under a name of its own (`.device.pem.<random>.tmp`, created
//! exclusively), fsynced and renamed into place, the folder fsynced: two writers never share a
//! temporary file. `kioskctl` may run as root in a folder the service user owns, so the folder
//! is opened once without following a symbolic link and everything else is done through that
//! descriptor (`openat` with `O_NOFOLLOW`, `fchmod`, `fchown`, `renameat`): a symbolic link
//! put in place of the folder or of a file is refused, never written, chmod-ed or chown-ed
//! through.
//!
//! The private key is made on the device, never leaves it and is never logged: the types here
//! print no key in `Debug`.
//!
//! The module is split in two: `credential.rs` holds what the files contain (the trust
//! anchor, the device credential, the checks of an issued certificate), `files.rs` how they are
//! kept (the folder opened without following links, atomic writes, the renewal lock).

mod credential;
mod files;

pub use credential::{check_issued, device_pem, DeviceCredential, TrustAnchor};
pub use files::{FileStamp, IdentityFiles, RenewalLock};

/// The identity folder inside the data folder.
pub const IDENTITY_DIR: &str = "identity";
/// The device's key and certificate (one PEM file).
pub const DEVICE_FILE: &str = "device.pem";
/// The trust anchor: the province's CA certificate.
pub const CA_FILE: &str = "ca.crt";
/// The pair a renewal replaced, until the new certificate has been used once.
pub const PREVIOUS_FILE: &str = "device.prev.pem";
/// The key pair of a provisioning under way, until its certificate is saved.
pub const PENDING_FILE: &str = "device.pending.key";
/// The lock file of renewals.
pub const LOCK_FILE: &str = ".lock";

/// Why the identity files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityFileError {
    /// `device.pem` or `ca.crt` does not exist: the kiosk was never enrolled.
    #[error("chưa đăng ký / not enrolled (kioskctl enroll): {path} does not exist")]
    NotEnrolled {
        /// The missing file.
        path: String,
    },
    /// A file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file cannot be written (full disk, permissions).
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The identity folder is a symbolic link (someone put it in place of the folder).
    #[error(
        "thư mục identity là liên kết tượng trưng / the identity folder {path} is a symbolic link: \
         refusing to read or write the device key through it; a technician must put the real folder back"
    )]
    FolderIsSymlink {
        /// The folder.
        path: String,
    },
    /// A file in the identity folder is a symbolic link.
    #[error(
        "tệp định danh là liên kết tượng trưng / {path} is a symbolic link: refusing to read or \
         write the device key through it; a technician must remove it (and re-enrol if it was device.pem)"
    )]
    FileIsSymlink {
        /// The file.
        path: String,
    },
    /// Another process holds the renewal lock.
    #[error(
        "đang có một lần gia hạn khác / another renewal is running ({path} is locked): \
         try again when it has finished"
    )]
    Busy {
        /// The lock file.
        path: String,
    },
    /// A file is readable but not what it must be; a technician re-enrols the kiosk.
    #[error(
        "{path} is not usable: {detail}; a technician must re-enrol this kiosk (kioskctl enroll)"
    )]
    Invalid {
        /// The file (or what was being read).
        path: String,
        /// What is wrong.
        detail: String,
    },
}
