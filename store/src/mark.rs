//! What the root updater needs to know of a store without running its migrations: the schema
//! version (`PRAGMA user_version`, how many migrations ran) and the newest accepted record (the
//! highest outbox id of anything but health reports: every dossier, document, rating and ticket
//! is accepted in one transaction with its outbox entry, and outbox ids are never reused).
//!
//! A rollback after a new version migrated the store restores the copy taken before the
//! update only when the two marks show nothing was accepted since (see the updater).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::{db_err, StoreResult};

/// The schema version and the newest accepted record of a store file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreMark {
    /// How many migrations ran on it.
    pub schema_version: u32,
    /// The highest outbox id of an accepted record (0: none ever).
    pub last_accepted: i64,
}

impl StoreMark {
    /// Reads the mark of the database at `db_path` (a copy: it is opened as is, never migrated).
    ///
    /// The root updater reads a file the unprivileged kioskd wrote, so it is opened as SQLite
    /// advises for a database from an attacker: defensive mode, an untrusted schema, cell size
    /// checks, no memory map, `quick_check` first, and no virtual table (their code would run on
    /// the attacker's shadow tables).
    pub fn read(db_path: &Path) -> StoreResult<Self> {
        let db = db_err(db_path);
        let conn = Connection::open_with_flags(
            db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(&db)?;
        conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)
            .map_err(&db)?;
        conn.execute_batch(
            "PRAGMA trusted_schema = OFF; PRAGMA cell_size_check = ON; PRAGMA mmap_size = 0;",
        )
        .map_err(&db)?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(&db)?;
        let virtual_tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL%'",
                [],
                |r| r.get(0),
            )
            .map_err(&db)?;
        if check != "ok" || virtual_tables > 0 {
            return Err(crate::StoreError::Corrupt {
                what: db_path.display().to_string(),
                detail: format!(
                    "not a kiosk store as written by kioskd (quick_check: {check}; virtual tables: {virtual_tables})"
                ),
            });
        }
        let schema_version: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(&db)?;
        let has_outbox: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox')",
                [],
                |r| r.get(0),
            )
            .map_err(&db)?;
        let last_accepted = if has_outbox {
            conn.query_row(
                "SELECT COALESCE(MAX(id), 0) FROM outbox WHERE kind != 'health'",
                [],
                |r| r.get(0),
            )
            .map_err(&db)?
        } else {
            0
        };
        Ok(Self {
            schema_version,
            last_accepted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn a_new_store_has_its_schema_and_nothing_accepted_and_a_ticket_moves_the_mark() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), 0).unwrap();
        let db = dir.path().join("kiosk.sqlite3");
        let before = StoreMark::read(&db).unwrap();
        assert_eq!(
            before.schema_version as usize,
            crate::schema::MIGRATIONS.len()
        );
        assert_eq!(before.last_accepted, 0);
        let device = crate::DeviceIdentity {
            id: "KIOSK-CT-0001".into(),
            agency_code: "000.17.22.H56".into(),
            sequence: None,
        };
        store
            .issue_ticket(&device, "A", crate::vietnam_now())
            .unwrap();
        let after = StoreMark::read(&db).unwrap();
        assert!(after.last_accepted > 0, "{after:?}");
        assert_eq!(after.schema_version, before.schema_version);
    }

    #[test]
    fn a_store_with_a_virtual_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), 0).unwrap());
        let db = dir.path().join("kiosk.sqlite3");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch("CREATE VIRTUAL TABLE planted USING fts5(x)")
            .or_else(|_| conn.execute_batch("CREATE VIRTUAL TABLE planted USING rtree(id, a, b)"))
            .unwrap();
        drop(conn);
        let e = StoreMark::read(&db).unwrap_err().to_string();
        assert!(e.contains("virtual tables: 1"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_store_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("kiosk.sqlite3");
        std::fs::write(&db, b"not a database at all, just text").unwrap();
        assert!(StoreMark::read(&db).is_err());
    }
}
