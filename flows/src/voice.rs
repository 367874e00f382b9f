//! Hướng dẫn bằng giọng nói (spoken instructions) for citizens who read with difficulty: what
//! each citizen screen asks, in one or two short sentences, and the ticket number when it prints.
//!
//! The texts are written for the ear, not copied from the screen: no slashes ("ông/bà" would be
//! read "ông gạch chéo bà"), no quotation marks, no digits (numbers are spelled out with
//! `motcua_domain::queue::words`, so espeak-ng says our wording), and they address the citizen
//! as "bạn", as the announcement of the number does. Staff and technician screens have none.
//!
//! One function per flow; `Session::instruction` picks the one of its screen (this module does
//! not know the session, so the two never import each other).

use motcua_domain::queue::words::{english_number, vietnamese_number};
use motcua_domain::rating::RatingScale;

use super::lookup::{LookupFlow, LookupStep};
use super::rating::{RatingFlow, RatingStep};
use super::submission::{Step, SubmissionFlow};
use super::ticket::{TicketFlow, TicketStep};
use super::Message;

/// What the home screen's "Listen" key says, after the notice shown there if any.
pub fn home(notice: Option<&Message>) -> Message {
    with_shown(
        notice,
        Message::new(
            "Xin chào. Chạm vào nút nộp hồ sơ, lấy số thứ tự, tra cứu hồ sơ, hoặc đánh giá. \
             Để xem tình trạng hồ sơ, đưa mã QR trên giấy tiếp nhận vào máy quét.",
            "Hello. Touch submit a dossier, take a queue number, check a dossier, or rate our \
             service. To see your dossier's status, hold the QR code of your receipt to the \
             reader.",
        ),
    )
}

/// What the submission's screens ask, step by step, after the error shown if any.
pub fn submission(f: &SubmissionFlow) -> Message {
    with_shown(f.error.as_ref(), submission_step(f.step))
}

/// The queue ticket: choose the area, wait, then the number.
pub fn ticket(f: &TicketFlow) -> Message {
    match &f.step {
        TicketStep::Choose => choose_area(),
        TicketStep::Failed(m) => with_shown(Some(m), choose_area()),
        TicketStep::Issuing { .. } => {
            Message::new("Đang lấy số, xin chờ.", "Getting your number, please wait.")
        }
        TicketStep::Done { ticket, printed } => {
            ticket_announcement(ticket.number, printed.as_ref())
        }
    }
}

/// The status lookup: how to give the codes, then the status found.
pub fn lookup(f: &LookupFlow) -> Message {
    match &f.step {
        LookupStep::Entry { error } => with_shown(error.as_ref(), lookup_entry()),
        LookupStep::Looking { .. } => {
            Message::new("Đang tra cứu, xin chờ.", "Looking it up, please wait.")
        }
        LookupStep::Found(r) => Message::new(
            format!(
                "Tình trạng hồ sơ: {}. Ngày hẹn trả kết quả: {}.",
                r.status.label_vi(),
                date_vi(r.appointment_date)
            ),
            format!(
                "Dossier status: {}. The result is due on {}.",
                r.status.label_en(),
                r.appointment_date.format("%B %-d, %Y")
            ),
        ),
    }
}

/// The rating: how to give the code, the levels, thanks.
pub fn rating(f: &RatingFlow) -> Message {
    match &f.step {
        RatingStep::Entry { error } => with_shown(
            error.as_ref(),
            Message::new(
                "Đưa mã QR trên phiếu số thứ tự hoặc giấy tiếp nhận vào máy quét, hoặc nhập \
                 mã, rồi chạm tiếp tục.",
                "Hold the QR code of your queue ticket or receipt to the reader, or type its \
                 code, then touch continue.",
            ),
        ),
        RatingStep::Choose { error, .. } => with_shown(error.as_ref(), levels(f.scale)),
        RatingStep::Saving { .. } => levels(f.scale),
        RatingStep::Done => Message::new("Cảm ơn bạn đã đánh giá.", "Thank you for your rating."),
    }
}

/// A message shown on the screen (an error, a notice), said before the instruction.
fn with_shown(shown: Option<&Message>, says: Message) -> Message {
    match shown {
        Some(m) => Message::new(
            format!("{} {}", sentence(&m.vi), says.vi),
            format!("{} {}", sentence(&m.en), says.en),
        ),
        None => says,
    }
}

/// What is said when a ticket has printed (or failed to): "Số thứ tự của bạn là mười lăm. …".
///
/// The number is the one thing the citizen must keep, so it is said when the paper failed too,
/// with what to do then.
pub fn ticket_announcement(number: u32, printed: Option<&Result<(), Message>>) -> Message {
    let (vi_next, en_next) = match printed {
        None => ("Đang in phiếu.", "Your ticket is printing."),
        Some(Ok(())) => (
            "Mời bạn nhận phiếu ở khe máy in và chờ gọi số.",
            "Please take your ticket from the printer and wait to be called.",
        ),
        Some(Err(_)) => (
            "Máy in chưa in được phiếu. Bạn hãy nhớ số này, hoặc chạm in lại phiếu.",
            "The printer could not print your ticket. Remember this number, or touch print \
             again.",
        ),
    };
    Message::new(
        format!(
            "Số thứ tự của bạn là {}. {vi_next}",
            vietnamese_number(number)
        ),
        format!("Your number is {}. {en_next}", english_number(number)),
    )
}

fn submission_step(step: Step) -> Message {
    let (vi, en) = match step {
        Step::Search => (
            "Gõ tên thủ tục cần làm trên bàn phím, rồi chạm vào thủ tục trong danh sách.",
            "Type the name of the procedure on the keyboard, then touch it in the list.",
        ),
        Step::Detail => (
            "Đây là các giấy tờ cần có cho thủ tục này. Chạm bắt đầu để nộp hồ sơ.",
            "These are the documents this procedure needs. Touch begin to submit.",
        ),
        Step::Identify => (
            "Đặt thẻ căn cước lên máy quét, mặt có mã QR hướng vào máy. Hoặc chạm nhập tay.",
            "Place your ID card on the reader, QR code side facing it. Or touch type instead.",
        ),
        Step::Form => (
            "Kiểm tra thông tin trên màn hình, sửa nếu cần bằng bàn phím, rồi chạm tiếp tục.",
            "Check the details on the screen, correct them with the keyboard if needed, then \
             touch continue.",
        ),
        Step::Consent => (
            "Tỉnh có thể đã lưu bản số hoá một số giấy tờ của bạn. Chạm đồng ý để tra cứu, giấy \
             tờ đã có sẽ không phải nộp lại; hoặc chạm không để nộp đủ.",
            "The province may already hold some of your documents digitized. Touch yes to look \
             them up, and those need not be submitted again; or touch no to submit them all.",
        ),
        Step::Attach => (
            "Chạm quét bên cạnh từng giấy tờ, rồi đặt giấy tờ vào máy quét.",
            "Touch scan next to each document, then put that document in the scanner.",
        ),
        Step::Review => (
            "Kiểm tra lại hồ sơ. Nếu đúng, chạm nộp hồ sơ.",
            "Check your dossier. If it is right, touch submit.",
        ),
        Step::Submitting => (
            "Đang lưu hồ sơ và in giấy tiếp nhận, xin chờ.",
            "Saving your dossier and printing your receipt, please wait.",
        ),
        Step::Done => (
            "Hồ sơ đã được tiếp nhận. Mời bạn nhận giấy tiếp nhận ở khe máy in và giữ lại để \
             tra cứu.",
            "Your dossier was received. Please take your receipt from the printer and keep it \
             to check your dossier.",
        ),
    };
    Message::new(vi, en)
}

fn choose_area() -> Message {
    Message::new(
        "Chạm vào lĩnh vực bạn cần giải quyết để lấy số thứ tự.",
        "Touch the service you need to get a queue number.",
    )
}

fn lookup_entry() -> Message {
    Message::new(
        "Đưa mã QR trên giấy tiếp nhận vào máy quét. Hoặc nhập mã hồ sơ và mã tra cứu in dưới mã \
         QR, rồi chạm tiếp tục.",
        "Hold the QR code of your receipt to the reader. Or type the dossier code and the lookup \
         code printed under the QR code, then touch continue.",
    )
}

/// The rating question with its levels, best first, as the buttons show them.
fn levels(scale: RatingScale) -> Message {
    Message::new(
        format!(
            "Bạn có hài lòng với việc phục vụ không? Chạm vào một mức: {}.",
            scale.labels_vi().join(", ")
        ),
        format!(
            "How satisfied are you with our service? Touch one: {}.",
            scale.labels_en().join(", ")
        ),
    )
}

/// "ngày hai mươi tám tháng mười một năm hai nghìn không trăm hai mươi sáu".
fn date_vi(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!(
        "ngày {} tháng {} năm {}",
        vietnamese_number(d.day()),
        vietnamese_number(d.month()),
        vietnamese_number(u32::try_from(d.year()).unwrap_or(0))
    )
}

/// A shown message as a spoken sentence: ends with a full stop so the voice pauses.
fn sentence(text: &str) -> String {
    let t = text.trim();
    if t.ends_with(['.', '!', '?', '…']) {
        t.to_owned()
    } else {
        format!("{t}.")
    }
}
