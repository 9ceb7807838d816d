//! Members' payment cards and their QR codes. Each route extracts, calls one use case of
//! `service::cards`, and answers its result.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminOnly, AdminTreasurerMember, ApiJson, Authorized, Caller};
use super::page::Page;
use super::query::{Limit, Query};
use super::AppState;
use crate::domain::card::CardKind;
use crate::domain::{CardId, ErrorCode, MemberId};
use crate::service::cards::{self as service, CardPage, MemberCard, NewCardRequest, QrError};

/// A new card. `secret` (app cards) is shown this once; `qr_payload` is what a printed card
/// carries.
#[derive(Serialize, ToSchema)]
pub struct IssuedCardView {
    card_id: String,
    kind: CardKind,
    /// App cards: the TOTP secret, base32 (RFC 4648) without padding.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// Printed cards: `caisse1:CARD_ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    qr_payload: Option<String>,
}

/// Issues a card to an active member (admin, treasurer; a member may get an `app` card for
/// themself). An app card's secret is in the answer only.
#[utoipa::path(post, path = "/api/v1/members/{id}/cards", tag = "cards",
    params(("id" = String, Path)), request_body = NewCardRequest, security(("bearer" = [])),
    responses((status = 201, body = IssuedCardView), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn create_card(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurerMember>,
    Path(id): Path<MemberId>,
    // Read as a `Result` so that who may issue a card to whom is settled before the body is.
    body: Result<ApiJson<NewCardRequest>, ApiError>,
) -> ApiResult<(StatusCode, Json<IssuedCardView>)> {
    service::may_see_member(&caller, &id)?;
    let issued = service::create(&state.db, &state.cards, &caller, &id, body?.value).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedCardView {
            card_id: issued.card.id,
            kind: issued.card.kind,
            secret: issued.secret,
            qr_payload: issued.qr_payload,
        }),
    ))
}

/// The parameters of a member's list of cards.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardsQuery {
    limit: Option<Limit>,
    cursor: Option<String>,
}

/// A member's cards, without secrets (admin, treasurer, the member).
#[utoipa::path(get, path = "/api/v1/members/{id}/cards", tag = "cards",
    params(("id" = String, Path),
           ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    security(("bearer" = [])),
    responses((status = 200, body = CardPage), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn list_cards(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<MemberId>,
    query: Result<Query<CardsQuery>, ApiError>,
) -> ApiResult<Json<CardPage>> {
    // Who may see the member's cards first: a bad query of someone else's cards is not found.
    service::may_see_member(&caller, &id)?;
    let Query(query) = query?;
    let page = Page::new(query.limit, query.cursor);
    let listed = service::list(&state.db, &caller, &id, page.limit, page.after.as_deref()).await?;
    Ok(Json(listed))
}

/// Revokes a card for good (admin, treasurer, the card's member).
#[utoipa::path(post, path = "/api/v1/cards/{card_id}/revoke", tag = "cards",
    params(("card_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MemberCard), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn revoke_card(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<CardId>,
) -> ApiResult<Json<MemberCard>> {
    Ok(Json(service::revoke(&state.db, &caller, &card_id).await?))
}

/// Unlocks a card locked by wrong PINs and resets the count (admin).
#[utoipa::path(post, path = "/api/v1/cards/{card_id}/unlock", tag = "cards",
    params(("card_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MemberCard), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn unlock_card(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(card_id): Path<CardId>,
) -> ApiResult<Json<MemberCard>> {
    Ok(Json(service::unlock(&state.db, &caller, &card_id).await?))
}

/// The QR code of what the card shows now (the card's member, admin): for an app card the code
/// of the current 30-second step, for a printed card its static payload. Not cached.
#[utoipa::path(get, path = "/api/v1/cards/{card_id}/qr.svg", tag = "cards",
    params(("card_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "image/svg+xml", body = String),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn card_qr(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<CardId>,
) -> ApiResult<Response> {
    let svg = match service::qr(&state.db, &state.cards, &caller, &card_id).await {
        Ok(svg) => svg,
        // 409, not the 422 of a decline: the card itself is in the wrong state.
        Err(e @ QrError::Revoked) => {
            return Err(ApiError::with_status(
                StatusCode::CONFLICT,
                ErrorCode::CardRevoked,
                e.to_string(),
            ))
        }
        Err(QrError::Other(e)) => return Err(e.into()),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}
