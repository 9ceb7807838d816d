use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized};
use super::AppState;
use crate::domain::member::Period;
use crate::domain::Cents;
use crate::service::allowances as service;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuanceRequest {
    period: Period,
}

#[derive(Serialize, ToSchema)]
pub struct IssuanceSummary {
    period: Period,
    /// Active members who received an allowance.
    members_credited: i64,
    /// Allowances credited.
    total: Cents,
    /// Sent back to the common pot because balances would have passed the cap.
    returned_by_cap: Cents,
}

/// Credits the month's allowance to every active member (treasurer). Issuing the same period
/// again credits nothing and answers the first issuance's figures.
#[utoipa::path(post, path = "/api/v1/allowances/issuances", tag = "allowances",
    request_body = IssuanceRequest, security(("bearer" = [])),
    responses((status = 200, body = IssuanceSummary), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn issue(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    body: ApiJson<IssuanceRequest>,
) -> ApiResult<Json<IssuanceSummary>> {
    let f = service::issue_allowances(&state.db, caller.fund(), body.value.period).await?;
    Ok(Json(IssuanceSummary {
        period: f.period,
        members_credited: f.members_credited,
        total: f.total,
        returned_by_cap: f.returned_by_cap,
    }))
}
