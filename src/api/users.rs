use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminOnly, ApiJson, Authorized};
use super::page::QueryParams;
use super::AppState;
use crate::domain::{FieldError, Role};
use crate::service;
use crate::store::cursors::Listed;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    /// At least 10 characters.
    password: String,
    role: Role,
    /// Required for the `member` role: the member this login belongs to.
    #[serde(default)]
    member_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: String,
    email: String,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_id: Option<String>,
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    body: ApiJson<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let req = body.value;
    let mut errors: Vec<FieldError> = Vec::new();
    if req.role == Role::Terminal {
        errors.push(FieldError::new(
            "role",
            "tills authenticate with terminal keys, not users",
        ));
    }
    if req.role == Role::Member && req.member_id.is_none() {
        errors.push(FieldError::new("member_id", "required for the member role"));
    }
    if req.role != Role::Member && req.member_id.is_some() {
        errors.push(FieldError::new("member_id", "only for the member role"));
    }
    if let Some(member_id) = &req.member_id {
        let member = crate::store::members::find(&state.db, caller.fund(), member_id).await?;
        match member {
            None => errors.push(FieldError::new("member_id", "no such member")),
            Some(m) if m.status == crate::domain::member::MemberStatus::Left => errors.push(
                FieldError::new("member_id", "this member has left the fund"),
            ),
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let user = service::users::create(
        &state.db,
        caller.fund(),
        &req.email,
        &req.password,
        req.role,
        req.member_id.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            id: user.id,
            email: user.email,
            role: user.role,
            member_id: user.member_id,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct UserListItem {
    id: String,
    email: String,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    member_id: Option<String>,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<UserListItem>,
    next_cursor: Option<String>,
}

/// Who can sign in to the fund (admin), oldest first, optionally one `role`'s; paged with
/// `limit` and `cursor`. Password hashes never leave the server.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(("role" = Option<String>, Query), ("limit" = Option<i64>, Query),
           ("cursor" = Option<String>, Query)),
    security(("bearer" = [])),
    responses((status = 200, body = UserPage), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    mut query: QueryParams,
) -> ApiResult<Json<UserPage>> {
    let page = query.page();
    let role = match query.take("role") {
        None => None,
        Some(r) => match r.parse::<Role>() {
            Ok(role) if role != Role::Terminal => Some(role),
            _ => {
                query.error("role", "one of admin, treasurer, committee, member");
                None
            }
        },
    };
    query.finish()?;
    page.check_cursor(&state.db, caller.fund(), Listed::Users)
        .await?;
    let rows = crate::store::users::list(
        &state.db,
        caller.fund(),
        role,
        page.after.as_deref(),
        page.fetch(),
    )
    .await?;
    let (rows, next_cursor) = page.split(rows, |(u, _)| &u.id);
    Ok(Json(UserPage {
        items: rows
            .into_iter()
            .map(|(u, created_at)| UserListItem {
                id: u.id,
                email: u.email,
                role: u.role,
                member_id: u.member_id,
                created_at: crate::domain::format_instant(created_at),
            })
            .collect(),
        next_cursor,
    }))
}
