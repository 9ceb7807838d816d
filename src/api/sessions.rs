use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{bearer_token, ApiJson, ClientAddr};
use super::AppState;
use crate::auth;
use crate::domain::ErrorCode;
use crate::domain::{Instant, Role};
use crate::service::login::{self, LoginError};
use crate::store::users;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    #[schema(example = "tresorier@caisse.example")]
    email: String,
    password: String,
    /// Only needed when the same email is registered in several funds of one deployment.
    #[serde(default)]
    fund_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// Send as `Authorization: Bearer TOKEN`.
    token: String,
    role: Role,
    /// RFC 3339 UTC.
    expires_at: Instant,
}

/// Signs in with email and password; answers a bearer token.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "auth", request_body = SessionRequest,
    responses((status = 201, body = SessionResponse),
              (status = 401, description = "wrong email or password", body = Problem),
              (status = 429, description = "too_many_attempts: too many failed logins for \
               this email or from this address; see Retry-After", body = Problem,
               headers(("Retry-After" = u64, description = "seconds to wait"))),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn create_session(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: ApiJson<SessionRequest>,
) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    let req = body.value;
    let user = login::sign_in(
        &state.db,
        &state.logins,
        client,
        &req.email,
        &req.password,
        req.fund_id.as_deref(),
    )
    .await
    .map_err(|e| match e {
        LoginError::WrongCredentials => {
            ApiError::new(ErrorCode::InvalidCredentials, "wrong email or password")
        }
        LoginError::TooManyAttempts(wait) => ApiError::too_many_attempts(wait),
        LoginError::Other(e) => e.into(),
    })?;
    let (token, expires_at) =
        login::open_api_session(&state.db, &user, state.config.session_hours).await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionResponse {
            token,
            role: user.role,
            expires_at,
        }),
    ))
}

/// Signs out: the current bearer token stops working.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn delete_session(
    State(state): State<AppState>,
    caller: super::extract::Caller,
    parts: Parts,
) -> ApiResult<StatusCode> {
    // A till's API key is not a session: answering 204 would let the till believe the key
    // no longer works. Revoking it is an administrator's act (it takes the till offline).
    if caller.role() == Role::Terminal {
        return Err(ApiError::new(
            ErrorCode::TerminalKeyNotASession,
            "a till's API key is not a session and stays valid: an administrator revokes it \
             with POST /api/v1/shops/{id}/terminals/{terminal_id}/revoke",
        ));
    }
    if let Some(token) = bearer_token(&parts) {
        users::delete_session(&state.db, &auth::token_hash(token)).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
