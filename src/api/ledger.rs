//! The ledger for the treasurer: trial balance, verification, reversals, subsidies. Each
//! handler calls one function of `service::ledger`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;

use super::error::{ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized, IdempotencyKey};
use super::{idempotent, AppState};
use crate::service::ledger as service;

pub use crate::service::ledger::{
    PostedView, ReversalRequest, ReversalView, SubsidyRequest, TrialBalance, Verification,
};

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
    Ok(Json(
        service::trial_balance(&state.db, caller.fund()).await?,
    ))
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
    Ok(Json(service::verification(&state.db, caller.fund()).await?))
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
) -> ApiResult<(axum::http::StatusCode, Json<ReversalView>)> {
    let reversed = service::reverse(&state.db, caller.fund(), &id, body.value).await?;
    Ok((axum::http::StatusCode::CREATED, Json(reversed)))
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
    let recorded = service::subsidy(&state.db, &caller.0, &key, body.value).await?;
    Ok(idempotent::created(recorded))
}
