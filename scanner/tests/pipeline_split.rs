//! How the page pipeline splits a batch: unsorted pages, separators in a row, blank pages,
//! refused pages, colour pages, and page sizes at 100 % scale.

use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};
use motcua_domain::qr_payload::Separator;
use motcua_scanner::codes::synth::{add_noise, paste, qr_image};
use motcua_scanner::pipeline::{PageOutcome, PagePipeline, PipelineConfig, PipelineError};

const DPI: u32 = 200;

/// A 3 × 4 inch page with a few dark bars ("text").
fn text(seed: u64) -> DynamicImage {
    let mut img = GrayImage::from_pixel(600, 800, Luma([236]));
    for line in 0..8u32 {
        for y in 100 + line * 60..112 + line * 60 {
            for x in 60..540 {
                if (x / 4) % 3 != 0 {
                    img.put_pixel(x, y, Luma([30]));
                }
            }
        }
    }
    add_noise(&mut img, 6, seed);
    DynamicImage::ImageLuma8(img)
}

fn blank(seed: u64) -> DynamicImage {
    let mut img = GrayImage::from_pixel(600, 800, Luma([230]));
    add_noise(&mut img, 15, seed);
    DynamicImage::ImageLuma8(img)
}

fn separator(index: u32) -> (Separator, DynamicImage) {
    let s = Separator::parse(&format!(
        "MOTCUA-SEP1|000.17.22.H56-261123-0001|{index}|Giấy tờ {index}"
    ))
    .expect("separator");
    let mut img = GrayImage::from_pixel(600, 800, Luma([240]));
    paste(&mut img, &qr_image(&s.payload(), 6).expect("qr"), 100, 100);
    (s, DynamicImage::ImageLuma8(img))
}

#[test]
fn pages_split_into_documents() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut p = PagePipeline::new(PipelineConfig::new(tmp.path().join("out")));

    assert_eq!(
        p.push(text(1), DPI).unwrap(),
        PageOutcome::Added { document: 0 }
    );
    assert!(matches!(
        p.push(blank(2), DPI).unwrap(),
        PageOutcome::Blank(_)
    ));
    let (s1, sheet1) = separator(1);
    assert_eq!(
        p.push(sheet1, DPI).unwrap(),
        PageOutcome::Separator {
            separator: s1.clone(),
            document: 1
        }
    );
    // A second separator right after the first: document 1 stays empty.
    let (s2, sheet2) = separator(2);
    assert_eq!(
        p.push(sheet2, DPI).unwrap(),
        PageOutcome::Separator {
            separator: s2.clone(),
            document: 2
        }
    );
    assert_eq!(
        p.push(text(5), DPI).unwrap(),
        PageOutcome::Added { document: 2 }
    );
    // Below 200 dpi: refused, but it still counts as page 6.
    assert!(matches!(
        p.push(text(6), 150),
        Err(PipelineError::ResolutionTooLow {
            page: 6,
            dpi: 150,
            min: 200
        })
    ));
    // A colour page at 300 dpi.
    let colour = DynamicImage::ImageRgb8(RgbImage::from_fn(900, 1200, |x, y| {
        if (y / 40) % 2 == 0 && x > 100 && x < 800 {
            Rgb([180, 20, 30])
        } else {
            Rgb([245, 245, 240])
        }
    }));
    assert_eq!(
        p.push(colour, 300).unwrap(),
        PageOutcome::Added { document: 2 }
    );
    assert_eq!(p.pages_pushed(), 7);

    let docs = p.finish().expect("finish");
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0].separator, None);
    assert_eq!(docs[0].pages, [1]);
    assert_eq!(docs[1].separator, Some(s1));
    assert!(docs[1].pages.is_empty());
    assert_eq!(docs[1].pdf_path, None);
    assert_eq!(docs[1].pdf_bytes, 0);
    assert_eq!(docs[2].separator, Some(s2));
    assert_eq!(docs[2].pages, [5, 7]);

    let pdf = std::fs::read(docs[2].pdf_path.as_ref().expect("pdf")).expect("read");
    let text = String::from_utf8_lossy(&pdf);
    // 600 × 800 px at 200 dpi = 216 × 288 pt; 900 × 1200 px at 300 dpi = the same.
    assert_eq!(text.matches("/MediaBox [0 0 216 288]").count(), 2);
    assert!(text.contains("/DeviceGray") && text.contains("/DeviceRGB"));
    let names: Vec<String> = std::fs::read_dir(tmp.path().join("out"))
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"batch-003-000.17.22.H56-261123-0001-02.pdf".to_owned()));
}
