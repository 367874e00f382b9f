//! Where `gateway serve` keeps blobs and in-progress uploads: local files under the data
//! directory (the default), or an S3-compatible bucket when `--s3-bucket` is given. The S3
//! credentials come from a file (`--s3-credentials-file`, mode 0600) or the systemd credential
//! `s3-credentials`, never from a command line or the environment, and are never logged.

use std::path::PathBuf;

use anyhow::Context;
use motcua_gateway::{BlobStorage, S3Credentials, S3Storage};

/// The storage options of `gateway serve`.
#[derive(clap::Args)]
pub(crate) struct StorageArgs {
    /// S3 bucket for blobs and in-progress uploads (made beforehand); without it they are
    /// files under --data-dir. Several gateway instances on one PostgreSQL need one bucket.
    #[arg(long, env = "MOTCUA_GATEWAY_S3_BUCKET")]
    s3_bucket: Option<String>,
    /// The S3 service, `https://host:port` (`http://` only on 127.0.0.1, for tests); without
    /// it, AWS.
    #[arg(long, env = "MOTCUA_GATEWAY_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    /// The region the requests are signed for.
    #[arg(long, env = "MOTCUA_GATEWAY_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    /// Path-style requests (`endpoint/bucket/key`, as MinIO, Ceph RGW and Garage serve);
    /// `false` for virtual-hosted style (`bucket.endpoint/key`).
    #[arg(long, env = "MOTCUA_GATEWAY_S3_PATH_STYLE", default_value_t = true,
        action = clap::ArgAction::Set)]
    s3_path_style: bool,
    /// A CA certificate (PEM) trusted besides the system's for the S3 endpoint's TLS.
    #[arg(long, env = "MOTCUA_GATEWAY_S3_CA_FILE")]
    s3_ca_file: Option<PathBuf>,
    /// TOML file with `access_key_id = "…"` and `secret_access_key = "…"`, not readable by
    /// others (0600). Default: the systemd credential `s3-credentials`.
    #[arg(long, env = "MOTCUA_GATEWAY_S3_CREDENTIALS_FILE")]
    s3_credentials_file: Option<PathBuf>,
}

impl StorageArgs {
    /// No storage options: for commands that touch only the database.
    pub(crate) fn local() -> Self {
        Self {
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_path_style: true,
            s3_ca_file: None,
            s3_credentials_file: None,
        }
    }

    /// The storage these options name.
    pub(crate) fn storage(self) -> anyhow::Result<BlobStorage> {
        let Some(bucket) = self.s3_bucket else {
            anyhow::ensure!(
                self.s3_endpoint.is_none() && self.s3_credentials_file.is_none(),
                "--s3-endpoint and --s3-credentials-file need --s3-bucket"
            );
            return Ok(BlobStorage::Local);
        };
        let file =
            super::secrets::optional_credential_file(self.s3_credentials_file, "s3-credentials")
                .context(
                    "no S3 credentials: give --s3-credentials-file FILE (mode 0600), or run under \
             systemd with LoadCredential=s3-credentials:FILE",
                )?;
        Ok(BlobStorage::S3(S3Storage {
            endpoint: self.s3_endpoint,
            bucket,
            region: self.s3_region,
            path_style: self.s3_path_style,
            ca_file: self.s3_ca_file,
            credentials: S3Credentials::from_file(&file)?,
        }))
    }
}
