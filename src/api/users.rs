//! Who can sign in to the fund (admin): create and list users, change a role, disable and
//! enable a login.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::error::{ApiResult, Problem};
use super::extract::{AdminOnly, ApiJson, Authorized};
use super::page::Page;
use super::query::{Limit, Query};
use super::AppState;
use crate::domain::{Role, UserId};
use crate::service::users::{self, NewUser, UserListItem, UserView};
use crate::store::cursors::Listed;

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
    let user = users::add(&state.db, &caller, body.value).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<UserListItem>,
    next_cursor: Option<String>,
}

/// `role=`: a role a user can hold (not `terminal`: tills are not users).
struct UserRole(Role);

impl<'de> Deserialize<'de> for UserRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.parse::<Role>() {
            Ok(role) if role != Role::Terminal => Ok(UserRole(role)),
            _ => Err(serde::de::Error::custom(
                "one of admin, treasurer, committee, member",
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    role: Option<UserRole>,
    limit: Option<Limit>,
    cursor: Option<String>,
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
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<UserPage>> {
    let page = Page::new(q.limit, q.cursor);
    page.check_cursor(&state.db, caller.fund(), Listed::Users)
        .await?;
    let role = q.role.map(|r| r.0);
    let rows = users::list(
        &state.db,
        &caller,
        role,
        page.after.as_deref(),
        page.fetch(),
    );
    let (items, next_cursor) = page.split(rows.await?, |u| u.id.as_str());
    Ok(Json(UserPage { items, next_cursor }))
}

/// The new role of a login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `admin`, `treasurer` or `committee`; a `member` login keeps its role (it is for one
    /// household).
    role: Role,
}

/// Gives another person a new role (admin), from their next request. Nobody changes their own
/// role; a member's login stays a member's, and no other becomes one (422, field `role`); the
/// last active admin stays one (409 `invalid_status_change`).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = RoleChange,
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserListItem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn patch_user(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<UserId>,
    body: ApiJson<RoleChange>,
) -> ApiResult<Json<UserListItem>> {
    let user = users::change_role(&state.db, &caller, &id, body.value.role).await?;
    Ok(Json(user))
}

/// Disables another person's login (admin): every session of theirs ends at once; signing in
/// answers as a wrong password, and their links are `link_invalid`. Already disabled: 409.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserListItem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn disable_user(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<UserId>,
) -> ApiResult<Json<UserListItem>> {
    Ok(Json(users::disable(&state.db, &caller, &id).await?))
}

/// Enables a disabled login again (admin): the person signs in with their password. Not
/// disabled: 409.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserListItem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn enable_user(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<UserId>,
) -> ApiResult<Json<UserListItem>> {
    Ok(Json(users::enable(&state.db, &caller, &id).await?))
}
