use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized, Caller};
use super::page::QueryParams;
use super::AppState;
use crate::domain::member::{MemberStatus, Period};
use crate::domain::settings::FundSettings;
use crate::domain::{format_instant, Cents, Role};
use crate::service::members::{self as service, MemberInput, StatusChange};
use crate::store::cursors::Listed;
use crate::store::members::{self, Member};
use crate::store::{contributions, funds, ledger};

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct HouseholdBody {
    /// People of 14 and over, at least 1.
    pub adults: i64,
    /// Children under 14.
    #[serde(default)]
    pub children: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMemberBody {
    full_name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    household: HouseholdBody,
    /// Monthly resources of the household, in euros.
    #[serde(default)]
    monthly_income: Option<Cents>,
    /// For a `free` scale: the amount the member chooses (at least the minimum).
    #[serde(default)]
    chosen_contribution: Option<Cents>,
}

/// `null` clears a field; an absent field is left as it is.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    #[serde(default)]
    household: Option<HouseholdBody>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Cents>)]
    monthly_income: Option<Option<Cents>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Cents>)]
    chosen_contribution: Option<Option<Cents>>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    id: String,
    /// Member number, also their pseudonymous code in the accounts (M000042).
    number: i64,
    account_ref: String,
    /// ISO 11649 reference to quote on bank transfers.
    #[schema(example = "RF47M000042")]
    payment_reference: String,
    status: MemberStatus,
    full_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    household: HouseholdBody,
    /// INSEE / modified-OECD consumption units.
    #[schema(example = "1.8")]
    consumption_units: String,
    monthly_income: Option<Cents>,
    chosen_contribution: Option<Cents>,
    /// Monthly contribution under the fund's current scale (applies from the next call).
    contribution: Cents,
    /// Monthly allowance under the fund's current settings.
    monthly_allowance: Cents,
    joined_on: String,
    left_on: Option<String>,
}

pub fn view(m: Member, settings: &FundSettings) -> MemberView {
    let (contribution, monthly_allowance) = service::figures(&m, settings);
    MemberView {
        consumption_units: m.household.consumption_units().normalize().to_string(),
        household: HouseholdBody {
            adults: i64::from(m.household.adults()),
            children: i64::from(m.household.children()),
        },
        id: m.id,
        number: m.number,
        account_ref: m.account_ref,
        payment_reference: m.payment_reference,
        status: m.status,
        full_name: m.full_name,
        email: m.email,
        phone: m.phone,
        monthly_income: m.monthly_income,
        chosen_contribution: m.chosen_contribution,
        contribution,
        monthly_allowance,
        joined_on: m.joined_on,
        left_on: m.left_on,
    }
}

/// Admin and treasurer see every member; a member sees only themself (anyone else is 404, as
/// if it did not exist); other roles are refused.
async fn visible_member(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Member> {
    match caller.role() {
        Role::Admin | Role::Treasurer => {}
        Role::Member if caller.member().map(|m| m.as_str()) == Some(id) => {}
        Role::Member => return Err(ApiError::not_found("member")),
        _ => return Err(ApiError::forbidden()),
    }
    members::find(&state.db, caller.fund(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))
}

/// Registers a member with their household (admin, treasurer).
#[utoipa::path(post, path = "/api/v1/members", tag = "members", request_body = NewMemberBody,
    security(("bearer" = [])),
    responses((status = 201, body = MemberView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn create_member(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    body: ApiJson<NewMemberBody>,
) -> ApiResult<(StatusCode, Json<MemberView>)> {
    let b = body.value;
    let input = MemberInput {
        full_name: Some(b.full_name),
        email: Some(b.email),
        phone: Some(b.phone),
        adults: Some(b.household.adults),
        children: Some(b.household.children),
        monthly_income: Some(b.monthly_income),
        chosen_contribution: Some(b.chosen_contribution),
    };
    let m = service::create(&state.db, caller.fund(), &input).await?;
    let settings = funds::settings(&state.db, caller.fund()).await?;
    Ok((StatusCode::CREATED, Json(view(m, &settings))))
}

#[derive(Serialize, ToSchema)]
pub struct MemberPage {
    items: Vec<MemberView>,
    next_cursor: Option<String>,
}

/// Lists members by number of joining (admin, treasurer).
#[utoipa::path(get, path = "/api/v1/members", tag = "members",
    params(("status" = Option<String>, Query, description = "active, suspended or left"),
           ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    security(("bearer" = [])),
    responses((status = 200, body = MemberPage), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn list_members(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    mut query: QueryParams,
) -> ApiResult<Json<MemberPage>> {
    let page = query.page();
    let status = query.take("status").and_then(|s| {
        let parsed = s.parse::<MemberStatus>().ok();
        if parsed.is_none() {
            query.error("status", "must be active, suspended or left");
        }
        parsed
    });
    query.finish()?;
    page.check_cursor(&state.db, caller.fund(), Listed::Members)
        .await?;
    let settings = funds::settings(&state.db, caller.fund()).await?;
    let rows = members::list(
        &state.db,
        caller.fund(),
        status,
        page.after.as_deref(),
        page.fetch(),
    )
    .await?;
    let (items, next_cursor) = page.split(rows, |m| m.id.as_str());
    Ok(Json(MemberPage {
        items: items.into_iter().map(|m| view(m, &settings)).collect(),
        next_cursor,
    }))
}

/// A member's record (admin, treasurer, or the member).
#[utoipa::path(get, path = "/api/v1/members/{id}", tag = "members",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn get_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberView>> {
    let m = visible_member(&state, &caller, &id).await?;
    let settings = funds::settings(&state.db, caller.fund()).await?;
    Ok(Json(view(m, &settings)))
}

/// Changes a member's household, income, chosen contribution or contact details (admin,
/// treasurer). A new contribution applies from the next call.
#[utoipa::path(patch, path = "/api/v1/members/{id}", tag = "members",
    params(("id" = String, Path)), request_body = MemberPatch, security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn patch_member(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Path(id): Path<String>,
    body: ApiJson<MemberPatch>,
) -> ApiResult<Json<MemberView>> {
    let p = body.value;
    let input = MemberInput {
        full_name: p.full_name,
        email: p.email,
        phone: p.phone,
        adults: p.household.map(|h| h.adults),
        children: p.household.map(|h| h.children),
        monthly_income: p.monthly_income,
        chosen_contribution: p.chosen_contribution,
    };
    let m = service::update(&state.db, caller.fund(), &id, &input).await?;
    let settings = funds::settings(&state.db, caller.fund()).await?;
    Ok(Json(view(m, &settings)))
}

async fn status_change(
    state: &AppState,
    caller: &Caller,
    id: &str,
    change: StatusChange,
) -> ApiResult<Json<MemberView>> {
    let m = service::change_status(&state.db, caller.fund(), id, change).await?;
    let settings = funds::settings(&state.db, caller.fund()).await?;
    Ok(Json(view(m, &settings)))
}

/// Suspends a member: no allowance, no payment at the till (admin, treasurer).
#[utoipa::path(post, path = "/api/v1/members/{id}/suspend", tag = "members",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn suspend_member(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberView>> {
    status_change(&state, &caller, &id, StatusChange::Suspend).await
}

/// Reactivates a suspended member (admin, treasurer).
#[utoipa::path(post, path = "/api/v1/members/{id}/reactivate", tag = "members",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn reactivate_member(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberView>> {
    status_change(&state, &caller, &id, StatusChange::Reactivate).await
}

/// Records that a member leaves: name, email, phone and income are erased, logins deleted,
/// any allowance left goes back to the common pot; the ledger keeps the member number.
#[utoipa::path(post, path = "/api/v1/members/{id}/leave", tag = "members",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MemberView), (status = 404, body = Problem),
              (status = 409, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn leave_member(
    State(state): State<AppState>,
    caller: Authorized<AdminTreasurer>,
    Path(id): Path<String>,
) -> ApiResult<Json<MemberView>> {
    status_change(&state, &caller, &id, StatusChange::Leave).await
}

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    /// Allowance left to spend.
    balance: Cents,
    /// Dues called and not paid, this period included.
    contributions_due: Cents,
    /// Dues of past periods not paid.
    arrears: Cents,
    /// Paid in advance, used by the next dues.
    credit: Cents,
}

async fn account_view(state: &AppState, fund_id: &str, m: &Member) -> ApiResult<AccountView> {
    let balance = ledger::balance(&state.db, fund_id, &m.allowance_account()).await?;
    let current = Period::of(crate::domain::today());
    let dues = contributions::dues(&state.db, fund_id, &m.id, current).await?;
    let c = |v: i64| Cents::from_cents(v.max(0)).map_err(ApiError::internal);
    Ok(AccountView {
        balance: c(balance)?,
        contributions_due: c(dues.outstanding())?,
        arrears: c(dues.arrears())?,
        credit: c(dues.credit())?,
    })
}

/// A member's allowance balance and dues (admin, treasurer, or the member).
#[utoipa::path(get, path = "/api/v1/members/{id}/account", tag = "members",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn member_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountView>> {
    let m = visible_member(&state, &caller, &id).await?;
    Ok(Json(account_view(&state, caller.fund(), &m).await?))
}

#[derive(Serialize, ToSchema)]
pub struct TransactionView {
    entry_id: i64,
    date: String,
    created_at: String,
    /// contribution_call, contribution_payment, allowance, redemption, refund, ...
    kind: String,
    label: String,
    /// `allowance` (the balance to spend) or `contribution` (dues).
    account: String,
    /// Signed euros: on `allowance`, + credited and − spent; on `contribution`, + called and
    /// − paid.
    #[schema(value_type = String, example = "-12.50")]
    amount: String,
}

#[derive(Serialize, ToSchema)]
pub struct TransactionPage {
    items: Vec<TransactionView>,
    next_cursor: Option<String>,
}

/// A member's history, newest first (admin, treasurer, or the member).
#[utoipa::path(get, path = "/api/v1/members/{id}/transactions", tag = "members",
    params(("id" = String, Path),
           ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
           ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    security(("bearer" = [])),
    responses((status = 200, body = TransactionPage), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn member_transactions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut query: QueryParams,
) -> ApiResult<Json<TransactionPage>> {
    let page = query.page();
    // The cursor is a journal number: movements are listed in the journal's order.
    let before = page.after.as_deref().and_then(|c| {
        let parsed = c.parse::<i64>().ok();
        if parsed.is_none() {
            query.error("cursor", "not a cursor of this list");
        }
        parsed
    });
    query.finish()?;
    let m = visible_member(&state, &caller, &id).await?;
    let rows = contributions::movements(
        &state.db,
        caller.fund(),
        m.contribution_account().as_str(),
        m.allowance_account().as_str(),
        before,
        page.fetch(),
    )
    .await?;
    let more = rows.len() as i64 > page.limit;
    let mut items = rows;
    items.truncate(page.limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|i| i.seq.to_string()))
        .flatten();
    Ok(Json(TransactionPage {
        items: items
            .into_iter()
            .map(|i| TransactionView {
                entry_id: i.entry_id,
                date: i.date,
                created_at: format_instant(i.created_at),
                kind: i.kind,
                label: i.label,
                account: i.account.to_string(),
                amount: crate::domain::money::format_signed_cents(i.amount),
            })
            .collect(),
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct MeUser {
    id: String,
    role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    user: MeUser,
    /// For a member: their record and account.
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<MemberView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<AccountView>,
}

/// Who is signed in; for a member, their own record and account.
#[utoipa::path(get, path = "/api/v1/me", tag = "members", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let (member, account) = match &caller.member() {
        Some(id) if caller.role() == Role::Member => {
            let m = members::find(&state.db, caller.fund(), id)
                .await?
                .ok_or_else(|| ApiError::not_found("member"))?;
            let account = account_view(&state, caller.fund(), &m).await?;
            let settings = funds::settings(&state.db, caller.fund()).await?;
            (Some(view(m, &settings)), Some(account))
        }
        _ => (None, None),
    };
    Ok(Json(Me {
        user: MeUser {
            id: caller.actor().to_string(),
            role: caller.role(),
        },
        member,
        account,
    }))
}
