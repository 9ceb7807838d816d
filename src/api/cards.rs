//! Members' payment cards and their QR codes.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminOnly, AdminTreasurerMember, ApiJson, Authorized, Caller};
use super::page::QueryParams;
use super::AppState;
use crate::domain::card::CardKind;
use crate::domain::ErrorCode;
use crate::domain::{format_instant, now_micros, Role};
use crate::service::cards as service;
use crate::store::cards::{self as store, Card};
use crate::store::cursors::Listed;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCardBody {
    kind: CardKind,
    /// Printed cards only: 4 to 6 digits.
    #[serde(default)]
    pin: Option<String>,
}

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

/// A card, without its secret.
#[derive(Serialize, ToSchema)]
pub struct CardView {
    card_id: String,
    member_id: String,
    kind: CardKind,
    /// `active`, `locked` (too many wrong PINs) or `revoked`.
    #[schema(example = "active")]
    status: &'static str,
    /// Wrong PINs in a row (printed cards).
    wrong_pins: i64,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
}

fn view(c: Card) -> CardView {
    let status = if c.revoked_at.is_some() {
        "revoked"
    } else if c.locked_at.is_some() {
        "locked"
    } else {
        "active"
    };
    CardView {
        card_id: c.id,
        member_id: c.member_id,
        kind: c.kind,
        status,
        wrong_pins: c.wrong_pins,
        created_at: format_instant(c.created_at),
        locked_at: c.locked_at.map(format_instant),
        revoked_at: c.revoked_at.map(format_instant),
    }
}

/// Admins and treasurers see every member; a member only themself (others are 404).
fn check_member_access(caller: &Caller, member_id: &str) -> ApiResult<()> {
    match caller.role() {
        Role::Admin | Role::Treasurer => Ok(()),
        Role::Member if caller.member().map(|m| m.as_str()) == Some(member_id) => Ok(()),
        Role::Member => Err(ApiError::not_found("member")),
        _ => Err(ApiError::forbidden()),
    }
}

/// The card, if the caller may see it: `staff` roles see all, a member their own cards only.
async fn visible_card(
    state: &AppState,
    caller: &Caller,
    card_id: &str,
    staff: &[Role],
) -> ApiResult<Card> {
    if caller.role() != Role::Member && !staff.contains(&caller.role()) {
        return Err(ApiError::forbidden());
    }
    let card = store::find(&state.db, caller.fund(), card_id)
        .await?
        .ok_or_else(|| ApiError::not_found("card"))?;
    if caller.role() == Role::Member
        && caller.member().map(|m| m.as_str()) != Some(card.member_id.as_str())
    {
        return Err(ApiError::not_found("card"));
    }
    Ok(card)
}

/// Issues a card to an active member (admin, treasurer; a member may get an `app` card for
/// themself). An app card's secret is in the answer only.
#[utoipa::path(post, path = "/api/v1/members/{id}/cards", tag = "cards",
    params(("id" = String, Path)), request_body = NewCardBody, security(("bearer" = [])),
    responses((status = 201, body = IssuedCardView), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn create_card(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurerMember>,
    Path(id): Path<String>,
    // Read as a `Result` so that who may issue a card to whom is settled before the body is.
    body: Result<ApiJson<NewCardBody>, ApiError>,
) -> ApiResult<(StatusCode, Json<IssuedCardView>)> {
    check_member_access(&caller, &id)?;
    let b = body?.value;
    if caller.role() == Role::Member && b.kind != CardKind::App {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "a printed card is issued by the fund's staff",
        ));
    }
    let issued = service::issue(
        &state.db,
        &state.cards,
        caller.fund(),
        &id,
        b.kind,
        b.pin,
        caller.actor(),
    )
    .await?;
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

#[derive(Serialize, ToSchema)]
pub struct CardPage {
    items: Vec<CardView>,
    next_cursor: Option<String>,
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
    Path(id): Path<String>,
    mut query: QueryParams,
) -> ApiResult<Json<CardPage>> {
    check_member_access(&caller, &id)?;
    let page = query.page();
    query.finish()?;
    crate::store::members::find(&state.db, caller.fund(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    page.check_cursor(&state.db, caller.fund(), Listed::Cards { member_id: &id })
        .await?;
    let rows = store::list_for_member(
        &state.db,
        caller.fund(),
        &id,
        page.after.as_deref(),
        page.fetch(),
    )
    .await?;
    let (items, next_cursor) = page.split(rows, |c| c.id.as_str());
    Ok(Json(CardPage {
        items: items.into_iter().map(view).collect(),
        next_cursor,
    }))
}

/// Revokes a card for good (admin, treasurer, the card's member).
#[utoipa::path(post, path = "/api/v1/cards/{card_id}/revoke", tag = "cards",
    params(("card_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CardView), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn revoke_card(
    State(state): State<AppState>,
    caller: Caller,
    Path(card_id): Path<String>,
) -> ApiResult<Json<CardView>> {
    visible_card(&state, &caller, &card_id, &[Role::Admin, Role::Treasurer]).await?;
    let card = service::revoke(&state.db, caller.fund(), &card_id, caller.actor()).await?;
    Ok(Json(view(card)))
}

/// Unlocks a card locked by wrong PINs and resets the count (admin).
#[utoipa::path(post, path = "/api/v1/cards/{card_id}/unlock", tag = "cards",
    params(("card_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CardView), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn unlock_card(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(card_id): Path<String>,
) -> ApiResult<Json<CardView>> {
    let card = service::unlock(&state.db, caller.fund(), &card_id).await?;
    Ok(Json(view(card)))
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
    Path(card_id): Path<String>,
) -> ApiResult<Response> {
    let card = visible_card(&state, &caller, &card_id, &[Role::Admin]).await?;
    if card.revoked_at.is_some() {
        // 409, not the 422 of a decline: the card itself is in the wrong state.
        return Err(ApiError::with_status(
            StatusCode::CONFLICT,
            ErrorCode::CardRevoked,
            "the card was revoked",
        ));
    }
    let payload = service::current_payload(&state.cards, caller.fund(), &card, now_micros())?;
    let svg = qr_svg(&payload)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        svg,
    )
        .into_response())
}

/// A QR code as SVG: error correction M, the standard 4-module quiet zone, 8 px modules.
pub fn qr_svg(payload: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::with_error_correction_level(payload, qrcode::EcLevel::M)
        .map_err(ApiError::internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .quiet_zone(true)
        .module_dimensions(8, 8)
        .build())
}
