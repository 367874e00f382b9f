//! The storage backends a scenario runs on: embedded SQLite with local files, or a fresh
//! PostgreSQL database per test (with an S3 bucket when an S3 test server is named), and where
//! their blobs and uploads can be looked at as files.

use std::path::PathBuf;

use super::Harness;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the PostgreSQL test database lives, so it can be dropped at the end.
pub struct PgDb {
    pub server_url: String,
    pub name: String,
    pub url: String,
    /// The S3 bucket of this test, when the tests run with an S3 server (see [`S3Server`]).
    pub s3: Option<(S3Server, String)>,
}

/// The S3-compatible test server (`s3s-fs`, started by scripts/test.sh) named by
/// `MOTCUA_TEST_S3_ENDPOINT`, `MOTCUA_TEST_S3_ROOT` (its data folder: a bucket is a folder in
/// it, an object a file) and `MOTCUA_TEST_S3_CREDENTIALS_FILE`. When they are set the
/// PostgreSQL variants keep blobs in S3, a bucket per test; the SQLite variants keep local
/// files, so both storages run without tripling the suite.
#[derive(Clone)]
pub struct S3Server {
    pub endpoint: String,
    pub root: PathBuf,
    pub credentials_file: PathBuf,
}

impl S3Server {
    /// The server of the environment, if any.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Self {
            endpoint: var("MOTCUA_TEST_S3_ENDPOINT")?,
            root: PathBuf::from(var("MOTCUA_TEST_S3_ROOT")?),
            credentials_file: PathBuf::from(var("MOTCUA_TEST_S3_CREDENTIALS_FILE")?),
        })
    }

    /// Makes a fresh bucket (a folder in the server's root).
    pub fn new_bucket(&self) -> String {
        let bucket = format!("motcua-test-{}", hex::encode(rand::random::<[u8; 6]>()));
        std::fs::create_dir_all(self.root.join(&bucket)).expect("make the test bucket");
        bucket
    }

    /// The gateway's storage in `bucket`.
    pub fn storage(&self, bucket: &str) -> motcua_gateway::BlobStorage {
        motcua_gateway::BlobStorage::S3(motcua_gateway::S3Storage {
            endpoint: Some(self.endpoint.clone()),
            bucket: bucket.to_string(),
            region: "us-east-1".into(),
            path_style: true,
            ca_file: None,
            credentials: motcua_gateway::S3Credentials::from_file(&self.credentials_file)
                .expect("the test S3 credentials"),
        })
    }
}

impl PgDb {
    /// A fresh database on the server named by `MOTCUA_TEST_DATABASE_URL` (and a fresh bucket
    /// when the S3 server's variables are set). `None`: PostgreSQL skipped.
    pub async fn create() -> Option<Self> {
        let Ok(server_url) = std::env::var("MOTCUA_TEST_DATABASE_URL") else {
            if std::env::var("MOTCUA_SKIP_POSTGRES").as_deref() == Ok("1") {
                eprintln!("PostgreSQL variant skipped: MOTCUA_SKIP_POSTGRES=1");
                return None;
            }
            panic!(
                "MOTCUA_TEST_DATABASE_URL is not set, so the PostgreSQL variants of the gateway tests cannot run. \
                 Run the tests as gateway/README.md says (start PostgreSQL, then \
                 MOTCUA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5433/postgres cargo test -p motcua-gateway), \
                 or set MOTCUA_SKIP_POSTGRES=1 to test SQLite only."
            );
        };
        let name = format!("motcua_test_{}", hex::encode(rand::random::<[u8; 6]>()));
        pg_admin(&server_url, &format!("CREATE DATABASE {name}")).await;
        let url = replace_db_name(&server_url, &name);
        let s3 = S3Server::from_env().map(|s3| {
            let bucket = s3.new_bucket();
            (s3, bucket)
        });
        Some(Self {
            server_url,
            name,
            url,
            s3,
        })
    }

    /// Drops the database and the bucket.
    pub async fn drop_all(self) {
        pg_admin(
            &self.server_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
        if let Some((s3, bucket)) = self.s3 {
            let _ = std::fs::remove_dir_all(s3.root.join(bucket));
        }
    }
}

pub fn replace_db_name(server_url: &str, db: &str) -> String {
    let (url, query) = match server_url.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (server_url, String::new()),
    };
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let host_part = match url[scheme_end..].find('/') {
        Some(i) => &url[..scheme_end + i],
        None => url,
    };
    format!("{host_part}/{db}{query}")
}

pub async fn pg_admin(server_url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(server_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to the test PostgreSQL server {server_url}: {e}")
        });
    let task = tokio::spawn(conn);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql} failed on {server_url}: {e}"));
    drop(client);
    let _ = task.await;
}

impl Harness {
    /// Where blobs and uploads are stored as files: the data folder (local files), or the
    /// test bucket's folder in the S3 server's root.
    pub fn storage_root(&self) -> PathBuf {
        match self.pg.as_ref().and_then(|p| p.s3.as_ref()) {
            Some((s3, bucket)) => s3.root.join(bucket),
            None => self.dir.path().to_path_buf(),
        }
    }

    /// The folder of an upload's objects (its segments).
    pub fn upload_dir(&self, location: &str) -> PathBuf {
        let id = location.rsplit('/').next().expect("id in location");
        self.storage_root().join("uploads").join(id)
    }

    /// The bytes stored in an upload's objects so far (0 when it has none).
    pub fn stored_bytes(&self, location: &str) -> u64 {
        let Ok(entries) = std::fs::read_dir(self.upload_dir(location)) else {
            return 0;
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !name.starts_with('.') && !name.contains('#')
            })
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    }

    /// The file of a stored blob.
    pub fn blob_file(&self, sha256: &str) -> PathBuf {
        self.storage_root()
            .join("blobs")
            .join(&sha256[..2])
            .join(sha256)
    }
}
