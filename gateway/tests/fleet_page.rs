//! The technicians' fleet page against both storage backends: only a technician opens it, what
//! devices report is shown escaped, and its revoke form works from the page itself while the
//! same post made by another site (a forged form: the browser would send the technician's
//! certificate anyway) revokes nothing.

#[macro_use]
mod harness;

use harness::*;
use motcua_domain::wire::{HealthReport, PrinterCondition, PrinterHealth};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn out_of_paper_report() -> HealthReport {
    let now = chrono::Utc::now().with_timezone(&motcua_domain::vietnam_offset());
    HealthReport {
        software_version: "0.1.0<i>".into(),
        generated_at: now,
        sent_at: Some(now),
        uptime_s: 60,
        outbox_pending: 2,
        oldest_undelivered_s: Some(90),
        needs_technician: 1,
        set_aside: 0,
        printer: Some(PrinterHealth {
            condition: PrinterCondition::OutOfPaper,
            detail: "<script>alert(1)</script>".into(),
        }),
        disk_free_bytes: Some(10 << 30),
        disk_floor_bytes: 200 << 20,
        last_self_test: None,
    }
}

async fn page(h: &Harness, cred: &Cred) -> reqwest::Response {
    h.req(Method::GET, "/v1/admin/fleet.html", Some(cred))
        .send()
        .await
        .expect("page")
}

fn revoke_form(h: &Harness, id: &str) -> reqwest::RequestBuilder {
    h.req(
        Method::POST,
        &format!("/v1/admin/devices/{id}/revoke"),
        Some(&h.technician),
    )
    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
    .body("confirm=yes")
}

async fn revoked(h: &Harness, id: &str) -> bool {
    let fleet: Value = h
        .req(Method::GET, "/v1/admin/fleet", Some(&h.technician))
        .send()
        .await
        .expect("fleet")
        .json()
        .await
        .expect("fleet JSON");
    fleet["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["device_id"] == id))
        .map(|d| d["revoked"] == true)
        .unwrap_or_else(|| panic!("{id} not listed: {fleet}"))
}

async fn the_page_is_for_technicians_and_escapes_what_devices_say(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-PAGE").await;
    let r = h
        .post_json(
            "/v1/health-reports",
            &kiosk,
            Some("page-1"),
            &out_of_paper_report(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = page(&h, &kiosk).await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a device cannot see the fleet"
    );
    assert_eq!(error_code(r).await, "forbidden_role");
    let r = page(&h, &h.auditor).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = page(&h, &h.technician).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[CONTENT_TYPE].to_str().ok(),
        Some("text/html; charset=utf-8")
    );
    let html = r.text().await.expect("page text");
    assert!(html.contains("data-device=\"KIOSK-PAGE\""), "{html}");
    assert!(html.contains("Hết giấy / Out of paper"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("0.1.0&lt;i&gt;"), "{html}");
    assert!(
        !html.contains("<script"),
        "nothing a device says becomes markup"
    );
    assert!(html.contains("action=\"/v1/admin/devices/KIOSK-PAGE/revoke\""));
    h.finish().await;
}

async fn the_revoke_form_works_from_the_page_only(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let kiosk = h.enroll("KIOSK-FORM").await;
    let other_site = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://attacker.example"),
    ];
    let r = revoke_form(&h, "KIOSK-FORM")
        .header(other_site[0].0, other_site[0].1)
        .header(other_site[1].0, other_site[1].1)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "cross_site_request");
    // An older browser that says only Origin.
    let r = revoke_form(&h, "KIOSK-FORM")
        .header("origin", "https://attacker.example")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "cross_site_request");
    assert!(!revoked(&h, "KIOSK-FORM").await, "nothing was revoked");
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&kiosk))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK, "the kiosk still works");

    // The page's own form: same origin, answered with the page again (303, which the client
    // follows with a GET, as a browser does).
    let r = revoke_form(&h, "KIOSK-FORM")
        .header("sec-fetch-site", "same-origin")
        .header("origin", h.url(""))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), "/v1/admin/fleet.html");
    assert!(revoked(&h, "KIOSK-FORM").await);
    let html = r.text().await.expect("page text");
    assert!(html.contains("Đã thu hồi / Revoked"), "{html}");
    assert!(
        !html.contains("action=\"/v1/admin/devices/KIOSK-FORM/revoke\""),
        "a revoked device has no revoke button: {html}"
    );
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&kiosk))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "certificate_revoked");
    h.finish().await;
}

scenarios!(
    the_page_is_for_technicians_and_escapes_what_devices_say,
    the_revoke_form_works_from_the_page_only,
);
