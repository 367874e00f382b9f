//! The statements of status lookups (`super::lookup`) on each backend: counting failures,
//! reading a dossier's site and hash, recording a failure (and pruning old ones) in one
//! transaction.

use rusqlite::{params, OptionalExtension};

use super::lookup::{FAILURES_PRUNE, FAILURES_SINCE, FAILURE_INSERT, LOOKUP_ROW};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use crate::GatewayError;

impl SqliteStore {
    pub(super) async fn failures_since(
        &self,
        scope: &str,
        since_ms: i64,
    ) -> Result<(i64, Option<i64>), GatewayError> {
        let scope = scope.to_string();
        self.call("count failed status lookups", move |c| {
            c.query_row(FAILURES_SINCE, params![scope, since_ms], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await
    }

    pub(super) async fn lookup_row(
        &self,
        code: &str,
    ) -> Result<Option<(String, Option<String>)>, GatewayError> {
        let code = code.to_string();
        self.call("read a dossier's lookup hash", move |c| {
            c.query_row(LOOKUP_ROW, [code], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .await
    }

    pub(super) async fn record_failure(
        &self,
        scopes: &[String; 2],
        now_ms: i64,
        prune_ms: i64,
    ) -> Result<(), GatewayError> {
        let scopes = scopes.clone();
        self.call("record a failed status lookup", move |c| {
            let tx = c.transaction()?;
            for scope in &scopes {
                tx.execute(FAILURE_INSERT, params![scope, now_ms])?;
            }
            tx.execute(FAILURES_PRUNE, [prune_ms])?;
            tx.commit()
        })
        .await
    }
}

impl PgStore {
    pub(super) async fn failures_since(
        &self,
        scope: &str,
        since_ms: i64,
    ) -> Result<(i64, Option<i64>), GatewayError> {
        let read = self.err("count failed status lookups");
        let row = self
            .client()
            .await?
            .query_one(FAILURES_SINCE, &[&scope, &since_ms])
            .await
            .map_err(&read)?;
        Ok((
            row.try_get(0).map_err(&read)?,
            row.try_get(1).map_err(&read)?,
        ))
    }

    pub(super) async fn lookup_row(
        &self,
        code: &str,
    ) -> Result<Option<(String, Option<String>)>, GatewayError> {
        let read = self.err("read a dossier's lookup hash");
        let row = self
            .client()
            .await?
            .query_opt(LOOKUP_ROW, &[&code])
            .await
            .map_err(&read)?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
            .map_err(read)
    }

    pub(super) async fn record_failure(
        &self,
        scopes: &[String; 2],
        now_ms: i64,
        prune_ms: i64,
    ) -> Result<(), GatewayError> {
        let write = self.err("record a failed status lookup");
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(&write)?;
        for scope in scopes {
            tx.execute(FAILURE_INSERT, &[scope, &now_ms])
                .await
                .map_err(&write)?;
        }
        tx.execute(FAILURES_PRUNE, &[&prune_ms])
            .await
            .map_err(&write)?;
        tx.commit().await.map_err(write)
    }
}
