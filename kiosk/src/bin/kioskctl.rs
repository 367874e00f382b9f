//! `kioskctl`: the technician's and script's tool for a kiosk. It works on the kiosk's store
//! directly (SQLite allows kioskd to run at the same time), so it answers even when the
//! network or the daemon is down.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::dossier_file::{self, DossierFile};
use motcua_kiosk::gateway_client::GatewayClient;
use motcua_kiosk::store::Store;
use motcua_kiosk::uplink::now;

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
    },
    /// Issue a queue ticket for a service area (prints the ticket number).
    Ticket {
        /// Service area code.
        #[arg(long)]
        area: String,
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
        Command::Retry => {
            let n = open(&config)?.retry_now()?;
            println!("{n} mục sẽ được gửi lại ngay / entries will be retried now");
        }
        Command::Enroll { enrollment_key } => enroll(&config, &enrollment_key)?,
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

fn enroll(config: &KioskConfig, key: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = GatewayClient::new(
        &config.uplink.gateway_url,
        None,
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
