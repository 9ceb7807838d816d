use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, Authorized, Caller, IdempotencyKey, TerminalOnly};
use super::page::QueryParams;
use super::{idempotent, AppState};
use crate::domain::ErrorCode;
use crate::domain::{format_instant, now_micros, Cents, FieldError, Role};
use crate::service::redemptions::{self as service, RedeemError, RefundError};
use crate::service::{cards, pins};
use crate::store::redemptions as store;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    /// The QR payload scanned at the till: `caisse1:CARD_ID:CODE` (app) or `caisse1:CARD_ID`
    /// (printed card, with `pin`).
    #[schema(example = "caisse1:card_01m80c9ad3c66ws7nkrhvb49zz:46119246")]
    token: String,
    amount: Cents,
    /// The PIN of a printed card.
    #[serde(default)]
    pin: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionView {
    id: String,
    #[schema(example = "approved")]
    status: &'static str,
    amount: Cents,
    /// What the member has left to spend. Nothing in the answer names the member.
    remaining_balance: Cents,
    created_at: String,
}

/// Takes a payment at the till (terminal); requires an `Idempotency-Key`. A decline is 422
/// with one of the codes `token_invalid token_expired token_reused card_revoked card_locked
/// pin_required pin_wrong member_inactive shop_not_approved insufficient_balance
/// amount_invalid`, and moves nothing.
#[utoipa::path(post, path = "/api/v1/redemptions", tag = "till",
    request_body = RedemptionRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 characters")),
    responses((status = 201, body = RedemptionView),
              (status = 400, description = "Idempotency-Key missing", body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, description = "idempotency_key_reused", body = Problem),
              (status = 422, description = "declined, with the reason's code", body = Problem),
              (status = 429, description = "rate_limited", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn redeem(
    State(state): State<AppState>,
    caller: Authorized<TerminalOnly>,
    key: IdempotencyKey,
    body: ApiJson<RedemptionRequest>,
) -> ApiResult<Response> {
    state.check_till_rate(caller.actor())?;
    let req = body.value;
    let shop = caller
        .shop()
        .map(|s| s.to_string())
        .ok_or_else(|| ApiError::internal("terminal without a shop"))?;
    if req.amount.is_zero() {
        return Err(ApiError::field(
            ErrorCode::AmountInvalid,
            "amount",
            "must be greater than zero",
        ));
    }
    // What a refusal needs recording after the rollback.
    let refusal: Arc<Mutex<Option<RedeemError>>> = Arc::new(Mutex::new(None));
    let (fund, terminal, cards_key) = (
        caller.fund().to_string(),
        caller.actor().to_string(),
        state.cards.clone(),
    );
    // A printed card's PIN is checked here, before the payment takes the write path; the
    // transaction only compares the proof with the stored PIN.
    let pin = pins::prove(
        &state.db,
        &state.cards,
        caller.fund(),
        &req.token,
        req.pin.as_deref(),
    )
    .await?;
    let (token, amount) = (req.token, req.amount);
    let (shop_in, refusal_in) = (shop.clone(), refusal.clone());
    let answer = idempotent::run(
        &state.db,
        &caller,
        &key,
        "POST /api/v1/redemptions",
        &body.raw,
        move |tx| {
            async move {
                match service::redeem(
                    tx,
                    &cards_key,
                    &fund,
                    &shop_in,
                    &terminal,
                    &token,
                    pin.as_ref(),
                    amount,
                )
                .await
                {
                    Ok(a) => Ok((
                        StatusCode::CREATED,
                        RedemptionView {
                            id: a.id,
                            status: "approved",
                            amount: a.amount,
                            remaining_balance: a.remaining_balance,
                            created_at: format_instant(a.created_at),
                        },
                    )),
                    Err(RedeemError::Store(e)) => Err(e.into()),
                    Err(other) => {
                        let placeholder = ApiError::new(ErrorCode::InternalError, "declined");
                        *refusal_in.lock().expect("refusal cell") = Some(other);
                        Err(placeholder)
                    }
                }
            }
            .boxed()
        },
    )
    .await;
    let refused = refusal.lock().expect("refusal cell").take();
    let Some(refused) = refused else {
        return answer;
    };
    // The payment's transaction is rolled back: count a wrong PIN and keep the decline for
    // the committee, each in a transaction of its own.
    let (decline_code, message, card_id) = match refused {
        RedeemError::Declined { decline, card_id } => (decline.code(), decline.message(), card_id),
        RedeemError::WrongPin { card_id } => {
            let d = cards::record_wrong_pin(&state.db, caller.fund(), &card_id).await?;
            (d.code(), d.message(), Some(card_id))
        }
        RedeemError::Store(e) => return Err(e.into()),
    };
    if let Err(e) = store::record_decline(
        &state.db,
        caller.fund(),
        &shop,
        caller.actor(),
        card_id.as_deref(),
        decline_code.as_str(),
        Some(amount.cents()),
        now_micros(),
    )
    .await
    {
        tracing::warn!(error = %e, "could not record a decline");
    }
    Err(ApiError::new(decline_code, message))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    amount: Cents,
}

#[derive(Serialize, ToSchema)]
pub struct RefundView {
    id: String,
    redemption_id: String,
    amount: Cents,
    /// What can still be refunded of the redemption.
    refundable: Cents,
    created_at: String,
}

/// Refunds part or all of a redemption (terminal of the same shop); requires an
/// `Idempotency-Key`. All refunds together never exceed the redemption.
#[utoipa::path(post, path = "/api/v1/redemptions/{id}/refunds", tag = "till",
    params(("id" = String, Path),
           ("Idempotency-Key" = String, Header, description = "1 to 255 characters")),
    request_body = RefundRequest, security(("bearer" = [])),
    responses((status = 201, body = RefundView), (status = 400, body = Problem),
              (status = 404, description = "no such redemption at this shop", body = Problem),
              (status = 409, description = "idempotency_key_reused; redemption_reversed (the \
                sale's entry was reversed)", body = Problem),
              (status = 422, description = "refund_exceeds_redemption or amount_invalid", body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn refund(
    State(state): State<AppState>,
    caller: Authorized<TerminalOnly>,
    Path(id): Path<String>,
    key: IdempotencyKey,
    body: ApiJson<RefundRequest>,
) -> ApiResult<Response> {
    state.check_till_rate(caller.actor())?;
    let amount = body.value.amount;
    if amount.is_zero() {
        return Err(ApiError::field(
            ErrorCode::AmountInvalid,
            "amount",
            "must be greater than zero",
        ));
    }
    let shop = caller
        .shop()
        .map(|s| s.to_string())
        .ok_or_else(|| ApiError::internal("terminal without a shop"))?;
    let (fund, terminal) = (caller.fund().to_string(), caller.actor().to_string());
    let route = format!("POST /api/v1/redemptions/{id}/refunds");
    idempotent::run(&state.db, &caller, &key, &route, &body.raw, move |tx| {
        async move {
            match service::refund(tx, &fund, &shop, &terminal, &id, amount).await {
                Ok(r) => Ok((
                    StatusCode::CREATED,
                    RefundView {
                        id: r.id,
                        redemption_id: r.redemption_id,
                        amount: r.amount,
                        refundable: r.refundable,
                        created_at: format_instant(r.created_at),
                    },
                )),
                Err(RefundError::NotFound) => Err(ApiError::not_found("redemption")),
                Err(RefundError::Reversed) => Err(ApiError::new(
                    ErrorCode::RedemptionReversed,
                    "this sale was reversed by the treasurer: there is nothing left to refund",
                )),
                Err(RefundError::TooMuch { left }) => Err(ApiError::field(
                    ErrorCode::RefundExceedsRedemption,
                    "amount",
                    format!(
                        "at most {} can still be refunded",
                        crate::domain::money::format_signed_cents(left)
                    ),
                )),
                Err(RefundError::Store(e)) => Err(e.into()),
            }
        }
        .boxed()
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionItem {
    id: String,
    shop_id: String,
    amount: Cents,
    refunded: Cents,
    /// The treasurer reversed this sale: it is not paid to the shop and cannot be refunded.
    reversed: bool,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionPage {
    items: Vec<RedemptionItem>,
    /// Pass as `to` for the next (older) page.
    next_cursor: Option<String>,
}

fn instant_param(query: &mut QueryParams, name: &str) -> Option<i64> {
    let v = query.take(name)?;
    match chrono::DateTime::parse_from_rfc3339(&v) {
        Ok(t) => Some(t.timestamp_micros()),
        Err(_) => match chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
            // A date is the fund's day: from its midnight, in the fund's time zone.
            Ok(d) => Some(crate::domain::day_start_micros(d)),
            Err(_) => {
                query.error(name, "an RFC 3339 instant or a date YYYY-MM-DD");
                None
            }
        },
    }
}

/// Redemptions, newest first: a till sees its own shop's; admin and treasurer see all (or one
/// shop's with `shop_id`). `from` inclusive, `to` exclusive (RFC 3339 or YYYY-MM-DD).
#[utoipa::path(get, path = "/api/v1/redemptions", tag = "till",
    params(("from" = Option<String>, Query), ("to" = Option<String>, Query),
           ("shop_id" = Option<String>, Query), ("limit" = Option<i64>, Query),
           ("cursor" = Option<String>, Query)),
    security(("bearer" = [])),
    responses((status = 200, body = RedemptionPage), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    mut query: QueryParams,
) -> ApiResult<Json<RedemptionPage>> {
    let page = query.page();
    let from = instant_param(&mut query, "from").unwrap_or(0);
    let to = instant_param(&mut query, "to").unwrap_or(i64::MAX);
    let shop_filter = query.take("shop_id");
    query.finish()?;
    let shop = match caller.role() {
        Role::Terminal => caller.shop().map(|s| s.to_string()),
        Role::Admin | Role::Treasurer => shop_filter,
        _ => return Err(ApiError::forbidden()),
    };
    let after = match &page.after {
        None => None,
        Some(cursor) => Some(
            store::position(&state.db, caller.fund(), shop.as_deref(), cursor)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid(vec![FieldError::new(
                        "cursor",
                        "not the next_cursor of a page of this list",
                    )])
                })?,
        ),
    };
    let mut rows = store::list(
        &state.db,
        caller.fund(),
        shop.as_deref(),
        from,
        to,
        after.as_ref(),
        page.fetch(),
    )
    .await?;
    let more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);
    let next_cursor = more.then(|| rows.last().map(|r| r.id.clone())).flatten();
    let c = |v: i64| Cents::from_cents(v).map_err(ApiError::internal);
    Ok(Json(RedemptionPage {
        items: rows
            .into_iter()
            .map(|r| {
                Ok(RedemptionItem {
                    amount: c(r.amount)?,
                    refunded: c(r.refunded)?,
                    reversed: r.reversed,
                    id: r.id,
                    shop_id: r.shop_id,
                    created_at: format_instant(r.created_at),
                })
            })
            .collect::<ApiResult<Vec<_>>>()?,
        next_cursor,
    }))
}
