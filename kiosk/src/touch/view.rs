//! Shows the session on the window: every property of the screen is set from the flow state, so
//! what the state forgets, the screen forgets.

use motcua_domain::catalog::{DocumentKind, Procedure};
use motcua_domain::qr_payload::mask_id;
use motcua_ui::{
    AreaRow, AttachRow, DocRow, FieldRow, IntakePageRow, KioskWindow, LabelValue, PageThumb,
    ProcedureRow, L,
};
use slint::{
    ComponentHandle, Image, ModelRc, Rgb8Pixel, SharedPixelBuffer, SharedString, VecModel,
};

use motcua_flows::lookup::LookupStep;
use motcua_flows::rating::RatingStep;
use motcua_flows::session::{Screen, Session};
use motcua_flows::staff::{Role, StaffStep};
use motcua_flows::submission::{FieldKey, Step, SubmissionFlow, Thumbnail};
use motcua_flows::ticket::TicketStep;
use motcua_flows::{Lang, Message};

/// The header titles of the home screen (from the config).
#[derive(Debug, Clone)]
pub struct Titles {
    /// Vietnamese.
    pub vi: String,
    /// English.
    pub en: String,
}

fn model<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

fn ss(s: impl AsRef<str>) -> SharedString {
    SharedString::from(s.as_ref())
}

fn lv(label: &str, value: impl AsRef<str>) -> LabelValue {
    LabelValue {
        label: ss(label),
        value: ss(value),
    }
}

fn pick<'a>(lang: Lang, vi: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

fn msg(m: &Option<Message>, lang: Lang) -> SharedString {
    m.as_ref().map(|m| ss(m.get(lang))).unwrap_or_default()
}

fn thumbnail(t: &Thumbnail) -> Image {
    let buffer = SharedPixelBuffer::<Rgb8Pixel>::clone_from_slice(&t.rgb, t.width, t.height);
    Image::from_rgb8(buffer)
}

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

/// Clears every property that may hold a citizen's data.
fn clear(w: &KioskWindow) {
    w.set_notice(SharedString::new());
    w.set_error(SharedString::new());
    w.set_busy(false);
    w.set_query(SharedString::new());
    w.set_procedures(model(Vec::new()));
    w.set_detail_name(SharedString::new());
    w.set_detail_facts(model(Vec::new()));
    w.set_detail_documents(model(Vec::new()));
    w.set_fields(model(Vec::new()));
    w.set_numeric(false);
    w.set_attachments(model(Vec::new()));
    w.set_scanning(false);
    w.set_scanning_text(SharedString::new());
    w.set_lines(model(Vec::new()));
    w.set_big(SharedString::new());
    w.set_heading(SharedString::new());
    w.set_hint(SharedString::new());
    w.set_print_state(SharedString::new());
    w.set_print_error(SharedString::new());
    w.set_can_rate(false);
    w.set_areas(model(Vec::new()));
    w.set_code(SharedString::new());
    w.set_levels(model(Vec::new()));
    w.set_status_lines(model(Vec::new()));
    w.set_pin_digits(0);
    w.set_test_result(SharedString::new());
    w.set_intake_dossier(SharedString::new());
    w.set_intake_pages(model(Vec::new()));
    w.set_intake_progress(model(Vec::new()));
    w.set_intake_missing(SharedString::new());
    w.set_intake_stored(SharedString::new());
}

/// "tiếng Việt / English" text in the chosen language (both when it has no " / ").
fn half(text: &str, lang: Lang) -> String {
    crate::touch::services::bilingual(text).get(lang).to_owned()
}

fn print_state(printed: &Option<Result<(), Message>>, lang: Lang) -> (&'static str, SharedString) {
    match printed {
        None => ("printing", SharedString::new()),
        Some(Ok(())) => ("ok", SharedString::new()),
        Some(Err(m)) => ("failed", ss(m.get(lang))),
    }
}

/// Sets the window from the session. `idle_seconds` > 0 shows the idle warning.
pub fn show(w: &KioskWindow, s: &Session, idle_seconds: u64, titles: &Titles) {
    let lang = s.lang;
    w.global::<L>().set_en(lang == Lang::En);
    clear(w);
    w.set_idle_seconds(i32::try_from(idle_seconds).unwrap_or(0));
    let title = |vi: &str, en: &str| ss(pick(lang, vi, en));
    match &s.screen {
        Screen::Home => {
            w.set_screen(ss("home"));
            w.set_title_text(title(&titles.vi, &titles.en));
            w.set_notice(msg(&s.notice, lang));
        }
        Screen::Submission(f) => {
            w.set_title_text(title("Nộp hồ sơ", "Submit a dossier"));
            show_submission(w, f, lang);
        }
        Screen::Ticket(f) => {
            w.set_title_text(title("Lấy số thứ tự", "Queue number"));
            match &f.step {
                TicketStep::Done { ticket, printed } => {
                    w.set_screen(ss("result"));
                    w.set_heading(title("Số thứ tự của ông/bà", "Your number"));
                    w.set_big(ss(format!("{:03}", ticket.number)));
                    let (state, error) = print_state(printed, lang);
                    w.set_print_state(ss(state));
                    w.set_print_error(error);
                    w.set_can_rate(true);
                    w.set_lines(model(vec![
                        lv(
                            pick(lang, "Lĩnh vực", "Service"),
                            pick(lang, &ticket.area.name_vi, &ticket.area.name_en),
                        ),
                        lv(
                            pick(lang, "Đang chờ trước", "People ahead"),
                            ticket.ahead.to_string(),
                        ),
                        lv(
                            pick(lang, "Thời gian chờ dự kiến", "Expected wait"),
                            match (lang, ticket.wait_minutes) {
                                (Lang::Vi, 0) => "không phải chờ".to_owned(),
                                (Lang::En, 0) => "no wait".to_owned(),
                                (Lang::Vi, m) => format!("khoảng {m} phút"),
                                (Lang::En, m) => format!("about {m} min"),
                            },
                        ),
                    ]));
                }
                step => {
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
            }
        }
        Screen::Lookup(f) => {
            w.set_title_text(title("Tra cứu hồ sơ", "Dossier status"));
            match &f.step {
                LookupStep::Found(r) => {
                    w.set_screen(ss("result"));
                    w.set_heading(title("Tình trạng hồ sơ", "Dossier status"));
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
                step => {
                    w.set_screen(ss("code"));
                    w.set_heading(title("Tra cứu hồ sơ", "Check a dossier"));
                    w.set_hint(title(
                        "Quét mã QR trên giấy tiếp nhận, hoặc nhập mã hồ sơ rồi chạm \"Tiếp tục\".",
                        "Scan the QR on your receipt, or type the dossier code and touch \"Continue\".",
                    ));
                    w.set_code(ss(f.code.text()));
                    w.set_busy(matches!(step, LookupStep::Looking { .. }));
                    if let LookupStep::Entry { error } = step {
                        w.set_error(msg(error, lang));
                    }
                }
            }
        }
        Screen::Rating(f) => {
            w.set_title_text(title("Đánh giá", "Rate our service"));
            match &f.step {
                RatingStep::Entry { error } => {
                    w.set_screen(ss("code"));
                    w.set_heading(title("Đánh giá mức độ hài lòng", "Rate our service"));
                    w.set_hint(title(
                        "Quét mã QR trên phiếu số thứ tự hoặc giấy tiếp nhận, hoặc nhập mã.",
                        "Scan the QR on your queue ticket or receipt, or type its code.",
                    ));
                    w.set_code(ss(f.code.text()));
                    w.set_error(msg(error, lang));
                }
                RatingStep::Choose { transaction, error } => {
                    w.set_screen(ss("rate"));
                    w.set_code(ss(transaction));
                    w.set_error(msg(error, lang));
                    w.set_levels(levels(f.scale, lang));
                }
                RatingStep::Saving { transaction, .. } => {
                    w.set_screen(ss("rate"));
                    w.set_code(ss(transaction));
                    w.set_busy(true);
                    w.set_levels(levels(f.scale, lang));
                }
                RatingStep::Done => {
                    w.set_screen(ss("result"));
                    w.set_heading(title(
                        "Cảm ơn ông/bà đã đánh giá!",
                        "Thank you for your rating!",
                    ));
                    w.set_big(ss("✓"));
                }
            }
        }
        Screen::Intake(i) => {
            w.set_title_text(title("Số hóa hồ sơ", "Intake digitization"));
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
        Screen::Staff(f) => {
            let (vi, en) = match f.role {
                Role::Staff => ("Cán bộ", "Staff"),
                Role::Technician => ("Kỹ thuật", "Technician"),
            };
            w.set_title_text(title(vi, en));
            match &f.step {
                StaffStep::Pin { digits, error } => {
                    w.set_screen(ss("pin"));
                    w.set_heading(title("Nhập mã PIN", "Enter the PIN"));
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
                        Some(Ok(())) => title("✓ Đã in thử.", "✓ Test slip printed."),
                        Some(Err(m)) => ss(m.get(lang)),
                    });
                }
            }
        }
    }
}

fn levels(scale: motcua_domain::rating::RatingScale, lang: Lang) -> ModelRc<SharedString> {
    let labels = match lang {
        Lang::Vi => scale.labels_vi(),
        Lang::En => scale.labels_en(),
    };
    model(labels.iter().map(ss).collect())
}

fn show_submission(w: &KioskWindow, f: &SubmissionFlow, lang: Lang) {
    w.set_error(msg(&f.error, lang));
    match f.step {
        Step::Search => {
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
        Step::Detail => {
            w.set_screen(ss("detail"));
            if let Some(p) = &f.procedure {
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
                    p.documents
                        .iter()
                        .map(|d| DocRow {
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
                                    Lang::En => format!(
                                        "{} cop{}",
                                        d.count,
                                        if d.count == 1 { "y" } else { "ies" }
                                    ),
                                }
                            )),
                        })
                        .collect(),
                ));
            }
        }
        Step::Identify => w.set_screen(ss("identify")),
        Step::Form => {
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
        Step::Attach => {
            w.set_screen(ss("attach"));
            w.set_scanning(f.scanning.is_some());
            if let Some(s) = &f.scanning {
                w.set_scanning_text(ss(match lang {
                    Lang::Vi => format!("Đang quét… đã nhận {} trang", s.pages),
                    Lang::En => format!("Scanning… {} page(s) received", s.pages),
                }));
            }
            w.set_attachments(model(
                f.attachments
                    .iter()
                    .map(|a| AttachRow {
                        name: ss(pick(lang, &a.name_vi, &a.name_en)),
                        mandatory: a.mandatory,
                        count_text: ss(match lang {
                            Lang::Vi => format!("{} trang", a.pages.len()),
                            Lang::En => format!("{} page(s)", a.pages.len()),
                        }),
                        pages: model(
                            a.pages
                                .iter()
                                .map(|p| PageThumb {
                                    id: i32::try_from(p.id).unwrap_or(i32::MAX),
                                    image: thumbnail(&p.thumbnail),
                                })
                                .collect(),
                        ),
                    })
                    .collect(),
            ));
        }
        Step::Review | Step::Submitting => {
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
            for a in f.attachments.iter().filter(|a| !a.pages.is_empty()) {
                lines.push(lv(
                    pick(lang, &a.name_vi, &a.name_en),
                    match lang {
                        Lang::Vi => format!("{} trang", a.pages.len()),
                        Lang::En => format!("{} page(s)", a.pages.len()),
                    },
                ));
            }
            w.set_lines(model(lines));
        }
        Step::Done => {
            w.set_screen(ss("result"));
            w.set_heading(ss(pick(
                lang,
                "Hồ sơ đã được tiếp nhận",
                "Your dossier has been received",
            )));
            if let Some(a) = &f.accepted {
                w.set_big(ss(&a.code));
                let (state, error) = print_state(&a.printed, lang);
                w.set_print_state(ss(state));
                w.set_print_error(error);
                w.set_can_rate(true);
                w.set_lines(model(vec![lv(
                    pick(lang, "Ngày hẹn trả kết quả", "Result due on"),
                    a.appointment_date.format("%d/%m/%Y").to_string(),
                )]));
            }
        }
    }
}
