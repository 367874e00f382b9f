//! Reading a step of the export feed (`super::feed`) on each backend: the last id given out,
//! the step's events with their dossiers and the documents of those events, all from one
//! snapshot (a read transaction on SQLite, REPEATABLE READ on PostgreSQL), so a step never
//! mixes two states of the database. A page of the API is read in several steps, each its own
//! snapshot: no event is lost or repeated between them (ids commit in order, see `feed`), but
//! a dossier's applicant or documents may be newer in a later step than in an earlier one.

use tokio_postgres::IsolationLevel;

use super::feed::{
    document_row, event_row, FeedRows, FEED_DIGITIZED, FEED_DOCUMENTS, FEED_LAST, FEED_PAGE,
};
use super::feed_view::{page, FeedRead};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::Store;
use crate::GatewayError;

impl Store {
    /// Up to `limit` events after the cursor `after`, in cursor order (see `feed_view`).
    pub async fn feed_page(&self, after: i64, limit: i64) -> Result<FeedRead, GatewayError> {
        let rows = match self {
            Store::Sqlite(s) => s.feed_rows(after, limit).await?,
            Store::Postgres(s) => s.feed_rows(after, limit).await?,
        };
        Ok(page(rows, after))
    }
}

impl SqliteStore {
    async fn feed_rows(&self, after: i64, limit: i64) -> Result<FeedRows, GatewayError> {
        self.call("read the export feed", move |c| {
            // A deferred transaction: one read snapshot (WAL), taking no write lock.
            let tx = c.transaction()?;
            let last_id: i64 = tx.query_row(FEED_LAST, [], |r| r.get(0))?;
            if after >= last_id {
                return Ok(FeedRows {
                    last_id,
                    ..FeedRows::default()
                });
            }
            let events = tx
                .prepare(FEED_PAGE)?
                .query_map([after, limit], |r| event_row(r))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let through = events.last().map_or(after, |e| e.id);
            let mut documents = Vec::new();
            for sql in [FEED_DOCUMENTS, FEED_DIGITIZED] {
                documents.extend(
                    tx.prepare(sql)?
                        .query_map([after, through], |r| document_row(r))?
                        .collect::<rusqlite::Result<Vec<_>>>()?,
                );
            }
            Ok(FeedRows {
                last_id,
                events,
                documents,
            })
        })
        .await
    }
}

impl PgStore {
    async fn feed_rows(&self, after: i64, limit: i64) -> Result<FeedRows, GatewayError> {
        let read = self.err("read the export feed");
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(&read)?;
        let last_id: i64 = tx
            .query_one(FEED_LAST, &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(&read)?;
        if after >= last_id {
            return Ok(FeedRows {
                last_id,
                ..FeedRows::default()
            });
        }
        let events = tx
            .query(FEED_PAGE, &[&after, &limit])
            .await
            .map_err(&read)?
            .iter()
            .map(event_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(&read)?;
        let through = events.last().map_or(after, |e| e.id);
        let mut documents = Vec::new();
        for sql in [FEED_DOCUMENTS, FEED_DIGITIZED] {
            documents.extend(
                tx.query(sql, &[&after, &through])
                    .await
                    .map_err(&read)?
                    .iter()
                    .map(document_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(&read)?,
            );
        }
        tx.commit().await.map_err(&read)?;
        Ok(FeedRows {
            last_id,
            events,
            documents,
        })
    }
}
