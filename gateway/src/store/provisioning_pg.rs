//! Provisioning, sequence blocks and remote actions on PostgreSQL: the statements of
//! [`super::provisioning`] in READ COMMITTED transactions. Two kiosks presenting one token are
//! served one after the other (`TOKEN_LOCK` first); a site's block allocations take a
//! transaction-scoped advisory lock named by the site, so two gateways allocating for one site
//! at once cannot pick overlapping ranges; action ids are drawn under a table lock.

use deadpool_postgres::GenericClient;
use motcua_domain::provisioning::{RemoteAction, RemoteActionKind};
use sha2::{Digest, Sha256};

use super::postgres::PgStore;
use super::provisioning::{
    self as p, lowest_free, ActionRow, BlockOutcome, Completion, NewToken, Provision,
    ProvisionOutcome, Standing, TokenRow, MAX_LIVE_BLOCKS,
};
use super::{queries, NewCertificate};
use crate::GatewayError;

/// The advisory lock key of a site's sequence blocks: the first 8 bytes of SHA-256 of
/// `motcua-blocks:<site>` (a collision only makes two sites wait for each other).
fn site_lock(site: &str) -> i64 {
    let d = Sha256::digest(format!("motcua-blocks:{site}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

/// The advisory lock key under which new device ids are chosen (arbitrary).
const IDS_LOCK: i64 = 0x6d6f_7463_6964;

impl PgStore {
    async fn insert_cert(
        &self,
        client: &impl GenericClient,
        cert: &NewCertificate,
    ) -> Result<(), GatewayError> {
        client
            .execute(
                queries::CERT_INSERT,
                &[
                    &cert.serial,
                    &cert.role.as_str(),
                    &cert.name,
                    &cert.site,
                    &cert.not_before,
                    &cert.not_after,
                    &cert.issued_at,
                    &cert.issued_us,
                ],
            )
            .await
            .map(|_| ())
            .map_err(self.err("record a certificate"))
    }

    async fn block_rows(
        &self,
        client: &impl GenericClient,
        sql: &str,
        key: &str,
    ) -> Result<Vec<(i64, i64)>, GatewayError> {
        let read = self.err("read sequence blocks");
        client
            .query(sql, &[&key])
            .await
            .map_err(&read)?
            .iter()
            .map(p::block_row)
            .collect::<Result<_, _>>()
            .map_err(read)
    }

    /// Allocates a block under the site's lock; `false` when no gap fits.
    async fn allocate(
        &self,
        client: &impl GenericClient,
        device: &str,
        site: &str,
        size: u16,
        now: &str,
    ) -> Result<bool, GatewayError> {
        let e = |a| self.err(a);
        client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&site_lock(site)])
            .await
            .map_err(e("take the site's sequence lock"))?;
        let read = e("read sequence blocks");
        let taken: Vec<(i64, i64)> = client
            .query(p::BLOCKS_TAKEN, &[&site, &p::vn_day(now)])
            .await
            .map_err(&read)?
            .iter()
            .map(p::block_row)
            .collect::<Result<_, _>>()
            .map_err(read)?;
        let Some(block) = lowest_free(&taken, size) else {
            return Ok(false);
        };
        client
            .execute(
                p::BLOCK_INSERT,
                &[
                    &site,
                    &i64::from(block.first),
                    &i64::from(block.last),
                    &device,
                    &p::vn_time(now),
                ],
            )
            .await
            .map_err(e("record a sequence block"))?;
        Ok(true)
    }

    pub async fn provisioning_token(&self, sha: &str) -> Result<Option<TokenRow>, GatewayError> {
        let read = self.err("look up a setup-code token");
        let row = self
            .client()
            .await?
            .query_opt(p::TOKEN_SELECT, &[&sha])
            .await
            .map_err(&read)?;
        row.as_ref().map(p::token).transpose().map_err(read)
    }

    pub async fn taken_device_ids(&self, now_unix: i64) -> Result<Vec<String>, GatewayError> {
        let rows = self
            .client()
            .await?
            .query(p::IDS_TAKEN, &[&now_unix])
            .await
            .map_err(self.err("list the device ids in use"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn insert_tokens(
        &self,
        tokens: &[NewToken],
        fresh_ids: bool,
        now_unix: i64,
    ) -> Result<bool, GatewayError> {
        let e = |a| self.err(a);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        // One sheet at a time chooses new ids, at this gateway or another.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&IDS_LOCK])
            .await
            .map_err(e("take the device-id lock"))?;
        if fresh_ids {
            let taken: Vec<String> = tx
                .query(p::IDS_TAKEN, &[&now_unix])
                .await
                .map_err(e("list the device ids in use"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if tokens.iter().any(|t| taken.contains(&t.device_id)) {
                return Ok(false);
            }
        }
        for t in tokens {
            // A newer code for an id supersedes its unused older ones.
            tx.execute(p::TOKENS_WITHDRAW, &[&t.issued_at, &t.device_id])
                .await
                .map_err(e("withdraw older setup codes"))?;
            tx.execute(
                p::TOKEN_INSERT,
                &[
                    &t.token_sha256,
                    &t.site,
                    &t.device_id,
                    &t.profile,
                    &t.profile_sha256,
                    &t.expires_at,
                    &t.issued_by,
                    &t.issued_at,
                ],
            )
            .await
            .map_err(e("record a setup-code token"))?;
        }
        tx.commit().await.map_err(e("commit setup-code tokens"))?;
        Ok(true)
    }

    pub async fn provision(&self, req: &Provision) -> Result<ProvisionOutcome, GatewayError> {
        let e = |a| self.err(a);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        tx.execute(p::TOKEN_LOCK, &[&req.token_sha256])
            .await
            .map_err(e("lock the token"))?;
        let row = tx
            .query_opt(p::TOKEN_SELECT, &[&req.token_sha256])
            .await
            .map_err(e("read the token"))?;
        let Some(token) = row
            .as_ref()
            .map(p::token)
            .transpose()
            .map_err(e("read the token"))?
        else {
            return Ok(ProvisionOutcome::Unknown);
        };
        let device = token.device_id.as_str();
        if let Some(used) = &token.used_key_sha256 {
            if *used != req.key_sha256 {
                return Ok(ProvisionOutcome::UsedByAnother);
            }
            // The device row's lock first, as every change to its certificates takes it: a
            // renewal or revocation racing this retry waits, or is seen.
            tx.execute(queries::DEVICE_LOCK, &[&device])
                .await
                .map_err(e("lock the device row"))?;
            let pending = match &token.cert_serial {
                Some(serial) => tx
                    .query_opt(p::CERT_PENDING, &[serial])
                    .await
                    .map_err(e("check the certificate of the first use"))?
                    .map(|_| serial.clone()),
                None => None,
            };
            let Some(previous) = pending else {
                return Ok(ProvisionOutcome::AlreadyDone);
            };
            // Only the newest certificate of a retry is live.
            tx.execute(
                queries::CERT_REVOKE,
                &[&req.now, &p::RETRY_SUPERSEDED, &previous],
            )
            .await
            .map_err(e("revoke the certificate a retry supersedes"))?;
            self.insert_cert(&tx, &req.cert).await?;
            tx.execute(p::TOKEN_RESIGNED, &[&req.cert.serial, &req.token_sha256])
                .await
                .map_err(e("record the certificate of a retry"))?;
            let blocks = p::blocks(&self.block_rows(&tx, p::BLOCKS_LIVE, device).await?);
            tx.commit()
                .await
                .map_err(e("commit a provisioning retry"))?;
            return Ok(ProvisionOutcome::Done {
                revoked: vec![previous],
                blocks,
                profile: token.profile,
                retry: true,
            });
        }
        if token.withdrawn {
            return Ok(ProvisionOutcome::Withdrawn);
        }
        if token.expires_at <= req.now_unix {
            return Ok(ProvisionOutcome::Expired);
        }
        tx.execute(
            p::TOKEN_TAKE,
            &[
                &req.now,
                &req.key_sha256,
                &req.cert.serial,
                &req.token_sha256,
            ],
        )
        .await
        .map_err(e("take the token"))?;
        let new = tx
            .execute(queries::DEVICE_CREATE, &[&device, &token.site, &req.now])
            .await
            .map_err(e("record the device"))?
            == 1;
        let revoked: Vec<String> = if new {
            Vec::new()
        } else {
            tx.execute(queries::DEVICE_LOCK, &[&device])
                .await
                .map_err(e("lock the device row"))?;
            tx.query(
                queries::DEVICE_CERTS_REVOKE,
                &[&req.now, &"re-provisioned", &device],
            )
            .await
            .map_err(e("revoke the device's older certificates"))?
            .iter()
            .map(|r| r.get(0))
            .collect()
        };
        tx.execute(
            queries::DEVICE_SET_ENROLLED,
            &[&token.site, &req.now, &device],
        )
        .await
        .map_err(e("record the device enrolment"))?;
        tx.execute(p::DEVICE_SET_PROFILE, &[&token.profile, &device])
            .await
            .map_err(e("record the device's profile"))?;
        self.insert_cert(&tx, &req.cert).await?;
        tx.execute(p::BLOCKS_RETIRE, &[&p::vn_time(&req.now), &device])
            .await
            .map_err(e("retire the device's blocks"))?;
        if !self
            .allocate(&tx, device, &token.site, req.block_size, &req.now)
            .await?
        {
            // Dropping the transaction rolls everything back: the token stays unused.
            return Ok(ProvisionOutcome::Exhausted);
        }
        let blocks = p::blocks(&self.block_rows(&tx, p::BLOCKS_LIVE, device).await?);
        tx.commit().await.map_err(e("commit a provisioning"))?;
        Ok(ProvisionOutcome::Done {
            revoked,
            blocks,
            profile: token.profile,
            retry: false,
        })
    }

    pub async fn withdraw_setup_codes(
        &self,
        device_id: &str,
        now: &str,
    ) -> Result<u64, GatewayError> {
        self.client()
            .await?
            .execute(p::TOKENS_WITHDRAW, &[&now, &device_id])
            .await
            .map_err(self.err("withdraw setup codes"))
    }

    pub async fn device_standing(
        &self,
        device_id: &str,
        now_unix: i64,
    ) -> Result<Option<Standing>, GatewayError> {
        let read = self.err("look up a device");
        let row = self
            .client()
            .await?
            .query_opt(p::DEVICE_STANDING, &[&device_id, &now_unix])
            .await
            .map_err(&read)?;
        row.as_ref().map(p::standing).transpose().map_err(read)
    }

    pub async fn device_profile(&self, device_id: &str) -> Result<Option<String>, GatewayError> {
        let row = self
            .client()
            .await?
            .query_opt(p::DEVICE_PROFILE, &[&device_id])
            .await
            .map_err(self.err("read a device's profile"))?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
    }

    pub async fn allocate_block(
        &self,
        device_id: &str,
        site: &str,
        size: u16,
        now: &str,
    ) -> Result<BlockOutcome, GatewayError> {
        let e = |a| self.err(a);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        tx.execute(queries::DEVICE_LOCK, &[&device_id])
            .await
            .map_err(e("lock the device row"))?;
        if self.block_rows(&tx, p::BLOCKS_LIVE, device_id).await?.len() >= MAX_LIVE_BLOCKS {
            return Ok(BlockOutcome::TooMany);
        }
        if !self.allocate(&tx, device_id, site, size, now).await? {
            return Ok(BlockOutcome::Exhausted);
        }
        let blocks = p::blocks(&self.block_rows(&tx, p::BLOCKS_LIVE, device_id).await?);
        tx.commit().await.map_err(e("commit a block allocation"))?;
        Ok(BlockOutcome::Blocks(blocks))
    }

    pub async fn queue_action(
        &self,
        device_id: &str,
        kind: RemoteActionKind,
        technician: &str,
        now: &str,
    ) -> Result<Option<RemoteAction>, GatewayError> {
        let e = |a| self.err(a);
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        if tx
            .query_opt(queries::DEVICE_SITE, &[&device_id])
            .await
            .map_err(e("look up the device"))?
            .is_none()
        {
            return Ok(None);
        }
        tx.batch_execute("LOCK TABLE device_actions IN EXCLUSIVE MODE")
            .await
            .map_err(e("lock the actions"))?;
        let id: i64 = tx
            .query_one(p::ACTION_NEXT_ID, &[])
            .await
            .map_err(e("draw an action id"))?
            .get(0);
        tx.execute(
            p::ACTION_INSERT,
            &[&id, &device_id, &kind.as_str(), &technician, &now],
        )
        .await
        .map_err(e("queue an action"))?;
        tx.commit().await.map_err(e("commit an action"))?;
        Ok(Some(RemoteAction {
            id,
            device_id: device_id.to_string(),
            kind,
            requested_by: technician.to_string(),
            requested_at: now.to_string(),
            completed_at: None,
            result: None,
        }))
    }

    async fn action_rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<ActionRow>, GatewayError> {
        let read = self.err("list actions");
        self.client()
            .await?
            .query(sql, params)
            .await
            .map_err(&read)?
            .iter()
            .map(p::action_row)
            .collect::<Result<_, _>>()
            .map_err(read)
    }

    pub async fn actions(
        &self,
        device_id: &str,
        pending: bool,
    ) -> Result<Vec<ActionRow>, GatewayError> {
        if pending {
            self.action_rows(p::ACTIONS_PENDING, &[&device_id]).await
        } else {
            self.action_rows(p::ACTIONS_RECENT, &[&device_id, &p::RECENT_ACTIONS])
                .await
        }
    }

    pub async fn recent_actions(&self, limit: i64) -> Result<Vec<ActionRow>, GatewayError> {
        self.action_rows(p::ACTIONS_ALL_RECENT, &[&limit]).await
    }

    pub async fn complete_action(
        &self,
        device_id: &str,
        id: i64,
        result_json: &str,
        now: &str,
    ) -> Result<Completion, GatewayError> {
        let e = |a| self.err(a);
        let client = self.client().await?;
        client
            .execute(p::ACTION_COMPLETE, &[&now, &result_json, &id, &device_id])
            .await
            .map_err(e("record an action's result"))?;
        let known = client
            .query_opt(p::ACTION_EXISTS, &[&id, &device_id])
            .await
            .map_err(e("look up an action"))?
            .is_some();
        Ok(if known {
            Completion::Done
        } else {
            Completion::Unknown
        })
    }
}
