//! The kiosk library's error type: every variant names the file or thing involved and says what
//! failed in words a technician (and, through `citizen_message`, a citizen) understands.

use std::path::PathBuf;

/// Failure of the local store or of accepting new work.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or folder of the store could not be read or written.
    #[error("storage error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The SQLite database failed.
    #[error("database error in {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The data disk is below its configured free-space floor: new work is refused so that
    /// nothing already accepted can be corrupted by a full disk.
    #[error("the data disk at {path} has {available_mb} MB free, below the floor of {floor_mb} MB: new work is refused until space is freed")]
    DiskFull {
        /// The data folder.
        path: PathBuf,
        /// Free space now.
        available_mb: u64,
        /// The configured floor.
        floor_mb: u64,
    },
    /// The request itself is wrong (unknown procedure, bad level, …).
    #[error("{0}")]
    Rejected(String),
    /// Every dossier number of today's blocks has been used (`first`/`last` span the blocks;
    /// both 0 when the device holds none).
    #[error("hết số hồ sơ ngày {date} / all dossier numbers {first}-{last} for {date} at agency {agency} are used; the kiosk asks the gateway for a new block when online (a hand-configured kiosk: configure another block, device.sequence_first/last)")]
    SequenceExhausted {
        /// The agency.
        agency: String,
        /// The day.
        date: chrono::NaiveDate,
        /// Block start.
        first: u16,
        /// Block end.
        last: u16,
    },
    /// The kiosk has a hub but no fallback block yet (it never reached the hub to join), so it
    /// cannot number a ticket on its own.
    #[error("ki-ốt chưa nhận khối số dự phòng từ máy chủ quầy / this kiosk has no fallback block from the hub yet (it has not reached the hub since [hub] was configured)")]
    NoHubBlock,
    /// Every number of the kiosk's fallback block was used for this area and day.
    #[error("hết số dự phòng {first}–{last} của lĩnh vực {area} ngày {date} / the fallback numbers {first}–{last} of area {area} on {date} are used up")]
    HubBlockUsedUp {
        /// The area.
        area: String,
        /// The day.
        date: chrono::NaiveDate,
        /// Block start.
        first: u32,
        /// Block end.
        last: u32,
    },
    /// A transaction was rated already (one rating per transaction).
    #[error("transaction {0} has already been rated")]
    AlreadyRated(String),
    /// The database holds applicants sealed with a data key that is not here: the key file is
    /// missing or holds another key. Nothing was changed; the technician restores the key.
    #[error("khoá dữ liệu {key} không dùng được: {detail}; cơ sở dữ liệu {database} có {sealed} hồ sơ đã niêm phong bằng khoá cũ. Hãy khôi phục tệp data.key đã sao lưu cùng cơ sở dữ liệu (hoặc credential systemd motcua-data-key) rồi khởi động lại; không có gì bị xoá / the data key {key} is unusable: {detail}; the database {database} holds {sealed} dossier(s) sealed with the earlier key. Restore the data.key backed up with this database (or the systemd credential motcua-data-key) and start again; nothing was deleted")]
    DataKeyUnusable {
        /// Where the key was looked for.
        key: PathBuf,
        /// The database file.
        database: PathBuf,
        /// How many dossiers hold a sealed applicant.
        sealed: i64,
        /// What is wrong with the key.
        detail: String,
    },
    /// A stored record could not be decoded (corruption or a newer schema).
    #[error("stored record {what} is unreadable: {detail}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Why.
        detail: String,
    },
}

impl StoreError {
    /// What to tell a citizen at the screen (Vietnamese first, then English).
    pub fn citizen_message(&self) -> String {
        match self {
            Self::DiskFull { .. } => "Máy tạm thời không nhận thêm hồ sơ (bộ nhớ đầy). Vui lòng liên hệ cán bộ. / The kiosk cannot accept new dossiers right now (storage full). Please ask staff.".into(),
            Self::Rejected(why) => format!("Không thể thực hiện: {why} / Cannot do this: {why}"),
            Self::AlreadyRated(_) => "Giao dịch này đã được đánh giá. Cảm ơn ông/bà! / This transaction has already been rated. Thank you!".into(),
            _ => "Máy gặp sự cố, hồ sơ đã nhận vẫn được giữ an toàn. Vui lòng liên hệ cán bộ. / The kiosk has a problem; dossiers already accepted are safe. Please ask staff.".into(),
        }
    }
}

/// Shorthand used across the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// Builds an `Io` error for a path.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { path, source }
}
