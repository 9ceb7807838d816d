use axum::extract::State;
use axum::Json;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminOnly, AdminTreasurer, ApiJson, Authorized};
use super::AppState;
use crate::domain::bank::normalize_iban;
use crate::domain::settings::FundSettings;
use crate::store::funds;

/// The fund's rules (admin; the treasurer may read them).
#[utoipa::path(get, path = "/api/v1/settings", tag = "settings", security(("bearer" = [])),
    responses((status = 200, body = FundSettings), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
) -> ApiResult<Json<FundSettings>> {
    Ok(Json(funds::settings(&state.db, &caller.fund_id).await?))
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
    let mut settings = body.value;
    let errors = settings.validate();
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    settings.iban = normalize_iban(&settings.iban);
    settings.fund_name = settings.fund_name.trim().to_string();
    let mut tx = state.db.begin().await?;
    funds::put_settings(&mut tx, &caller.fund_id, &settings).await?;
    tx.commit().await?;
    Ok(Json(settings))
}
