//! The submission's screens (`ui/ui/submission.slint`), one handler per step of the flow: search,
//! detail, identify, form, attach, review, and the receipt on the shared result screen.

use motcua_domain::catalog::{DocumentKind, Procedure, RequiredDocument};
use motcua_domain::qr_payload::mask_id;
use motcua_flows::submission::{
    consent_explanation, held_label, Attachment, FieldKey, ReuseState, Step, SubmissionFlow,
};
use motcua_flows::Lang;
use motcua_ui::{AttachRow, DocRow, FieldRow, KioskWindow, PageThumb, ProcedureRow};

use super::props::{lv, model, msg, pick, print_state, ss, thumbnail, tr};

/// The step's screen; the flow's error, if any, shows as the screen's banner.
pub(super) fn show(w: &KioskWindow, f: &SubmissionFlow, lang: Lang) {
    w.set_title_text(tr(lang, "Nộp hồ sơ", "Submit a dossier"));
    w.set_error(msg(&f.error, lang));
    match f.step {
        Step::Search => search(w, f, lang),
        Step::Detail => detail(w, f, lang),
        Step::Identify => w.set_screen(ss("identify")),
        Step::Form => form(w, f, lang),
        Step::Consent => {
            w.set_screen(ss("consent"));
            w.set_hint(ss(consent_explanation().get(lang)));
            w.set_busy(f.reuse != ReuseState::Asking);
        }
        Step::Attach => attach(w, f, lang),
        Step::Review | Step::Submitting => review(w, f, lang),
        Step::Done => receipt(w, f, lang),
    }
}

/// The typed query and the procedures it matches, each with its time and fee.
fn search(w: &KioskWindow, f: &SubmissionFlow, lang: Lang) {
    w.set_screen(ss("search"));
    w.set_query(ss(f.query.text()));
    w.set_procedures(model(
        f.results()
            .into_iter()
            .map(|p| {
                let (days, fee) = days_and_fee(p, lang);
                ProcedureRow {
                    code: ss(&p.code),
                    name: ss(pick(lang, &p.name_vi, &p.name_en)),
                    field: ss(pick(lang, &p.field_vi, &p.field_en)),
                    info: ss(format!("{days} · {fee}")),
                }
            })
            .collect(),
    ));
}

/// The chosen procedure: its facts and the documents it needs.
fn detail(w: &KioskWindow, f: &SubmissionFlow, lang: Lang) {
    w.set_screen(ss("detail"));
    let Some(p) = &f.procedure else {
        return;
    };
    let (days, fee) = days_and_fee(p, lang);
    w.set_detail_name(ss(pick(lang, &p.name_vi, &p.name_en)));
    w.set_detail_facts(model(vec![
        lv(
            pick(lang, "Lĩnh vực", "Field"),
            pick(lang, &p.field_vi, &p.field_en),
        ),
        lv(pick(lang, "Thời hạn giải quyết", "Processing time"), days),
        lv(pick(lang, "Lệ phí", "Fee"), fee),
    ]));
    w.set_detail_documents(model(
        p.documents.iter().map(|d| document_row(d, lang)).collect(),
    ));
}

/// A needed document: its name, and whether it is required, which kind and how many copies.
fn document_row(d: &RequiredDocument, lang: Lang) -> DocRow {
    DocRow {
        name: ss(pick(lang, &d.name_vi, &d.name_en)),
        note: ss(format!(
            "{} · {} · {}",
            if d.mandatory {
                pick(lang, "bắt buộc", "required")
            } else {
                pick(lang, "nếu có", "if any")
            },
            kind_label(d.kind, lang),
            match lang {
                Lang::Vi => format!("{} bản", d.count),
                Lang::En => format!("{} cop{}", d.count, if d.count == 1 { "y" } else { "ies" }),
            }
        )),
    }
}

/// The form's fields; the keyboard turns numeric when the focused field takes digits only.
fn form(w: &KioskWindow, f: &SubmissionFlow, lang: Lang) {
    w.set_screen(ss("form"));
    w.set_numeric(f.fields.get(f.focus).is_some_and(|x| x.key.numeric()));
    w.set_fields(model(
        f.fields
            .iter()
            .enumerate()
            .map(|(i, x)| FieldRow {
                label: ss(x.key.label().get(lang)),
                value: ss(x.entry.text()),
                from_card: x.from_card,
                focused: i == f.focus,
            })
            .collect(),
    ));
}

/// The documents to scan with their pages so far, and the running scan's page count.
fn attach(w: &KioskWindow, f: &SubmissionFlow, lang: Lang) {
    w.set_screen(ss("attach"));
    w.set_scanning(f.scanning.is_some());
    if let Some(s) = &f.scanning {
        w.set_scanning_text(ss(match lang {
            Lang::Vi => format!("Đang quét… đã nhận {} trang", s.pages),
            Lang::En => format!("Scanning… {} page(s) received", s.pages),
        }));
    }
    w.set_attachments(model(
        f.attachments.iter().map(|a| attach_row(a, lang)).collect(),
    ));
}

/// One document to scan, with a thumbnail per page (each removable by its id).
fn attach_row(a: &Attachment, lang: Lang) -> AttachRow {
    AttachRow {
        name: ss(pick(lang, &a.name_vi, &a.name_en)),
        // A copy the province holds is not asked for: not marked "required" either.
        mandatory: a.mandatory && !a.held,
        count_text: ss(pages(a.pages.len(), lang)),
        held: a.held,
        pages: model(
            a.pages
                .iter()
                .map(|p| PageThumb {
                    id: i32::try_from(p.id).unwrap_or(i32::MAX),
                    image: thumbnail(&p.thumbnail),
                })
                .collect(),
        ),
    }
}

/// Everything that will be submitted: the procedure, the filled-in fields, the scanned documents.
fn review(w: &KioskWindow, f: &SubmissionFlow, lang: Lang) {
    w.set_screen(ss("review"));
    w.set_busy(f.step == Step::Submitting);
    let mut lines = Vec::new();
    if let Some(p) = &f.procedure {
        lines.push(lv(
            pick(lang, "Thủ tục", "Procedure"),
            pick(lang, &p.name_vi, &p.name_en),
        ));
    }
    for field in &f.fields {
        let value = field.entry.text();
        if value.is_empty() {
            continue;
        }
        // The ID number is masked: people behind the citizen can see the screen.
        let value = if field.key == FieldKey::IdNumber {
            mask_id(&value)
        } else {
            value
        };
        lines.push(lv(field.key.label().get(lang), value));
    }
    for a in &f.attachments {
        let value = if !a.pages.is_empty() {
            pages(a.pages.len(), lang)
        } else if a.held {
            held_label().get(lang).to_owned()
        } else {
            continue;
        };
        lines.push(lv(pick(lang, &a.name_vi, &a.name_en), value));
    }
    w.set_lines(model(lines));
}

/// The accepted dossier's code and appointment date, and how the receipt printed.
fn receipt(w: &KioskWindow, f: &SubmissionFlow, lang: Lang) {
    w.set_screen(ss("result"));
    w.set_heading(tr(
        lang,
        "Hồ sơ đã được tiếp nhận",
        "Your dossier has been received",
    ));
    if let Some(a) = &f.accepted {
        w.set_big(ss(&a.code));
        let (state, error) = print_state(&a.printed, lang);
        w.set_print_state(ss(state));
        w.set_print_error(error);
        w.set_can_rate(true);
        let mut lines = vec![lv(
            pick(lang, "Ngày hẹn trả kết quả", "Result due on"),
            a.appointment_date.format("%d/%m/%Y").to_string(),
        )];
        // What the province already held and the dossier cites instead ("never asked twice").
        for held in f.attachments.iter().filter(|x| x.held) {
            lines.push(lv(
                pick(lang, &held.name_vi, &held.name_en),
                held_label().get(lang),
            ));
        }
        if let Some(secret) = &a.lookup_secret {
            lines.push(lv(
                pick(
                    lang,
                    "Mã tra cứu (giữ kín)",
                    "Lookup code (keep it private)",
                ),
                secret.to_string(),
            ));
        }
        w.set_lines(model(lines));
    }
}

/// "3 trang" / "3 page(s)": a document's page count (attach and review say it alike).
fn pages(count: usize, lang: Lang) -> String {
    match lang {
        Lang::Vi => format!("{count} trang"),
        Lang::En => format!("{count} page(s)"),
    }
}

/// The procedure's processing time and fee as the citizen reads them ("Trong ngày", "Miễn phí").
fn days_and_fee(p: &Procedure, lang: Lang) -> (String, String) {
    let days = match (p.processing_days, lang) {
        (0, Lang::Vi) => "Trong ngày".to_owned(),
        (0, Lang::En) => "Same day".to_owned(),
        (d, Lang::Vi) => format!("{d} ngày làm việc"),
        (d, Lang::En) => format!("{d} working days"),
    };
    let fee = match (p.fee_vnd, lang) {
        (0, Lang::Vi) => "Miễn phí".to_owned(),
        (0, Lang::En) => "Free".to_owned(),
        (f, Lang::Vi) => format!("{} đồng", group_thousands(f)),
        (f, Lang::En) => format!("{} VND", group_thousands(f)),
    };
    (days, fee)
}

/// Vietnamese thousands grouping: 1.500.000.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A document kind's name; the Vietnamese is the receipt's wording, so screen and slip agree.
fn kind_label(kind: DocumentKind, lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => crate::receipt::kind_vi(kind),
        Lang::En => match kind {
            DocumentKind::Original => "original",
            DocumentKind::CertifiedCopy => "certified copy",
            DocumentKind::Photocopy => "photocopy",
        },
    }
}
