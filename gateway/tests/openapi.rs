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
