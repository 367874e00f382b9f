//! `[ui]` and `[[ticket.areas]]` in the kiosk config: the touch screen's idle timeout, the staff
//! and technician PINs, and the queue areas citizens take tickets for.

use serde::Deserialize;
use toml::Spanned;

use motcua_flows::session::IdlePolicy;
use motcua_flows::staff::PinPolicy;
use motcua_flows::ticket::ServiceArea;

/// A queue area with what the wait estimate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaSettings {
    /// Code, name.
    pub area: ServiceArea,
    /// Average minutes an officer spends per citizen.
    pub minutes_per_citizen: u32,
    /// Counters serving the area.
    pub counters: u32,
}

/// The screen settings, validated.
#[derive(Debug, Clone)]
pub struct ScreenSettings {
    /// Title shown in the header (Vietnamese, English).
    pub title_vi: String,
    /// See `title_vi`.
    pub title_en: String,
    /// Idle timeout and warning.
    pub idle: IdlePolicy,
    /// PINs and lockout.
    pub pins: PinPolicy,
    /// Queue areas.
    pub areas: Vec<AreaSettings>,
    /// Where the screen is drawn (`[ui] display`).
    pub display: crate::display::DisplayChoice,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawUi {
    title_vi: Option<String>,
    title_en: Option<String>,
    idle_timeout_s: Option<Spanned<u64>>,
    idle_warning_s: Option<Spanned<u64>>,
    staff_pin_hash: Option<Spanned<String>>,
    technician_pin_hash: Option<Spanned<String>>,
    pin_max_attempts: Option<Spanned<u32>>,
    pin_lockout_s: Option<u64>,
    display: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTicket {
    areas: Vec<RawArea>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArea {
    code: Spanned<String>,
    name_vi: String,
    name_en: String,
    #[serde(default)]
    minutes_per_citizen: Option<Spanned<u32>>,
    #[serde(default)]
    counters: Option<Spanned<u32>>,
}

type RawError = (std::ops::Range<usize>, String);

fn default_areas() -> Vec<AreaSettings> {
    [
        ("TP", "Tư pháp – Hộ tịch", "Justice and civil status"),
        ("DD", "Đất đai – Xây dựng", "Land and construction"),
        ("KD", "Kinh doanh – Đầu tư", "Business and investment"),
    ]
    .into_iter()
    .map(|(code, vi, en)| AreaSettings {
        area: ServiceArea {
            code: code.into(),
            name_vi: vi.into(),
            name_en: en.into(),
        },
        minutes_per_citizen: 10,
        counters: 1,
    })
    .collect()
}

fn pin_hash(value: &Option<Spanned<String>>, key: &str) -> Result<Option<String>, RawError> {
    match value {
        None => Ok(None),
        Some(v) => crate::pins::parse_pin_hash(v.get_ref())
            .map(Some)
            .map_err(|e| (v.span(), format!("{key}: {e}"))),
    }
}

/// What replaces an old `ui.*_pin_sha256` key (`key` as the config names it): an unsalted
/// SHA-256 of four digits gives the PIN away to whoever reads the file, so it is never used,
/// and the message gives the command that makes the new line.
pub(crate) fn legacy_pin_key(key: &str) -> Option<String> {
    let role = match key {
        "ui.staff_pin_sha256" => "staff",
        "ui.technician_pin_sha256" => "technician",
        _ => return None,
    };
    Some(format!(
        "{key} không còn được dùng (SHA-256 không muối lộ mã PIN), màn hình này đóng cho tới khi có mã mới: chạy `kioskctl pin {role}` và thay dòng này bằng dòng {role}_pin_hash = \"…\" nó in ra / {key} is no longer accepted (an unsalted SHA-256 gives the PIN away) and this screen stays closed until then: run `kioskctl pin {role}` and replace this line with the {role}_pin_hash = \"…\" line it prints"
    ))
}

/// The old PIN keys of an upgraded kiosk's `[ui]` (read apart, so that they are not keys of
/// the current config).
#[derive(Deserialize, Default)]
struct LegacyDoc {
    #[serde(default)]
    ui: LegacyUi,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LegacyUi {
    staff_pin_sha256: Option<Spanned<toml::Value>>,
    technician_pin_sha256: Option<Spanned<toml::Value>>,
}

/// An upgrade must not stop a kiosk: the lines of old `ui.*_pin_sha256` keys are turned into
/// comments (same length, so every other line and column stays where it was) and returned as
/// (byte offset, warning). The PIN is then unset: that screen stays closed until the new line
/// is there. Text that does not parse, or a key written another way (dotted, inline table), is
/// left for the full parse to report.
pub(crate) fn strip_legacy_pins(text: &str) -> (String, Vec<(usize, String)>) {
    let mut out = text.to_owned();
    let mut found = Vec::new();
    let Ok(doc) = toml::from_str::<LegacyDoc>(text) else {
        return (out, found);
    };
    for (name, value) in [
        ("staff_pin_sha256", &doc.ui.staff_pin_sha256),
        ("technician_pin_sha256", &doc.ui.technician_pin_sha256),
    ] {
        let Some(value) = value else { continue };
        let span = value.span();
        let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[span.end..]
            .find('\n')
            .map_or(text.len(), |i| span.end + i);
        let line = &text[line_start..line_end];
        let indent = line.len() - line.trim_start().len();
        if !line.trim_start().starts_with(name) || text[span.start..span.end].contains('\n') {
            continue;
        }
        out.replace_range(line_start + indent..line_start + indent + 1, "#");
        if let Some(message) = legacy_pin_key(&format!("ui.{name}")) {
            found.push((line_start, message));
        }
    }
    (out, found)
}

impl ScreenSettings {
    /// Validates the raw sections; errors carry the span of the offending value.
    pub(crate) fn from_raw(ui: RawUi, ticket: RawTicket) -> Result<Self, RawError> {
        let timeout = ui.idle_timeout_s.as_ref().map_or(60, |s| *s.get_ref());
        if !(15..=3600).contains(&timeout) {
            let span = ui.idle_timeout_s.as_ref().map_or(0..0, |s| s.span());
            return Err((span, "ui.idle_timeout_s must be between 15 and 3600".into()));
        }
        let warning = ui.idle_warning_s.as_ref().map_or(10, |s| *s.get_ref());
        if warning == 0 || warning >= timeout {
            let span = ui.idle_warning_s.as_ref().map_or(0..0, |s| s.span());
            return Err((
                span,
                "ui.idle_warning_s must be at least 1 and less than ui.idle_timeout_s".into(),
            ));
        }
        let max_attempts = ui.pin_max_attempts.as_ref().map_or(5, |s| *s.get_ref());
        if !(1..=20).contains(&max_attempts) {
            let span = ui.pin_max_attempts.as_ref().map_or(0..0, |s| s.span());
            return Err((span, "ui.pin_max_attempts must be between 1 and 20".into()));
        }
        let pins = PinPolicy {
            staff_pin_hash: pin_hash(&ui.staff_pin_hash, "ui.staff_pin_hash")?,
            technician_pin_hash: pin_hash(&ui.technician_pin_hash, "ui.technician_pin_hash")?,
            max_attempts,
            lockout_ms: ui.pin_lockout_s.unwrap_or(300).saturating_mul(1000),
        };
        let mut areas = Vec::new();
        for raw in ticket.areas {
            let code = raw.code.get_ref().clone();
            if motcua_domain::ticket::validate_service_area(&code).is_err() {
                return Err((
                    raw.code.span(),
                    "ticket.areas.code must be 1 to 16 letters, digits, '.' or '_'".into(),
                ));
            }
            if areas.iter().any(|a: &AreaSettings| a.area.code == code) {
                return Err((
                    raw.code.span(),
                    format!("ticket area {code:?} is listed twice"),
                ));
            }
            let positive = |v: &Option<Spanned<u32>>, default: u32, key: &str| match v {
                Some(s) if *s.get_ref() == 0 => {
                    Err((s.span(), format!("{key} must be at least 1")))
                }
                Some(s) => Ok(*s.get_ref()),
                None => Ok(default),
            };
            areas.push(AreaSettings {
                minutes_per_citizen: positive(
                    &raw.minutes_per_citizen,
                    10,
                    "ticket.areas.minutes_per_citizen",
                )?,
                counters: positive(&raw.counters, 1, "ticket.areas.counters")?,
                area: ServiceArea {
                    code,
                    name_vi: raw.name_vi,
                    name_en: raw.name_en,
                },
            });
        }
        if areas.is_empty() {
            areas = default_areas();
        }
        let display = match &ui.display {
            None => crate::display::DisplayChoice::Auto,
            Some(v) => crate::display::DisplayChoice::parse(v.get_ref()).ok_or_else(|| {
                (
                    v.span(),
                    format!(
                        "ui.display {:?} is not one of \"auto\", \"kms\" (the console, no X), \"x11\"",
                        v.get_ref()
                    ),
                )
            })?,
        };
        Ok(Self {
            title_vi: ui.title_vi.unwrap_or_else(|| "Bộ phận Một cửa".to_owned()),
            title_en: ui.title_en.unwrap_or_else(|| "One-stop desk".to_owned()),
            idle: IdlePolicy {
                timeout_ms: timeout * 1000,
                warning_ms: warning * 1000,
            },
            pins,
            areas,
            display,
        })
    }
}
