//! `gateway provision …`: setup sheets made on the gateway's machine, working on its store
//! directly (the same `--data-dir` / `--database-url` as `serve`), for a technician at the
//! province with no browser certificate at hand; and `gateway provision key`, which prints the
//! public key line kiosks are installed with.
//!
//! The codes are secrets until used: they go into the PDF (`--out`) and, if asked, a 0600 file
//! of one code per line (`--codes-out`, `-` for stdout); stdout otherwise names only the slots.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use motcua_domain::provisioning::SetupSheetRequest;
use motcua_gateway::{FontConfig, SheetSource, DEFAULT_PROFILES_DIR};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct ProvisionArgs {
    #[command(subcommand)]
    command: Option<ProvisionCommand>,
    #[command(flatten)]
    sheet: SheetArgs,
}

#[derive(Subcommand)]
enum ProvisionCommand {
    /// Print the provisioning public key line (`ed25519:…`) of DIR/provisioning.key, what
    /// kiosks are installed with as /etc/motcua/provisioning.pub.
    Key {
        /// The directory `gateway ca init` made.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Withdraw every unused setup code of a device id (a leaked or lost sheet), on the
    /// gateway's store directly; prints how many.
    Withdraw {
        /// The device id whose codes to withdraw.
        #[arg(long = "device-id")]
        device_id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(clap::Args)]
pub(crate) struct StoreArgs {
    /// The gateway's data directory (its SQLite database).
    #[arg(long, env = "MOTCUA_GATEWAY_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// PostgreSQL URL, when the gateway uses PostgreSQL.
    #[arg(long, env = "MOTCUA_GATEWAY_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// CA certificate trusted for PostgreSQL over TLS.
    #[arg(long, env = "MOTCUA_GATEWAY_DATABASE_CA_FILE")]
    pub(crate) database_ca_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct SheetArgs {
    /// The site (agency code) of the kiosks.
    #[arg(long, required = true)]
    site: Option<String>,
    /// The profile's name (`<profiles dir>/<name>.toml`).
    #[arg(long, required = true)]
    profile: Option<String>,
    /// How many new slots (`<site>-K001`, …); ignored with --device-id.
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// A device id to issue a code for (repeat; a replaced kiosk keeps its id).
    #[arg(long = "device-id")]
    device_ids: Vec<String>,
    /// Issue codes even for a live device id or one of another site (using the code cuts
    /// that kiosk off).
    #[arg(long)]
    replace: bool,
    /// Hours the codes stay valid (1..=720).
    #[arg(long, default_value_t = 72)]
    valid_hours: u32,
    /// The PDF to write (one A4 page per slot).
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Also write the codes, one per line, to this file (0600); `-` prints them on stdout.
    #[arg(long)]
    codes_out: Option<PathBuf>,
    /// The gateway's data directory (its SQLite database).
    #[arg(long, env = "MOTCUA_GATEWAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL, when the gateway uses PostgreSQL.
    #[arg(long, env = "MOTCUA_GATEWAY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// CA certificate trusted for PostgreSQL over TLS.
    #[arg(long, env = "MOTCUA_GATEWAY_DATABASE_CA_FILE")]
    database_ca_file: Option<PathBuf>,
    /// The provisioning key (PEM), `DIR/provisioning.key` of `gateway ca init`.
    #[arg(long, env = "MOTCUA_GATEWAY_PROVISIONING_KEY_FILE")]
    provisioning_key_file: Option<PathBuf>,
    /// The province's CA certificate (PEM).
    #[arg(long, env = "MOTCUA_GATEWAY_CA_CERT_FILE")]
    ca_cert_file: Option<PathBuf>,
    /// Where profiles are.
    #[arg(long, env = "MOTCUA_GATEWAY_PROFILES_DIR", default_value = DEFAULT_PROFILES_DIR)]
    profiles_dir: PathBuf,
    /// The gateway's https:// address as kiosks reach it.
    #[arg(long, env = "MOTCUA_GATEWAY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Numbers in each sequence block (what `serve` allocates; checked here for the same range).
    #[arg(long, env = "MOTCUA_GATEWAY_SEQUENCE_BLOCK_SIZE", default_value_t = 500,
        value_parser = clap::value_parser!(u16).range(1..=9999))]
    sequence_block_size: u16,
    /// Regular font of the sheet.
    #[arg(long, env = "MOTCUA_GATEWAY_FONT_REGULAR", default_value = motcua_gateway::DEFAULT_REGULAR_FONT)]
    font_regular: PathBuf,
    /// Bold font of the sheet.
    #[arg(long, env = "MOTCUA_GATEWAY_FONT_BOLD", default_value = motcua_gateway::DEFAULT_BOLD_FONT)]
    font_bold: PathBuf,
}

/// Writes a file readable by its owner only, whatever mode a file already there had: the
/// bytes go to a new 0600 file beside it, renamed over it once written.
fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} names no file", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Run as root on the gateway's machine, this command may have created SQLite's files (the
/// database on a first run, its `-wal`/`-shm` files while the service is stopped): they are
/// given to the data directory's owner, so the service (user motcua-gateway) can still open
/// its database.
pub(crate) fn give_back_database_files(data_dir: &Path) -> anyhow::Result<()> {
    give_back(
        data_dir,
        &[
            "gateway.sqlite3",
            "gateway.sqlite3-wal",
            "gateway.sqlite3-shm",
        ],
    )
}

/// Gives `names` (paths under `data_dir`, those that exist) to the data directory's owner.
pub(crate) fn give_back(data_dir: &Path, names: &[&str]) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = std::fs::metadata(data_dir)
        .with_context(|| format!("cannot read {}", data_dir.display()))?;
    for name in names {
        let path = data_dir.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if (meta.uid(), meta.gid()) != (dir.uid(), dir.gid()) {
            std::os::unix::fs::chown(&path, Some(dir.uid()), Some(dir.gid())).with_context(
                || {
                    format!(
                        "cannot give {} to the data directory's owner (uid {}): the gateway \
                         service could not use it; chown it by hand",
                        path.display(),
                        dir.uid()
                    )
                },
            )?;
        }
    }
    Ok(())
}

fn withdraw(device_id: &str, a: StoreArgs) -> anyhow::Result<()> {
    let source = motcua_gateway::StoreSource {
        data_dir: need(a.data_dir, "--data-dir (or MOTCUA_GATEWAY_DATA_DIR)")?,
        database_url: a.database_url,
        database_ca_file: a.database_ca_file,
    };
    if source.database_url.is_none() && !source.data_dir.join("gateway.sqlite3").is_file() {
        anyhow::bail!(
            "no gateway database in {}: give the gateway's --data-dir (where gateway.sqlite3 \
             is), or --database-url when it uses PostgreSQL",
            source.data_dir.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let withdrawn = runtime.block_on(motcua_gateway::withdraw_setup_codes_offline(
        &source, device_id,
    ));
    if source.database_url.is_none() {
        give_back_database_files(&source.data_dir)?;
    }
    let withdrawn = withdrawn.context("cannot withdraw the setup codes")?;
    println!("withdrawn: {withdrawn} unused setup code(s) of device {device_id}");
    Ok(())
}

pub(crate) fn need<T>(value: Option<T>, what: &str) -> anyhow::Result<T> {
    value.ok_or_else(|| anyhow::anyhow!("{what} is required"))
}

pub(crate) fn run(args: ProvisionArgs) -> anyhow::Result<()> {
    if let Some(ProvisionCommand::Key { dir }) = args.command {
        let path = dir.join("provisioning.key");
        let key = motcua_gateway::provisioning_key(&path).with_context(|| {
            format!(
                "cannot read the provisioning key {} (`gateway ca init --dir {}` makes it)",
                path.display(),
                dir.display()
            )
        })?;
        println!("{}", key.public_key());
        return Ok(());
    }
    if let Some(ProvisionCommand::Withdraw { device_id, store }) = args.command {
        return withdraw(&device_id, store);
    }
    let a = args.sheet;
    let out = need(a.out, "--out")?;
    let source = SheetSource {
        data_dir: need(a.data_dir, "--data-dir (or MOTCUA_GATEWAY_DATA_DIR)")?,
        database_url: a.database_url,
        database_ca_file: a.database_ca_file,
        ca_cert_file: need(
            a.ca_cert_file,
            "--ca-cert-file (or MOTCUA_GATEWAY_CA_CERT_FILE)",
        )?,
        provisioning_key_file: need(
            a.provisioning_key_file,
            "--provisioning-key-file (or MOTCUA_GATEWAY_PROVISIONING_KEY_FILE)",
        )?,
        profiles_dir: a.profiles_dir,
        public_url: need(a.public_url, "--public-url (or MOTCUA_GATEWAY_PUBLIC_URL)")?,
    };
    if source.database_url.is_none() && !source.data_dir.is_dir() {
        anyhow::bail!(
            "the data directory {} does not exist: give the gateway's --data-dir (where \
             gateway.sqlite3 is), or --database-url when it uses PostgreSQL",
            source.data_dir.display()
        );
    }
    let req = SetupSheetRequest {
        site: need(a.site, "--site")?,
        profile: need(a.profile, "--profile")?,
        count: a.count,
        device_ids: a.device_ids,
        valid_hours: a.valid_hours,
        replace: a.replace,
    };
    let fonts = FontConfig {
        regular: a.font_regular,
        bold: a.font_bold,
    };
    motcua_gateway::check_sheet_fonts(&fonts).with_context(|| {
        format!(
            "cannot load the sheet's fonts {} / {} (install fonts-dejavu-core, or give \
             --font-regular/--font-bold); no code was issued",
            fonts.regular.display(),
            fonts.bold.display()
        )
    })?;
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    let issued_by = format!("gateway provision ({who})");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let issued = runtime.block_on(motcua_gateway::issue_sheet_offline(
        &source, &req, &issued_by,
    ));
    if source.database_url.is_none() {
        give_back_database_files(&source.data_dir)?;
    }
    let sheet = issued.context("cannot issue the setup sheet")?;
    let pdf = motcua_gateway::setup_sheet_pdf_bytes(&sheet, &fonts).with_context(|| {
        format!(
            "the codes were issued but the sheet cannot be drawn (fonts {} / {}); issue a new sheet once that is fixed",
            fonts.regular.display(),
            fonts.bold.display()
        )
    })?;
    // The sheet holds the codes: readable by its owner only, like the codes file.
    write_secret(&out, &pdf)?;
    let codes: String = sheet
        .codes
        .iter()
        .map(|c| format!("{}\n", c.code))
        .collect();
    let mut stdout = std::io::stdout().lock();
    match a.codes_out.as_deref() {
        Some(p) if p == Path::new("-") => stdout.write_all(codes.as_bytes())?,
        Some(p) => write_secret(p, codes.as_bytes())?,
        None => {}
    }
    writeln!(stdout, "sheet:   {}", out.display())?;
    writeln!(
        stdout,
        "site:    {}  profile: {} (sha256 {})",
        sheet.site, sheet.profile, sheet.profile_sha256
    )?;
    for c in &sheet.codes {
        writeln!(
            stdout,
            "device:  {}  valid until {}",
            c.device_id, c.expires_at
        )?;
    }
    stdout.flush()?;
    Ok(())
}
