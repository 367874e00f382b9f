//! The province's CA on disk: what `gateway ca init`, `ca server-cert` and `ca issue` do, and
//! [`lab_pki`] for a throwaway CA in one call (the kiosk's demo mode, tests).
//!
//! Private keys are written readable by their owner only (mode 0600) and never over an existing
//! file: replacing a CA by accident would cut off every enrolled kiosk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use motcua_identity::{Authority, Issued, Role};

use crate::GatewayError;

/// Default lifetime of the CA: 20 years (kiosks keep it as their trust anchor).
pub const CA_LIFETIME: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// Default lifetime of the server certificate: 2 years (`ca server-cert` renews it).
pub const SERVER_CERT_LIFETIME: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

/// The files of a CA directory made by [`ca_init`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabPki {
    /// `DIR/ca.crt`: the CA certificate (the kiosks' trust anchor).
    pub ca_cert_file: PathBuf,
    /// `DIR/ca.key` (0600): the CA's private key, which signs device certificates.
    pub ca_key_file: PathBuf,
    /// `DIR/tls.crt`: the server certificate, then the CA certificate.
    pub tls_cert_file: PathBuf,
    /// `DIR/tls.key` (0600): the server's private key.
    pub tls_key_file: PathBuf,
    /// SHA-256 of the CA certificate (lowercase hex), what a technician compares.
    pub ca_fingerprint: String,
}

impl LabPki {
    /// The standard file names in `dir` (the fingerprint is filled in by [`ca_init`] and
    /// [`LabPki::open`]).
    fn paths(dir: &Path) -> Self {
        Self {
            ca_cert_file: dir.join("ca.crt"),
            ca_key_file: dir.join("ca.key"),
            tls_cert_file: dir.join("tls.crt"),
            tls_key_file: dir.join("tls.key"),
            ca_fingerprint: String::new(),
        }
    }

    /// An existing CA directory.
    pub fn open(dir: &Path) -> Result<Self, GatewayError> {
        let mut pki = Self::paths(dir);
        pki.ca_fingerprint = motcua_identity::certificate_fingerprint(&pki.ca_cert_pem()?)?;
        Ok(pki)
    }

    /// The CA certificate, PEM.
    pub fn ca_cert_pem(&self) -> Result<String, GatewayError> {
        read(&self.ca_cert_file)
    }

    /// The CA, loaded with its key.
    pub fn authority(&self) -> Result<Authority, GatewayError> {
        Ok(Authority::load(
            &self.ca_cert_pem()?,
            &read(&self.ca_key_file)?,
        )?)
    }

    /// A certificate and private key (PEM) for a role holder, written nowhere.
    pub fn issue_role(
        &self,
        role: Role,
        name: &str,
        lifetime: Duration,
    ) -> Result<(Issued, String), GatewayError> {
        Ok(self.authority()?.issue_role(role, name, lifetime)?)
    }
}

pub(crate) fn read(path: &Path) -> Result<String, GatewayError> {
    std::fs::read_to_string(path).map_err(|e| GatewayError::file("read", path, e))
}

/// Writes a new file (never over an existing one); `secret` makes it 0600.
pub(crate) fn write_new(path: &Path, contents: &str, secret: bool) -> Result<(), GatewayError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 });
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            GatewayError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            GatewayError::file("create", path, e)
        }
    })?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| GatewayError::file("write", path, e))
}

/// Writes `path` anew through a temporary file and a rename, so a gateway reloading on SIGHUP
/// reads the old file or the new one, never half of one.
fn replace(path: &Path, contents: &str, secret: bool) -> Result<(), GatewayError> {
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, contents, secret)?;
    std::fs::rename(&tmp, path).map_err(|e| GatewayError::file("replace", path, e))
}

fn refuse_existing(paths: &[&Path]) -> Result<(), GatewayError> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) => Err(GatewayError::Exists {
            path: p.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Makes a CA named `name` and a server certificate for `hosts` in `dir` (created if needed):
/// `ca.crt`, `ca.key`, `tls.crt` (server certificate then CA), `tls.key`. Refuses if any of
/// them exists.
pub fn ca_init(
    dir: &Path,
    hosts: &[String],
    name: &str,
    lifetime: Duration,
) -> Result<LabPki, GatewayError> {
    if hosts.is_empty() {
        return Err(GatewayError::Config(
            "the server certificate needs at least one host name or address (--host)".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|source| GatewayError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut pki = LabPki::paths(dir);
    refuse_existing(&[
        &pki.ca_cert_file,
        &pki.ca_key_file,
        &pki.tls_cert_file,
        &pki.tls_key_file,
    ])?;
    let (ca, ca_key) = Authority::create(name, lifetime)?;
    let (server, server_key) = ca.issue_server(hosts, SERVER_CERT_LIFETIME.min(lifetime))?;
    write_new(&pki.ca_key_file, &ca_key, true)?;
    write_new(&pki.ca_cert_file, ca.cert_pem(), false)?;
    write_new(&pki.tls_key_file, &server_key, true)?;
    write_new(
        &pki.tls_cert_file,
        &format!("{server}{}", ca.cert_pem()),
        false,
    )?;
    pki.ca_fingerprint = motcua_identity::certificate_fingerprint(ca.cert_pem())?;
    provisioning_key_init(dir)?;
    Ok(pki)
}

/// The provisioning key files of a CA directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningKeyFiles {
    /// `DIR/provisioning.key` (0600): signs setup codes. A secret.
    pub key_file: PathBuf,
    /// `DIR/provisioning.pub`: the public key line, installed on kiosks as
    /// `/etc/motcua/provisioning.pub`. Not a secret.
    pub public_file: PathBuf,
    /// The public key line (`ed25519:…`).
    pub public_key: String,
    /// Whether they were made now (else they were there and are kept).
    pub created: bool,
}

/// Makes `DIR/provisioning.key` and `DIR/provisioning.pub` unless the key is there already
/// (then it is kept, and the public file written again if missing): like the rest of
/// `ca init`, running it twice changes nothing, and a key kiosks already trust is never
/// replaced by accident.
pub fn provisioning_key_init(dir: &Path) -> Result<ProvisioningKeyFiles, GatewayError> {
    use motcua_identity::setup_code::ProvisioningKey;
    let key_file = dir.join("provisioning.key");
    let public_file = dir.join("provisioning.pub");
    let (key, created) = if key_file.exists() {
        (provisioning_key(&key_file)?, false)
    } else {
        let key = ProvisioningKey::generate()
            .map_err(|e| GatewayError::Config(format!("cannot make a provisioning key: {e}")))?;
        write_new(&key_file, &key.to_pem(), true)?;
        (key, true)
    };
    let public_key = key.public_key();
    if !public_file.exists() {
        write_new(
            &public_file,
            &format!(
                "# motcua provisioning public key: kiosks accept only setup codes signed by it.\n\
                 # Not a secret: install it on every kiosk as /etc/motcua/provisioning.pub.\n\
                 {public_key}\n"
            ),
            false,
        )?;
    }
    Ok(ProvisioningKeyFiles {
        key_file,
        public_file,
        public_key,
        created,
    })
}

/// Reads a provisioning key file (PEM).
pub fn provisioning_key(
    path: &Path,
) -> Result<motcua_identity::setup_code::ProvisioningKey, GatewayError> {
    motcua_identity::setup_code::ProvisioningKey::from_pem(&read(path)?).map_err(|e| {
        GatewayError::Config(format!(
            "the provisioning key {} cannot be used: {e}",
            path.display()
        ))
    })
}

/// Issues a new server certificate for `hosts` with the CA of `dir`, replacing `tls.crt` and
/// `tls.key` (a running gateway takes it on SIGHUP).
pub fn ca_server_cert(
    dir: &Path,
    hosts: &[String],
    lifetime: Duration,
) -> Result<LabPki, GatewayError> {
    let pki = LabPki::open(dir)?;
    let ca = pki.authority()?;
    let (server, key) = ca.issue_server(hosts, lifetime)?;
    replace(&pki.tls_key_file, &key, true)?;
    replace(
        &pki.tls_cert_file,
        &format!("{server}{}", ca.cert_pem()),
        false,
    )?;
    Ok(pki)
}

/// Issues a role certificate with the CA of `dir` into `PREFIX.crt` and `PREFIX.key` (0600),
/// refusing to overwrite either.
pub fn ca_issue(
    dir: &Path,
    role: Role,
    name: &str,
    out_prefix: &Path,
    lifetime: Duration,
) -> Result<(Issued, PathBuf, PathBuf), GatewayError> {
    let pki = LabPki::open(dir)?;
    let with_ext = |ext: &str| {
        let mut s = out_prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    let (crt, key) = (with_ext(".crt"), with_ext(".key"));
    refuse_existing(&[&crt, &key])?;
    let (issued, key_pem) = pki.issue_role(role, name, lifetime)?;
    write_new(&key, &key_pem, true)?;
    write_new(&crt, &issued.cert_pem, false)?;
    Ok((issued, crt, key))
}

/// A throwaway CA for `hosts` in `dir`, as `gateway ca init` makes it: for the kiosk's demo
/// mode and tests, which start a gateway in-process with one call.
pub fn lab_pki(dir: &Path, hosts: &[String]) -> Result<LabPki, GatewayError> {
    ca_init(dir, hosts, "motcua lab CA", CA_LIFETIME)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn init_writes_private_keys_0600_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("dir");
        let hosts = ["gw.example".to_string(), "10.0.0.5".to_string()];
        let pki = ca_init(dir.path(), &hosts, "motcua Tỉnh Thử", CA_LIFETIME).expect("init");
        for key in [&pki.ca_key_file, &pki.tls_key_file] {
            let mode = std::fs::metadata(key).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", key.display());
        }
        // tls.crt is the server certificate, then the CA's.
        let chain = read(&pki.tls_cert_file).expect("chain");
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(chain.ends_with(&read(&pki.ca_cert_file).expect("ca")));
        assert!(matches!(
            ca_init(dir.path(), &hosts, "again", CA_LIFETIME),
            Err(GatewayError::Exists { .. })
        ));
        let prefix = dir.path().join("tech");
        let (issued, crt, key) = ca_issue(
            dir.path(),
            Role::Technician,
            "Nguyễn Văn A",
            &prefix,
            Duration::from_secs(3600),
        )
        .expect("issue");
        assert_eq!(issued.identity.role, Role::Technician);
        assert!(crt.exists());
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            ca_issue(
                dir.path(),
                Role::Auditor,
                "x",
                &prefix,
                Duration::from_secs(60)
            ),
            Err(GatewayError::Exists { .. })
        ));
        // A new server certificate replaces the old pair with the same CA.
        let before = read(&pki.tls_cert_file).expect("chain");
        ca_server_cert(dir.path(), &hosts, SERVER_CERT_LIFETIME).expect("server-cert");
        assert_ne!(read(&pki.tls_cert_file).expect("chain"), before);
    }
}
