//! The one error type of document scanning.
//!
//! Every message is read by an intake officer at the counter or a field technician, so it says
//! which device or path failed and what to do, in Vietnamese first and then in English, and it
//! never shows a raw SANE status number alone.

use std::path::PathBuf;

/// What went wrong while scanning or taking a file from a hot folder.
///
/// Variants name the device (a SANE device name such as `fujitsu:fi-7160:123`) or the path, so a
/// log line alone is enough for a technician. A failed batch keeps the pages it already produced:
/// see [`BatchError`](super::BatchError).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The `scanimage` program could not be started at all.
    #[error(
        "Chưa cài chương trình quét scanimage ({program}): hãy cài gói Debian sane-utils / \
         The scanning program scanimage ({program}) is missing: install the Debian package sane-utils"
    )]
    ScanimageMissing {
        /// The program that was looked up.
        program: PathBuf,
    },

    /// SANE found no scanner at all.
    #[error(
        "Không tìm thấy máy quét nào: kiểm tra cáp USB/mạng và nguồn điện của máy quét / \
         No scanner found: check the scanner's USB or network cable and that it is switched on"
    )]
    NoDevice,

    /// The configured scanner does not exist (unplugged, renamed, or a typo in the config).
    #[error(
        "Không tìm thấy máy quét {device}: kiểm tra máy đã bật, đã cắm cáp và tên trong cấu hình / \
         Scanner {device} not found: check it is on, connected, and named correctly in the configuration"
    )]
    DeviceNotFound {
        /// SANE device name.
        device: String,
    },

    /// Another program (or another scan) is using the scanner.
    #[error(
        "Máy quét {device} đang bận (một chương trình khác đang dùng) / Scanner {device} is busy \
         (another program is using it)"
    )]
    DeviceBusy {
        /// SANE device name.
        device: String,
    },

    /// The kiosk user may not open the scanner (udev rules or the `scanner` group).
    #[error(
        "Không có quyền dùng máy quét {device}: kỹ thuật viên cần thêm tài khoản vào nhóm scanner / \
         Permission denied for scanner {device}: the service account must be in the scanner group"
    )]
    AccessDenied {
        /// SANE device name.
        device: String,
    },

    /// Paper jammed in the feeder; pages scanned before it are kept.
    #[error(
        "Kẹt giấy trong khay nạp của máy quét {device} sau {pages_scanned} trang: gỡ tờ bị kẹt rồi \
         quét tiếp từ tờ đó / Document feeder of scanner {device} jammed after {pages_scanned} \
         page(s): remove the jammed sheet and continue from it"
    )]
    FeederJammed {
        /// SANE device name.
        device: String,
        /// Pages completed before the jam (they are delivered, not lost).
        pages_scanned: u32,
    },

    /// The feeder had no paper when the batch started.
    #[error(
        "Khay nạp giấy của máy quét {device} đang trống: đặt giấy vào khay rồi quét lại / \
         The document feeder of scanner {device} is empty: load the paper and scan again"
    )]
    FeederEmpty {
        /// SANE device name.
        device: String,
    },

    /// A cover or the feeder lid is open.
    #[error(
        "Nắp máy quét {device} đang mở: đóng nắp rồi quét lại / The cover of scanner {device} is \
         open: close it and scan again"
    )]
    CoverOpen {
        /// SANE device name.
        device: String,
    },

    /// The scanner's own cancel button stopped the batch.
    #[error(
        "Lượt quét trên máy {device} đã bị hủy tại máy quét / The scan on {device} was cancelled at \
         the scanner"
    )]
    CancelledAtDevice {
        /// SANE device name.
        device: String,
    },

    /// Communication with the scanner failed (cable, power, firmware).
    #[error(
        "Lỗi kết nối với máy quét {device} ({detail}): tắt rồi bật lại máy quét, kiểm tra cáp / \
         I/O error with scanner {device} ({detail}): power-cycle the scanner and check the cable"
    )]
    DeviceIo {
        /// SANE device name.
        device: String,
        /// What SANE or the OS said.
        detail: String,
    },

    /// The scanner does not offer what was asked (a mode, a source or a resolution).
    #[error("Máy quét {device} không hỗ trợ {what} / Scanner {device} does not support {what}")]
    Unsupported {
        /// SANE device name.
        device: String,
        /// The setting that is not offered, e.g. `source ADF duplex` or `mode Color`.
        what: String,
    },

    /// No page completed within the time limit; the process was stopped.
    #[error(
        "Máy quét {device} không phản hồi sau {seconds} giây nên lượt quét đã bị dừng / Scanner \
         {device} did not respond for {seconds} s, the scan was stopped"
    )]
    Timeout {
        /// SANE device name.
        device: String,
        /// The limit that was exceeded.
        seconds: u64,
    },

    /// `scanimage` was killed by a signal we did not send (OOM killer, an operator).
    #[error(
        "Chương trình quét cho máy {device} bị dừng đột ngột (tín hiệu {signal}) / The scanning \
         program for {device} was killed (signal {signal})"
    )]
    Killed {
        /// SANE device name.
        device: String,
        /// The signal number.
        signal: i32,
    },

    /// `scanimage` failed for a reason not recognised above; its last message is kept.
    #[error(
        "Máy quét {device} báo lỗi (mã {code:?}): {detail} / Scanner {device} failed (exit code \
         {code:?}): {detail}"
    )]
    Failed {
        /// SANE device name.
        device: String,
        /// Exit code of `scanimage`, if it exited.
        code: Option<i32>,
        /// The last meaningful line `scanimage` wrote.
        detail: String,
    },

    /// A page file exists but cannot be read as an image.
    #[error(
        "Không đọc được ảnh trang {path}: {detail} / Cannot decode page image {path}: {detail}"
    )]
    Decode {
        /// The page file.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },

    /// A file-system operation failed.
    #[error(
        "Lỗi tệp {path} khi {action}: {source} / File error on {path} while {action}: {source}"
    )]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What we were doing, e.g. `moving to taken/`.
        action: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The background task that drives a scan stopped without saying why (a bug or a panic).
    #[error(
        "Tiến trình quét {device} dừng bất thường / The scan worker for {device} stopped unexpectedly"
    )]
    WorkerStopped {
        /// SANE device name or hot folder path.
        device: String,
    },
}

impl ScanError {
    /// Build an [`ScanError::Io`] for `path`; a short helper because almost every file operation
    /// needs one.
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        source: std::io::Error,
    ) -> Self {
        ScanError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
