//! The statements of status lookups (`super::lookup`) on each backend: one transaction that
//! takes the lock of both scopes, counts their failures, reads the dossier's site and keyed
//! hash, and records a failure (pruning old ones) when the secret does not open it.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::lookup::{
    Decision, LookupAttempt, LookupRow, FAILURES_PRUNE, FAILURES_SINCE, FAILURE_INSERT, LOOKUP_ROW,
};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use crate::GatewayError;

/// First key of the two-key advisory locks of lookup scopes (the second is `hashtext(scope)`):
/// two-key locks never meet the one-key migration lock.
const SCOPE_LOCK_CLASS: i32 = 0x6c6b_7570; // "lkup"

impl SqliteStore {
    /// Decides a lookup under SQLite's write lock (`BEGIN IMMEDIATE`), which also serialises
    /// another process on the same file.
    pub(super) async fn decide_lookup(
        &self,
        attempt: LookupAttempt,
    ) -> Result<Decision, GatewayError> {
        self.call("decide a status lookup", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut counts = Vec::with_capacity(attempt.scopes.len());
            for s in &attempt.scopes {
                counts.push(tx.query_row(
                    FAILURES_SINCE,
                    params![s.scope, attempt.since_ms(s)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?);
            }
            if let Some(decision) = attempt.over_limit(&counts) {
                tx.commit()?;
                return Ok(decision);
            }
            let row: Option<LookupRow> = tx
                .query_row(LOOKUP_ROW, [&attempt.code], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            if attempt.opens(row.as_ref()) {
                tx.commit()?;
                return Ok(Decision::Opened);
            }
            for s in &attempt.scopes {
                tx.execute(FAILURE_INSERT, params![s.scope, attempt.now_ms])?;
            }
            tx.execute(FAILURES_PRUNE, [attempt.prune_ms])?;
            tx.commit()?;
            Ok(Decision::Failed)
        })
        .await
    }
}

impl PgStore {
    /// Decides a lookup holding both scopes' transaction advisory locks, taken in the order of
    /// their keys so two lookups never wait for each other in a cycle. Under READ COMMITTED
    /// each statement after the locks sees every failure committed by the lock's last holder.
    pub(super) async fn decide_lookup(
        &self,
        attempt: LookupAttempt,
    ) -> Result<Decision, GatewayError> {
        let write = self.err("decide a status lookup");
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(&write)?;
        let [device, code] = &attempt.scopes;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, h) FROM (
                 SELECT DISTINCT hashtext(s) AS h FROM unnest(ARRAY[$2::TEXT, $3::TEXT]) AS s
                 ORDER BY h) AS ordered",
            &[&SCOPE_LOCK_CLASS, &device.scope, &code.scope],
        )
        .await
        .map_err(&write)?;
        let mut counts = Vec::with_capacity(attempt.scopes.len());
        for s in &attempt.scopes {
            let row = tx
                .query_one(FAILURES_SINCE, &[&s.scope, &attempt.since_ms(s)])
                .await
                .map_err(&write)?;
            counts.push((
                row.try_get(0).map_err(&write)?,
                row.try_get(1).map_err(&write)?,
            ));
        }
        if let Some(decision) = attempt.over_limit(&counts) {
            tx.commit().await.map_err(&write)?;
            return Ok(decision);
        }
        let row: Option<LookupRow> = tx
            .query_opt(LOOKUP_ROW, &[&attempt.code])
            .await
            .map_err(&write)?
            .map(|r| Ok::<_, tokio_postgres::Error>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
            .map_err(&write)?;
        if attempt.opens(row.as_ref()) {
            tx.commit().await.map_err(&write)?;
            return Ok(Decision::Opened);
        }
        for s in &attempt.scopes {
            tx.execute(FAILURE_INSERT, &[&s.scope, &attempt.now_ms])
                .await
                .map_err(&write)?;
        }
        tx.execute(FAILURES_PRUNE, &[&attempt.prune_ms])
            .await
            .map_err(&write)?;
        tx.commit().await.map_err(write)?;
        Ok(Decision::Failed)
    }
}
