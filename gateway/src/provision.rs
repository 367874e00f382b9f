//! Issuing setup codes (the technician's setup sheet) and reading config profiles: shared by
//! `POST /v1/admin/provisioning` and the `gateway provision` command, which works on the
//! gateway's store directly.
//!
//! A sheet's slots get one-time tokens (only their SHA-256 is stored) valid for the hours asked;
//! each code is signed with the provisioning key and names the gateway's public address, the
//! CA's fingerprint, the site, the device id, and the profile with the SHA-256 of its text, so a
//! kiosk can check everything it downloads.

use std::path::{Path, PathBuf};

use motcua_domain::provisioning::{DeviceProfile, IssuedSetupCode, SetupSheet, SetupSheetRequest};
use motcua_identity::setup_code::{new_enrolment_token, ProvisioningKey, SetupCode};
use sha2::{Digest, Sha256};

use crate::store::{rfc3339, NewToken, Store};
use crate::GatewayError;

/// Where the packaged gateway keeps its profiles.
pub const DEFAULT_PROFILES_DIR: &str = "/etc/motcua/gateway/profiles";
/// Default size of a sequence block: 500 numbers a day per kiosk, far above what a desk
/// receives, so a site of 19 kiosks still fits in the 9999 numbers of a day.
pub const DEFAULT_SEQUENCE_BLOCK_SIZE: u16 = 500;
/// Most slots on one sheet.
pub const MAX_SLOTS: u32 = 50;

/// Whether `id` may be a device id: 1–128 letters, digits, `-`, `_`, `.` or `:`.
pub(crate) fn valid_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Whether `site` may be a site (agency code): 1–64 letters, digits, `.`, `-` or `_`.
pub(crate) fn valid_site(site: &str) -> bool {
    !site.is_empty()
        && site.len() <= 64
        && site
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
}

/// Whether `name` may name a profile: `[a-z0-9-]{1,40}` (it becomes a file name).
pub fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Why a sheet was not issued or a profile not read. Messages are for the technician:
/// Vietnamese first, then English.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A field of the request is not acceptable.
    #[error("{message}")]
    Invalid {
        /// Stable code for the API (`invalid_site`, `invalid_device_id`, …).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The profile file is not there.
    #[error("không có hồ sơ cấu hình {name} ({path}) / no profile {name}: the gateway has no file {path}")]
    ProfileMissing {
        /// The profile's name.
        name: String,
        /// The file looked for.
        path: PathBuf,
    },
    /// The profile file cannot be read, or is not UTF-8.
    #[error("không đọc được hồ sơ cấu hình {path} / cannot read the profile {path}: {reason}")]
    ProfileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The profile is not TOML, or holds a table each kiosk writes itself.
    #[error("hồ sơ cấu hình {path} không hợp lệ / the profile {path} is not valid: {reason}")]
    ProfileInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An id asked for is a live device, or a device of another site, and `replace` was not
    /// given.
    #[error("{0}")]
    DeviceExists(String),
    /// A token could not be drawn.
    #[error("cannot draw a setup-code token: {0}")]
    Random(String),
    /// No provisioning key or no public URL: setup codes cannot be signed.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] GatewayError),
}

fn invalid(code: &'static str, message: impl Into<String>) -> ProvisionError {
    ProvisionError::Invalid {
        code,
        message: message.into(),
    }
}

/// Tables a profile must not hold: each kiosk writes them itself (its identity, its gateway,
/// its storage, its provisioning key).
pub const KIOSK_OWN_TABLES: [&str; 4] = ["device", "gateway", "store", "provisioning"];

/// Checks a profile's text: TOML, and none of [`KIOSK_OWN_TABLES`].
pub fn check_profile_text(text: &str) -> Result<(), String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not TOML: {}", e.message()))?;
    match KIOSK_OWN_TABLES.iter().find(|t| table.contains_key(**t)) {
        Some(t) => Err(format!(
            "it has a [{t}] table, which each kiosk writes itself (a profile holds none of \
             [device], [gateway], [store], [provisioning])"
        )),
        None => Ok(()),
    }
}

/// Reads profile `name` from `dir` (`<dir>/<name>.toml`).
pub fn read_profile(dir: &Path, name: &str) -> Result<DeviceProfile, ProvisionError> {
    if !valid_profile_name(name) {
        return Err(invalid(
            "invalid_profile",
            "tên hồ sơ cấu hình chỉ gồm a-z, 0-9 và '-' (tối đa 40) / a profile name is 1–40 of a-z, 0-9 and '-'",
        ));
    }
    let path = dir.join(format!("{name}.toml"));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProvisionError::ProfileMissing {
                name: name.to_string(),
                path,
            })
        }
        Err(e) => {
            return Err(ProvisionError::ProfileUnreadable {
                path,
                reason: e.to_string(),
            })
        }
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let toml = String::from_utf8(bytes).map_err(|_| ProvisionError::ProfileInvalid {
        path: path.clone(),
        reason: "not UTF-8 text".into(),
    })?;
    check_profile_text(&toml).map_err(|reason| ProvisionError::ProfileInvalid {
        path: path.clone(),
        reason,
    })?;
    Ok(DeviceProfile {
        name: name.to_string(),
        sha256,
        toml,
    })
}

/// What signing setup codes needs.
pub struct Issuer {
    /// The provisioning signing key.
    pub key: ProvisioningKey,
    /// The gateway's `https://` address written in codes.
    pub public_url: String,
    /// SHA-256 of the CA certificate (lowercase hex).
    pub ca_sha256: String,
    /// Where profiles are.
    pub profiles_dir: PathBuf,
}

/// Checks that `url` can go into a setup code: an `https://` address with a host.
pub fn check_public_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    match url.strip_prefix("https://") {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(url.to_string())
        }
        _ => Err(format!(
            "the public URL {url:?} must be the gateway's https:// address as kiosks reach it (e.g. https://motcua.laocai.gov.vn:8700)"
        )),
    }
}

/// The issuer of `config`: `Ok(Err(why))` when setup codes cannot be issued (no key, no public
/// URL: the gateway serves everything else), an error when a key file is given but unusable.
pub(crate) fn load_issuer(
    key_file: Option<&Path>,
    public_url: Option<&str>,
    profiles_dir: &Path,
    ca_cert_pem: &str,
) -> Result<Result<Issuer, String>, GatewayError> {
    let Some(path) = key_file else {
        return Ok(Err(
            "cổng chưa có khóa cấp mã cấu hình / this gateway has no provisioning key: \
             start it with --provisioning-key-file (or the provisioning-key credential; \
             `gateway ca init` makes DIR/provisioning.key)"
                .into(),
        ));
    };
    let key = crate::pki::provisioning_key(path)?;
    let Some(url) = public_url else {
        return Ok(Err("cổng chưa có địa chỉ công khai / this gateway has no public URL: start \
             it with --public-url https://… (the address kiosks reach it by, written in setup codes)"
            .into()));
    };
    let public_url = check_public_url(url).map_err(GatewayError::Config)?;
    Ok(Ok(Issuer {
        key,
        public_url,
        ca_sha256: motcua_identity::certificate_fingerprint(ca_cert_pem)?,
        profiles_dir: profiles_dir.to_path_buf(),
    }))
}

/// Where `gateway provision` finds what it needs on the gateway's machine.
#[derive(Debug, Clone)]
pub struct SheetSource {
    /// The gateway's data directory (its SQLite database, without `database_url`).
    pub data_dir: PathBuf,
    /// PostgreSQL URL, when the gateway uses PostgreSQL.
    pub database_url: Option<String>,
    /// A CA trusted for PostgreSQL over TLS.
    pub database_ca_file: Option<PathBuf>,
    /// The province's CA certificate (its fingerprint goes in the codes).
    pub ca_cert_file: PathBuf,
    /// The provisioning key (PEM).
    pub provisioning_key_file: PathBuf,
    /// Where profiles are.
    pub profiles_dir: PathBuf,
    /// The gateway's public `https://` address.
    pub public_url: String,
}

/// Issues a setup sheet on the gateway's machine (`gateway provision`): opens the store
/// (migrating it like `serve`), records the tokens and signs the codes.
pub async fn issue_sheet_offline(
    source: &SheetSource,
    req: &SetupSheetRequest,
    issued_by: &str,
) -> Result<SetupSheet, ProvisionError> {
    let ca_cert_pem = crate::pki::read(&source.ca_cert_file)?;
    let issuer = load_issuer(
        Some(&source.provisioning_key_file),
        Some(&source.public_url),
        &source.profiles_dir,
        &ca_cert_pem,
    )?
    .map_err(ProvisionError::Unavailable)?;
    let store = Store::open(
        source.database_url.as_deref(),
        source.database_ca_file.as_deref(),
        &source.data_dir,
    )
    .await?;
    issue(&store, &issuer, req, issued_by).await
}

/// Where `gateway provision withdraw` finds the gateway's store.
#[derive(Debug, Clone)]
pub struct StoreSource {
    /// The gateway's data directory (its SQLite database, without `database_url`).
    pub data_dir: PathBuf,
    /// PostgreSQL URL, when the gateway uses PostgreSQL.
    pub database_url: Option<String>,
    /// A CA trusted for PostgreSQL over TLS.
    pub database_ca_file: Option<PathBuf>,
}

/// Withdraws a device id's unused setup codes on the gateway's machine (`gateway provision
/// withdraw`): how many there were.
pub async fn withdraw_setup_codes_offline(
    source: &StoreSource,
    device_id: &str,
) -> Result<u64, GatewayError> {
    let store = Store::open(
        source.database_url.as_deref(),
        source.database_ca_file.as_deref(),
        &source.data_dir,
    )
    .await?;
    let now = rfc3339(chrono::Utc::now().timestamp());
    store.withdraw_setup_codes(device_id, &now).await
}

/// The device ids of a sheet: the given ones (checked), or `count` new `<site>-K001`, … that
/// no known device and no open slot has.
fn slot_ids(req: &SetupSheetRequest, taken: &[String]) -> Result<Vec<String>, ProvisionError> {
    if !req.device_ids.is_empty() {
        if req.device_ids.len() > MAX_SLOTS as usize {
            return Err(invalid(
                "invalid_count",
                format!("tối đa {MAX_SLOTS} mã một phiếu / at most {MAX_SLOTS} codes a sheet"),
            ));
        }
        let mut ids: Vec<String> = Vec::new();
        for id in &req.device_ids {
            let id = id.trim();
            if !valid_device_id(id) {
                return Err(invalid(
                    "invalid_device_id",
                    format!("mã thiết bị {id:?} không hợp lệ / device id {id:?} must be 1–128 characters of letters, digits, '-', '_', '.' or ':'"),
                ));
            }
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
        return Ok(ids);
    }
    if req.count == 0 || req.count > MAX_SLOTS {
        return Err(invalid(
            "invalid_count",
            format!("số mã phải từ 1 đến {MAX_SLOTS} / count must be 1..={MAX_SLOTS}"),
        ));
    }
    let mut ids = Vec::new();
    let mut n = 1u32;
    while ids.len() < req.count as usize {
        let id = format!("{}-K{n:03}", req.site);
        if !taken.contains(&id) {
            ids.push(id);
        }
        n += 1;
    }
    Ok(ids)
}

/// One token and signed code per slot.
fn sign_slots(
    issuer: &Issuer,
    req: &SetupSheetRequest,
    profile: &DeviceProfile,
    ids: Vec<String>,
    now: i64,
    issued_by: &str,
) -> Result<(Vec<NewToken>, Vec<IssuedSetupCode>), ProvisionError> {
    let expires_at = now + i64::from(req.valid_hours) * 3600;
    let issued_at = rfc3339(now);
    let mut tokens = Vec::with_capacity(ids.len());
    let mut codes = Vec::with_capacity(ids.len());
    for device_id in ids {
        let token = new_enrolment_token().map_err(|e| ProvisionError::Random(e.to_string()))?;
        tokens.push(NewToken {
            token_sha256: hex::encode(Sha256::digest(token.as_bytes())),
            site: req.site.clone(),
            device_id: device_id.clone(),
            profile: profile.name.clone(),
            profile_sha256: profile.sha256.clone(),
            expires_at,
            issued_by: issued_by.to_string(),
            issued_at: issued_at.clone(),
        });
        let code = issuer.key.seal(&SetupCode {
            gateway_url: issuer.public_url.clone(),
            ca_sha256: issuer.ca_sha256.clone(),
            site: req.site.clone(),
            device_id: device_id.clone(),
            token,
            expires_at,
            profile: profile.name.clone(),
            profile_sha256: profile.sha256.clone(),
        });
        codes.push(IssuedSetupCode {
            device_id,
            code,
            expires_at: rfc3339(expires_at),
        });
    }
    Ok((tokens, codes))
}

/// Refuses ids of a live device or of another site's device (without `replace`): a code for
/// such an id would cut the running kiosk off once used.
async fn check_not_live(store: &Store, site: &str, ids: &[String]) -> Result<(), ProvisionError> {
    let now = chrono::Utc::now().timestamp();
    for id in ids {
        let Some(standing) = store.device_standing(id, now).await? else {
            continue;
        };
        if standing.live {
            return Err(ProvisionError::DeviceExists(format!(
                "thiết bị {id} đang hoạt động; cấp mã cho nó sẽ cắt ki-ốt đang chạy, hãy dùng \
                 replace: true (--replace) nếu đúng là thay máy / device {id} is enrolled and \
                 live: provisioning it would cut off the running kiosk; ask again with replace: \
                 true (--replace) if the box is really being replaced"
            )));
        }
        if standing.site != site {
            return Err(ProvisionError::DeviceExists(format!(
                "thiết bị {id} thuộc đơn vị {}; hãy dùng replace: true (--replace) nếu đúng là \
                 chuyển máy / device {id} belongs to site {}: provisioning it for {site} would \
                 cut off the kiosk there; ask again with replace: true (--replace) if it is \
                 really moving",
                standing.site, standing.site
            )));
        }
    }
    Ok(())
}

/// Issues a setup sheet: records one token per slot and signs the codes.
pub(crate) async fn issue(
    store: &Store,
    issuer: &Issuer,
    req: &SetupSheetRequest,
    issued_by: &str,
) -> Result<SetupSheet, ProvisionError> {
    let site = req.site.trim();
    if !valid_site(site) {
        return Err(invalid(
            "invalid_site",
            "mã đơn vị không hợp lệ / site must be 1–64 characters of letters, digits, '.', '-' or '_' (the agency code)",
        ));
    }
    if !(1..=720).contains(&req.valid_hours) {
        return Err(invalid(
            "invalid_valid_hours",
            "thời hạn từ 1 đến 720 giờ / valid_hours must be 1..=720",
        ));
    }
    let profile = read_profile(&issuer.profiles_dir, req.profile.trim())?;
    if !req.replace && !req.device_ids.is_empty() {
        check_not_live(store, site, &slot_ids(req, &[])?).await?;
    }
    let req = SetupSheetRequest {
        site: site.to_string(),
        ..req.clone()
    };
    // New ids are chosen from a snapshot and checked again when recorded; another sheet taking
    // one meanwhile (two technicians at once) makes this one choose again.
    let mut attempt = 0;
    let codes = loop {
        attempt += 1;
        let now = chrono::Utc::now().timestamp();
        let taken = store.taken_device_ids(now).await?;
        let ids = slot_ids(&req, &taken)?;
        let (tokens, codes) = sign_slots(issuer, &req, &profile, ids, now, issued_by)?;
        let fresh = req.device_ids.is_empty();
        if store.insert_tokens(&tokens, fresh, now).await? {
            break codes;
        }
        if attempt >= 5 {
            return Err(ProvisionError::Store(GatewayError::Config(
                "other setup sheets kept taking the same new device ids; try again".into(),
            )));
        }
    };
    tracing::info!(site, profile = %profile.name, slots = codes.len(), issued_by, "setup sheet issued");
    Ok(SetupSheet {
        site: site.to_string(),
        profile: profile.name,
        profile_sha256: profile.sha256,
        codes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert!(valid_device_id("KIOSK-H56-0001"));
        assert!(!valid_device_id("a b"));
        assert!(valid_site("000.17.22.H56"));
        assert!(!valid_site("Hà Nội"));
        assert!(valid_profile_name("commune-desk"));
        assert!(!valid_profile_name("../etc"));
        assert!(!valid_profile_name("Commune"));
        assert!(!valid_profile_name(&"a".repeat(41)));
        assert_eq!(
            check_public_url("https://gw.example:8700/").as_deref(),
            Ok("https://gw.example:8700")
        );
        assert!(check_public_url("http://gw").is_err());
        assert!(check_public_url("https://").is_err());
    }

    #[test]
    fn the_shipped_profile_is_valid_and_kiosk_tables_are_refused() {
        let shipped = include_str!("../../deploy/gateway/profiles/commune-desk.toml");
        assert_eq!(check_profile_text(shipped), Ok(()));
        let table: toml::Table = shipped.parse().expect("toml");
        for t in [
            "printer",
            "code_reader",
            "scanner",
            "receipt",
            "ticket",
            "ui",
            "intake",
        ] {
            assert!(table.contains_key(t), "the example profile sets [{t}]");
        }
        assert!(check_profile_text("[device]\nid = \"x\"\n")
            .expect_err("refused")
            .contains("[device]"));
        assert!(check_profile_text("[receipt\n").is_err());
    }

    #[test]
    fn new_slots_skip_taken_ids() {
        let req = SetupSheetRequest {
            site: "S".into(),
            profile: "p".into(),
            count: 3,
            device_ids: vec![],
            valid_hours: 1,
            replace: false,
        };
        let ids = slot_ids(&req, &["S-K002".into()]).expect("ids");
        assert_eq!(ids, ["S-K001", "S-K003", "S-K004"]);
        let given = SetupSheetRequest {
            device_ids: vec!["S-K009".into(), "S-K009".into()],
            ..req.clone()
        };
        assert_eq!(slot_ids(&given, &[]).expect("ids"), ["S-K009"]);
        let bad = SetupSheetRequest {
            device_ids: vec!["a b".into()],
            ..req
        };
        assert!(slot_ids(&bad, &[]).is_err());
    }
}
