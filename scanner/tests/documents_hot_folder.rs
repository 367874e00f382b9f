//! Hot folder with real files written slowly in pieces, as a network scanner over SMB does.

use std::io::{Cursor, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use motcua_scanner::documents::{
    BatchEnd, BatchRequest, ColorMode, DocumentScanner, HotFolder, HotFolderConfig, PageContent,
    PageSource, ScanEvent, TakenAction,
};

/// Polls until the folder hands out something (bounded, so a broken folder fails instead of
/// hanging); what it handed out is for the caller to check.
fn poll_until_taken(folder: &mut HotFolder, sequence: u32) -> Vec<ScanEvent> {
    let start = Instant::now();
    let mut got = Vec::new();
    while got.is_empty() && start.elapsed() < Duration::from_secs(3) {
        got = folder.poll(sequence).expect("poll");
        std::thread::sleep(Duration::from_millis(20));
    }
    got
}

/// Polls until the folder takes something and checks it took exactly the page `name` and then
/// has nothing more to take: used with a real page written after files that must stay, whose
/// taking proves the folder was polled past `settle` with those files present.
fn assert_takes_only(folder: &mut HotFolder, name: &str) {
    let taken: Vec<String> = pages(poll_until_taken(folder, 1))
        .iter()
        .map(|page| match &page.source {
            PageSource::HotFolder { file_name, .. } => file_name.clone(),
            other => panic!("unexpected source {other:?}"),
        })
        .collect();
    assert_eq!(taken, vec![name.to_owned()], "only {name} is taken");
    assert!(
        folder.poll(2).expect("poll").is_empty(),
        "nothing after {name}"
    );
}

fn fast_config(dir: &Path) -> HotFolderConfig {
    let mut c = HotFolderConfig::new(dir);
    c.poll_interval = Duration::from_millis(20);
    c.settle = Duration::from_millis(60);
    c
}

fn rgb(w: u32, h: u32) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 7) as u8, (y * 3) as u8, ((x + y) * 5) as u8])
    }))
}

fn png_bytes() -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    rgb(120, 90)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

fn jpeg_bytes() -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    rgb(160, 100)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    out.into_inner()
}

/// A three-page TIFF at 200 dpi: colour, grey, colour.
fn tiff_bytes() -> Vec<u8> {
    use tiff::encoder::{colortype, Rational, TiffEncoder};
    use tiff::tags::ResolutionUnit;
    let mut out = Cursor::new(Vec::new());
    {
        let mut enc = TiffEncoder::new(&mut out).expect("tiff");
        for page in 0..3u32 {
            let (w, h) = (100 + page, 80);
            if page == 1 {
                let data: Vec<u8> = (0..w * h).map(|i| (i % 251) as u8).collect();
                let mut img = enc.new_image::<colortype::Gray8>(w, h).expect("page");
                img.resolution(ResolutionUnit::Inch, Rational { n: 200, d: 1 });
                img.write_data(&data).expect("data");
            } else {
                let data = rgb(w, h).into_rgb8().into_raw();
                let mut img = enc.new_image::<colortype::RGB8>(w, h).expect("page");
                img.resolution(ResolutionUnit::Inch, Rational { n: 200, d: 1 });
                img.write_data(&data).expect("data");
            }
        }
    }
    out.into_inner()
}

/// A small two-page PDF, padded so it arrives in several pieces.
fn pdf_bytes() -> Vec<u8> {
    let mut s = String::from("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    s.push_str("2 0 obj\n<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>\nendobj\n");
    s.push_str("3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n");
    s.push_str("4 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n");
    s.push_str(&"% padding to make the file arrive in pieces\n".repeat(40));
    s.push_str("trailer\n<< /Root 1 0 R >>\n%%EOF\n");
    s.into_bytes()
}

/// Write `bytes` in four pieces with pauses, polling the folder all the while; assert nothing
/// is taken before the last piece, and that the file is taken soon after.
fn write_slowly_and_poll(
    folder: &mut HotFolder,
    path: &Path,
    bytes: &[u8],
    sequence: u32,
) -> Vec<ScanEvent> {
    let mut file = std::fs::File::create(path).expect("create");
    let piece = bytes.len().div_ceil(4);
    for chunk in bytes.chunks(piece) {
        file.write_all(chunk).expect("write");
        file.sync_all().expect("sync");
        // Longer than `settle`: only the content check can tell the file is incomplete.
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            let events = folder.poll(sequence).expect("poll");
            if !events.is_empty() && chunk.as_ptr_range().end != bytes.as_ptr_range().end {
                panic!("{} taken before it was complete", path.display());
            }
            if !events.is_empty() {
                return events;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(file);
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let events = folder.poll(sequence).expect("poll");
        if !events.is_empty() {
            return events;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never taken", path.display());
}

fn pages(events: Vec<ScanEvent>) -> Vec<motcua_scanner::documents::Page> {
    events
        .into_iter()
        .map(|e| match e {
            ScanEvent::Page(p) => p,
            other => panic!("expected a page, got {other:?}"),
        })
        .collect()
}

#[test]
fn partial_files_of_all_four_types_wait_until_complete() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut folder = HotFolder::new(fast_config(dir.path())).expect("folder");
    let taken = dir.path().join("taken");

    let png = pages(write_slowly_and_poll(
        &mut folder,
        &dir.path().join("scan0001.png"),
        &png_bytes(),
        1,
    ));
    assert_eq!(png.len(), 1);
    let img = png[0].image().expect("png image");
    assert_eq!((img.width(), img.height()), (120, 90));
    assert_eq!(png[0].color_mode, Some(ColorMode::Color));
    assert_eq!(png[0].path, taken.join("scan0001.png"));
    assert!(png[0].path.exists());
    assert!(!dir.path().join("scan0001.png").exists());

    let jpg = pages(write_slowly_and_poll(
        &mut folder,
        &dir.path().join("scan0002.JPG"),
        &jpeg_bytes(),
        2,
    ));
    assert_eq!(jpg[0].sequence, 2);
    assert_eq!(
        jpg[0].image().map(|i| (i.width(), i.height())),
        Some((160, 100))
    );

    let tif = pages(write_slowly_and_poll(
        &mut folder,
        &dir.path().join("scan0003.tif"),
        &tiff_bytes(),
        3,
    ));
    assert_eq!(tif.len(), 3, "multi-page TIFF gives one page per image");
    for (i, p) in tif.iter().enumerate() {
        assert_eq!(p.sequence, 3 + i as u32);
        assert_eq!(p.resolution_dpi, Some(200));
        assert_eq!(p.path, taken.join("scan0003.tif"));
        assert_eq!(p.image().map(|i| i.width()), Some(100 + i as u32));
        match &p.source {
            PageSource::HotFolder {
                file_name,
                page_in_file,
                ..
            } => {
                assert_eq!(file_name, "scan0003.tif");
                assert_eq!(*page_in_file, i as u32 + 1);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(tif[1].color_mode, Some(ColorMode::Gray));
    assert_eq!(tif[2].color_mode, Some(ColorMode::Color));

    let pdf_data = pdf_bytes();
    let pdf = pages(write_slowly_and_poll(
        &mut folder,
        &dir.path().join("hoso.pdf"),
        &pdf_data,
        6,
    ));
    assert_eq!(pdf.len(), 1, "a PDF is one document, not rasterized");
    match &pdf[0].content {
        PageContent::Pdf(doc) => {
            assert_eq!(doc.page_count, Some(2));
            assert_eq!(&doc.bytes[..], &pdf_data[..]);
        }
        PageContent::Image(_) => panic!("PDF must pass through"),
    }
    assert_eq!(pdf[0].path, taken.join("hoso.pdf"));
}

#[test]
fn hidden_and_temporary_files_are_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut folder = HotFolder::new(fast_config(dir.path())).expect("folder");
    let png = png_bytes();
    let names = [
        ".scan0001.png",
        "scan0002.png.part",
        "scan0003.png~",
        "~$scan0004.pdf",
        "scan0005.tmp",
        "readme.txt",
        "noextension",
    ];
    for n in names {
        std::fs::write(dir.path().join(n), &png).expect("write");
    }
    // A real page written after them: once the folder has taken it, the ignored files have
    // been there at least as long, past `settle`, and would have been taken too.
    std::fs::write(dir.path().join("scan0001.png"), &png).expect("write");
    assert_takes_only(&mut folder, "scan0001.png");
    for n in names {
        assert!(dir.path().join(n).exists(), "{n} must stay untouched");
    }
    // Renaming a finished upload to its final name (what FTP clients do) makes it visible.
    std::fs::rename(
        dir.path().join("scan0002.png.part"),
        dir.path().join("scan0002.png"),
    )
    .expect("rename");
    let got = poll_until_taken(&mut folder, 1);
    assert_eq!(pages(got).len(), 1);
}

#[test]
fn a_file_is_never_taken_twice_even_across_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let png = png_bytes();
    {
        let mut folder = HotFolder::new(fast_config(dir.path())).expect("folder");
        std::fs::write(dir.path().join("scan0001.png"), &png).expect("write");
        let got = poll_until_taken(&mut folder, 1);
        assert_eq!(got.len(), 1);
    }
    // "Restart": a new HotFolder on the same folder takes a new page but not the old one again
    // (the new page proves the folder was polled long enough to take anything it would).
    let mut folder = HotFolder::new(fast_config(dir.path())).expect("folder again");
    std::fs::write(dir.path().join("scan0002.png"), &png).expect("write");
    assert_takes_only(&mut folder, "scan0002.png");
    // The network scanner restarted its numbering: same name, new page, kept beside the first.
    std::fs::write(dir.path().join("scan0001.png"), &png).expect("write");
    let got = poll_until_taken(&mut folder, 1);
    let p = pages(got);
    assert_eq!(p[0].path, dir.path().join("taken").join("scan0001-1.png"));
    assert!(dir.path().join("taken").join("scan0001.png").exists());
}

#[test]
fn delete_mode_removes_the_file_after_taking_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = fast_config(dir.path());
    config.taken = TakenAction::Delete;
    let mut folder = HotFolder::new(config).expect("folder");
    std::fs::write(dir.path().join("a.pdf"), pdf_bytes()).expect("write");
    let got = poll_until_taken(&mut folder, 1);
    let p = pages(got);
    assert!(matches!(&p[0].content, PageContent::Pdf(d) if d.page_count == Some(2)));
    assert!(!dir.path().join("a.pdf").exists());
    assert!(!dir.path().join("taken").exists());
}

#[test]
fn a_file_that_never_completes_is_rejected_not_retried_forever() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = fast_config(dir.path());
    config.give_up_after = Duration::from_millis(200);
    let mut folder = HotFolder::new(config).expect("folder");
    let png = png_bytes();
    std::fs::write(dir.path().join("cut.png"), &png[..png.len() / 2]).expect("write");
    let mut got = poll_until_taken(&mut folder, 1);
    match got.pop() {
        Some(ScanEvent::Rejected { path, error }) => {
            assert_eq!(path, dir.path().join("rejected").join("cut.png"));
            assert!(error.to_string().contains("cut.png"));
        }
        other => panic!("expected a reject, got {other:?}"),
    }
    assert!(!dir.path().join("cut.png").exists());
}

#[tokio::test]
async fn a_session_delivers_pages_then_ends_when_the_folder_goes_quiet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = fast_config(dir.path());
    config.batch_idle = Duration::from_millis(300);
    let folder = HotFolder::new(config).expect("folder");
    let mut session = folder.start(&BatchRequest::new(dir.path()));
    std::fs::write(dir.path().join("p1.png"), png_bytes()).expect("write");
    std::fs::write(dir.path().join("p2.tiff"), tiff_bytes()).expect("write");
    let mut seqs = Vec::new();
    let summary = loop {
        match tokio::time::timeout(Duration::from_secs(5), session.next_event())
            .await
            .expect("in time")
            .expect("event")
        {
            ScanEvent::Page(p) => seqs.push(p.sequence),
            ScanEvent::Rejected { path, .. } => panic!("rejected {}", path.display()),
            ScanEvent::Finished(r) => break r.expect("ok"),
        }
    };
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(summary.pages, 4);
    assert_eq!(summary.end, BatchEnd::Idle);
}

#[tokio::test]
async fn a_session_with_no_file_times_out_and_can_be_cancelled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = HotFolder::new(fast_config(dir.path())).expect("folder");
    let mut req = BatchRequest::new(dir.path());
    req.page_timeout = Duration::from_millis(200);
    let err = folder.start(&req).collect().await.expect_err("timeout");
    assert!(
        matches!(
            err.error,
            motcua_scanner::documents::ScanError::Timeout { seconds: 1, .. }
        ),
        "{err:?}"
    );

    // Cancelled long before its page timeout: the session must end by the cancel (no pages, no
    // error), not by timing out (which would be an error).
    req.page_timeout = Duration::from_secs(60);
    let session = folder.start(&req);
    // Let the worker start polling (the test runtime is single-threaded).
    tokio::task::yield_now().await;
    let pages = session.cancel().await.expect("cancel is not an error");
    assert!(pages.is_empty());
}

/// Dates `path` two hours back.
fn two_hours_old(path: &Path) {
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(two_hours_ago))
        .expect("set mtime");
}

#[test]
fn rejected_files_are_deleted_once_their_keeping_time_is_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rejected = dir.path().join("rejected");
    std::fs::create_dir_all(&rejected).expect("mkdir");
    let old = rejected.join("scan-0007.tif");
    let young = rejected.join("scan-0008.tif");
    for path in [&old, &young] {
        std::fs::write(path, b"II*\0 truncated").expect("write");
    }
    two_hours_old(&old);
    let mut config = fast_config(dir.path());
    config.keep_rejected = Duration::from_secs(3600);
    let mut folder = HotFolder::new(config).expect("open");
    assert!(
        !old.exists(),
        "a rejected scan older than its keeping time is deleted"
    );
    assert!(
        young.exists(),
        "a young rejected scan is kept for the technician"
    );
    folder.poll(1).expect("poll");
    assert!(young.exists());
}

/// `returned/` holds scans an intake took but did not store: a poll never takes them (the next
/// citizen's session must not get them), and they are deleted once their keeping time is over.
#[test]
fn returned_files_are_never_taken_and_are_deleted_once_their_keeping_time_is_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let returned = dir.path().join("returned");
    std::fs::create_dir_all(&returned).expect("mkdir");
    let old = returned.join("scan-0001.png");
    let young = returned.join("scan-0002.png");
    for path in [&old, &young] {
        std::fs::write(path, png_bytes()).expect("write");
    }
    two_hours_old(&old);
    let mut config = fast_config(dir.path());
    config.keep_returned = Duration::from_secs(3600);
    assert_eq!(config.returned_dir, returned);
    let mut folder = HotFolder::new(config).expect("open");
    assert!(!old.exists(), "an old returned scan is deleted");
    for _ in 0..5 {
        let events = folder.poll(1).expect("poll");
        assert!(events.is_empty(), "{events:?}");
        std::thread::sleep(Duration::from_millis(60));
    }
    assert!(young.exists(), "a returned scan stays where it is, untaken");
}
