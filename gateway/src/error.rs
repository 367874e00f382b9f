//! The gateway's one error type. Every variant names the file, directory, address or database it
//! concerns and says in plain words what failed, so that a technician reading a log line or a
//! failed start knows where to look without reading the source.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong while starting or running the gateway (HTTP-level refusals such
/// as a wrong token are answers, not errors, and never appear here).
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A directory under the data directory could not be created.
    #[error("cannot create the directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Reading, writing, syncing or renaming a file failed.
    #[error("cannot {action} {path}: {source}")]
    File {
        /// What the gateway was doing, e.g. "append to the upload file".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The embedded SQLite database could not be opened or configured.
    #[error("cannot open the SQLite database {path}: {source}")]
    OpenSqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// A statement on the embedded SQLite database failed.
    #[error("SQLite database {path}: cannot {action}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the gateway was doing.
        action: &'static str,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// The PostgreSQL URL could not be understood.
    #[error("the PostgreSQL URL {url} is not valid: {reason}")]
    InvalidDatabaseUrl {
        /// The URL with its password removed.
        url: String,
        /// Why it is not valid.
        reason: String,
    },
    /// No connection to PostgreSQL could be obtained.
    #[error("cannot connect to PostgreSQL at {url}: {reason}")]
    ConnectPostgres {
        /// The URL with its password removed.
        url: String,
        /// The driver's reason.
        reason: String,
    },
    /// A statement on PostgreSQL failed.
    #[error("PostgreSQL at {url}: cannot {action}: {source}")]
    Postgres {
        /// The URL with its password removed.
        url: String,
        /// What the gateway was doing.
        action: &'static str,
        /// The driver's reason.
        source: tokio_postgres::Error,
    },
    /// The export feed's one-row counter (`feed_sequence`) is missing, so a change could not
    /// write its feed event: the change is refused and rolled back rather than stored without
    /// an event the provincial system would never receive (or with an id given out twice).
    #[error(
        "{location}: the export feed's counter row is missing (table feed_sequence has no row \
         with one = 1), so nothing was stored; restore it with: INSERT INTO feed_sequence (one, \
         last_id) SELECT 1, COALESCE(MAX(id), 0) FROM feed_events"
    )]
    FeedCounterMissing {
        /// SQLite path or PostgreSQL URL (without its password).
        location: String,
    },
    /// The database was written by a newer gateway than this one.
    #[error("the database {location} has schema version {found}, newer than the {supported} this gateway knows: upgrade the gateway")]
    SchemaTooNew {
        /// SQLite path or PostgreSQL URL.
        location: String,
        /// Version found in the database.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// The catalog file could not be read.
    #[error("cannot read the catalog file {path}: {source}")]
    ReadCatalog {
        /// The catalog file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The catalog file is not a valid catalog.
    #[error("the catalog file {path} is not a valid catalog: {source}")]
    ParseCatalog {
        /// The catalog file.
        path: PathBuf,
        /// The parser's reason, with line and column.
        source: Box<motcua_domain::catalog::CatalogError>,
    },
    /// A certificate, key or TLS setting is unusable (the message names the file).
    #[error("TLS: {0}")]
    Tls(String),
    /// Making or reading a certificate failed.
    #[error("certificate authority: {0}")]
    Identity(#[from] motcua_identity::IdentityError),
    /// A file that must not be overwritten exists already.
    #[error("{path} exists already; refusing to overwrite it (move it away first if you mean to replace it)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A release that cannot be published (not a Debian package, too large, a version taken
    /// by another package): the publisher's mistake, not the gateway's.
    #[error("không phát hành được / the release cannot be published: {0}")]
    ReleaseRefused(String),
    /// The configuration is unusable (say an empty key).
    #[error("invalid gateway configuration: {0}")]
    Config(String),
    /// The listening address could not be bound (in use, or not an address of this machine).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The database holds a value this gateway cannot read (written by hand, or by a newer
    /// version that changed its meaning).
    #[error("the database holds something this gateway cannot read: {0}")]
    Unreadable(String),
    /// A background task of the gateway stopped unexpectedly.
    #[error("internal task failed while trying to {action}: {reason}")]
    Task {
        /// What the task was doing.
        action: &'static str,
        /// Why it stopped.
        reason: String,
    },
    /// The object store (S3-compatible storage, or the local files) refused or failed.
    #[error("object store {store}: cannot {action} {key}: {source}")]
    ObjectStore {
        /// Which store: `local files in DIR` or `s3 bucket B at ENDPOINT`.
        store: String,
        /// What the gateway was doing.
        action: &'static str,
        /// The object's key.
        key: String,
        /// The store's reason.
        source: Box<object_store::Error>,
    },
}

impl GatewayError {
    pub(crate) fn file(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::File {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn join(action: &'static str, err: tokio::task::JoinError) -> Self {
        Self::Task {
            action,
            reason: err.to_string(),
        }
    }
}

/// Removes the password from a database URL before it goes into an error or a log line.
pub(crate) fn redact_url(url: &str) -> String {
    // postgres://user:password@host/db -> postgres://user:***@host/db
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.rsplit_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("host=h user=u"), "host=h user=u");
    }
}
