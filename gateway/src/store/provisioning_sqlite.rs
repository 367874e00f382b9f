//! Provisioning, sequence blocks and remote actions on SQLite: the statements of
//! [`super::provisioning`], each change one `BEGIN IMMEDIATE` transaction (SQLite's write lock
//! serialises them, so a site's block allocations cannot race).

use motcua_domain::provisioning::RemoteAction;
use motcua_domain::provisioning::RemoteActionKind;
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::provisioning::{
    self as p, lowest_free, ActionRow, BlockOutcome, Completion, NewToken, Provision,
    ProvisionOutcome, Standing, TokenRow, MAX_LIVE_BLOCKS,
};
use super::sqlite::SqliteStore;
use super::{queries, NewCertificate};
use crate::GatewayError;

fn insert_cert(tx: &Transaction<'_>, cert: &NewCertificate) -> rusqlite::Result<usize> {
    tx.execute(
        queries::CERT_INSERT,
        params![
            cert.serial,
            cert.role.as_str(),
            cert.name,
            cert.site,
            cert.not_before,
            cert.not_after,
            cert.issued_at,
            cert.issued_us
        ],
    )
}

fn rows_of(
    tx: &Transaction<'_>,
    sql: &str,
    param: &dyn rusqlite::ToSql,
) -> rusqlite::Result<Vec<(i64, i64)>> {
    tx.prepare(sql)?
        .query_map([param], |r| p::block_row(r))?
        .collect()
}

/// Allocates a block of `size` at `site` for `device`; `None` when no gap fits.
fn allocate(
    tx: &Transaction<'_>,
    device: &str,
    site: &str,
    size: u16,
    now: &str,
) -> rusqlite::Result<Option<()>> {
    let taken: Vec<(i64, i64)> = tx
        .prepare(p::BLOCKS_TAKEN)?
        .query_map(params![site, p::vn_day(now)], |r| p::block_row(r))?
        .collect::<rusqlite::Result<_>>()?;
    let Some(block) = lowest_free(&taken, size) else {
        return Ok(None);
    };
    tx.execute(
        p::BLOCK_INSERT,
        params![site, block.first, block.last, device, p::vn_time(now)],
    )?;
    Ok(Some(()))
}

impl SqliteStore {
    pub async fn provisioning_token(&self, sha: &str) -> Result<Option<TokenRow>, GatewayError> {
        let sha = sha.to_string();
        self.call("look up a setup-code token", move |c| {
            c.query_row(p::TOKEN_SELECT, [sha], |r| p::token(r))
                .optional()
        })
        .await
    }

    pub async fn taken_device_ids(&self, now_unix: i64) -> Result<Vec<String>, GatewayError> {
        self.call("list the device ids in use", move |c| {
            c.prepare(p::IDS_TAKEN)?
                .query_map([now_unix], |r| r.get(0))?
                .collect()
        })
        .await
    }

    pub async fn insert_tokens(
        &self,
        tokens: &[NewToken],
        fresh_ids: bool,
        now_unix: i64,
    ) -> Result<bool, GatewayError> {
        let tokens = tokens.to_vec();
        self.call("record setup-code tokens", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if fresh_ids {
                let taken: Vec<String> = tx
                    .prepare(p::IDS_TAKEN)?
                    .query_map([now_unix], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                if tokens.iter().any(|t| taken.contains(&t.device_id)) {
                    return Ok(false);
                }
            }
            for t in &tokens {
                // A newer code for an id supersedes its unused older ones.
                tx.execute(p::TOKENS_WITHDRAW, params![t.issued_at, t.device_id])?;
                tx.execute(
                    p::TOKEN_INSERT,
                    params![
                        t.token_sha256,
                        t.site,
                        t.device_id,
                        t.profile,
                        t.profile_sha256,
                        t.expires_at,
                        t.issued_by,
                        t.issued_at
                    ],
                )?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub async fn provision(&self, req: &Provision) -> Result<ProvisionOutcome, GatewayError> {
        let req = req.clone();
        self.call("provision a device with a setup code", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(token) = tx
                .query_row(p::TOKEN_SELECT, [&req.token_sha256], |r| p::token(r))
                .optional()?
            else {
                return Ok(ProvisionOutcome::Unknown);
            };
            let device = token.device_id.as_str();
            if let Some(used) = &token.used_key_sha256 {
                if *used != req.key_sha256 {
                    return Ok(ProvisionOutcome::UsedByAnother);
                }
                let pending = match &token.cert_serial {
                    Some(serial) => tx
                        .query_row(p::CERT_PENDING, [serial], |_| Ok(serial.clone()))
                        .optional()?,
                    None => None,
                };
                let Some(previous) = pending else {
                    return Ok(ProvisionOutcome::AlreadyDone);
                };
                // Only the newest certificate of a retry is live.
                tx.execute(
                    queries::CERT_REVOKE,
                    params![req.now, p::RETRY_SUPERSEDED, previous],
                )?;
                insert_cert(&tx, &req.cert)?;
                tx.execute(
                    p::TOKEN_RESIGNED,
                    params![req.cert.serial, req.token_sha256],
                )?;
                let blocks = p::blocks(&rows_of(&tx, p::BLOCKS_LIVE, &device)?);
                tx.commit()?;
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
                params![req.now, req.key_sha256, req.cert.serial, req.token_sha256],
            )?;
            let new =
                tx.execute(queries::DEVICE_CREATE, params![device, token.site, req.now])? == 1;
            let revoked: Vec<String> = if new {
                Vec::new()
            } else {
                tx.prepare(queries::DEVICE_CERTS_REVOKE)?
                    .query_map(params![req.now, "re-provisioned", device], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            tx.execute(
                queries::DEVICE_SET_ENROLLED,
                params![token.site, req.now, device],
            )?;
            tx.execute(p::DEVICE_SET_PROFILE, params![token.profile, device])?;
            insert_cert(&tx, &req.cert)?;
            tx.execute(p::BLOCKS_RETIRE, params![p::vn_time(&req.now), device])?;
            if allocate(&tx, device, &token.site, req.block_size, &req.now)?.is_none() {
                // Dropping the transaction rolls everything back: the token stays unused.
                return Ok(ProvisionOutcome::Exhausted);
            }
            let blocks = p::blocks(&rows_of(&tx, p::BLOCKS_LIVE, &device)?);
            tx.commit()?;
            Ok(ProvisionOutcome::Done {
                revoked,
                blocks,
                profile: token.profile,
                retry: false,
            })
        })
        .await
    }

    pub async fn withdraw_setup_codes(
        &self,
        device_id: &str,
        now: &str,
    ) -> Result<u64, GatewayError> {
        let (device, now) = (device_id.to_string(), now.to_string());
        self.call("withdraw setup codes", move |c| {
            let n = c.execute(p::TOKENS_WITHDRAW, params![now, device])?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
        .await
    }

    pub async fn device_standing(
        &self,
        device_id: &str,
        now_unix: i64,
    ) -> Result<Option<Standing>, GatewayError> {
        let device = device_id.to_string();
        self.call("look up a device", move |c| {
            c.query_row(p::DEVICE_STANDING, params![device, now_unix], |r| {
                p::standing(r)
            })
            .optional()
        })
        .await
    }

    pub async fn device_profile(&self, device_id: &str) -> Result<Option<String>, GatewayError> {
        let device = device_id.to_string();
        self.call("read a device's profile", move |c| {
            Ok(c.query_row(p::DEVICE_PROFILE, [device], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()?
            .flatten())
        })
        .await
    }

    pub async fn allocate_block(
        &self,
        device_id: &str,
        site: &str,
        size: u16,
        now: &str,
    ) -> Result<BlockOutcome, GatewayError> {
        let (device, site, now) = (device_id.to_string(), site.to_string(), now.to_string());
        self.call("allocate a sequence block", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if rows_of(&tx, p::BLOCKS_LIVE, &device)?.len() >= MAX_LIVE_BLOCKS {
                return Ok(BlockOutcome::TooMany);
            }
            if allocate(&tx, &device, &site, size, &now)?.is_none() {
                return Ok(BlockOutcome::Exhausted);
            }
            let blocks = p::blocks(&rows_of(&tx, p::BLOCKS_LIVE, &device)?);
            tx.commit()?;
            Ok(BlockOutcome::Blocks(blocks))
        })
        .await
    }

    pub async fn queue_action(
        &self,
        device_id: &str,
        kind: RemoteActionKind,
        technician: &str,
        now: &str,
    ) -> Result<Option<RemoteAction>, GatewayError> {
        let (device, tech, now) = (
            device_id.to_string(),
            technician.to_string(),
            now.to_string(),
        );
        self.call("queue a remote action", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if tx
                .query_row(queries::DEVICE_SITE, [&device], |_| Ok(()))
                .optional()?
                .is_none()
            {
                return Ok(None);
            }
            let id: i64 = tx.query_row(p::ACTION_NEXT_ID, [], |r| r.get(0))?;
            tx.execute(
                p::ACTION_INSERT,
                params![id, device, kind.as_str(), tech, now],
            )?;
            tx.commit()?;
            Ok(Some(RemoteAction {
                id,
                device_id: device,
                kind,
                requested_by: tech,
                requested_at: now,
                completed_at: None,
                result: None,
            }))
        })
        .await
    }

    pub async fn actions(
        &self,
        device_id: &str,
        pending: bool,
    ) -> Result<Vec<ActionRow>, GatewayError> {
        let device = device_id.to_string();
        self.call("list a device's actions", move |c| {
            if pending {
                c.prepare(p::ACTIONS_PENDING)?
                    .query_map([device], |r| p::action_row(r))?
                    .collect()
            } else {
                c.prepare(p::ACTIONS_RECENT)?
                    .query_map(params![device, p::RECENT_ACTIONS], |r| p::action_row(r))?
                    .collect()
            }
        })
        .await
    }

    pub async fn recent_actions(&self, limit: i64) -> Result<Vec<ActionRow>, GatewayError> {
        self.call("list recent actions", move |c| {
            c.prepare(p::ACTIONS_ALL_RECENT)?
                .query_map([limit], |r| p::action_row(r))?
                .collect()
        })
        .await
    }

    pub async fn complete_action(
        &self,
        device_id: &str,
        id: i64,
        result_json: &str,
        now: &str,
    ) -> Result<Completion, GatewayError> {
        let (device, json, now) = (
            device_id.to_string(),
            result_json.to_string(),
            now.to_string(),
        );
        self.call("record an action's result", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(p::ACTION_COMPLETE, params![now, json, id, device])?;
            let known = tx
                .query_row(p::ACTION_EXISTS, params![id, device], |_| Ok(()))
                .optional()?
                .is_some();
            tx.commit()?;
            Ok(if known {
                Completion::Done
            } else {
                Completion::Unknown
            })
        })
        .await
    }
}
