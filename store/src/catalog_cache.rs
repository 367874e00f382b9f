//! The procedure catalog last downloaded from the gateway, so the kiosk serves offline.

use chrono::{DateTime, FixedOffset};
use motcua_domain::catalog::Catalog;
use rusqlite::{params, OptionalExtension};

use crate::{Store, StoreError, StoreResult};

impl Store {
    /// Caches the catalog downloaded from the gateway.
    pub fn save_catalog(
        &self,
        etag: &str,
        body: &str,
        now: DateTime<FixedOffset>,
    ) -> StoreResult<()> {
        self.conn
            .execute(
                "INSERT INTO catalog_cache(id, etag, body, fetched_at) VALUES(1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET etag = excluded.etag, body = excluded.body, fetched_at = excluded.fetched_at",
                params![etag, body, now.to_rfc3339()],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// The cached catalog and its ETag, if one was downloaded.
    pub fn cached_catalog(&self) -> StoreResult<Option<(String, Catalog)>> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT etag, body FROM catalog_cache WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.db())?;
        row.map(|(etag, body)| {
            serde_json::from_str(&body)
                .map(|c| (etag, c))
                .map_err(|e| StoreError::Corrupt {
                    what: "cached catalog".into(),
                    detail: e.to_string(),
                })
        })
        .transpose()
    }

    /// The catalog to use: the gateway's cached copy, else the seed shipped with the software.
    pub fn catalog(&self) -> StoreResult<Catalog> {
        Ok(self
            .cached_catalog()?
            .map(|(_, c)| c)
            .unwrap_or_else(motcua_domain::catalog::seed))
    }
}
