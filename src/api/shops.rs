//! Approved shops and producers: applications, the committee's votes, decisions, suspension,
//! the directory, and the shops' tills (terminals).
//!
//! Who sees what: admins and treasurers see IBANs, nobody else; admins and committee members see
//! the vote tally; each voter's choice is seen by admins and by the voter. Members see approved
//! shops only, with public fields; a till sees its own shop only. Another fund's shop is 404.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{
    body_rejection, parse_json, AdminCommittee, AdminOnly, ApiJson, Authorized, Caller,
    CommitteeOnly, TerminalOnly,
};
use super::page::QueryParams;
use super::AppState;
use crate::domain::shop::{
    validate_note, validate_review_on, Decision, ShopApplication, ShopStatus, StatusChange, Tally,
    VoteChoice,
};
use crate::domain::ErrorCode;
use crate::domain::{format_instant, FieldError, Role};
use crate::service;
use crate::store::cursors::Listed;
use crate::store::shops::{self, ListFilter, Shop, ShopError, StatusRecord};
use crate::store::{funds, terminals};

impl From<ShopError> for ApiError {
    fn from(e: ShopError) -> Self {
        match e {
            ShopError::NotFound => ApiError::not_found("shop"),
            e @ ShopError::WrongStatus { .. } => {
                ApiError::new(ErrorCode::WrongStatus, e.to_string())
            }
            ShopError::Store(s) => s.into(),
        }
    }
}

/// What a role may see of a shop.
#[derive(Clone, Copy)]
struct Sight {
    /// Bank details: admin and treasurer.
    iban: bool,
    /// Legal name, SIRET, BIC, dates, criteria answers, history: everyone but members and tills.
    details: bool,
    /// The tally of the votes: admin and committee.
    tally: bool,
}

impl Sight {
    fn of(role: Role) -> Sight {
        match role {
            Role::Admin => Sight {
                iban: true,
                details: true,
                tally: true,
            },
            Role::Treasurer => Sight {
                iban: true,
                details: true,
                tally: false,
            },
            Role::Committee => Sight {
                iban: false,
                details: true,
                tally: true,
            },
            Role::Member | Role::Terminal => Sight {
                iban: false,
                details: false,
                tally: false,
            },
        }
    }
}

/// Whether the caller may see this shop at all (if not: 404, as if it did not exist).
fn visible(caller: &Caller, shop: &Shop) -> bool {
    match caller.role() {
        Role::Member => shop.status == ShopStatus::Approved,
        Role::Terminal => caller.shop().map(|s| s.as_str()) == Some(shop.id.as_str()),
        Role::Admin | Role::Treasurer | Role::Committee => true,
    }
}

/// A shop as the caller may see it: fields the caller may not see are absent.
#[derive(Serialize, ToSchema)]
pub struct ShopView {
    id: String,
    name: String,
    #[schema(example = "12 rue Saint-Maurice, 69008 Lyon")]
    address: String,
    categories: Vec<String>,
    status: ShopStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    legal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    siret: Option<String>,
    /// Admins and treasurers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    iban: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bic: Option<String>,
    /// `YYYY-MM-DD` of the next review.
    #[serde(skip_serializing_if = "Option::is_none")]
    review_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    /// Each of the fund's criteria with the shop's answer (`null`: not answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    criteria: Option<Vec<CriterionAnswer>>,
    /// The committee's votes as they stand (admins and committee members).
    #[serde(skip_serializing_if = "Option::is_none")]
    tally: Option<Tally>,
    /// The latest decision (approved or rejected), with the tally it was taken on.
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<StatusRecordView>,
    /// Every decision, suspension and reinstatement, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<StatusRecordView>>,
}

#[derive(Serialize, ToSchema)]
pub struct CriterionAnswer {
    #[schema(example = "locality")]
    id: String,
    #[schema(example = "Production ou approvisionnement local")]
    label: String,
    answer: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StatusRecordView {
    kind: StatusChange,
    note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    review_on: Option<String>,
    /// The votes when the decision was taken (decisions only; admins and committee members).
    #[serde(skip_serializing_if = "Option::is_none")]
    tally: Option<Tally>,
    /// The admin's user id.
    decided_by: String,
    decided_at: String,
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn record_view(r: StatusRecord, sight: Sight) -> StatusRecordView {
    StatusRecordView {
        kind: r.kind,
        note: r.note,
        review_on: r.review_on.map(day),
        tally: r.tally.filter(|_| sight.tally),
        decided_by: r.decided_by,
        decided_at: format_instant(r.decided_at),
    }
}

/// The fields a list shows.
fn summary(shop: Shop, sight: Sight) -> ShopView {
    let d = sight.details;
    ShopView {
        legal_name: Some(shop.legal_name).filter(|_| d),
        siret: shop.siret.filter(|_| d),
        iban: Some(shop.iban).filter(|_| sight.iban),
        bic: shop.bic.filter(|_| d),
        review_on: shop.review_on.map(day).filter(|_| d),
        created_at: Some(format_instant(shop.created_at)).filter(|_| d),
        id: shop.id,
        name: shop.name,
        address: shop.address,
        categories: shop.categories,
        status: shop.status,
        criteria: None,
        tally: None,
        decision: None,
        history: None,
    }
}

/// Everything about one shop the caller may see.
async fn detail(state: &AppState, caller: &Caller, shop: Shop) -> ApiResult<ShopView> {
    let sight = Sight::of(caller.role());
    let fund = caller.fund();
    let id = shop.id.clone();
    let mut view = summary(shop, sight);
    if sight.details {
        let settings = funds::settings(&state.db, fund).await?;
        let mut answers = shops::criteria(&state.db, fund, &id).await?;
        let mut criteria: Vec<CriterionAnswer> = settings
            .criteria
            .iter()
            .map(|c| CriterionAnswer {
                id: c.id.clone(),
                label: c.label.clone(),
                answer: answers.remove(&c.id),
            })
            .collect();
        // Answers to criteria the fund has since dropped stay visible, under their id.
        criteria.extend(answers.into_iter().map(|(id, answer)| CriterionAnswer {
            label: id.clone(),
            id,
            answer: Some(answer),
        }));
        view.criteria = Some(criteria);
        let history = shops::history(&state.db, fund, &id).await?;
        view.decision = history
            .iter()
            .rev()
            .find(|r| matches!(r.kind, StatusChange::Approved | StatusChange::Rejected))
            .cloned()
            .map(|r| record_view(r, sight));
        view.history = Some(history.into_iter().map(|r| record_view(r, sight)).collect());
    }
    if sight.tally {
        view.tally = Some(shops::current_tally(&state.db, fund, &id).await?);
    }
    Ok(view)
}

/// A shop of the caller's fund that the caller may see, or 404.
async fn find(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Shop> {
    shops::get(&state.db, caller.fund(), id)
        .await?
        .filter(|s| visible(caller, s))
        .ok_or_else(|| ApiError::not_found("shop"))
}

#[derive(Serialize, ToSchema)]
pub struct ShopList {
    items: Vec<ShopView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
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
    let shop = service::shops::apply(&state.db, caller.fund(), &body.value, caller.actor()).await?;
    let view = detail(&state, &caller, shop).await?;
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
    mut query: QueryParams,
) -> ApiResult<Json<ShopList>> {
    let page = query.page();
    let status = query.take("status");
    let status = status.as_deref().and_then(|s| {
        let parsed = ShopStatus::parse(s);
        if parsed.is_none() {
            query.error("status", "must be pending, approved, rejected or suspended");
        }
        parsed
    });
    let category = query.take("category");
    if let Some(c) = &category {
        let settings = funds::settings(&state.db, caller.fund()).await?;
        if !settings.categories.iter().any(|k| k == c) {
            query.error("category", "not one of the fund's categories");
        }
    }
    query.finish()?;
    page.check_cursor(&state.db, caller.fund(), Listed::Shops)
        .await?;
    let mut filter = ListFilter {
        statuses: status.into_iter().collect(),
        category,
        after: page.after.clone(),
        limit: page.fetch(),
        ..ListFilter::default()
    };
    match caller.role() {
        Role::Member => {
            if filter.statuses.iter().any(|s| *s != ShopStatus::Approved) {
                return Ok(Json(ShopList {
                    items: Vec::new(),
                    next_cursor: None,
                }));
            }
            filter.statuses = vec![ShopStatus::Approved];
        }
        // A till lists its own shop (an empty id, matching nothing, if it somehow has none).
        Role::Terminal => {
            filter.only = Some(caller.shop().map(|s| s.to_string()).unwrap_or_default())
        }
        Role::Admin | Role::Treasurer | Role::Committee => {}
    }
    let rows = shops::list(&state.db, caller.fund(), &filter).await?;
    let (rows, next_cursor) = page.split(rows, |s| &s.id);
    let sight = Sight::of(caller.role());
    Ok(Json(ShopList {
        items: rows.into_iter().map(|s| summary(s, sight)).collect(),
        next_cursor,
    }))
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
    mut query: QueryParams,
) -> ApiResult<Json<ShopList>> {
    let page = query.page();
    let today = crate::domain::today();
    let on = match query.take("on") {
        None => today,
        Some(d) => NaiveDate::parse_from_str(&d, "%Y-%m-%d").unwrap_or_else(|_| {
            query.error("on", "must be a date YYYY-MM-DD");
            today
        }),
    };
    query.finish()?;
    page.check_cursor(&state.db, caller.fund(), Listed::Shops)
        .await?;
    let filter = ListFilter {
        statuses: vec![ShopStatus::Approved, ShopStatus::Suspended],
        review_due_on: Some(on),
        after: page.after.clone(),
        limit: page.fetch(),
        ..ListFilter::default()
    };
    let rows = shops::list(&state.db, caller.fund(), &filter).await?;
    let (rows, next_cursor) = page.split(rows, |s| &s.id);
    let sight = Sight::of(caller.role());
    Ok(Json(ShopList {
        items: rows.into_iter().map(|s| summary(s, sight)).collect(),
        next_cursor,
    }))
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
    Path(id): Path<String>,
) -> ApiResult<Json<ShopView>> {
    let shop = find(&state, &caller, &id).await?;
    Ok(Json(detail(&state, &caller, shop).await?))
}

/// The details to change; each field given replaces the current one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopDetailsChange {
    name: Option<String>,
    legal_name: Option<String>,
    siret: Option<String>,
    /// The account the next settlements pay; settlements made before keep theirs.
    iban: Option<String>,
    bic: Option<String>,
    address: Option<String>,
    categories: Option<Vec<String>>,
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
    Path(id): Path<String>,
    body: ApiJson<ShopDetailsChange>,
) -> ApiResult<Json<ShopView>> {
    let b = body.value;
    let change = service::shops::DetailsChange {
        name: b.name,
        legal_name: b.legal_name,
        siret: b.siret,
        iban: b.iban,
        bic: b.bic,
        address: b.address,
        categories: b.categories,
    };
    let shop = service::shops::update_details(&state.db, caller.fund(), &id, change).await?;
    Ok(Json(detail(&state, &caller, shop).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    choice: VoteChoice,
    /// At most 1000 characters.
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VoteView {
    /// The committee member's user id.
    voter_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    voter_email: Option<String>,
    choice: VoteChoice,
    comment: Option<String>,
    voted_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct VoteRecorded {
    shop_id: String,
    vote: VoteView,
    /// The voter had voted before: this vote replaced it.
    replaced: bool,
    tally: Tally,
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
    Path(id): Path<String>,
    body: ApiJson<VoteRequest>,
) -> ApiResult<(StatusCode, Json<VoteRecorded>)> {
    let req = body.value;
    let comment = validate_note("comment", req.comment.as_deref(), 1000).map_err(invalid_one)?;
    let outcome = service::shops::vote(
        &state.db,
        caller.fund(),
        &id,
        caller.actor(),
        req.choice,
        comment.as_deref(),
    )
    .await?;
    let tally = shops::current_tally(&state.db, caller.fund(), &id).await?;
    let status = if outcome.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(VoteRecorded {
            shop_id: id,
            vote: VoteView {
                voter_id: caller.actor().to_string(),
                voter_email: None,
                choice: req.choice,
                comment,
                voted_at: format_instant(outcome.voted_at),
            },
            replaced: outcome.replaced,
            tally,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct VoteList {
    shop_id: String,
    status: ShopStatus,
    tally: Tally,
    /// Every vote for an admin; a committee member's own vote only.
    votes: Vec<VoteView>,
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
    Path(id): Path<String>,
) -> ApiResult<Json<VoteList>> {
    let shop = find(&state, &caller, &id).await?;
    let admin = caller.role() == Role::Admin;
    let voter = (!admin).then_some(caller.actor());
    let votes = shops::votes(&state.db, caller.fund(), &id, voter).await?;
    let tally = shops::current_tally(&state.db, caller.fund(), &id).await?;
    Ok(Json(VoteList {
        shop_id: shop.id,
        status: shop.status,
        tally,
        votes: votes
            .into_iter()
            .map(|v| VoteView {
                voter_id: v.voter_id,
                voter_email: Some(v.voter_email),
                choice: v.choice,
                comment: v.comment,
                voted_at: format_instant(v.voted_at),
            })
            .collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    decision: Decision,
    /// Next review of an approval, `YYYY-MM-DD`, after today. Not for a rejection.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2027-11-01")]
    review_on: Option<NaiveDate>,
    /// At most 2000 characters.
    #[serde(default)]
    note: Option<String>,
}

fn invalid_one(e: FieldError) -> ApiError {
    ApiError::invalid(vec![e])
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
    Path(id): Path<String>,
    body: ApiJson<DecisionRequest>,
) -> ApiResult<Json<ShopView>> {
    let req = body.value;
    let mut errors = Vec::new();
    let note = validate_note("note", req.note.as_deref(), 2000).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if let Some(r) = req.review_on {
        if req.decision == Decision::Rejected {
            errors.push(FieldError::new(
                "review_on",
                "only an approval has a review date",
            ));
        } else if let Err(e) = validate_review_on(r, crate::domain::today()) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    service::shops::decide(
        &state.db,
        caller.fund(),
        &id,
        req.decision,
        note.as_deref(),
        req.review_on,
        caller.actor(),
    )
    .await?;
    let shop = find(&state, &caller, &id).await?;
    Ok(Json(detail(&state, &caller, shop).await?))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StatusNote {
    /// Why (at most 2000 characters).
    #[serde(default)]
    note: Option<String>,
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

async fn change_status(
    state: AppState,
    caller: &Caller,
    id: &str,
    change: StatusChange,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ShopView>> {
    let req: StatusNote = optional_body(body)?;
    let note = validate_note("note", req.note.as_deref(), 2000).map_err(invalid_one)?;
    service::shops::change_status(
        &state.db,
        caller.fund(),
        id,
        change,
        note.as_deref(),
        caller.actor(),
    )
    .await?;
    let shop = find(&state, caller, id).await?;
    Ok(Json(detail(&state, caller, shop).await?))
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
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ShopView>> {
    change_status(state, &caller, &id, StatusChange::Suspended, body).await
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
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ShopView>> {
    change_status(state, &caller, &id, StatusChange::Reinstated, body).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTerminal {
    /// Which till, e.g. "Caisse 1" or "Marché du jeudi" (1 to 80 characters).
    #[schema(example = "Caisse 1")]
    label: String,
}

#[derive(Serialize, ToSchema)]
pub struct TerminalCreated {
    id: String,
    shop_id: String,
    label: String,
    /// The till's bearer token (`ct_` and 64 hex digits). Shown this once: only its hash is kept.
    #[schema(example = "ct_9f2c…")]
    api_key: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct TerminalView {
    id: String,
    shop_id: String,
    label: String,
    created_at: String,
    /// To the minute.
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

impl From<terminals::Terminal> for TerminalView {
    fn from(t: terminals::Terminal) -> Self {
        TerminalView {
            id: t.id,
            shop_id: t.shop_id,
            label: t.label,
            created_at: format_instant(t.created_at),
            last_used_at: t.last_used_at.map(format_instant),
            revoked_at: t.revoked_at.map(format_instant),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TerminalList {
    items: Vec<TerminalView>,
    next_cursor: Option<String>,
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
    Path(id): Path<String>,
    body: ApiJson<NewTerminal>,
) -> ApiResult<(StatusCode, Json<TerminalCreated>)> {
    let label = body.value.label.trim().to_string();
    let n = label.chars().count();
    if n == 0 || n > 80 {
        return Err(invalid_one(FieldError::new(
            "label",
            "must be 1 to 80 characters",
        )));
    }
    let (t, api_key) =
        service::shops::create_terminal(&state.db, caller.fund(), &id, &label, caller.actor())
            .await?;
    Ok((
        StatusCode::CREATED,
        Json(TerminalCreated {
            id: t.id,
            shop_id: t.shop_id,
            label: t.label,
            api_key,
            created_at: format_instant(t.created_at),
        }),
    ))
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
    Path(id): Path<String>,
    mut query: QueryParams,
) -> ApiResult<Json<TerminalList>> {
    let page = query.page();
    query.finish()?;
    let shop = find(&state, &caller, &id).await?;
    page.check_cursor(&state.db, caller.fund(), Listed::Terminals { shop_id: &id })
        .await?;
    let rows = terminals::list(
        &state.db,
        caller.fund(),
        &shop.id,
        page.after.as_deref(),
        page.fetch(),
    )
    .await?;
    let (rows, next_cursor) = page.split(rows, |t| &t.id);
    Ok(Json(TerminalList {
        items: rows.into_iter().map(TerminalView::from).collect(),
        next_cursor,
    }))
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
    Path((id, terminal_id)): Path<(String, String)>,
) -> ApiResult<Json<TerminalView>> {
    let t = service::shops::revoke_terminal(
        &state.db,
        caller.fund(),
        &id,
        &terminal_id,
        caller.actor(),
    )
    .await?;
    Ok(Json(t.into()))
}

#[derive(Serialize, ToSchema)]
pub struct CurrentTerminal {
    id: String,
    label: String,
    shop: ShopView,
    /// Whether the shop is approved (not pending, suspended or rejected): a till can show it.
    accepting_payments: bool,
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
    let t = terminals::get(&state.db, caller.fund(), caller.actor())
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the terminal is unknown"))?;
    let shop = find(&state, &caller, &t.shop_id).await?;
    let accepting_payments = shop.status.accepts_payments();
    Ok(Json(CurrentTerminal {
        id: t.id,
        label: t.label,
        shop: summary(shop, Sight::of(Role::Terminal)),
        accepting_payments,
    }))
}
