//! `kioskctl intake` and its `--answer`s: intake digitization from the command line.

use std::path::PathBuf;

use anyhow::Context;
use motcua_kiosk::config::KioskConfig;

use crate::{open, runtime};

fn parse_answer(text: &str) -> anyhow::Result<(u32, motcua_flows::intake::QuestionAnswer)> {
    use motcua_flows::intake::QuestionAnswer;
    let bad = || {
        anyhow::anyhow!(
            "--answer {text:?}: viết TRANG=SỐ, TRANG=page hoặc TRANG=drop / write PAGE=INDEX, PAGE=page or PAGE=drop"
        )
    };
    let (page, answer) = text.split_once('=').ok_or_else(bad)?;
    let page: u32 = page.trim().parse().map_err(|_| bad())?;
    let answer = match answer.trim() {
        "page" => QuestionAnswer::DocumentPage,
        "drop" => QuestionAnswer::Discard,
        n => QuestionAnswer::SeparatorFor(n.parse().map_err(|_| bad())?),
    };
    Ok((page, answer))
}

/// `kioskctl intake`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct IntakeArgs {
    /// The dossier code, or the payload of its receipt QR code.
    #[arg(long)]
    pub(crate) dossier: String,
    /// Take pages from this folder (a network scanner's drop folder); default: the
    /// configured [scanner].
    #[arg(long, conflicts_with = "scanner")]
    pub(crate) hot_folder: Option<PathBuf>,
    /// Scan with this SANE device (e.g. `fujitsu:fi-7160:1234`); default: the configured
    /// [scanner].
    #[arg(long)]
    pub(crate) scanner: Option<String>,
    /// Resolution for a SANE scanner, dpi (≥ 200).
    #[arg(long, default_value_t = 300)]
    pub(crate) resolution: u32,
    /// A hot-folder batch is complete when no new file arrived for this many seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) idle_secs: u64,
    /// Give up when no page comes for this many seconds.
    #[arg(long, default_value_t = 120)]
    pub(crate) page_timeout_secs: u64,
    /// Answer about a page that looks like a separator sheet with an unreadable code:
    /// `PAGE=INDEX` (it is the separator of required document INDEX), `PAGE=page` (a
    /// document page) or `PAGE=drop`. Repeatable.
    #[arg(long = "answer", value_name = "PAGE=ANSWER")]
    pub(crate) answers: Vec<String>,
    /// Read the signing token's PIN as one line on stdin instead of asking on the terminal.
    #[arg(long)]
    pub(crate) pin_stdin: bool,
}

pub(crate) fn intake(config: &KioskConfig, args: IntakeArgs) -> anyhow::Result<bool> {
    let IntakeArgs {
        dossier,
        hot_folder,
        scanner: sane_device,
        resolution,
        idle_secs,
        page_timeout_secs,
        answers,
        pin_stdin,
    } = args;
    let dossier = dossier.as_str();
    let idle = std::time::Duration::from_secs(idle_secs);
    let page_timeout = std::time::Duration::from_secs(page_timeout_secs);
    use motcua_flows::intake::Effect;
    use motcua_kiosk::devices::ScannerConfig;
    use motcua_kiosk::intake::session::IntakeSession;
    use motcua_scanner::documents::{
        BatchRequest, ColorMode, DocumentScanner, HotFolder, HotFolderConfig, SaneConfig,
        SaneScanner, TakenAction,
    };
    // Probing the device learns its own names for modes and feeds (`scanimage -A`).
    let sane = |device: String| -> anyhow::Result<SaneScanner> {
        runtime()?
            .block_on(SaneScanner::connect(SaneConfig::new(device.clone())))
            .with_context(|| format!("SANE device {device}"))
    };
    let answers = answers
        .iter()
        .map(|a| parse_answer(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let configured = config.peripherals.scanner.clone();
    let hot_folder = hot_folder.or(match (&sane_device, &configured) {
        (None, Some(ScannerConfig::HotFolder { folder })) => Some(folder.clone()),
        _ => None,
    });
    let work = Scratch(tempfile_dir(config)?);
    let mut request = BatchRequest::new(&work.0);
    request.page_timeout = page_timeout;
    request.resolution_dpi = resolution.max(200);
    // What this run takes from a hot folder waits in its own folder (not `<folder>/taken`,
    // which kioskd does not touch either): deleted once stored, moved to `<folder>/returned`
    // otherwise (not into the watched folder, where the next citizen's scan would take it),
    // for the officer to feed again.
    let mut taken = None;
    let scanner: Box<dyn DocumentScanner> = match (hot_folder, sane_device, configured) {
        (Some(dir), _, _) => {
            let mut c = HotFolderConfig::new(&dir);
            c.batch_idle = idle;
            c.poll_interval = std::time::Duration::from_millis(200);
            c.taken = TakenAction::MoveTo(work.0.join("taken"));
            // For kioskd to move them to returned/ if this run is killed (`intake::spool`).
            std::fs::write(
                work.0.join(motcua_kiosk::intake::spool::HOT_FOLDER_FILE),
                dir.display().to_string(),
            )
            .with_context(|| format!("writing in {}", work.0.display()))?;
            taken = Some(Taken {
                taken: work.0.join("taken"),
                returned: c.returned_dir.clone(),
                files: None,
            });
            Box::new(HotFolder::new(c).with_context(|| format!("hot folder {}", dir.display()))?)
        }
        (None, Some(device), _) => {
            request.mode = ColorMode::Color;
            Box::new(sane(device)?)
        }
        (None, None, Some(ScannerConfig::Sane {
            device,
            resolution,
            mode,
            source,
            options,
        })) => {
            request.resolution_dpi = resolution;
            request.mode = mode;
            request.source = source;
            request.extra_args = options;
            Box::new(sane(device)?)
        }
        _ => anyhow::bail!(
            "chưa có máy quét: dùng --hot-folder THƯ_MỤC hoặc --scanner THIẾT_BỊ / no scanner: use --hot-folder DIR or --scanner DEVICE, or configure [scanner]"
        ),
    };

    let mut store = open(config)?;
    // The flow repeats a standing warning (missing documents) at each step; say it once.
    let mut last_warning = String::new();
    let mut print = |e: &Effect| match e {
        Effect::Progress {
            page,
            document,
            pages,
            ..
        } => match document {
            Some(0) => println!("trang/page {page:>3}: chưa phân loại / unsorted ({pages} kept)"),
            Some(d) => println!("trang/page {page:>3}: giấy tờ/document {d} ({pages} kept)"),
            None => println!("trang/page {page:>3}: ? ({pages} kept)"),
        },
        Effect::Warn(w) | Effect::Refuse(w) if *w != last_warning => {
            eprintln!("{w}");
            last_warning = w.clone();
        }
        Effect::Ask { message, .. } => eprintln!("{message}"),
        _ => {}
    };
    let mut session = IntakeSession::new(config, &mut store).with_answers(answers);
    session.open(dossier, &mut print)?;
    let scanned = runtime()?.block_on(session.scan_batch(scanner.as_ref(), &request, &mut print));
    let files = session.take_scan_files();
    scanned?;
    // The OCR runs beside the scanning at idle priority; the commit waits for what is left.
    let ocr = motcua_kiosk::intake::ocr::backlog();
    if config.intake.ocr.enabled && ocr.waiting > 0 {
        eprintln!(
            "OCR: {} trang đang chờ, {} trang xong; lưu sẽ chờ tối đa {} giây / {} page(s) waiting, {} done; storing waits up to {} s",
            ocr.waiting,
            ocr.done,
            config.intake.ocr.commit_wait.as_secs(),
            ocr.waiting,
            ocr.done,
            config.intake.ocr.commit_wait.as_secs()
        );
    }
    // The officer sees who signs before anything is stored; a token problem is said here and
    // the documents are stored anyway, waiting for `kioskctl sign`.
    let signer = crate::sign::open(config, pin_stdin)?;
    let report = session.commit(&mut print)?;
    // Stored: the spooled files go, any other is returned (dropping `taken` returns them all).
    if let Some(t) = &mut taken {
        t.files = Some(files);
    }
    drop(taken);
    drop(work);
    for code in &report.stored {
        println!("{code}");
    }
    for code in &report.already_stored {
        println!("{code} (đã lưu trước đó / already stored)");
    }
    eprintln!(
        "Đã lưu {} giấy tờ, {} đã có; {} trang trắng bỏ qua / {} document(s) stored, {} already stored; {} blank page(s) dropped",
        report.stored.len(),
        report.already_stored.len(),
        report.blank_pages,
        report.stored.len(),
        report.already_stored.len(),
        report.blank_pages
    );
    let all_signed = crate::sign::sign_all(
        &mut store,
        config,
        signer.as_ref(),
        motcua_kiosk::intake::signing::SignScope::Only(&report.stored),
    )?;
    drop(signer);
    Ok(all_signed)
}

/// The files this run took from a hot folder. Dropped at the end of the run however it ends:
/// with `files` (the intake was stored) the spooled files are deleted and the others moved to
/// the hot folder's `returned/`; without (a failure) every file is moved there.
struct Taken {
    taken: PathBuf,
    returned: PathBuf,
    files: Option<motcua_kiosk::intake::taken::ScanFiles>,
}

impl Drop for Taken {
    fn drop(&mut self) {
        use motcua_kiosk::intake::taken::{return_all, settle_taken};
        let settled = match &self.files {
            Some(files) => settle_taken(&self.taken, &self.returned, files),
            None => return_all(&self.taken, &self.returned),
        };
        if let Some(message) = settled.message() {
            eprintln!("{message}");
        }
    }
}

/// scanimage's page files: deleted however the intake ends (their pages are in the spool).
/// Hot-folder files that could not be moved to `returned/` stay in its `taken` folder.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let taken = self.0.join("taken");
        let kept = std::fs::read_dir(&taken).is_ok_and(|mut e| e.next().is_some());
        if !kept {
            let _ = std::fs::remove_dir_all(&self.0);
            return;
        }
        for entry in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            // The hot folder's name stays with them, for kioskd to return them.
            let names_hot = entry.file_name() == motcua_kiosk::intake::spool::HOT_FOLDER_FILE;
            if entry.path() != taken && !names_hot {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// A scratch folder for scanimage's page files, inside the data folder (same disk).
fn tempfile_dir(config: &KioskConfig) -> anyhow::Result<PathBuf> {
    let dir = config
        .store
        .data_dir
        .join("intake")
        .join(format!("scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
