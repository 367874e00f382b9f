//! The ink of realistic pages, drawn over white at the scan resolution before
//! [`realistic`](super::realistic) scans it: printed headings and text, forms filled in
//! ballpoint, tables, a round seal, signatures, ID cards with photos, and the near-blank
//! pages (a date and a signature, one handwritten line).
//!
//! Kept apart from the scanning effects so each file reads as one job: what is on the paper
//! here, what the scanner does to it there.

use image::{GrayImage, Luma};

use super::strokes::{self, Pen, ValueNoise};
use super::{a4_pixels, draw_page_mark, Rng};

/// What is on a scanned side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetKind {
    /// A form (tờ khai): printed labels and table, fields filled in ballpoint, signed; some
    /// carry a seal.
    Form,
    /// A letter or certificate: printed text ending in a seal over a signature.
    Letter,
    /// A certified copy of an ID card: two shaded cards with a photo, a seal, a signature.
    IdCopy,
    /// Near-blank: only a handwritten date and a signature. Must be kept.
    SignatureOnly,
    /// Near-blank: one handwritten line. Must be kept.
    HandwrittenLine,
    /// The empty back of a sheet whose front was `front` drawn with `front_seed`: bleed-through
    /// of that front, holes on the other edge. Must be dropped.
    BlankBack {
        /// The front's kind.
        front: FrontKind,
        /// The front's seed.
        front_seed: u64,
    },
}

/// The printed kinds a blank back can show through from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontKind {
    /// See [`SheetKind::Form`].
    Form,
    /// See [`SheetKind::Letter`].
    Letter,
    /// See [`SheetKind::IdCopy`].
    IdCopy,
}

impl SheetKind {
    /// Whether the side carries page-number marks.
    pub fn marked(self) -> bool {
        matches!(self, Self::Form | Self::Letter | Self::IdCopy)
    }

    /// Whether the pipeline must drop it.
    pub fn is_blank(self) -> bool {
        matches!(self, Self::BlankBack { .. })
    }
}

pub(super) fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * f64::from(rng.range(0, 1_000_000)) / 1_000_000.0
}

/// Millimetres to pixels at `dpi`.
pub(super) fn mm(dpi: u32) -> impl Fn(f64) -> f64 {
    move |v| v * f64::from(dpi) / 25.4
}

const WORDS: &[&str] = &[
    "HO SO",
    "CONG DAN",
    "DANG KY",
    "KHAI SINH",
    "THUONG TRU",
    "XAC NHAN",
    "UY BAN",
    "NHAN DAN",
    "XA",
    "HUYEN",
    "TINH",
    "THEO",
    "QUY DINH",
    "CUA",
    "PHAP LUAT",
    "VE",
    "VIEC",
    "CAP",
    "GIAY",
    "CHUNG NHAN",
    "NGUOI",
    "YEU CAU",
    "DIA CHI",
    "NOI",
    "CU TRU",
    "NAM",
    "THANG",
    "NGAY",
    "SO",
    "BAN SAO",
    "CHUNG THUC",
    "THU TUC",
    "HANH CHINH",
    "TIEP NHAN",
    "GIAI QUYET",
    "TRA",
    "KET QUA",
];

fn print_pen(dpi: u32, cap_mm: f64, rng: &mut Rng) -> Pen {
    let mm = mm(dpi);
    Pen {
        height: mm(cap_mm),
        radius: mm(0.12 + cap_mm * 0.03).max(0.6),
        value: rng.range(20, 50) as u8,
        slant: 0.0,
        jitter: 0.0,
    }
}

/// Grey-blue ballpoint on a grey scan: lighter than print, thin, slanted, uneven.
fn ballpoint(dpi: u32, cap_mm: f64, rng: &mut Rng) -> Pen {
    let mm = mm(dpi);
    Pen {
        height: mm(cap_mm),
        radius: mm(0.2).max(0.6),
        value: rng.range(85, 130) as u8,
        slant: 0.22,
        jitter: 0.35,
    }
}

/// A line of random words from `x` to at most `x_end`.
fn words(img: &mut GrayImage, x: f64, x_end: f64, y: f64, pen: Pen, rng: &mut Rng) {
    let mut line = String::new();
    let per_char = pen.height / 6.0 * strokes::ADVANCE;
    let max_chars = ((x_end - x) / per_char).max(0.0) as usize;
    while line.len() < max_chars {
        let w = WORDS[rng.range(0, WORDS.len() as u32) as usize];
        if line.len() + w.len() + 1 > max_chars {
            break;
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    strokes::text(img, &line, x, y, 0.0, pen, rng);
}

/// The national heading, centred at the top, from `y` (mm).
fn national_heading(img: &mut GrayImage, dpi: u32, y: f64, rng: &mut Rng) {
    let mm = mm(dpi);
    let w = f64::from(img.width());
    let bold = Pen {
        radius: mm(0.22),
        ..print_pen(dpi, 2.6, rng)
    };
    let t1 = "CONG HOA XA HOI CHU NGHIA VIET NAM";
    let width = t1.len() as f64 * bold.height / 6.0 * strokes::ADVANCE;
    strokes::text(img, t1, (w - width) / 2.0, mm(y), 0.0, bold, rng);
    let p2 = print_pen(dpi, 2.4, rng);
    let t2 = "DOC LAP - TU DO - HANH PHUC";
    let w2 = t2.len() as f64 * p2.height / 6.0 * strokes::ADVANCE;
    strokes::text(img, t2, (w - w2) / 2.0, mm(y + 5.0), 0.0, p2, rng);
    strokes::line(
        img,
        ((w - w2) / 2.0, mm(y + 9.0)),
        ((w + w2) / 2.0, mm(y + 9.0)),
        mm(0.1).max(0.6),
        40,
    );
}

/// A round seal (about 40 mm), mottled mid-grey as red ink scans in grey, centred at `c`.
pub fn seal(img: &mut GrayImage, dpi: u32, c: (f64, f64), rng: &mut Rng) {
    let mm = mm(dpi);
    let r = mm(uniform(rng, 18.0, 21.0));
    let side = (2.0 * r + mm(2.0)).ceil() as u32;
    let mut layer = GrayImage::from_pixel(side, side, Luma([255]));
    let lc = (f64::from(side) / 2.0, f64::from(side) / 2.0);
    strokes::ring(&mut layer, lc, r, mm(1.1), 0);
    strokes::ring(&mut layer, lc, r - mm(4.8), mm(0.45), 0);
    let pen = Pen {
        height: mm(2.7),
        radius: mm(0.2),
        value: 0,
        slant: 0.0,
        jitter: 0.0,
    };
    strokes::text_on_circle(
        &mut layer,
        "UY BAN NHAN DAN XA AN BINH * HUYEN LONG HO",
        lc,
        r - mm(4.3),
        std::f64::consts::PI * 1.72,
        pen,
        rng,
    );
    strokes::star(&mut layer, (lc.0, lc.1 - mm(3.0)), mm(3.2), 0);
    let small = Pen {
        height: mm(2.2),
        ..pen
    };
    let t = "VINH LONG";
    let tw = t.len() as f64 * small.height / 6.0 * strokes::ADVANCE;
    strokes::text(
        &mut layer,
        t,
        lc.0 - tw / 2.0,
        lc.1 + mm(2.0),
        0.0,
        small,
        rng,
    );

    // Red ink as grey: about 110, mottled in patches of about a millimetre, with gaps where
    // the stamp pad was dry.
    let base = f64::from(rng.range(100, 125));
    let mottle = ValueNoise::new(side, side, mm(1.2), rng);
    let gaps = ValueNoise::new(side, side, mm(0.6), rng);
    let (ox, oy) = ((c.0 - lc.0) as i64, (c.1 - lc.1) as i64);
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in 0..side {
        for x in 0..side {
            if layer.get_pixel(x, y).0[0] != 0 {
                continue;
            }
            let (fx, fy) = (f64::from(x), f64::from(y));
            if gaps.at(fx, fy) > 0.86 {
                continue;
            }
            let v = (base + 80.0 * (f64::from(mottle.at(fx, fy)) - 0.5)).clamp(70.0, 200.0) as u8;
            let (px, py) = (ox + i64::from(x), oy + i64::from(y));
            if px >= 0 && py >= 0 && px < w && py < h {
                let p = img.get_pixel_mut(px as u32, py as u32);
                p.0[0] = p.0[0].min(v);
            }
        }
    }
}

/// A signature with the signer's printed name under it, from (`x`, `y`).
fn signed(img: &mut GrayImage, dpi: u32, x: f64, y: f64, rng: &mut Rng) {
    let mm = mm(dpi);
    let pen = ballpoint(dpi, 4.0, rng);
    strokes::signature(img, x, y, mm(uniform(rng, 30.0, 45.0)), mm(12.0), pen, rng);
    let p = print_pen(dpi, 2.4, rng);
    strokes::text(img, "NGUYEN VAN AN", x, y + mm(18.0), 0.0, p, rng);
}

/// A shaded ID card (85.6 × 54 mm) with a photo, at (`x`, `y`).
fn id_card(img: &mut GrayImage, dpi: u32, x: f64, y: f64, rng: &mut Rng) {
    let mm = mm(dpi);
    let (cw, ch) = (mm(85.6), mm(54.0));
    let shade = ValueNoise::new(cw as u32 + 1, ch as u32 + 1, mm(15.0), rng);
    for yy in 0..ch as u32 {
        for xx in 0..cw as u32 {
            let v = 192.0 + 20.0 * f64::from(shade.at(f64::from(xx), f64::from(yy)));
            let (px, py) = (x as u32 + xx, y as u32 + yy);
            if px < img.width() && py < img.height() {
                let p = img.get_pixel_mut(px, py);
                p.0[0] = p.0[0].min(v as u8);
            }
        }
    }
    let border = mm(0.15).max(0.6);
    for (a, b) in [
        ((x, y), (x + cw, y)),
        ((x + cw, y), (x + cw, y + ch)),
        ((x + cw, y + ch), (x, y + ch)),
        ((x, y + ch), (x, y)),
    ] {
        strokes::line(img, a, b, border, 90);
    }
    // The photo: smooth light and shade, a face-like oval.
    let (px0, py0, pw, ph) = (x + mm(4.0), y + mm(12.0), mm(20.0), mm(27.0));
    let blobs = ValueNoise::new(pw as u32 + 1, ph as u32 + 1, mm(5.0), rng);
    for yy in 0..ph as u32 {
        for xx in 0..pw as u32 {
            let (fx, fy) = (f64::from(xx) / pw - 0.5, f64::from(yy) / ph - 0.42);
            let face = (fx * fx / 0.09 + fy * fy / 0.12) < 1.0;
            let base = if face {
                150.0
            } else {
                95.0 + 50.0 * f64::from(yy) / ph
            };
            let v = base + 60.0 * (f64::from(blobs.at(f64::from(xx), f64::from(yy))) - 0.5);
            let (qx, qy) = (px0 as u32 + xx, py0 as u32 + yy);
            if qx < img.width() && qy < img.height() {
                img.put_pixel(qx, qy, Luma([v.clamp(30.0, 220.0) as u8]));
            }
        }
    }
    let pen = print_pen(dpi, 2.0, rng);
    strokes::text(
        img,
        "CAN CUOC CONG DAN",
        x + mm(28.0),
        y + mm(4.0),
        0.0,
        pen,
        rng,
    );
    for i in 0..6 {
        let line_y = y + mm(12.0 + 6.5 * f64::from(i));
        words(
            img,
            x + mm(28.0),
            x + cw - mm(3.0),
            line_y,
            print_pen(dpi, 1.8, rng),
            rng,
        );
    }
}

/// Draws the ink of a side (over white) at `dpi`.
pub(super) fn draw(kind: SheetKind, dpi: u32, number: u32, seed: u64) -> GrayImage {
    let (w, h) = a4_pixels(dpi);
    let mut img = GrayImage::from_pixel(w, h, Luma([255]));
    let mut rng = Rng::new(seed ^ 0xC0FFEE);
    let mm = mm(dpi);
    let (left, right) = (mm(25.0), f64::from(w) - mm(15.0));
    if kind.marked() {
        draw_page_mark(&mut img, dpi, number);
    }
    match kind {
        SheetKind::Form => {
            national_heading(&mut img, dpi, 22.0, &mut rng);
            let title = print_pen(dpi, 3.6, &mut rng);
            let title = Pen {
                radius: mm(0.28),
                ..title
            };
            strokes::text(
                &mut img,
                "TO KHAI DANG KY",
                mm(60.0),
                mm(42.0),
                0.0,
                title,
                &mut rng,
            );
            let mut y = mm(56.0);
            let labels = [
                "HO VA TEN:",
                "NGAY SINH:",
                "NOI SINH:",
                "DAN TOC:",
                "QUOC TICH:",
                "NOI CU TRU:",
                "SO DINH DANH:",
                "QUAN HE:",
                "HO TEN CHA:",
                "HO TEN ME:",
            ];
            for label in labels.iter().take(rng.range(6, 11) as usize) {
                let p = print_pen(dpi, 2.3, &mut rng);
                let end = strokes::text(&mut img, label, left, y, 0.0, p, &mut rng);
                let mut dot = end + mm(2.0);
                while dot < right {
                    strokes::disc(&mut img, dot, y + p.height, mm(0.12).max(0.5), 60);
                    dot += mm(1.6);
                }
                let fill = [
                    "NGUYEN THI HOA",
                    "12/03/2026",
                    "AN BINH",
                    "KINH",
                    "VIET NAM",
                    "AP 3 XA AN BINH",
                    "086123456789",
                    "ME",
                    "NGUYEN VAN AN",
                    "TRAN THI BE",
                ];
                let text = fill[rng.range(0, fill.len() as u32) as usize];
                let pen = ballpoint(dpi, 3.6, &mut rng);
                strokes::text(
                    &mut img,
                    text,
                    end + mm(8.0),
                    y - mm(1.8),
                    0.0,
                    pen,
                    &mut rng,
                );
                y += mm(9.5);
            }
            if rng.range(0, 2) == 0 {
                // A table: 4 columns, 5 rows, ruled, some cells filled.
                let (cols, rows, row_h) = (4u32, 5u32, mm(8.0));
                let col_w = (right - left) / f64::from(cols);
                let rule = mm(0.12).max(0.6);
                for r in 0..=rows {
                    let ly = y + row_h * f64::from(r);
                    strokes::line(&mut img, (left, ly), (right, ly), rule, 40);
                }
                for c in 0..=cols {
                    let lx = left + col_w * f64::from(c);
                    strokes::line(
                        &mut img,
                        (lx, y),
                        (lx, y + row_h * f64::from(rows)),
                        rule,
                        40,
                    );
                }
                for r in 0..rows {
                    for c in 0..cols {
                        let (cx, cy) = (
                            left + col_w * f64::from(c) + mm(2.0),
                            y + row_h * f64::from(r) + mm(2.2),
                        );
                        if r == 0 {
                            words(
                                &mut img,
                                cx,
                                cx + col_w - mm(4.0),
                                cy,
                                print_pen(dpi, 2.2, &mut rng),
                                &mut rng,
                            );
                        } else if rng.range(0, 3) > 0 {
                            let pen = ballpoint(dpi, 3.2, &mut rng);
                            strokes::text(&mut img, "X 12", cx, cy - mm(0.8), 0.0, pen, &mut rng);
                        }
                    }
                }
                y += row_h * f64::from(rows) + mm(8.0);
            }
            let pen = ballpoint(dpi, 3.4, &mut rng);
            strokes::text(
                &mut img,
                "AN BINH, NGAY 12 THANG 3 NAM 2026",
                mm(95.0),
                y,
                0.0,
                pen,
                &mut rng,
            );
            let p = print_pen(dpi, 2.4, &mut rng);
            strokes::text(
                &mut img,
                "NGUOI KHAI",
                mm(130.0),
                y + mm(8.0),
                0.0,
                p,
                &mut rng,
            );
            signed(&mut img, dpi, mm(125.0), y + mm(14.0), &mut rng);
            if rng.range(0, 4) == 0 {
                seal(&mut img, dpi, (mm(130.0), y + mm(22.0)), &mut rng);
            }
        }
        SheetKind::Letter => {
            let p = print_pen(dpi, 2.4, &mut rng);
            strokes::text(
                &mut img,
                "UBND XA AN BINH",
                left,
                mm(22.0),
                0.0,
                p,
                &mut rng,
            );
            strokes::text(&mut img, "SO: 123/UBND", left, mm(28.0), 0.0, p, &mut rng);
            national_heading(&mut img, dpi, 34.0, &mut rng);
            let title = Pen {
                radius: mm(0.28),
                ..print_pen(dpi, 3.6, &mut rng)
            };
            strokes::text(
                &mut img,
                "GIAY XAC NHAN",
                mm(70.0),
                mm(54.0),
                0.0,
                title,
                &mut rng,
            );
            let mut y = mm(68.0);
            let lines = rng.range(14, 24);
            for i in 0..lines {
                let end = if i % 6 == 5 {
                    left + (right - left) * 0.5
                } else {
                    right
                };
                words(
                    &mut img,
                    if i % 6 == 0 { left + mm(10.0) } else { left },
                    end,
                    y,
                    print_pen(dpi, 2.3, &mut rng),
                    &mut rng,
                );
                y += mm(6.5);
            }
            y += mm(8.0);
            let p = print_pen(dpi, 2.5, &mut rng);
            strokes::text(
                &mut img,
                "TM. UY BAN NHAN DAN",
                mm(115.0),
                y,
                0.0,
                p,
                &mut rng,
            );
            strokes::text(
                &mut img,
                "CHU TICH",
                mm(130.0),
                y + mm(6.0),
                0.0,
                p,
                &mut rng,
            );
            signed(&mut img, dpi, mm(125.0), y + mm(12.0), &mut rng);
            seal(
                &mut img,
                dpi,
                (mm(122.0) + mm(uniform(&mut rng, -4.0, 4.0)), y + mm(20.0)),
                &mut rng,
            );
        }
        SheetKind::IdCopy => {
            let p = print_pen(dpi, 3.0, &mut rng);
            strokes::text(&mut img, "BAN SAO", mm(90.0), mm(24.0), 0.0, p, &mut rng);
            id_card(&mut img, dpi, mm(62.0), mm(36.0), &mut rng);
            id_card(&mut img, dpi, mm(62.0), mm(100.0), &mut rng);
            let mut y = mm(170.0);
            for _ in 0..4 {
                words(
                    &mut img,
                    left,
                    right,
                    y,
                    print_pen(dpi, 2.3, &mut rng),
                    &mut rng,
                );
                y += mm(6.5);
            }
            let p = print_pen(dpi, 2.5, &mut rng);
            strokes::text(
                &mut img,
                "CHUNG THUC BAN SAO DUNG VOI BAN CHINH",
                left,
                y + mm(4.0),
                0.0,
                p,
                &mut rng,
            );
            signed(&mut img, dpi, mm(125.0), y + mm(16.0), &mut rng);
            seal(&mut img, dpi, (mm(118.0), y + mm(24.0)), &mut rng);
        }
        SheetKind::SignatureOnly => {
            let y = mm(uniform(&mut rng, 150.0, 230.0));
            let x = mm(uniform(&mut rng, 30.0, 120.0));
            let pen = ballpoint(dpi, 3.6, &mut rng);
            strokes::text(&mut img, "NGAY 5/3/2026", x, y, 0.0, pen, &mut rng);
            let pen = ballpoint(dpi, 4.0, &mut rng);
            strokes::signature(
                &mut img,
                x,
                y + mm(10.0),
                mm(uniform(&mut rng, 28.0, 45.0)),
                mm(12.0),
                pen,
                &mut rng,
            );
        }
        SheetKind::HandwrittenLine => {
            let y = mm(uniform(&mut rng, 40.0, 250.0));
            let pen = ballpoint(dpi, 3.8, &mut rng);
            let lines = [
                "DA NHAN DU HO SO",
                "SAO Y BAN CHINH",
                "GHI CHU: BO SUNG SAU",
                "KHONG CO Y KIEN",
            ];
            let t = lines[rng.range(0, lines.len() as u32) as usize];
            strokes::text(
                &mut img,
                t,
                mm(uniform(&mut rng, 25.0, 90.0)),
                y,
                0.0,
                pen,
                &mut rng,
            );
        }
        SheetKind::BlankBack { .. } => {}
    }
    img
}
