//! Software releases on the link: what the gateway offers a device (`GET /v1/releases/offer`),
//! and how far the device got with it (`POST /v1/releases/{version}/report`). The package
//! itself is `GET /v1/releases/{version}/package`, with HTTP range requests so that a download
//! over a weak link goes on where it stopped.

use serde::{Deserialize, Serialize};

/// Longest `detail` a report may carry (the last log lines of a version that did not become
/// healthy), in characters; more is 422 `detail_too_long`.
pub const REPORT_DETAIL_MAX: usize = 16 * 1024;

/// The question: which package the device runs, at which version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct OfferQuery {
    /// The Debian package the device runs (`motcua-kiosk`).
    #[cfg_attr(feature = "openapi", param(pattern = "^[a-z0-9][a-z0-9+.-]{1,63}$"))]
    pub package: String,
    /// The version installed now, as `dpkg-query` says it.
    #[cfg_attr(feature = "openapi", param(pattern = "^[0-9][A-Za-z0-9.+~:-]{0,99}$"))]
    pub running: String,
}

/// The answer: the release this device should install now, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseOffer {
    /// `None` when nothing newer is offered to this device now.
    pub release: Option<OfferedRelease>,
}

/// A release offered to the asking device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferedRelease {
    /// Its Debian version.
    pub version: String,
    /// The manifest signed with the province's release key (`MOTCUA-RELEASE1.…`): the kiosk
    /// trusts the package's hash and size only from here, never from this answer's other fields.
    pub manifest: String,
    /// Size of the package in bytes (as in the manifest).
    pub size: u64,
    /// SHA-256 of the package, lowercase hex (as in the manifest; the package's `ETag`).
    pub sha256: String,
}

/// How far a device got with a release. Stages only go forward; `committed`, `rolled_back`
/// and `failed` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStage {
    /// The gateway offered it (recorded by the gateway itself).
    Offered,
    /// The package is on the device, its signature and hash checked.
    Downloaded,
    /// Installed; the new version is proving healthy.
    Installed,
    /// Healthy for the set time: kept.
    Committed,
    /// Not healthy: the previous version is back.
    RolledBack,
    /// Refused before installing (a package or manifest that does not check out, an install
    /// that dpkg refused).
    Failed,
}

impl ReleaseStage {
    /// Every stage, in order.
    pub const ALL: [Self; 6] = [
        Self::Offered,
        Self::Downloaded,
        Self::Installed,
        Self::Committed,
        Self::RolledBack,
        Self::Failed,
    ];

    /// The word on the wire and in the gateway's store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Downloaded => "downloaded",
            Self::Installed => "installed",
            Self::Committed => "committed",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
        }
    }

    /// The stage a word names.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Whether nothing comes after it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Committed | Self::RolledBack | Self::Failed)
    }

    fn rank(self) -> u8 {
        match self {
            Self::Offered => 0,
            Self::Downloaded => 1,
            Self::Installed => 2,
            Self::Committed | Self::RolledBack | Self::Failed => 3,
        }
    }

    /// Whether a device at `self` may report `next`: forward only, nothing after a final stage
    /// (a repeated report of the same stage is a retry, accepted as a no-op by the gateway).
    pub fn may_become(self, next: Self) -> bool {
        !self.is_final() && next.rank() > self.rank()
    }
}

/// A device's report of its progress with a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleaseReport {
    /// The stage reached (`offered` is the gateway's own and refused here).
    pub stage: ReleaseStage,
    /// Why, for `rolled_back` and `failed`: the new version's last log lines, or what did not
    /// check out. At most [`REPORT_DETAIL_MAX`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 16384))]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::ReleaseStage::*;
    use super::*;

    #[test]
    fn stages_only_go_forward_and_finals_stay() {
        assert!(Offered.may_become(Downloaded));
        assert!(Offered.may_become(Failed), "a tampered download fails");
        assert!(Downloaded.may_become(Installed));
        assert!(Installed.may_become(RolledBack));
        assert!(Installed.may_become(Committed));
        assert!(!Installed.may_become(Downloaded));
        assert!(!Downloaded.may_become(Downloaded));
        for last in [Committed, RolledBack, Failed] {
            assert!(last.is_final());
            assert!(ReleaseStage::ALL.iter().all(|s| !last.may_become(*s)));
        }
        for s in ReleaseStage::ALL {
            assert_eq!(ReleaseStage::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(ReleaseStage::parse("rolledback"), None);
    }

    #[test]
    fn a_report_refuses_unknown_fields() {
        let ok: Result<ReleaseReport, _> =
            serde_json::from_str(r#"{"stage":"rolled_back","detail":"kioskd: config"}"#);
        assert_eq!(ok.ok().map(|r| r.stage), Some(RolledBack));
        let bad: Result<ReleaseReport, _> =
            serde_json::from_str(r#"{"stage":"committed","version":"9"}"#);
        assert!(bad.is_err());
    }
}
