//! Software releases rolled out to the fleet in waves: the release manifest, the wave plan, each
//! device's place in the waves, and when a rollout stops by itself.
//!
//! As in Bottlerocket's waves, a release reaches devices in stages, each stage a larger share of
//! the fleet at a later time after publishing (`1%@0h,10%@24h,100%@72h`). Which devices are in
//! the first share is decided by a stable hash of the device id ([`wave_position`]), so the same
//! kiosks go first for every release (a technician knows which desks are the canaries) and a
//! device never drops out of a wave it was already offered. A rollout whose installs roll back
//! too often pauses itself ([`PausePolicy`]) before the late waves reach the whole province.
//!
//! Everything here is arithmetic on what callers pass in: the gateway decides what to offer,
//! the kiosk checks the manifest it was offered, and both agree because they run this code.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Positions and shares are in basis points: 10 000 is the whole fleet, 1 is 0.01 %.
pub const WHOLE_FLEET: u32 = 10_000;

/// The most waves a plan may have (more is a typo, not a rollout).
pub const WAVES_MAX: usize = 20;

/// The longest time from publishing to a wave: 90 days.
pub const WAVE_DELAY_MAX: Duration = Duration::from_secs(90 * 24 * 3600);

/// One stage of a rollout: from `after` the publishing, devices whose position is below `share`
/// are offered the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wave {
    /// Share of the fleet, in basis points (1..=10 000).
    pub share: u32,
    /// Time from publishing.
    pub after: Duration,
}

/// The stages of a rollout, in order: shares strictly growing, times not going back, the last
/// wave the whole fleet (a release that never reaches everyone is a pause, said explicitly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavePlan(Vec<Wave>);

/// Why a wave plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavePlanError {
    /// The plan has no wave, or too many.
    #[error("kế hoạch cần từ 1 đến {WAVES_MAX} đợt / a plan has 1 to {WAVES_MAX} waves, this one has {0}")]
    Count(usize),
    /// One wave is not `<share>%@<time>`.
    #[error("đợt {index} \"{text}\" không đúng dạng <phần trăm>%@<thời gian>, ví dụ 10%@24h / wave {index} \"{text}\" is not <percent>%@<time>, e.g. 10%@24h: {detail}")]
    Malformed {
        /// 1-based position of the wave in the plan.
        index: usize,
        /// The wave as written.
        text: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Shares do not grow, or times go back.
    #[error("đợt {index}: {detail} / wave {index}: {detail}")]
    Order {
        /// 1-based position of the wave in the plan.
        index: usize,
        /// What is out of order.
        detail: String,
    },
    /// The last wave is not the whole fleet.
    #[error("đợt cuối phải là 100% / the last wave must be 100% (it is {0})")]
    NotWholeFleet(String),
}

impl WavePlan {
    /// The waves, in order.
    pub fn waves(&self) -> &[Wave] {
        &self.0
    }

    /// The share of the fleet (basis points) offered the release `elapsed` after publishing.
    pub fn share_at(&self, elapsed: Duration) -> u32 {
        self.0
            .iter()
            .take_while(|w| w.after <= elapsed)
            .last()
            .map_or(0, |w| w.share)
    }

    /// Whether a device at `position` ([`wave_position`]) is offered the release `elapsed` after
    /// publishing.
    pub fn offers(&self, position: u32, elapsed: Duration) -> bool {
        position < self.share_at(elapsed)
    }

    /// The 0-based wave a device at `position` belongs to (the first whose share covers it).
    pub fn wave_of(&self, position: u32) -> usize {
        self.0
            .iter()
            .position(|w| position < w.share)
            .unwrap_or(self.0.len().saturating_sub(1))
    }
}

impl FromStr for WavePlan {
    type Err = WavePlanError;

    /// Reads `1%@0h,10%@24h,100%@72h`: percents with up to two decimals, times in `m`, `h` or
    /// `d`; spaces around the parts are ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.is_empty() || parts.len() > WAVES_MAX || parts.iter().all(|p| p.is_empty()) {
            return Err(WavePlanError::Count(
                parts.iter().filter(|p| !p.is_empty()).count(),
            ));
        }
        let mut waves: Vec<Wave> = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let index = i + 1;
            let malformed = |detail: &str| WavePlanError::Malformed {
                index,
                text: (*part).to_owned(),
                detail: detail.to_owned(),
            };
            let (share, after) = part
                .split_once('@')
                .ok_or_else(|| malformed("no '@' between the share and the time"))?;
            let share = parse_share(share.trim()).map_err(|d| malformed(&d))?;
            let after = parse_delay(after.trim()).map_err(|d| malformed(&d))?;
            if let Some(before) = waves.last() {
                if share <= before.share {
                    return Err(WavePlanError::Order {
                        index,
                        detail: "the share must be larger than the wave before".into(),
                    });
                }
                if after < before.after {
                    return Err(WavePlanError::Order {
                        index,
                        detail: "the time must not be earlier than the wave before".into(),
                    });
                }
            }
            waves.push(Wave { share, after });
        }
        match waves.last() {
            Some(last) if last.share == WHOLE_FLEET => Ok(Self(waves)),
            Some(last) => Err(WavePlanError::NotWholeFleet(share_text(last.share))),
            None => Err(WavePlanError::Count(0)),
        }
    }
}

impl fmt::Display for WavePlan {
    /// The canonical text, which reads back to the same plan.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}@{}", share_text(w.share), delay_text(w.after))?;
        }
        Ok(())
    }
}

impl Serialize for WavePlan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WavePlan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `12.5%` → 1250 basis points.
fn parse_share(text: &str) -> Result<u32, String> {
    let number = text
        .strip_suffix('%')
        .ok_or("the share must end with '%'")?
        .trim();
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 2
        || whole.len() > 3
    {
        return Err("the share must be a percent with at most two decimals".into());
    }
    let whole: u32 = whole.parse().map_err(|_| "the share is not a number")?;
    let fraction: u32 = format!("{fraction:0<2}")
        .parse()
        .map_err(|_| "the share is not a number")?;
    let share = whole * 100 + fraction;
    if share == 0 || share > WHOLE_FLEET {
        return Err("the share must be more than 0% and at most 100%".into());
    }
    Ok(share)
}

/// `30m`, `24h`, `3d` → a duration (at most [`WAVE_DELAY_MAX`]).
fn parse_delay(text: &str) -> Result<Duration, String> {
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("the time needs a unit: m, h or d")?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number
        .parse()
        .map_err(|_| "the time must start with a whole number")?;
    let seconds = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown time unit '{unit}' (m, h or d)")),
    };
    let delay = Duration::from_secs(number.saturating_mul(seconds));
    if delay > WAVE_DELAY_MAX {
        return Err("a wave may start at most 90 days after publishing".into());
    }
    Ok(delay)
}

fn share_text(share: u32) -> String {
    match share % 100 {
        0 => format!("{}%", share / 100),
        f if f % 10 == 0 => format!("{}.{}%", share / 100, f / 10),
        f => format!("{}.{f:02}%", share / 100),
    }
}

fn delay_text(d: Duration) -> String {
    let s = d.as_secs();
    if s % 86_400 == 0 && s > 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else {
        format!("{}m", s / 60)
    }
}

/// A device's place in every rollout, in basis points (0..10 000): from the SHA-256 of its
/// device id, so it is the same for every release and spread evenly over the fleet. Not a
/// secret: it only orders devices.
pub fn wave_position(device_id: &str) -> u32 {
    let digest = Sha256::digest(format!("motcua-wave\u{0}{device_id}").as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    // u64 mod 10 000 has a bias of under 10^-15: nothing a fleet of thousands could show.
    (u64::from_be_bytes(head) % u64::from(WHOLE_FLEET)) as u32
}

/// When a rollout stops by itself: once at least `min_rollbacks` devices rolled the release
/// back, at least `min_outcomes` devices either committed it or rolled it back, and the
/// rolled-back share of those outcomes is above `max_rollbacks` (basis points). One unlucky
/// kiosk (a power cut during the health window) does not stop a release for the province; a
/// second one among few outcomes does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausePolicy {
    /// Rolled-back share of outcomes above which the rollout pauses, in basis points.
    pub max_rollbacks: u32,
    /// Outcomes needed before the share is judged.
    pub min_outcomes: u64,
    /// Rollbacks needed before the share is judged.
    pub min_rollbacks: u64,
}

impl Default for PausePolicy {
    /// More than 10 % of at least 3 outcomes, and at least 2 rollbacks: with a 1 % first wave of
    /// ~12 kiosks, two rollbacks among its first outcomes stop it; one does not.
    fn default() -> Self {
        Self {
            max_rollbacks: 1_000,
            min_outcomes: 3,
            min_rollbacks: 2,
        }
    }
}

impl PausePolicy {
    /// Whether a rollout with these outcomes should pause.
    pub fn should_pause(&self, committed: u64, rolled_back: u64) -> bool {
        let outcomes = committed.saturating_add(rolled_back);
        rolled_back >= self.min_rollbacks.max(1)
            && outcomes >= self.min_outcomes.max(1)
            && u128::from(rolled_back) * u128::from(WHOLE_FLEET)
                > u128::from(self.max_rollbacks) * u128::from(outcomes)
    }
}

/// What the gateway signs for each release and a kiosk checks before installing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseManifest {
    /// The Debian package's name (`motcua-kiosk`).
    pub package: String,
    /// Its Debian version (`0.2.0-1`).
    pub version: String,
    /// SHA-256 of the `.deb` file, lowercase hex.
    pub sha256: String,
    /// Size of the `.deb` file in bytes.
    pub size: u64,
    /// The oldest installed version that may upgrade to this one (`None`: any).
    pub min_from_version: Option<String>,
    /// The rollout's waves.
    pub waves: WavePlan,
    /// When it was published, seconds since the Unix epoch (the waves count from it).
    pub published_at: i64,
}

/// Why a manifest's JSON was refused (after its signature was checked: a signed manifest that
/// does not make sense is still not installed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bản kê phát hành không dùng được / the release manifest cannot be used: {0}")]
pub struct ManifestError(pub String);

/// The largest package a kiosk takes: 512 MiB (motcua-kiosk is about 15 MB).
pub const PACKAGE_SIZE_MAX: u64 = 512 * 1024 * 1024;

/// Two Debian versions in dpkg's order (epoch, then upstream, then revision; `~` sorts before
/// everything, even the end); `None` if either is not a Debian version.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    if !is_debian_version(a) || !is_debian_version(b) {
        return None;
    }
    let a: debversion::Version = a.parse().ok()?;
    let b: debversion::Version = b.parse().ok()?;
    Some(a.cmp(&b))
}

/// Whether `v` can be a Debian version (policy 5.6.12: an upstream part of alphanumerics and
/// `.+-~:`, starting with a digit; at most 100 characters here).
pub fn is_debian_version(v: &str) -> bool {
    (1..=100).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+-~:".contains(c))
}

impl ReleaseManifest {
    /// Reads and checks a manifest's JSON: a Debian package name and version, a SHA-256 in
    /// lowercase hex, a size within [`PACKAGE_SIZE_MAX`].
    pub fn from_json(json: &[u8]) -> Result<Self, ManifestError> {
        let m: Self = serde_json::from_slice(json).map_err(|e| ManifestError(e.to_string()))?;
        let name_ok = (2..=64).contains(&m.package.len())
            && m.package
                .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && m.package
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !name_ok {
            return Err(ManifestError(format!(
                "\"{}\" is not a Debian package name",
                m.package
            )));
        }
        for v in std::iter::once(&m.version).chain(m.min_from_version.as_ref()) {
            if !is_debian_version(v) {
                return Err(ManifestError(format!("\"{v}\" is not a Debian version")));
            }
        }
        if m.sha256.len() != 64
            || !m
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(ManifestError(
                "sha256 must be 64 lowercase hex digits".into(),
            ));
        }
        if m.size == 0 || m.size > PACKAGE_SIZE_MAX {
            return Err(ManifestError(format!(
                "a package of {} bytes (at most {PACKAGE_SIZE_MAX})",
                m.size
            )));
        }
        Ok(m)
    }

    /// The JSON the gateway signs.
    pub fn to_json(&self) -> Vec<u8> {
        // Strings, integers and a plan written as text: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether a device running `running` may upgrade to this release: it is newer, and
    /// `running` is not older than `min_from_version`. An unreadable version upgrades nothing.
    pub fn upgrades(&self, running: &str) -> bool {
        compare_versions(&self.version, running) == Some(Ordering::Greater)
            && self.min_from_version.as_deref().is_none_or(|min| {
                matches!(
                    compare_versions(running, min),
                    Some(Ordering::Greater | Ordering::Equal)
                )
            })
    }

    /// Whether `position` is offered this release at `now` (Unix seconds); a clock before the
    /// publishing offers nothing.
    pub fn offers(&self, position: u32, now: i64) -> bool {
        let elapsed = u64::try_from(now.saturating_sub(self.published_at)).ok();
        elapsed.is_some_and(|s| self.waves.offers(position, Duration::from_secs(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> WavePlan {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_issue_plan_reads_and_writes_back() {
        let p = plan("1%@0h, 10%@24h ,100%@72h");
        assert_eq!(
            p.waves(),
            &[
                Wave {
                    share: 100,
                    after: Duration::ZERO
                },
                Wave {
                    share: 1_000,
                    after: Duration::from_secs(24 * 3600)
                },
                Wave {
                    share: 10_000,
                    after: Duration::from_secs(3 * 86_400)
                },
            ]
        );
        assert_eq!(p.to_string(), "1%@0h,10%@1d,100%@3d");
        assert_eq!(plan(&p.to_string()), p);
        assert_eq!(
            plan("0.5%@30m,12.25%@90m,100%@2d").to_string(),
            "0.5%@30m,12.25%@90m,100%@2d"
        );
    }

    #[test]
    fn shares_follow_the_clock() {
        let p = plan("1%@0h,10%@24h,100%@72h");
        assert_eq!(p.share_at(Duration::ZERO), 100);
        assert_eq!(p.share_at(Duration::from_secs(24 * 3600 - 1)), 100);
        assert_eq!(p.share_at(Duration::from_secs(24 * 3600)), 1_000);
        assert_eq!(p.share_at(Duration::from_secs(400 * 3600)), 10_000);
        assert_eq!(
            plan("5%@1h,100%@2h").share_at(Duration::from_secs(59 * 60)),
            0
        );
        assert_eq!(p.wave_of(99), 0);
        assert_eq!(p.wave_of(100), 1);
        assert_eq!(p.wave_of(9_999), 2);
    }

    #[test]
    fn bad_plans_say_which_wave_and_why() {
        for (text, wave) in [
            ("10%@0h,5%@1h,100%@2h", 2),
            ("10%@5h,20%@1h,100%@6h", 2),
            ("10%0h,100%@1h", 1),
            ("10@0h,100%@1h", 1),
            ("10%@0,100%@1h", 1),
            ("10%@0h,100%@1w", 2),
            ("0%@0h,100%@1h", 1),
            ("101%@0h", 1),
            ("1.234%@0h,100%@1h", 1),
            ("10%@0h,100%@91d", 2),
        ] {
            let err = text.parse::<WavePlan>().expect_err(text);
            let index = match &err {
                WavePlanError::Malformed { index, .. } | WavePlanError::Order { index, .. } => {
                    *index
                }
                other => panic!("{text}: {other}"),
            };
            assert_eq!(index, wave, "{text}: {err}");
        }
        assert_eq!(
            "1%@0h,50%@1h".parse::<WavePlan>(),
            Err(WavePlanError::NotWholeFleet("50%".into()))
        );
        assert_eq!("".parse::<WavePlan>(), Err(WavePlanError::Count(0)));
    }

    #[test]
    fn positions_are_stable_and_in_range() {
        assert_eq!(wave_position("kiosk-0001"), wave_position("kiosk-0001"));
        assert_ne!(wave_position("kiosk-0001"), wave_position("kiosk-0002"));
        assert!((0..5_000).all(|i| wave_position(&format!("d{i}")) < WHOLE_FLEET));
    }

    #[test]
    fn pause_needs_enough_outcomes_and_too_many_rollbacks() {
        let p = PausePolicy::default();
        assert!(!p.should_pause(0, 2), "two outcomes are too few to judge");
        assert!(p.should_pause(1, 2));
        assert!(
            !p.should_pause(2, 1),
            "one rollback alone does not stop a release"
        );
        assert!(!p.should_pause(8, 1));
        assert!(p.should_pause(8, 2), "two of ten is over 10 %");
        assert!(!p.should_pause(18, 2), "two of twenty is 10 %, not over it");
        assert!(!p.should_pause(90, 10), "10 % is the limit, not over it");
        assert!(p.should_pause(89, 11));
        assert!(!p.should_pause(u64::MAX, 0));
    }

    #[test]
    fn versions_compare_as_dpkg_does() {
        use Ordering::*;
        for (a, b, order) in [
            ("0.2.0-1", "0.1.0-1", Greater),
            ("0.10.0", "0.9.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1:0.1", "2.0", Greater),
            ("0.2.0-2", "0.2.0-10", Less),
            ("0.2.0", "0.2.0", Equal),
        ] {
            assert_eq!(compare_versions(a, b), Some(order), "{a} vs {b}");
        }
        assert_eq!(compare_versions("v2", "1"), None);
        let mut m = ReleaseManifest {
            package: "motcua-kiosk".into(),
            version: "0.3.0".into(),
            sha256: "0".repeat(64),
            size: 1,
            min_from_version: Some("0.2.0".into()),
            waves: plan("100%@0h"),
            published_at: 0,
        };
        assert!(m.upgrades("0.2.0"));
        assert!(m.upgrades("0.2.5"));
        assert!(
            !m.upgrades("0.1.9"),
            "older than the oldest it upgrades from"
        );
        assert!(!m.upgrades("0.3.0"), "the same version");
        assert!(!m.upgrades("0.4.0"), "a downgrade");
        assert!(!m.upgrades("not a version"));
        m.min_from_version = None;
        assert!(m.upgrades("0.0.1"));
    }

    #[test]
    fn a_clock_before_publishing_offers_nothing() {
        let m = ReleaseManifest {
            package: "motcua-kiosk".into(),
            version: "0.2.0-1".into(),
            sha256: "0".repeat(64),
            size: 1,
            min_from_version: None,
            waves: plan("100%@0h"),
            published_at: 1_000_000,
        };
        assert!(m.offers(9_999, 1_000_000));
        assert!(!m.offers(0, 999_999));
        let json = serde_json::to_string(&m).unwrap_or_default();
        assert!(json.contains(r#""waves":"100%@0h""#), "{json}");
        assert_eq!(
            ReleaseManifest::from_json(&m.to_json()).ok(),
            Some(m.clone())
        );

        for (field, bad) in [
            ("package", serde_json::json!("Motcua Kiosk")),
            ("version", serde_json::json!("v2; rm -rf /")),
            ("min_from_version", serde_json::json!("")),
            ("sha256", serde_json::json!("ABC")),
            ("size", serde_json::json!(0)),
            ("size", serde_json::json!(PACKAGE_SIZE_MAX + 1)),
            ("waves", serde_json::json!("50%@0h")),
        ] {
            let mut v = serde_json::to_value(&m).unwrap_or_default();
            v[field] = bad.clone();
            let bytes = serde_json::to_vec(&v).unwrap_or_default();
            assert!(
                ReleaseManifest::from_json(&bytes).is_err(),
                "{field} = {bad}"
            );
        }
    }
}
