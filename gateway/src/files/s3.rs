//! Where blobs go ([`BlobStorage`]), and the S3-compatible store (MinIO, Ceph RGW, Garage, AWS):
//! its endpoint, bucket, region, addressing style, the CA its TLS certificate is checked
//! against, and credentials read from a file, never from a command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::{ClientOptions, ObjectStore};

use crate::GatewayError;

/// Where the gateway keeps blobs and in-progress uploads.
#[derive(Debug, Clone, Default)]
pub enum BlobStorage {
    /// Local files under the data directory (the embedded default).
    #[default]
    Local,
    /// An S3-compatible bucket, shared by every gateway instance on one PostgreSQL.
    S3(S3Storage),
}

/// An S3-compatible bucket. `Debug` shows no credential.
#[derive(Clone)]
pub struct S3Storage {
    /// `https://host:port` of the service (`http://` only for a test server on this machine);
    /// `None` is AWS itself.
    pub endpoint: Option<String>,
    /// The bucket (made beforehand by the storage's administrator).
    pub bucket: String,
    /// The region the signatures name (`us-east-1` for most self-hosted services).
    pub region: String,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO, Ceph RGW and Garage serve by
    /// default; otherwise virtual-hosted style (`bucket.endpoint/key`).
    pub path_style: bool,
    /// A CA certificate (PEM) trusted besides the system's for the endpoint's TLS.
    pub ca_file: Option<PathBuf>,
    /// The access key and its secret.
    pub credentials: S3Credentials,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("ca_file", &self.ca_file)
            .field("access_key_id", &self.credentials.access_key_id)
            .finish_non_exhaustive()
    }
}

/// S3 credentials. `Debug` shows the key id only.
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl S3Credentials {
    /// Reads credentials from a TOML file with `access_key_id = "…"` and
    /// `secret_access_key = "…"`. The file must not be readable by group or others (0600 or
    /// 0400): a secret another account can read is no secret. A systemd credential (a file in
    /// `$CREDENTIALS_DIRECTORY`) is taken as systemd made it.
    pub fn from_file(path: &Path) -> Result<Self, GatewayError> {
        let bad = |reason: String| {
            GatewayError::Config(format!(
                "the S3 credentials file {}: {reason}",
                path.display()
            ))
        };
        // systemd hands credentials over with the access it chose (only the service's user).
        let systemd = std::env::var_os("CREDENTIALS_DIRECTORY")
            .is_some_and(|dir| path.starts_with(Path::new(&dir)));
        #[cfg(unix)]
        if !systemd {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| bad(format!("cannot be read: {e}")))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "is readable by other accounts (mode {:o}): chmod 600 it",
                    mode & 0o777
                )));
            }
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        let creds: Self = toml::from_str(&text).map_err(|e| {
            // The parser's message may quote the line, secret included: say only where.
            let at = e
                .span()
                .map(|s| format!(" (at byte {})", s.start))
                .unwrap_or_default();
            bad(format!(
                "is not `access_key_id = \"…\"` and `secret_access_key = \"…\"`{at}"
            ))
        })?;
        if creds.access_key_id.trim().is_empty() || creds.secret_access_key.trim().is_empty() {
            return Err(bad("has an empty key id or secret".into()));
        }
        Ok(creds)
    }
}

/// Builds the S3 store and the name errors and logs give it.
pub(super) fn open(s3: &S3Storage) -> Result<(Arc<dyn ObjectStore>, String), GatewayError> {
    let name = format!(
        "s3 bucket {} at {}",
        s3.bucket,
        s3.endpoint.as_deref().unwrap_or("AWS")
    );
    let bad = |reason: String| GatewayError::Config(format!("{name}: {reason}"));
    if s3.bucket.trim().is_empty() {
        return Err(bad("no bucket named".into()));
    }
    let mut options = ClientOptions::new();
    if let Some(ca) = &s3.ca_file {
        let pem = std::fs::read(ca).map_err(|e| GatewayError::file("read the CA file", ca, e))?;
        let certs = object_store::Certificate::from_pem_bundle(&pem)
            .map_err(|e| bad(format!("the CA file {} is not PEM: {e}", ca.display())))?;
        for cert in certs {
            options = options.with_root_certificate(cert);
        }
    }
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_access_key_id(&s3.credentials.access_key_id)
        .with_secret_access_key(&s3.credentials.secret_access_key)
        .with_virtual_hosted_style_request(!s3.path_style);
    if let Some(endpoint) = &s3.endpoint {
        let url = url::Url::parse(endpoint)
            .map_err(|e| bad(format!("the endpoint is not a URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" => {
                // The parsed host, not a prefix of the text: `http://127.0.0.1:9000@host/`
                // names `host` (the part before `@` is a user name).
                if !is_this_machine(url.host()) {
                    return Err(bad(
                        "plain http:// is accepted only on this machine (a test server): scans \
                         are personal data, use https://"
                            .into(),
                    ));
                }
                options = options.with_allow_http(true);
            }
            _ => return Err(bad("the endpoint must be an https:// URL".into())),
        }
        builder = builder.with_endpoint(endpoint);
    }
    let store = builder
        .with_client_options(options)
        .build()
        .map_err(|e| bad(format!("cannot be configured: {e}")))?;
    Ok((Arc::new(store), name))
}

/// Whether an endpoint's host is this machine (127.0.0.1, ::1 or localhost).
fn is_this_machine(host: Option<url::Host<&str>>) -> bool {
    match host {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("s3-credentials");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn credentials_are_read_from_a_private_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let good = "access_key_id = \"AKIAMOTCUA\"\nsecret_access_key = \"s3cr3t-value\"\n";
        let path = write(dir.path(), good, 0o600);
        let creds = S3Credentials::from_file(&path).expect("a 0600 file is read");
        assert_eq!(creds.access_key_id, "AKIAMOTCUA");
        assert_eq!(creds.secret_access_key, "s3cr3t-value");
        assert!(!format!("{creds:?}").contains("s3cr3t"), "{creds:?}");

        // Readable by others: refused, saying how to fix it.
        let path = write(dir.path(), good, 0o644);
        let err = S3Credentials::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");

        // A malformed file: the message says where, never what (the line holds the secret).
        let path = write(dir.path(), "secret_access_key = s3cr3t-value\n", 0o600);
        let err = S3Credentials::from_file(&path).unwrap_err().to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(err.contains("at byte"), "says where: {err}");

        let path = write(
            dir.path(),
            "access_key_id = \"\"\nsecret_access_key = \"x\"\n",
            0o600,
        );
        assert!(S3Credentials::from_file(&path).is_err(), "an empty key id");
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        let storage = |endpoint: &str| S3Storage {
            endpoint: Some(endpoint.to_string()),
            bucket: "b".into(),
            region: "us-east-1".into(),
            path_style: true,
            ca_file: None,
            credentials: S3Credentials {
                access_key_id: "k".into(),
                secret_access_key: "s3cr3t".into(),
            },
        };
        assert!(open(&storage("http://127.0.0.1:9000")).is_ok());
        let err = open(&storage("http://s3.example.gov.vn:9000"))
            .expect_err("plain http to another host")
            .to_string();
        assert!(err.contains("https://"), "{err}");
        assert!(open(&storage("http://[::1]:9000")).is_ok(), "IPv6 loopback");
        assert!(open(&storage("http://localhost:9000/")).is_ok());
        // A loopback address before `@` is a user name: the host is the other machine.
        for other in [
            "http://127.0.0.1:9000@s3.example.gov.vn/",
            "http://127.0.0.1@s3.example.gov.vn:9000",
            "http://localhost.example.gov.vn",
            "http://127.0.0.2:9000",
        ] {
            let err = open(&storage(other)).expect_err(other).to_string();
            assert!(err.contains("https://"), "{other}: {err}");
        }
        assert!(open(&storage("ftp://127.0.0.1")).is_err());
        assert!(open(&storage("not a url")).is_err());
        assert!(open(&storage("https://s3.example.gov.vn")).is_ok());
        assert!(!format!("{:?}", storage("https://x")).contains("s3cr3t"));
    }
}
