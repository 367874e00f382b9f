//! What a SANE device offers, read from `scanimage`'s own listings: the device list
//! (`scanimage -f`) and the option list (`scanimage -d DEV -A`).
//!
//! Kept apart from running `scanimage` because it is pure text parsing: it is tested against
//! the real output without a device, and backends differ mostly here (each spells modes and
//! sources its own way, see [`ColorMode::classify`] and [`FeedSource::classify`]).

use crate::documents::page::{ColorMode, FeedSource};

/// A scanner SANE can see, from `scanimage -f`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The name to put in [`SaneConfig::device`](super::SaneConfig::device).
    pub name: String,
    /// Vendor, e.g. `Fujitsu`.
    pub vendor: String,
    /// Model, e.g. `fi-7160`.
    pub model: String,
    /// Type, e.g. `sheetfed scanner`.
    pub kind: String,
}

/// One option line of `scanimage -A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaneOption {
    /// Name without leading dashes, e.g. `mode`, `resolution`, `l`.
    pub name: String,
    /// The allowed values as printed, e.g. `Gray|Color` or `1..1200dpi (in steps of 1)`.
    pub constraint: String,
    /// The current value (`None` if not shown).
    pub current: Option<String>,
    /// The option is inactive in the current configuration.
    pub inactive: bool,
}

/// Resolutions a device accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolutionRange {
    /// A fixed list, e.g. 150, 200, 300, 600.
    List(Vec<u32>),
    /// Anything from `min` to `max`.
    Range {
        /// Lowest dpi.
        min: u32,
        /// Highest dpi.
        max: u32,
    },
    /// The device did not say.
    Unknown,
}

impl ResolutionRange {
    /// Whether `dpi` is accepted (unknown ranges accept everything and let SANE decide).
    pub fn accepts(&self, dpi: u32) -> bool {
        match self {
            ResolutionRange::List(v) => v.contains(&dpi),
            ResolutionRange::Range { min, max } => (*min..=*max).contains(&dpi),
            ResolutionRange::Unknown => true,
        }
    }
}

/// What a device offers, parsed from `scanimage -d DEV -A`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOptions {
    /// SANE device name.
    pub device: String,
    /// Every option line, for the technician screen.
    pub options: Vec<SaneOption>,
    /// Mode names exactly as SANE spells them (`Lineart`, `Gray`, `Color`, …).
    pub modes: Vec<String>,
    /// Source names exactly as SANE spells them (`Flatbed`, `ADF Front`, `ADF Duplex`, …);
    /// empty for devices without a source option.
    pub sources: Vec<String>,
    /// Accepted resolutions.
    pub resolutions: ResolutionRange,
}

impl DeviceOptions {
    /// The device's own name for `mode`, if it has one.
    pub fn mode_name(&self, mode: ColorMode) -> Option<&str> {
        self.modes
            .iter()
            .find(|m| ColorMode::classify(m) == Some(mode))
            .map(String::as_str)
    }

    /// The device's own name for `source`, if it has one.
    pub fn source_name(&self, source: FeedSource) -> Option<&str> {
        self.sources
            .iter()
            .find(|s| FeedSource::classify(s) == Some(source))
            .map(String::as_str)
    }

    /// Feeds this device has (for the staff screen's choices).
    pub fn feeds(&self) -> Vec<FeedSource> {
        let mut v: Vec<FeedSource> = self
            .sources
            .iter()
            .filter_map(|s| FeedSource::classify(s))
            .collect();
        v.dedup();
        v
    }
}

/// Parse `scanimage -f '%d\t%v\t%m\t%t%n'` output.
pub fn parse_device_list(stdout: &str) -> Vec<DeviceInfo> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let name = f.next()?.trim();
            if name.is_empty() {
                return None;
            }
            Some(DeviceInfo {
                name: name.to_owned(),
                vendor: f.next().unwrap_or_default().trim().to_owned(),
                model: f.next().unwrap_or_default().trim().to_owned(),
                kind: f.next().unwrap_or_default().trim().to_owned(),
            })
        })
        .collect()
}

/// Parse the option lines of `scanimage -d DEV -A` (lines indented by four spaces starting with
/// `-`; descriptions are indented further and skipped).
pub fn parse_device_options(device: &str, stdout: &str) -> DeviceOptions {
    let mut options = Vec::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("    -") else {
            continue;
        };
        if rest.starts_with(' ') {
            continue;
        }
        let rest = rest.trim_start_matches('-');
        let name_end = rest.find([' ', '[']).unwrap_or(rest.len());
        let name = rest[..name_end].to_owned();
        let mut tail = rest[name_end..].trim();
        let mut current = None;
        if tail.ends_with(']') {
            if let Some(open) = tail.rfind(" [").map(|i| i + 1).or_else(|| tail.rfind('[')) {
                current = Some(tail[open + 1..tail.len() - 1].to_owned());
                tail = tail[..open].trim();
            }
        }
        let inactive = current.as_deref() == Some("inactive");
        options.push(SaneOption {
            name,
            constraint: tail.to_owned(),
            current: if inactive { None } else { current },
            inactive,
        });
    }
    let list = |name: &str| -> Vec<String> {
        options
            .iter()
            .find(|o| o.name == name && !o.inactive)
            .map(|o| {
                o.constraint
                    .split('|')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let modes = list("mode");
    let sources = list("source");
    let resolutions = options
        .iter()
        .find(|o| o.name == "resolution")
        .map(|o| parse_resolutions(&o.constraint))
        .unwrap_or(ResolutionRange::Unknown);
    DeviceOptions {
        device: device.to_owned(),
        options,
        modes,
        sources,
        resolutions,
    }
}

fn parse_resolutions(constraint: &str) -> ResolutionRange {
    let spec = constraint.split(" (").next().unwrap_or_default().trim();
    let spec = spec.trim_end_matches("dpi");
    if let Some((lo, hi)) = spec.split_once("..") {
        match (lo.trim().parse::<f64>(), hi.trim().parse::<f64>()) {
            (Ok(lo), Ok(hi)) => ResolutionRange::Range {
                min: lo.ceil() as u32,
                max: hi.floor() as u32,
            },
            _ => ResolutionRange::Unknown,
        }
    } else {
        let v: Vec<u32> = spec
            .split('|')
            .filter_map(|s| s.trim().parse::<f64>().ok())
            .map(|f| f as u32)
            .collect();
        if v.is_empty() {
            ResolutionRange::Unknown
        } else {
            ResolutionRange::List(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_parse_ranges_and_lists() {
        assert_eq!(
            parse_resolutions("1..1200dpi (in steps of 1)"),
            ResolutionRange::Range { min: 1, max: 1200 }
        );
        assert_eq!(
            parse_resolutions("75|150|300|600dpi"),
            ResolutionRange::List(vec![75, 150, 300, 600])
        );
    }
}
