//! The kiosk's durable local store: one SQLite database (WAL, `synchronous=FULL`) beside a
//! folder of content-addressed blob files. It is the only place a kiosk keeps what citizens
//! and staff gave it, so its promises come first.
//!
//! # Invariants
//! 1. **Durable on return.** When [`Store::submit_dossier`], [`Store::issue_ticket`],
//!    [`Store::rate`] or [`Store::add_digitized_documents`] returns `Ok`, its transaction has
//!    committed with `synchronous=FULL`: the record survives a power cut from that instant on.
//!    Only then may a citizen be told (receipt printed, "submitted" shown). The blobs a record
//!    refers to were fsynced, renamed into place and their folder fsynced *before* the
//!    transaction began ([`blobs`]), and the transaction checks under the write lock that each
//!    is there.
//! 2. **One outbox entry per record.** Every accepted dossier, rating, ticket and intake batch
//!    gets exactly one outbox entry, written in the same transaction, keyed by an idempotency
//!    key the gateway deduplicates on: a retry after a crash can repeat a delivery, never
//!    duplicate a record.
//! 3. **Deleted only after the gateway confirmed.** An outbox entry is marked delivered only
//!    after the gateway's durable acknowledgement ([`Store::mark_delivered`]). A blob file is
//!    deleted only when every record using it was delivered longer than the retention period
//!    ago, or when no record ever used it and it is older than that period (an abandoned
//!    attachment); the applicant's personal data is blanked at the same moment
//!    ([`Store::collect_garbage`]). Until then it is kept sealed with the device's data key
//!    ([`sealing`]), never in clear (`applicant.rs`). Nothing else deletes. An entry held for a technician or
//!    set aside ([`Store::hold_for_technician`]) is not delivered, so it keeps its blobs and personal data and counts
//!    as pending for as long as it waits. The one exception: queueing a health report removes the
//!    earlier health entries ([`Store::queue_health_report`]); a report is the kiosk's own
//!    telemetry, never a citizen's record, and only the newest says anything.
//!    A kiosk with a centre hub keeps its queue tickets out of the outbox: the hub numbers
//!    them and its own outbox delivers them; what the kiosk numbers from its fallback block
//!    while the hub is unreachable waits in [`hub_fallback`] until the hub recorded it.
//! 4. **Codes never reused.** The per-agency, per-day dossier counter and the latest code date
//!    are advanced in the transaction that stores the dossier, so a crash either used a number
//!    with its dossier or did not use it at all, and a clock set back never reissues a code.
//!
//! # What a crash leaves behind
//! - during a blob write: a file in `tmp/`, cleared when the store is next opened once it is
//!   older than [`blobs::STALE_TMP_AGE`] (young ones may belong to another process);
//! - after the blob, before the transaction: an unreferenced blob, removed by retention later;
//! - during the transaction: nothing (SQLite rolls it back), the citizen was not told;
//! - after commit, before delivery: a pending outbox entry, delivered on the next run;
//! - after the gateway stored it, before `mark_delivered`: a pending entry whose redelivery the
//!   gateway recognises by its idempotency key.
//!
//! Several processes (kioskd and kioskctl) may open the store at once; SQLite's locking and a
//! busy timeout serialise their writes. The store takes its own small settings
//! ([`DeviceIdentity`], the data folder and the free-space floor): it knows nothing of the
//! kiosk's configuration file.

mod applicant;
pub mod blobs;
mod catalog_cache;
mod counter;
mod dossiers;
pub mod error;
mod health;
mod held;
mod hub_fallback;
mod intake;
mod lookup;
pub mod mark;
mod outbox;
mod pin_attempts;
mod provisioning;
mod retention;
mod schema;
pub mod sealing;
mod upload_budget;

use std::path::{Path, PathBuf};
use std::time::Duration;

use motcua_domain::dossier::SequenceRange;
use rusqlite::{Connection, TransactionBehavior};

pub use blobs::{BlobInfo, BlobStore};
pub use dossiers::{DossierSummary, NewDocument};
pub use error::{StoreError, StoreResult};
pub use held::{EntryExport, ExportBlob};
pub use hub_fallback::{HubBlock, OfflineTicket};
pub use intake::{AwaitingSignature, DigitizedOutcome, NewDigitized};
pub use lookup::CachedStatus;
pub use mark::StoreMark;
pub use outbox::{HeldEntry, HoldState, OutboxEntry, OutboxKind, OutboxStatus, UploadState};
pub use pin_attempts::{PinAttempts, PinTry, MAX_LOCKOUT_MS};
pub use provisioning::{next_in_blocks, NumbersLeft};
pub use sealing::DataKey;
pub use upload_budget::BudgetDay;

use error::io_err;

/// Who this kiosk is, as far as the store is concerned: the id it was enrolled with and the
/// agency and block of daily numbers its dossier codes are made of.
#[derive(Debug, Clone)]
pub struct DeviceIdentity {
    /// Unique device id, as enrolled at the gateway.
    pub id: String,
    /// Receiving agency code printed in dossier codes.
    pub agency_code: String,
    /// Block of daily dossier sequence numbers this device may use, when configured by hand
    /// (`[device] sequence_first/last`: legacy kiosks, the demo). `None`: the blocks the
    /// gateway allocated, kept in the store ([`Store::save_sequence_blocks`]).
    pub sequence: Option<SequenceRange>,
}

/// The kiosk's store: database plus blobs.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) db_path: PathBuf,
    pub(crate) blobs: BlobStore,
    /// Seals citizens' data at rest and derives receipt secrets ([`sealing`]).
    pub(crate) data_key: DataKey,
    /// Where the data key was loaded from (named when it no longer matches the database).
    pub(crate) data_key_path: PathBuf,
}

/// Maps a SQLite error to a store error naming the database file.
pub(crate) fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Database {
        path: path.to_owned(),
        source,
    }
}

/// Whether SQLite said another connection holds a lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The kiosk's wall clock in Vietnam time, which every record is stamped with. Store calls take
/// the time as an argument (so tests can use any date); this is what the appliance passes.
pub fn vietnam_now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset())
}

impl Store {
    /// Opens (creating and migrating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path, min_free_bytes: u64) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        let db_path = data_dir.join("kiosk.sqlite3");
        // Switching a new database to WAL and migrating it take locks that SQLite's busy
        // handler does not always wait for when kioskd and kioskctl open the store together:
        // retry the whole setup for a while instead of failing a citizen's submission.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut conn = loop {
            match Self::setup(&db_path) {
                Err(StoreError::Database { source, .. })
                    if is_busy(&source) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20 + rand::random::<u64>() % 30));
                }
                other => break other?,
            }
        };
        let blobs = BlobStore::open(data_dir, min_free_bytes)?;
        let (data_key, data_key_path) = applicant::data_key(&conn, &db_path, data_dir)?;
        applicant::seal_clear_applicants(&mut conn, &db_path, &data_key)?;
        lookup::scrub_stored_hashes(&mut conn, &db_path)?;
        Ok(Self {
            conn,
            db_path,
            blobs,
            data_key,
            data_key_path,
        })
    }

    fn setup(db_path: &Path) -> StoreResult<Connection> {
        let db = db_err(db_path);
        let mut conn = Connection::open(db_path).map_err(&db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(&db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&db)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(&db)?;
        // Purged personal data must not linger in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(&db)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let version: usize = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(&db)?;
        if version > schema::MIGRATIONS.len() {
            return Err(StoreError::Corrupt {
                what: db_path.display().to_string(),
                detail: format!(
                    "schema version {version} is newer than this program ({}); install the newer kiosk software",
                    schema::MIGRATIONS.len()
                ),
            });
        }
        for sql in &schema::MIGRATIONS[version..] {
            tx.execute_batch(sql).map_err(&db)?;
        }
        tx.pragma_update(None, "user_version", schema::MIGRATIONS.len())
            .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(conn)
    }

    /// SQLite's `PRAGMA quick_check`: `Ok` when the database file is sound, else
    /// [`StoreError::Corrupt`] with what SQLite found (the service refuses to start on it).
    pub fn quick_check(&self) -> StoreResult<()> {
        let mut stmt = self.conn.prepare("PRAGMA quick_check").map_err(self.db())?;
        let findings: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.db())?
            .collect::<Result<_, _>>()
            .map_err(self.db())?;
        if findings.len() == 1 && findings[0] == "ok" {
            return Ok(());
        }
        Err(StoreError::Corrupt {
            what: self.db_path.display().to_string(),
            detail: format!("SQLite's quick check found: {}", findings.join("; ")),
        })
    }

    /// The device's data key.
    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The blob files.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    pub(crate) fn db(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        db_err(&self.db_path)
    }
}
