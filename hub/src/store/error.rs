//! The hub store's error type. What a counter officer or a kiosk may see is said in Vietnamese
//! first, then in English, and names the ticket, counter or kiosk involved.

use std::path::PathBuf;

/// Failure of the hub's store, or a request it refuses.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The SQLite database failed.
    #[error("lỗi cơ sở dữ liệu {path} / database error in {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The database was written by a newer program, or holds a value this one cannot read.
    #[error("cơ sở dữ liệu {path} không đọc được / the database {path} cannot be read: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A service area, counter or kiosk code that is not valid.
    #[error("mã không hợp lệ / invalid code: {0}")]
    BadCode(String),
    /// The kiosk has not joined the hub, so it has no fallback block.
    #[error("kiosk {0} chưa đăng ký với máy chủ quầy / kiosk {0} has not joined the hub")]
    UnknownKiosk(String),
    /// A number a kiosk issued offline that lies outside its own fallback block.
    #[error("số {number} nằm ngoài dải dự phòng {first}-{last} của kiosk {kiosk} / number {number} is outside kiosk {kiosk}'s fallback block {first}-{last}")]
    OutsideBlock {
        /// The kiosk.
        kiosk: String,
        /// The number it sent.
        number: u32,
        /// Its block's first number.
        first: u32,
        /// Its block's last number.
        last: u32,
    },
    /// The same area, day and number is already held by another ticket (it cannot happen while
    /// blocks are disjoint; refused rather than overwritten).
    #[error("số {number} khu {area} ngày {day} đã được cấp cho vé khác / number {number} of area {area} on {day} already belongs to another ticket")]
    Collision {
        /// The area.
        area: String,
        /// The Vietnam day.
        day: chrono::NaiveDate,
        /// The number.
        number: u32,
    },
    /// No number is left: the area's sequence reached the end of the number space.
    #[error("hết số thứ tự khu {0} / no ticket numbers left for area {0}")]
    Exhausted(String),
    /// The counter has no called ticket to act on.
    #[error("quầy {0} chưa gọi vé nào / counter {0} has no called ticket")]
    NothingCalled(String),
    /// The counter still has a called ticket: finish it, mark it absent or transfer it first.
    #[error("quầy {counter} đang phục vụ vé {ticket}: hãy kết thúc, báo vắng hoặc chuyển vé trước / counter {counter} still has ticket {ticket}: finish, mark absent or transfer it first")]
    CounterBusy {
        /// The counter.
        counter: String,
        /// Its called ticket.
        ticket: String,
    },
    /// A transfer to the counter (or area) the ticket is already at.
    #[error("không thể chuyển vé {0} về chính nơi đang phục vụ / ticket {0} cannot be transferred to where it already is")]
    TransferToSelf(String),
    /// No ticket with that id.
    #[error("không có vé {0} / no ticket {0}")]
    UnknownTicket(String),
    /// Only a finished ticket can be rated.
    #[error("vé {ticket} chưa được phục vụ xong ({state}) nên chưa đánh giá được / ticket {ticket} is not finished ({state}) and cannot be rated")]
    NotFinished {
        /// The ticket.
        ticket: String,
        /// Its state.
        state: &'static str,
    },
    /// The ticket was served too long ago to be rated from its QR.
    #[error("vé {0} đã quá thời gian đánh giá (2 giờ sau khi phục vụ) / ticket {0} can no longer be rated (2 hours after its service)")]
    RatingClosed(String),
    /// The QR's rating code is not the ticket's.
    #[error("mã đánh giá trên vé {0} không đúng: hãy quét mã QR in trên phiếu / the rating code of ticket {0} is wrong: scan the QR printed on the ticket")]
    WrongRatingCode(String),
    /// One rating per ticket.
    #[error("vé {0} đã được đánh giá / ticket {0} has already been rated")]
    AlreadyRated(String),
    /// A level not on the scale.
    #[error("mức đánh giá không hợp lệ / invalid rating: {0}")]
    BadRating(#[from] motcua_domain::rating::RatingError),
}

/// Results of the hub store.
pub type HubResult<T> = Result<T, HubError>;
