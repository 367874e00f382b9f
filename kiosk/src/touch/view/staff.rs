//! The staff and technician screens (`ui/ui/staff.slint`): the PIN pad and the device panel,
//! which both roles share (only the header names the role), and the staff's intake digitization.

use motcua_flows::intake_screen::IntakeScreen;
use motcua_flows::staff::{Role, StaffFlow, StaffStep};
use motcua_flows::Lang;
use motcua_ui::{IntakePageRow, KioskWindow};
use slint::SharedString;

use super::props::{half, model, msg, ss, thumbnail, tr};

/// The PIN pad until the PIN is right, then the device panel.
pub(super) fn staff(w: &KioskWindow, f: &StaffFlow, lang: Lang) {
    let (vi, en) = match f.role {
        Role::Staff => ("Cán bộ", "Staff"),
        Role::Technician => ("Kỹ thuật", "Technician"),
    };
    w.set_title_text(tr(lang, vi, en));
    match &f.step {
        StaffStep::Pin { digits, error, .. } => {
            w.set_screen(ss("pin"));
            w.set_heading(tr(lang, "Nhập mã PIN", "Enter the PIN"));
            // Only the count of digits reaches the screen, never the digits.
            w.set_pin_digits(i32::try_from(digits.len()).unwrap_or(0));
            w.set_error(msg(error, lang));
        }
        StaffStep::Panel {
            status,
            printer_test,
        } => {
            w.set_screen(ss("staff"));
            w.set_status_lines(model(
                status
                    .iter()
                    .flat_map(|s| s.lines.iter().map(|l| ss(l.get(lang))))
                    .collect(),
            ));
            w.set_test_result(match printer_test {
                None => SharedString::new(),
                Some(Ok(())) => tr(lang, "✓ Đã in thử.", "✓ Test slip printed."),
                Some(Err(m)) => ss(m.get(lang)),
            });
        }
    }
}

/// Intake: the dossier code field until a dossier is open, then its pages, what is missing, the
/// running batch's thumbnails and what was stored. The services report in both languages
/// ("tiếng Việt / English"); the screen shows the chosen half.
pub(super) fn intake(w: &KioskWindow, i: &IntakeScreen, lang: Lang) {
    w.set_title_text(tr(lang, "Số hóa hồ sơ", "Intake digitization"));
    w.set_screen(ss("intake"));
    let r = &i.report;
    w.set_intake_dossier(ss(r.dossier.clone().unwrap_or_default()));
    w.set_code(ss(i.code.text()));
    w.set_busy(i.busy);
    w.set_notice(ss(r
        .message
        .as_deref()
        .map(|m| half(m, lang))
        .unwrap_or_default()));
    w.set_intake_missing(ss(r
        .missing
        .iter()
        .map(|m| half(m, lang))
        .collect::<Vec<_>>()
        .join("; ")));
    w.set_intake_stored(ss(r.stored.join(", ")));
    w.set_intake_signer(ss(r
        .signer
        .as_deref()
        .map(|m| half(m, lang))
        .unwrap_or_default()));
    w.set_intake_awaiting(ss(r.awaiting_signature.join(", ")));
    // Only the count of digits reaches the screen, never the digits.
    w.set_intake_asking_pin(i.token_pin.is_some());
    if let Some(pin) = &i.token_pin {
        w.set_pin_digits(i32::try_from(pin.len()).unwrap_or(0));
    }
    w.set_intake_signing(match i.signing {
        Some((done, total)) => tr(
            lang,
            &format!("Đang ký số {done}/{total}…"),
            &format!("Signing {done}/{total}…"),
        ),
        None => SharedString::new(),
    });
    w.set_intake_progress(model(i.progress.iter().map(thumbnail).collect()));
    w.set_intake_pages(model(
        r.pages
            .iter()
            .map(|p| IntakePageRow {
                number: i32::try_from(p.number).unwrap_or(i32::MAX),
                label: ss(half(&p.label, lang)),
                question: p.question,
                image: p.thumbnail.as_ref().map(thumbnail).unwrap_or_default(),
            })
            .collect(),
    ));
}
