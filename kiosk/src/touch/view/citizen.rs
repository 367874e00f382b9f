//! The citizen's screens outside the submission (`ui/ui/citizen.slint`): home, the queue ticket,
//! the status lookup and the rating. Each flow shows its entry screen while it runs and the shared
//! result screen when it is done.

use motcua_domain::rating::RatingScale;
use motcua_flows::lookup::{
    lost_receipt_message, LookupField, LookupFlow, LookupStep, StatusReport,
};
use motcua_flows::rating::{RatingFlow, RatingStep};
use motcua_flows::ticket::{IssuedTicket, TicketFlow, TicketStep};
use motcua_flows::{Lang, Message};
use motcua_ui::{AreaRow, KioskWindow};
use slint::{ModelRc, SharedString};

use super::props::{lv, model, msg, pick, print_state, ss, tr};

/// The header titles of the home screen (from the config).
#[derive(Debug, Clone)]
pub struct Titles {
    /// Vietnamese.
    pub vi: String,
    /// English.
    pub en: String,
}

/// Home: the configured title and the notice left by the last flow (e.g. "session ended").
pub(super) fn home(w: &KioskWindow, notice: &Option<Message>, titles: &Titles, lang: Lang) {
    w.set_screen(ss("home"));
    w.set_title_text(tr(lang, &titles.vi, &titles.en));
    w.set_notice(msg(notice, lang));
}

/// The queue ticket: the areas to choose from, then the printed number.
pub(super) fn ticket(w: &KioskWindow, f: &TicketFlow, lang: Lang) {
    w.set_title_text(tr(lang, "Lấy số thứ tự", "Queue number"));
    match &f.step {
        TicketStep::Done { ticket, printed } => ticket_issued(w, ticket, printed, lang),
        step => ticket_areas(w, f, step, lang),
    }
}

/// Choosing an area; while the ticket is issued the buttons wait, a failure shows as a banner.
fn ticket_areas(w: &KioskWindow, f: &TicketFlow, step: &TicketStep, lang: Lang) {
    w.set_screen(ss("ticket"));
    w.set_busy(matches!(step, TicketStep::Issuing { .. }));
    if let TicketStep::Failed(m) = step {
        w.set_error(ss(m.get(lang)));
    }
    w.set_areas(model(
        f.areas
            .iter()
            .map(|a| AreaRow {
                code: ss(&a.code),
                name: ss(pick(lang, &a.name_vi, &a.name_en)),
                info: SharedString::new(),
            })
            .collect(),
    ));
}

/// The issued number with its area, the people ahead and the expected wait.
fn ticket_issued(
    w: &KioskWindow,
    ticket: &IssuedTicket,
    printed: &Option<Result<(), Message>>,
    lang: Lang,
) {
    w.set_screen(ss("result"));
    w.set_heading(tr(lang, "Số thứ tự của ông/bà", "Your number"));
    w.set_big(ss(format!("{:03}", ticket.number)));
    let (state, error) = print_state(printed, lang);
    w.set_print_state(ss(state));
    w.set_print_error(error);
    w.set_can_rate(true);
    let mut lines = vec![lv(
        pick(lang, "Lĩnh vực", "Service"),
        pick(lang, &ticket.area.name_vi, &ticket.area.name_en),
    )];
    if ticket.offline {
        lines.push(lv(
            pick(lang, "Lưu ý", "Note"),
            motcua_flows::ticket::offline_notice().get(lang),
        ));
    } else {
        lines.push(lv(
            pick(lang, "Đang chờ trước", "People ahead"),
            ticket.ahead.to_string(),
        ));
    }
    lines.push(lv(
        pick(lang, "Thời gian chờ dự kiến", "Expected wait"),
        ticket.wait_words().get(lang),
    ));
    w.set_lines(model(lines));
}

/// The status lookup: the code entry while typing or asking, then the status found.
pub(super) fn lookup(w: &KioskWindow, f: &LookupFlow, lang: Lang) {
    w.set_title_text(tr(lang, "Tra cứu hồ sơ", "Dossier status"));
    match &f.step {
        LookupStep::Found(r) => lookup_found(w, r, lang),
        step => {
            w.set_screen(ss("lookup"));
            w.set_heading(tr(lang, "Tra cứu hồ sơ", "Check a dossier"));
            w.set_hint(tr(
                lang,
                "Quét mã QR trên giấy tiếp nhận, hoặc nhập mã hồ sơ và mã tra cứu rồi chạm \"Tiếp tục\".",
                "Scan the QR on your receipt, or type the dossier code and the lookup code and touch \"Continue\".",
            ));
            w.set_code(ss(f.code.text()));
            w.set_secret(ss(f.secret.text()));
            w.set_secret_focused(f.focus == LookupField::Secret);
            w.set_aside(ss(lost_receipt_message().get(lang)));
            w.set_busy(matches!(step, LookupStep::Looking { .. }));
            if let LookupStep::Entry { error } = step {
                w.set_error(msg(error, lang));
            }
        }
    }
}

/// A dossier's status. When the province could not be asked, the kiosk's copy says so and how
/// old it is, so a citizen does not take a stale status for news.
fn lookup_found(w: &KioskWindow, r: &StatusReport, lang: Lang) {
    w.set_screen(ss("result"));
    w.set_heading(tr(lang, "Tình trạng hồ sơ", "Dossier status"));
    w.set_big(ss(pick(lang, r.status.label_vi(), r.status.label_en())));
    let mut lines = vec![
        lv(pick(lang, "Mã hồ sơ", "Dossier code"), &r.code),
        lv(
            pick(lang, "Ngày hẹn trả kết quả", "Result due"),
            r.appointment_date.format("%d/%m/%Y").to_string(),
        ),
    ];
    let updated = r.updated_at.map(|t| t.format("%H:%M %d/%m/%Y").to_string());
    if r.offline {
        lines.push(lv(
            pick(lang, "Lưu ý", "Note"),
            match (lang, updated) {
                (Lang::Vi, Some(t)) => format!("Chưa kết nối được hệ thống của tỉnh. Thông tin do ki-ốt lưu, cập nhật lần cuối lúc {t}."),
                (Lang::En, Some(t)) => format!("The provincial system cannot be reached. This is the kiosk's copy, last updated {t}."),
                (Lang::Vi, None) => "Chưa kết nối được hệ thống của tỉnh. Thông tin do ki-ốt lưu lúc nhận hồ sơ.".to_owned(),
                (Lang::En, None) => "The provincial system cannot be reached. This is what the kiosk recorded at submission.".to_owned(),
            },
        ));
    } else if let Some(t) = updated {
        lines.push(lv(pick(lang, "Cập nhật lúc", "Updated"), t));
    }
    w.set_lines(model(lines));
}

/// The rating: the transaction's code, then its levels, then thanks.
pub(super) fn rating(w: &KioskWindow, f: &RatingFlow, lang: Lang) {
    w.set_title_text(tr(lang, "Đánh giá", "Rate our service"));
    match &f.step {
        RatingStep::Entry { error } => {
            code_entry(
                w,
                tr(lang, "Đánh giá mức độ hài lòng", "Rate our service"),
                tr(
                    lang,
                    "Quét mã QR trên phiếu số thứ tự hoặc giấy tiếp nhận, hoặc nhập mã.",
                    "Scan the QR on your queue ticket or receipt, or type its code.",
                ),
                &f.code.text(),
            );
            w.set_error(msg(error, lang));
        }
        RatingStep::Choose { transaction, error } => {
            rate_levels(w, transaction, f.scale, lang);
            w.set_error(msg(error, lang));
        }
        RatingStep::Saving { transaction, .. } => {
            rate_levels(w, transaction, f.scale, lang);
            w.set_busy(true);
        }
        RatingStep::Done => {
            w.set_screen(ss("result"));
            w.set_heading(tr(
                lang,
                "Cảm ơn ông/bà đã đánh giá!",
                "Thank you for your rating!",
            ));
            w.set_big(ss("✓"));
        }
    }
}

/// The code entry screen, shared by the lookup (a dossier code) and the rating (a ticket's or
/// dossier's code): what it is for, how to scan or type it, the code typed so far.
fn code_entry(w: &KioskWindow, heading: SharedString, hint: SharedString, code: &str) {
    w.set_screen(ss("code"));
    w.set_heading(heading);
    w.set_hint(hint);
    w.set_code(ss(code));
}

/// The rating levels for the transaction being rated.
fn rate_levels(w: &KioskWindow, transaction: &str, scale: RatingScale, lang: Lang) {
    w.set_screen(ss("rate"));
    w.set_code(ss(transaction));
    w.set_levels(levels(scale, lang));
}

/// The rating scale's labels, best first, in the chosen language.
fn levels(scale: RatingScale, lang: Lang) -> ModelRc<SharedString> {
    let labels = match lang {
        Lang::Vi => scale.labels_vi(),
        Lang::En => scale.labels_en(),
    };
    model(labels.iter().map(ss).collect())
}
