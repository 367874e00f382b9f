//! States in the OpenAPI document the limits the server enforces on every route, so that a
//! client generated from it (or a schema-driven tester) knows them: 500 `internal` when the
//! gateway's storage fails, 429 `rate_limited` with
//! `Retry-After` on every device call, 429 `too_many_open_uploads` / `upload_quota_exceeded` on
//! upload creation, 413 and the body cap (`x-max-body-bytes`) on every JSON body (which may
//! come gzip-compressed; 415 for another `Content-Encoding`), and 422
//! `field_too_long` where the fields have lengths. The fields' own `maxLength`, `pattern`,
//! `maximum` sit on the wire types (`motcua_domain::limits`), except what `#[schema]` cannot
//! say, set here from the same constants: the length of each item of a list of texts (on a
//! `Vec` field `#[schema]` bounds the list), an enum of integers, the kinds of a queue event
//! (an enum of texts kept as a `String` on the wire) and the range of unsigned integers.

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, Header, Ref, RefOr, Response, ResponseBuilder};
use utoipa::Modify;

use crate::MAX_JSON_BYTES;

/// The modifier (see the module doc).
pub(super) struct LimitsAddon;

fn error_response(description: &str, retry_after: bool) -> RefOr<Response> {
    let mut builder = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name("ApiError"))),
    );
    if retry_after {
        let mut header = Header::new(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        );
        header.description = Some("seconds to wait before the next attempt".into());
        builder = builder.header("Retry-After", header);
    }
    RefOr::T(builder.build())
}

/// Adds the response, or (when the route documents that status already, e.g. a 422 of its own)
/// adds its description to the one there.
fn add(operation: &mut Operation, status: &str, response: RefOr<Response>) {
    let responses = &mut operation.responses.responses;
    match (responses.get_mut(status), response) {
        (Some(RefOr::T(existing)), RefOr::T(added)) => {
            existing.description = format!("{}; {}", existing.description, added.description);
        }
        (Some(_), _) => {}
        (None, response) => {
            responses.insert(status.to_string(), response);
        }
    }
}

fn is_device_call(operation: &Operation) -> bool {
    serde_json::to_string(&operation.security).is_ok_and(|s| s.contains("device_certificate"))
}

/// Edits component schema `name` as JSON (the edits below are a few keywords deep).
fn edit_schema(
    openapi: &mut utoipa::openapi::OpenApi,
    name: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    let Some(schema) = openapi
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut(name))
    else {
        return;
    };
    edit_json(schema, edit);
}

/// Edits a part of the document as JSON.
fn edit_json<T>(part: &mut T, edit: impl FnOnce(&mut serde_json::Value))
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let Ok(mut value) = serde_json::to_value(&*part) else {
        return;
    };
    edit(&mut value);
    if let Ok(edited) = serde_json::from_value(value) {
        *part = edited;
    }
}

/// An optional header is documented by utoipa as `type: [string, "null"]`, but a header is
/// absent or text, never null: clients (schemathesis among them) otherwise send the text
/// `null` as a valid value, which a header with a pattern (`Upload-Checksum`) refuses.
fn header_not_null(schema: &mut serde_json::Value) {
    if let Some(types) = schema.get_mut("type").and_then(|t| t.as_array_mut()) {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema["type"] = only;
        }
    }
}

/// An unsigned Rust integer is documented as `int32`/`int64` with `minimum: 0`, whose upper
/// bound (2^31 - 1, 2^63 - 1) is not the one the server takes (2^32 - 1, 2^64 - 1): such a
/// property states its real range, as `uint32`/`uint64`.
fn unsigned_ranges(schema: &mut serde_json::Value) {
    let integer = schema["type"] == "integer"
        || schema["type"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "integer"));
    let unsigned = integer && schema["minimum"] == 0 && schema.get("maximum").is_none();
    if unsigned {
        let (format, max) = match schema["format"].as_str() {
            Some("int32") => ("uint32", u64::from(u32::MAX)),
            Some("int64") => ("uint64", u64::MAX),
            _ => return,
        };
        schema["format"] = format.into();
        schema["maximum"] = max.into();
        return;
    }
    for key in ["properties"] {
        if let Some(props) = schema.get_mut(key).and_then(|p| p.as_object_mut()) {
            props.values_mut().for_each(unsigned_ranges);
        }
    }
    if let Some(items) = schema.get_mut("items") {
        unsigned_ranges(items);
    }
}

/// What `#[schema]` on the wire types cannot state (see the module doc).
fn item_limits(openapi: &mut utoipa::openapi::OpenApi) {
    let names: Vec<String> = openapi
        .components
        .as_ref()
        .map(|c| c.schemas.keys().cloned().collect())
        .unwrap_or_default();
    for name in names {
        edit_schema(openapi, &name, unsigned_ranges);
    }
    use motcua_domain::limits::{CODE_MAX, TEXT_MAX};
    edit_schema(openapi, "SelfTestSummary", |s| {
        s["properties"]["failed"]["items"]["maxLength"] = TEXT_MAX.into();
    });
    edit_schema(openapi, "SetupSheetRequest", |s| {
        let items = &mut s["properties"]["device_ids"]["items"];
        items["maxLength"] = CODE_MAX.into();
        items["pattern"] = "^[A-Za-z0-9_.:-]+$".into();
    });
    edit_schema(openapi, "QueueEvent", |s| {
        let kinds = motcua_domain::wire::hub::QUEUE_EVENT_KINDS;
        s["properties"]["kind"]["enum"] = serde_json::json!(kinds);
    });
    edit_schema(openapi, "RatingSubmission", |s| {
        let levels = &mut s["properties"]["scale_levels"];
        if let Some(o) = levels.as_object_mut() {
            o.remove("minimum");
            o.remove("maximum");
        }
        levels["enum"] = serde_json::json!([3, 5]);
    });
}

impl Modify for LimitsAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        item_limits(openapi);
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                add(
                    operation,
                    "500",
                    error_response(
                        "`internal`: the gateway could not complete the request (its database \
                         or disk failed, e.g. PostgreSQL is unreachable); its log names the \
                         cause; retry later",
                        false,
                    ),
                );
                for parameter in operation.parameters.iter_mut().flatten() {
                    let header = parameter.parameter_in == ParameterIn::Header;
                    if let Some(schema) = parameter.schema.as_mut() {
                        edit_json(schema, unsigned_ranges);
                        if header {
                            edit_json(schema, header_not_null);
                        }
                    }
                }
                if is_device_call(operation) {
                    add(
                        operation,
                        "429",
                        error_response(
                            "`rate_limited`: the device made more requests in this minute than \
                             the gateway allows (`gateway serve --rate-limit-per-minute`); \
                             `Retry-After` says when the window ends",
                            true,
                        ),
                    );
                }
                if path == "/v1/uploads" && operation.request_body.is_none() {
                    // tus creation: the quotas answer 429 too, with their own codes.
                    if let Some(RefOr::T(r)) = operation.responses.responses.get_mut("429") {
                        r.description.push_str(
                            "; `too_many_open_uploads`: the device holds the most unfinished \
                             uploads allowed (`--max-open-uploads`); `upload_quota_exceeded`: \
                             this upload would pass the device's bytes of the day \
                             (`--upload-bytes-per-day`), `Retry-After` until midnight, \
                             Vietnam time",
                        );
                    }
                }
                if path == "/v1/uploads/{id}" && operation.request_body.is_some() {
                    // tus PATCH: a restart after a checksum mismatch is charged like a new upload.
                    if let Some(RefOr::T(r)) = operation.responses.responses.get_mut("429") {
                        r.description.push_str(
                            "; `upload_quota_exceeded`: the bytes did not match the sha256 and \
                             restarting the upload would pass the device's bytes of the day: \
                             the upload was removed, `Retry-After` until midnight, Vietnam time",
                        );
                    }
                }
                let Some(body) = operation.request_body.as_mut() else {
                    continue;
                };
                if !body.content.contains_key("application/json") {
                    continue;
                }
                let cap = format!(
                    "at most {MAX_JSON_BYTES} bytes; may be sent `Content-Encoding: gzip`, \
                     the decoded size counting"
                );
                body.description = Some(match body.description.take() {
                    Some(d) => format!("{d} ({cap})"),
                    None => format!("JSON, {cap}"),
                });
                let extensions = ExtensionsBuilder::new()
                    .add("x-max-body-bytes", MAX_JSON_BYTES)
                    .build();
                match body.extensions.as_mut() {
                    Some(e) => e.merge(extensions),
                    None => body.extensions = Some(extensions),
                }
                add(
                    operation,
                    "413",
                    error_response(
                        &format!(
                            "`invalid_body`: the body (decoded, if gzip) is longer than \
                             {MAX_JSON_BYTES} bytes"
                        ),
                        false,
                    ),
                );
                add(
                    operation,
                    "415",
                    error_response(
                        "`unsupported_encoding`: `Content-Encoding` is neither `gzip` nor \
                         `identity`",
                        false,
                    ),
                );
                add(
                    operation,
                    "422",
                    error_response(
                        "`field_too_long`: a text field is longer than its `maxLength` (or a \
                         list has more items than its `maxItems`); the message names the field",
                        false,
                    ),
                );
            }
        }
    }
}
