//! The `[hub]` table: the centre's queue hub (issue #18), when the centre runs one.
//!
//! ```toml
//! [hub]
//! url = "https://10.0.0.5:8710"   # https://host:port of the hub's kiosk port
//! device_id = "KIOSK-H56-HUB"     # optional: only this device of the site is the hub
//! ```
//!
//! Without the table the kiosk numbers its own tickets and sends them to the gateway, as
//! before. With it, tickets are numbered by the hub (one sequence per area across the hall),
//! and from the kiosk's own fallback block while the hub is unreachable.

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Located};

/// The `[hub]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// `https://host:port`, no path.
    pub url: String,
    /// The hub's device id, when the kiosk should accept no other device of its site as hub.
    pub device_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHub {
    url: Spanned<String>,
    device_id: Option<Spanned<String>>,
}

/// Whether `id` is a device id as `device.id` allows.
pub(crate) fn valid_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Checks `https://host:port` (a trailing `/` allowed): the hub has no well-known port, and a
/// path would be a typo of another service.
fn check_url(url: &str) -> Result<String, &'static str> {
    let url = url.trim_end_matches('/');
    let rest = url.strip_prefix("https://").ok_or(
        "phải bắt đầu bằng https:// / must start with https:// (the hub is reached over TLS only)",
    )?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or("thiếu cổng / the port is missing: https://host:port")?;
    let host_ok = !host.is_empty()
        && !host.contains(['/', '@', '?', '#', ' '])
        && (host.starts_with('[') == host.ends_with(']'));
    if !host_ok {
        return Err("không phải https://host:port / is not https://host:port");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.chars().all(|c| c.is_ascii_digit()) => Ok(url.to_owned()),
        _ => Err("cổng phải là số 1–65535 / the port must be a number 1–65535"),
    }
}

pub(crate) fn hub_settings(
    raw: Option<RawHub>,
    at: &Located<'_>,
) -> Result<Option<HubSettings>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let url = check_url(raw.url.get_ref())
        .map_err(|why| at.error(raw.url.span(), format!("hub.url: {why}")))?;
    let device_id = match raw.device_id {
        None => None,
        Some(id) if valid_device_id(id.get_ref()) => Some(id.into_inner()),
        Some(id) => {
            return Err(at.error(
                id.span(),
                "hub.device_id: 1 đến 64 chữ, số, '-', '_' hoặc '.' / must be 1 to 64 letters, digits, '-', '_' or '.'",
            ))
        }
    };
    Ok(Some(HubSettings { url, device_id }))
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn only_https_host_and_port() {
        assert_eq!(
            check_url("https://10.0.0.5:8710/"),
            Ok("https://10.0.0.5:8710".into())
        );
        assert!(check_url("https://[::1]:8710").is_ok());
        assert!(check_url("http://10.0.0.5:8710").is_err());
        assert!(check_url("https://10.0.0.5").is_err());
        assert!(check_url("https://10.0.0.5:0").is_err());
        assert!(check_url("https://10.0.0.5:8710/v1").is_err());
        assert!(check_url("https://:8710").is_err());
    }
}
