//! `bench-qr`: median QR decode time of rqrr against rxing (as configured in
//! `motcua_scanner::codes::frame`) on kiosk-like images, and how many codes each found.
//!
//! Images are synthetic and reproducible: a 1280×720 camera frame with five Vietnamese UTF-8
//! codes (two turned a quarter turn, two small, light noise), and an A4 page at 300 dpi
//! (2480×3508) with one receipt code. Run with `cargo run --release -p motcua-scanner --bin
//! bench-qr [repetitions]`. It asserts nothing; it prints a table.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use image::{GrayImage, Luma};
use motcua_scanner::codes::frame::BinarizerKind;
use motcua_scanner::codes::synth::{add_noise, paste, qr_image, rotate90};
use motcua_scanner::codes::{FrameDecoder, FrameDecoderConfig, GrayFrame};

const CODES: [(&str, u32, bool, u32, u32); 5] = [
    (motcua_domain::cccd::SAMPLE_PAYLOAD, 4, false, 30, 30),
    ("000.17.22.H56-261123-0001|1.001193|********0123|Giấy tiếp nhận hồ sơ và hẹn trả kết quả|MOTCUA:KIOSK-1|20261123090507|20261126", 3, true, 420, 40),
    ("MOTCUA-SEP1|000.17.22.H56-261123-0001|2|Giấy chứng sinh", 2, false, 880, 60),
    ("Xin chào! Bộ phận Một cửa — Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng", 3, true, 60, 420),
    ("Đăng ký khai sinh", 2, false, 900, 480),
];

fn frame() -> GrayImage {
    let mut f = GrayImage::from_pixel(1280, 720, Luma([215]));
    for (text, module, rotated, x, y) in CODES {
        let Ok(mut code) = qr_image(text, module) else {
            continue;
        };
        if rotated {
            code = rotate90(&code);
        }
        paste(&mut f, &code, x, y);
    }
    add_noise(&mut f, 12, 7);
    f
}

fn page() -> GrayImage {
    let mut p = GrayImage::from_pixel(2480, 3508, Luma([245]));
    if let Ok(code) = qr_image(CODES[1].0, 8) {
        paste(&mut p, &code, 1900, 150);
    }
    add_noise(&mut p, 6, 9);
    p
}

fn noise() -> GrayImage {
    let mut f = GrayImage::from_pixel(1280, 720, Luma([128]));
    add_noise(&mut f, 60, 3);
    f
}

/// Decodes with rqrr; `None` if it panicked (it has on real photos).
fn rqrr_decode(img: &GrayImage) -> Option<usize> {
    catch_unwind(AssertUnwindSafe(|| {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            img.width() as usize,
            img.height() as usize,
            |x, y| img.get_pixel(x as u32, y as u32).0[0],
        );
        prepared
            .detect_grids()
            .iter()
            .filter(|g| g.decode().is_ok())
            .count()
    }))
    .ok()
}

fn rxing_decode(decoder: &FrameDecoder, img: &GrayImage) -> Option<usize> {
    decoder
        .decode(GrayFrame::from_image(img))
        .ok()
        .map(|c| c.len())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn measure(reps: usize, mut f: impl FnMut() -> Option<usize>) -> (Duration, String) {
    let mut times = Vec::with_capacity(reps);
    let mut found = String::new();
    for _ in 0..reps {
        let t = Instant::now();
        let n = f();
        times.push(t.elapsed());
        found = n.map_or("panic".to_owned(), |n| n.to_string());
    }
    (median(times), found)
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(11)
        .max(1);
    let images = [
        ("frame 1280x720, 5 codes", frame(), 5, 15),
        ("A4 300 dpi 2480x3508, 1 code", page(), 1, 150),
        ("empty noisy frame 1280x720", noise(), 0, 15),
    ];
    let kept = FrameDecoder::default();
    let variants: Vec<(&str, FrameDecoder)> = vec![
        (
            "rxing kept (multi, TryHarder, auto binarizer, side 2000)",
            kept.clone(),
        ),
        (
            "rxing, hybrid binarizer",
            FrameDecoder::new(FrameDecoderConfig {
                binarizer: BinarizerKind::Hybrid,
                ..kept.config().clone()
            }),
        ),
        (
            "rxing, no downscale",
            FrameDecoder::new(FrameDecoderConfig {
                max_side: 0,
                ..kept.config().clone()
            }),
        ),
        (
            "rxing, max side 1280",
            FrameDecoder::new(FrameDecoderConfig {
                max_side: 1280,
                ..kept.config().clone()
            }),
        ),
        (
            "rxing, global-histogram binarizer",
            FrameDecoder::new(FrameDecoderConfig {
                binarizer: BinarizerKind::GlobalHistogram,
                ..kept.config().clone()
            }),
        ),
        (
            "rxing, without TryHarder",
            FrameDecoder::new(FrameDecoderConfig {
                try_harder: false,
                ..kept.config().clone()
            }),
        ),
    ];
    println!("bench-qr: median of {reps} runs, one thread");
    println!(
        "{:<58} {:<30} {:>10} {:>7} {:>9}",
        "decoder", "image", "median ms", "found", "target ms"
    );
    for (name, img, expected, target) in &images {
        let (t, found) = measure(reps, || rqrr_decode(img));
        println!(
            "{:<58} {:<30} {:>10.1} {:>7} {:>9}",
            "rqrr 0.11 (prepare + detect + decode)",
            name,
            t.as_secs_f64() * 1e3,
            format!("{found}/{expected}"),
            target
        );
        for (vname, decoder) in &variants {
            let (t, found) = measure(reps, || rxing_decode(decoder, img));
            println!(
                "{:<58} {:<30} {:>10.1} {:>7} {:>9}",
                vname,
                name,
                t.as_secs_f64() * 1e3,
                format!("{found}/{expected}"),
                target
            );
        }
    }
}
