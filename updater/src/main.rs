//! `motcua-updater run`: started by `motcua-kiosk-updater.path` when kioskd asks for an
//! install or a rollback, or when an interrupted one must be resumed. Runs as root in its own
//! hardened unit; a technician uses `kioskctl update …`, not this program.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use motcua_updater::config::UpdaterConfig;
use motcua_updater::run::Updater;

#[derive(Parser)]
#[command(
    version,
    about = "Bộ cập nhật của kiosk motcua / the motcua kiosk's root updater"
)]
struct Cli {
    /// The updater's config file (missing: the defaults).
    #[arg(long, default_value = "/etc/motcua/updater.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Resume an interrupted update, else carry out kioskd's request, then exit.
    Run,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    motcua_logging::init("info");
    let config = UpdaterConfig::load(&cli.config)?;
    match cli.command {
        Command::Run => Updater::open(config)
            .context("opening the updater's folders")?
            .run(),
    }
}
