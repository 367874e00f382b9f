//! `kioskctl outbox`: the entries a retry cannot fix, for the technician. List them with their
//! reasons, retry one once its cause is fixed, set one aside, or export one to a folder (a USB
//! stick carried to the counter) with the body the gateway would have received and its files.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use motcua_kiosk::config::KioskConfig;
use motcua_store::{vietnam_now as now, HeldEntry, HoldState, Store};

use crate::{open, print_json};

/// What `kioskctl outbox` does.
#[derive(Subcommand)]
pub(crate) enum OutboxAction {
    /// List every entry needing a technician or set aside: id, kind, dossier, since, reason.
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Put an entry needing a technician (or set aside) back to pending, due now, its failure
    /// count reset: after fixing what its reason says.
    Retry {
        /// The entry's id (from `kioskctl outbox list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every entry needing a technician (set-aside ones are retried only by id).
        #[arg(long)]
        all: bool,
    },
    /// Set an entry needing a technician aside: kept, never retried, never deleted, still
    /// counted as undelivered (the package cannot be removed while it is there).
    SetAside {
        /// The entry's id.
        id: i64,
    },
    /// Write an entry's JSON (the body the gateway would receive, with its reason) and its
    /// document files into DIR/<id>/, fsynced; refuses to overwrite an earlier export.
    Export {
        /// The entry's id.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every entry needing a technician or set aside.
        #[arg(long)]
        all: bool,
        /// The folder to write into (e.g. a mounted USB stick).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
}

pub(crate) fn run(config: &KioskConfig, action: OutboxAction) -> anyhow::Result<()> {
    let store = open(config)?;
    match action {
        OutboxAction::List { json } => {
            let held = store.held_entries()?;
            if json {
                return print_json(&held);
            }
            if held.is_empty() {
                println!("Không có mục nào cần kỹ thuật viên / no entry needs a technician");
            }
            for h in &held {
                println!("{}", line(h));
            }
        }
        OutboxAction::Retry { id: Some(id), .. } => {
            store.retry_held(id)?;
            println!("Mục {id} sẽ được gửi lại ngay / entry {id} will be retried now");
        }
        OutboxAction::Retry { id: None, .. } => {
            let n = store.retry_all_held()?;
            println!("{n} mục sẽ được gửi lại ngay / entries will be retried now");
        }
        OutboxAction::SetAside { id } => {
            store.set_aside(id, now())?;
            println!(
                "Mục {id} đã được để riêng, vẫn được giữ / entry {id} set aside, still kept (kioskctl outbox export {id} --to DIR)"
            );
        }
        OutboxAction::Export { id, to, .. } => {
            let ids = match id {
                Some(id) => vec![id],
                None => store.held_entries()?.iter().map(|h| h.id).collect(),
            };
            for id in ids {
                let dir = export(&store, id, &to)?;
                println!("{}", dir.display());
            }
        }
    }
    Ok(())
}

/// One listed entry, as a technician reads it.
pub(crate) fn line(h: &HeldEntry) -> String {
    let state = match h.state {
        HoldState::NeedsTechnician => "cần kỹ thuật viên/needs technician",
        HoldState::SetAside => "để riêng/set aside",
    };
    let kind = serde_json::to_value(h.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "{}  {kind}  {}  {state}  từ/since {}\n    {}",
        h.id,
        h.dossier_code.as_deref().unwrap_or("-"),
        h.since,
        h.reason
    )
}

/// Writes entry `id` into `to/<id>/`: each document as `blobs/<sha256>` (copied as the store
/// holds it, marked in `entry.json` if missing or damaged), then `entry.json`, written last so
/// that its presence means the export is complete. Everything is fsynced, folders too, so the
/// stick can be pulled once this returns. An existing `to/<id>` is never overwritten.
fn export(store: &Store, id: i64, to: &Path) -> anyhow::Result<PathBuf> {
    let entry = store.export_entry(id)?;
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let dir = to.join(id.to_string());
    fs::create_dir(&dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} đã có, không ghi đè / {} exists already: it is not overwritten (choose another folder)",
                dir.display(),
                dir.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("cannot create {}", dir.display()))
        }
    })?;
    let blob_dir = dir.join("blobs");
    fs::create_dir(&blob_dir).with_context(|| format!("cannot create {}", blob_dir.display()))?;
    let mut files = Vec::new();
    for blob in &entry.blobs {
        let state = match store.blobs().verify(&blob.sha256) {
            Ok(true) => "intact",
            Ok(false) => "damaged",
            Err(_) => "missing",
        };
        if state != "missing" {
            let target = blob_dir.join(&blob.sha256);
            copy_new(&blob.path, &target)?;
        }
        if state != "intact" {
            eprintln!(
                "mục {id}: tài liệu {} {state} / entry {id}: document {} is {state}",
                blob.sha256, blob.sha256
            );
        }
        files.push(serde_json::json!({
            "sha256": blob.sha256,
            "size": blob.size,
            "name": blob.name,
            "file": format!("blobs/{}", blob.sha256),
            "state": state,
        }));
    }
    sync_dir(&blob_dir)?;
    let doc = serde_json::json!({
        "id": entry.id,
        "kind": entry.kind,
        "idempotency_key": entry.idempotency_key,
        "hold": entry.hold,
        "exported_at": now().to_rfc3339(),
        "body": entry.body,
        "files": files,
    });
    let json_path = dir.join("entry.json");
    let mut out = create_new(&json_path)?;
    serde_json::to_writer_pretty(&mut out, &doc)?;
    out.write_all(b"\n")?;
    out.sync_all()
        .with_context(|| format!("cannot flush {}", json_path.display()))?;
    sync_dir(&dir)?;
    sync_dir(to)?;
    Ok(dir)
}

fn create_new(path: &Path) -> anyhow::Result<File> {
    File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn copy_new(from: &Path, to: &Path) -> anyhow::Result<()> {
    let mut src = File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut dst = create_new(to)?;
    std::io::copy(&mut src, &mut dst)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    dst.sync_all()
        .with_context(|| format!("cannot flush {}", to.display()))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot flush the folder {}", dir.display()))
}
