//! Adopting the lookup key at start (issue 14, item 2): the key's fingerprint is recorded at
//! first use and checked at every later start, and rows stored before migration 11 (or by an
//! older gateway meanwhile) are converted from the plain lookup hash to its MAC.
//!
//! Converting a row rewrites three places the plain hash was in: `lookup_sha256` (emptied, the
//! MAC goes to `lookup_mac`), the stored request `body` (its `lookup_sha256` field becomes the
//! MAC, as new deliveries are stored), and the `body_sha256` of the delivery's idempotency key,
//! a SHA-256 of that body from which the hash could be searched too: it becomes the SHA-256 of
//! the new body, which is what a kiosk's retry of that delivery is now compared with. (A body
//! already blanked by the applicant retention no longer matches its `body_sha256`, which then
//! covers applicant data no longer stored, and is left as it is.) Each row is converted in one
//! statement guarded by its old hash, so two gateways converting at once, or a restart halfway,
//! convert each row once; converted rows are those with `lookup_sha256` NULL.

use motcua_domain::wire::DossierSubmission;
use sha2::{Digest, Sha256};

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::Store;
use crate::lookup_key::LookupKey;
use crate::GatewayError;

/// A batch of rows not converted yet: code, plain hash, body, device, idempotency key.
pub(super) const UNCONVERTED: &str =
    "SELECT code, lookup_sha256, body, device_id, idempotency_key FROM dossiers
     WHERE lookup_sha256 IS NOT NULL ORDER BY code LIMIT 500";
/// `$1` MAC, `$2` new body, `$3` code, `$4` the plain hash read.
pub(super) const CONVERT_ROW: &str =
    "UPDATE dossiers SET lookup_mac = $1, body = $2, lookup_sha256 = NULL
     WHERE code = $3 AND lookup_sha256 = $4";
/// `$1` new body hash, `$2` device, `$3` key, `$4` the old body hash.
pub(super) const CONVERT_KEY_HASH: &str = "UPDATE idempotency_keys SET body_sha256 = $1
     WHERE device_id = $2 AND key = $3 AND body_sha256 = $4";
/// `$1` fingerprint, `$2` now: the first key's fingerprint is kept.
pub(super) const FINGERPRINT_INSERT: &str =
    "INSERT INTO lookup_key (id, fingerprint, recorded_at) VALUES (1, $1, $2)
     ON CONFLICT (id) DO NOTHING";
pub(super) const FINGERPRINT_READ: &str = "SELECT fingerprint FROM lookup_key WHERE id = 1";

/// A row as read for conversion.
pub(super) struct Unconverted {
    pub(super) code: String,
    pub(super) plain: String,
    pub(super) body: String,
    pub(super) device_id: String,
    pub(super) key: String,
}

/// A row's new values.
pub(super) struct Converted {
    pub(super) code: String,
    pub(super) plain: String,
    pub(super) mac: String,
    pub(super) body: String,
    pub(super) device_id: String,
    pub(super) key: String,
    pub(super) old_body_sha256: String,
    pub(super) body_sha256: String,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The keyed form of a row: its MAC, and its body re-serialised with the MAC in place of the
/// hash (as `api::ingest` stores a new delivery).
fn convert(key: &LookupKey, row: Unconverted) -> Result<Converted, GatewayError> {
    let mac = key.mac(&row.plain);
    let mut body: DossierSubmission = serde_json::from_str(&row.body).map_err(|e| {
        GatewayError::Config(format!(
            "cannot convert dossier {} to the keyed lookup hash: its stored body is not a \
             dossier ({e})",
            row.code
        ))
    })?;
    body.lookup_sha256 = Some(mac.clone());
    let new_body = serde_json::to_string(&body).map_err(|e| {
        GatewayError::Config(format!("cannot re-serialise dossier {}: {e}", row.code))
    })?;
    Ok(Converted {
        body_sha256: sha256_hex(&new_body),
        old_body_sha256: sha256_hex(&row.body),
        code: row.code,
        plain: row.plain,
        mac,
        body: new_body,
        device_id: row.device_id,
        key: row.key,
    })
}

impl Store {
    /// Records the key's fingerprint if none is, refuses a key other than the recorded one,
    /// then converts every unconverted row (see the module). Returns how many were converted.
    pub(crate) async fn adopt_lookup_key(
        &self,
        key: &LookupKey,
        now: &str,
    ) -> Result<usize, GatewayError> {
        let mine = key.fingerprint();
        let recorded = match self {
            Store::Sqlite(s) => s.record_fingerprint(&mine, now).await?,
            Store::Postgres(s) => s.record_fingerprint(&mine, now).await?,
        };
        if !motcua_domain::lookup_secret::hashes_equal(&recorded, &mine) {
            return Err(GatewayError::Config(format!(
                "khóa tra cứu khác với khóa đã dùng cho cơ sở dữ liệu này; mọi tra cứu sẽ thất \
                 bại / the lookup key (fingerprint {mine}) is not the one this database's \
                 dossiers are keyed with (fingerprint {recorded}): every status lookup would \
                 fail. Give this gateway the same --lookup-key-file (or `lookup-key` \
                 credential) as the other gateways on this database"
            )));
        }
        let mut converted = 0;
        loop {
            let rows = match self {
                Store::Sqlite(s) => s.unconverted().await?,
                Store::Postgres(s) => s.unconverted().await?,
            };
            if rows.is_empty() {
                break;
            }
            let batch = rows
                .into_iter()
                .map(|r| convert(key, r))
                .collect::<Result<Vec<_>, _>>()?;
            converted += batch.len();
            match self {
                Store::Sqlite(s) => s.convert_rows(batch).await?,
                Store::Postgres(s) => s.convert_rows(batch).await?,
            }
        }
        if converted > 0 {
            tracing::info!(
                converted,
                "dossiers' lookup hashes converted to the keyed form"
            );
            // The old values are zeroed in the SQLite file by `secure_delete`; this empties
            // the log of them too.
            self.checkpoint_wal().await?;
        }
        Ok(converted)
    }
}

impl SqliteStore {
    async fn record_fingerprint(&self, mine: &str, now: &str) -> Result<String, GatewayError> {
        let (mine, now) = (mine.to_string(), now.to_string());
        self.call("record the lookup key's fingerprint", move |c| {
            c.execute(FINGERPRINT_INSERT, [&mine, &now])?;
            c.query_row(FINGERPRINT_READ, [], |r| r.get(0))
        })
        .await
    }

    async fn unconverted(&self) -> Result<Vec<Unconverted>, GatewayError> {
        self.call("read unconverted lookup hashes", |c| {
            let mut stmt = c.prepare(UNCONVERTED)?;
            let rows = stmt.query_map([], |r| {
                Ok(Unconverted {
                    code: r.get(0)?,
                    plain: r.get(1)?,
                    body: r.get(2)?,
                    device_id: r.get(3)?,
                    key: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn convert_rows(&self, batch: Vec<Converted>) -> Result<(), GatewayError> {
        self.call("convert lookup hashes", move |c| {
            let tx = c.transaction()?;
            for r in &batch {
                if tx.execute(CONVERT_ROW, [&r.mac, &r.body, &r.code, &r.plain])? == 1 {
                    tx.execute(
                        CONVERT_KEY_HASH,
                        [&r.body_sha256, &r.device_id, &r.key, &r.old_body_sha256],
                    )?;
                }
            }
            tx.commit()
        })
        .await
    }
}

impl PgStore {
    async fn record_fingerprint(&self, mine: &str, now: &str) -> Result<String, GatewayError> {
        let write = self.err("record the lookup key's fingerprint");
        let client = self.client().await?;
        client
            .execute(FINGERPRINT_INSERT, &[&mine, &now])
            .await
            .map_err(&write)?;
        client
            .query_one(FINGERPRINT_READ, &[])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(write)
    }

    async fn unconverted(&self) -> Result<Vec<Unconverted>, GatewayError> {
        let read = self.err("read unconverted lookup hashes");
        let rows = self
            .client()
            .await?
            .query(UNCONVERTED, &[])
            .await
            .map_err(&read)?;
        rows.iter()
            .map(|r| {
                Ok(Unconverted {
                    code: r.try_get(0)?,
                    plain: r.try_get(1)?,
                    body: r.try_get(2)?,
                    device_id: r.try_get(3)?,
                    key: r.try_get(4)?,
                })
            })
            .collect::<Result<_, tokio_postgres::Error>>()
            .map_err(read)
    }

    async fn convert_rows(&self, batch: Vec<Converted>) -> Result<(), GatewayError> {
        let write = self.err("convert lookup hashes");
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(&write)?;
        for r in &batch {
            let n = tx
                .execute(CONVERT_ROW, &[&r.mac, &r.body, &r.code, &r.plain])
                .await
                .map_err(&write)?;
            if n == 1 {
                tx.execute(
                    CONVERT_KEY_HASH,
                    &[&r.body_sha256, &r.device_id, &r.key, &r.old_body_sha256],
                )
                .await
                .map_err(&write)?;
            }
        }
        tx.commit().await.map_err(write)
    }
}
