//! `kioskctl`: the technician's and script's tool for a kiosk. It works on the kiosk's store
//! directly (SQLite allows kioskd to run at the same time), so it answers even when the
//! network or the daemon is down.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::dossier_file::{self, DossierFile};
use motcua_store::vietnam_now as now;
use motcua_store::Store;
use motcua_uplink::client::GatewayClient;

/// Manage a motcua kiosk: outbox, dossiers, catalog, enrolment.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Kiosk configuration file.
    #[arg(
        long,
        short,
        env = "MOTCUA_CONFIG",
        default_value = "/etc/motcua/kiosk.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the outbox: what waits for the gateway, what failed and why, upload progress.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List dossiers received on this kiosk (newest first; no personal data).
    Dossiers {
        /// How many to list.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Submit a dossier described by a JSON file (paths of attachments relative to it).
    Submit {
        /// The dossier file.
        file: PathBuf,
        /// Print the stored submission as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the procedure catalog in use.
    Catalog {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Retry every pending delivery now instead of waiting for the backoff.
    Retry,
    /// Enrol this device at the gateway with the province's enrolment key.
    Enroll {
        /// The enrolment key given to the technician.
        #[arg(long, env = "MOTCUA_ENROLLMENT_KEY")]
        enrollment_key: String,
        /// The province's admin key, needed only to re-enrol a device id that is already
        /// enrolled (a replaced disk); it revokes the old token.
        #[arg(long, env = "MOTCUA_ADMIN_KEY")]
        admin_key: Option<String>,
    },
    /// Issue a queue ticket for a service area (prints the ticket number).
    Ticket {
        /// Service area code.
        #[arg(long)]
        area: String,
    },
    /// Print (or reprint) the receipt of a dossier on this kiosk's printer.
    Reprint {
        /// The dossier code.
        code: String,
    },
    /// List the configured peripherals, what is attached to this machine, and the printer's state.
    Devices {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Test every peripheral: print a test slip, read one code (present any code to the reader),
    /// scan one page. Exits with failure if any configured device fails.
    Selftest {
        /// Seconds to wait for a code at the reader.
        #[arg(long, default_value_t = 30)]
        code_timeout: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Make a printable PDF of separator sheets, one per required document of the dossier's
    /// procedure, to put before each document's pages when scanning it.
    Separators {
        /// The dossier code (a dossier on this kiosk, or any valid code with --procedure).
        #[arg(long)]
        dossier: String,
        /// The procedure code; needed when the dossier is not on this kiosk, and must match it
        /// when it is.
        #[arg(long)]
        procedure: Option<String>,
        /// Where to write the PDF (default `separators-<dossier>.pdf` in the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Digitize a dossier's paper: scan a batch (hot folder or SANE scanner), split it into
    /// documents by separator sheets, drop blank pages, and store each document as a coded PDF
    /// queued for the gateway. Prints one line per page and the document codes.
    Intake {
        /// The dossier code, or the payload of its receipt QR code.
        #[arg(long)]
        dossier: String,
        /// Take pages from this folder (a network scanner's drop folder); default: the
        /// configured [scanner].
        #[arg(long, conflicts_with = "scanner")]
        hot_folder: Option<PathBuf>,
        /// Scan with this SANE device (e.g. `fujitsu:fi-7160:1234`); default: the configured
        /// [scanner].
        #[arg(long)]
        scanner: Option<String>,
        /// Resolution for a SANE scanner, dpi (≥ 200).
        #[arg(long, default_value_t = 300)]
        resolution: u32,
        /// A hot-folder batch is complete when no new file arrived for this many seconds.
        #[arg(long, default_value_t = 10)]
        idle_secs: u64,
        /// Give up when no page comes for this many seconds.
        #[arg(long, default_value_t = 120)]
        page_timeout_secs: u64,
        /// Answer about a page that looks like a separator sheet with an unreadable code:
        /// `PAGE=INDEX` (it is the separator of required document INDEX), `PAGE=page` (a
        /// document page) or `PAGE=drop`. Repeatable.
        #[arg(long = "answer", value_name = "PAGE=ANSWER")]
        answers: Vec<String>,
    },
    /// Record a satisfaction rating for a ticket or dossier.
    Rate {
        /// The ticket id or dossier code rated.
        #[arg(long)]
        transaction: String,
        /// Level chosen, 1 = best.
        #[arg(long)]
        level: u8,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kioskctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn open(config: &KioskConfig) -> anyhow::Result<Store> {
    Ok(Store::open(
        &config.store.data_dir,
        config.store.min_free_bytes,
    )?)
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = KioskConfig::load(&cli.config)?;
    match cli.command {
        Command::Status { json } => {
            let status = open(&config)?.outbox_status()?;
            if json {
                return print_json(&status);
            }
            println!("Đang chờ gửi / pending:   {}", status.pending);
            println!("Đã gửi / delivered:       {}", status.delivered);
            println!("Đang lỗi / failing:       {}", status.failing);
            if let Some(err) = &status.last_error {
                println!("Lỗi gần nhất / last error: {err}");
            }
            for u in &status.uploads {
                let pct = (u.uploaded_bytes * 100).checked_div(u.size).unwrap_or(100);
                println!(
                    "  tải lên / upload {}…  {}/{} bytes ({pct}%)",
                    &u.sha256[..12.min(u.sha256.len())],
                    u.uploaded_bytes,
                    u.size
                );
            }
        }
        Command::Dossiers { limit, json } => {
            let list = open(&config)?.list_dossiers(limit)?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("Chưa có hồ sơ / no dossiers yet");
            }
            for d in list {
                println!(
                    "{}  {}  nhận/received {}  hẹn/appointment {}  {} tài liệu/docs  {}",
                    d.code,
                    d.procedure_code,
                    d.received_at,
                    d.appointment_date,
                    d.documents,
                    if d.delivered {
                        "đã gửi/delivered"
                    } else {
                        "chờ gửi/pending"
                    }
                );
            }
        }
        Command::Submit { file, json } => {
            let dossier = DossierFile::load(&file)?;
            let mut store = open(&config)?;
            let submission = dossier_file::submit(&mut store, &config, dossier, now())
                .with_context(|| format!("dossier {} was not accepted", file.display()))?;
            if json {
                return print_json(&submission);
            }
            println!("{}", submission.code);
            eprintln!(
                "Đã nhận hồ sơ / dossier accepted: {}, hẹn trả kết quả / appointment {}",
                submission.code, submission.appointment_date
            );
        }
        Command::Catalog { json } => {
            let catalog = open(&config)?.catalog()?;
            if json {
                return print_json(&catalog);
            }
            println!("Danh mục / catalog version {}", catalog.version);
            for p in &catalog.procedures {
                println!(
                    "{:<12} {} / {} — {} ngày làm việc / working days, phí / fee {} đ",
                    p.code, p.name_vi, p.name_en, p.processing_days, p.fee_vnd
                );
            }
        }
        Command::Separators {
            dossier,
            procedure,
            out,
        } => {
            let code = motcua_domain::dossier::DossierCode::parse(&dossier)
                .map_err(|e| {
                    anyhow::anyhow!("mã hồ sơ {dossier:?} không hợp lệ / invalid dossier code: {e}")
                })?
                .to_string();
            let store = open(&config)?;
            let known = store.dossier(&code)?.map(|d| d.procedure_code);
            let procedure_code = match (known, procedure) {
                (Some(k), Some(p)) if k != p => anyhow::bail!(
                    "hồ sơ {code} thuộc thủ tục {k}, không phải {p} / dossier {code} is for procedure {k}, not {p}"
                ),
                (Some(k), _) => k,
                (None, Some(p)) => p,
                (None, None) => anyhow::bail!(
                    "hồ sơ {code} không có trên máy này; hãy thêm --procedure MÃ / dossier {code} is not on this kiosk; add --procedure CODE"
                ),
            };
            let catalog = store.catalog()?;
            let proc = catalog.find(&procedure_code).ok_or_else(|| {
                anyhow::anyhow!(
                    "không có thủ tục {procedure_code} trong danh mục / procedure {procedure_code} is not in the catalog (kioskctl catalog lists them)"
                )
            })?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!("separators-{}.pdf", code.replace(['/', '\\'], "_")))
            });
            let fonts = config
                .peripherals
                .printer
                .as_ref()
                .map(|p| p.fonts.clone())
                .unwrap_or_default();
            let separators =
                motcua_kiosk::separators::write_separator_pdf(&code, proc, &fonts, &out)
                    .with_context(|| format!("writing {}", out.display()))?;
            for s in &separators {
                println!("{:>2}. {}", s.document_index, s.document_name);
            }
            eprintln!(
                "Đã tạo {} tờ phân cách / {} separator sheets written to {}",
                separators.len(),
                separators.len(),
                out.display()
            );
        }
        Command::Intake {
            dossier,
            hot_folder,
            scanner,
            resolution,
            idle_secs,
            page_timeout_secs,
            answers,
        } => intake(
            &config,
            &dossier,
            hot_folder,
            scanner,
            resolution,
            std::time::Duration::from_secs(idle_secs),
            std::time::Duration::from_secs(page_timeout_secs),
            &answers,
        )?,
        Command::Retry => {
            let n = open(&config)?.retry_now()?;
            println!("{n} mục sẽ được gửi lại ngay / entries will be retried now");
        }
        Command::Enroll {
            enrollment_key,
            admin_key,
        } => enroll(&config, &enrollment_key, admin_key)?,
        Command::Devices { json } => devices(&config, json)?,
        Command::Reprint { code } => {
            let store = open(&config)?;
            let status = motcua_kiosk::receipt::print_receipt(
                config.peripherals.printer.as_ref(),
                &config.receipt,
                &store,
                code.trim(),
            )?;
            println!("Đã in phiếu hẹn / receipt printed: {}", code.trim());
            if status.fault().is_none() && status.paper_near_end {
                eprintln!("Sắp hết giấy / paper near end");
            }
        }
        Command::Selftest { code_timeout, json } => selftest(&config, code_timeout, json)?,
        Command::Ticket { area } => {
            let ticket = open(&config)?.issue_ticket(&config.device, &area, now())?;
            println!("{}", ticket.number);
            eprintln!(
                "Số thứ tự / ticket {} ({})",
                ticket.number, ticket.ticket_id
            );
        }
        Command::Rate { transaction, level } => {
            let rating = open(&config)?.rate(
                &config.device,
                config.rating_scale,
                &transaction,
                level,
                now(),
            )?;
            println!(
                "Cảm ơn! / Thank you! {} → {} (điểm/score {})",
                rating.transaction,
                config.rating_scale.labels_vi()[usize::from(level) - 1],
                rating.score
            );
        }
    }
    Ok(())
}

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

#[allow(clippy::too_many_arguments)]
fn intake(
    config: &KioskConfig,
    dossier: &str,
    hot_folder: Option<PathBuf>,
    sane_device: Option<String>,
    resolution: u32,
    idle: std::time::Duration,
    page_timeout: std::time::Duration,
    answers: &[String],
) -> anyhow::Result<()> {
    use motcua_flows::intake::Effect;
    use motcua_kiosk::devices::ScannerConfig;
    use motcua_kiosk::intake::session::IntakeSession;
    use motcua_scanner::documents::{
        BatchRequest, ColorMode, DocumentScanner, HotFolder, HotFolderConfig, SaneConfig,
        SaneScanner,
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
    let work = tempfile_dir(config)?;
    let mut request = BatchRequest::new(&work);
    request.page_timeout = page_timeout;
    request.resolution_dpi = resolution.max(200);
    let scanner: Box<dyn DocumentScanner> = match (hot_folder, sane_device, configured) {
        (Some(dir), _, _) => {
            let mut c = HotFolderConfig::new(&dir);
            c.batch_idle = idle;
            c.poll_interval = std::time::Duration::from_millis(200);
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
    runtime()?.block_on(session.scan_batch(scanner.as_ref(), &request, &mut print))?;
    let report = session.commit(&mut print)?;
    let _ = std::fs::remove_dir_all(&work);
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
    Ok(())
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn devices(config: &KioskConfig, json: bool) -> anyhow::Result<()> {
    use motcua_printer::Printer;
    let p = &config.peripherals;
    let printer_state = p.printer.as_ref().map(|printer| {
        let mut device = motcua_printer::EscPosPrinter::new(
            printer.transport.clone(),
            motcua_printer::Timeouts::default(),
        );
        match device.status() {
            Ok(status) => match status.fault() {
                None => format!("sẵn sàng / ready ({status:?})"),
                Some(fault) => format!("lỗi / fault: {fault}"),
            },
            Err(e) => e.to_string(),
        }
    });
    let found = runtime()?.block_on(motcua_kiosk::devices::discover());
    if json {
        return print_json(&serde_json::json!({
            "printer": p.printer.as_ref().map(|x| format!("{:?} {:?}", x.transport, x.paper)),
            "printer_state": printer_state,
            "code_reader": p.code_reader.as_ref().map(|x| format!("{x:?}")),
            "scanner": p.scanner.as_ref().map(|x| format!("{x:?}")),
            "attached": found,
        }));
    }
    println!("Thiết bị đã cấu hình / configured devices:");
    match &p.printer {
        Some(x) => println!("  máy in / printer: {:?}, {:?}", x.transport, x.paper),
        None => println!("  máy in / printer: chưa cấu hình / not configured"),
    }
    if let Some(state) = printer_state {
        println!("    trạng thái / state: {state}");
    }
    match &p.code_reader {
        Some(motcua_kiosk::devices::CodeReaderConfig::Serial(s)) => println!(
            "  đầu đọc mã / code reader: serial {} ({} baud, {:?})",
            s.path.display(),
            s.baud_rate,
            s.terminator
        ),
        None => println!("  đầu đọc mã / code reader: chưa cấu hình / not configured"),
    }
    match &p.scanner {
        Some(x) => println!("  máy quét / scanner: {x:?}"),
        None => println!("  máy quét / scanner: chưa cấu hình / not configured"),
    }
    println!("Thiết bị tìm thấy / attached to this machine:");
    println!(
        "  cổng nối tiếp / serial ports: {}",
        list_or_none(&found.serial_ports)
    );
    println!(
        "  máy in USB / USB printers: {}",
        list_or_none(&found.usb_printers)
    );
    match &found.scanners {
        Ok(list) => println!("  máy quét SANE / SANE scanners: {}", list_or_none(list)),
        Err(e) => println!("  máy quét SANE / SANE scanners: {e}"),
    }
    Ok(())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "không có / none".into()
    } else {
        items.join(", ")
    }
}

fn selftest(config: &KioskConfig, code_timeout: u64, json: bool) -> anyhow::Result<()> {
    if !json && config.peripherals.code_reader.is_some() {
        eprintln!(
            "Hãy đưa một mã QR bất kỳ (ví dụ mã trên phiếu thử) vào đầu đọc trong {code_timeout} giây. / Present any QR code (e.g. the one on the test slip) to the reader within {code_timeout} s."
        );
    }
    let options = motcua_kiosk::devices::SelfTestOptions {
        code_timeout: std::time::Duration::from_secs(code_timeout),
    };
    let results = runtime()?.block_on(motcua_kiosk::devices::self_test(
        &config.peripherals,
        &config.device.id,
        &config.store.data_dir,
        options,
    ));
    if json {
        print_json(&results)?;
    } else {
        for r in &results {
            let verdict = if r.skipped {
                "BỎ QUA / SKIPPED"
            } else if r.passed {
                "ĐẠT / PASS"
            } else {
                "LỖI / FAIL"
            };
            println!("{verdict:<18} {}: {}", r.device, r.message);
        }
    }
    if results.iter().any(|r| !r.passed && !r.skipped) {
        anyhow::bail!("một số thiết bị bị lỗi / some devices failed their self-test");
    }
    Ok(())
}

fn enroll(config: &KioskConfig, key: &str, admin_key: Option<String>) -> anyhow::Result<()> {
    let runtime = runtime()?;
    // The admin key, when given, goes as the bearer token: it allows re-enrolling a known id.
    let client = GatewayClient::new(
        &config.uplink.gateway_url,
        admin_key,
        config.uplink.request_timeout,
    )?;
    let token = runtime.block_on(client.enroll(&config.device.id, key))?;
    write_token(&config.store.data_dir, &token)?;
    println!(
        "Đã đăng ký thiết bị / device {} enrolled at {}",
        config.device.id, config.uplink.gateway_url
    );
    Ok(())
}

fn write_token(dir: &Path, token: &str) -> anyhow::Result<()> {
    motcua_kiosk::write_token(dir, token)
        .with_context(|| format!("cannot save the device token in {}", dir.display()))
}
