//! The two slips a kiosk prints — the receipt and appointment slip (Form 01, Circular
//! 01/2018/TT-VPCP, adapted from A5 to a paper roll) and the queue ticket — laid out into a
//! raster at the printer's dot width.
//!
//! Content comes in as plain structs so that the kiosk fills them from its own records (the
//! dossier, the catalog entry, the ticket) and this crate stays free of storage.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

use crate::bitmap::Bitmap;
use crate::error::PrinterError;
use crate::escpos::{encode_raster, EncodeOptions};
use crate::qr::QrModules;
use crate::text::{b, r, Align, FontConfig, Fonts, Run, Style};

/// Paper width; 203 dpi thermal heads print 384 dots on 58 mm rolls and 576 on 80 mm rolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    /// 58 mm roll, 384 dots.
    Mm58,
    /// 80 mm roll, 576 dots.
    Mm80,
    /// Another head width, in dots (rounded down to a multiple of 8).
    Dots(u32),
}

impl Paper {
    /// Printable width in dots.
    pub fn dots(self) -> u32 {
        match self {
            Paper::Mm58 => 384,
            Paper::Mm80 => 576,
            Paper::Dots(d) => (d / 8 * 8).max(64),
        }
    }

    fn scale(self) -> f32 {
        // Text a little smaller on narrow paper, never below legibility for elderly citizens.
        if self.dots() >= 512 {
            1.0
        } else {
            0.9
        }
    }
}

/// One document handed in, as listed in item (1) of the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedDocument {
    /// Name, e.g. "Tờ khai đăng ký khai sinh".
    pub name: String,
    /// Form, e.g. "Bản chính", "Bản sao chứng thực".
    pub kind: String,
    /// Number of copies.
    pub count: u32,
}

/// Everything printed on a receipt and appointment slip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptContent {
    /// The body above the one-stop unit, e.g. "UBND HUYỆN MỸ TÚ" (may be empty).
    pub agency_parent: String,
    /// The receiving agency, e.g. "Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng".
    pub agency_name: String,
    /// Place named in the date line, e.g. "Sóc Trăng".
    pub place: String,
    /// The dossier code (`<agency>-YYMMDD-XXXX`), printed large.
    pub dossier_code: String,
    /// Applicant's full name.
    pub applicant_name: String,
    /// Applicant's address (often long: it wraps).
    pub applicant_address: String,
    /// Phone number.
    pub applicant_phone: String,
    /// E-mail, may be empty.
    pub applicant_email: String,
    /// Request content: the procedure name, e.g. "Đăng ký khai sinh".
    pub procedure_name: String,
    /// (1) Documents submitted.
    pub documents: Vec<SubmittedDocument>,
    /// (2) Number of sets.
    pub sets: u32,
    /// (3) Legal processing time, as worded in the catalog, e.g. "03 ngày làm việc".
    pub processing_time: String,
    /// (4) Time received.
    pub received_at: DateTime<FixedOffset>,
    /// (5) Appointment for the result.
    pub appointment: DateTime<FixedOffset>,
    /// (6) Where to collect the result.
    pub result_place: String,
    /// Who received it, e.g. "Ki-ốt tự phục vụ KIOSK-H56-0001" (may be empty).
    pub received_by: String,
    /// Footer lines (lookup hints, hotline), printed small and centred.
    pub footer: Vec<String>,
    /// The QR payload, rendered from the configurable template (see [`receipt_qr_payload`]).
    pub qr_payload: String,
    /// The receipt's lookup secret (`XXXX-XXXX`), printed under the dossier code for a citizen
    /// to type at the kiosk's status lookup; empty: not printed.
    pub lookup_code: String,
}

/// Renders the receipt QR payload from the province's template; a thin wrapper so that a bad
/// template surfaces as this crate's error.
pub fn receipt_qr_payload(
    template: &str,
    fields: &motcua_domain::qr_payload::ReceiptFields,
) -> Result<String, PrinterError> {
    Ok(motcua_domain::qr_payload::render_receipt(template, fields)?)
}

/// Everything printed on a queue ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketContent {
    /// Centre name, e.g. "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG TỈNH SÓC TRĂNG".
    pub centre_name: String,
    /// The ticket number, printed very large.
    pub number: u32,
    /// Service area (lĩnh vực) in Vietnamese, e.g. "Hộ tịch".
    pub service_area_vi: String,
    /// Service area in English, e.g. "Civil status".
    pub service_area_en: String,
    /// Counter in Vietnamese, e.g. "Quầy số 3" (may be empty when any counter calls).
    pub counter_vi: String,
    /// Counter in English, e.g. "Counter 3".
    pub counter_en: String,
    /// When the ticket was printed.
    pub printed_at: DateTime<FixedOffset>,
    /// People ahead in the queue, if known.
    pub waiting: Option<u32>,
    /// Expected wait in minutes, if known (a kiosk's own estimate).
    pub expected_wait_min: Option<u32>,
    /// The expected wait in words, Vietnamese then English (the hub's range from the live
    /// queue, e.g. "khoảng 10–25 phút"); printed instead of `expected_wait_min` when given.
    pub wait_text: Option<(String, String)>,
    /// A notice in bold under the time printed, Vietnamese then English: what the citizen must
    /// know about this ticket (issued while the hub was unreachable, …).
    pub notice: Option<(String, String)>,
    /// Optional QR (e.g. the ticket id, for rating the service afterwards).
    pub qr_payload: Option<String>,
    /// Footer lines, small and centred.
    pub footer: Vec<String>,
}

/// `hh giờ mm phút, ngày dd tháng mm năm yyyy`, the Form 01 wording.
pub fn vietnamese_datetime(t: &DateTime<FixedOffset>) -> String {
    format!(
        "{:02} giờ {:02} phút, ngày {:02} tháng {:02} năm {}",
        t.hour(),
        t.minute(),
        t.day(),
        t.month(),
        t.year()
    )
}

/// `<place>, ngày dd tháng mm năm yyyy`.
fn place_and_date(place: &str, t: &DateTime<FixedOffset>) -> String {
    format!(
        "{place}, ngày {:02} tháng {:02} năm {}",
        t.day(),
        t.month(),
        t.year()
    )
}

/// A print job: the bytes to send, kept by the caller so a failed print can be resent as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// What it is, for logs and error screens, e.g. "receipt 000.17.22.H56-261123-0001".
    pub label: String,
    /// The complete ESC/POS stream (init, raster bands, feed, cut).
    pub bytes: Vec<u8>,
}

impl Job {
    /// Encodes a rastered slip.
    pub fn from_bitmap(label: impl Into<String>, bitmap: &Bitmap, opts: &EncodeOptions) -> Self {
        Job {
            label: label.into(),
            bytes: encode_raster(bitmap, opts),
        }
    }
}

/// Lays out slips with the configured fonts; create once, reuse (it caches glyphs).
#[derive(Debug, Clone)]
pub struct Renderer {
    fonts: Fonts,
}

const MARGIN: u32 = 8;

/// A cursor going down the page.
struct Page<'a> {
    fonts: &'a Fonts,
    bm: Bitmap,
    y: u32,
    k: f32,
}

impl Page<'_> {
    fn width(&self) -> u32 {
        self.bm.width() - 2 * MARGIN
    }

    fn text(&mut self, runs: &[Run<'_>], size: f32, align: Align) {
        let style = Style {
            size: size * self.k,
            align,
            indent_first: 0,
            indent_rest: 0,
        };
        let w = self.width();
        self.y = self
            .fonts
            .paragraph(&mut self.bm, MARGIN, self.y, w, runs, &style);
    }

    fn item(&mut self, runs: &[Run<'_>], size: f32, indent_first: u32, indent_rest: u32) {
        let style = Style {
            size: size * self.k,
            align: Align::Left,
            indent_first,
            indent_rest,
        };
        let w = self.width();
        self.y = self
            .fonts
            .paragraph(&mut self.bm, MARGIN, self.y, w, runs, &style);
    }

    /// One line, shrunk to fit (codes and numbers must never wrap or clip).
    fn fit(&mut self, runs: &[Run<'_>], max: f32, min: f32) {
        let size = self.fonts.fit_size(runs, self.width(), max * self.k, min);
        let style = Style::center(size);
        let w = self.width();
        self.y = self
            .fonts
            .paragraph(&mut self.bm, MARGIN, self.y, w, runs, &style);
    }

    fn gap(&mut self, dots: u32) {
        self.y += dots;
    }

    fn rule(&mut self, dashed: bool) {
        self.gap(6);
        let w = self.width();
        if dashed {
            let mut x = 0;
            while x < w {
                self.bm.fill_rect(MARGIN + x, self.y, 8.min(w - x), 2);
                x += 14;
            }
        } else {
            self.bm.fill_rect(MARGIN, self.y, w, 2);
        }
        self.y += 2;
        self.gap(8);
    }

    fn short_rule(&mut self, len: u32) {
        let x = MARGIN + self.width().saturating_sub(len) / 2;
        self.bm.fill_rect(x, self.y, len.min(self.width()), 2);
        self.y += 2;
    }

    fn qr(&mut self, payload: &str, max_module: u32) -> Result<(), PrinterError> {
        let qr = QrModules::encode(payload)?;
        let quiet = 4;
        let modules = qr.width() as u32 + 2 * quiet;
        let module = (self.width() / modules).clamp(1, max_module);
        let side = qr.width() as u32 * module;
        let x = MARGIN + (self.width() - side) / 2;
        self.gap(quiet * module);
        qr.draw(&mut self.bm, x, self.y, module);
        self.y += side;
        self.gap(quiet * module);
        Ok(())
    }

    fn finish(mut self) -> Bitmap {
        self.bm.ensure_height(self.y + MARGIN);
        self.bm
    }
}

impl Renderer {
    /// Loads the fonts (fails early, with the path, if one is missing or lacks Vietnamese).
    pub fn new(fonts: &FontConfig) -> Result<Self, PrinterError> {
        Ok(Renderer {
            fonts: Fonts::load(fonts)?,
        })
    }

    /// The fonts, for callers drawing their own slips.
    pub fn fonts(&self) -> &Fonts {
        &self.fonts
    }

    fn page(&self, paper: Paper) -> Page<'_> {
        Page {
            fonts: &self.fonts,
            bm: Bitmap::new(paper.dots(), 0),
            y: MARGIN,
            k: paper.scale(),
        }
    }

    /// Lays out the receipt and appointment slip.
    pub fn receipt(&self, c: &ReceiptContent, paper: Paper) -> Result<Bitmap, PrinterError> {
        let mut p = self.page(paper);
        // Circular 01/2023 art. 26: the QR goes at the top.
        p.qr(&c.qr_payload, 4)?;
        if !c.agency_parent.trim().is_empty() {
            p.text(&[r(&c.agency_parent)], 21.0, Align::Center);
        }
        p.text(&[b(&c.agency_name)], 21.0, Align::Center);
        p.text(
            &[b("BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ")],
            21.0,
            Align::Center,
        );
        p.gap(5);
        p.short_rule(120);
        p.gap(8);
        p.text(
            &[b("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")],
            20.0,
            Align::Center,
        );
        p.text(&[b("Độc lập - Tự do - Hạnh phúc")], 20.0, Align::Center);
        p.gap(5);
        p.short_rule(180);
        p.gap(8);
        p.text(
            &[r(&place_and_date(&c.place, &c.received_at))],
            20.0,
            Align::Center,
        );
        p.gap(10);
        p.text(
            &[b("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ")],
            27.0,
            Align::Center,
        );
        p.gap(6);
        p.text(&[r("Mã hồ sơ:")], 21.0, Align::Center);
        p.fit(&[b(&c.dossier_code)], 34.0, 18.0);
        if !c.lookup_code.trim().is_empty() {
            p.gap(4);
            p.text(
                &[r("Mã tra cứu / Lookup code: "), b(&c.lookup_code)],
                24.0,
                Align::Center,
            );
        }
        p.rule(true);
        let body = 21.0;
        // Continuation lines start under the text, not under the "(4) " number.
        let hang = self.fonts.measure(&[b("(4) ")], body * p.k).round() as u32;
        p.item(
            &[
                r("Bộ phận tiếp nhận và trả kết quả "),
                r(&c.agency_name),
                r(" tiếp nhận hồ sơ của:"),
            ],
            body,
            0,
            0,
        );
        p.item(&[r("Ông/Bà: "), b(&c.applicant_name)], body, 0, hang);
        p.item(&[r("Địa chỉ: "), r(&c.applicant_address)], body, 0, hang);
        p.item(
            &[r("Số điện thoại: "), r(&c.applicant_phone)],
            body,
            0,
            hang,
        );
        if !c.applicant_email.trim().is_empty() {
            p.item(&[r("Email: "), r(&c.applicant_email)], body, 0, hang);
        }
        p.item(
            &[r("Nội dung yêu cầu giải quyết: "), b(&c.procedure_name)],
            body,
            0,
            hang,
        );
        p.gap(6);
        p.item(
            &[
                b("(1) "),
                r("Thành phần hồ sơ và số lượng mỗi loại giấy tờ:"),
            ],
            body,
            0,
            hang,
        );
        for (i, d) in c.documents.iter().enumerate() {
            let line = format!(
                "{}. {} ({}): {:02} bản",
                i + 1,
                d.name,
                d.kind.to_lowercase(),
                d.count
            );
            p.item(&[r(&line)], body, hang, hang * 2);
        }
        p.item(
            &[b("(2) "), r(&format!("Số lượng hồ sơ: {:02} bộ", c.sets))],
            body,
            0,
            hang,
        );
        p.item(
            &[
                b("(3) "),
                r("Thời gian giải quyết hồ sơ theo quy định: "),
                r(&c.processing_time),
            ],
            body,
            0,
            hang,
        );
        p.item(
            &[
                b("(4) "),
                r("Thời gian nhận hồ sơ: "),
                r(&vietnamese_datetime(&c.received_at)),
            ],
            body,
            0,
            hang,
        );
        p.item(
            &[
                b("(5) "),
                r("Thời gian trả kết quả giải quyết hồ sơ: "),
                b(&vietnamese_datetime(&c.appointment)),
            ],
            body,
            0,
            hang,
        );
        p.item(
            &[
                b("(6) "),
                r("Đăng ký nhận kết quả tại: "),
                r(&c.result_place),
            ],
            body,
            0,
            hang,
        );
        if !c.received_by.trim().is_empty() {
            p.gap(6);
            p.text(
                &[r("Người tiếp nhận: "), r(&c.received_by)],
                19.0,
                Align::Right,
            );
        }
        if !c.footer.is_empty() {
            p.rule(true);
            for line in &c.footer {
                p.text(&[r(line)], 18.0, Align::Center);
            }
        }
        Ok(p.finish())
    }

    /// Lays out the queue ticket: Vietnamese first, English small below.
    pub fn ticket(&self, c: &TicketContent, paper: Paper) -> Result<Bitmap, PrinterError> {
        let mut p = self.page(paper);
        p.text(&[b(&c.centre_name)], 23.0, Align::Center);
        p.rule(false);
        p.text(&[b("SỐ THỨ TỰ")], 32.0, Align::Center);
        p.text(&[r("Queue number")], 17.0, Align::Center);
        let number = format!("{:04}", c.number);
        p.fit(&[b(&number)], 170.0, 48.0);
        p.gap(4);
        p.text(&[b(&c.service_area_vi)], 26.0, Align::Center);
        if !c.service_area_en.trim().is_empty() {
            p.text(&[r(&c.service_area_en)], 17.0, Align::Center);
        }
        if !c.counter_vi.trim().is_empty() {
            p.gap(4);
            p.text(&[r("Mời đến: "), b(&c.counter_vi)], 23.0, Align::Center);
            if !c.counter_en.trim().is_empty() {
                p.text(
                    &[r("Please go to: "), r(&c.counter_en)],
                    17.0,
                    Align::Center,
                );
            }
        }
        p.rule(true);
        let t = &c.printed_at;
        p.text(
            &[r(&format!("In lúc {}", vietnamese_datetime(t)))],
            19.0,
            Align::Center,
        );
        p.text(
            &[r(&format!("Printed at {}", t.format("%H:%M, %d/%m/%Y")))],
            16.0,
            Align::Center,
        );
        if let Some((vi, en)) = &c.notice {
            p.gap(4);
            p.text(&[b(vi)], 20.0, Align::Center);
            p.text(&[r(en)], 16.0, Align::Center);
        }
        if c.waiting.is_some() || c.expected_wait_min.is_some() || c.wait_text.is_some() {
            p.gap(4);
            let mut vi = Vec::new();
            let mut en = Vec::new();
            if let Some(n) = c.waiting {
                vi.push(format!("Số người đang chờ: {n}"));
                en.push(format!("People waiting: {n}"));
            }
            if let Some((wait_vi, wait_en)) = &c.wait_text {
                vi.push(format!("Thời gian chờ dự kiến: {wait_vi}"));
                en.push(format!("Expected wait: {wait_en}"));
            } else if let Some(m) = c.expected_wait_min {
                vi.push(format!("Thời gian chờ dự kiến: khoảng {m} phút"));
                en.push(format!("Expected wait: about {m} min"));
            }
            for line in &vi {
                p.text(&[r(line)], 20.0, Align::Center);
            }
            p.text(&[r(&en.join(" · "))], 16.0, Align::Center);
        }
        if let Some(q) = &c.qr_payload {
            p.qr(q, 3)?;
        }
        for line in &c.footer {
            p.text(&[r(line)], 17.0, Align::Center);
        }
        Ok(p.finish())
    }

    /// Lays out and encodes a receipt in one step.
    pub fn receipt_job(
        &self,
        c: &ReceiptContent,
        paper: Paper,
        opts: &EncodeOptions,
    ) -> Result<Job, PrinterError> {
        let bm = self.receipt(c, paper)?;
        Ok(Job::from_bitmap(
            format!("receipt {}", c.dossier_code),
            &bm,
            opts,
        ))
    }

    /// Lays out and encodes a ticket in one step.
    pub fn ticket_job(
        &self,
        c: &TicketContent,
        paper: Paper,
        opts: &EncodeOptions,
    ) -> Result<Job, PrinterError> {
        let bm = self.ticket(c, paper)?;
        Ok(Job::from_bitmap(
            format!("ticket {:04}", c.number),
            &bm,
            opts,
        ))
    }
}
