//! Writes sample PNGs of the slips to target/printer-samples/ for people to look at, and checks
//! what can be checked without eyes: the QR decodes and the text fits the paper (no ink in the
//! side margins, where a line running past the paper would show before the head cuts it off;
//! long lines wrap instead, and every glyph of a wrapped paragraph is still printed).

mod common;

use std::path::PathBuf;

use motcua_printer::text::{b, r, Run, Style};
use motcua_printer::{Bitmap, FontConfig, Paper, ReceiptContent, Renderer, SubmittedDocument};

/// The layout keeps this many dots free on each side of the paper (`layout::MARGIN`): ink there
/// means a line ran over its width (a thermal head silently drops dots past its last one, so the
/// margin is where overflow can still be seen).
const SIDE_MARGIN: u32 = 8;

fn samples_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/printer-samples");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Black dots in columns `from..to` of `bm`.
fn ink_in_columns(bm: &Bitmap, from: u32, to: u32) -> u64 {
    (0..bm.height())
        .map(|y| (from..to).filter(|&x| bm.get(x, y)).count() as u64)
        .sum()
}

/// Fails (naming the slip) when any ink lies in the side margins of `bm`.
fn assert_ink_inside_margins(bm: &Bitmap, what: &str) {
    let w = bm.width();
    assert!(bm.black_dots() > 0, "{what}: nothing printed");
    let left = ink_in_columns(bm, 0, SIDE_MARGIN);
    let right = ink_in_columns(bm, w - SIDE_MARGIN, w);
    assert_eq!(
        (left, right),
        (0, 0),
        "{what}: ink in the side margins (left, right dots): text runs off the paper"
    );
}

/// The sample receipt with the longest fields a citizen can bring: every line must wrap.
fn long_receipt() -> ReceiptContent {
    let mut c = common::sample_receipt();
    c.applicant_name = "Công Tằng Tôn Nữ Hoàng Thị Nguyệt Ánh Phương Quỳnh Hương".into();
    c.applicant_address = "Số nhà 1234/56/78 hẻm 9 đường Huỳnh Tấn Phát, khu phố Mỹ Khánh, \
        phường Tân Phong, thành phố Thủ Dầu Một, tỉnh Bình Dương, Việt Nam"
        .repeat(2);
    c.documents.push(SubmittedDocument {
        name: "Giấy xác nhận tình trạng hôn nhân của người yêu cầu đăng ký khai sinh (trường hợp \
            cha, mẹ chưa đăng ký kết hôn) cấp chưa quá sáu tháng"
            .into(),
        kind: "Bản sao chứng thực từ bản chính".into(),
        count: 2,
    });
    // One "word" longer than a line (a pasted e-mail address): it must be split, not clipped.
    c.applicant_email =
        "nguyen.thi.phuong.quynh.huong.soc.trang.viet.nam.1990@example.gov.vn".into();
    c
}

#[test]
fn sample_slips_are_written_and_their_qr_decodes() {
    let renderer = Renderer::new(&FontConfig::default()).unwrap();
    let receipt = common::sample_receipt();
    let ticket = common::sample_ticket();
    let dir = samples_dir();
    for (paper, name) in [(Paper::Mm80, "80mm"), (Paper::Mm58, "58mm")] {
        let bm = renderer.receipt(&receipt, paper).unwrap();
        assert_eq!(bm.width(), paper.dots());
        assert_ink_inside_margins(&bm, &format!("receipt {name}"));
        let path = dir.join(format!("receipt-{name}.png"));
        bm.write_png(&path).unwrap();
        assert_eq!(common::zbar(&path), vec![receipt.qr_payload.clone()]);

        let bm = renderer.ticket(&ticket, paper).unwrap();
        assert_ink_inside_margins(&bm, &format!("ticket {name}"));
        let path = dir.join(format!("ticket-{name}.png"));
        bm.write_png(&path).unwrap();
        assert_eq!(
            common::zbar(&path),
            vec![ticket.qr_payload.clone().unwrap()]
        );
    }
}

#[test]
fn a_receipt_with_very_long_fields_stays_on_the_paper() {
    let renderer = Renderer::new(&FontConfig::default()).unwrap();
    let receipt = long_receipt();
    let dir = samples_dir();
    for (paper, name) in [(Paper::Mm80, "80mm"), (Paper::Mm58, "58mm")] {
        let normal = renderer.receipt(&common::sample_receipt(), paper).unwrap();
        let bm = renderer.receipt(&receipt, paper).unwrap();
        assert_ink_inside_margins(&bm, &format!("long receipt {name}"));
        // The extra text went somewhere: down (wrapped lines), not off the side.
        assert!(
            bm.height() > normal.height(),
            "long receipt {name}: {} rows, no taller than the normal one ({})",
            bm.height(),
            normal.height()
        );
        bm.write_png(&dir.join(format!("receipt-long-{name}.png")))
            .unwrap();
    }
}

#[test]
fn a_long_vietnamese_paragraph_wraps_inside_its_width_and_keeps_every_glyph() {
    let renderer = Renderer::new(&FontConfig::default()).unwrap();
    let fonts = renderer.fonts();
    let address = "Số 123/45 đường Nguyễn Huệ, khóm 4, phường Khánh Hòa, thị xã Vĩnh Châu, tỉnh \
        Sóc Trăng; ấp Phước Thọ, xã Vĩnh Hải — Ỷ Ễ Ỗ Ữ ặ ỹ";
    let long_word = "Nghiêngnghiêngnghiêngnghiêngnghiêngnghiêngnghiêngnghiêng";
    let runs: [Run<'_>; 3] = [b("Địa chỉ: "), r(address), r(long_word)];
    let size = 22.0;
    let line_h = fonts.line_height(size);
    for width in [
        Paper::Mm58.dots() - 2 * SIDE_MARGIN,
        Paper::Mm80.dots() - 2 * SIDE_MARGIN,
    ] {
        // Wrapped into `width`, on a bitmap wide enough that overflow would be drawn, not dropped.
        let mut wrapped = Bitmap::new(width + 600, 0);
        let bottom = fonts.paragraph(&mut wrapped, 0, 0, width, &runs, &Style::left(size));
        let beyond = ink_in_columns(&wrapped, width, wrapped.width());
        assert_eq!(
            beyond, 0,
            "width {width}: {beyond} dots past the line width"
        );
        assert!(
            bottom / line_h >= 3,
            "width {width}: only {} line(s); the text should have wrapped",
            bottom / line_h
        );

        // The same text on one unbounded line: wrapping may only move glyphs, never drop one
        // (DejaVu's glyphs do not touch at this size, so the dots simply add up).
        let one_line_width = (fonts.measure(&runs, size).ceil() as u32) + 64;
        let mut one_line = Bitmap::new(one_line_width + 64, 0);
        let one_bottom = fonts.paragraph(
            &mut one_line,
            0,
            0,
            one_line_width,
            &runs,
            &Style::left(size),
        );
        assert_eq!(one_bottom, line_h, "the reference is a single line");
        assert_eq!(
            wrapped.black_dots(),
            one_line.black_dots(),
            "width {width}: the wrapped paragraph lost or gained ink"
        );
    }
}

#[test]
fn hub_tickets_print_the_wait_range_and_the_offline_notice_on_the_paper() {
    let renderer = Renderer::new(&FontConfig::default()).unwrap();
    let dir = samples_dir();
    let mut hub = common::sample_ticket();
    hub.expected_wait_min = None;
    hub.wait_text = Some(("khoảng 10–25 phút".into(), "about 10–25 min".into()));
    hub.qr_payload = Some("HT-20261123-12@KIOSK-H56-0001".into());
    let mut offline = common::sample_ticket();
    offline.number = 9100;
    offline.waiting = None;
    offline.expected_wait_min = None;
    offline.wait_text = Some(("không ước tính được".into(), "cannot be estimated".into()));
    offline.notice = Some((
        "CẤP KHI MẤT KẾT NỐI VỚI MÁY CHỦ QUẦY".into(),
        "Issued offline (the hall's queue server was unreachable)".into(),
    ));
    offline.qr_payload = Some("HT-20261123-9100@KIOSK-H56-0001".into());
    for (paper, name) in [(Paper::Mm80, "80mm"), (Paper::Mm58, "58mm")] {
        let plain = renderer.ticket(&common::sample_ticket(), paper).unwrap();
        for (ticket, kind) in [(&hub, "hub"), (&offline, "offline")] {
            let bm = renderer.ticket(ticket, paper).unwrap();
            assert_ink_inside_margins(&bm, &format!("{kind} ticket {name}"));
            let path = dir.join(format!("ticket-{kind}-{name}.png"));
            bm.write_png(&path).unwrap();
            assert_eq!(
                common::zbar(&path),
                vec![ticket.qr_payload.clone().unwrap()]
            );
            assert!(bm != plain, "{kind} {name}: the words changed the slip");
        }
        let with_notice = renderer.ticket(&offline, paper).unwrap();
        let mut without = offline.clone();
        without.notice = None;
        let without = renderer.ticket(&without, paper).unwrap();
        assert!(
            with_notice.height() > without.height(),
            "{name}: the offline notice takes its own lines"
        );
    }
}
