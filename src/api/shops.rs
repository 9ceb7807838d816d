//! Approved shops and producers: applications, the committee's votes, decisions, suspension,
//! the directory, and the shops' tills (terminals). Each handler reads its input, calls one
//! `service::shops` use case and answers its typed result; who sees which fields and which
//! status changes are allowed are `domain::shop`'s rules.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::error::{ApiResult, Problem};
use super::extract::{
    body_rejection, parse_json, AdminCommittee, AdminOnly, ApiJson, Authorized, Caller,
    CommitteeOnly, TerminalOnly,
};
use super::page::Page;
use super::query::{Limit, Query};
use super::AppState;
use crate::domain::shop::{ShopApplication, ShopStatus, StatusChange};
use crate::domain::{ShopId, TerminalId};
use crate::service::shops::{
    self as service, CurrentTerminal, DecisionRequest, NewTerminal, ShopDetailsChange, ShopFilter,
    ShopView, StatusNote, TerminalCreated, TerminalView, VoteList, VoteRecorded, VoteRequest,
};
use crate::store::cursors::Listed;

#[derive(Serialize, ToSchema)]
pub struct ShopList {
    items: Vec<ShopView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TerminalList {
    items: Vec<TerminalView>,
    next_cursor: Option<String>,
}

/// `status=`: one of the four statuses.
struct StatusParam(ShopStatus);

impl<'de> Deserialize<'de> for StatusParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ShopStatus::parse(&text).map(StatusParam).ok_or_else(|| {
            serde::de::Error::custom("must be pending, approved, rejected or suspended")
        })
    }
}

/// `on=`: a day, `YYYY-MM-DD`.
struct DayParam(NaiveDate);

impl<'de> Deserialize<'de> for DayParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(DayParam)
            .map_err(|_| serde::de::Error::custom("must be a date YYYY-MM-DD"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopQuery {
    status: Option<StatusParam>,
    category: Option<String>,
    limit: Option<Limit>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    on: Option<DayParam>,
    limit: Option<Limit>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<Limit>,
    cursor: Option<String>,
}

fn shop_list(page: &Page, rows: Vec<ShopView>) -> Json<ShopList> {
    let (items, next_cursor) = page.split(rows, |s| s.id.as_str());
    Json(ShopList { items, next_cursor })
}

/// Records a shop's or producer's application (admin, committee): `status` is `pending`.
/// SIRET (Luhn), IBAN (country structure and mod-97), BIC, categories and criteria are checked;
/// each mistake is a 422 naming its field.
#[utoipa::path(post, path = "/api/v1/shops", tag = "shops", request_body = ShopApplication,
    security(("bearer" = [])),
    responses((status = 201, body = ShopView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn create_shop(
    State(state): State<AppState>,
    caller: Authorized<AdminCommittee>,
    body: ApiJson<ShopApplication>,
) -> ApiResult<(StatusCode, Json<ShopView>)> {
    let view = service::apply(&state.db, &caller, &body.value).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The shops (any signed-in user): members see the approved shops' name, address and
/// categories; a till sees its own shop; only admins and treasurers see IBANs.
/// Filters: `status`, `category`; paging: `limit` (1–200, default 50), `cursor`.
#[utoipa::path(get, path = "/api/v1/shops", tag = "shops", security(("bearer" = [])),
    params(("status" = Option<ShopStatus>, Query, description = "only shops in this status"),
           ("category" = Option<String>, Query, description = "only shops of this category"),
           ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = ShopList), (status = 401, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn list_shops(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ShopQuery>,
) -> ApiResult<Json<ShopList>> {
    let page = Page::new(q.limit, q.cursor);
    page.check_cursor(&state.db, caller.fund(), Listed::Shops)
        .await?;
    let filter = ShopFilter {
        status: q.status.map(|s| s.0),
        category: q.category,
    };
    let rows = service::list(
        &state.db,
        &caller,
        filter,
        page.after.as_deref(),
        page.fetch(),
    )
    .await?;
    Ok(shop_list(&page, rows))
}

/// Approved and suspended shops whose review date is on or before `on` (default: today)
/// (admin, committee).
#[utoipa::path(get, path = "/api/v1/shops/review-due", tag = "shops", security(("bearer" = [])),
    params(("on" = Option<String>, Query, description = "YYYY-MM-DD, default today"),
           ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = ShopList), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn review_due(
    State(state): State<AppState>,
    caller: Authorized<AdminCommittee>,
    Query(q): Query<ReviewQuery>,
) -> ApiResult<Json<ShopList>> {
    let page = Page::new(q.limit, q.cursor);
    page.check_cursor(&state.db, caller.fund(), Listed::Shops)
        .await?;
    let on = q.on.map_or_else(crate::domain::today, |d| d.0);
    let rows =
        service::review_due(&state.db, &caller, on, page.after.as_deref(), page.fetch()).await?;
    Ok(shop_list(&page, rows))
}

/// One shop: public fields for members (approved shops only) and tills (their own shop);
/// criteria answers, history and tally for the committee; IBAN for admins and treasurers.
#[utoipa::path(get, path = "/api/v1/shops/{id}", tag = "shops", security(("bearer" = [])),
    params(("id" = String, Path, description = "the shop's id")),
    responses((status = 200, body = ShopView), (status = 401, body = Problem),
              (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn get_shop(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ShopId>,
) -> ApiResult<Json<ShopView>> {
    Ok(Json(service::get(&state.db, &caller, &id).await?))
}

/// Changes a shop's details (admin): name, legal name, SIRET, IBAN, BIC, address, categories,
/// checked as an application is (422 naming each field at fault). Its status, votes and
/// criteria answers stay. A new IBAN applies to the next settlements only: a settlement keeps
/// the account it was made for, in its SEPA file too.
#[utoipa::path(patch, path = "/api/v1/shops/{id}", tag = "shops", request_body = ShopDetailsChange,
    params(("id" = String, Path, description = "the shop's id")),
    security(("bearer" = [])),
    responses((status = 200, body = ShopView), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn update_shop(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<ShopId>,
    body: ApiJson<ShopDetailsChange>,
) -> ApiResult<Json<ShopView>> {
    let view = service::update_details(&state.db, &caller, &id, body.value).await?;
    Ok(Json(view))
}

/// Votes on a shop (committee): for, against or abstain, with an optional comment. One vote
/// per committee member: a new vote replaces the old one (201 the first time, 200 after).
/// Open while the shop is pending, approved or suspended (a review), not once rejected.
#[utoipa::path(post, path = "/api/v1/shops/{id}/votes", tag = "shops", request_body = VoteRequest,
    params(("id" = String, Path, description = "the shop's id")), security(("bearer" = [])),
    responses((status = 201, body = VoteRecorded), (status = 200, body = VoteRecorded),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem),
              (status = 409, description = "wrong_status: the shop was rejected", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn vote(
    State(state): State<AppState>,
    caller: Authorized<CommitteeOnly>,
    Path(id): Path<ShopId>,
    body: ApiJson<VoteRequest>,
) -> ApiResult<(StatusCode, Json<VoteRecorded>)> {
    let recorded = service::vote(&state.db, &caller, &id, body.value).await?;
    let status = if recorded.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(recorded)))
}

/// The tally of a shop's votes (admin, committee), with each voter's choice for an admin and
/// the caller's own vote for a committee member.
#[utoipa::path(get, path = "/api/v1/shops/{id}/votes", tag = "shops",
    params(("id" = String, Path, description = "the shop's id")), security(("bearer" = [])),
    responses((status = 200, body = VoteList), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn list_votes(
    State(state): State<AppState>,
    caller: Authorized<AdminCommittee>,
    Path(id): Path<ShopId>,
) -> ApiResult<Json<VoteList>> {
    Ok(Json(service::votes(&state.db, &caller, &id).await?))
}

/// Decides on an application, or again at a review (admin): approved or rejected, with a note
/// and a review date. The decision keeps the tally of the votes at that moment; an approval
/// opens the shop's payable account (401). Answers the shop with its status and tally.
#[utoipa::path(post, path = "/api/v1/shops/{id}/decision", tag = "shops",
    request_body = DecisionRequest,
    params(("id" = String, Path, description = "the shop's id")), security(("bearer" = [])),
    responses((status = 200, body = ShopView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "wrong_status: the shop was rejected", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn decide(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<ShopId>,
    body: ApiJson<DecisionRequest>,
) -> ApiResult<Json<ShopView>> {
    Ok(Json(
        service::decide(&state.db, &caller, &id, body.value).await?,
    ))
}

/// An optional JSON body: none at all, or a strict one.
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<T> {
    let bytes = body.map_err(body_rejection)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    Ok(parse_json(&bytes)?.value)
}

/// Suspends an approved shop (admin), at once: its tills' payments are declined from now on.
/// The body is optional.
#[utoipa::path(post, path = "/api/v1/shops/{id}/suspend", tag = "shops",
    request_body(content = Option<StatusNote>, description = "optional"),
    params(("id" = String, Path, description = "the shop's id")), security(("bearer" = [])),
    responses((status = 200, body = ShopView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "wrong_status: the shop is not approved", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn suspend(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<ShopId>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ShopView>> {
    let note = optional_body(body)?;
    let view = service::change_status(&state.db, &caller, &id, StatusChange::Suspended, note);
    Ok(Json(view.await?))
}

/// Reinstates a suspended shop (admin), at once. The body is optional.
#[utoipa::path(post, path = "/api/v1/shops/{id}/reinstate", tag = "shops",
    request_body(content = Option<StatusNote>, description = "optional"),
    params(("id" = String, Path, description = "the shop's id")), security(("bearer" = [])),
    responses((status = 200, body = ShopView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "wrong_status: the shop is not suspended", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn reinstate(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<ShopId>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ShopView>> {
    let note = optional_body(body)?;
    let view = service::change_status(&state.db, &caller, &id, StatusChange::Reinstated, note);
    Ok(Json(view.await?))
}

/// Gives a shop a till (admin): answers its API key, once. The key authenticates as role
/// `terminal` for this shop only. Not for a rejected shop.
#[utoipa::path(post, path = "/api/v1/shops/{id}/terminals", tag = "shops",
    request_body = NewTerminal,
    params(("id" = String, Path, description = "the shop's id")), security(("bearer" = [])),
    responses((status = 201, body = TerminalCreated), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "wrong_status: the shop was rejected", body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn create_terminal(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<ShopId>,
    body: ApiJson<NewTerminal>,
) -> ApiResult<(StatusCode, Json<TerminalCreated>)> {
    let created = service::create_terminal(&state.db, &caller, &id, body.value).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A shop's tills (admin): label, creation, last use, revocation; never the key.
#[utoipa::path(get, path = "/api/v1/shops/{id}/terminals", tag = "shops",
    params(("id" = String, Path, description = "the shop's id"),
           ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    security(("bearer" = [])),
    responses((status = 200, body = TerminalList), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn list_terminals(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path(id): Path<ShopId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<TerminalList>> {
    let page = Page::new(q.limit, q.cursor);
    let rows = service::terminals(&state.db, &caller, &id, page.after.as_deref(), page.fetch());
    let rows = rows.await?;
    page.check_cursor(&state.db, caller.fund(), Listed::Terminals { shop_id: &id })
        .await?;
    let (items, next_cursor) = page.split(rows, |t| t.id.as_str());
    Ok(Json(TerminalList { items, next_cursor }))
}

/// Revokes a till's key at once (admin): the key answers 401 from now on. Revoking again
/// changes nothing.
#[utoipa::path(post, path = "/api/v1/shops/{id}/terminals/{terminal_id}/revoke", tag = "shops",
    params(("id" = String, Path, description = "the shop's id"),
           ("terminal_id" = String, Path, description = "the terminal's id")),
    security(("bearer" = [])),
    responses((status = 200, body = TerminalView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn revoke_terminal(
    State(state): State<AppState>,
    caller: Authorized<AdminOnly>,
    Path((id, terminal_id)): Path<(ShopId, TerminalId)>,
) -> ApiResult<Json<TerminalView>> {
    let revoked = service::revoke_terminal(&state.db, &caller, &id, &terminal_id).await?;
    Ok(Json(revoked))
}

/// The calling till (terminal): its label and its shop, and whether the shop takes payments now.
#[utoipa::path(get, path = "/api/v1/terminals/current", tag = "shops", security(("bearer" = [])),
    responses((status = 200, body = CurrentTerminal), (status = 401, body = Problem),
              (status = 403, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn current_terminal(
    State(state): State<AppState>,
    caller: Authorized<TerminalOnly>,
) -> ApiResult<Json<CurrentTerminal>> {
    Ok(Json(service::current_terminal(&state.db, &caller).await?))
}
