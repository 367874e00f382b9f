//! The fleet page's release section: per release, how many devices it was offered to,
//! downloaded, installed, kept and rolled back, its rollout state (and why it was paused, by a
//! technician or by itself), and buttons that pause, resume or abort it (forms posting to
//! `POST /v1/admin/releases/{version}/…`, see [`super::releases_admin`]).

use std::fmt::Write as _;

use super::html::{escape, path_segment};
use crate::store::{ReleaseRow, RolloutState};

/// Releases shown: the newest; older ones are in `GET /v1/admin/releases`.
const RELEASES_SHOWN: usize = 10;

fn state_words(state: RolloutState) -> &'static str {
    match state {
        RolloutState::Rolling => "Đang triển khai / Rolling out",
        RolloutState::Paused => "Tạm dừng / Paused",
        RolloutState::Aborted => "Đã hủy / Aborted",
    }
}

fn button(page: &mut String, version: &str, verb: &str, words: &str) {
    let _ = write!(
        page,
        "<form method=\"post\" action=\"/v1/admin/releases/{}/{verb}\">\
         <button class=\"action\" type=\"submit\">{words}</button></form>",
        escape(&path_segment(version))
    );
}

/// Appends the section (nothing when no release was published).
pub(super) fn section(page: &mut String, releases: &[ReleaseRow]) {
    if releases.is_empty() {
        return;
    }
    page.push_str(
        "<section class=\"releases\"><h2>Bản phát hành / Releases</h2><table>\
         <tr><th>Phiên bản / Version</th><th>Trạng thái / State</th>\
         <th>Đã mời / Offered</th><th>Đã tải / Downloaded</th><th>Đã cài / Installed</th>\
         <th>Giữ / Committed</th><th>Quay lại / Rolled back</th><th>Lỗi / Failed</th><th></th></tr>",
    );
    for r in releases.iter().take(RELEASES_SHOWN) {
        let version = escape(&r.version);
        let class = match r.state {
            RolloutState::Paused => " class=\"bad\"",
            _ => "",
        };
        let _ = write!(
            page,
            "<tr data-release=\"{version}\"><td>{} {version}<br><span class=\"muted\">{}</span></td>\
             <td{class}>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"buttons\">",
            escape(&r.package),
            crate::store::rfc3339(r.published_at),
            state_words(r.state),
            r.state_reason
                .as_deref()
                .map(|why| format!("<br><span class=\"muted\">{}</span>", escape(why)))
                .unwrap_or_default(),
            r.devices,
            r.downloaded,
            r.installed,
            r.committed,
            r.rolled_back,
            r.failed,
        );
        match r.state {
            RolloutState::Rolling => {
                button(page, &r.version, "pause", "Tạm dừng / Pause");
                button(page, &r.version, "abort", "Hủy / Abort");
            }
            RolloutState::Paused => {
                button(page, &r.version, "resume", "Tiếp tục / Resume");
                button(page, &r.version, "abort", "Hủy / Abort");
            }
            RolloutState::Aborted => {}
        }
        page.push_str("</td></tr>");
    }
    page.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: &str, state: RolloutState, reason: Option<&str>) -> ReleaseRow {
        ReleaseRow {
            version: version.into(),
            package: "motcua-kiosk".into(),
            sha256: "0".repeat(64),
            size: 10,
            published_at: 1_764_000_000,
            state,
            state_reason: reason.map(str::to_owned),
            devices: 12,
            downloaded: 9,
            installed: 7,
            failed: 1,
            committed: 4,
            rolled_back: 2,
        }
    }

    #[test]
    fn each_release_shows_its_progress_and_the_buttons_its_state_allows() {
        let mut page = String::new();
        section(
            &mut page,
            &[
                row("1:0.4.0~rc1", RolloutState::Paused, Some("<b>2 of 6</b>")),
                row("0.3.0", RolloutState::Aborted, None),
            ],
        );
        assert!(page.contains("data-release=\"1:0.4.0~rc1\""), "{page}");
        assert!(page.contains("<td>12</td><td>9</td><td>7</td><td>4</td><td>2</td><td>1</td>"));
        assert!(
            page.contains("&lt;b&gt;2 of 6&lt;/b&gt;"),
            "reasons are escaped"
        );
        assert!(
            page.contains("action=\"/v1/admin/releases/1%3A0.4.0~rc1/resume\""),
            "{page}"
        );
        assert!(
            !page.contains("/v1/admin/releases/0.3.0/"),
            "an aborted release has no button"
        );
        let mut none = String::new();
        section(&mut none, &[]);
        assert!(none.is_empty());
    }
}
