//! `kioskctl`: the technician's and script's tool for a kiosk. It works on the kiosk's store
//! directly (SQLite allows kioskd to run at the same time), so it answers even when the
//! network or the daemon is down.

mod hub;
mod identity;
mod intake;
mod outbox;
mod peripherals;
mod pin;
mod provision;
mod sign;
mod update;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use motcua_kiosk::config::{resolve, KioskConfig, Resolved};
use motcua_kiosk::dossier_file::{self, DossierFile};
use motcua_store::vietnam_now as now;
use motcua_store::Store;

/// Manage a motcua kiosk: outbox, dossiers, catalog, enrolment and the kiosk's certificate.
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
    /// Provision this kiosk with a setup code (the QR of the province's setup sheet): verify
    /// it, fetch and check the province's CA, enrol, save the identity, download the profile,
    /// write <data_dir>/kiosk.toml, store the sequence blocks, download the catalog, self-test.
    #[command(
        long_about = "Provision this kiosk with a setup code (the text of the QR on the province's setup sheet, MOTCUA-SETUP1.…).

The code must be signed with the provisioning key of the --config file's [provisioning] table (key_file, default /etc/motcua/provisioning.pub, or key). The steps print one line each; a failed step prints what to fix on standard error and the exit code is non-zero. Running it again with the same code resumes: an identity already saved for the code's device and a config written for the same profile are kept.

Example: kioskctl provision --qr-file /root/setup-code.txt"
    )]
    Provision {
        /// File holding the setup code's text; `-`: standard input.
        #[arg(long, value_name = "FILE")]
        qr_file: PathBuf,
    },
    /// Show whether the kiosk is provisioned, and the outbox: what waits for the gateway,
    /// what failed and why, upload progress.
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
    /// Retry every pending delivery now instead of waiting for the backoff. Entries that need
    /// a technician stay held: `kioskctl outbox retry` releases them.
    Retry,
    /// Entries a retry cannot fix (a code clash, a damaged file): list them with their reasons,
    /// retry one once fixed, set one aside, or export one to a folder for the counter.
    Outbox {
        /// What to do.
        #[command(subcommand)]
        action: outbox::OutboxAction,
    },
    /// Enrol this kiosk at the gateway: make its key pair here, have the province's CA
    /// certify it, and save its identity (identity/device.pem, identity/ca.crt).
    #[command(long_about = "Enrol this kiosk at the gateway.

The kiosk makes its own key pair (the private key never leaves it), sends a certificate signing request with the province's enrolment key to [gateway] url (https only) and checks that the certificate it gets back names this kiosk's [device] id and agency_code and comes from the province's CA given with --ca-file. Only then it saves <data_dir>/identity/ca.crt and <data_dir>/identity/device.pem (key and certificate, mode 0600, owned like the data folder so kioskd can read it when kioskctl runs as root). A running kioskd picks it up.

The enrolment key is read from --enrollment-key-file, or from standard input (asked for without echo on a terminal); it is never given on the command line.

A kiosk id the gateway already knows (a replaced disk, a reinstall) is refused until a technician approves its re-enrolment at the gateway.

Example: kioskctl enroll --ca-file /root/province-ca.crt < /root/enrollment-key")]
    Enroll {
        /// The province's CA certificate (PEM), as handed to the technician: the gateway must
        /// prove itself with a certificate it signed. Compare its fingerprint (printed) with
        /// the one the province published.
        #[arg(long, value_name = "FILE")]
        ca_file: PathBuf,
        /// File holding the province's enrolment key (one line); `-` or none: read it from
        /// standard input.
        #[arg(long, value_name = "FILE")]
        enrollment_key_file: Option<PathBuf>,
    },
    /// Show the kiosk's certificate (serial, site, validity, renewal, the province's CA);
    /// `kioskctl identity renew` renews it now.
    #[command(
        long_about = "Show the kiosk's certificate: the device and site it names, its serial (what the gateway revokes by), when it expires, whether renewal is due, and the fingerprint of the province's CA the kiosk trusts.

kioskd renews the certificate on its own in the last third of its life; `kioskctl identity renew` does it now (a new key pair each time)."
    )]
    Identity {
        /// What to do (default: show).
        #[command(subcommand)]
        action: Option<IdentityAction>,
        /// Print JSON instead of text (show only).
        #[arg(long)]
        json: bool,
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
    /// with a Vietnamese text layer; it is signed with the officer's token (its PIN is asked,
    /// the signer named) and then queued for the gateway. Prints one line per page and the
    /// document codes.
    Intake(intake::IntakeArgs),
    /// Sign the intake documents that wait for the officer's signature (the token was missing,
    /// the PIN wrong or the certificate expired) and queue them for the gateway.
    Sign {
        /// Read the signing token's PIN as one line on stdin instead of asking on the terminal.
        #[arg(long)]
        pin_stdin: bool,
    },
    /// Make the hash of a new staff or technician PIN: prints the line to put under [ui] in
    /// kiosk.toml (the file is not changed).
    #[command(
        long_about = "Make the hash of a new staff or technician PIN for the touch screen.

The PIN (4 to 12 digits) is read twice from standard input, without echo on a terminal; it is never given on the command line. kioskctl prints one line, e.g.

    staff_pin_hash = \"$argon2id$v=19$m=19456,t=2,p=1$…\"

to standard output. It does not change kiosk.toml (whose comments and layout are the technician's): put the line under [ui] in place of the earlier staff_pin_hash (or of an old staff_pin_sha256, which is ignored: that screen stays closed until then), then restart the screen (systemctl restart motcua-kioskd-screen). The hash is Argon2id with a random salt, so the same PIN gives a different line each time.

Example: kioskctl pin staff"
    )]
    Pin {
        /// Whose PIN: `staff` or `technician`.
        role: pin::PinRole,
    },
    /// Software updates: status, check the gateway now, install now, roll back.
    Update {
        /// What to do.
        #[command(subcommand)]
        action: update::UpdateAction,
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

#[derive(Subcommand)]
enum IdentityAction {
    /// Show the certificate (the default).
    Show,
    /// Renew the certificate now: a new key pair made here, a signing request sent with the
    /// current certificate, identity/device.pem replaced atomically. A running kioskd uses the
    /// new one from its next request.
    Renew,
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
    if let Command::Provision { qr_file } = &cli.command {
        return provision::provision(&cli.config, qr_file);
    }
    // Needs no config: a technician may make the line on any machine.
    if let Command::Pin { role } = &cli.command {
        return pin::pin(*role);
    }
    let (config, origin) = match resolve(&cli.config)? {
        Resolved::Provisioned(config, path) => (*config, path),
        Resolved::Unprovisioned(bootstrap) => {
            if let Command::Status { json } = cli.command {
                if json {
                    return print_json(&serde_json::json!({
                        "provisioned": false,
                        "config": bootstrap.path,
                        "provisioned_config": bootstrap.provisioned_path(),
                    }));
                }
                println!(
                    "Chưa cấu hình / not provisioned: no [device] in {} and no {}",
                    bootstrap.path.display(),
                    bootstrap.provisioned_path().display()
                );
                println!("  kioskctl provision --qr-file FILE (or scan the setup code at kioskd)");
                return Ok(());
            }
            anyhow::bail!(
                "chưa cấu hình / this kiosk is not provisioned yet: kioskctl provision --qr-file FILE (no {})",
                bootstrap.provisioned_path().display()
            );
        }
    };
    // Said by every command, so a technician sees it whatever they run.
    for warning in &config.warnings {
        eprintln!("{warning}");
    }
    match cli.command {
        Command::Provision { qr_file } => return provision::provision(&cli.config, &qr_file),
        Command::Pin { role } => return pin::pin(role),
        Command::Status { json } => {
            let store = open(&config)?;
            let status = store.outbox_status()?;
            let blocks = store.sequence_blocks()?;
            let budget = motcua_uplink::budget::state(
                &store,
                config.uplink.daily_upload_budget_bytes,
                now(),
            )?;
            if json {
                let mut value = serde_json::to_value(&status)?;
                if let Some(map) = value.as_object_mut() {
                    if let Some(b) = &budget {
                        map.insert(
                            "upload_budget".into(),
                            serde_json::json!({
                                "limit_bytes": b.limit_bytes,
                                "used_bytes": b.used_bytes,
                                "day": b.day.to_string(),
                                "used_up": b.used_up(),
                                "renews_at": b.renews_at.to_rfc3339(),
                            }),
                        );
                    }
                    map.insert("provisioned".into(), true.into());
                    map.insert("device_id".into(), config.device.id.clone().into());
                    map.insert("config".into(), origin.display().to_string().into());
                    map.insert("sequence_blocks".into(), serde_json::to_value(&blocks)?);
                }
                return print_json(&value);
            }
            println!(
                "Thiết bị / device:        {} ({}), config {}",
                config.device.id,
                config.device.agency_code,
                origin.display()
            );
            match config.device.sequence {
                Some(s) => println!(
                    "Dải số / numbers:         {}–{} (configured)",
                    s.first, s.last
                ),
                None => {
                    let left = store.numbers_left(&config.device, now())?;
                    println!(
                        "Dải số / blocks:          {} ({} of {} left today)",
                        motcua_kiosk::provisioning::blocks_text(&blocks),
                        left.left,
                        left.total
                    );
                }
            }
            println!("Đang chờ gửi / pending:   {}", status.pending);
            println!("Đã gửi / delivered:       {}", status.delivered);
            println!("Đang lỗi / failing:       {}", status.failing);
            println!(
                "Cần kỹ thuật viên / needs technician: {}",
                status.needs_technician
            );
            println!("Để riêng / set aside:     {}", status.set_aside);
            if let Some(b) = &budget {
                println!("Tải lên / uploads:        {}", b.words());
            }
            if let Some(err) = &status.last_error {
                println!("Lỗi gần nhất / last error: {err}");
            }
            for h in &status.needs_technician_entries {
                println!("  {}", outbox::line(h));
            }
            if status.needs_technician > 0 {
                println!("  (kioskctl outbox retry ID | set-aside ID | export ID --to DIR)");
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
        Command::Intake(args) => {
            if !intake::intake(&config, args)? {
                anyhow::bail!(
                    "giấy tờ đã lưu, chờ ký / the documents are stored and wait for a signature"
                );
            }
        }
        Command::Sign { pin_stdin } => {
            if !sign::sign(&config, pin_stdin)? {
                anyhow::bail!("giấy tờ vẫn chờ ký / documents still wait for a signature");
            }
        }
        Command::Retry => {
            let store = open(&config)?;
            let n = store.retry_now()?;
            println!("{n} mục sẽ được gửi lại ngay / entries will be retried now");
            let held = store.outbox_status()?.needs_technician;
            if held > 0 {
                println!(
                    "{held} mục cần kỹ thuật viên, không gửi lại / entries need a technician and are not retried: kioskctl outbox list"
                );
            }
        }
        Command::Enroll {
            ca_file,
            enrollment_key_file,
        } => identity::enroll(&config, &ca_file, enrollment_key_file.as_deref())?,
        Command::Identity { action, json } => match action.unwrap_or(IdentityAction::Show) {
            IdentityAction::Show => identity::show(&config, json)?,
            IdentityAction::Renew => identity::renew(&config)?,
        },
        Command::Outbox { action } => outbox::run(&config, action)?,
        Command::Update { action } => update::run(&config, action)?,
        Command::Devices { json } => peripherals::devices(&config, json)?,
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
        Command::Selftest { code_timeout, json } => {
            peripherals::selftest(&config, code_timeout, json)?
        }
        Command::Ticket { area } if config.hub.is_some() => hub::ticket(&config, &area)?,
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
