use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::NaiveDate;
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized, IdempotencyKey};
use super::{idempotent, AppState};
use crate::domain::money::format_signed_cents;
use crate::domain::Cents;
use crate::domain::ErrorCode;
use crate::service;
use crate::service::corrections::ReverseError;
use crate::store::ledger;

#[derive(Serialize, ToSchema)]
pub struct TrialBalanceLine {
    #[schema(example = "512")]
    account: String,
    label: String,
    #[schema(value_type = String, example = "1500.00")]
    debit: String,
    #[schema(value_type = String, example = "0.00")]
    credit: String,
    /// Debit minus credit; negative for a credit balance.
    #[schema(value_type = String, example = "1500.00")]
    balance: String,
}

#[derive(Serialize, ToSchema)]
pub struct TrialBalance {
    accounts: Vec<TrialBalanceLine>,
    #[schema(value_type = String)]
    total_debit: String,
    #[schema(value_type = String)]
    total_credit: String,
}

/// Debit and credit totals of every general account; the two totals are always equal.
#[utoipa::path(get, path = "/api/v1/ledger/trial-balance", tag = "accounting",
    security(("bearer" = [])),
    responses((status = 200, body = TrialBalance), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn trial_balance(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
) -> ApiResult<Json<TrialBalance>> {
    let lines = ledger::trial_balance(&state.db, caller.fund()).await?;
    let (debit, credit) = lines
        .iter()
        .fold((0i64, 0i64), |(d, c), l| (d + l.debit, c + l.credit));
    Ok(Json(TrialBalance {
        accounts: lines
            .into_iter()
            .map(|l| TrialBalanceLine {
                balance: format_signed_cents(l.debit - l.credit),
                debit: format_signed_cents(l.debit),
                credit: format_signed_cents(l.credit),
                account: l.account,
                label: l.label,
            })
            .collect(),
        total_debit: format_signed_cents(debit),
        total_credit: format_signed_cents(credit),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Verification {
    clean: bool,
    entries: i64,
    postings: i64,
    accounts: i64,
    problems: Vec<String>,
}

/// Recomputes the hash chain and every cached balance from the postings (what
/// `caisse ledger verify` does).
#[utoipa::path(get, path = "/api/v1/ledger/verification", tag = "accounting",
    security(("bearer" = [])),
    responses((status = 200, body = Verification), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn verification(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
) -> ApiResult<Json<Verification>> {
    let r = ledger::verify(&state.db, caller.fund()).await?;
    Ok(Json(Verification {
        clean: r.is_clean(),
        entries: r.entries,
        postings: r.postings,
        accounts: r.accounts,
        problems: r.problems,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalRequest {
    /// Why the entry is cancelled; becomes the reversing entry's label.
    reason: String,
    /// Date of the reversing entry; today when omitted.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2026-11-21")]
    date: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
pub struct PostedView {
    /// The journal entry's id.
    entry_id: i64,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReversalView {
    /// The reversing entry's id.
    entry_id: i64,
    created_at: String,
    /// The kind of the entry that was reversed (`redemption`, `refund`, `allowance`...).
    #[schema(example = "redemption")]
    reversed_kind: String,
}

/// Cancels a journal entry with a reversing entry (admin, treasurer), and updates in the same
/// transaction every table that mirrors it: a reversed sale can no longer be refunded and is
/// netted at the next settlement, a reversed due or payment stops counting, a reversed payout
/// makes its settlement line unpaid again. Entries are never changed or deleted.
#[utoipa::path(post, path = "/api/v1/ledger/entries/{id}/reversal", tag = "accounting",
    params(("id" = i64, Path, description = "the entry's id")),
    request_body = ReversalRequest, security(("bearer" = [])),
    responses((status = 201, body = ReversalView), (status = 404, body = Problem),
              (status = 409, description = "already_reversed, reversal_not_reversible, \
                redemption_refunded, member_left or entry_not_reversible", body = Problem),
              (status = 422, description = "insufficient_balance: a member balance would go \
                negative; validation_failed", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn reverse_entry(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Path(id): Path<String>,
    body: ApiJson<ReversalRequest>,
) -> ApiResult<(StatusCode, Json<ReversalView>)> {
    // An id that is not a number names no entry: 404, like any other unknown id.
    let id: i64 = id.parse().map_err(|_| ApiError::not_found("entry"))?;
    let req = body.value;
    let reason = req.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::field(
            ErrorCode::ValidationFailed,
            "reason",
            "must be 1 to 200 characters",
        ));
    }
    let date = req.date.unwrap_or_else(crate::domain::today);
    let fund = caller.fund().to_string();
    let reversed = state
        .db
        .write(move |tx| {
            async move { service::corrections::reverse(tx, &fund, id, date, &reason).await }.boxed()
        })
        .await
        .map_err(reverse_error)?;
    Ok((
        StatusCode::CREATED,
        Json(ReversalView {
            entry_id: reversed.entry_id,
            created_at: crate::domain::format_instant(reversed.created_at),
            reversed_kind: reversed.kind,
        }),
    ))
}

fn reverse_error(e: ReverseError) -> ApiError {
    let code = e.code();
    match &e {
        ReverseError::NotFound(id) => ApiError::not_found(&format!("entry {id}")),
        ReverseError::InsufficientBalance => ApiError::new(code, e.to_string()),
        ReverseError::Store(_) => ApiError::internal(e),
        ReverseError::AlreadyReversed(_)
        | ReverseError::IsReversal(_)
        | ReverseError::RedemptionRefunded(_)
        | ReverseError::MemberLeft
        | ReverseError::NotReversible(_) => ApiError::new(code, e.to_string()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubsidyRequest {
    amount: Cents,
    #[schema(value_type = String, example = "2026-11-05")]
    received_on: NaiveDate,
    /// Who granted it, e.g. "Métropole — appel à projets alimentation".
    #[schema(example = "Subvention Métropole")]
    label: String,
}

/// Records a subsidy received on the bank account (treasurer): 512 debit, 741 credit.
/// Requires an `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/subsidies", tag = "accounting",
    request_body = SubsidyRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 characters")),
    responses((status = 201, body = PostedView), (status = 400, body = Problem),
              (status = 409, description = "idempotency_key_reused", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn record_subsidy(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    key: IdempotencyKey,
    body: ApiJson<SubsidyRequest>,
) -> ApiResult<Response> {
    let req = body.value;
    if req.amount.is_zero() {
        return Err(ApiError::field(
            ErrorCode::AmountInvalid,
            "amount",
            "must be greater than zero",
        ));
    }
    let label = req.label.trim().to_string();
    if label.is_empty() || label.chars().count() > 200 {
        return Err(ApiError::field(
            ErrorCode::ValidationFailed,
            "label",
            "must be 1 to 200 characters",
        ));
    }
    let fund = caller.fund().to_string();
    idempotent::run(
        &state.db,
        &caller.0,
        &key,
        "POST /api/v1/subsidies",
        &body.raw,
        move |tx| {
            async move {
                let posted =
                    service::ledger::record_subsidy(tx, &fund, req.amount, req.received_on, &label)
                        .await?;
                Ok((
                    StatusCode::CREATED,
                    PostedView {
                        entry_id: posted.entry_id,
                        created_at: crate::domain::format_instant(posted.created_at),
                    },
                ))
            }
            .boxed()
        },
    )
    .await
}
