//! `/etc/motcua/hub.toml`: where the hub listens, which kiosk identity it uses, the hall's
//! counters and the officers who may sign in at them. An unknown key or a bad value is an error
//! naming the file and line, so a technician's typo never opens a counter to the wrong area
//! silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use motcua_domain::queue::callout::{CalloutLanguage, ESPEAK_PROGRAM};
use motcua_domain::rating::RatingScale;
use motcua_domain::ticket::validate_service_area;
use serde::Deserialize;

/// Why the config cannot be used (Vietnamese first).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("không đọc được {path} / cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A syntax error or a bad value, with its line.
    #[error("{path}:{line}: cấu hình sai / bad setting: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// Its line (1-based; 0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One counter of the hall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Its code (what the store and reports name, `1`, `2`, `HT_1`…).
    pub code: String,
    /// Its number as called out ("đến quầy số 3").
    pub number: u32,
    /// The service areas it serves by default (the officer may narrow them at sign-in).
    pub areas: Vec<String>,
}

/// An officer who may sign in at a counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    /// Name shown on the counter page.
    pub name: String,
    /// Argon2id PHC string of the PIN (`kioskctl pin staff` makes one).
    pub pin_hash: String,
}

/// The hub's settings.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The hub's own folder: its database, the call-out audio, the page certificate.
    pub state_dir: PathBuf,
    /// The data folder of the kiosk whose enrolled identity the hub uses (`identity/` in it):
    /// the hub runs on one enrolled device of the centre and is that device on the link.
    pub kiosk_data_dir: PathBuf,
    /// Where kiosks reach the hub (mutual TLS with device certificates).
    pub kiosk_listen: SocketAddr,
    /// Where the counter, display, rating and report pages are served (TLS, sign-in).
    pub page_listen: SocketAddr,
    /// Names and addresses the page certificate is made for (what browsers type).
    pub page_hosts: Vec<String>,
    /// The gateway's URL, for the outbox; `None` keeps everything on the hub.
    pub gateway_url: Option<String>,
    /// Language of the call-out voice and of the display's big line.
    pub language: CalloutLanguage,
    /// Whether the display plays the call-out.
    pub voice: bool,
    /// The rating scale of the rating tablets.
    pub rating: RatingScale,
    /// The hall's counters, by code.
    pub counters: Vec<Counter>,
    /// Officers who may sign in.
    pub staff: Vec<Staff>,
    /// The espeak-ng program (a path in tests).
    pub espeak: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<PathBuf>,
    kiosk_data_dir: Option<PathBuf>,
    kiosk_listen: Option<String>,
    page_listen: Option<String>,
    page_hosts: Option<Vec<String>>,
    gateway_url: Option<String>,
    language: Option<String>,
    voice: Option<bool>,
    rating_levels: Option<u8>,
    espeak: Option<PathBuf>,
    #[serde(default)]
    counters: Vec<toml::Spanned<RawCounter>>,
    #[serde(default)]
    staff: Vec<toml::Spanned<RawStaff>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounter {
    code: String,
    number: u32,
    areas: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStaff {
    name: String,
    pin_hash: String,
}

impl HubConfig {
    /// Reads and checks the config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Checks a config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let invalid = |offset: Option<usize>, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            line: offset.map_or(0, line_of),
            message,
        };
        let key_line = |key: &str| {
            text.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map_or(0, |i| i + 1)
        };
        let at_key = |key: &str, message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            line: key_line(key),
            message: format!("{key}: {message}"),
        };
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| invalid(e.span().map(|s| s.start), e.message().to_owned()))?;
        let addr = |key: &str, value: Option<String>, default: &str| {
            value
                .as_deref()
                .unwrap_or(default)
                .parse::<SocketAddr>()
                .map_err(|e| {
                    at_key(
                        key,
                        format!("không phải địa chỉ:cổng / not an address:port ({e})"),
                    )
                })
        };
        let language = match raw.language.as_deref().unwrap_or("vi") {
            "vi" => CalloutLanguage::Vietnamese,
            "en" => CalloutLanguage::English,
            other => {
                return Err(at_key(
                    "language",
                    format!("{other:?}: dùng \"vi\" hoặc \"en\" / use \"vi\" or \"en\""),
                ))
            }
        };
        let rating = match raw.rating_levels.unwrap_or(3) {
            3 => RatingScale::Three,
            5 => RatingScale::Five,
            other => {
                return Err(at_key(
                    "rating_levels",
                    format!("{other}: dùng 3 hoặc 5 / use 3 or 5"),
                ))
            }
        };
        if let Some(url) = &raw.gateway_url {
            if !url.starts_with("https://") {
                return Err(at_key(
                    "gateway_url",
                    "phải là https:// / must be https://".into(),
                ));
            }
        }
        let mut counters: Vec<Counter> = Vec::new();
        for spanned in raw.counters {
            let start = spanned.span().start;
            let c = spanned.into_inner();
            let bad = |m: String| invalid(Some(start), format!("[[counters]] {}: {m}", c.code));
            validate_service_area(&c.code).map_err(|e| bad(e.to_string()))?;
            if c.number == 0 || c.number > 999 {
                return Err(bad("number: 1–999".into()));
            }
            if c.areas.is_empty() {
                return Err(bad(
                    "areas: quầy cần ít nhất một lĩnh vực / a counter serves at least one area"
                        .into(),
                ));
            }
            for a in &c.areas {
                validate_service_area(a).map_err(|e| bad(e.to_string()))?;
            }
            if counters
                .iter()
                .any(|o| o.code == c.code || o.number == c.number)
            {
                return Err(bad(
                    "trùng mã hoặc số quầy / a counter code or number given twice".into(),
                ));
            }
            counters.push(Counter {
                code: c.code,
                number: c.number,
                areas: c.areas,
            });
        }
        let mut staff = Vec::new();
        for spanned in raw.staff {
            let start = spanned.span().start;
            let s = spanned.into_inner();
            let name = s.name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 80 {
                return Err(invalid(
                    Some(start),
                    "[[staff]] name: 1–80 ký tự / 1 to 80 characters".into(),
                ));
            }
            let pin_hash = motcua_identity::pin::parse_pin_hash(&s.pin_hash)
                .map_err(|e| invalid(Some(start), format!("[[staff]] {name}: pin_hash: {e}")))?;
            staff.push(Staff { name, pin_hash });
        }
        let page_hosts = raw
            .page_hosts
            .unwrap_or_else(|| vec!["localhost".into(), "127.0.0.1".into()]);
        if page_hosts.is_empty() || page_hosts.iter().any(|h| h.trim().is_empty()) {
            return Err(at_key(
                "page_hosts",
                "cần ít nhất một tên hoặc địa chỉ / at least one name or address".into(),
            ));
        }
        Ok(Self {
            state_dir: raw
                .state_dir
                .unwrap_or_else(|| PathBuf::from("/var/lib/motcua-hub")),
            kiosk_data_dir: raw
                .kiosk_data_dir
                .unwrap_or_else(|| PathBuf::from("/var/lib/motcua")),
            kiosk_listen: addr("kiosk_listen", raw.kiosk_listen, "0.0.0.0:8443")?,
            page_listen: addr("page_listen", raw.page_listen, "0.0.0.0:8444")?,
            page_hosts,
            gateway_url: raw.gateway_url,
            language,
            voice: raw.voice.unwrap_or(true),
            rating,
            counters,
            staff,
            espeak: raw.espeak.unwrap_or_else(|| PathBuf::from(ESPEAK_PROGRAM)),
        })
    }

    /// The counter with this code.
    pub fn counter(&self, code: &str) -> Option<&Counter> {
        self.counters.iter().find(|c| c.code == code)
    }

    /// The hub's database.
    pub fn store_path(&self) -> PathBuf {
        self.state_dir.join("hub.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let text = "kiosk_listen = \"127.0.0.1:9443\"\n\n[[counters]]\ncode = \"1\"\nnumber = 1\nareas = []\n";
        let e = HubConfig::parse(text, "hub.toml").unwrap_err().to_string();
        assert!(e.starts_with("hub.toml:3:"), "{e}");
        assert!(e.contains("at least one area"), "{e}");
        let e = HubConfig::parse("voice = \"yes\"\n", "hub.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hub.toml:1:"), "{e}");
        let e = HubConfig::parse("\nlanguage = \"fr\"\n", "hub.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hub.toml:2:"), "{e}");
        let e = HubConfig::parse("\n\ntypo = 1\n", "hub.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hub.toml:3:"), "{e}");
    }

    #[test]
    fn a_full_config_reads() {
        let hash = motcua_identity::pin::hash_pin("2468").unwrap();
        let text = format!(
            "page_hosts = [\"hub.local\"]\nrating_levels = 5\nlanguage = \"en\"\n\
             [[counters]]\ncode = \"1\"\nnumber = 1\nareas = [\"HT\", \"DD\"]\n\
             [[counters]]\ncode = \"2\"\nnumber = 2\nareas = [\"HT\"]\n\
             [[staff]]\nname = \"Nguyễn Thị Lan\"\npin_hash = \"{hash}\"\n"
        );
        let c = HubConfig::parse(&text, "hub.toml").unwrap();
        assert_eq!(c.counters.len(), 2);
        assert_eq!(c.counter("2").unwrap().areas, vec!["HT".to_string()]);
        assert_eq!(c.rating.levels(), 5);
        assert_eq!(c.language, CalloutLanguage::English);
        assert_eq!(c.staff[0].name, "Nguyễn Thị Lan");
        let twice = text.replace("number = 2", "number = 1");
        let e = HubConfig::parse(&twice, "hub.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("twice"), "{e}");
    }
}
