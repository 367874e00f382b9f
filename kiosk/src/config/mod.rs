//! Kiosk configuration: one TOML file, every setting with a named default, every error pointing
//! at the file, line and key so a technician can fix it without reading the source.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::Location;
use motcua_domain::dossier::{validate_agency_code, SequenceRange};
use motcua_domain::rating::RatingScale;
use motcua_store::DeviceIdentity;
use motcua_uplink::UplinkSettings;
use serde::Deserialize;
use toml::Spanned;

mod audio;
pub mod bootstrap;
mod hub;
mod intake;
mod signing;
mod update;
pub use audio::AudioSettings;
pub use bootstrap::{resolve, BootstrapConfig, Resolved, PROVISIONED_FILE};
pub use hub::HubSettings;
pub use intake::IntakeConfig;
pub use signing::{SigningKeySource, SigningSettings};
pub use update::UpdateSettings;

/// A configuration file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A value is missing, mistyped or out of range.
    #[error("{origin}:{line}:{column}: {message}")]
    Invalid {
        /// File name (or `<embedded>`).
        origin: String,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The whole kiosk configuration, validated.
#[derive(Debug, Clone)]
pub struct KioskConfig {
    /// Identity of this device.
    pub device: DeviceIdentity,
    /// Local storage.
    pub store: StoreConfig,
    /// Link to the provincial gateway.
    pub uplink: UplinkSettings,
    /// Working days used for appointment dates.
    pub calendar: WorkingCalendar,
    /// Satisfaction scale shown to citizens.
    pub rating_scale: RatingScale,
    /// The peripherals: receipt printer, code reader, document scanner.
    pub peripherals: crate::devices::PeripheralsConfig,
    /// What the receipt says around the dossier (agency, place, where to collect).
    pub receipt: crate::receipt::ReceiptSettings,
    /// The touch screen: idle timeout, PINs, queue areas.
    pub screen: crate::screen_config::ScreenSettings,
    /// Intake digitization: document codes and how scanned pages are stored.
    pub intake: IntakeConfig,
    /// How often kioskd queues a health report when nothing changed (`[uplink]
    /// health_report_s`); a change of state queues one at once.
    pub health_report: Duration,
    /// How often kioskd asks the gateway for remote actions (`[uplink] actions_poll_s`,
    /// 5..=3600, default 60); also after each delivered health report.
    pub actions_poll: Duration,
    /// Updates without a site visit (`[update]`).
    pub update: UpdateSettings,
    /// The centre's queue hub (`[hub]`), when the centre runs one: tickets are then numbered
    /// by it, and never put in this kiosk's gateway outbox.
    pub hub: Option<HubSettings>,
    /// The kiosk's voice (`[audio]`).
    pub audio: AudioSettings,
    /// How intake copies are signed (`[signing]`).
    pub signing: SigningSettings,
    /// What in the file is ignored but must be told (an old `ui.*_pin_sha256` line), each with
    /// its file and line; logged when the config is parsed, printed by every kioskctl command.
    pub warnings: Vec<String>,
}

/// Where and how the kiosk keeps its data.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Folder holding the SQLite database and blob files.
    pub data_dir: PathBuf,
    /// New work is refused when less than this many bytes are free on the data disk.
    pub min_free_bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    device: RawDevice,
    #[serde(default)]
    store: RawStore,
    gateway: RawGateway,
    #[serde(default)]
    uplink: RawUplink,
    #[serde(default)]
    calendar: RawCalendar,
    #[serde(default)]
    rating: RawRating,
    #[serde(default)]
    printer: crate::devices::RawPrinter,
    #[serde(default)]
    code_reader: crate::devices::RawCodeReader,
    #[serde(default)]
    scanner: crate::devices::RawScanner,
    #[serde(default)]
    receipt: crate::receipt::ReceiptSettings,
    #[serde(default)]
    ui: crate::screen_config::RawUi,
    #[serde(default)]
    ticket: crate::screen_config::RawTicket,
    #[serde(default)]
    intake: intake::RawIntake,
    #[serde(default)]
    update: update::RawUpdate,
    #[serde(default)]
    hub: Option<hub::RawHub>,
    #[serde(default)]
    audio: audio::RawAudio,
    #[serde(default)]
    signing: Option<signing::RawSigning>,
    /// Read by [`bootstrap`]; allowed in a hand-configured file too.
    #[serde(default)]
    #[allow(dead_code)]
    provisioning: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    id: Spanned<String>,
    agency_code: Spanned<String>,
    /// No default on purpose: two kiosks of one agency with the same block would print the same
    /// dossier code on two citizens' receipts. Absent (a provisioned kiosk): the blocks the
    /// gateway allocated, kept in the store. Both or neither.
    sequence_first: Option<Spanned<u16>>,
    sequence_last: Option<Spanned<u16>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    #[serde(default = "default_data_dir")]
    pub(crate) data_dir: PathBuf,
    #[serde(default = "default_min_free_mb")]
    pub(crate) min_free_mb: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            min_free_mb: default_min_free_mb(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/motcua")
}
fn default_min_free_mb() -> u64 {
    200
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    url: Spanned<String>,
}

/// The largest daily upload budget (`[uplink] daily_upload_budget_mib`): 1 TiB a day, far
/// beyond any metered plan; a larger number is a typo.
const MAX_DAILY_UPLOAD_BUDGET_MIB: u64 = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUplink {
    chunk_kib: Spanned<u64>,
    max_rate_kib_per_s: u64,
    /// Absent: no budget (a 0 is refused: leaving the line out says "no budget" plainly).
    daily_upload_budget_mib: Option<Spanned<u64>>,
    retry_initial_ms: u64,
    retry_max_ms: u64,
    request_timeout_s: Spanned<u64>,
    retention_hours: u64,
    poll_ms: u64,
    health_report_s: u64,
    actions_poll_s: Spanned<u64>,
}

impl Default for RawUplink {
    fn default() -> Self {
        Self {
            chunk_kib: Spanned::new(0..0, 4096),
            max_rate_kib_per_s: 0,
            daily_upload_budget_mib: None,
            retry_initial_ms: 500,
            retry_max_ms: 60_000,
            request_timeout_s: Spanned::new(0..0, 30),
            retention_hours: 72,
            poll_ms: 500,
            health_report_s: 300,
            actions_poll_s: Spanned::new(0..0, 60),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawCalendar {
    holidays: Vec<Spanned<String>>,
    extra_working_days: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRating {
    levels: Spanned<u8>,
}

impl Default for RawRating {
    fn default() -> Self {
        Self {
            levels: Spanned::new(0..0, 5),
        }
    }
}

/// Turns a byte span of the source into a positioned error.
pub(crate) struct Located<'a> {
    pub(crate) origin: &'a str,
    pub(crate) text: &'a str,
}

impl Located<'_> {
    /// The dotted key (`table.key`) assigned on the line holding byte `offset`, if any, so
    /// that toml's type errors, which omit it, still name the setting.
    pub(crate) fn key_at(&self, offset: usize) -> Option<String> {
        let before = self.text.get(..offset)?;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[line_start..].lines().next()?;
        let key = line.split_once('=')?.0.trim();
        if key.is_empty() || key.starts_with('#') {
            return None;
        }
        let table = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
        Some(match table {
            Some(t) => format!("{t}.{key}"),
            None => key.to_owned(),
        })
    }

    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let at = Location::of_offset(self.text, span.start);
        ConfigError::Invalid {
            origin: self.origin.to_owned(),
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }
}

impl KioskConfig {
    /// The kiosk's identity files (`<data_dir>/identity/`: its key and certificate, and the
    /// province's CA), written by `kioskctl enroll`.
    pub fn identity_files(&self) -> motcua_uplink::IdentityFiles {
        motcua_uplink::IdentityFiles::in_data_dir(&self.store.data_dir)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let (text, legacy) = crate::screen_config::strip_legacy_pins(text);
        let text = text.as_str();
        let warnings: Vec<String> = legacy
            .into_iter()
            .map(|(offset, message)| {
                let line = Location::of_offset(text, offset).line;
                let warning = format!("{origin} dòng/line {line}: {message}");
                tracing::warn!("{warning}");
                warning
            })
            .collect();
        let at = Located { origin, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim_end();
            match at.key_at(span.start) {
                Some(key) => match crate::screen_config::legacy_pin_key(&key) {
                    Some(instead) => at.error(span, instead),
                    None => at.error(span, format!("{key}: {message}")),
                },
                None => at.error(span, message.to_owned()),
            }
        })?;

        let device_id = raw.device.id.get_ref();
        if device_id.is_empty()
            || device_id.len() > 64
            || !device_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(at.error(
                raw.device.id.span(),
                "device.id must be 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        if let Err(e) = validate_agency_code(raw.device.agency_code.get_ref()) {
            return Err(at.error(
                raw.device.agency_code.span(),
                format!("device.agency_code: {e}"),
            ));
        }
        let sequence = match (raw.device.sequence_first, raw.device.sequence_last) {
            (None, None) => None,
            (Some(first), Some(last)) => {
                let sequence = SequenceRange {
                    first: *first.get_ref(),
                    last: *last.get_ref(),
                };
                if sequence.validate().is_err() {
                    let span = if sequence.first == 0 || sequence.first > sequence.last {
                        first.span()
                    } else {
                        last.span()
                    };
                    return Err(at.error(
                        span,
                        "device.sequence_first and device.sequence_last must satisfy 1 <= first <= last <= 9999",
                    ));
                }
                Some(sequence)
            }
            (Some(one), None) | (None, Some(one)) => {
                return Err(at.error(
                    one.span(),
                    "device.sequence_first and device.sequence_last go together: give both (a hand-configured block) or neither (the gateway's blocks)",
                ))
            }
        };

        let url = raw.gateway.url.get_ref().trim_end_matches('/').to_owned();
        if !url.starts_with("https://") {
            // The link is mutual TLS with the province's CA: a plain-HTTP gateway could be
            // anyone, and would see every dossier in clear.
            return Err(at.error(
                raw.gateway.url.span(),
                "gateway.url must start with https:// (the gateway is reached over TLS only; http:// is not accepted)",
            ));
        }
        let chunk_kib = *raw.uplink.chunk_kib.get_ref();
        if !(4..=65_536).contains(&chunk_kib) {
            return Err(at.error(
                raw.uplink.chunk_kib.span(),
                "uplink.chunk_kib must be between 4 and 65536",
            ));
        }
        if *raw.uplink.request_timeout_s.get_ref() == 0 {
            return Err(at.error(
                raw.uplink.request_timeout_s.span(),
                "uplink.request_timeout_s must be at least 1",
            ));
        }

        let daily_upload_budget = match &raw.uplink.daily_upload_budget_mib {
            None => None,
            Some(mib) if (1..=MAX_DAILY_UPLOAD_BUDGET_MIB).contains(mib.get_ref()) => {
                Some(mib.get_ref() * 1024 * 1024)
            }
            Some(mib) => {
                return Err(at.error(
                    mib.span(),
                    format!(
                        "uplink.daily_upload_budget_mib: phải từ 1 đến {MAX_DAILY_UPLOAD_BUDGET_MIB} (bỏ dòng này nếu không giới hạn) / must be between 1 and {MAX_DAILY_UPLOAD_BUDGET_MIB} (leave the line out for no budget)"
                    ),
                ))
            }
        };

        let actions_poll_s = *raw.uplink.actions_poll_s.get_ref();
        if !(5..=3600).contains(&actions_poll_s) {
            return Err(at.error(
                raw.uplink.actions_poll_s.span(),
                "uplink.actions_poll_s: phải từ 5 đến 3600 / must be between 5 and 3600",
            ));
        }

        let dates = |list: &[Spanned<String>], key: &str| -> Result<Vec<NaiveDate>, ConfigError> {
            list.iter()
                .map(|d| {
                    NaiveDate::parse_from_str(d.get_ref(), "%Y-%m-%d").map_err(|_| {
                        at.error(
                            d.span(),
                            format!("{key}: {:?} is not a date YYYY-MM-DD", d.get_ref()),
                        )
                    })
                })
                .collect()
        };
        let holidays = dates(&raw.calendar.holidays, "calendar.holidays")?;
        let extra = dates(
            &raw.calendar.extra_working_days,
            "calendar.extra_working_days",
        )?;
        let calendar = WorkingCalendar::new(holidays).with_extra_working_days(extra);

        let rating_scale = RatingScale::try_from(*raw.rating.levels.get_ref())
            .map_err(|e| at.error(raw.rating.levels.span(), format!("rating.levels: {e}")))?;
        if NaiveTime::parse_from_str(&raw.receipt.appointment_time, "%H:%M").is_err() {
            let offset = text.find("appointment_time").unwrap_or(0);
            return Err(at.error(
                offset..offset,
                format!(
                    "receipt.appointment_time {:?} is not a time HH:MM",
                    raw.receipt.appointment_time
                ),
            ));
        }
        let peripherals =
            crate::devices::PeripheralsConfig::from_raw(raw.printer, raw.code_reader, raw.scanner)
                .map_err(|(span, message)| at.error(span, message))?;
        let screen = crate::screen_config::ScreenSettings::from_raw(raw.ui, raw.ticket)
            .map_err(|(span, message)| at.error(span, message))?;

        let intake = intake::intake_config(raw.intake, &at)?;
        let update = update::update_settings(raw.update, &at)?;
        let hub = hub::hub_settings(raw.hub, &at)?;
        let signing = signing::signing_settings(raw.signing, &at)?;

        Ok(Self {
            device: DeviceIdentity {
                id: device_id.clone(),
                agency_code: raw.device.agency_code.into_inner(),
                sequence,
            },
            store: StoreConfig {
                data_dir: raw.store.data_dir,
                min_free_bytes: raw.store.min_free_mb.saturating_mul(1024 * 1024),
            },
            uplink: UplinkSettings {
                gateway_url: url,
                chunk_bytes: usize::try_from(chunk_kib * 1024).unwrap_or(1024 * 1024),
                max_rate_bytes_per_sec: raw.uplink.max_rate_kib_per_s.saturating_mul(1024),
                daily_upload_budget_bytes: daily_upload_budget,
                retry_initial: Duration::from_millis(raw.uplink.retry_initial_ms.max(10)),
                retry_max: Duration::from_millis(
                    raw.uplink
                        .retry_max_ms
                        .max(raw.uplink.retry_initial_ms.max(10)),
                ),
                request_timeout: Duration::from_secs(*raw.uplink.request_timeout_s.get_ref()),
                retention: Duration::from_secs(raw.uplink.retention_hours.saturating_mul(3600)),
                poll_interval: Duration::from_millis(raw.uplink.poll_ms.clamp(10, 60_000)),
            },
            calendar,
            rating_scale,
            peripherals,
            receipt: raw.receipt,
            screen,
            intake,
            health_report: Duration::from_secs(raw.uplink.health_report_s.clamp(1, 86_400)),
            actions_poll: Duration::from_secs(actions_poll_s),
            update,
            hub,
            audio: raw.audio.into(),
            signing,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests;
