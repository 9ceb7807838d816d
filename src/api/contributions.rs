use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized, IdempotencyKey};
use super::idempotent::REPLAYED_HEADER;
use super::query::Query;
use super::AppState;
use crate::domain::member::{MemberStatus, Period};
use crate::domain::settings::{AllowanceSettings, ContributionScale};
use crate::domain::{Cents, MemberId};
use crate::service::contributions::{
    self as service, PaymentRequest as NewPayment, RecordedPayment, ScaleTrial, SimulatedHousehold,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    period: Period,
}

#[derive(Serialize, ToSchema)]
pub struct CallSummary {
    period: Period,
    members_called: i64,
    total: Cents,
}

/// Calls every active member's dues for a month at the current scale (treasurer). Calling
/// the same period again creates nothing and answers the same figures.
#[utoipa::path(post, path = "/api/v1/contributions/calls", tag = "contributions",
    request_body = CallRequest, security(("bearer" = [])),
    responses((status = 200, body = CallSummary), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn call_contributions(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    body: ApiJson<CallRequest>,
) -> ApiResult<Json<CallSummary>> {
    let s = service::call_contributions(&state.db, caller.fund(), body.value.period).await?;
    Ok(Json(CallSummary {
        period: s.period,
        members_called: s.members_called,
        total: s.total,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    member_id: MemberId,
    amount: Cents,
    /// transfer, cash, cheque, card or direct_debit.
    method: String,
    #[schema(value_type = String, example = "2026-11-05")]
    paid_on: NaiveDate,
    /// The bank's or the receipt's reference.
    #[serde(default)]
    reference: Option<String>,
}

/// Records a member's payment (treasurer); requires an `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/contributions/payments", tag = "contributions",
    request_body = PaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 characters")),
    responses((status = 201, body = RecordedPayment), (status = 400, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn record_payment(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    key: IdempotencyKey,
    body: ApiJson<PaymentRequest>,
) -> ApiResult<Response> {
    let b = body.value;
    let request = NewPayment {
        member_id: b.member_id,
        amount: b.amount,
        method: b.method,
        paid_on: b.paid_on,
        reference: b.reference,
    };
    let recorded = service::record_dues_payment(&state.db, &caller, &key, request).await?;
    let mut response = (StatusCode::CREATED, Json(recorded.value)).into_response();
    if recorded.replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[derive(Serialize, ToSchema)]
pub struct ArrearView {
    member_id: MemberId,
    number: i64,
    payment_reference: String,
    /// `null` for a member who has left.
    full_name: Option<String>,
    status: MemberStatus,
    /// Owed for periods before the current one.
    arrears: Cents,
    /// Owed in all, the current period included.
    outstanding: Cents,
    /// The oldest period not covered by payments.
    oldest_unpaid_period: Option<Period>,
}

#[derive(Serialize, ToSchema)]
pub struct ArrearsView {
    period: Period,
    members: i64,
    total: Cents,
    items: Vec<ArrearView>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrearsQuery {
    period: Option<Period>,
}

/// Members with unpaid dues of past periods, largest first (treasurer).
#[utoipa::path(get, path = "/api/v1/contributions/arrears", tag = "contributions",
    params(("period" = Option<String>, Query,
            description = "dues of periods before this one (YYYY-MM) are arrears; default: this month")),
    security(("bearer" = [])),
    responses((status = 200, body = ArrearsView), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn arrears(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Query(query): Query<ArrearsQuery>,
) -> ApiResult<Json<ArrearsView>> {
    let a = service::arrears(&state.db, caller.fund(), query.period).await?;
    let items: Vec<ArrearView> = a
        .items
        .into_iter()
        .map(|r| ArrearView {
            member_id: r.member_id,
            number: r.number,
            payment_reference: r.payment_reference,
            full_name: r.full_name,
            status: r.status,
            arrears: r.arrears,
            outstanding: r.outstanding,
            oldest_unpaid_period: r.oldest_unpaid_period,
        })
        .collect();
    Ok(Json(ArrearsView {
        period: a.period,
        members: items.len() as i64,
        total: a.total,
        items,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulatedMemberBody {
    household: super::members::HouseholdBody,
    #[serde(default)]
    monthly_income: Option<Cents>,
    #[serde(default)]
    chosen_contribution: Option<Cents>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationRequest {
    /// The scale to try.
    contribution_scale: ContributionScale,
    /// Households to simulate; without it, the fund's active members.
    #[serde(default)]
    members: Option<Vec<SimulatedMemberBody>>,
    /// Allowance settings to try; without it, the fund's.
    #[serde(default)]
    allowance: Option<AllowanceSettings>,
}

#[derive(Serialize, ToSchema)]
pub struct SimulationView {
    members: i64,
    /// Per month.
    total_contributions: Cents,
    /// Per month.
    total_allowances: Cents,
    /// Contributions ÷ allowances (`"0.3125"`); null when no allowance is paid.
    #[schema(value_type = Option<String>, example = "0.3125")]
    coverage_ratio: Option<String>,
    /// What subsidies must bring each month for the allowances to be paid.
    subsidy_needed: Cents,
}

/// Does the fund hold? Contributions a scale would raise against the allowances it pays,
/// for the current members or a given list (treasurer).
#[utoipa::path(post, path = "/api/v1/contributions/simulate", tag = "contributions",
    request_body = SimulationRequest, security(("bearer" = [])),
    responses((status = 200, body = SimulationView), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn simulate(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    body: ApiJson<SimulationRequest>,
) -> ApiResult<Json<SimulationView>> {
    let req = body.value;
    let trial = ScaleTrial {
        contribution_scale: req.contribution_scale,
        members: req.members.map(|list| {
            list.into_iter()
                .map(|m| SimulatedHousehold {
                    adults: m.household.adults,
                    children: m.household.children,
                    monthly_income: m.monthly_income,
                    chosen_contribution: m.chosen_contribution,
                })
                .collect()
        }),
        allowance: req.allowance,
    };
    let s = service::try_scale(&state.db, caller.fund(), trial).await?;
    Ok(Json(SimulationView {
        members: s.members,
        total_contributions: s.total_contributions,
        total_allowances: s.total_allowances,
        coverage_ratio: s.coverage_ratio.map(|r| format!("{r:.4}")),
        subsidy_needed: s.subsidy_needed,
    }))
}
