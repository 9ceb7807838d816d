//! Who can sign in to the fund (admin): create and list users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::error::{ApiResult, Problem};
use super::extract::{AdminOnly, ApiJson, Authorized};
use super::page::Page;
use super::query::{Limit, Query};
use super::AppState;
use crate::domain::Role;
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
