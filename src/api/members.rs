use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::error::{ApiResult, Problem};
use super::extract::{AdminTreasurer, ApiJson, Authorized, Caller};
use super::page::Page;
use super::query::{Limit, Query};
use super::AppState;
use crate::domain::member::MemberStatus;
use crate::domain::{Cents, Instant, MemberId, Role, SignedCents};
use crate::service::members::{
    self as service, Account, MemberInput, MemberRecord, StatusChange, Transaction,
};

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

pub fn view(record: MemberRecord) -> MemberView {
    let m = record.member;
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
        contribution: record.contribution,
        monthly_allowance: record.monthly_allowance,
        joined_on: m.joined_on,
        left_on: m.left_on,
    }
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
    let record = service::create(&state.db, caller.fund(), &input).await?;
    Ok((StatusCode::CREATED, Json(view(record))))
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
    Query(query): Query<MemberFilter>,
) -> ApiResult<Json<MemberPage>> {
    let page = Page::new(query.limit, query.cursor);
    let status = query.status.map(|s| s.0);
    let list = service::list(
        &state.db,
        caller.fund(),
        status,
        page.after.as_deref(),
        page.limit,
    )
    .await?;
    Ok(Json(MemberPage {
        items: list.items.into_iter().map(view).collect(),
        next_cursor: list.next_cursor.map(MemberId::into_string),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFilter {
    status: Option<StatusParam>,
    limit: Option<Limit>,
    cursor: Option<String>,
}

/// `status`: active, suspended or left.
struct StatusParam(MemberStatus);

impl<'de> Deserialize<'de> for StatusParam {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StatusParam, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map(StatusParam)
            .map_err(|()| serde::de::Error::custom("must be active, suspended or left"))
    }
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
    Path(id): Path<MemberId>,
) -> ApiResult<Json<MemberView>> {
    Ok(Json(view(service::get(&state.db, &caller, &id).await?)))
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
    Path(id): Path<MemberId>,
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
    let record = service::update(&state.db, caller.fund(), &id, &input).await?;
    Ok(Json(view(record)))
}

async fn status_change(
    state: &AppState,
    caller: &Caller,
    id: &MemberId,
    change: StatusChange,
) -> ApiResult<Json<MemberView>> {
    let record = service::change_status(&state.db, caller.fund(), id, change).await?;
    Ok(Json(view(record)))
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
    Path(id): Path<MemberId>,
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
    Path(id): Path<MemberId>,
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
    Path(id): Path<MemberId>,
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

fn account_view(a: Account) -> AccountView {
    AccountView {
        balance: a.balance,
        contributions_due: a.contributions_due,
        arrears: a.arrears,
        credit: a.credit,
    }
}

/// A member's allowance balance and dues (admin, treasurer, or the member).
#[utoipa::path(get, path = "/api/v1/members/{id}/account", tag = "members",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = AccountView), (status = 404, body = Problem)))]
#[tracing::instrument(skip_all)]
pub async fn member_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<MemberId>,
) -> ApiResult<Json<AccountView>> {
    let account = service::account(&state.db, &caller, &id).await?;
    Ok(Json(account_view(account)))
}

#[derive(Serialize, ToSchema)]
pub struct TransactionView {
    entry_id: i64,
    date: String,
    created_at: Instant,
    /// contribution_call, contribution_payment, allowance, redemption, refund, ...
    kind: String,
    label: String,
    /// `allowance` (the balance to spend) or `contribution` (dues).
    account: &'static str,
    /// Signed euros: on `allowance`, + credited and − spent; on `contribution`, + called and
    /// − paid.
    amount: SignedCents,
}

fn transaction_view(t: Transaction) -> TransactionView {
    TransactionView {
        entry_id: t.entry_id,
        date: t.date,
        created_at: t.created_at,
        kind: t.kind,
        label: t.label,
        account: t.account.as_str(),
        amount: t.amount,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionQuery {
    limit: Option<Limit>,
    #[serde(default)]
    cursor: JournalCursor,
}

/// `cursor` of a member's history: the journal number of the last movement of a page (empty
/// is none).
#[derive(Default)]
struct JournalCursor(Option<i64>);

impl<'de> Deserialize<'de> for JournalCursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JournalCursor, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(JournalCursor(None));
        }
        text.parse()
            .map(|seq| JournalCursor(Some(seq)))
            .map_err(|_| serde::de::Error::custom("not a cursor of this list"))
    }
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
    Path(id): Path<MemberId>,
    Query(query): Query<TransactionQuery>,
) -> ApiResult<Json<TransactionPage>> {
    let limit = Page::new(query.limit, None).limit;
    let list = service::transactions(&state.db, &caller, &id, query.cursor.0, limit).await?;
    Ok(Json(TransactionPage {
        items: list.items.into_iter().map(transaction_view).collect(),
        next_cursor: list.next_cursor.map(|seq| seq.to_string()),
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
    let me = service::me(&state.db, &caller).await?;
    let (member, account) = match me.member {
        Some((record, account)) => (Some(view(record)), Some(account_view(account))),
        None => (None, None),
    };
    Ok(Json(Me {
        user: MeUser {
            id: me.actor,
            role: me.role,
        },
        member,
        account,
    }))
}
