//! QR codes in camera frames: several Vietnamese UTF-8 codes in one 1280×720 grayscale frame,
//! some turned a quarter turn, some small, must all be read exactly; an empty or noisy frame
//! must give nothing and not panic.

use std::sync::Arc;
use std::time::Duration;

use image::{GrayImage, Luma};
use motcua_scanner::codes::frame::BinarizerKind;
use motcua_scanner::codes::synth::{add_noise, noise_frame, paste, qr_image, rotate90};
use motcua_scanner::codes::{FrameDecoder, FrameDecoderConfig, GrayFrame};

const CCCD: &str = motcua_domain::cccd::SAMPLE_PAYLOAD;
const RECEIPT: &str = "000.17.22.H56-261123-0001|1.001193|********0123|Giấy tiếp nhận hồ sơ và hẹn trả kết quả|MOTCUA:KIOSK-1|20261123090507|20261126";
const SEPARATOR: &str = "MOTCUA-SEP1|000.17.22.H56-261123-0001|2|Giấy chứng sinh";
const GREETING: &str =
    "Xin chào! Bộ phận Một cửa — Trung tâm Phục vụ hành chính công tỉnh Sóc Trăng";
const SHORT: &str = "Đăng ký khai sinh";

/// (payload, pixels per module, rotated, x, y)
const LAYOUT: [(&str, u32, bool, u32, u32); 5] = [
    (CCCD, 4, false, 30, 30),
    (RECEIPT, 3, true, 420, 40),
    (SEPARATOR, 2, false, 880, 60),
    (GREETING, 3, true, 60, 420),
    (SHORT, 2, false, 900, 480),
];

fn busy_frame() -> GrayImage {
    let mut frame = GrayImage::from_pixel(1280, 720, Luma([215]));
    for (text, module, rotated, x, y) in LAYOUT {
        let mut code = qr_image(text, module).expect("payload fits a QR code");
        if rotated {
            code = rotate90(&code);
        }
        assert!(
            x + code.width() <= 1280 && y + code.height() <= 720,
            "{text:?} fits"
        );
        paste(&mut frame, &code, x, y);
    }
    add_noise(&mut frame, 12, 7);
    frame
}

fn texts(decoder: &FrameDecoder, frame: &GrayImage) -> Vec<String> {
    let mut found: Vec<String> = decoder
        .decode(GrayFrame::from_image(frame))
        .expect("no decoder failure")
        .into_iter()
        .map(|c| c.payload.into_string())
        .collect();
    found.sort();
    found
}

#[test]
fn every_code_of_a_busy_frame_is_read_exactly() {
    let frame = busy_frame();
    let mut expected: Vec<String> = LAYOUT.iter().map(|l| l.0.to_owned()).collect();
    expected.sort();
    for binarizer in [
        BinarizerKind::Hybrid,
        BinarizerKind::GlobalHistogram,
        BinarizerKind::Auto,
    ] {
        let decoder = FrameDecoder::new(FrameDecoderConfig {
            binarizer,
            ..FrameDecoderConfig::default()
        });
        assert_eq!(texts(&decoder, &frame), expected, "{binarizer:?}");
    }
}

#[test]
fn codes_come_with_their_position_in_the_frame() {
    let frame = busy_frame();
    let codes = FrameDecoder::default()
        .decode(GrayFrame::from_image(&frame))
        .unwrap();
    let cccd = codes
        .iter()
        .find(|c| c.payload.as_str() == CCCD)
        .expect("CCCD found");
    // The CCCD code sits in the top-left corner, 30..~260 px.
    assert!(cccd
        .points
        .iter()
        .all(|&(x, y)| (30.0..300.0).contains(&x) && (30.0..300.0).contains(&y)));
}

#[test]
fn a_large_frame_is_downscaled_and_still_read() {
    // A4 at 300 dpi with one receipt code of 8 px per module near the top right.
    let mut page = GrayImage::from_pixel(2480, 3508, Luma([245]));
    let code = qr_image(RECEIPT, 8).unwrap();
    paste(&mut page, &code, 1900, 150);
    let decoder = FrameDecoder::default();
    assert_eq!(texts(&decoder, &page), vec![RECEIPT.to_owned()]);
}

#[test]
fn blank_and_noisy_frames_give_nothing() {
    let decoder = FrameDecoder::default();
    for frame in [
        GrayImage::from_pixel(1280, 720, Luma([0])),
        GrayImage::from_pixel(1280, 720, Luma([255])),
        noise_frame(1280, 720, 42),
        noise_frame(640, 480, 43),
        GrayImage::from_fn(1280, 720, |x, y| {
            Luma([if (x / 8 + y / 8) % 2 == 0 { 0 } else { 255 }])
        }),
    ] {
        assert_eq!(texts(&decoder, &frame), Vec::<String>::new());
    }
    // Degenerate sizes are fine too.
    assert!(decoder
        .decode(GrayFrame::new(1, 1, &[0]).unwrap())
        .unwrap()
        .is_empty());
}

#[test]
fn wrong_buffer_sizes_are_refused_not_decoded() {
    let err = GrayFrame::new(1280, 720, &[0u8; 1000]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("1280x720") && msg.contains("921600"), "{msg}");
}

#[tokio::test]
async fn the_caller_waits_at_most_the_deadline() {
    let frame = busy_frame();
    let decoder = Arc::new(FrameDecoder::default());
    let (w, h) = frame.dimensions();
    let codes = Arc::clone(&decoder)
        .decode_with_deadline(w, h, frame.clone().into_raw(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(codes.len(), LAYOUT.len());
    let err = decoder
        .decode_with_deadline(w, h, frame.into_raw(), Duration::from_nanos(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("longer than"), "{err}");
}
