//! PostgreSQL backend (production): a deadpool connection pool, READ COMMITTED transactions and
//! `INSERT … ON CONFLICT DO NOTHING` so that two gateways behind a load balancer receiving the
//! same retry at once still store it exactly once (the second insert waits for the first commit,
//! then sees the row). Migrations take an advisory lock so concurrent starts apply them once.

use bytes::BytesMut;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use motcua_domain::wire::{DossierStatus, DossierStatusView};
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::NoTls;

use super::authorization::{self, BLOB_SITE_INSERT, BLOB_SIZE_OF_SITE};
use super::feed;
use super::ingest;
use super::limits::{self, UploadCreation, UploadQuota};
use super::value::{sql_int, Value};
use super::{
    pending_migrations, queries, status_name, status_view, Ingest, IngestOutcome, Stats, Upload,
};
use std::path::Path;

use crate::error::redact_url;
use crate::GatewayError;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Arbitrary constant naming the migration advisory lock.
const MIGRATION_LOCK: i64 = 0x6d6f_7463_7561;

pub(crate) struct PgStore {
    url: String,
    pool: Pool,
}

impl PgStore {
    /// Connects (over TLS when the URL's `sslmode` asks for it, see [`tls_wanted`]) and
    /// migrates. `ca_file` adds a CA to the system's roots for verifying the server.
    pub async fn open(url: &str, ca_file: Option<&Path>) -> Result<Self, GatewayError> {
        let shown = redact_url(url);
        let (url, tls) = tls_wanted(url);
        let config: tokio_postgres::Config =
            url.parse().map_err(
                |e: tokio_postgres::Error| GatewayError::InvalidDatabaseUrl {
                    url: shown.clone(),
                    reason: e.to_string(),
                },
            )?;
        let manager_config = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if tls {
            let connector = crate::tls::postgres_connector(ca_file)?;
            Manager::from_config(config, connector, manager_config())
        } else {
            Manager::from_config(config, NoTls, manager_config())
        };
        let pool = Pool::builder(manager).max_size(16).build().map_err(|e| {
            GatewayError::ConnectPostgres {
                url: shown.clone(),
                reason: e.to_string(),
            }
        })?;
        tracing::info!(url = %shown, tls, "PostgreSQL connection settings");
        let store = Self { url: shown, pool };
        store.migrate().await?;
        Ok(store)
    }

    pub(super) fn err(
        &self,
        action: &'static str,
    ) -> impl Fn(tokio_postgres::Error) -> GatewayError + '_ {
        move |source| GatewayError::Postgres {
            url: self.url.clone(),
            action,
            source,
        }
    }

    /// See `feed::FeedCounterMissing`.
    fn counter_missing(&self) -> GatewayError {
        GatewayError::FeedCounterMissing {
            location: self.url.clone(),
        }
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, GatewayError> {
        self.pool
            .get()
            .await
            .map_err(|e| GatewayError::ConnectPostgres {
                url: self.url.clone(),
                reason: with_causes(&e),
            })
    }

    async fn migrate(&self) -> Result<(), GatewayError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start the schema migration"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(self.err("take the migration lock"))?;
        tx.batch_execute(queries::SCHEMA_VERSION_CREATE)
            .await
            .map_err(self.err("create the schema_version table"))?;
        let current: i64 = tx
            .query_one(queries::SCHEMA_VERSION_CURRENT, &[])
            .await
            .map_err(self.err("read the schema version"))?
            .get(0);
        for (version, sql) in pending_migrations(current, || self.url.clone())? {
            tx.batch_execute(sql)
                .await
                .map_err(self.err("apply a schema migration"))?;
            tx.execute(
                queries::SCHEMA_VERSION_RECORD,
                &[version, &chrono::Utc::now().to_rfc3339()],
            )
            .await
            .map_err(self.err("record a schema migration"))?;
            tracing::info!(url = %self.url, version, "applied PostgreSQL schema migration");
        }
        tx.commit()
            .await
            .map_err(self.err("commit the schema migration"))
    }

    pub async fn create_upload(
        &self,
        upload: &Upload,
        now: &str,
        quota: &UploadQuota,
    ) -> Result<UploadCreation, GatewayError> {
        let u = upload.clone();
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start a transaction"))?;
        let limit = self.err("check a device's upload limits");
        // The device row's lock: another gateway creating an upload for this device waits
        // here, then counts this one.
        tx.execute(queries::DEVICE_LOCK, &[&u.device_id])
            .await
            .map_err(&limit)?;
        let same = tx
            .query_opt(
                limits::UPLOAD_OPEN_SAME,
                &[
                    &u.device_id,
                    &u.sha256,
                    &sql_int(u.length),
                    &quota.live_since_unix,
                ],
            )
            .await
            .map_err(&limit)?;
        if let Some(same) = same
            .as_ref()
            .map(queries::upload)
            .transpose()
            .map_err(&limit)?
        {
            // The device asks again for a blob it is uploading (a lost 201, a restart
            // after a checksum mismatch): its upload, not another open one.
            tx.execute(limits::UPLOAD_TOUCH, &[&quota.now_unix, &same.id])
                .await
                .map_err(&limit)?;
            tx.commit().await.map_err(self.err("commit a new upload"))?;
            return Ok(UploadCreation::Created(same));
        }
        let open: i64 = tx
            .query_one(limits::OPEN_UPLOADS, &[&u.device_id])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(&limit)?;
        if open >= quota.max_open {
            return Ok(UploadCreation::TooManyOpen(open));
        }
        let reserved = tx
            .query_opt(
                limits::UPLOAD_BYTES_RESERVE,
                &[
                    &u.device_id,
                    &quota.day,
                    &sql_int(u.length),
                    &quota.bytes_per_day_sql(),
                ],
            )
            .await
            .map_err(&limit)?
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()
            .map_err(&limit)?;
        if reserved.is_none_or(|b| b > quota.bytes_per_day_sql()) {
            let spent: i64 = tx
                .query_one(limits::UPLOAD_BYTES_OF_DAY, &[&u.device_id, &quota.day])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(&limit)?;
            return Ok(UploadCreation::DailyBytesSpent(spent.max(0).unsigned_abs()));
        }
        tx.execute(
            queries::UPLOAD_INSERT,
            &[
                &u.id,
                &u.device_id,
                &u.sha256,
                &sql_int(u.length),
                &sql_int(u.offset),
                &u.complete,
                &now,
                &u.site,
                &quota.now_unix,
            ],
        )
        .await
        .map_err(self.err("create an upload"))?;
        tx.commit().await.map_err(self.err("commit a new upload"))?;
        Ok(UploadCreation::Created(u))
    }

    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, GatewayError> {
        let read = self.err("read an upload");
        let row = self
            .client()
            .await?
            .query_opt(queries::UPLOAD_SELECT, &[&id])
            .await
            .map_err(&read)?;
        row.as_ref().map(queries::upload).transpose().map_err(read)
    }

    #[cfg(test)]
    pub async fn set_upload_offset(
        &self,
        id: &str,
        offset: u64,
        now_unix: i64,
    ) -> Result<(), GatewayError> {
        self.client()
            .await?
            .execute(
                queries::UPLOAD_SET_OFFSET,
                &[&sql_int(offset), &now_unix, &id],
            )
            .await
            .map(|_| ())
            .map_err(self.err("record an upload offset"))
    }

    pub async fn complete_upload(&self, u: &Upload, now: &str) -> Result<(), GatewayError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start a transaction"))?;
        tx.execute(queries::BLOB_INSERT, &[&u.sha256, &sql_int(u.length), &now])
            .await
            .map_err(self.err("record a blob"))?;
        tx.execute(BLOB_SITE_INSERT, &[&u.sha256, &u.site])
            .await
            .map_err(self.err("record a blob's site"))?;
        tx.execute(queries::UPLOAD_MARK_COMPLETE, &[&u.id])
            .await
            .map_err(self.err("mark an upload complete"))?;
        tx.commit()
            .await
            .map_err(self.err("commit a completed upload"))
    }

    pub async fn blob_exists(&self, sha256: &str) -> Result<bool, GatewayError> {
        let client = self.client().await?;
        self.blob_exists_on(&client, sha256).await
    }

    async fn blob_exists_on(
        &self,
        client: &impl GenericClient,
        sha256: &str,
    ) -> Result<bool, GatewayError> {
        Ok(client
            .query_opt(queries::BLOB_EXISTS, &[&sha256])
            .await
            .map_err(self.err("look up a blob"))?
            .is_some())
    }

    pub async fn ingest(&self, ing: &Ingest) -> Result<IngestOutcome, GatewayError> {
        let plan = ingest::plan(ing);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start a transaction"))?;
        // Claim the key first: a concurrent claim of the same key waits here for our commit.
        let claimed = tx
            .execute_raw(plan.claim.sql, &plan.claim.params)
            .await
            .map_err(self.err(plan.claim.action))?;
        if claimed == 0 {
            drop(tx);
            let read = self.err("read an idempotency key");
            let row = client
                .query_one(queries::IDEMPOTENCY_KEY_SELECT, &[&ing.device_id, &ing.key])
                .await
                .map_err(&read)?;
            return Ok(ingest::replay(
                ing,
                &queries::stored_key(&row).map_err(read)?,
            ));
        }
        for check in &plan.checks {
            let read = self.err("check an ingest");
            let (sql, values) = check.query(ing);
            let values: Vec<&(dyn ToSql + Sync)> =
                values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
            let row = tx.query_one(sql, &values).await.map_err(&read)?;
            let found: Option<String> = row.try_get(0).map_err(&read)?;
            let count: i64 = row.try_get(1).map_err(&read)?;
            if let Some(refusal) = check.refusal(ing, found, count) {
                return Ok(refusal);
            }
        }
        let mut sizes = Vec::new();
        for (sha, _) in &plan.needs_blobs {
            let read = self.err("look up a blob");
            let row = tx
                .query_opt(BLOB_SIZE_OF_SITE, &[sha, &ing.site])
                .await
                .map_err(&read)?;
            sizes.push(match row {
                Some(row) => Some(row.try_get::<_, i64>(0).map_err(&read)?),
                None => None,
            });
        }
        if let Some(refusal) = authorization::blob_refusal(&plan.needs_blobs, &sizes) {
            return Ok(refusal);
        }
        for insert in plan.inserts {
            let n = tx
                .execute_raw(insert.sql, &insert.params)
                .await
                .map_err(self.err(insert.action))?;
            if let Some(outcome) = insert
                .if_none
                .after(n)
                .map_err(|_| self.counter_missing())?
            {
                return Ok(outcome);
            }
        }
        tx.commit().await.map_err(self.err("commit an ingest"))?;
        Ok(IngestOutcome::Created)
    }

    pub async fn dossier_status(
        &self,
        code: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let client = self.client().await?;
        self.read_status(&client, code).await
    }

    async fn read_status(
        &self,
        client: &impl GenericClient,
        code: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let read = self.err("read a dossier status");
        let Some(row) = client
            .query_opt(queries::DOSSIER_SELECT, &[&code])
            .await
            .map_err(&read)?
        else {
            return Ok(None);
        };
        let row = queries::dossier_row(&row).map_err(&read)?;
        let documents = client
            .query(queries::DOCUMENTS_SELECT, &[&code])
            .await
            .map_err(&read)?
            .iter()
            .map(queries::document)
            .collect::<Result<_, _>>()
            .map_err(&read)?;
        let digitized = client
            .query(queries::DIGITIZED_SELECT, &[&code])
            .await
            .map_err(&read)?
            .iter()
            .map(queries::digitized)
            .collect::<Result<_, _>>()
            .map_err(&read)?;
        Ok(Some(status_view(
            code.to_string(),
            row,
            documents,
            digitized,
        )))
    }

    pub async fn set_dossier_status(
        &self,
        code: &str,
        status: DossierStatus,
        now: &str,
    ) -> Result<Option<DossierStatusView>, GatewayError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(self.err("start a transaction"))?;
        let change = self.err("change a dossier status");
        // The dossier's row lock first: a concurrent change of it waits, then compares with
        // the status this one leaves.
        let Some(before) = tx
            .query_opt(feed::DOSSIER_STATUS_HOLD, &[&code])
            .await
            .map_err(&change)?
        else {
            return Ok(None);
        };
        let before: String = before.try_get(0).map_err(&change)?;
        let new = status_name(status);
        tx.execute(queries::DOSSIER_SET_STATUS, &[&new, &now, &code])
            .await
            .map_err(&change)?;
        let finished = limits::is_finished(status).then(|| chrono::Utc::now().timestamp());
        tx.execute(limits::DOSSIER_FINISHED, &[&finished, &code])
            .await
            .map_err(self.err("record when a dossier finished"))?;
        let view = self.read_status(&tx, code).await?;
        if before != new {
            // Last, as in an ingest (the counter row is held only for the commit); a repeated
            // status (a retry) is no event.
            let append = self.err("append a feed event");
            let next = tx.execute(feed::FEED_NEXT, &[]).await.map_err(&append)?;
            let added = tx
                .execute(
                    feed::FEED_APPEND,
                    &[&feed::STATUS_CHANGED, &"", &"", &now, &code],
                )
                .await
                .map_err(&append)?;
            // Returning drops the transaction, which rolls it back.
            feed::appended(next, added).map_err(|_| self.counter_missing())?;
        }
        tx.commit()
            .await
            .map_err(self.err("commit a status change"))?;
        Ok(view)
    }

    pub async fn stats(&self) -> Result<Stats, GatewayError> {
        let count = self.err("count stored records");
        let row = self
            .client()
            .await?
            .query_one(queries::STATS, &[])
            .await
            .map_err(&count)?;
        queries::stats(&row).map_err(count)
    }
}

impl queries::Columns for tokio_postgres::Row {
    type Error = tokio_postgres::Error;
    fn text(&self, i: usize) -> Result<String, tokio_postgres::Error> {
        self.try_get(i)
    }
    fn int(&self, i: usize) -> Result<i64, tokio_postgres::Error> {
        self.try_get(i)
    }
    fn flag(&self, i: usize) -> Result<bool, tokio_postgres::Error> {
        self.try_get(i)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, tokio_postgres::Error> {
        self.try_get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, tokio_postgres::Error> {
        self.try_get(i)
    }
}

/// A planned parameter is a `TEXT` or a `BIGINT`; the checks are those of `String` and `i64`.
impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Text(s) => s.to_sql(ty, out),
            Value::Int(i) => i.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <String as ToSql>::accepts(ty) || <i64 as ToSql>::accepts(ty)
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Text(s) => s.to_sql_checked(ty, out),
            Value::Int(i) => i.to_sql_checked(ty, out),
        }
    }
}

/// An error with its causes (the pool says only "error performing TLS handshake"; the reason,
/// e.g. an unknown issuer, is further down), and what to do about an unverifiable server.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    if text.contains("certificate") {
        text.push_str(
            " (the server's certificate could not be verified: give the CA that signed it with \
             --database-ca-file, or check the host name in the URL)",
        );
    }
    text
}

/// Whether a database URL asks for TLS, and the URL as the driver reads it. `sslmode=require`,
/// `verify-ca` and `verify-full` mean TLS, and the server's certificate is always verified
/// (against the system's roots and `--database-ca-file`): a link that carries citizens' records
/// is not encrypted to whoever answers. The driver knows only `require`, so the `verify-*`
/// modes are passed on as that. No `sslmode`, `disable` or `prefer`: plain TCP, as before.
pub(crate) fn tls_wanted(url: &str) -> (String, bool) {
    let mut tls = false;
    let mut out = url.to_string();
    for mode in ["verify-full", "verify-ca", "require"] {
        let needle = format!("sslmode={mode}");
        if let Some(at) = out.find(&needle) {
            let end = at + needle.len();
            let bounded = out[end..]
                .chars()
                .next()
                .is_none_or(|c| c == '&' || c.is_whitespace());
            if bounded {
                tls = true;
                out.replace_range(at..end, "sslmode=require");
                break;
            }
        }
    }
    (out, tls)
}

#[cfg(test)]
mod tests {
    use super::tls_wanted;

    #[test]
    fn sslmode_decides_tls() {
        let plain = "postgres://u@h/db";
        assert_eq!(tls_wanted(plain), (plain.to_string(), false));
        assert!(!tls_wanted("postgres://u@h/db?sslmode=disable").1);
        assert!(!tls_wanted("postgres://u@h/db?sslmode=prefer").1);
        let (url, tls) = tls_wanted("postgres://u@h/db?sslmode=require");
        assert!(tls);
        assert_eq!(url, "postgres://u@h/db?sslmode=require");
        let (url, tls) = tls_wanted("postgres://u@h/db?sslmode=verify-full&connect_timeout=5");
        assert!(tls);
        assert_eq!(url, "postgres://u@h/db?sslmode=require&connect_timeout=5");
        let (url, tls) = tls_wanted("host=h user=u sslmode=verify-ca dbname=d");
        assert!(tls);
        assert_eq!(url, "host=h user=u sslmode=require dbname=d");
        assert!(!tls_wanted("postgres://u@h/db?sslmode=requirex").1);
        // Both readings parse.
        for url in [
            "postgres://u@h/db?sslmode=verify-full",
            "host=h sslmode=verify-ca",
        ] {
            let (url, _) = tls_wanted(url);
            url.parse::<tokio_postgres::Config>().expect("parses");
        }
    }
}
