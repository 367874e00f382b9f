//! Provisioning with setup codes, dossier sequence blocks and remote actions: the schema
//! (migration 5), the SQL both backends run, the rules they share, and the [`super::Store`]
//! calls. The transactions themselves, which differ only in how they are opened and locked,
//! are in `provisioning_sqlite.rs` and `provisioning_pg.rs`.
//!
//! What the tables promise:
//! - a setup code's token is kept only as its SHA-256; it is taken once, in the transaction that
//!   enrols the device, and bound to the SHA-256 of the kiosk's public key, so the same kiosk
//!   may present it again (a lost answer) and no other key ever can. A retry is served only
//!   while the certificate last signed with the token (`cert_serial`) is live and was never
//!   used: a kiosk that got its answer, a device revoked since, or a box replaced under the
//!   same id (its certificates revoked) cannot get a certificate again from an old token;
//! - the sequence blocks of one site never overlap on any day: a block is retired, never
//!   deleted, and its range is allocated again only from the Vietnam day after its retirement
//!   (dossier codes carry their date, so the old box's numbers and the new holder's differ by
//!   date). A kiosk replaced under the same device id gets a fresh block, since the old box may
//!   have issued numbers of its blocks today;
//! - a remote action is completed once: a repeated result changes nothing.

use motcua_domain::provisioning::{
    RemoteAction, RemoteActionKind, RemoteActionResult, SequenceBlock,
};

use super::{queries, NewCertificate};
use crate::GatewayError;

/// The largest dossier sequence number of a day (`XXXX` of the dossier code).
pub(crate) const SEQUENCE_MAX: u16 = 9999;
/// Live blocks a device may hold at once; a kiosk asking for more is refused (it is burning
/// numbers far faster than any desk receives dossiers, or looping).
pub(crate) const MAX_LIVE_BLOCKS: usize = 8;
/// Actions listed per device for a technician (`GET /v1/admin/devices/{id}/actions`).
pub(crate) const RECENT_ACTIONS: i64 = 20;

/// Schema of provisioning (migration 5, shared by both backends). `devices.profile` is the
/// profile named by the token the device was last provisioned with (none for a device enrolled
/// with the enrolment key).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE provisioning_tokens (
    token_sha256 TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    device_id TEXT NOT NULL,
    profile TEXT NOT NULL,
    profile_sha256 TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    issued_by TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    used_at TEXT,
    used_key_sha256 TEXT,
    cert_serial TEXT
);
CREATE INDEX provisioning_tokens_by_device ON provisioning_tokens(device_id);
CREATE TABLE sequence_blocks (
    site TEXT NOT NULL,
    first_number BIGINT NOT NULL,
    last_number BIGINT NOT NULL,
    device_id TEXT NOT NULL,
    allocated_at TEXT NOT NULL,
    retired_at TEXT,
    PRIMARY KEY (site, first_number)
);
CREATE INDEX sequence_blocks_by_device ON sequence_blocks(device_id);
CREATE TABLE device_actions (
    id BIGINT PRIMARY KEY,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    completed_at TEXT,
    result TEXT
);
CREATE INDEX device_actions_by_device ON device_actions(device_id, id);
ALTER TABLE devices ADD COLUMN profile TEXT;
"#;

/// Migration 7: a setup code's token can be withdrawn while unused (the device revoked, a
/// newer code issued for its id, or a technician's withdrawal); a withdrawn token never
/// enrols anything. A retired block's range is allocated again from the day after its
/// retirement, its row kept: `sequence_blocks` is keyed by allocation time too.
pub(crate) const MIGRATION_7: &str = r#"
ALTER TABLE provisioning_tokens ADD COLUMN withdrawn_at TEXT;
CREATE TABLE sequence_blocks_v7 (
    site TEXT NOT NULL,
    first_number BIGINT NOT NULL,
    last_number BIGINT NOT NULL,
    device_id TEXT NOT NULL,
    allocated_at TEXT NOT NULL,
    retired_at TEXT,
    PRIMARY KEY (site, first_number, allocated_at)
);
INSERT INTO sequence_blocks_v7 (site, first_number, last_number, device_id, allocated_at,
    retired_at)
    SELECT site, first_number, last_number, device_id, allocated_at, retired_at
    FROM sequence_blocks;
DROP TABLE sequence_blocks;
ALTER TABLE sequence_blocks_v7 RENAME TO sequence_blocks;
CREATE INDEX sequence_blocks_by_device ON sequence_blocks(device_id);
"#;

// --- the SQL (placeholders numbered in order of appearance, see `queries`)

/// `$1` token digest, `$2` site, `$3` device id, `$4` profile, `$5` its SHA-256, `$6` expiry
/// (Unix s), `$7` technician, `$8` now.
pub(super) const TOKEN_INSERT: &str = "INSERT INTO provisioning_tokens (token_sha256, site,
     device_id, profile, profile_sha256, expires_at, issued_by, issued_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
/// `$1` token digest, read with [`token`].
pub(super) const TOKEN_SELECT: &str = "SELECT site, device_id, profile, profile_sha256,
     expires_at, used_key_sha256, cert_serial, withdrawn_at FROM provisioning_tokens
     WHERE token_sha256 = $1";
/// `$1` token digest: takes the token row's lock (a no-op update), so two kiosks presenting
/// one token at once are served one after the other.
pub(super) const TOKEN_LOCK: &str =
    "UPDATE provisioning_tokens SET token_sha256 = token_sha256 WHERE token_sha256 = $1";
/// `$1` now, `$2` key digest, `$3` serial signed, `$4` token digest.
pub(super) const TOKEN_TAKE: &str = "UPDATE provisioning_tokens SET used_at = $1,
     used_key_sha256 = $2, cert_serial = $3 WHERE token_sha256 = $4 AND used_at IS NULL AND withdrawn_at IS NULL";
/// `$1` serial signed on a retry, `$2` token digest.
pub(super) const TOKEN_RESIGNED: &str =
    "UPDATE provisioning_tokens SET cert_serial = $1 WHERE token_sha256 = $2";
/// Why a retry's earlier certificate is revoked (only the newest one signed is live).
pub(super) const RETRY_SUPERSEDED: &str = "superseded by a provisioning retry";
/// `$1` serial: whether it is live and never used (a retry's condition).
pub(super) const CERT_PENDING: &str = "SELECT 1 FROM certificates WHERE serial = $1
     AND revoked_at IS NULL AND first_used_at IS NULL";
/// `$1` now (Unix s): the device ids that new ids must not take (known devices and slots of
/// unexpired, unused tokens).
pub(super) const IDS_TAKEN: &str = "SELECT device_id FROM devices UNION
     SELECT device_id FROM provisioning_tokens WHERE expires_at > $1 AND used_at IS NULL
     AND withdrawn_at IS NULL";
/// `$1` now, `$2` device id: withdraws the device's unused tokens (the count is how many).
pub(super) const TOKENS_WITHDRAW: &str = "UPDATE provisioning_tokens SET withdrawn_at = $1
     WHERE device_id = $2 AND used_at IS NULL AND withdrawn_at IS NULL";
/// `$1` device id, `$2` now (Unix s): the known device's site and how many of its
/// certificates are live (not revoked, not expired), read with [`standing`].
pub(super) const DEVICE_STANDING: &str = "SELECT site, (SELECT COUNT(*) FROM certificates
     WHERE role = 'device' AND name = $1 AND revoked_at IS NULL AND not_after > $2)
     FROM devices WHERE device_id = $1";
/// `$1` profile, `$2` device id.
pub(super) const DEVICE_SET_PROFILE: &str = "UPDATE devices SET profile = $1 WHERE device_id = $2";
/// `$1` device id.
pub(super) const DEVICE_PROFILE: &str = "SELECT profile FROM devices WHERE device_id = $1";
/// `$1` now, `$2` device id: retires the device's live blocks.
pub(super) const BLOCKS_RETIRE: &str = "UPDATE sequence_blocks SET retired_at = $1
     WHERE device_id = $2 AND retired_at IS NULL";
/// `$1` site, `$2` today (`YYYY-MM-DD`, Vietnam time): the blocks a new one must not overlap,
/// read with [`block_row`]: the live ones and those retired today or later (their device may
/// have handed out their numbers today; dossier codes carry their date, so from the day after
/// the numbers are free again). Older rows stay, as history and for `code_not_yours`.
pub(super) const BLOCKS_TAKEN: &str = "SELECT first_number, last_number FROM sequence_blocks
     WHERE site = $1 AND (retired_at IS NULL OR substr(retired_at, 1, 10) >= $2)
     ORDER BY first_number";
/// `$1` site, `$2` first, `$3` last, `$4` device id, `$5` now.
pub(super) const BLOCK_INSERT: &str = "INSERT INTO sequence_blocks (site, first_number,
     last_number, device_id, allocated_at) VALUES ($1, $2, $3, $4, $5)";
/// `$1` device id: its live blocks, oldest first, read with [`block_row`].
pub(super) const BLOCKS_LIVE: &str = "SELECT first_number, last_number FROM sequence_blocks
     WHERE device_id = $1 AND retired_at IS NULL ORDER BY allocated_at, first_number";
/// The next action id.
pub(super) const ACTION_NEXT_ID: &str = "SELECT COALESCE(MAX(id), 0) + 1 FROM device_actions";
/// `$1` id, `$2` device id, `$3` kind, `$4` technician, `$5` now.
pub(super) const ACTION_INSERT: &str = "INSERT INTO device_actions (id, device_id, kind,
     requested_by, requested_at) VALUES ($1, $2, $3, $4, $5)";
/// `$1` device id: its pending actions, oldest first, read with [`action_row`].
pub(super) const ACTIONS_PENDING: &str = "SELECT id, device_id, kind, requested_by,
     requested_at, completed_at, result FROM device_actions
     WHERE device_id = $1 AND completed_at IS NULL ORDER BY id";
/// `$1` device id, `$2` how many: its newest actions, newest first, read with [`action_row`].
pub(super) const ACTIONS_RECENT: &str = "SELECT id, device_id, kind, requested_by,
     requested_at, completed_at, result FROM device_actions
     WHERE device_id = $1 ORDER BY id DESC LIMIT $2";
/// `$1` how many: the newest actions of all devices, newest first, read with [`action_row`].
pub(super) const ACTIONS_ALL_RECENT: &str = "SELECT id, device_id, kind, requested_by,
     requested_at, completed_at, result FROM device_actions ORDER BY id DESC LIMIT $1";
/// `$1` now, `$2` result JSON, `$3` id, `$4` device id.
pub(super) const ACTION_COMPLETE: &str = "UPDATE device_actions SET completed_at = $1,
     result = $2 WHERE id = $3 AND device_id = $4 AND completed_at IS NULL";
/// `$1` id, `$2` device id.
pub(super) const ACTION_EXISTS: &str =
    "SELECT 1 FROM device_actions WHERE id = $1 AND device_id = $2";

/// A setup code's token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRow {
    pub site: String,
    pub device_id: String,
    pub profile: String,
    pub profile_sha256: String,
    pub expires_at: i64,
    /// The key it was used with, once used.
    pub used_key_sha256: Option<String>,
    /// The certificate last signed with it.
    pub cert_serial: Option<String>,
    /// Withdrawn before it was used.
    pub withdrawn: bool,
}

/// A known device as a new setup code for its id would find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Standing {
    pub site: String,
    /// It has a live certificate: a kiosk is running with it.
    pub live: bool,
}

/// One row of [`DEVICE_STANDING`].
pub(super) fn standing<R: queries::Columns>(r: &R) -> Result<Standing, R::Error> {
    Ok(Standing {
        site: r.text(0)?,
        live: r.int(1)? > 0,
    })
}

/// One row of [`TOKEN_SELECT`].
pub(super) fn token<R: queries::Columns>(r: &R) -> Result<TokenRow, R::Error> {
    Ok(TokenRow {
        site: r.text(0)?,
        device_id: r.text(1)?,
        profile: r.text(2)?,
        profile_sha256: r.text(3)?,
        expires_at: r.int(4)?,
        used_key_sha256: r.opt_text(5)?,
        cert_serial: r.opt_text(6)?,
        withdrawn: r.opt_text(7)?.is_some(),
    })
}

/// An RFC 3339 time written in Vietnam time, as block rows keep it (their first 10 characters
/// are then the Vietnam day, which `BLOCKS_TAKEN` and the owner check compare); one that does
/// not parse is kept as it is.
pub(super) fn vn_time(now: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(now)
        .map(|t| {
            t.with_timezone(&motcua_domain::vietnam_offset())
                .to_rfc3339()
        })
        .unwrap_or_else(|_| now.to_string())
}

/// The Vietnam day (`YYYY-MM-DD`) of an RFC 3339 time; one that does not parse is taken as the
/// last day there is, so every retired block stays taken.
pub(super) fn vn_day(now: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(now)
        .map(|t| {
            t.with_timezone(&motcua_domain::vietnam_offset())
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_else(|_| "9999-12-31".into())
}

/// One row of [`BLOCKS_TAKEN`] or [`BLOCKS_LIVE`].
pub(super) fn block_row<R: queries::Columns>(r: &R) -> Result<(i64, i64), R::Error> {
    Ok((r.int(0)?, r.int(1)?))
}

/// Blocks as the wire has them (numbers outside 1..=9999 were never written).
pub(super) fn blocks(rows: &[(i64, i64)]) -> Vec<SequenceBlock> {
    rows.iter()
        .filter_map(|&(f, l)| {
            Some(SequenceBlock {
                first: u16::try_from(f).ok()?,
                last: u16::try_from(l).ok()?,
            })
        })
        .collect()
}

/// An action as stored; the kind and result are parsed by [`ActionRow::into_action`].
#[derive(Debug, Clone)]
pub(crate) struct ActionRow {
    id: i64,
    device_id: String,
    kind: String,
    requested_by: String,
    requested_at: String,
    completed_at: Option<String>,
    result: Option<String>,
}

impl ActionRow {
    /// The wire form; `None` for a kind this gateway does not know (a newer one wrote it).
    pub(crate) fn into_action(self) -> Option<RemoteAction> {
        Some(RemoteAction {
            id: self.id,
            device_id: self.device_id,
            kind: RemoteActionKind::parse(&self.kind)?,
            requested_by: self.requested_by,
            requested_at: self.requested_at,
            completed_at: self.completed_at,
            result: self
                .result
                .and_then(|json| serde_json::from_str::<RemoteActionResult>(&json).ok()),
        })
    }
}

/// One row of the `ACTIONS_*` queries.
pub(super) fn action_row<R: queries::Columns>(r: &R) -> Result<ActionRow, R::Error> {
    Ok(ActionRow {
        id: r.int(0)?,
        device_id: r.text(1)?,
        kind: r.text(2)?,
        requested_by: r.text(3)?,
        requested_at: r.text(4)?,
        completed_at: r.opt_text(5)?,
        result: r.opt_text(6)?,
    })
}

/// The lowest `size` numbers of 1..=9999 that overlap none of `taken` (the site's blocks of
/// [`BLOCKS_TAKEN`]), or `None` when no gap is that large.
pub(crate) fn lowest_free(taken: &[(i64, i64)], size: u16) -> Option<SequenceBlock> {
    let size = i64::from(size.max(1));
    let mut sorted = taken.to_vec();
    sorted.sort_unstable();
    let mut start = 1i64;
    for (first, last) in sorted {
        if first >= start + size {
            break;
        }
        start = start.max(last + 1);
    }
    let last = start + size - 1;
    if last > i64::from(SEQUENCE_MAX) {
        return None;
    }
    Some(SequenceBlock {
        first: u16::try_from(start).ok()?,
        last: u16::try_from(last).ok()?,
    })
}

/// A token to record (`POST /v1/admin/provisioning`).
#[derive(Debug, Clone)]
pub(crate) struct NewToken {
    pub token_sha256: String,
    pub site: String,
    pub device_id: String,
    pub profile: String,
    pub profile_sha256: String,
    pub expires_at: i64,
    pub issued_by: String,
    pub issued_at: String,
}

/// A kiosk presenting a token.
#[derive(Debug, Clone)]
pub(crate) struct Provision {
    pub token_sha256: String,
    /// SHA-256 of the public key of the certificate signed for it.
    pub key_sha256: String,
    /// That certificate, recorded if the token lets it in.
    pub cert: NewCertificate,
    pub block_size: u16,
    pub now: String,
    pub now_unix: i64,
}

/// What presenting a token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProvisionOutcome {
    Unknown,
    Expired,
    /// Withdrawn before it was used.
    Withdrawn,
    /// Used by another key.
    UsedByAnother,
    /// Used by this key, but its certificate was used, or revoked since: no retry.
    AlreadyDone,
    /// No free range of the block size at the site: nothing was changed.
    Exhausted,
    /// Enrolled (or enrolled again: `retry`), the certificate recorded.
    Done {
        /// Older certificates of the device revoked now (close their connections).
        revoked: Vec<String>,
        blocks: Vec<SequenceBlock>,
        profile: String,
        retry: bool,
    },
}

/// What asking for one more block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BlockOutcome {
    TooMany,
    Exhausted,
    /// Every live block of the device, the new one included.
    Blocks(Vec<SequenceBlock>),
}

/// What reporting an action's result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    /// Recorded now, or recorded before (a retry).
    Done,
    /// No such action of this device.
    Unknown,
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            super::Store::Sqlite($s) => $call.await,
            super::Store::Postgres($s) => $call.await,
        }
    };
}

impl super::Store {
    /// A token by the SHA-256 of its text.
    pub async fn provisioning_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<TokenRow>, GatewayError> {
        dispatch!(self, s => s.provisioning_token(token_sha256))
    }

    /// Device ids new slots must not take.
    pub async fn taken_device_ids(&self, now_unix: i64) -> Result<Vec<String>, GatewayError> {
        dispatch!(self, s => s.taken_device_ids(now_unix))
    }

    /// Records the tokens of a setup sheet, all or none. With `fresh_ids` (ids the gateway
    /// chose) nothing is recorded and `false` returned if another sheet took one of them
    /// meanwhile: the ids are checked again under the write lock (SQLite) or an advisory lock
    /// (PostgreSQL), so two sheets never hand out one new id.
    pub async fn insert_tokens(
        &self,
        tokens: &[NewToken],
        fresh_ids: bool,
        now_unix: i64,
    ) -> Result<bool, GatewayError> {
        dispatch!(self, s => s.insert_tokens(tokens, fresh_ids, now_unix))
    }

    /// Takes a token and enrols its device in one transaction (see [`ProvisionOutcome`]).
    pub async fn provision(&self, p: &Provision) -> Result<ProvisionOutcome, GatewayError> {
        dispatch!(self, s => s.provision(p))
    }

    /// Withdraws a device id's unused setup codes; how many there were.
    pub async fn withdraw_setup_codes(
        &self,
        device_id: &str,
        now: &str,
    ) -> Result<u64, GatewayError> {
        dispatch!(self, s => s.withdraw_setup_codes(device_id, now))
    }

    /// A known device's site and whether a kiosk runs with it (`None`: unknown id).
    pub async fn device_standing(
        &self,
        device_id: &str,
        now_unix: i64,
    ) -> Result<Option<Standing>, GatewayError> {
        dispatch!(self, s => s.device_standing(device_id, now_unix))
    }

    /// The profile a device was provisioned with.
    pub async fn device_profile(&self, device_id: &str) -> Result<Option<String>, GatewayError> {
        dispatch!(self, s => s.device_profile(device_id))
    }

    /// One more block for a device of `site`.
    pub async fn allocate_block(
        &self,
        device_id: &str,
        site: &str,
        size: u16,
        now: &str,
    ) -> Result<BlockOutcome, GatewayError> {
        dispatch!(self, s => s.allocate_block(device_id, site, size, now))
    }

    /// Queues an action for a known device; `None` for an unknown one.
    pub async fn queue_action(
        &self,
        device_id: &str,
        kind: RemoteActionKind,
        technician: &str,
        now: &str,
    ) -> Result<Option<RemoteAction>, GatewayError> {
        dispatch!(self, s => s.queue_action(device_id, kind, technician, now))
    }

    /// A device's pending actions (`pending`) or its recent ones, oldest first.
    pub async fn actions(
        &self,
        device_id: &str,
        pending: bool,
    ) -> Result<Vec<RemoteAction>, GatewayError> {
        let rows = dispatch!(self, s => s.actions(device_id, pending))?;
        let mut actions: Vec<RemoteAction> = rows
            .into_iter()
            .filter_map(ActionRow::into_action)
            .collect();
        actions.sort_by_key(|a| a.id);
        Ok(actions)
    }

    /// The newest actions of every device (at most `limit`), newest first: the fleet page.
    pub async fn recent_actions(&self, limit: i64) -> Result<Vec<RemoteAction>, GatewayError> {
        let rows = dispatch!(self, s => s.recent_actions(limit))?;
        Ok(rows
            .into_iter()
            .filter_map(ActionRow::into_action)
            .collect())
    }

    /// Records a device's result of one of its actions.
    pub async fn complete_action(
        &self,
        device_id: &str,
        id: i64,
        result: &RemoteActionResult,
        now: &str,
    ) -> Result<Completion, GatewayError> {
        let json = serde_json::to_string(result)
            .map_err(|e| GatewayError::Config(format!("an action result cannot be saved: {e}")))?;
        dispatch!(self, s => s.complete_action(device_id, id, &json, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_taken_from_the_lowest_gap_that_fits() {
        let b = |first, last| SequenceBlock { first, last };
        assert_eq!(lowest_free(&[], 500), Some(b(1, 500)));
        assert_eq!(lowest_free(&[(1, 500)], 500), Some(b(501, 1000)));
        // A block in the middle is avoided; a gap too small is skipped.
        assert_eq!(
            lowest_free(&[(1, 500), (800, 1200), (501, 700)], 100),
            Some(b(1201, 1300))
        );
        assert_eq!(
            lowest_free(&[(1, 500), (601, 900)], 200),
            Some(b(901, 1100))
        );
        assert_eq!(lowest_free(&[(1, 5000)], 5000), None);
        assert_eq!(lowest_free(&[(1, 4999)], 5000), Some(b(5000, 9999)));
        assert_eq!(lowest_free(&[], 9999), Some(b(1, 9999)));
    }

    #[test]
    fn every_query_prepares_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(queries::SCHEMA_VERSION_CREATE)
            .expect("schema");
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).expect("migration");
        }
        for sql in [
            TOKEN_INSERT,
            TOKEN_SELECT,
            TOKEN_LOCK,
            TOKEN_TAKE,
            TOKEN_RESIGNED,
            CERT_PENDING,
            IDS_TAKEN,
            TOKENS_WITHDRAW,
            DEVICE_STANDING,
            DEVICE_SET_PROFILE,
            DEVICE_PROFILE,
            BLOCKS_RETIRE,
            BLOCKS_TAKEN,
            BLOCK_INSERT,
            BLOCKS_LIVE,
            ACTION_NEXT_ID,
            ACTION_INSERT,
            ACTIONS_PENDING,
            ACTIONS_RECENT,
            ACTIONS_ALL_RECENT,
            ACTION_COMPLETE,
            ACTION_EXISTS,
        ] {
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(stmt.parameter_name(i), Some(format!("${i}").as_str()));
            }
        }
        assert!(ACTIONS_PENDING.contains("completed_at, result FROM"));
    }
}
