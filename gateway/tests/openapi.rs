//! The committed `gateway/openapi.json` is exactly what the code generates, so the published API
//! document can never drift from the server. Regenerate it with
//! `cargo run -p motcua-gateway -- openapi > gateway/openapi.json`.

#[test]
fn committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let committed =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let generated = motcua_gateway::openapi_json();
    assert!(
        committed == generated,
        "{path} is out of date: run `cargo run -p motcua-gateway -- openapi > gateway/openapi.json`"
    );
}

#[test]
fn every_served_route_is_documented() {
    let doc: serde_json::Value =
        serde_json::from_str(&motcua_gateway::openapi_json()).expect("valid JSON");
    for (method, path) in motcua_gateway::served_routes() {
        assert!(
            doc["paths"][&path][method.to_lowercase()].is_object(),
            "{method} {path} is served but missing from the OpenAPI document"
        );
    }
}

/// Every limit the server enforces is in the document: each text field of each request body has
/// a `maxLength` (or a `pattern`, a `format` or an enum), equal to the constant the server
/// checks; every device call may answer 429 with `Retry-After`; every JSON body states its cap
/// and that it may come gzip-compressed, and may answer 413, 415 and 422.
#[test]
fn the_document_states_the_limits_the_server_enforces() {
    use motcua_domain::limits::*;
    let doc: serde_json::Value =
        serde_json::from_str(&motcua_gateway::openapi_json()).expect("valid JSON");
    let schemas = &doc["components"]["schemas"];
    let prop = |schema: &str, field: &str| schemas[schema]["properties"][field].clone();
    for (schema, field, max) in [
        ("Applicant", "full_name", NAME_MAX),
        ("Applicant", "address", ADDRESS_MAX),
        ("Applicant", "phone", PHONE_MAX),
        ("Applicant", "email", EMAIL_MAX),
        ("Applicant", "id_number", ID_NUMBER_MAX),
        ("DossierSubmission", "code", CODE_MAX),
        ("DocumentRef", "name", DOCUMENT_NAME_MAX),
        ("DocumentRef", "file_name", FILE_NAME_MAX),
        ("DocumentRef", "media_type", MEDIA_TYPE_MAX),
        ("TicketIssued", "ticket_id", TICKET_ID_MAX),
        ("RatingSubmission", "transaction", TICKET_ID_MAX),
        ("DigitizedDocument", "document_code", CODE_MAX),
        ("HealthReport", "software_version", TEXT_MAX),
        ("PrinterHealth", "detail", TEXT_MAX),
        ("EnrollRequest", "csr_pem", CSR_PEM_MAX),
        ("EnrollRequest", "enrollment_key", SECRET_MAX),
        ("ProvisionRequest", "token", SECRET_MAX),
        ("RemoteActionResult", "detail", TEXT_MAX),
        ("RemoteActionResult", "log_tail", LOG_TAIL_MAX),
        ("SetupSheetRequest", "site", CODE_MAX),
        ("QueueEvent", "key", QUEUE_EVENT_ID_MAX),
        ("QueueEvent", "kind", QUEUE_EVENT_KIND_MAX),
        ("QueueEvent", "ticket_id", QUEUE_EVENT_ID_MAX),
    ] {
        assert_eq!(
            prop(schema, field)["maxLength"],
            max,
            "{schema}.{field}: {}",
            prop(schema, field)
        );
    }
    assert_eq!(
        prop("DossierSubmission", "documents")["maxItems"],
        DOCUMENTS_MAX
    );
    assert_eq!(
        prop("QueueEventBatch", "events")["maxItems"],
        motcua_domain::wire::hub::MAX_QUEUE_EVENTS
    );
    assert_eq!(prop("RatingSubmission", "score")["maximum"], 2);
    assert_eq!(prop("RatingSubmission", "level")["minimum"], 1);
    assert!(prop("DocumentRef", "sha256")["pattern"].is_string());

    // Completeness: every text field reachable from a request body is bounded.
    let mut seen = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(body) = op.get("requestBody") else {
                continue;
            };
            if let Some(r) = body["content"]["application/json"]["schema"]["$ref"].as_str() {
                todo.push(r.rsplit('/').next().unwrap_or_default().to_string());
                assert_eq!(
                    body["x-max-body-bytes"],
                    motcua_gateway::MAX_JSON_BYTES,
                    "{method} {path}"
                );
                let described = body["description"].as_str().unwrap_or_default();
                assert!(
                    described.contains("Content-Encoding: gzip"),
                    "{method} {path}: {described}"
                );
                for status in ["413", "415", "422"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let schema = &schemas[&name];
        for (field, p) in schema["properties"].as_object().into_iter().flatten() {
            let mut refs = Vec::new();
            collect_refs(p, &mut refs);
            todo.extend(refs);
            let texty = p["type"] == "string"
                || p["type"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t == "string"));
            if texty {
                let bounded = p["maxLength"].is_number()
                    || p["pattern"].is_string()
                    || p["format"].is_string()
                    || p["enum"].is_array();
                assert!(bounded, "{name}.{field} has no stated limit: {p}");
            }
            if p["type"] == "array" && p["items"]["type"] == "string" {
                assert!(p["maxItems"].is_number(), "{name}.{field}: {p}");
            }
        }
    }
    assert!(
        seen.contains("Applicant") && seen.contains("DigitizedDocument"),
        "{seen:?}"
    );

    // 429 with Retry-After on every device call; the upload quotas named on creation.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if op["security"].to_string().contains("device_certificate") {
                let r = &op["responses"]["429"];
                assert!(
                    r["headers"]["Retry-After"].is_object(),
                    "{method} {path}: {r}"
                );
            }
        }
    }
    let creation = doc["paths"]["/v1/uploads"]["post"]["responses"]["429"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for code in [
        "rate_limited",
        "too_many_open_uploads",
        "upload_quota_exceeded",
    ] {
        assert!(creation.contains(code), "{creation}");
    }
}

fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(|r| r.as_str()) {
                out.push(r.rsplit('/').next().unwrap_or_default().to_string());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The export feed's answers state what the server sends: the headers of a page and of the
/// 409 `cursor_ahead` (which says where the feed ends), and the page's byte cap.
#[test]
fn the_export_feed_documents_its_headers_and_byte_cap() {
    let doc: serde_json::Value =
        serde_json::from_str(&motcua_gateway::openapi_json()).expect("valid JSON");
    let responses = &doc["paths"]["/v1/export/feed"]["get"]["responses"];
    for header in ["Feed-Cursor", "Feed-More", "Feed-Last-Event"] {
        assert!(
            responses["200"]["headers"][header].is_object(),
            "200 lacks {header}"
        );
    }
    assert!(
        responses["409"]["headers"]["Feed-Last-Event"].is_object(),
        "409 lacks Feed-Last-Event: {}",
        responses["409"]
    );
    let described = responses["200"]["description"].as_str().expect("text");
    assert_eq!(motcua_gateway::FEED_PAGE_BYTES_MAX, 4 * 1024 * 1024);
    assert!(
        described.contains("4 MiB") && described.contains("4,194,304 bytes"),
        "{described}"
    );
}
