//! The gateway's behaviour over real HTTP on loopback, against both storage backends.
//!
//! Every scenario is one `async fn scenario(backend)`; the `scenarios!` macro at the bottom runs
//! each against embedded SQLite (a file in a temporary directory) and against PostgreSQL (a fresh
//! database per test on the server named by `MOTCUA_TEST_DATABASE_URL`). Without that variable the
//! PostgreSQL variants fail, telling how to run them, unless `MOTCUA_SKIP_POSTGRES=1`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use motcua_domain::catalog::{Catalog, DocumentKind, Procedure, RequiredDocument};
use motcua_domain::wire::{
    Applicant, DocumentRef, DossierStatusView, DossierSubmission, EnrollRequest, EnrollResponse,
    IngestAck, RatingSubmission, TicketIssued,
};
use motcua_gateway::{GatewayConfig, RunningGateway};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ENROLL_KEY: &str = "enrol-secret";
const ADMIN_KEY: &str = "admin-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Where the PostgreSQL test database lives, so it can be dropped at the end.
struct PgDb {
    server_url: String,
    name: String,
    url: String,
}

struct Harness {
    dir: tempfile::TempDir,
    pg: Option<PgDb>,
    gateway: Option<RunningGateway>,
    base: String,
    http: reqwest::Client,
}

fn catalog() -> Catalog {
    Catalog {
        version: "2026.1".into(),
        procedures: vec![Procedure {
            code: "1.001193".into(),
            name_vi: "Đăng ký khai sinh".into(),
            name_en: "Birth registration".into(),
            field_vi: "Hộ tịch".into(),
            field_en: "Civil status".into(),
            processing_days: 0,
            fee_vnd: 0,
            agency_code: "000.17.22.H56".into(),
            documents: vec![RequiredDocument {
                name_vi: "Giấy chứng sinh".into(),
                name_en: "Birth certificate".into(),
                kind: DocumentKind::Original,
                count: 1,
                mandatory: true,
            }],
        }],
    }
}

fn replace_db_name(server_url: &str, db: &str) -> String {
    let (url, query) = match server_url.split_once('?') {
        Some((u, q)) => (u, format!("?{q}")),
        None => (server_url, String::new()),
    };
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let host_part = match url[scheme_end..].find('/') {
        Some(i) => &url[..scheme_end + i],
        None => url,
    };
    format!("{host_part}/{db}{query}")
}

async fn pg_admin(server_url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(server_url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to the test PostgreSQL server {server_url}: {e}")
        });
    let task = tokio::spawn(conn);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql} failed on {server_url}: {e}"));
    drop(client);
    let _ = task.await;
}

impl Harness {
    /// Starts a gateway on a fresh data directory (and database). `None`: PostgreSQL skipped.
    async fn start(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let Ok(server_url) = std::env::var("MOTCUA_TEST_DATABASE_URL") else {
                    if std::env::var("MOTCUA_SKIP_POSTGRES").as_deref() == Ok("1") {
                        eprintln!("PostgreSQL variant skipped: MOTCUA_SKIP_POSTGRES=1");
                        return None;
                    }
                    panic!(
                        "MOTCUA_TEST_DATABASE_URL is not set, so the PostgreSQL variants of the gateway tests cannot run. \
                         Run the tests as gateway/README.md says (start PostgreSQL, then \
                         MOTCUA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5433/postgres cargo test -p motcua-gateway), \
                         or set MOTCUA_SKIP_POSTGRES=1 to test SQLite only."
                    );
                };
                let name = format!("motcua_test_{}", hex::encode(rand::random::<[u8; 6]>()));
                pg_admin(&server_url, &format!("CREATE DATABASE {name}")).await;
                let url = replace_db_name(&server_url, &name);
                Some(PgDb {
                    server_url,
                    name,
                    url,
                })
            }
        };
        let mut h = Harness {
            dir,
            pg,
            gateway: None,
            base: String::new(),
            // No pooled connections: some scenarios make the server close a connection (a
            // refused oversized body), and a reused dead connection would fail the next request.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
                .expect("http client"),
        };
        h.boot().await;
        Some(h)
    }

    fn config(&self) -> GatewayConfig {
        let mut config = GatewayConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            self.dir.path(),
            ENROLL_KEY,
            ADMIN_KEY,
            catalog(),
        );
        config.database_url = self.pg.as_ref().map(|p| p.url.clone());
        config.max_upload_bytes = 1024 * 1024;
        config
    }

    async fn boot(&mut self) {
        let gateway = motcua_gateway::start(self.config())
            .await
            .expect("gateway starts");
        self.base = format!("http://{}", gateway.local_addr());
        self.gateway = Some(gateway);
    }

    /// Shuts the gateway down and starts a new one on the same data directory and database.
    async fn restart(&mut self) {
        if let Some(g) = self.gateway.take() {
            g.shutdown().await;
        }
        self.boot().await;
    }

    async fn finish(mut self) {
        if let Some(g) = self.gateway.take() {
            g.shutdown().await;
        }
        if let Some(pg) = self.pg.take() {
            pg_admin(
                &pg.server_url,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name),
            )
            .await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn req(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.http.request(method, self.url(path));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn enroll(&self, device: &str) -> String {
        self.enroll_with(device, None).await
    }

    async fn enroll_with(&self, device: &str, auth: Option<&str>) -> String {
        let r = self.enroll_request(device, auth).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: EnrollResponse = r.json().await.expect("enroll body");
        assert_eq!(body.device_id, device);
        body.token
    }

    async fn enroll_request(&self, device: &str, auth: Option<&str>) -> reqwest::Response {
        self.req(Method::POST, "/v1/devices/enroll", auth)
            .json(&EnrollRequest {
                device_id: device.into(),
                enrollment_key: ENROLL_KEY.into(),
            })
            .send()
            .await
            .expect("enroll request")
    }

    async fn stats(&self) -> Value {
        let r = self
            .req(Method::GET, "/v1/admin/stats", Some(ADMIN_KEY))
            .send()
            .await
            .expect("stats");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("stats body")
    }

    async fn create_upload(&self, token: &str, data: &[u8]) -> reqwest::Response {
        self.create_upload_claiming(token, data.len() as u64, &sha_hex(data))
            .await
    }

    async fn create_upload_claiming(
        &self,
        token: &str,
        length: u64,
        sha: &str,
    ) -> reqwest::Response {
        let meta = format!(
            "filename {},sha256 {}",
            base64::engine::general_purpose::STANDARD.encode("giay-chung-sinh.pdf"),
            base64::engine::general_purpose::STANDARD.encode(sha)
        );
        self.req(Method::POST, "/v1/uploads", Some(token))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", meta)
            .send()
            .await
            .expect("create upload")
    }

    /// Creates an upload and returns its Location.
    async fn new_upload(&self, token: &str, data: &[u8]) -> String {
        let r = self.create_upload(token, data).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        header(&r, "location")
    }

    async fn patch(
        &self,
        token: &str,
        location: &str,
        offset: u64,
        bytes: &[u8],
    ) -> reqwest::Response {
        self.req(Method::PATCH, location, Some(token))
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .body(bytes.to_vec())
            .send()
            .await
            .expect("patch")
    }

    async fn head_offset(&self, token: &str, location: &str) -> u64 {
        let r = self
            .req(Method::HEAD, location, Some(token))
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .expect("head");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(header(&r, "cache-control"), "no-store");
        assert_eq!(header(&r, "tus-resumable"), "1.0.0");
        header(&r, "upload-offset").parse().expect("numeric offset")
    }

    /// Uploads `data` completely in one PATCH.
    async fn upload_all(&self, token: &str, data: &[u8]) {
        let loc = self.new_upload(token, data).await;
        if self.head_offset(token, &loc).await == data.len() as u64 {
            return;
        }
        let r = self.patch(token, &loc, 0, data).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    async fn post_json(
        &self,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: &impl serde::Serialize,
    ) -> reqwest::Response {
        let mut r = self.req(Method::POST, path, Some(token)).json(body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send().await.expect("post")
    }

    fn part_file(&self, location: &str) -> PathBuf {
        let id = location.rsplit('/').next().expect("id in location");
        self.dir.path().join("uploads").join(format!("{id}.part"))
    }
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has no {name} header"))
        .to_str()
        .expect("ascii header")
        .to_string()
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

async fn error_code(r: reqwest::Response) -> String {
    let v: Value = r.json().await.expect("ApiError body");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error has a message: {v}"
    );
    v["error"].as_str().expect("error code").to_string()
}

fn document(data: &[u8]) -> DocumentRef {
    DocumentRef {
        name: "Giấy chứng sinh".into(),
        file_name: "giay-chung-sinh.pdf".into(),
        media_type: "application/pdf".into(),
        size: data.len() as u64,
        sha256: sha_hex(data),
    }
}

fn vn_time() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-05-31T09:15:00+07:00").expect("time")
}

fn dossier(device: &str, code: &str, docs: Vec<DocumentRef>) -> DossierSubmission {
    DossierSubmission {
        code: code.into(),
        procedure_code: "1.001193".into(),
        agency_code: "000.17.22.H56".into(),
        device_id: device.into(),
        applicant: Applicant {
            full_name: "Nguyễn Văn An".into(),
            id_number: Some("079201001234".into()),
            birth_date: None,
            address: "Phường 1, Sóc Trăng".into(),
            phone: "0900000000".into(),
            email: String::new(),
        },
        received_at: vn_time(),
        appointment_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 5).expect("date"),
        documents: docs,
    }
}

fn rating(device: &str, transaction: &str, level: u8) -> RatingSubmission {
    RatingSubmission {
        transaction: transaction.into(),
        device_id: device.into(),
        scale_levels: 5,
        level,
        score: 2,
        rated_at: vn_time(),
    }
}

fn ticket(device: &str, id: &str, number: u32) -> TicketIssued {
    TicketIssued {
        ticket_id: id.into(),
        service_area: "HT".into(),
        number,
        device_id: device.into(),
        issued_at: vn_time(),
    }
}

fn blob(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async fn health_and_enrolment(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let r = h
        .req(Method::GET, "/v1/health", None)
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        serde_json::json!({"status": "ok"})
    );

    let r = h
        .req(Method::POST, "/v1/devices/enroll", None)
        .json(&EnrollRequest {
            device_id: "KIOSK-1".into(),
            enrollment_key: "wrong".into(),
        })
        .send()
        .await
        .expect("enroll");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "forbidden");
    assert_eq!(h.stats().await["devices"], 0);

    let first = h.enroll("KIOSK-1").await;
    assert!(first.len() >= 32);
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&first))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK);

    // The enrolment key alone cannot take over a known device.
    let r = h.enroll_request("KIOSK-1", None).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "already_enrolled");
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&first))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK, "the real kiosk keeps working");

    // Re-enrolment allowed by the admin issues a new token and revokes the old one.
    let second = h.enroll_with("KIOSK-1", Some(ADMIN_KEY)).await;
    assert_ne!(first, second);
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&first))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&second))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h.stats().await["devices"], 1);
    h.finish().await;
}

async fn authentication_is_required(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    for (method, path) in [
        (Method::GET, "/v1/catalog"),
        (Method::POST, "/v1/uploads"),
        (Method::POST, "/v1/dossiers"),
        (Method::GET, "/v1/dossiers/X-1"),
        (Method::GET, "/v1/admin/stats"),
    ] {
        let r = h
            .req(method.clone(), path, None)
            .send()
            .await
            .expect("request");
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        assert_eq!(error_code(r).await, "unauthorized");
        let r = h
            .req(method.clone(), path, Some("not-a-token"))
            .send()
            .await
            .expect("request");
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a bad token"
        );
    }
    // A device token is not the admin key.
    let r = h
        .req(Method::GET, "/v1/admin/stats", Some(&token))
        .send()
        .await
        .expect("stats");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // And a malformed Authorization header is refused too.
    let r = h
        .http
        .get(h.url("/v1/catalog"))
        .header("Authorization", token.clone())
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    h.finish().await;
}

async fn catalog_etag(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&token))
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK);
    let etag = header(&r, "etag");
    let body = r.bytes().await.expect("body");
    assert_eq!(etag, format!("\"{}\"", sha_hex(&body)));
    let parsed: Catalog = serde_json::from_slice(&body).expect("catalog JSON");
    assert_eq!(parsed, catalog());

    let r = h
        .req(Method::GET, "/v1/catalog", Some(&token))
        .header("If-None-Match", etag.clone())
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&r, "etag"), etag);
    let r = h
        .req(Method::GET, "/v1/catalog", Some(&token))
        .header("If-None-Match", "\"0000\"")
        .send()
        .await
        .expect("catalog");
    assert_eq!(r.status(), StatusCode::OK);
    h.finish().await;
}

async fn tus_upload_in_several_patches_and_resume(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;

    let r = h
        .req(Method::OPTIONS, "/v1/uploads", None)
        .send()
        .await
        .expect("options");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert!(header(&r, "tus-extension")
        .split(',')
        .any(|e| e.trim() == "creation"));
    assert_eq!(header(&r, "tus-max-size"), (1024 * 1024).to_string());

    let data = blob(100_000, 7);
    let r = h.create_upload(&token, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "upload-offset"), "0");
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    let loc = header(&r, "location");
    assert!(loc.starts_with("/v1/uploads/"), "{loc}");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    assert_eq!(h.stats().await["uploads_in_progress"], 1);

    let r = h.patch(&token, &loc, 0, &data[..30_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "30000");
    let r = h.patch(&token, &loc, 30_000, &data[30_000..60_000]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // The kiosk lost track: it asks where to resume.
    let offset = h.head_offset(&token, &loc).await;
    assert_eq!(offset, 60_000);
    let r = h
        .patch(&token, &loc, offset, &data[offset as usize..])
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&r, "upload-offset"), "100000");
    assert_eq!(h.head_offset(&token, &loc).await, 100_000);

    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(ADMIN_KEY),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    // A device token is no key to citizens' documents.
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(&token),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The provincial system reads blobs with the admin key.
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(ADMIN_KEY),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    let first = sha_hex(&data);
    let blob_file = h.dir.path().join("blobs").join(&first[..2]).join(&first);
    assert_eq!(std::fs::read(&blob_file).expect("blob file"), data);
    assert!(
        !h.part_file(&loc).exists(),
        "the .part file was moved into the blob store"
    );

    // Another device cannot see this upload.
    let other = h.enroll("KIOSK-2").await;
    let r = h
        .req(Method::HEAD, &loc, Some(&other))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h
        .req(Method::HEAD, "/v1/uploads/doesnotexist", Some(&token))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(b"never uploaded")),
            Some(ADMIN_KEY),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    h.finish().await;
}

async fn tus_refusals(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(1000, 3);

    // No Tus-Resumable: 412.
    let r = h
        .req(Method::POST, "/v1/uploads", Some(&token))
        .header("Upload-Length", "1000")
        .header(
            "Upload-Metadata",
            format!(
                "sha256 {}",
                base64::engine::general_purpose::STANDARD.encode(sha_hex(&data))
            ),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    // Too large: 413.
    let r = h
        .create_upload_claiming(&token, 1024 * 1024 + 1, &sha_hex(&data))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Missing or invalid metadata: 400.
    for meta in [
        None,
        Some("filename YQ=="),
        Some("sha256 !!!"),
        Some("sha256 bm90LWhleA=="),
    ] {
        let mut r = h
            .req(Method::POST, "/v1/uploads", Some(&token))
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "1000");
        if let Some(m) = meta {
            r = r.header("Upload-Metadata", m);
        }
        let r = r.send().await.expect("create");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "metadata {meta:?}");
    }
    assert_eq!(h.stats().await["uploads_in_progress"], 0);

    let loc = h.new_upload(&token, &data).await;
    // Wrong content type: 415.
    let r = h
        .req(Method::PATCH, &loc, Some(&token))
        .header("Tus-Resumable", "1.0.0")
        .header("Content-Type", "application/octet-stream")
        .header("Upload-Offset", "0")
        .body(data.clone())
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Offset mismatch: 409, nothing written.
    let r = h.patch(&token, &loc, 10, &data[10..]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "offset_mismatch");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    let r = h.patch(&token, &loc, 0, &data[..500]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = h.patch(&token, &loc, 0, &data[..500]).await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a replayed PATCH at an old offset is refused"
    );
    assert_eq!(h.head_offset(&token, &loc).await, 500);
    h.finish().await;
}

async fn checksum_mismatch_resets_the_upload(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(4096, 9);
    let loc = h.new_upload(&token, &data).await;
    let mut corrupt = data.clone();
    corrupt[4000] ^= 0xff;
    let r = h.patch(&token, &loc, 0, &corrupt[..2048]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = h.patch(&token, &loc, 2048, &corrupt[2048..]).await;
    assert_eq!(r.status().as_u16(), 460);
    assert_eq!(error_code(r).await, "checksum_mismatch");
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    assert!(
        !h.part_file(&loc).exists(),
        "the bad partial file is deleted"
    );
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(0), Some(1))
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(ADMIN_KEY),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The kiosk starts again from 0 with the right bytes.
    let r = h.patch(&token, &loc, 0, &data).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.stats().await["blobs"], 1);
    h.finish().await;
}

async fn dedup_of_an_existing_blob(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let other = h.enroll("KIOSK-2").await;
    let data = blob(5000, 1);
    h.upload_all(&token, &data).await;

    let r = h.create_upload(&other, &data).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(header(&r, "upload-offset"), "5000");
    let loc = header(&r, "location");
    assert_eq!(h.head_offset(&other, &loc).await, 5000);
    // A PATCH at the end is a harmless no-op; anything else is an offset mismatch.
    let r = h.patch(&other, &loc, 0, &data).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    h.finish().await;
}

async fn empty_blob_needs_no_patch(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let r = h
        .create_upload_claiming(&token, 0, &sha_hex(b"not empty"))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let loc = h.new_upload(&token, b"").await;
    assert_eq!(h.head_offset(&token, &loc).await, 0);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(b"")),
            Some(ADMIN_KEY),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.expect("bytes").is_empty());
    let s = h.stats().await;
    assert_eq!(
        (s["blobs"].as_i64(), s["uploads_in_progress"].as_i64()),
        (Some(1), Some(0))
    );
    h.finish().await;
}

async fn dossier_ingest_exactly_once(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let a = blob(3000, 11);
    let b = blob(2000, 12);
    h.upload_all(&token, &a).await;

    // b is not uploaded yet: refused, nothing stored.
    let d = dossier(
        "KIOSK-1",
        "000.17.22.H56-260531-0001",
        vec![document(&a), document(&b)],
    );
    let r = h.post_json("/v1/dossiers", &token, Some("key-1"), &d).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.expect("error");
    assert_eq!(v["error"], "missing_blobs");
    let msg = v["message"].as_str().expect("message");
    assert!(
        msg.contains(&sha_hex(&b)) && !msg.contains(&sha_hex(&a)),
        "{msg}"
    );
    assert_eq!(h.stats().await["dossiers"], 0);

    h.upload_all(&token, &b).await;
    // Missing Idempotency-Key: 400.
    let r = h.post_json("/v1/dossiers", &token, None, &d).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "missing_idempotency_key");

    let r = h.post_json("/v1/dossiers", &token, Some("key-1"), &d).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let ack: IngestAck = r.json().await.expect("ack");
    assert_eq!(
        ack,
        IngestAck {
            idempotency_key: "key-1".into(),
            duplicate: false
        }
    );
    // The retry after a lost answer.
    let r = h.post_json("/v1/dossiers", &token, Some("key-1"), &d).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<IngestAck>().await.expect("ack").duplicate);
    // Same key, different body.
    let mut changed = d.clone();
    changed.applicant.phone = "0911111111".into();
    let r = h
        .post_json("/v1/dossiers", &token, Some("key-1"), &changed)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "idempotency_key_reused");
    // Same code under another key.
    let r = h.post_json("/v1/dossiers", &token, Some("key-2"), &d).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "conflict");
    // A body naming another device.
    let other = h.enroll("KIOSK-2").await;
    let r = h
        .post_json(
            "/v1/dossiers",
            &other,
            Some("key-3"),
            &dossier("KIOSK-1", "X-2", vec![]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let s = h.stats().await;
    assert_eq!(
        (
            s["dossiers"].as_i64(),
            s["documents"].as_i64(),
            s["blobs"].as_i64()
        ),
        (Some(1), Some(2), Some(2))
    );
    h.finish().await;
}

fn digitized(code: &str, index: u32, data: &[u8]) -> motcua_domain::wire::DigitizedDocument {
    motcua_domain::wire::DigitizedDocument {
        document_code: code.into(),
        document_index: index,
        name: format!("Giấy tờ {index}"),
        media_type: "application/pdf".into(),
        pages: 2,
        size: data.len() as u64,
        sha256: sha_hex(data),
    }
}

/// Documents digitized at intake are added to a stored dossier exactly once: unknown dossiers
/// and missing blobs are refused without storing anything, retries are acknowledged as
/// duplicates, and a document code is never stored twice.
async fn digitized_documents_exactly_once(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let code = "000.17.22.H56-260531-0007";
    let a = blob(4000, 21);
    let b = blob(1000, 22);
    h.upload_all(&token, &a).await;
    let path = format!("/v1/dossiers/{code}/documents");
    let docs = motcua_domain::wire::DigitizedDocuments {
        dossier_code: code.into(),
        device_id: "KIOSK-1".into(),
        digitized_at: vn_time(),
        documents: vec![
            digitized(&format!("{code}-01"), 1, &a),
            digitized(&format!("{code}-02"), 2, &b),
        ],
    };
    // The dossier is not stored yet.
    let r = h.post_json(&path, &token, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "unknown_dossier");
    let r = h
        .post_json(
            "/v1/dossiers",
            &token,
            Some("d-1"),
            &dossier("KIOSK-1", code, vec![]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // b is not uploaded.
    let r = h.post_json(&path, &token, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "missing_blobs");
    assert_eq!(h.stats().await["digitized_documents"], 0);
    h.upload_all(&token, &b).await;
    // Path and body disagree.
    let r = h
        .post_json(
            "/v1/dossiers/000.17.22.H56-260531-0008/documents",
            &token,
            Some("docs-x"),
            &docs,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = h.post_json(&path, &token, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = h.post_json(&path, &token, Some("docs-1"), &docs).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<IngestAck>().await.expect("ack").duplicate);
    // The same document code again under another key.
    let mut again = docs.clone();
    again.documents.truncate(1);
    let r = h.post_json(&path, &token, Some("docs-2"), &again).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "conflict");
    assert_eq!(h.stats().await["digitized_documents"], 2);

    // The province sees them with the dossier; devices do not.
    let r = h
        .req(
            Method::POST,
            &format!("/v1/admin/dossiers/{code}/status"),
            Some(ADMIN_KEY),
        )
        .json(&serde_json::json!({"status": "processing"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status(), StatusCode::OK);
    let view: motcua_domain::wire::DossierStatusView = r.json().await.expect("view");
    assert_eq!(view.digitized, docs.documents);
    let r = h
        .req(Method::GET, &format!("/v1/dossiers/{code}"), Some(&token))
        .send()
        .await
        .expect("status");
    let view: motcua_domain::wire::DossierStatusView = r.json().await.expect("view");
    assert!(view.digitized.is_empty());
    h.finish().await;
}

/// Retries racing each other (two uplink workers, a retry while the first answer is in flight)
/// still store exactly one copy.
async fn concurrent_retries_store_one_copy(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let t = ticket("KIOSK-1", "HT-20260531-5", 5);
    let same_key = futures_util::future::join_all(
        (0..8).map(|_| h.post_json("/v1/tickets", &token, Some("race-1"), &t)),
    )
    .await;
    let mut codes: Vec<u16> = same_key.iter().map(|r| r.status().as_u16()).collect();
    codes.sort();
    assert_eq!(codes, vec![200, 200, 200, 200, 200, 200, 200, 201]);

    let keys: Vec<String> = (0..8).map(|i| format!("rate-{i}")).collect();
    let r = rating("KIOSK-1", "HT-20260531-5", 1);
    let other_keys = futures_util::future::join_all(
        keys.iter()
            .map(|k| h.post_json("/v1/ratings", &token, Some(k), &r)),
    )
    .await;
    let mut codes: Vec<u16> = other_keys.iter().map(|r| r.status().as_u16()).collect();
    codes.sort();
    assert_eq!(codes, vec![201, 409, 409, 409, 409, 409, 409, 409]);
    let s = h.stats().await;
    assert_eq!(
        (s["tickets"].as_i64(), s["ratings"].as_i64()),
        (Some(1), Some(1))
    );
    h.finish().await;
}

async fn ratings_one_per_transaction(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", "HT-20260531-7", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", "HT-20260531-7", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<IngestAck>().await.expect("ack").duplicate);
    // Ballot stuffing: a second rating of the same transaction under a new key.
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-2"),
            &rating("KIOSK-1", "HT-20260531-7", 5),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "already_rated");
    // Out of range.
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-3"),
            &rating("KIOSK-1", "HT-20260531-8", 6),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-4"),
            &rating("KIOSK-1", "HT-20260531-8", 2),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(h.stats().await["ratings"], 2);
    h.finish().await;
}

async fn tickets_ingest(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let t = ticket("KIOSK-1", "HT-20260531-1", 1);
    let r = h.post_json("/v1/tickets", &token, Some("t-1"), &t).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = h.post_json("/v1/tickets", &token, Some("t-1"), &t).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = h.post_json("/v1/tickets", &token, Some("t-2"), &t).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "conflict");
    // A key used for a ticket cannot be reused for a rating.
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("t-1"),
            &rating("KIOSK-1", "HT-20260531-1", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(r).await, "idempotency_key_reused");
    let s = h.stats().await;
    assert_eq!(
        (s["tickets"].as_i64(), s["ratings"].as_i64()),
        (Some(1), Some(0))
    );
    h.finish().await;
}

async fn status_lookup_and_admin_change(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(1234, 5);
    h.upload_all(&token, &data).await;
    let code = "000.17.22.H56-260531-0002";
    let r = h
        .post_json(
            "/v1/dossiers",
            &token,
            Some("k"),
            &dossier("KIOSK-1", code, vec![document(&data)]),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = h
        .req(Method::GET, &format!("/v1/dossiers/{code}"), Some(&token))
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), StatusCode::OK);
    let view: DossierStatusView = r.json().await.expect("view");
    assert_eq!(view.code, code);
    assert_eq!(view.procedure_code, "1.001193");
    assert_eq!(view.status, motcua_domain::wire::DossierStatus::Submitted);
    assert_eq!(view.status_code, 1);
    assert_eq!(
        view.appointment_date,
        chrono::NaiveDate::from_ymd_opt(2026, 6, 5).expect("date")
    );
    assert!(view.documents.is_empty(), "devices get no document list");

    let r = h
        .req(
            Method::GET,
            "/v1/dossiers/000.17.22.H56-260531-9999",
            Some(&token),
        )
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let path = format!("/v1/admin/dossiers/{code}/status");
    let r = h
        .req(Method::POST, &path, Some(&token))
        .json(&serde_json::json!({"status": "processing"}))
        .send()
        .await
        .expect("set");
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a device cannot change statuses"
    );
    let r = h
        .req(Method::POST, &path, Some(ADMIN_KEY))
        .json(&serde_json::json!({"status": "processing"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status(), StatusCode::OK);
    let view: DossierStatusView = r.json().await.expect("view");
    assert_eq!(
        (view.status_code, view.status),
        (4, motcua_domain::wire::DossierStatus::Processing)
    );
    let r = h
        .req(Method::POST, &path, Some(ADMIN_KEY))
        .json(&serde_json::json!({"status": "flying"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = h
        .req(
            Method::POST,
            "/v1/admin/dossiers/NOPE/status",
            Some(ADMIN_KEY),
        )
        .json(&serde_json::json!({"status": "accepted"}))
        .send()
        .await
        .expect("set");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = h
        .req(Method::GET, &format!("/v1/dossiers/{code}"), Some(&token))
        .send()
        .await
        .expect("status");
    let view: DossierStatusView = r.json().await.expect("view");
    assert_eq!(view.status, motcua_domain::wire::DossierStatus::Processing);
    h.finish().await;
}

async fn garbage_json_is_a_400(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    for path in ["/v1/dossiers", "/v1/ratings", "/v1/tickets"] {
        for body in ["{not json", "[]", "{\"code\": 5}", ""] {
            let r = h
                .req(Method::POST, path, Some(&token))
                .header("Idempotency-Key", "g")
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {body}");
            assert_eq!(error_code(r).await, "invalid_json");
        }
    }
    let r = h
        .req(Method::POST, "/v1/devices/enroll", None)
        .body("\u{0}garbage")
        .send()
        .await
        .expect("enroll");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Over the 1 MiB JSON limit.
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = h
        .req(Method::POST, "/v1/tickets", Some(&token))
        .header("Idempotency-Key", "big")
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let s = h.stats().await;
    assert_eq!(
        (
            s["dossiers"].as_i64(),
            s["ratings"].as_i64(),
            s["tickets"].as_i64()
        ),
        (Some(0), Some(0), Some(0))
    );
    h.finish().await;
}

/// Sends a PATCH by hand and drops the connection halfway through its body.
async fn patch_and_disconnect(
    h: &Harness,
    token: &str,
    location: &str,
    offset: u64,
    announced: usize,
    sent: &[u8],
) {
    let addr = h.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {announced}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("write head");
    s.write_all(sent).await.expect("write body");
    s.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
}

async fn interrupted_patch_keeps_received_bytes(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(50_000, 21);
    let loc = h.new_upload(&token, &data).await;
    patch_and_disconnect(&h, &token, &loc, 0, data.len(), &data[..20_000]).await;
    // The server notices the disconnect shortly after; poll the durable offset.
    let mut offset = 0;
    for _ in 0..100 {
        offset = h.head_offset(&token, &loc).await;
        if offset == 20_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        offset, 20_000,
        "the bytes received before the disconnect are kept"
    );
    let r = h.patch(&token, &loc, offset, &data[20_000..]).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(ADMIN_KEY),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    h.finish().await;
}

async fn restart_keeps_everything_and_uploads_resume(backend: Backend) {
    let Some(mut h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let doc = blob(2048, 31);
    h.upload_all(&token, &doc).await;
    let code = "000.17.22.H56-260531-0003";
    let d = dossier("KIOSK-1", code, vec![document(&doc)]);
    assert_eq!(
        h.post_json("/v1/dossiers", &token, Some("d-1"), &d)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        h.post_json(
            "/v1/ratings",
            &token,
            Some("r-1"),
            &rating("KIOSK-1", code, 1)
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        h.post_json(
            "/v1/tickets",
            &token,
            Some("t-1"),
            &ticket("KIOSK-1", "HT-20260531-1", 1)
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    let big = blob(80_000, 41);
    let loc = h.new_upload(&token, &big).await;
    assert_eq!(
        h.patch(&token, &loc, 0, &big[..30_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    let before = h.stats().await;

    h.restart().await;
    // Simulate a crash after bytes reached the .part file but before the offset was recorded:
    // the recorded offset is the truth and the extra bytes are cut off.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(h.part_file(&loc))
            .expect("part file");
        f.write_all(b"GARBAGE NOT RECORDED")
            .expect("append garbage");
    }

    assert_eq!(h.stats().await, before);
    if backend == Backend::Sqlite {
        let db = rusqlite::Connection::open(h.dir.path().join("gateway.sqlite3")).expect("open db");
        let mode: String = db
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let (version, rows): (i64, i64) = db
            .query_row(
                "SELECT MAX(version), COUNT(*) FROM schema_version",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("schema version");
        assert_eq!(
            (version, rows),
            (2, 2),
            "each migration ran once, not again at restart"
        );
    }
    let r = h
        .req(Method::GET, &format!("/v1/dossiers/{code}"), Some(&token))
        .send()
        .await
        .expect("status");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the old token and the dossier survive a restart"
    );
    let r = h.post_json("/v1/dossiers", &token, Some("d-1"), &d).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a retry after the restart is still recognised"
    );
    let r = h
        .post_json(
            "/v1/ratings",
            &token,
            Some("r-9"),
            &rating("KIOSK-1", code, 3),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    let offset = h.head_offset(&token, &loc).await;
    assert_eq!(offset, 30_000);
    assert_eq!(
        std::fs::metadata(h.part_file(&loc)).expect("part").len(),
        30_000,
        "HEAD cut the unrecorded bytes"
    );
    assert_eq!(
        h.patch(&token, &loc, offset, &big[30_000..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&big)),
            Some(ADMIN_KEY),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), big.as_slice());
    let after = h.stats().await;
    assert_eq!(after["dossiers"], 1);
    assert_eq!(after["blobs"], 2);
    assert_eq!(after["uploads_in_progress"], 0);
    h.finish().await;
}

async fn garbage_beyond_offset_is_cut_on_patch(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let token = h.enroll("KIOSK-1").await;
    let data = blob(10_000, 51);
    let loc = h.new_upload(&token, &data).await;
    assert_eq!(
        h.patch(&token, &loc, 0, &data[..4_000]).await.status(),
        StatusCode::NO_CONTENT
    );
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(h.part_file(&loc))
            .expect("part file");
        f.write_all(&[0u8; 3000]).expect("append garbage");
    }
    // No HEAD in between: the PATCH itself must cut back to the recorded offset.
    assert_eq!(
        h.patch(&token, &loc, 4_000, &data[4_000..]).await.status(),
        StatusCode::NO_CONTENT
    );
    let r = h
        .req(
            Method::GET,
            &format!("/v1/blobs/{}", sha_hex(&data)),
            Some(ADMIN_KEY),
        )
        .send()
        .await
        .expect("blob");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), data.as_slice());
    h.finish().await;
}

/// Every route in the OpenAPI document is served by the router (not the not-found or
/// method-not-allowed fallback), and the router serves nothing the document omits.
async fn documented_routes_are_served(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let doc: Value = serde_json::from_str(&motcua_gateway::openapi_json()).expect("openapi JSON");
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    documented.sort();
    let mut served = motcua_gateway::served_routes();
    served.sort();
    assert_eq!(documented, served);
    for (method, path) in served {
        let concrete = path
            .replace("{id}", "0123")
            .replace("{code}", "X-1")
            .replace("{sha256}", &sha_hex(b"x"));
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let r = h.req(m, &concrete, None).send().await.expect("request");
        assert_ne!(
            r.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if r.status() == StatusCode::NOT_FOUND {
            assert_ne!(
                error_code(r).await,
                "not_found",
                "{method} {path} fell through to the router's fallback"
            );
        }
    }
    let r = h
        .req(Method::GET, "/v1/nothing-here", None)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "not_found");
    h.finish().await;
}

/// The `gateway` binary prints its address, serves, and stops on SIGTERM.
async fn binary_serves_and_stops_on_sigterm(backend: Backend) {
    let Some(h) = Harness::start(backend).await else {
        return;
    };
    let data_dir = h.dir.path().join("bin");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--enrollment-key",
        ENROLL_KEY,
        "--admin-key",
        ADMIN_KEY,
    ])
    .arg("--data-dir")
    .arg(&data_dir)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .kill_on_drop(true);
    if let Some(pg) = &h.pg {
        cmd.args(["--database-url", &pg.url]);
    }
    let mut child = cmd.spawn().expect("spawn gateway binary");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), stdout.read(&mut byte))
            .await
            .expect("the binary prints its address within 30 s")
            .expect("read stdout");
        assert!(n == 1, "stdout closed before the address line");
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).expect("utf-8");
    let addr = line
        .trim()
        .strip_prefix("gateway listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let r = reqwest::get(format!("http://{addr}/v1/health"))
        .await
        .expect("health");
    assert_eq!(r.status(), StatusCode::OK);
    let pid = child.id().expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits on SIGTERM")
        .expect("wait");
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(data_dir.join("blobs").is_dir());
    h.finish().await;
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

scenarios!(
    health_and_enrolment,
    authentication_is_required,
    catalog_etag,
    tus_upload_in_several_patches_and_resume,
    tus_refusals,
    checksum_mismatch_resets_the_upload,
    dedup_of_an_existing_blob,
    empty_blob_needs_no_patch,
    dossier_ingest_exactly_once,
    digitized_documents_exactly_once,
    ratings_one_per_transaction,
    concurrent_retries_store_one_copy,
    tickets_ingest,
    status_lookup_and_admin_change,
    garbage_json_is_a_400,
    interrupted_patch_keeps_received_bytes,
    restart_keeps_everything_and_uploads_resume,
    garbage_beyond_offset_is_cut_on_patch,
    documented_routes_are_served,
    binary_serves_and_stops_on_sigterm,
);
