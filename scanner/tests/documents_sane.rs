//! SANE scanning for real, through Debian's `scanimage` and SANE's `test` backend (Debian
//! packages `sane-utils` and `libsane1`, which ships the test backend).
//!
//! The test backend has a document feeder that runs dry after 10 sheets, pages of 80 × 100 mm,
//! and `--read-return-value` to make `sane_read` return any SANE status (jam, no documents,
//! cover open) on the first page. A jam *after* some pages cannot be produced by the backend, so
//! that test runs the real `scanimage` for two pages from a wrapper script that then reports the
//! real jam message, exactly as `scanimage` prints it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use motcua_scanner::documents::{
    classify_exit, device_options, list_devices, BatchEnd, BatchRequest, ColorMode,
    DocumentScanner, FeedSource, PageSource, ResolutionRange, SaneConfig, SaneScanner, ScanError,
    ScanEvent,
};

/// Pixels of the test backend's 80 × 100 mm page at `dpi` (SANE truncates).
fn test_page_size(dpi: u32) -> (u32, u32) {
    let px = |mm: f64| (mm / 25.4 * f64::from(dpi)) as u32;
    (px(80.0), px(100.0))
}

async fn test_scanner() -> SaneScanner {
    match SaneScanner::connect(SaneConfig::new("test")).await {
        Ok(s) => s,
        Err(e) => panic!("SANE test backend unavailable: {e}"),
    }
}

fn request(dir: &Path) -> BatchRequest {
    BatchRequest::new(dir)
}

/// Wait until a process id is gone (not even a zombie is left: a zombie keeps its /proc entry).
async fn assert_reaped(pid: u32) {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    for _ in 0..100 {
        if !proc_dir.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
    panic!("scanimage {pid} still exists: {state}");
}

/// A request whose pages take about 1.2 s each: the test backend waits 200 ms per buffer
/// (measured; `--read-limit` together with `--read-delay` makes it fast again, so it is not used).
fn slow_request(dir: &Path) -> BatchRequest {
    let mut r = request(dir);
    r.resolution_dpi = 100;
    r.extra_args = vec![
        "--read-delay=yes".into(),
        "--read-delay-duration=200000".into(),
    ];
    r
}

#[tokio::test]
async fn three_page_feeder_batch_at_200_dpi_colour() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = test_scanner().await;
    let mut req = request(dir.path());
    req.max_pages = Some(3);
    assert_eq!(req.resolution_dpi, 200);
    assert_eq!(req.mode, ColorMode::Color);
    assert_eq!(req.source, FeedSource::Adf);

    let mut session = scanner.start(&req);
    let mut pages = Vec::new();
    let summary = loop {
        match session.next_event().await.expect("event") {
            ScanEvent::Page(p) => pages.push(p),
            ScanEvent::Rejected { path, .. } => panic!("unexpected reject {}", path.display()),
            ScanEvent::Finished(r) => break r.expect("batch succeeds"),
        }
    };
    assert!(session.next_event().await.is_none());
    assert_eq!(pages.len(), 3, "three progress events, one per page");
    assert_eq!(summary.pages, 3);
    assert_eq!(summary.end, BatchEnd::Completed);
    let (w, h) = test_page_size(200);
    assert_eq!((w, h), (629, 787));
    for (i, page) in pages.iter().enumerate() {
        assert_eq!(page.sequence, i as u32 + 1);
        let img = page.image().expect("raster page");
        assert_eq!((img.width(), img.height()), (w, h));
        assert_eq!(img.color(), image::ColorType::Rgb8);
        assert_eq!(page.color_mode, Some(ColorMode::Color));
        assert_eq!(page.resolution_dpi, Some(200));
        assert!(page.path.starts_with(dir.path()) && page.path.exists());
        match &page.source {
            PageSource::Sane {
                device,
                feed,
                source_name,
            } => {
                assert_eq!(device, "test");
                assert_eq!(*feed, Some(FeedSource::Adf));
                assert_eq!(source_name.as_deref(), Some("Automatic Document Feeder"));
            }
            other => panic!("wrong source {other:?}"),
        }
    }
}

#[tokio::test]
async fn feeder_running_dry_is_the_normal_end_of_a_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = test_scanner().await;
    let mut req = request(dir.path());
    req.resolution_dpi = 50;
    req.mode = ColorMode::Gray;
    let pages = scanner
        .start(&req)
        .collect()
        .await
        .expect("batch ends normally");
    // The test backend's feeder holds 10 sheets.
    assert_eq!(pages.len(), 10);
    assert_eq!(
        pages[0].image().map(|i| i.color()),
        Some(image::ColorType::L8)
    );
    assert_eq!(pages[9].sequence, 10);
}

#[tokio::test]
async fn empty_feeder_at_the_start_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = test_scanner().await;
    let mut req = request(dir.path());
    req.extra_args = vec!["--read-return-value=SANE_STATUS_NO_DOCS".into()];
    let err = scanner
        .start(&req)
        .collect()
        .await
        .expect_err("empty feeder");
    assert!(err.pages.is_empty());
    assert!(
        matches!(&err.error, ScanError::FeederEmpty { device } if device == "test"),
        "{err:?}"
    );
    let msg = err.error.to_string();
    assert!(msg.starts_with("Khay nạp giấy"), "Vietnamese first: {msg}");
    assert!(msg.contains("document feeder"), "then English: {msg}");
}

#[tokio::test]
async fn jam_and_cover_open_from_the_test_backend() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = test_scanner().await;
    let mut req = request(dir.path());
    req.extra_args = vec!["--read-return-value=SANE_STATUS_JAMMED".into()];
    let err = scanner.start(&req).collect().await.expect_err("jam");
    assert!(
        matches!(
            err.error,
            ScanError::FeederJammed {
                pages_scanned: 0,
                ..
            }
        ),
        "{err:?}"
    );

    req.extra_args = vec!["--read-return-value=SANE_STATUS_COVER_OPEN".into()];
    let err = scanner.start(&req).collect().await.expect_err("cover");
    assert!(matches!(err.error, ScanError::CoverOpen { .. }), "{err:?}");
}

#[tokio::test]
async fn jam_mid_batch_keeps_the_pages_already_scanned() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("scanimage-jams-after-2");
    // Real scanimage for two sheets, then the third sheet jams exactly as scanimage reports it.
    std::fs::write(
        &script,
        "#!/bin/sh\ncase \"$*\" in *--batch=*) ;; *) exec scanimage \"$@\" ;; esac\n\
         scanimage \"$@\" --batch-count=2 || exit $?\n\
         echo 'Scanning page 3' >&2\n\
         echo 'scanimage: sane_read: Document feeder jammed' >&2\n\
         echo 'Scanned page 3. (scanner status = 6)' >&2\n\
         echo 'Batch terminated, 2 pages scanned' >&2\nexit 6\n",
    )
    .expect("write script");
    let mut perms = std::fs::metadata(&script).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).expect("chmod");

    let mut config = SaneConfig::new("test");
    config.program = script;
    let options = device_options(&SaneConfig::new("test"))
        .await
        .expect("options");
    assert!(options
        .sources
        .iter()
        .any(|s| s == "Automatic Document Feeder"));
    let scanner = SaneScanner::connect(config).await.expect("wrapper runs -A");
    let out = tempfile::tempdir().expect("out dir");
    let err = scanner
        .start(&request(out.path()))
        .collect()
        .await
        .expect_err("jam");
    assert_eq!(err.pages.len(), 2, "pages before the jam are returned");
    assert!(
        matches!(
            err.error,
            ScanError::FeederJammed {
                pages_scanned: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.pages.iter().all(|p| p.path.exists()));
    assert!(err.to_string().contains("sau 2 trang"));
}

#[tokio::test]
async fn unknown_device_is_reported_as_not_found() {
    let err = SaneScanner::connect(SaneConfig::new("nosuch:device"))
        .await
        .expect_err("no such device");
    assert!(
        matches!(&err, ScanError::DeviceNotFound { device } if device == "nosuch:device"),
        "{err:?}"
    );

    // Without probing, the same error arrives as the end of the session.
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = SaneScanner::new(SaneConfig::new("nosuch:device"));
    let err = scanner
        .start(&request(dir.path()))
        .collect()
        .await
        .expect_err("fails");
    assert!(
        matches!(err.error, ScanError::DeviceNotFound { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_scanimage_names_the_debian_package() {
    let mut config = SaneConfig::new("test");
    config.program = PathBuf::from("/nonexistent/bin/scanimage");
    let err = SaneScanner::connect(config.clone())
        .await
        .expect_err("missing");
    assert!(matches!(err, ScanError::ScanimageMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("sane-utils"));

    let dir = tempfile::tempdir().expect("temp dir");
    let err = SaneScanner::new(config)
        .start(&request(dir.path()))
        .collect()
        .await
        .expect_err("missing");
    assert!(matches!(err.error, ScanError::ScanimageMissing { .. }));
}

#[tokio::test]
async fn listing_devices_and_their_options() {
    let conf = tempfile::tempdir().expect("temp dir");
    std::fs::write(conf.path().join("dll.conf"), "test\n").expect("dll.conf");
    std::fs::write(conf.path().join("test.conf"), "number_of_devices 2\n").expect("test.conf");
    let mut config = SaneConfig::new("");
    config.env = vec![("SANE_CONFIG_DIR".into(), conf.path().as_os_str().to_owned())];
    let devices = list_devices(&config).await.expect("devices");
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["test:0", "test:1"]);
    assert_eq!(devices[0].vendor, "Noname");
    assert_eq!(devices[0].model, "frontend-tester");

    // No backend configured: "no scanner" in words.
    std::fs::write(conf.path().join("dll.conf"), "\n").expect("dll.conf");
    let err = list_devices(&config).await.expect_err("none");
    assert!(matches!(err, ScanError::NoDevice), "{err:?}");

    let scanner = test_scanner().await;
    let opts = scanner.options().expect("probed");
    assert_eq!(opts.modes, ["Gray", "Color"]);
    assert_eq!(opts.sources, ["Flatbed", "Automatic Document Feeder"]);
    assert_eq!(opts.feeds(), [FeedSource::Flatbed, FeedSource::Adf]);
    assert_eq!(
        opts.resolutions,
        ResolutionRange::Range { min: 1, max: 1200 }
    );
    assert_eq!(opts.mode_name(ColorMode::Color), Some("Color"));
    assert_eq!(opts.mode_name(ColorMode::Lineart), None);

    // What the device does not offer is refused before anything starts.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut req = request(dir.path());
    req.source = FeedSource::AdfDuplex;
    let err = scanner.start(&req).collect().await.expect_err("no duplex");
    assert!(
        matches!(err.error, ScanError::Unsupported { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn dropping_a_session_stops_and_reaps_scanimage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = test_scanner().await;
    let mut session = scanner.start(&slow_request(dir.path()));
    let pid = session.process_id().expect("pid");
    match session.next_event().await {
        Some(ScanEvent::Page(p)) => assert_eq!(p.sequence, 1),
        other => panic!("expected a page, got {other:?}"),
    }
    // The page was delivered while the feeder was still running, not at the end.
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(session);
    assert_reaped(pid).await;
}

#[tokio::test]
async fn cancelling_returns_the_pages_so_far_and_reaps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = test_scanner().await;
    let mut session = scanner.start(&slow_request(dir.path()));
    let pid = session.process_id().expect("pid");
    let first = match session.next_event().await {
        Some(ScanEvent::Page(p)) => p,
        other => panic!("expected a page, got {other:?}"),
    };
    assert_eq!(first.sequence, 1);
    let rest = session.cancel().await.expect("cancel is not an error");
    assert!(rest.len() < 9, "stopped early, got {} more", rest.len());
    assert_reaped(pid).await;
}

#[tokio::test]
async fn a_page_that_never_comes_times_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = test_scanner().await;
    let mut req = slow_request(dir.path());
    req.page_timeout = Duration::from_millis(300);
    let mut session = scanner.start(&req);
    let pid = session.process_id().expect("pid");
    let err = loop {
        match session.next_event().await.expect("event") {
            ScanEvent::Finished(r) => break r.expect_err("timeout"),
            _ => continue,
        }
    };
    assert!(matches!(err, ScanError::Timeout { .. }), "{err:?}");
    assert_reaped(pid).await;
}

#[tokio::test]
async fn scanimage_killed_from_outside_is_reported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scanner = test_scanner().await;
    let session = scanner.start(&slow_request(dir.path()));
    let pid = session.process_id().expect("pid");
    // Kill scanimage itself, not the child before its exec: wait until the process is it.
    let comm = PathBuf::from(format!("/proc/{pid}/comm"));
    for _ in 0..100 {
        if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim() == "scanimage") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        std::fs::read_to_string(&comm).unwrap_or_default().trim(),
        "scanimage",
        "the session's process runs scanimage"
    );
    let pid_t = i32::try_from(pid).expect("pid fits");
    // SAFETY: `pid` is our own unreaped child (the session waits for it), so it cannot be reused.
    unsafe {
        libc::kill(pid_t, libc::SIGKILL);
    }
    let err = session.collect().await.expect_err("killed");
    assert!(
        matches!(err.error, ScanError::Killed { signal: 9, .. }),
        "{err:?}"
    );
    assert_reaped(pid).await;
}

/// A check on a classified error.
type Expect = fn(&ScanError) -> bool;

fn lines(s: &[&str]) -> Vec<String> {
    s.iter().map(|l| l.to_string()).collect()
}

/// `scanimage`'s real stderr lines (sane-backends 1.1.1, C locale), classified as a unit.
#[test]
fn scanimage_messages_are_classified() {
    let end = classify_exit(
        "fujitsu:fi-7160",
        &lines(&[
            "Scanning page 11",
            "scanimage: sane_start: Document feeder out of documents",
            "Batch terminated, 10 pages scanned",
        ]),
        Some(0),
        None,
        10,
    );
    assert_eq!(end.expect("normal end"), BatchEnd::FeederEmptied);

    let empty = classify_exit(
        "d",
        &lines(&["scanimage: sane_start: Document feeder out of documents"]),
        Some(7),
        None,
        0,
    );
    assert!(matches!(empty, Err(ScanError::FeederEmpty { .. })));

    let jam = classify_exit(
        "d",
        &lines(&["scanimage: sane_start: Document feeder jammed"]),
        Some(6),
        None,
        4,
    );
    assert!(matches!(
        jam,
        Err(ScanError::FeederJammed {
            pages_scanned: 4,
            ..
        })
    ));

    let cases: [(&str, Expect); 7] = [
        (
            "scanimage: open of device x failed: Invalid argument",
            |e| matches!(e, ScanError::DeviceNotFound { .. }),
        ),
        ("scanimage: open of device x failed: Device busy", |e| {
            matches!(e, ScanError::DeviceBusy { .. })
        }),
        (
            "scanimage: open of device x failed: Access to resource has been denied",
            |e| matches!(e, ScanError::AccessDenied { .. }),
        ),
        ("scanimage: no SANE devices found", |e| {
            matches!(e, ScanError::NoDevice)
        }),
        ("scanimage: sane_read: Scanner cover is open", |e| {
            matches!(e, ScanError::CoverOpen { .. })
        }),
        ("scanimage: sane_read: Error during device I/O", |e| {
            matches!(e, ScanError::DeviceIo { .. })
        }),
        (
            "scanimage: setting of option --mode failed (Invalid argument)",
            |e| matches!(e, ScanError::Unsupported { .. }),
        ),
    ];
    for (line, expected) in cases {
        let err = classify_exit("x", &lines(&[line]), Some(1), None, 0).expect_err(line);
        assert!(expected(&err), "{line} -> {err:?}");
    }

    // A translated message still carries the status number.
    let localized = classify_exit(
        "d",
        &lines(&["Đã quét trang 1. (scanner status = 6)"]),
        Some(6),
        None,
        1,
    );
    assert!(matches!(localized, Err(ScanError::FeederJammed { .. })));

    let other = classify_exit(
        "d",
        &lines(&["scanimage: sane_start: Out of memory"]),
        Some(10),
        None,
        0,
    );
    match other {
        Err(ScanError::Failed { detail, code, .. }) => {
            assert_eq!(code, Some(10));
            assert_eq!(detail, "sane_start: Out of memory");
        }
        r => panic!("{r:?}"),
    }
}
