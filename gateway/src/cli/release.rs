//! `gateway release …`: software releases for the kiosks, on the gateway's machine (its store
//! and blob storage directly, the same `--data-dir` / `--database-url` / `--s3-*` options as
//! `serve`).
//!
//! ```text
//! gateway release key init --dir /etc/motcua/gateway     # release.key (0600) + release.pub
//! gateway release publish motcua-kiosk_0.2.0-1_amd64.deb --waves "1%@0h,10%@24h,100%@72h"
//! gateway release list
//! gateway release pause|resume|abort VERSION [--reason TEXT]
//! ```

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use motcua_domain::release::WavePlan;
use motcua_gateway::{ReleaseSource, RolloutChange};

use crate::provision::{give_back, give_back_database_files, need, StoreArgs};
use crate::storage::StorageArgs;

#[derive(Subcommand)]
pub(crate) enum ReleaseCommand {
    /// The release signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Store a `.deb`, sign its manifest and start its rollout in waves.
    Publish {
        /// The package (`cargo deb` output).
        deb: PathBuf,
        /// The waves: `<share>%@<time after publishing>`, the last 100%, e.g.
        /// `1%@0h,10%@24h,100%@72h` (times in m, h or d).
        #[arg(long)]
        waves: String,
        /// The oldest installed version that may upgrade to this one.
        #[arg(long)]
        min_from_version: Option<String>,
        /// The release key (PEM); a secret, keep it 0600.
        #[arg(long, env = "MOTCUA_GATEWAY_RELEASE_KEY_FILE")]
        release_key_file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Every release with its rollout state and its devices' outcomes.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Offer a rolling release to no more devices until resumed.
    Pause(ChangeArgs),
    /// Go on with a paused release.
    Resume(ChangeArgs),
    /// Withdraw a release for good.
    Abort(ChangeArgs),
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Make `DIR/release.key` (0600) and `DIR/release.pub` if missing; print the public key.
    Init {
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
pub(crate) struct ChangeArgs {
    /// The release's Debian version.
    version: String,
    /// Why, shown on the fleet page and in `release list`.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

fn source(store: StoreArgs, storage: StorageArgs) -> anyhow::Result<ReleaseSource> {
    let source = ReleaseSource {
        data_dir: need(store.data_dir, "--data-dir (or MOTCUA_GATEWAY_DATA_DIR)")?,
        database_url: store.database_url,
        database_ca_file: store.database_ca_file,
        storage: storage.storage()?,
    };
    if source.database_url.is_none() && !source.data_dir.join("gateway.sqlite3").is_file() {
        anyhow::bail!(
            "no gateway database in {}: give the gateway's --data-dir (where gateway.sqlite3 \
             is), or --database-url when it uses PostgreSQL",
            source.data_dir.display()
        );
    }
    Ok(source)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f))
}

pub(crate) fn run(command: ReleaseCommand) -> anyhow::Result<()> {
    match command {
        ReleaseCommand::Key(KeyCommand::Init { dir }) => {
            let (file, public_key, created) = motcua_gateway::release_key_init(&dir)?;
            if created {
                eprintln!("made {} (a secret: keep it 0600)", file.display());
            }
            println!("{public_key}");
            Ok(())
        }
        ReleaseCommand::Publish {
            deb,
            waves,
            min_from_version,
            release_key_file,
            store,
            storage,
        } => {
            let waves: WavePlan = waves.parse().context("--waves")?;
            let key = motcua_gateway::release_key(&release_key_file)?;
            let source = source(store, storage)?;
            let now = chrono::Utc::now().timestamp();
            let published = block_on(motcua_gateway::publish_release(
                &source,
                &key,
                &deb,
                waves,
                min_from_version,
                now,
            ))?;
            if source.database_url.is_none() {
                give_back_database_files(&source.data_dir)?;
            }
            let p = published.with_context(|| format!("cannot publish {}", deb.display()))?;
            let m = &p.manifest;
            if matches!(source.storage, motcua_gateway::BlobStorage::Local) {
                // Made by this command (as root) if missing: the service must write blobs and
                // uploads there, and read the package it serves.
                let package = format!("releases/{}.deb", m.sha256);
                give_back(
                    &source.data_dir,
                    &["blobs", "uploads", "releases", &package],
                )?;
            }
            if p.new {
                println!(
                    "published {} {} ({} bytes, sha256 {}), waves {}",
                    m.package, m.version, m.size, m.sha256, m.waves
                );
            } else {
                println!(
                    "{} {} was published before with this package: nothing changed (its \
                     waves and minimum version stay as first published: see `gateway release \
                     list`)",
                    m.package, m.version
                );
            }
            Ok(())
        }
        ReleaseCommand::List { store } => {
            let source = source(store, StorageArgs::local())?;
            let rows = block_on(motcua_gateway::list_releases(&source))?
                .context("cannot list the releases")?;
            if rows.is_empty() {
                println!("no release published");
            }
            for r in rows {
                println!(
                    "{} {}\t{}\toffered {}\tdownloaded {}\tinstalled {}\tcommitted {}\trolled back {}\tfailed {}{}",
                    r.package,
                    r.version,
                    r.state.as_str(),
                    r.devices,
                    r.downloaded,
                    r.installed,
                    r.committed,
                    r.rolled_back,
                    r.failed,
                    r.state_reason
                        .map(|why| format!("\t({why})"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        ReleaseCommand::Pause(a) => change(a, RolloutChange::Pause, "paused", "rolling"),
        ReleaseCommand::Resume(a) => change(a, RolloutChange::Resume, "rolling", "paused"),
        ReleaseCommand::Abort(a) => change(a, RolloutChange::Abort, "aborted", "rolling or paused"),
    }
}

fn change(a: ChangeArgs, what: RolloutChange, done: &str, needs: &str) -> anyhow::Result<()> {
    let source = source(a.store, StorageArgs::local())?;
    let changed = block_on(motcua_gateway::change_release(
        &source,
        &a.version,
        what,
        a.reason.as_deref(),
    ))?;
    if source.database_url.is_none() {
        give_back_database_files(&source.data_dir)?;
    }
    if changed.context("cannot change the release")? {
        println!("release {}: {done}", a.version);
        Ok(())
    } else {
        anyhow::bail!(
            "release {} is not {needs} (or was never published): see `gateway release list`",
            a.version
        )
    }
}
