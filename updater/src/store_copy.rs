//! The store's copy from before an update, and whether a rollback may put it back. Store
//! migrations only go forward: an older kioskd refuses a store a newer one migrated. So before
//! installing, with kioskd stopped, the updater copies the database files into its own folder;
//! a rollback restores them only when the new version migrated the store **and** accepted
//! nothing since (the marks of [`motcua_store::StoreMark`] agree). When it migrated and
//! accepted records, restoring would lose them: the new version stays, with an alert. Without
//! a migration the older version reads the store as it is, so nothing is restored.
//!
//! SQLite never opens kioskd's own files as root (that would leave root-owned `-wal`/`-shm`
//! files kioskd cannot open): the raw files are copied while kioskd is stopped, and only the
//! copy is read.

use std::path::Path;

use motcua_store::StoreMark;

use crate::files::Folder;

/// The database file in kioskd's data folder, and its WAL and shared-memory files.
const DB: &str = "kiosk.sqlite3";
const WAL: &str = "kiosk.sqlite3-wal";
const SHM: &str = "kiosk.sqlite3-shm";
/// What a copy leaves free on the disk at least (the kiosk keeps working after an update).
const COPY_HEADROOM: u64 = 256 * 1024 * 1024;

/// What a rollback does with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// Leave it: no migration ran (or there was no store before).
    Keep,
    /// Put the copy from before back: a migration ran and nothing was accepted since.
    Restore,
    /// Do not roll back: records were accepted after a migration (or the store cannot be
    /// read, so that is unknown); stay on the new version with an alert.
    StayWithAlert,
}

/// The decision, from the mark before the update and the mark now.
pub fn decide(before: Option<StoreMark>, now: Result<Option<StoreMark>, String>) -> StoreAction {
    let Some(before) = before else {
        return StoreAction::Keep;
    };
    match now {
        Ok(Some(now)) if now.schema_version == before.schema_version => StoreAction::Keep,
        Ok(Some(now)) if now.last_accepted == before.last_accepted => StoreAction::Restore,
        Ok(Some(_)) => StoreAction::StayWithAlert,
        // The store vanished: the copy is all there is.
        Ok(None) => StoreAction::Restore,
        Err(_) => StoreAction::StayWithAlert,
    }
}

/// Copies the store's files out of `data` into the fresh folder `to` and reads the copy's
/// mark; `Ok(None)` when kioskd has no store yet. kioskd must be stopped.
pub fn copy_out(data: &Folder, to: &Path) -> Result<Option<StoreMark>, String> {
    if to.exists() {
        std::fs::remove_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let mut any = false;
    for name in [DB, WAL] {
        let Some(mut from) = data.open_regular(name).map_err(|e| e.to_string())? else {
            continue;
        };
        any |= name == DB;
        // kioskd's file may be any size (even sparse): never fill the disk for a copy.
        let size = from.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        let free = rustix::fs::statvfs(to)
            .map(|v| v.f_bavail.saturating_mul(v.f_frsize))
            .unwrap_or(0);
        if size.saturating_add(COPY_HEADROOM) > free {
            return Err(format!(
                "không đủ chỗ để sao lưu kho dữ liệu / not enough disk for the store's copy: {} has {size} bytes, {free} bytes free",
                data.shown(name)
            ));
        }
        let target = to.join(name);
        let mut out =
            std::fs::File::create(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        std::io::copy(&mut from, &mut out)
            .and_then(|_| out.sync_all())
            .map_err(|e| format!("copying {} to {}: {e}", data.shown(name), target.display()))?;
    }
    if !any {
        return Ok(None);
    }
    StoreMark::read(&to.join(DB))
        .map(Some)
        .map_err(|e| format!("the store's copy cannot be read: {e}"))
}

/// Puts the copy in `from` back into `data`, owned by kioskd's user (`owner`), 0600. kioskd
/// must be stopped.
pub fn restore(data: &Folder, from: &Path, owner: (u32, u32)) -> Result<(), String> {
    let open = |name: &str| {
        std::fs::File::open(from.join(name))
            .map_err(|e| format!("{}: {e}", from.join(name).display()))
    };
    let mut db = open(DB)?;
    for name in [WAL, SHM] {
        data.remove(name).map_err(|e| e.to_string())?;
    }
    // The copy was read (and so checkpointed) by SQLite: a WAL left beside it goes back too.
    if let Ok(mut wal) = open(WAL) {
        data.replace_from(WAL, &mut wal, 0o600, Some(owner))
            .map_err(|e| e.to_string())?;
    }
    data.replace_from(DB, &mut db, 0o600, Some(owner))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(schema_version: u32, last_accepted: i64) -> Option<StoreMark> {
        Some(StoreMark {
            schema_version,
            last_accepted,
        })
    }

    #[test]
    fn a_copy_is_restored_only_after_a_migration_that_accepted_nothing() {
        assert_eq!(decide(mark(9, 40), Ok(mark(9, 52))), StoreAction::Keep);
        assert_eq!(decide(mark(9, 40), Ok(mark(10, 40))), StoreAction::Restore);
        assert_eq!(
            decide(mark(9, 40), Ok(mark(10, 41))),
            StoreAction::StayWithAlert
        );
        assert_eq!(
            decide(mark(9, 40), Err("damaged".into())),
            StoreAction::StayWithAlert
        );
        assert_eq!(decide(None, Ok(mark(10, 3))), StoreAction::Keep);
    }

    #[test]
    fn the_store_goes_out_and_back_as_the_service_user_and_a_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let mut store = motcua_store::Store::open(&data_dir, 0).unwrap();
        let device = motcua_store::DeviceIdentity {
            id: "KIOSK-CT-0001".into(),
            agency_code: "000.17.22.H56".into(),
            sequence: None,
        };
        store
            .issue_ticket(&device, "A", motcua_store::vietnam_now())
            .unwrap();
        drop(store);
        let data = Folder::open(&data_dir).unwrap();
        let copy = dir.path().join("copy");
        let before = copy_out(&data, &copy).unwrap().unwrap();
        assert_eq!(before.last_accepted, 1);
        // The kiosk's store is replaced by a link to a file of root's: restoring replaces the
        // link and leaves that file alone.
        let roots = dir.path().join("roots-file");
        std::fs::write(&roots, b"root's").unwrap();
        std::fs::remove_file(data_dir.join(DB)).unwrap();
        std::os::unix::fs::symlink(&roots, data_dir.join(DB)).unwrap();
        let owner = data.owner().unwrap();
        restore(&data, &copy, owner).unwrap();
        assert_eq!(std::fs::read(&roots).unwrap(), b"root's");
        let again = StoreMark::read(&data_dir.join(DB)).unwrap();
        assert_eq!(again, before);
    }
}
