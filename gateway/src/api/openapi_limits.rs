//! States in the OpenAPI document the limits the server enforces on every route, so that a
//! client generated from it (or a schema-driven tester) knows them: 429 `rate_limited` with
//! `Retry-After` on every device call, 429 `too_many_open_uploads` / `upload_quota_exceeded` on
//! upload creation, 413 and the body cap (`x-max-body-bytes`) on every JSON body, and 422
//! `field_too_long` where the fields have lengths. The fields' own `maxLength`, `pattern`,
//! `maximum` sit on the wire types (`motcua_domain::limits`).

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::Operation;
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

impl Modify for LimitsAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
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
                let cap = format!("at most {MAX_JSON_BYTES} bytes");
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
                        &format!("`invalid_body`: the body is longer than {MAX_JSON_BYTES} bytes"),
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
