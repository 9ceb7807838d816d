use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::NaiveDate;
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized, IdempotencyKey};
use super::page::QueryParams;
use super::{idempotent, AppState};
use crate::domain::household::Household;
use crate::domain::member::Period;
use crate::domain::settings::{AllowanceSettings, ContributionScale};
use crate::domain::ErrorCode;
use crate::domain::{Cents, FieldError};
use crate::service::contributions::{self as service, SimulatedMember};
use crate::store::{contributions, funds};

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
    let period = body.value.period;
    // On a task of its own, as an issuance: a client that stops waiting does not stop it.
    let (db, fund_id) = (state.db.clone(), caller.fund().to_string());
    let figures = tokio::spawn(async move { service::call(&db, &fund_id, period).await })
        .await
        .map_err(ApiError::internal)??;
    Ok(Json(CallSummary {
        period,
        members_called: figures.members_called,
        total: Cents::from_cents(figures.total).map_err(ApiError::internal)?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    member_id: String,
    amount: Cents,
    /// transfer, cash, cheque, card or direct_debit.
    method: String,
    #[schema(value_type = String, example = "2026-11-05")]
    paid_on: NaiveDate,
    /// The bank's or the receipt's reference.
    #[serde(default)]
    reference: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    id: String,
    member_id: String,
    amount: Cents,
    method: String,
    paid_on: String,
    reference: Option<String>,
    entry_id: i64,
}

/// Records a member's payment (treasurer); requires an `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/contributions/payments", tag = "contributions",
    request_body = PaymentRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 characters")),
    responses((status = 201, body = PaymentView), (status = 400, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn record_payment(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    key: IdempotencyKey,
    body: ApiJson<PaymentRequest>,
) -> ApiResult<Response> {
    let req = body.value;
    let mut errors = Vec::new();
    if req.amount.is_zero() {
        return Err(ApiError::field(
            ErrorCode::AmountInvalid,
            "amount",
            "must be greater than zero",
        ));
    }
    if !service::METHODS.contains(&req.method.as_str()) {
        errors.push(FieldError::new(
            "method",
            "one of transfer, cash, cheque, card, direct_debit",
        ));
    }
    let today = crate::domain::today();
    if req.paid_on > today + chrono::Days::new(1) {
        errors.push(FieldError::new("paid_on", "must not be in the future"));
    }
    let reference = req
        .reference
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reference.as_ref().is_some_and(|r| r.chars().count() > 140) {
        errors.push(FieldError::new("reference", "at most 140 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let fund = caller.fund().to_string();
    idempotent::run(
        &state.db,
        &caller,
        &key,
        "POST /api/v1/contributions/payments",
        &body.raw,
        move |tx| {
            async move {
                let p = service::record_payment(
                    tx,
                    &fund,
                    &req.member_id,
                    req.amount,
                    &req.method,
                    req.paid_on,
                    reference,
                )
                .await?;
                Ok((
                    StatusCode::CREATED,
                    PaymentView {
                        amount: Cents::from_cents(p.amount).map_err(ApiError::internal)?,
                        id: p.id,
                        member_id: p.member_id,
                        method: p.method,
                        paid_on: p.paid_on,
                        reference: p.reference,
                        entry_id: p.entry_id,
                    },
                ))
            }
            .boxed()
        },
    )
    .await
}

#[derive(Serialize, ToSchema)]
pub struct ArrearView {
    member_id: String,
    number: i64,
    payment_reference: String,
    /// `null` for a member who has left.
    full_name: Option<String>,
    status: String,
    /// Owed for periods before the current one.
    arrears: Cents,
    /// Owed in all, the current period included.
    outstanding: Cents,
    /// The oldest period not covered by payments.
    oldest_unpaid_period: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ArrearsView {
    period: Period,
    members: i64,
    total: Cents,
    items: Vec<ArrearView>,
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
    mut query: QueryParams,
) -> ApiResult<Json<ArrearsView>> {
    let period = match query.take("period") {
        Some(p) => p.parse::<Period>().unwrap_or_else(|m| {
            query.error("period", m);
            Period::of(crate::domain::today())
        }),
        None => Period::of(crate::domain::today()),
    };
    query.finish()?;
    let rows = contributions::arrears(&state.db, caller.fund(), period).await?;
    let c = |v: i64| Cents::from_cents(v.max(0)).map_err(ApiError::internal);
    let total: i64 = rows.iter().map(|r| r.dues.arrears()).sum();
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(ArrearView {
                arrears: c(r.dues.arrears())?,
                outstanding: c(r.dues.outstanding())?,
                member_id: r.member_id,
                number: r.number,
                payment_reference: r.payment_reference,
                full_name: r.full_name,
                status: r.status,
                oldest_unpaid_period: r.oldest_unpaid,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(ArrearsView {
        period,
        members: items.len() as i64,
        total: c(total)?,
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
    let mut errors = Vec::new();
    req.contribution_scale
        .validate("contribution_scale", &mut errors);
    let members = match req.members {
        Some(list) => {
            if list.len() > 100_000 {
                errors.push(FieldError::new("members", "at most 100000 households"));
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, m) in list.into_iter().enumerate() {
                let h = u32::try_from(m.household.adults)
                    .ok()
                    .zip(u32::try_from(m.household.children).ok())
                    .and_then(|(a, c)| Household::new(a, c));
                match h {
                    Some(household) => out.push(SimulatedMember {
                        household,
                        monthly_income: m.monthly_income,
                        chosen_contribution: m.chosen_contribution,
                    }),
                    None => errors.push(FieldError::new(
                        format!("members[{i}].household"),
                        "at least one adult, no negative count, at most 30 people",
                    )),
                }
            }
            out
        }
        None => service::current_members(&state.db, caller.fund()).await?,
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let allowance = match req.allowance {
        Some(a) => a,
        None => funds::settings(&state.db, caller.fund()).await?.allowance,
    };
    let s = service::simulate(&req.contribution_scale, &allowance, &members);
    let c = |v: i64| Cents::from_cents(v.max(0)).map_err(ApiError::internal);
    Ok(Json(SimulationView {
        members: s.members,
        total_contributions: c(s.total_contributions)?,
        total_allowances: c(s.total_allowances)?,
        coverage_ratio: s.coverage_ratio.map(|r| format!("{r:.4}")),
        subsidy_needed: c(s.total_allowances - s.total_contributions)?,
    }))
}
