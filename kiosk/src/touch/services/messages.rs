//! What the services tell a citizen or officer when something goes wrong, in both languages and
//! in words that say what to do next.

use motcua_flows::Message;
use motcua_store::error::StoreError;

/// Splits our usual "tiếng Việt / English" error text into a message.
pub fn bilingual(text: &str) -> Message {
    match text.split_once(" / ") {
        Some((vi, en)) => Message::new(vi.trim(), en.trim()),
        None => Message::new(text, text),
    }
}

pub(super) fn no_printer() -> Message {
    Message::new("Ki-ốt này không có máy in.", "This kiosk has no printer.")
}

pub(super) fn printer_trouble(detail: &str) -> Message {
    let fault = [
        (
            "out of paper",
            "Máy in hết giấy.",
            "The printer is out of paper.",
        ),
        (
            "cover open",
            "Nắp máy in đang mở.",
            "The printer cover is open.",
        ),
        (
            "offline",
            "Máy in đang tạm dừng.",
            "The printer is offline.",
        ),
    ]
    .into_iter()
    .find(|(needle, _, _)| detail.contains(needle));
    let (vi, en) = fault.map_or(
        ("Máy in đang gặp sự cố.", "The printer has a problem."),
        |(_, vi, en)| (vi, en),
    );
    Message::new(
        format!("{vi} Thông tin đã được lưu, ông/bà không mất gì. Chạm \"In lại phiếu\" hoặc báo cán bộ."),
        format!("{en} Everything is saved; nothing is lost. Touch \"Print again\" or ask an officer."),
    )
}

pub(super) fn scanner_trouble(detail: &str) -> Message {
    let m = bilingual(detail);
    Message::new(
        format!(
            "Máy quét báo lỗi: {}. Các trang đã quét được giữ lại.",
            m.vi
        ),
        format!(
            "The scanner reported: {}. Pages already scanned are kept.",
            m.en
        ),
    )
}

pub(super) fn store_trouble(e: &StoreError) -> Message {
    tracing::error!(error = %e, "kiosk store refused");
    bilingual(&e.citizen_message())
}

pub(super) fn store_trouble_io(e: &std::io::Error) -> Message {
    tracing::error!(error = %e, "session folder");
    Message::new(
        "Ki-ốt chưa lưu được thông tin. Vui lòng thử lại hoặc nộp tại quầy.",
        "The kiosk could not save this. Please try again or use the counter.",
    )
}
