//! What the OpenAPI document says about every operation, written once rather than in each
//! handler's annotation: errors are `application/problem+json` with the [`Problem`] schema
//! (the content type the server sends), and an operation that takes an `Idempotency-Key`
//! answers a replay with `Idempotent-Replayed: true`. A generated client and a schema-based
//! fuzzer then agree with the server.
//!
//! [`Problem`]: super::error::Problem

use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Applies the rules above to every operation of the document.
pub fn document(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            document_problems(op);
            if takes_idempotency_key(op) {
                document_replay(op);
            }
        }
    }
}

fn problem_content() -> Content {
    Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
}

/// Every 4xx and 5xx answer is problem+json (only), and `default` covers the error statuses an
/// operation does not list (a body too large, a malformed header, an internal error).
fn document_problems(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5') || status == "default";
        if let (true, RefOr::T(response)) = (is_error, response) {
            response.content.clear();
            response
                .content
                .insert(PROBLEM_JSON.to_string(), problem_content());
        }
    }
    op.responses
        .responses
        .entry("default".to_string())
        .or_insert_with(|| {
            let mut r = Response::new(
                "an error: RFC 9457 problem+json with a stable `code` (see the README's table)",
            );
            r.content
                .insert(PROBLEM_JSON.to_string(), problem_content());
            RefOr::T(r)
        });
}

fn takes_idempotency_key(op: &Operation) -> bool {
    op.parameters.iter().flatten().any(|p| {
        p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case("Idempotency-Key")
    })
}

/// The success answers of a money route say when they are a replay.
fn document_replay(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
            let header = HeaderBuilder::new()
                .schema(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(["true"])),
                )
                .description(Some(
                    "`true` when this answer replays the first answer to the same \
                     Idempotency-Key and body: nothing moved this time. Absent on the first \
                     answer.",
                ))
                .build();
            response
                .headers
                .insert("Idempotent-Replayed".to_string(), header);
        }
    }
}
