//! The reusable idempotency mechanism of the money routes: claim the key, do the work, store
//! the answer, commit, all in one transaction; replay the stored answer on a retry.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use super::extract::{Caller, IdempotencyKey};
use crate::domain::ErrorCode;
use crate::store::idempotency::{self, Claim};
use crate::store::{Db, Tx};

/// Runs `work` once per (caller, key). The same key with the same body answers the first
/// status and body again and changes nothing; with another body it is 409
/// `idempotency_key_reused`. A failed `work` rolls back and stores nothing, so the retry
/// runs it again.
pub async fn run<T, F>(
    db: &Db,
    caller: &Caller,
    key: &IdempotencyKey,
    route: &str,
    body: &serde_json::Value,
    work: F,
) -> ApiResult<Response>
where
    T: Serialize + Send + 'static,
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, ApiResult<(StatusCode, T)>> + Send + 'static,
{
    let hash = idempotency::request_hash(route, body);
    let (fund_id, caller_id, key) = (
        caller.fund().to_string(),
        caller.actor().to_string(),
        key.as_str().to_string(),
    );
    // `Db::write`: on SQLite, concurrent payments share one commit (group commit).
    db.write(move |tx| {
        async move {
            match idempotency::claim(tx, &fund_id, &caller_id, &key, &hash).await? {
                Claim::Replay { status, body } => {
                    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                    Ok(json_response(status, body, true))
                }
                Claim::Mismatch => Err(ApiError::new(
                    ErrorCode::IdempotencyKeyReused,
                    "this Idempotency-Key was used with another request",
                )),
                Claim::New => {
                    let (status, json) = {
                        let (status, value) = work(&mut *tx).await?;
                        let json = serde_json::to_string(&value).map_err(ApiError::internal)?;
                        (status, json)
                    };
                    idempotency::complete(tx, &fund_id, &caller_id, &key, status.as_u16(), &json)
                        .await?;
                    Ok(json_response(status, json, false))
                }
            }
        }
        .boxed()
    })
    .await
}

/// The header that marks a replayed answer (`Idempotent-Replayed: true`): a till must never
/// take a replay for a new sale. A first answer carries no such header.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Whether a handler's answer is a replay of an earlier one (see [`REPLAYED_HEADER`]).
pub fn is_replay(response: &Response) -> bool {
    response
        .headers()
        .get(REPLAYED_HEADER)
        .is_some_and(|v| v.as_bytes() == b"true")
}

fn json_response(status: StatusCode, body: String, replayed: bool) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if replayed {
        r.headers_mut()
            .insert(REPLAYED_HEADER, header::HeaderValue::from_static("true"));
    }
    r
}

/// The answer of an idempotent use case: 201 with its typed result, marked
/// `Idempotent-Replayed: true` when it is the stored answer of an earlier request.
pub fn created<T: Serialize>(recorded: crate::service::idempotent::Recorded<T>) -> Response {
    let mut r = (StatusCode::CREATED, axum::Json(recorded.value)).into_response();
    if recorded.replayed {
        r.headers_mut()
            .insert(REPLAYED_HEADER, header::HeaderValue::from_static("true"));
    }
    r
}
