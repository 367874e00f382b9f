//! `kioskctl update status|check|apply --now|rollback`: the kiosk's software updates, from the
//! spool's files (`<data_dir>/update/`) and, for `check`, the gateway.

use anyhow::Context;
use chrono::Utc;
use clap::Subcommand;
use motcua_domain::update::UpdateRequest;
use motcua_kiosk::config::KioskConfig;
use motcua_kiosk::update::{self, care, status, Spool};

use crate::{print_json, runtime};

#[derive(Subcommand)]
pub(crate) enum UpdateAction {
    /// The running version, the offered and downloaded release, download progress, the
    /// updater's state and last result, the maintenance window.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask the gateway now which release it offers this kiosk, and have a running kioskd check
    /// (and download) within a second.
    Check,
    /// Ask the updater to install the verified download now, outside the maintenance window
    /// (still refused while a citizen session or an intake is open).
    Apply {
        /// Required: ignore the maintenance window.
        #[arg(long)]
        now: bool,
    },
    /// Ask the updater to put the previous version back now (refused while a citizen
    /// session is open).
    Rollback {
        /// Why (shown in the gateway's report).
        #[arg(long, default_value = "kỹ thuật viên yêu cầu / technician's request")]
        reason: String,
    },
}

pub(crate) fn run(config: &KioskConfig, action: UpdateAction) -> anyhow::Result<()> {
    let running = update::installed_version(&config.update.package);
    let spool = Spool::of(&config.store.data_dir);
    match action {
        UpdateAction::Status { json } => {
            let s = status::status(&config.update, &config.store.data_dir, &running);
            if json {
                return print_json(&s);
            }
            println!("Phiên bản / running:      {}", s.running);
            println!(
                "Khung bảo trì / window:   {} (giờ Việt Nam / Vietnam time)",
                s.window
            );
            if let Some(off) = &s.off {
                println!("{off}");
            }
            match &s.offered {
                Some(o) => {
                    let have = s.downloaded_bytes.unwrap_or(0);
                    let pct = (have * 100).checked_div(o.size).unwrap_or(0);
                    println!(
                        "Được đề nghị / offered:   {} ({have} of {} bytes, {pct}%){}",
                        o.version,
                        o.size,
                        if s.ready.as_deref() == Some(o.version.as_str()) {
                            ", đã kiểm tra / verified"
                        } else {
                            ""
                        }
                    );
                }
                None => println!("Được đề nghị / offered:   không có / none"),
            }
            if let Some(r) = &s.request {
                println!("Yêu cầu chờ / request:    {}", serde_json::to_string(r)?);
            }
            if let Some(st) = &s.state {
                println!(
                    "Bộ cập nhật / updater:    {:?} {} since {}",
                    st.phase,
                    st.version.as_deref().unwrap_or(""),
                    st.since
                );
                if let Some(note) = &st.note {
                    println!("Ghi chú / note:           {note}");
                }
            }
            if let Some(r) = &s.result {
                println!(
                    "Kết quả / result:         {} {:?} (running {}) {}",
                    r.version,
                    r.outcome,
                    r.running_version,
                    r.detail.as_deref().unwrap_or("")
                );
            }
            for r in &s.refused {
                println!("Từ chối / refused:        {} — {}", r.version, r.detail);
            }
            if s.session_open {
                println!("Đang có người dùng / a citizen session is open");
            }
            if s.intake_open {
                println!("Đang số hoá / an intake is under way");
            }
        }
        UpdateAction::Check => {
            let link = motcua_uplink::DeviceLink::open(
                config.identity_files(),
                &config.uplink.gateway_url,
                config.uplink.request_timeout,
            )
            .context("chưa đăng ký / this kiosk cannot reach the gateway yet")?;
            let offer = runtime()?.block_on(
                link.client()
                    .release_offer(&config.update.package, &running),
            )?;
            match offer.release {
                Some(r) => {
                    let verdict = match config.update.key() {
                        Ok(key) => match key.open(r.manifest.trim()) {
                            Ok(_) => "chữ ký hợp lệ / signature valid".to_owned(),
                            Err(e) => e.to_string(),
                        },
                        Err(off) => off,
                    };
                    println!(
                        "Được đề nghị / offered: {} ({} bytes, SHA-256 {}); {verdict}",
                        r.version, r.size, r.sha256
                    );
                }
                None => println!("Không có bản mới / nothing newer offered (running {running})"),
            }
            // kioskd (if running) checks too, and downloads what it is offered.
            if let Err(e) = spool.ask_check_now() {
                eprintln!("cannot ask kioskd to check now: {e}");
            }
        }
        UpdateAction::Apply { now } => {
            if !now {
                anyhow::bail!(
                    "kioskd tự cài trong khung bảo trì {} / kioskd installs by itself inside the window {}; `kioskctl update apply --now` installs now",
                    config.update.window,
                    config.update.window
                );
            }
            let key = config.update.key().map_err(anyhow::Error::msg)?;
            match care::request_install(
                config,
                &spool,
                &key,
                &running,
                spool.session_open(),
                None,
                Utc::now(),
            ) {
                Ok(Some(version)) => println!(
                    "Đã yêu cầu cài {version} / install of {version} requested: the updater takes it now"
                ),
                Ok(None) => anyhow::bail!(
                    "không có bản tải về đã kiểm tra mới hơn {running} / no verified download newer than {running} (kioskctl update status)"
                ),
                Err(why) => anyhow::bail!("{why}"),
            }
        }
        UpdateAction::Rollback { reason } => {
            if spool.session_open() {
                anyhow::bail!("đang có người dân dùng máy / a citizen session is open: try again when the screen is back home");
            }
            let request = UpdateRequest::Rollback {
                reason,
                requested_at: Utc::now()
                    .with_timezone(&motcua_domain::vietnam_offset())
                    .to_rfc3339(),
            };
            spool.write_request(&request).map_err(anyhow::Error::msg)?;
            println!("Đã yêu cầu quay về bản trước / rollback requested: the updater takes it now");
        }
    }
    Ok(())
}
