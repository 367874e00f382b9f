//! Retention: what may be deleted, and when (invariant 3). Blobs go only once every record
//! using them was delivered longer than the retention period ago; the applicant's personal data
//! goes then too (its sealed copy, and the WAL is checkpointed so no old page keeps it), and
//! the code, dates and status stay for status lookups.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use rusqlite::TransactionBehavior;

use crate::{db_err, Store, StoreResult};

impl Store {
    /// Deletes what the gateway confirmed longer than `retention` ago: blob files no pending
    /// dossier needs, and the applicant's personal data (the code, dates and status stay for
    /// status lookups). Also deletes orphan blobs that no dossier refers to and that are older
    /// than `retention` (attachments of a dossier that was refused or abandoned before it was
    /// accepted). Runs under the write lock so no dossier can start using a blob being deleted.
    /// Returns the number of blobs deleted.
    pub fn collect_garbage(
        &mut self,
        retention: Duration,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<u64> {
        let cutoff =
            now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(3650));
        let cutoff = cutoff.to_rfc3339();
        let db = db_err(&self.db_path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&db)?;
        let done: Vec<String> = {
            let mut stmt = tx
                .prepare(
                    "SELECT u.sha256 FROM uploads u
                     WHERE u.completed_at IS NOT NULL
                       AND NOT EXISTS (
                         SELECT 1 FROM dossier_documents x JOIN outbox o
                           ON o.kind = 'dossier' AND o.payload = x.dossier_code
                         WHERE x.sha256 = u.sha256
                           AND (o.delivered_at IS NULL OR o.delivered_at > ?1))
                       AND NOT EXISTS (
                         SELECT 1 FROM intake_documents i JOIN outbox o
                           ON o.idempotency_key = i.outbox_key
                         WHERE i.sha256 = u.sha256
                           AND (o.delivered_at IS NULL OR o.delivered_at > ?1))",
                )
                .map_err(&db)?;
            let rows = stmt.query_map([&cutoff], |r| r.get(0)).map_err(&db)?;
            rows.collect::<Result<_, _>>().map_err(&db)?
        };
        let mut deleted = 0;
        for sha in &done {
            self.blobs.remove(sha)?;
            tx.execute("DELETE FROM uploads WHERE sha256 = ?1", [sha])
                .map_err(&db)?;
            deleted += 1;
        }
        for (sha, age) in self.blobs.list()? {
            if age < retention {
                continue;
            }
            let used: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM dossier_documents WHERE sha256 = ?1)
                         OR EXISTS(SELECT 1 FROM intake_documents WHERE sha256 = ?1)",
                    [&sha],
                    |r| r.get(0),
                )
                .map_err(&db)?;
            if !used {
                self.blobs.remove(&sha)?;
                deleted += 1;
            }
        }
        let purged = tx
            .execute(
                r#"UPDATE dossiers SET submission = json_set(submission, '$.applicant',
                 json('{"full_name":"","address":"","phone":"","email":""}')),
                 applicant_sealed = NULL, personal_data_purged = 1
             WHERE personal_data_purged = 0 AND code IN (
               SELECT payload FROM outbox WHERE kind = 'dossier'
               AND delivered_at IS NOT NULL AND delivered_at <= ?1)"#,
                [&cutoff],
            )
            .map_err(&db)?;
        tx.commit().map_err(&db)?;
        if purged > 0 {
            // secure_delete overwrote the old cells in the database file; the WAL still holds
            // the pages as they were until it is checkpointed.
            crate::applicant::checkpoint(&self.conn, &self.db_path)?;
        }
        Ok(deleted)
    }
}
