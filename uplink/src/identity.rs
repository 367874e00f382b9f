//! The kiosk's identity on the link, as files in `<data_dir>/identity/` (mode 0700):
//!
//! - `device.pem` (0600): the device's private key **and** its certificate in one file, so a
//!   renewal replaces both at once (written to a temporary file, fsynced, renamed, the folder
//!   fsynced): a crash leaves either the old pair or the new one, never a key with the wrong
//!   certificate;
//! - `ca.crt`: the trust anchor, the province's CA, given to `kioskctl enroll` by the
//!   technician. The gateway's server certificate must be signed by it, and nothing else is
//!   trusted (no system roots).
//!
//! The private key is made on the device, never leaves it and is never logged: the types here
//! print no key in `Debug`.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use motcua_domain::wire::DeviceCertificate;
use motcua_identity::{PeerIdentity, Role};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The identity folder inside the data folder.
pub const IDENTITY_DIR: &str = "identity";
/// The device's key and certificate (one PEM file).
pub const DEVICE_FILE: &str = "device.pem";
/// The trust anchor: the province's CA certificate.
pub const CA_FILE: &str = "ca.crt";

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

/// The province's CA certificate, the only thing the kiosk trusts the gateway's certificate by.
#[derive(Clone)]
pub struct TrustAnchor {
    pem: String,
    fingerprint: String,
    certificate: reqwest::Certificate,
}

impl std::fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchor")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl TrustAnchor {
    /// Reads a CA certificate (PEM, one certificate); `origin` names it in errors.
    pub fn from_pem(pem: &str, origin: &str) -> Result<Self, IdentityFileError> {
        let invalid = |detail: String| IdentityFileError::Invalid {
            path: origin.to_owned(),
            detail,
        };
        let count = CertificateDer::pem_slice_iter(pem.as_bytes())
            .filter(Result::is_ok)
            .count();
        if count != 1 {
            return Err(invalid(format!(
                "a trust anchor is exactly one PEM certificate (the province's CA), found {count}"
            )));
        }
        let fingerprint =
            motcua_identity::certificate_fingerprint(pem).map_err(|e| invalid(e.to_string()))?;
        let certificate =
            reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            pem: pem.to_owned(),
            fingerprint,
            certificate,
        })
    }

    /// The certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// SHA-256 of the certificate, lowercase hex: what a technician compares with the one the
    /// province published.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn certificate(&self) -> &reqwest::Certificate {
        &self.certificate
    }
}

/// The device's key and certificate, loaded: what the TLS client presents, and who it names.
#[derive(Clone)]
pub struct DeviceCredential {
    identity: reqwest::Identity,
    peer: PeerIdentity,
}

impl std::fmt::Debug for DeviceCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("DeviceCredential")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl DeviceCredential {
    /// Reads a private key and a device certificate from one PEM text and checks that they
    /// belong together (the certificate's public key is the key's) and that the certificate
    /// names a device; `origin` names the text in errors.
    pub fn from_pem(pem: &str, origin: &str) -> Result<Self, IdentityFileError> {
        let invalid = |detail: String| IdentityFileError::Invalid {
            path: origin.to_owned(),
            detail,
        };
        let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| invalid("no private key in it".into()))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(format!("a certificate is unreadable: {e}")))?;
        let Some(first) = certs.first() else {
            return Err(invalid("no certificate in it".into()));
        };
        let peer = PeerIdentity::from_der(first).map_err(|e| invalid(e.to_string()))?;
        if peer.role != Role::Device {
            return Err(invalid(format!(
                "the certificate is a {} certificate, not a device's",
                peer.role
            )));
        }
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(certs, key, &provider).map_err(|e| {
            invalid(format!(
                "the private key does not belong to the certificate ({e})"
            ))
        })?;
        let identity =
            reqwest::Identity::from_pem(pem.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        Ok(Self { identity, peer })
    }

    /// Who the certificate names (serial, site, validity, …).
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    pub(crate) fn identity(&self) -> &reqwest::Identity {
        &self.identity
    }
}

/// Checks a certificate the gateway just issued (enrolment or renewal) before it is saved: it
/// must name this device at this site, and come from the CA this kiosk trusts. A gateway that
/// got the names wrong must not leave the kiosk with a certificate for another device.
pub fn check_issued(
    issued: &DeviceCertificate,
    device_id: &str,
    site: &str,
    anchor: &TrustAnchor,
) -> Result<PeerIdentity, IdentityFileError> {
    let invalid = |detail: String| IdentityFileError::Invalid {
        path: "the certificate the gateway issued".into(),
        detail,
    };
    let peer =
        PeerIdentity::from_pem(&issued.certificate_pem).map_err(|e| invalid(e.to_string()))?;
    if peer.role != Role::Device {
        return Err(invalid(format!("it is a {} certificate", peer.role)));
    }
    if peer.name != device_id {
        return Err(invalid(format!(
            "it names device {:?}, not this kiosk {device_id:?}",
            peer.name
        )));
    }
    if peer.site.as_deref() != Some(site) {
        return Err(invalid(format!(
            "it names site {:?}, not this kiosk's agency code {site:?}",
            peer.site.as_deref().unwrap_or("")
        )));
    }
    let ca = motcua_identity::certificate_fingerprint(&issued.ca_pem)
        .map_err(|e| invalid(format!("its CA certificate is unreadable: {e}")))?;
    if ca != anchor.fingerprint() {
        return Err(invalid(format!(
            "it comes from CA {ca}, not from the province's CA {} this kiosk trusts",
            anchor.fingerprint()
        )));
    }
    Ok(peer)
}

/// The two PEM texts as one `device.pem`: the key first, then the certificate.
pub fn device_pem(key_pem: &str, certificate_pem: &str) -> String {
    let mut text = String::with_capacity(key_pem.len() + certificate_pem.len() + 2);
    text.push_str(key_pem.trim_end());
    text.push('\n');
    text.push_str(certificate_pem.trim_end());
    text.push('\n');
    text
}

/// The identity folder of a kiosk and its two files.
#[derive(Debug, Clone)]
pub struct IdentityFiles {
    dir: PathBuf,
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

    fn read(path: &Path) -> Result<String, IdentityFileError> {
        std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                IdentityFileError::NotEnrolled {
                    path: path.display().to_string(),
                }
            } else {
                IdentityFileError::Read {
                    path: path.display().to_string(),
                    source,
                }
            }
        })
    }

    /// Loads the trust anchor `ca.crt`.
    pub fn anchor(&self) -> Result<TrustAnchor, IdentityFileError> {
        let path = self.ca_path();
        TrustAnchor::from_pem(&Self::read(&path)?, &path.display().to_string())
    }

    /// Loads the device's key and certificate `device.pem`.
    pub fn device(&self) -> Result<DeviceCredential, IdentityFileError> {
        let path = self.device_path();
        DeviceCredential::from_pem(&Self::read(&path)?, &path.display().to_string())
    }

    /// Saves the trust anchor (mode 0644: it is public).
    pub fn save_anchor(&self, anchor: &TrustAnchor) -> Result<(), IdentityFileError> {
        self.write(CA_FILE, anchor.pem().as_bytes(), 0o644)
    }

    /// Checks that the key and certificate belong together, then replaces `device.pem`
    /// atomically (mode 0600). Returns what was saved.
    pub fn save_device(
        &self,
        key_pem: &str,
        certificate_pem: &str,
    ) -> Result<DeviceCredential, IdentityFileError> {
        let text = device_pem(key_pem, certificate_pem);
        let credential = DeviceCredential::from_pem(&text, "the new device key and certificate")?;
        self.write(DEVICE_FILE, text.as_bytes(), 0o600)?;
        Ok(credential)
    }

    /// The owner new files get: the data folder's. `kioskctl` may run as root while `kioskd`
    /// runs as the service user: files it writes must stay readable by the service.
    fn owner(&self) -> Option<(u32, u32)> {
        let parent = self.dir.parent()?;
        let m = std::fs::metadata(parent).ok()?;
        Some((m.uid(), m.gid()))
    }

    fn ensure_dir(&self) -> Result<(), IdentityFileError> {
        let err = |source| IdentityFileError::Write {
            path: self.dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(err)?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
        give_to(&self.dir, self.owner()).map_err(err)
    }

    /// Writes `name` atomically: a temporary file (owned like the data folder, `mode`),
    /// fsynced, renamed over the old one, the folder fsynced.
    fn write(&self, name: &str, bytes: &[u8], mode: u32) -> Result<(), IdentityFileError> {
        self.ensure_dir()?;
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let err = |source| IdentityFileError::Write {
            path: path.display().to_string(),
            source,
        };
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(err)?;
        // The umask may have taken bits away; the mode is exactly what is asked.
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(err)?;
        give_to(&tmp, self.owner()).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(err)?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(err)
    }
}

/// Gives `path` to `owner` when it belongs to someone else (only root can; a process writing
/// in its own folder never needs to).
fn give_to(path: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let Some((uid, gid)) = owner else {
        return Ok(());
    };
    let m = std::fs::metadata(path)?;
    if m.uid() != uid {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    Ok(())
}
