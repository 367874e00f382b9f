//! What kiosk and gateway exchange to provision a kiosk and to look after it remotely: the
//! one-time enrolment with a setup code's token, the dossier sequence blocks the gateway
//! allocates, the config profile, and the remote actions a technician queues.
//!
//! Routes (device routes authenticated by the device certificate, admin routes by a
//! technician's):
//!
//! | route | who | body → answer |
//! |---|---|---|
//! | `GET /v1/ca.pem` | anyone | the province CA (PEM); the kiosk trusts it only if its SHA-256 matches the setup code |
//! | `POST /v1/devices/provision` | anyone with a token | [`ProvisionRequest`] → [`Provisioned`] |
//! | `GET /v1/devices/profile` | device | → [`DeviceProfile`] |
//! | `POST /v1/devices/sequence-blocks` | device | → [`SequenceBlocks`] (every block of the device, a new one added) |
//! | `GET /v1/devices/actions` | device | → [`RemoteActions`] (pending ones, oldest first) |
//! | `POST /v1/devices/actions/{id}/result` | device | [`RemoteActionResult`] → 204 |
//! | `POST /v1/admin/provisioning` | technician | [`SetupSheetRequest`] → [`SetupSheet`] |
//! | `POST /v1/admin/devices/{id}/actions` | technician | [`RemoteActionRequest`] → [`RemoteAction`] |
//! | `GET /v1/admin/devices/{id}/actions` | technician | → [`RemoteActions`] (recent, with results) |
//!
//! Error codes of `POST /v1/devices/provision` (an [`crate::wire::ApiError`]):
//! `token_unknown` (403), `token_expired` (403), `token_withdrawn` (403: the device was revoked,
//! a newer code was issued for its id, or a technician withdrew it), `token_used` (409: used by
//! another kiosk's key), `token_spent` (409: this kiosk's certificate from it was used or revoked),
//! `invalid_csr` (400), `sequence_exhausted` (409: the agency's 9999 daily numbers are all
//! allocated).

use serde::{Deserialize, Serialize};

/// A kiosk enrolling with a setup code's one-time token. The token names the device id, site
/// and profile; the kiosk sends only its CSR. Presenting the same token again with a CSR for the
/// same key pair (a kiosk that lost the answer) gets a certificate again; any other key is
/// refused (`token_used`).
// Debug by hand: the token is a secret until used.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProvisionRequest {
    /// The setup code's token.
    #[cfg_attr(feature = "openapi", schema(max_length = 256))]
    pub token: String,
    /// PKCS#10 certificate signing request (PEM) for the kiosk's own key pair.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 16384,
            pattern = r"^-----BEGIN CERTIFICATE REQUEST-----\r?\n"
        )
    )]
    pub csr_pem: String,
}

impl std::fmt::Debug for ProvisionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisionRequest")
            .field("token", &"<redacted>")
            .field("csr_pem", &self.csr_pem)
            .finish()
    }
}

/// A block of a day's dossier sequence numbers (`XXXX` of the dossier code) that one device
/// may use on every day, `first..=last`. The gateway allocates blocks of one agency disjoint on
/// every day (a replaced kiosk gets a fresh one; a retired block's range goes to another device
/// only from the day after its retirement, and codes carry their date), so two kiosks of one
/// agency never issue the same code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SequenceBlock {
    /// First number, 1..=9999.
    pub first: u16,
    /// Last number, `first..=9999`.
    pub last: u16,
}

impl SequenceBlock {
    /// How many numbers the block holds.
    pub fn len(&self) -> u32 {
        u32::from(self.last.saturating_sub(self.first)) + 1
    }

    /// Never empty (a block has at least one number); here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.last < self.first
    }
}

/// Every block a device holds, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SequenceBlocks {
    /// The device's blocks.
    pub blocks: Vec<SequenceBlock>,
}

/// Answer of `POST /v1/devices/provision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Provisioned {
    /// The device's certificate (and the CA that signed it).
    pub certificate: crate::wire::DeviceCertificate,
    /// Its sequence blocks (a fresh device: one).
    pub blocks: Vec<SequenceBlock>,
    /// The profile the setup code named.
    pub profile: String,
}

/// A config profile: the part of `kiosk.toml` the province decides for a kind of desk
/// (printer, code reader, scanner, queue areas, receipt texts including the place name, intake
/// settings). It holds no `[device]`, `[gateway]`, `[store]` or `[provisioning]` table: those the
/// kiosk writes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceProfile {
    /// Its name.
    pub name: String,
    /// SHA-256 (lowercase hex) of `toml`'s UTF-8 bytes.
    pub sha256: String,
    /// The TOML text.
    pub toml: String,
}

/// Something a technician asks a kiosk to do on its next contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RemoteActionKind {
    /// Run the self-test of every configured peripheral; the result also goes into the next
    /// health report.
    SelfTest,
    /// Print the last receipt again.
    ReprintLastReceipt,
    /// Send the tail of kioskd's log (the result's `log_tail`).
    SendLogTail,
    /// Download the profile again and restart the kiosk's services with it.
    RefreshConfig,
    /// A kind this build does not know (a newer gateway's), so an older kiosk still reads its
    /// action list; it answers such an action with `ok: false` ("not supported"). Never queued:
    /// the gateway refuses it (400 `invalid_kind`). Keep it last.
    #[serde(other)]
    Unsupported,
}

impl RemoteActionKind {
    /// Every kind that can be queued, in a stable order (not [`RemoteActionKind::Unsupported`]).
    pub const ALL: [RemoteActionKind; 4] = [
        RemoteActionKind::SelfTest,
        RemoteActionKind::ReprintLastReceipt,
        RemoteActionKind::SendLogTail,
        RemoteActionKind::RefreshConfig,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RemoteActionKind::SelfTest => "self_test",
            RemoteActionKind::ReprintLastReceipt => "reprint_last_receipt",
            RemoteActionKind::SendLogTail => "send_log_tail",
            RemoteActionKind::RefreshConfig => "refresh_config",
            RemoteActionKind::Unsupported => "unsupported",
        }
    }

    /// The wire name read back; `None` for `unsupported` and unknown names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What a technician reads, Vietnamese first.
    pub fn label(self) -> &'static str {
        match self {
            RemoteActionKind::SelfTest => "Tự kiểm tra thiết bị / Run self-test",
            RemoteActionKind::ReprintLastReceipt => "In lại biên nhận cuối / Reprint last receipt",
            RemoteActionKind::SendLogTail => "Gửi nhật ký / Send log tail",
            RemoteActionKind::RefreshConfig => "Tải lại cấu hình / Refresh config",
            RemoteActionKind::Unsupported => "Không hỗ trợ / Not supported",
        }
    }
}

/// A technician queuing an action (`POST /v1/admin/devices/{id}/actions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteActionRequest {
    /// What to do: one of [`RemoteActionKind::ALL`] (`unsupported` is only what a kiosk reads
    /// for a kind it does not know; it is never queued, so the document does not offer it).
    #[cfg_attr(feature = "openapi", schema(schema_with = queueable_kinds))]
    pub kind: RemoteActionKind,
}

/// The kinds a technician may queue, as an OpenAPI string enum.
#[cfg(feature = "openapi")]
fn queueable_kinds() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(RemoteActionKind::ALL.map(RemoteActionKind::as_str)))
        .description(Some("What to do"))
        .build()
}

/// What a kiosk reports back about an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteActionResult {
    /// Whether it worked.
    pub ok: bool,
    /// What happened, in the kiosk's words (Vietnamese first).
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub detail: String,
    /// For `send_log_tail`: the last lines of kioskd's log (at most 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 65536))]
    pub log_tail: Option<String>,
}

/// A queued action, as the kiosk and the technician see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteAction {
    /// The gateway's id for it.
    pub id: i64,
    /// The device it is for.
    pub device_id: String,
    /// What to do.
    pub kind: RemoteActionKind,
    /// The technician who asked.
    pub requested_by: String,
    /// When (RFC 3339, the gateway's clock).
    pub requested_at: String,
    /// When the kiosk reported it done (RFC 3339); absent while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The kiosk's report, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RemoteActionResult>,
}

/// A list of actions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemoteActions {
    /// The actions, oldest first.
    pub actions: Vec<RemoteAction>,
}

/// A technician asking for setup codes (`POST /v1/admin/provisioning`; the CLI
/// `gateway provision` does the same on the gateway's machine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupSheetRequest {
    /// The site (agency code): letters, digits, `.`, `-` or `_`.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$")
    )]
    pub site: String,
    /// The profile's name (a file `<profiles dir>/<name>.toml` on the gateway): 1–40 of a-z,
    /// 0-9 and `-`.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 64, pattern = r"^[a-z0-9-]{1,40}$")
    )]
    pub profile: String,
    /// How many device slots (1..=50); ignored when `device_ids` is given.
    #[serde(default = "one")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 50))]
    pub count: u32,
    /// Device ids to issue codes for (replacing a broken kiosk keeps its id: the new box gets a
    /// fresh certificate and fresh sequence blocks); new ids `<site>-K001`, `-K002`, … otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub device_ids: Vec<String>,
    /// Hours the codes stay valid (1..=720, default 72).
    #[serde(default = "three_days")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 720))]
    pub valid_hours: u32,
    /// Issue codes for `device_ids` even where one is a live enrolled device or a device of
    /// another site: using the code cuts that kiosk off (its certificates are revoked). Without
    /// it such an id is refused (409 `device_exists`).
    #[serde(default)]
    pub replace: bool,
}

fn one() -> u32 {
    1
}
fn three_days() -> u32 {
    72
}

/// One slot of a setup sheet.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IssuedSetupCode {
    /// The slot's device id.
    pub device_id: String,
    /// The QR's text (`MOTCUA-SETUP1.…`).
    pub code: String,
    /// End of validity, RFC 3339.
    pub expires_at: String,
}

impl std::fmt::Debug for IssuedSetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSetupCode")
            .field("device_id", &self.device_id)
            .field("code", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Answer of `POST /v1/admin/provisioning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetupSheet {
    /// The site.
    pub site: String,
    /// The profile and its SHA-256.
    pub profile: String,
    /// SHA-256 of the profile's text.
    pub profile_sha256: String,
    /// One code per slot.
    pub codes: Vec<IssuedSetupCode>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_kinds_round_trip() {
        for k in RemoteActionKind::ALL {
            assert_eq!(RemoteActionKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        assert_eq!(RemoteActionKind::parse("reboot"), None);
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let r = ProvisionRequest {
            token: "tok-secret".into(),
            csr_pem: "csr".into(),
        };
        assert!(!format!("{r:?}").contains("tok-secret"));
        let c = IssuedSetupCode {
            device_id: "d".into(),
            code: "MOTCUA-SETUP1.secret".into(),
            expires_at: "x".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
        assert_eq!(
            SequenceBlock {
                first: 1,
                last: 500
            }
            .len(),
            500
        );
        let req: SetupSheetRequest = serde_json::from_str(r#"{"site":"s","profile":"p"}"#).unwrap();
        assert_eq!((req.count, req.valid_hours), (1, 72));
    }
}
