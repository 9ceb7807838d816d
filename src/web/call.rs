//! The pages call the API's own handler functions in-process, with the caller of the cookie
//! session: the same validation, rules, transactions and idempotency as over HTTP, and no
//! second copy of any of them. These helpers build the handlers' inputs and read their output.

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{parse_json, ApiJson, Authorized, Caller, Roles};

/// A JSON body as the API would have read it (same errors for a bad field).
pub fn body<T: DeserializeOwned>(value: Value) -> ApiResult<ApiJson<T>> {
    let bytes = serde_json::to_vec(&value).map_err(ApiError::internal)?;
    parse_json(&bytes)
}

/// The role gate of a route, for a caller of a web session.
pub fn authorized<R: Roles>(caller: &Caller) -> ApiResult<Authorized<R>> {
    Ok(Authorized::check(caller.clone())?)
}

/// A handler's answer as raw bytes (an SVG, say).
pub async fn bytes<T: IntoResponse>(answer: ApiResult<T>) -> ApiResult<Bytes> {
    let response = answer?.into_response();
    axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .map_err(ApiError::internal)
}

/// A handler's JSON answer.
pub async fn json<T: IntoResponse>(answer: ApiResult<T>) -> ApiResult<Value> {
    let raw = bytes(answer).await?;
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&raw).map_err(ApiError::internal)
}

/// A money route's JSON answer, and whether it is a replay of an earlier answer (the same
/// Idempotency-Key and body: nothing moved this time).
pub async fn json_replayed(answer: ApiResult<Response>) -> ApiResult<(Value, bool)> {
    let response = answer?;
    let replayed = crate::api::idempotent::is_replay(&response);
    Ok((json(Ok(response)).await?, replayed))
}

/// Amounts typed by people: `12,50` is `12.50`; spaces are dropped.
pub fn typed_amount(s: &str) -> String {
    s.trim()
        .replace(',', ".")
        .replace(['\u{a0}', '\u{202f}', ' ', '€'], "")
}

/// A string field of a JSON answer.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}
