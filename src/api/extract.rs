//! Extractors that turn a request into domain input or a clear problem: strict JSON bodies,
//! the authenticated caller, the idempotency key.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::auth::token_hash;
use crate::domain::bounds;
use crate::domain::money::MONEY_ERROR_PREFIX;
use crate::domain::ErrorCode;
use crate::domain::{FundId, MemberId, ShopId, TerminalId, UserId};
use crate::store::{terminals, users};

/// A JSON body read strictly: wrong syntax is 400 `malformed_json`, a wrong field is 422 with
/// the field's path, too large is 413. The parsed value is kept for idempotency fingerprints.
pub struct ApiJson<T> {
    pub value: T,
    pub raw: serde_json::Value,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(ct) = req.headers().get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            let essence = ct.split(';').next().unwrap_or_default().trim();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the body as application/json",
                ));
            }
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes)
    }
}

pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
    } else {
        ApiError::new(
            ErrorCode::BodyUnreadable,
            "the request body could not be read",
        )
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<ApiJson<T>, ApiError> {
    // Counted before serde_json builds (and later drops, recursively) a tree of it.
    if bounds::json_too_deep(bytes, bounds::MAX_JSON_DEPTH) {
        return Err(too_deep_json());
    }
    let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    // PostgreSQL refuses NUL in text: refused here once for every string of every body, with
    // the field that holds it, rather than as a database error deep in some handler.
    if let Some(field) = bounds::find_nul(&raw) {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            &field,
            "must not contain the NUL character (U+0000)",
        ));
    }
    // Every request body of the API is an object; serde would read an array as a tuple.
    if !raw.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            "the body must be a JSON object",
        ));
    }
    let value = serde_path_to_error::deserialize(&raw).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = e.inner().to_string();
        if let Some(m) = message.strip_prefix(MONEY_ERROR_PREFIX) {
            return ApiError::field(ErrorCode::AmountInvalid, &path, m);
        }
        // serde names the culprit in the message: "unknown field `x`, ..." (the path already
        // ends with it) or "missing field `x`" (the path is its parent).
        let (code, field) = if let Some(_name) = quoted_after(&message, "unknown field `") {
            (ErrorCode::UnknownField, path)
        } else if let Some(name) = quoted_after(&message, "missing field `") {
            let field = if path.is_empty() {
                name
            } else {
                format!("{path}.{name}")
            };
            (ErrorCode::MissingField, field)
        } else {
            (ErrorCode::InvalidField, path)
        };
        ApiError::field(code, &field, message)
    })?;
    Ok(ApiJson { value, raw })
}

/// 422 `input_too_deep`: the body nests deeper than [`bounds::MAX_JSON_DEPTH`].
pub fn too_deep_json() -> ApiError {
    ApiError::new(
        ErrorCode::InputTooDeep,
        format!(
            "the JSON nests arrays and objects more than {} levels deep",
            bounds::MAX_JSON_DEPTH
        ),
    )
}

/// `quoted_after("missing field `x`", "missing field `")` → `x`.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest.split('`').next()?.to_string())
}

pub use crate::caller::{
    AdminCommittee, AdminOnly, AdminTreasurer, AdminTreasurerMember, Authorized, Caller,
    CommitteeOnly, Roles, TerminalOnly,
};
pub use crate::service::idempotent::IdempotencyKey;

pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::unauthenticated("send Authorization: Bearer TOKEN (POST /api/v1/sessions)")
        })?;
        // A till's API key (`ct_...`): the terminal, for its shop only, while not revoked.
        if token.starts_with("ct_") {
            let till = terminals::authenticate(&state.db, &token_hash(token))
                .await?
                .ok_or_else(|| {
                    ApiError::unauthenticated("the terminal key is unknown or was revoked")
                })?;
            return Ok(Caller::Till {
                fund: FundId::new(till.fund_id),
                terminal: TerminalId::new(till.terminal_id),
                shop: ShopId::new(till.shop_id),
            });
        }
        let user = users::session_user(&state.db, &token_hash(token))
            .await?
            .ok_or_else(|| ApiError::unauthenticated("the token is unknown or has expired"))?;
        Ok(Caller::User {
            fund: FundId::new(user.fund_id),
            user: UserId::new(user.id),
            role: user.role,
            member: user.member_id.map(MemberId::new),
        })
    }
}

impl<R: Roles> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        Ok(Authorized::check(caller)?)
    }
}

/// The client's address: the socket's peer, or the last entry of the configured header of a
/// trusted reverse proxy (`client_address_header`). `None` when neither says.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(name) = &state.config.client_address_header {
            let forwarded = parts
                .headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .last()
                .and_then(|a| a.trim().parse().ok());
            if forwarded.is_some() {
                return Ok(ClientAddr(forwarded));
            }
        }
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(peer))
    }
}

/// The `Idempotency-Key` header, required on the money routes (1 to 255 characters).
impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get("idempotency-key")
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::IdempotencyKeyMissing,
                    "this route needs an Idempotency-Key header",
                )
            })?
            .to_str()
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::IdempotencyKeyInvalid,
                    "Idempotency-Key must be ASCII",
                )
            })?;
        IdempotencyKey::parse(value).map_err(|_| {
            ApiError::new(
                ErrorCode::IdempotencyKeyInvalid,
                "Idempotency-Key must be 1 to 255 characters",
            )
        })
    }
}

/// An `Idempotency-Key` header where it is optional: absent is `None`, malformed is 400.
pub struct MaybeIdempotencyKey(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeIdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if parts.headers.contains_key("idempotency-key") {
            Ok(MaybeIdempotencyKey(Some(
                IdempotencyKey::from_request_parts(parts, state).await?,
            )))
        } else {
            Ok(MaybeIdempotencyKey(None))
        }
    }
}
