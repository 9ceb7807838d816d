//! The till's routes: a payment, a refund, and the list of sales. Each extracts, calls one
//! use case of `service::redemptions`, and answers its result.

use axum::extract::{Path, State};
use axum::http::{header::HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};

use super::error::{ApiResult, Problem};
use super::extract::{ApiJson, Authorized, Caller, IdempotencyKey, TerminalOnly};
use super::idempotent::REPLAYED_HEADER;
use super::page::Page;
use super::query::{Limit, Query};
use super::AppState;
use crate::domain::{Instant, ShopId};
use crate::service::idempotent::Recorded;
use crate::service::redemptions::{
    self as service, Approved, PayRequest, RedemptionFilter, RedemptionPage, RefundRequest,
    Refunded,
};

/// A new effect is 201; its replay is the same answer, marked `Idempotent-Replayed: true`.
fn created<T: Serialize>(recorded: Recorded<T>) -> Response {
    let mut response = (StatusCode::CREATED, Json(recorded.value)).into_response();
    if recorded.replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

/// Takes a payment at the till (terminal); requires an `Idempotency-Key`. A decline is 422
/// with one of the codes `token_invalid token_expired token_reused card_revoked card_locked
/// pin_required pin_wrong member_inactive shop_not_approved insufficient_balance
/// amount_invalid`, and moves nothing.
#[utoipa::path(post, path = "/api/v1/redemptions", tag = "till",
    request_body = PayRequest, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "1 to 255 characters")),
    responses((status = 201, body = Approved),
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
    body: ApiJson<PayRequest>,
) -> ApiResult<Response> {
    state.check_till_rate(caller.actor())?;
    let paid = service::pay(&state.db, &state.cards, &caller, &key, &body.value).await?;
    Ok(created(paid))
}

/// Refunds part or all of a redemption (terminal of the same shop); requires an
/// `Idempotency-Key`. All refunds together never exceed the redemption.
#[utoipa::path(post, path = "/api/v1/redemptions/{id}/refunds", tag = "till",
    params(("id" = String, Path),
           ("Idempotency-Key" = String, Header, description = "1 to 255 characters")),
    request_body = RefundRequest, security(("bearer" = [])),
    responses((status = 201, body = Refunded), (status = 400, body = Problem),
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
    let refunded = service::refund(&state.db, &caller, &key, &id, &body.value).await?;
    Ok(created(refunded))
}

/// `from` and `to` of the list: an RFC 3339 instant, or a date, which is the fund's day from
/// its midnight in the fund's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstantOrDay(Instant);

impl<'de> Deserialize<'de> for InstantOrDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<InstantOrDay, D::Error> {
        let text = String::deserialize(d)?;
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&text) {
            return Ok(InstantOrDay(Instant::from_micros(t.timestamp_micros())));
        }
        match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(day) => Ok(InstantOrDay(Instant::from_micros(
                crate::domain::day_start_micros(day),
            ))),
            Err(_) => Err(serde::de::Error::custom(
                "an RFC 3339 instant or a date YYYY-MM-DD",
            )),
        }
    }
}

/// The parameters of `GET /api/v1/redemptions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    from: Option<InstantOrDay>,
    to: Option<InstantOrDay>,
    shop_id: Option<ShopId>,
    limit: Option<Limit>,
    cursor: Option<String>,
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
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<RedemptionPage>> {
    let page = Page::new(query.limit, query.cursor);
    let filter = RedemptionFilter {
        from: query.from.map(|f| f.0),
        to: query.to.map(|t| t.0),
        shop: query.shop_id,
    };
    let listed = service::list(
        &state.db,
        &caller,
        filter,
        page.limit,
        page.after.as_deref(),
    )
    .await?;
    Ok(Json(listed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_and_to_are_instants_or_days() {
        let q: ListQuery =
            super::super::query::parse("from=2026-12-01&to=2026-12-01T10:00:00Z").unwrap();
        let day =
            crate::domain::day_start_micros(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(q.from, Some(InstantOrDay(Instant::from_micros(day))));
        assert_eq!(
            q.to.map(|t| t.0.rfc3339()).as_deref(),
            Some("2026-12-01T10:00:00Z")
        );
        let e = super::super::query::parse::<ListQuery>("from=hier&to=x&colour=red").unwrap_err();
        let mut named: Vec<String> = e.errors.into_iter().map(|f| f.field).collect();
        named.sort();
        assert_eq!(named, ["colour", "from", "to"]);
    }

    #[test]
    fn the_schemas_keep_the_names_clients_know() {
        let (_, doc) = super::super::api_router();
        let doc = serde_json::to_value(&doc).unwrap();
        let schemas = &doc["components"]["schemas"];
        for name in [
            "RedemptionRequest",
            "RedemptionView",
            "RefundRequest",
            "RefundView",
            "RedemptionItem",
            "RedemptionPage",
            "NewCardBody",
            "CardView",
            "CardPage",
        ] {
            assert!(schemas[name].is_object(), "schema {name}");
        }
        let view = &schemas["RedemptionView"]["properties"];
        for field in ["id", "status", "amount", "remaining_balance", "created_at"] {
            assert!(view[field].is_object(), "RedemptionView.{field}");
        }
    }
}
