//! The citizen screen's services with a real hot folder, a real store and real page files: a
//! scan taken from the folder waits in the session folder, is deleted once stored in the
//! dossier, or at the session wipe when the citizen walks away; `<folder>/taken`, which is not
//! the screen's, is left alone when the screen starts. A staff intake on the same folder moves
//! what it took but did not store into `<folder>/returned`, where no citizen's scan takes it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use motcua_domain::wire::Applicant;
use motcua_flows::session::{Effect, Event};
use motcua_flows::submission::{ScannedPage, SubmissionEffect, SubmissionEvent, SubmitRequest};
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::touch::services::Services;

fn config(dir: &Path, folder: &Path) -> KioskConfig {
    let text = format!(
        r#"
[device]
id = "KIOSK-H56-0001"
agency_code = "000.17.22.H56"
sequence_first = 1
sequence_last = 4999

[store]
data_dir = "{data}"
min_free_mb = 0

[gateway]
url = "https://127.0.0.1:9/"

[scanner]
kind = "hot_folder"
folder = "{folder}"
"#,
        data = dir.join("data").display(),
        folder = folder.display(),
    );
    KioskConfig::parse(&text, "kiosk.toml").unwrap()
}

/// A network scanner drops a page: written under a temporary name, then renamed.
fn drop_page(folder: &Path, name: &str) -> PathBuf {
    let mut page = image::RgbImage::from_pixel(400, 560, image::Rgb([255, 255, 255]));
    for x in 40..360 {
        for y in (60..500).step_by(24) {
            page.put_pixel(x, y, image::Rgb([0, 0, 0]));
        }
    }
    let tmp = folder.join(format!("{name}.part"));
    page.save_with_format(&tmp, image::ImageFormat::Png)
        .unwrap();
    let path = folder.join(name);
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// One touch of "Scan": the pages it delivered (stopped once the first arrived, as a citizen
/// touching "done" would).
fn scan(services: &mut Services, stop: &Arc<AtomicBool>) -> Vec<ScannedPage> {
    let mut pages = Vec::new();
    services.execute(
        Effect::Submission(SubmissionEffect::StartScan(0)),
        &mut |event| {
            if let Event::Submission(SubmissionEvent::Page { page, .. }) = event {
                pages.push(page);
                stop.store(true, Ordering::SeqCst);
            }
        },
    );
    pages
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}

#[test]
fn hot_folder_scans_are_gone_once_stored_or_when_the_session_is_wiped() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("share");
    std::fs::create_dir_all(folder.join("taken")).unwrap();
    // Not the screen's (another program's, or kept after a failure to be fed again): left alone.
    let left = drop_page(&folder.join("taken"), "scan0000.png");
    let stop = Arc::new(AtomicBool::new(false));
    let mut services = Services::new(config(dir.path(), &folder), stop.clone()).unwrap();
    assert!(
        left.exists(),
        "a scan in <folder>/taken is not deleted at start"
    );
    std::fs::remove_dir_all(folder.join("taken")).unwrap();

    // 1. Taken, then stored in the dossier.
    let dropped = drop_page(&folder, "scan0001.png");
    let pages = scan(&mut services, &stop);
    assert_eq!(pages.len(), 1);
    assert!(!dropped.exists(), "taken from the folder");
    assert!(pages[0].path.starts_with(services.session_dir()));
    assert!(pages[0].path.exists(), "waits in the session folder");
    let request = SubmitRequest {
        procedure_code: services.catalog().procedures[0].code.clone(),
        applicant: Applicant {
            full_name: "Nguyễn Thị Phượng".into(),
            id_number: Some("094186000123".into()),
            birth_date: None,
            address: "12 Lê Lợi, Phường 1, Sóc Trăng".into(),
            phone: "0912345678".into(),
            email: String::new(),
        },
        documents: vec![("Tờ khai".into(), pages.clone())],
        reused_documents: Vec::new(),
    };
    let mut accepted = false;
    services.execute(
        Effect::Submission(SubmissionEffect::Submit(request)),
        &mut |event| {
            accepted |= matches!(event, Event::Submission(SubmissionEvent::Accepted { .. }));
        },
    );
    assert!(accepted, "the dossier was stored");
    assert!(
        !pages[0].path.exists(),
        "deleted once stored in the dossier"
    );
    assert_eq!(files_in(&folder), Vec::<PathBuf>::new());

    // 2. Taken, then the citizen walks away: the session wipe deletes it.
    let dropped = drop_page(&folder, "scan0002.png");
    let pages = scan(&mut services, &stop);
    assert_eq!(pages.len(), 1);
    assert!(!dropped.exists());
    assert!(pages[0].path.exists());
    services.execute(Effect::WipeSessionFiles, &mut |_| {});
    assert!(!pages[0].path.exists(), "deleted at the session wipe");
    assert_eq!(files_in(services.session_dir()), Vec::<PathBuf>::new());
    assert_eq!(files_in(&folder), Vec::<PathBuf>::new());
}

/// A dossier stored from the citizen screen (one page scanned from the hot folder).
fn submitted_dossier(services: &mut Services, folder: &Path, stop: &Arc<AtomicBool>) -> String {
    let dropped = drop_page(folder, "scan0001.png");
    let pages = scan(services, stop);
    let request = SubmitRequest {
        procedure_code: services.catalog().procedures[0].code.clone(),
        applicant: Applicant {
            full_name: "Nguyễn Thị Phượng".into(),
            id_number: None,
            birth_date: None,
            address: "12 Lê Lợi, Phường 1, Sóc Trăng".into(),
            phone: "0912345678".into(),
            email: String::new(),
        },
        documents: vec![("Tờ khai".into(), pages)],
        reused_documents: Vec::new(),
    };
    let mut code = None;
    services.execute(
        Effect::Submission(SubmissionEffect::Submit(request)),
        &mut |event| {
            if let Event::Submission(SubmissionEvent::Accepted { code: c, .. }) = event {
                code = Some(c);
            }
        },
    );
    assert!(!dropped.exists());
    code.expect("the dossier was stored")
}

/// One officer's action on the staff intake screen, and the report it gives.
fn intake(
    services: &mut Services,
    action: motcua_flows::intake_screen::IntakeAction,
) -> motcua_flows::intake_screen::IntakeReportView {
    let mut report = motcua_flows::intake_screen::IntakeReportView::default();
    services.execute(Effect::Intake(action), &mut |event| {
        if let Event::IntakeReport(r) = event {
            report = r;
        }
    });
    report
}

/// Sets a file's modification time `secs_ago` seconds back (the hot folder takes files in
/// modification order).
fn age(path: &Path, secs_ago: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(secs_ago);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .unwrap();
}

/// The staff intake on the touch screen: a batch's page files are deleted once spooled, a PDF
/// it skips is moved to `<folder>/returned` (to be fed again deliberately) and the officer is
/// told where; leaving the intake removes its spooled pages.
#[test]
fn a_staff_intake_deletes_only_the_spooled_files_and_returns_the_others() {
    use motcua_flows::intake_screen::IntakeAction;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("share");
    std::fs::create_dir_all(&folder).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let config = config(dir.path(), &folder);
    let data = config.store.data_dir.clone();
    let mut services = Services::new(config, stop.clone()).unwrap();
    let code = submitted_dossier(&mut services, &folder, &stop);

    assert_eq!(
        intake(&mut services, IntakeAction::Open(code.clone())).dossier,
        Some(code.clone())
    );
    drop_page(&folder, "page0001.png");
    std::fs::write(folder.join("page0002.pdf"), b"%PDF-1.4\n%%EOF\n").unwrap();
    let report = intake(&mut services, IntakeAction::ScanBatch);
    assert_eq!(report.pages.len(), 1, "{report:?}");
    let message = report.message.unwrap_or_default();
    let returned = folder.join("returned");
    assert!(
        message.contains(&format!("moved to {}", returned.display()))
            && message.contains(&format!("đã được chuyển vào {}", returned.display())),
        "{message}"
    );
    assert!(message.contains("page0002.pdf"), "{message}");
    assert_eq!(
        files_in(&folder),
        vec![returned.join("page0002.pdf")],
        "only the PDF is left, in returned/"
    );
    let spool = data.join("intake");
    assert!(!files_in(&spool).is_empty(), "the page is spooled");
    // The officer walks away: the spooled page goes with the session.
    services.execute(Effect::WipeSessionFiles, &mut |_| {});
    assert_eq!(files_in(&spool), Vec::<PathBuf>::new());
    assert_eq!(files_in(&folder), vec![returned.join("page0002.pdf")]);
}

/// An intake that fails mid-batch (a page scanned at 100 dpi, below the 200 dpi a digitized copy
/// needs) on a kiosk whose citizen screen shares the hot folder: the page before it is spooled
/// and its file deleted; the failed page and the one taken after it are in `returned/`, none
/// is back in the watched folder, and the next citizen's scan gets only their own page.
#[test]
fn a_failed_intake_returns_its_files_where_the_next_citizen_does_not_see_them() {
    use motcua_flows::intake_screen::IntakeAction;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("share");
    std::fs::create_dir_all(&folder).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut services = Services::new(config(dir.path(), &folder), stop.clone()).unwrap();
    let code = submitted_dossier(&mut services, &folder, &stop);
    assert!(intake(&mut services, IntakeAction::Open(code))
        .dossier
        .is_some());

    let first = drop_page(&folder, "page0001.png");
    let low = folder.join("page0002.jpg");
    {
        let mut out = std::fs::File::create(&low).unwrap();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        encoder.set_pixel_density(image::codecs::jpeg::PixelDensity::dpi(100));
        let page = image::RgbImage::from_pixel(300, 420, image::Rgb([250, 250, 250]));
        encoder.encode_image(&page).unwrap();
    }
    let after = drop_page(&folder, "page0003.png");
    for (file, secs) in [(&first, 30), (&low, 20), (&after, 10)] {
        age(file, secs);
    }
    let report = intake(&mut services, IntakeAction::ScanBatch);
    let message = report.message.unwrap_or_default();
    assert!(
        message.contains("100 dpi"),
        "the failure is said: {message}"
    );
    let returned = folder.join("returned");
    assert!(
        message.contains(&format!("moved to {}", returned.display())),
        "{message}"
    );
    // The spooled page's file is gone, the others wait in returned/, none in the folder.
    let expected = vec![returned.join("page0002.jpg"), returned.join("page0003.png")];
    let sorted = |mut files: Vec<PathBuf>| {
        files.sort();
        files
    };
    assert_eq!(sorted(files_in(&folder)), expected);

    // The officer gives up; the next citizen scans a page at the same kiosk.
    services.execute(Effect::WipeSessionFiles, &mut |_| {});
    drop_page(&folder, "citizen0001.png");
    let pages = scan(&mut services, &stop);
    assert_eq!(pages.len(), 1);
    let taken: Vec<PathBuf> = files_in(services.session_dir());
    assert_eq!(
        taken
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect::<Vec<_>>(),
        vec!["citizen0001.png".to_owned()],
        "the citizen's session holds only their own page"
    );
    assert_eq!(
        sorted(files_in(&folder)),
        expected,
        "the returned pages stay for the officer"
    );
}
