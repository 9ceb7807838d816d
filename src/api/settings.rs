use axum::extract::State;
use axum::Json;

use super::error::{ApiResult, Problem};
use super::extract::{AdminOnly, AdminTreasurer, ApiJson, Authorized};
use super::AppState;
use crate::domain::settings::FundSettings;
use crate::service::settings;

/// The fund's rules (admin; the treasurer may read them).
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = FundSettings), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
) -> ApiResult<Json<FundSettings>> {
    Ok(Json(settings::get(&state.db, caller.fund()).await?))
}

/// Replaces the fund's rules (admin). Changes apply from the next call or issuance; what was
/// called or credited before never changes.
#[utoipa::path(put, path = "/api/v1/settings", tag = "settings", request_body = FundSettings,
    security(("bearer" = [])),
    responses((status = 200, body = FundSettings), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    body: ApiJson<FundSettings>,
) -> ApiResult<Json<FundSettings>> {
    Ok(Json(
        settings::put(&state.db, caller.fund(), body.value).await?,
    ))
}
