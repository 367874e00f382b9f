//! Realistic scanned pages of Vietnamese administrative papers, for tests and `bench-pipeline`:
//! what a commune desk's duplex feeder gives, not clean renders.
//!
//! Every page is the paper side drawn first (ink over white, at the scan resolution), then
//! "scanned": paper grey between 218 and 240 with uneven lamp illumination and
//! fibre texture, the ink darkened with it; on blank backs the front's ink showing through,
//! mirrored, blurred and at 3–8 % contrast; two punched binder holes near the binding edge
//! showing the scanner's dark backing as black discs; the sheet fed slightly crooked and late,
//! so the backing shows as a dark strip along the leading edge and dark wedges at the skewed
//! corners; dust specks; the optics' blur and sensor grain.
//!
//! Content ([`SheetKind`]): forms filled in grey-blue ballpoint with tables, letters ending in
//! a round seal (red on paper: a mottled mid-grey ring with text on a grey scan) over a
//! signature, copies of ID cards (photos, shaded cards) with a certification seal, and
//! near-blank pages that are **not** blank (only a signature and a date, or one handwritten
//! line). Pages that carry printed matter also carry the page-number marks of the clean set
//! ([`super::draw_page_mark`]) so a rendering tells which page landed where; near-blank pages
//! carry none (marks would make them trivially non-blank) and read as page 0.
//!
//! Same seed, same pixels: everything random comes from [`Rng`].

use image::{GrayImage, Luma};

pub use super::documents::{FrontKind, SheetKind};

use super::documents::{draw, mm, uniform};
use super::strokes::{self, ValueNoise};
use super::{optics_blur, Rng};

/// Where the binder holes are: near the left edge of a front, the right edge of its back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holes {
    None,
    Left,
    Right,
}

/// The front's ink at a quarter of `dpi`, blurred and mirrored: what shows through its back.
fn bleed_source(front: FrontKind, front_seed: u64, dpi: u32) -> GrayImage {
    let kind = match front {
        FrontKind::Form => SheetKind::Form,
        FrontKind::Letter => SheetKind::Letter,
        FrontKind::IdCopy => SheetKind::IdCopy,
    };
    let low = (dpi / 4).max(20);
    let mut ink = draw(kind, low, 1, front_seed);
    for _ in 0..3 {
        optics_blur(&mut ink);
    }
    image::imageops::flip_horizontal(&ink)
}

/// "Scans" a side: paper, illumination, bleed-through, holes, feed skew and backing, dust,
/// blur and grain (see the [module documentation](self)).
fn scan(
    ink: &GrayImage,
    dpi: u32,
    seed: u64,
    holes: Holes,
    bleed: Option<&GrayImage>,
) -> GrayImage {
    let mut rng = Rng::new(seed ^ 0x5CA7_7E55);
    let mm = mm(dpi);
    let (w, h) = (ink.width(), ink.height());
    let paper_level = uniform(&mut rng, 228.0, 234.0);
    // Lamp falloff towards one side and a slow gradient down the page: paper stays in about
    // 218–240.
    let (gx, gy) = (uniform(&mut rng, -4.0, 4.0), uniform(&mut rng, -3.0, 3.0));
    let fibre = ValueNoise::new(w, h, mm(0.7), &mut rng);
    let cloud = ValueNoise::new(w, h, mm(9.0), &mut rng);
    let contrast = uniform(&mut rng, 0.03, 0.08);
    let mut side = GrayImage::new(w, h);
    let (fw, fh) = (f64::from(w), f64::from(h));
    for y in 0..h {
        let fy = f64::from(y);
        let row_level = paper_level + gy * (fy / fh - 0.5);
        for x in 0..w {
            let fx = f64::from(x);
            let u = fx / fw - 0.5;
            let level = row_level + gx * u - 8.0 * u * u
                + 5.0 * (f64::from(fibre.at(fx, fy)) - 0.5)
                + 6.0 * (f64::from(cloud.at(fx, fy)) - 0.5);
            let mut v = level * f64::from(ink.get_pixel(x, y).0[0]) / 255.0;
            if let Some(b) = bleed {
                let (bx, by) = (
                    (x * b.width() / w).min(b.width() - 1),
                    (y * b.height() / h).min(b.height() - 1),
                );
                let through = (255.0 - f64::from(b.get_pixel(bx, by).0[0])) / 255.0;
                v -= contrast * through * level;
            }
            side.put_pixel(x, y, Luma([v.clamp(0.0, 255.0) as u8]));
        }
    }
    let backing = rng.range(22, 45) as u8;
    if holes != Holes::None {
        let r = mm(3.0);
        let hx = if holes == Holes::Left {
            mm(12.0)
        } else {
            fw - mm(12.0)
        };
        for hy in [fh / 2.0 - mm(40.0), fh / 2.0 + mm(40.0)] {
            strokes::disc(&mut side, hx, hy, r, backing);
        }
    }

    // Fed late and crooked: the paper is shifted down by the lead, sideways a little, and
    // turned about its top-left corner; the backing shows where it is not.
    let lead = mm(uniform(&mut rng, 1.0, 4.0));
    let shift = mm(uniform(&mut rng, -1.0, 2.0));
    let angle = uniform(&mut rng, -0.8, 0.8).to_radians();
    let (sin, cos) = angle.sin_cos();
    let mut out = GrayImage::new(w, h);
    for y in 0..h {
        let dy = f64::from(y) - lead;
        let (mut px, mut py) = (cos * -shift + sin * dy, -sin * -shift + cos * dy);
        for x in 0..w {
            let v = if px >= 0.0 && py >= 0.0 && px < fw && py < fh {
                side.get_pixel(px as u32, py as u32).0[0]
            } else {
                backing
            };
            out.put_pixel(x, y, Luma([v]));
            px += cos;
            py -= sin;
        }
    }
    drop(side);
    for _ in 0..rng.range(5, 25) {
        let (x, y) = (f64::from(rng.range(0, w)), f64::from(rng.range(0, h)));
        strokes::disc(
            &mut out,
            x,
            y,
            mm(uniform(&mut rng, 0.08, 0.3)),
            rng.range(40, 150) as u8,
        );
    }
    optics_blur(&mut out);
    crate::codes::synth::add_noise(&mut out, 3, seed);
    out
}

/// A realistic scanned side of `kind` at `dpi` (grey), page marks showing `number` on printed
/// kinds; `punched` sheets show their binder holes.
pub fn realistic_page(
    kind: SheetKind,
    dpi: u32,
    number: u32,
    seed: u64,
    punched: bool,
) -> GrayImage {
    let ink = draw(kind, dpi, number, seed);
    match kind {
        SheetKind::BlankBack { front, front_seed } => {
            let bleed = bleed_source(front, front_seed, dpi);
            scan(
                &ink,
                dpi,
                seed,
                if punched { Holes::Right } else { Holes::None },
                Some(&bleed),
            )
        }
        _ => scan(
            &ink,
            dpi,
            seed,
            if punched { Holes::Left } else { Holes::None },
            None,
        ),
    }
}

/// A clean rendering of a printed sheet (a separator sheet from `pdftoppm`, white paper) as
/// the desk's scanner gives it: paper grey, skew, backing, holes, dust.
pub fn realistic_scan_of(render: &GrayImage, dpi: u32, seed: u64, punched: bool) -> GrayImage {
    scan(
        render,
        dpi,
        seed,
        if punched { Holes::Left } else { Holes::None },
        None,
    )
}

/// One page of a generated batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchPage {
    /// A separator sheet for required document `index` (1-based).
    Separator(u32),
    /// A side of a sheet, its seed and whether the sheet is punched.
    Side {
        /// What is on it.
        kind: SheetKind,
        /// Its seed.
        seed: u64,
        /// Binder holes.
        punched: bool,
    },
}

/// A duplex batch of about `pages` pages in `documents` documents (each behind its separator
/// sheet), drawn from `seed`: about 20 % blank backs (of letters, forms and ID copies), about
/// 7 % near-blank pages, stamped letters, forms (some stamped) and ID copies.
pub fn batch_plan(pages: usize, documents: u32, seed: u64) -> Vec<BatchPage> {
    let mut rng = Rng::new(seed);
    let mut plan = Vec::with_capacity(pages);
    let documents = documents.max(1);
    let per_doc = pages / documents as usize;
    let mut blanks = 0usize;
    let mut near = 0usize;
    for d in 1..=documents {
        plan.push(BatchPage::Separator(d));
        let end = if d == documents {
            pages
        } else {
            plan.len() + per_doc - 1
        };
        while plan.len() < end {
            let n = plan.len();
            let sheet_seed = seed.wrapping_mul(1000).wrapping_add(n as u64);
            let punched = rng.range(0, 10) < 6;
            // Near-blank pages and blank backs are held near their shares over the batch.
            if near * 100 < (n + 1) * 7 && rng.range(0, 3) == 0 {
                let kind = if rng.range(0, 2) == 0 {
                    SheetKind::SignatureOnly
                } else {
                    SheetKind::HandwrittenLine
                };
                plan.push(BatchPage::Side {
                    kind,
                    seed: sheet_seed,
                    punched,
                });
                near += 1;
                continue;
            }
            let front = match rng.range(0, 10) {
                0..=3 => FrontKind::Letter,
                4..=7 => FrontKind::Form,
                _ => FrontKind::IdCopy,
            };
            let kind = match front {
                FrontKind::Form => SheetKind::Form,
                FrontKind::Letter => SheetKind::Letter,
                FrontKind::IdCopy => SheetKind::IdCopy,
            };
            plan.push(BatchPage::Side {
                kind,
                seed: sheet_seed,
                punched,
            });
            if plan.len() < end && blanks * 100 < (n + 2) * 20 {
                plan.push(BatchPage::Side {
                    kind: SheetKind::BlankBack {
                        front,
                        front_seed: sheet_seed,
                    },
                    seed: sheet_seed ^ 0xBACC,
                    punched,
                });
                blanks += 1;
            }
        }
    }
    plan
}
