//! The fleet web page for technicians: `GET /v1/admin/fleet.html`, the fleet view of
//! [`super::fleet`] rendered on the server as one HTML page (inline CSS, no script, no asset
//! fetched from anywhere) that works on a phone, Vietnamese first with English.
//!
//! Every value shown comes from devices (ids, sites, printer words, versions), so each one goes
//! through [`escape`]. The page's "Thu hồi / Revoke" buttons are plain forms posting to
//! `POST /v1/admin/devices/{id}/revoke`; the browser sends the technician's client certificate
//! on its own, so that endpoint refuses a browser request from another site ([`same_origin`]).

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use motcua_domain::provisioning::{RemoteAction, RemoteActionKind};
use motcua_domain::wire::{ApiError, PrinterCondition};

use super::auth::{Caller, ManageFleet};
use super::failure::{ApiResult, Failure};
use super::html::{escape, path_segment};
use super::state::AppState;
use crate::store::{FleetEntry, FleetFlag, FleetView, ReleaseRow};

/// The fleet page: one card per enrolled device with its flags in words, its latest report,
/// a sparkline of its recent outbox depths and a revoke button.
#[utoipa::path(get, path = "/v1/admin/fleet.html", tag = "admin", security(("technician_certificate" = [])),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the fleet page"),
        (status = 401, body = ApiError),
        (status = 403, body = ApiError),
    ))]
pub(super) async fn admin_fleet_page(
    State(state): State<AppState>,
    _caller: Caller<ManageFleet>,
) -> ApiResult {
    let now = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    let view = state.0.store.fleet_view(&state.0.fleet, now).await?;
    let actions = state.0.store.recent_actions(RECENT_ACTIONS_READ).await?;
    let releases = state.0.store.releases().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // The page never needs another origin, a script or a frame: say so to the browser.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        render(&view, &actions, &releases),
    )
        .into_response())
}

/// Whether a request that changes something comes from the gateway's own pages, or from a
/// client that is not a browser. Browsers send the technician's client certificate to the
/// gateway whichever site made them post, so a forged form elsewhere would revoke a kiosk:
/// a browser says where a request comes from in `Sec-Fetch-Site` (or at least `Origin`), and
/// anything but the gateway itself is refused. Programs (kioskctl, curl, the provincial
/// system) send neither header and are not affected.
pub(super) fn same_origin(headers: &HeaderMap) -> Result<(), Failure> {
    let refused = |why: &str| {
        Err(Failure::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            format!("refused: {why}; use the gateway's own fleet page (/v1/admin/fleet.html)"),
        ))
    };
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin") | Ok("none")) {
            return refused("the request was made by another site");
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let expected = host.map(|h| format!("https://{h}"));
        if origin.to_str().ok() != expected.as_deref() {
            return refused("the request's Origin is not this gateway");
        }
    }
    Ok(())
}

/// Whether the request is an HTML form's (it then gets the page back, not JSON).
pub(super) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// After a form's revocation: back to the fleet page (303, so a reload does not post again).
pub(super) fn back_to_page() -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/v1/admin/fleet.html")],
    )
        .into_response()
}

/// Actions read for the page (newest first, all devices); each card shows its device's newest
/// [`ACTIONS_PER_CARD`].
const RECENT_ACTIONS_READ: i64 = 500;
const ACTIONS_PER_CARD: usize = 3;

fn flag_words(flag: FleetFlag) -> (&'static str, &'static str) {
    match flag {
        FleetFlag::Silent => ("silent", "Im lặng / Silent"),
        FleetFlag::OutOfPaper => ("out_of_paper", "Hết giấy / Out of paper"),
        FleetFlag::StuckOutbox => ("stuck_outbox", "Hàng đợi kẹt / Outbox stuck"),
        FleetFlag::ClockSkew => ("clock_skew", "Lệch giờ / Clock off"),
    }
}

fn printer_words(condition: PrinterCondition) -> &'static str {
    match condition {
        PrinterCondition::Ready => "Sẵn sàng / Ready",
        PrinterCondition::PaperLow => "Sắp hết giấy / Paper low",
        PrinterCondition::OutOfPaper => "Hết giấy / Out of paper",
        PrinterCondition::CoverOpen => "Nắp mở / Cover open",
        PrinterCondition::Fault => "Lỗi / Fault",
        PrinterCondition::Unreachable => "Không trả lời / Not answering",
    }
}

/// A duration in seconds as the largest sensible unit ("3 giờ / 3 h").
fn age(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} giây / {s} s"),
        s if s < 7200 => format!("{} phút / {} min", s / 60, s / 60),
        s if s < 172_800 => format!("{} giờ / {} h", s / 3600, s / 3600),
        s => format!("{} ngày / {} d", s / 86_400, s / 86_400),
    }
}

fn size(bytes: u64) -> String {
    // Display only: the precision lost converting to f64 is far below one shown digit.
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes >= 1 << 30 {
        format!("{:.1} GiB", b / f64::from(1u32 << 30))
    } else {
        format!("{:.0} MiB", b / f64::from(1u32 << 20))
    }
}

/// An RFC 3339 time as "2026-12-01 21:02:21" (in the offset it carries: the gateway's).
fn short_time(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at).map_or_else(
        |_| escape(at),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// An RFC 3339 time of the view as "2026-12-01 21:02:21 (5 phút trước / 5 min ago)": the
/// full timestamp with nanoseconds does not fit a phone and says less at a glance.
fn when(at: &str, now: &str) -> String {
    let (Ok(t), Ok(n)) = (
        chrono::DateTime::parse_from_rfc3339(at),
        chrono::DateTime::parse_from_rfc3339(now),
    ) else {
        return escape(at);
    };
    let ago = u64::try_from((n - t).num_seconds()).unwrap_or(0);
    format!(
        "{} <span class=\"muted\">({})</span>",
        t.format("%Y-%m-%d %H:%M:%S"),
        age(ago).replace(" / ", " trước / ") + " ago"
    )
}

/// An inline SVG polyline of the outbox depths, oldest left, scaled to the largest.
fn sparkline(depths: &[i64]) -> String {
    const W: i64 = 160;
    const H: i64 = 32;
    if depths.is_empty() {
        return "<span class=\"muted\">chưa có báo cáo / no reports yet</span>".into();
    }
    let max = depths.iter().copied().max().unwrap_or(0).max(1);
    let steps = i64::try_from(depths.len().saturating_sub(1))
        .unwrap_or(1)
        .max(1);
    let mut points = String::new();
    for (i, depth) in depths.iter().enumerate() {
        let x = i64::try_from(i).unwrap_or(0) * W / steps;
        let y = H - 2 - (depth.clamp(&0, &max) * (H - 4) / max);
        let _ = write!(points, "{x},{y} ");
    }
    let last = depths.last().copied().unwrap_or(0);
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" \
         aria-label=\"Độ sâu hàng đợi gần đây / recent outbox depth, max {max}, now {last}\">\
         <polyline fill=\"none\" stroke=\"#1b5e9e\" stroke-width=\"2\" points=\"{}\"/></svg>",
        points.trim_end()
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111}\
header{background:#1b5e9e;color:#fff;padding:.75rem 1rem}h1{font-size:1.25rem;margin:0}\
header p{margin:.25rem 0 0;font-size:.85rem}\
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));gap:.75rem;padding:.75rem}\
@media (max-width:40rem){main{grid-template-columns:1fr}}\
.card{background:#fff;border-radius:.5rem;padding:.75rem;border-left:.4rem solid #2e7d32;overflow-wrap:anywhere}\
.card.flagged{border-left-color:#c62828}.card.revoked{border-left-color:#757575;opacity:.8}\
h2{font-size:1.1rem;margin:0 0 .25rem}.site{color:#555;font-size:.9rem}\
.flags{list-style:none;padding:0;margin:.5rem 0;display:flex;flex-wrap:wrap;gap:.35rem}\
.flag{background:#c62828;color:#fff;font-weight:700;padding:.2rem .5rem;border-radius:.3rem}\
.ok{color:#2e7d32;font-weight:700;margin:.5rem 0}\
dl{display:grid;grid-template-columns:minmax(6rem,38%) 1fr;gap:.15rem .75rem;margin:.5rem 0;font-size:.9rem}\
dt{color:#555}dd{margin:0}.muted{color:#777}\
form{margin-top:.5rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}\
button{background:#fff;color:#c62828;border:2px solid #c62828;border-radius:.3rem;padding:.4rem .9rem;font-weight:700}\
button.action{color:#1b5e9e;border-color:#1b5e9e}.buttons{display:flex;flex-wrap:wrap;gap:0 .5rem}\
.actions{margin:.25rem 0;padding-left:1.1rem;font-size:.9rem}.bad{color:#c62828;font-weight:700}\
.releases{background:#fff;margin:.75rem .75rem 0;padding:.75rem;border-radius:.5rem;overflow-x:auto}\
table{border-collapse:collapse;font-size:.9rem}th,td{padding:.3rem .5rem;text-align:left;border-bottom:1px solid #ddd;vertical-align:top}\
td.buttons form{margin:0}";

/// The whole page.
fn render(view: &FleetView, actions: &[RemoteAction], releases: &[ReleaseRow]) -> String {
    let flagged = view.devices.iter().filter(|d| !d.flags.is_empty()).count();
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Đội máy kiosk / Kiosk fleet</title><style>{STYLE}</style></head><body>\
         <header><h1>Đội máy kiosk / Kiosk fleet</h1><p>{} máy, {flagged} cần xem / {} devices, \
         {flagged} to look at · {}</p></header><main>",
        view.devices.len(),
        view.devices.len(),
        short_time(&view.at)
    );
    super::fleet_releases::section(&mut page, releases);
    if view.devices.is_empty() {
        page.push_str("<p>Chưa có máy nào đăng ký / No device enrolled yet.</p>");
    }
    // What needs looking at comes first: on a phone only the first card or two are in view.
    let mut devices: Vec<&FleetEntry> = view.devices.iter().collect();
    devices.sort_by_key(|d| d.flags.is_empty() && !d.revoked);
    for device in devices {
        let mine: Vec<&RemoteAction> = actions
            .iter()
            .filter(|a| a.device_id == device.device_id)
            .take(ACTIONS_PER_CARD)
            .collect();
        card(&mut page, device, &view.at, &mine);
    }
    page.push_str("</main></body></html>\n");
    page
}

fn card(page: &mut String, d: &FleetEntry, now: &str, actions: &[&RemoteAction]) {
    let id = escape(&d.device_id);
    let class = if d.revoked {
        "card revoked"
    } else if d.flags.is_empty() {
        "card"
    } else {
        "card flagged"
    };
    let _ = write!(
        page,
        "<section class=\"{class}\" id=\"device-{id}\" data-device=\"{id}\"><h2>{id}</h2>\
         <div class=\"site\">Đơn vị / Site: {}</div>",
        escape(&d.site)
    );
    if d.revoked {
        page.push_str("<p class=\"flag\">Đã thu hồi / Revoked</p>");
    }
    if d.flags.is_empty() {
        page.push_str("<p class=\"ok\">Bình thường / All well</p>");
    } else {
        page.push_str("<ul class=\"flags\">");
        for flag in &d.flags {
            let (code, words) = flag_words(*flag);
            let _ = write!(page, "<li class=\"flag\" data-flag=\"{code}\">{words}</li>");
        }
        page.push_str("</ul>");
    }
    let none = "<span class=\"muted\">—</span>".to_string();
    let last_seen = d.last_seen_at.as_deref().map_or_else(
        || "<span class=\"muted\">chưa bao giờ / never</span>".to_string(),
        |at| when(at, now),
    );
    let report = d.report.as_ref();
    let version = report.map_or_else(|| none.clone(), |r| escape(&r.software_version));
    let depth = report.map_or_else(|| none.clone(), |r| r.outbox_pending.to_string());
    let oldest = report
        .and_then(|r| r.oldest_undelivered_s)
        .map_or_else(|| none.clone(), age);
    let held = report.map_or_else(
        || none.clone(),
        |r| {
            format!(
                "{} chờ kỹ thuật / waiting for a technician, {} để riêng / set aside",
                r.needs_technician, r.set_aside
            )
        },
    );
    let printer = report.and_then(|r| r.printer.as_ref()).map_or_else(
        || none.clone(),
        |p| {
            format!(
                "{} <span class=\"muted\">({})</span>",
                printer_words(p.condition),
                escape(&p.detail)
            )
        },
    );
    let disk = report.map_or_else(
        || none.clone(),
        |r| {
            r.disk_free_bytes.map_or_else(
                || none.clone(),
                |free| {
                    format!(
                        "{} trống / free (ngưỡng / floor {})",
                        size(free),
                        size(r.disk_floor_bytes)
                    )
                },
            )
        },
    );
    let clock = d
        .clock_offset_s
        .map_or_else(|| none.clone(), |s| format!("{s:+} s"));
    let depths: Vec<i64> = d.recent.iter().map(|p| p.outbox_pending).collect();
    let _ = write!(
        page,
        "<dl><dt>Liên lạc cuối / Last seen</dt><dd>{last_seen}</dd>\
         <dt>Phiên bản / Version</dt><dd>{version}</dd>\
         <dt>Hàng đợi / Outbox</dt><dd data-field=\"outbox\">{depth}</dd>\
         <dt>Chờ lâu nhất / Oldest undelivered</dt><dd>{oldest}</dd>\
         <dt>Bị giữ / Held</dt><dd>{held}</dd>\
         <dt>Máy in / Printer</dt><dd>{printer}</dd>\
         <dt>Đĩa / Disk</dt><dd>{disk}</dd>\
         <dt>Lệch đồng hồ / Clock offset</dt><dd>{clock}</dd>\
         <dt>Gần đây / Recent</dt><dd>{}</dd></dl>",
        sparkline(&depths)
    );
    remote_actions(page, d, actions);
    if !d.revoked {
        let _ = write!(
            page,
            "<form method=\"post\" action=\"/v1/admin/devices/{}/revoke\">\
             <label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> \
             Chắc chắn / I am sure</label>\
             <button type=\"submit\">Thu hồi / Revoke</button></form>",
            escape(&path_segment(&d.device_id))
        );
    }
    page.push_str("</section>");
}

/// The card's remote-action part: the last self-test of the report, the device's newest
/// actions with their results, and one button per action kind (a form posting
/// `kind=…` to `POST /v1/admin/devices/{id}/actions`, refused from another site like revoke).
fn remote_actions(page: &mut String, d: &FleetEntry, actions: &[&RemoteAction]) {
    let self_test = d.report.as_ref().and_then(|r| r.last_self_test.as_ref());
    let summary = match self_test {
        None => "<span class=\"muted\">chưa có / none yet</span>".to_string(),
        Some(t) if t.passed => {
            format!("đạt / passed · {}", escape(&short_time(&t.at.to_rfc3339())))
        }
        Some(t) => format!(
            "<span class=\"bad\">lỗi / failed: {}</span> · {}",
            escape(&t.failed.join(", ")),
            escape(&short_time(&t.at.to_rfc3339()))
        ),
    };
    let _ = write!(
        page,
        "<dl><dt>Tự kiểm tra cuối / Last self-test</dt><dd data-field=\"self-test\">{summary}</dd></dl>"
    );
    if !actions.is_empty() {
        page.push_str("<ul class=\"actions\">");
        for a in actions {
            let state = match (&a.result, &a.completed_at) {
                (Some(r), _) => format!(
                    "{} {}",
                    if r.ok {
                        "xong / done:"
                    } else {
                        "lỗi / failed:"
                    },
                    escape(&r.detail)
                ),
                (None, Some(_)) => "xong / done".to_string(),
                (None, None) => "đang chờ ki-ốt / waiting for the kiosk".to_string(),
            };
            let _ = write!(
                page,
                "<li data-action=\"{}\" data-kind=\"{}\">{} <span class=\"muted\">({}, {})</span>: {state}</li>",
                a.id,
                a.kind.as_str(),
                escape(a.kind.label()),
                escape(&a.requested_by),
                escape(&short_time(&a.requested_at)),
            );
        }
        page.push_str("</ul>");
    }
    if d.revoked {
        return;
    }
    let target = escape(&path_segment(&d.device_id));
    page.push_str("<div class=\"buttons\">");
    for kind in RemoteActionKind::ALL {
        let _ = write!(
            page,
            "<form method=\"post\" action=\"/v1/admin/devices/{target}/actions\">\
             <input type=\"hidden\" name=\"kind\" value=\"{}\">\
             <button type=\"submit\" class=\"action\">{}</button></form>",
            kind.as_str(),
            escape(kind.label())
        );
    }
    page.push_str("</div>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn values_from_devices_cannot_make_markup() {
        assert_eq!(
            escape("<script>\"a\"&'b'</script>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(path_segment("K 1/../x?"), "K%201%2F..%2Fx%3F");
    }

    #[test]
    fn only_the_gateways_own_pages_and_programs_may_post() {
        assert!(same_origin(&headers(&[])).is_ok(), "a program");
        assert!(same_origin(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://gw:8443"),
            ("host", "gw:8443")
        ]))
        .is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-site")])).is_err());
        assert!(same_origin(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "gw:8443")
        ]))
        .is_err());
        assert!(same_origin(&headers(&[("origin", "null"), ("host", "gw:8443")])).is_err());
    }

    #[test]
    fn the_sparkline_has_one_point_per_report() {
        let svg = sparkline(&[0, 3, 1]);
        assert!(svg.contains("points=\"0,30 80,2 160,21\""), "{svg}");
        assert!(sparkline(&[]).contains("no reports"));
    }

    #[test]
    fn times_are_short_and_say_how_long_ago() {
        let shown = when("2026-12-01T21:02:21.955+07:00", "2026-12-01T21:07:30+07:00");
        assert!(shown.starts_with("2026-12-01 21:02:21 "), "{shown}");
        assert!(shown.contains("5 phút trước / 5 min ago"), "{shown}");
        assert_eq!(when("<b>", "x"), "&lt;b&gt;");
        assert_eq!(size(200 << 20), "200 MiB");
    }
}
