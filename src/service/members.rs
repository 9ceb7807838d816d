//! Members: joining, changes, suspension, leaving (with erasure of personal data).

use crate::caller::Caller;
use crate::domain::household::Household;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::member::{MemberStatus, Period};
use crate::domain::settings::{ContributionScale, FundSettings};
use crate::domain::ErrorCode;
use crate::domain::{Cents, FieldError, FundId, Instant, MemberId, Role, SignedCents};
use crate::service::error::ServiceError;
use crate::store::cursors::{self, Listed};
use crate::store::members::{self, Member, NewMember};
use crate::store::{contributions, funds, ledger, Db, StoreError, Tx};
use futures_util::FutureExt;

/// What the API accepts for a member, before validation.
#[derive(Clone, Debug, Default)]
pub struct MemberInput {
    pub full_name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub adults: Option<i64>,
    pub children: Option<i64>,
    pub monthly_income: Option<Option<Cents>>,
    pub chosen_contribution: Option<Option<Cents>>,
}

fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Applies `input` onto `base` (a new member or the stored one), checking every field.
fn apply(
    base: &mut Member,
    input: &MemberInput,
    scale: &ContributionScale,
) -> Result<(), ServiceError> {
    let mut errors = Vec::new();
    apply_contact(base, input, &mut errors);
    apply_household(base, input, &mut errors);
    if let Some(income) = input.monthly_income {
        base.monthly_income = income;
    }
    if let Some(chosen) = input.chosen_contribution {
        base.chosen_contribution = chosen;
    }
    if let (ContributionScale::Free { minimum }, Some(chosen)) = (scale, base.chosen_contribution) {
        if chosen < *minimum {
            errors.push(FieldError::new(
                "chosen_contribution",
                format!("must be at least the fund's minimum of {minimum}"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::invalid(errors))
    }
}

/// Name, email and phone: spaces tidied, blank is none, each of a plausible form.
fn apply_contact(base: &mut Member, input: &MemberInput, errors: &mut Vec<FieldError>) {
    if let Some(name) = &input.full_name {
        let name = clean(name);
        if name.is_empty() || name.chars().count() > 200 {
            errors.push(FieldError::new("full_name", "must be 1 to 200 characters"));
        }
        base.full_name = Some(name);
    }
    if let Some(email) = &input.email {
        base.email = email
            .as_deref()
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty());
        if let Some(e) = &base.email {
            let ok = e.len() <= 254
                && e.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
                && !e.contains(char::is_whitespace);
            if !ok {
                errors.push(FieldError::new("email", "not a valid email address"));
            }
        }
    }
    if let Some(phone) = &input.phone {
        base.phone = phone.as_deref().map(clean).filter(|p| !p.is_empty());
        if let Some(p) = &base.phone {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            let ok = (6..=15).contains(&digits)
                && p.chars()
                    .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
            if !ok {
                errors.push(FieldError::new("phone", "not a valid phone number"));
            }
        }
    }
}

/// The household: at least one person of 14 or over, no negative count, at most
/// [`Household::MAX_PEOPLE`] people.
fn apply_household(base: &mut Member, input: &MemberInput, errors: &mut Vec<FieldError>) {
    let adults = input.adults.unwrap_or(i64::from(base.household.adults()));
    let children = input
        .children
        .unwrap_or(i64::from(base.household.children()));
    if adults < 1 {
        errors.push(FieldError::new(
            "household.adults",
            "at least one person of 14 or over",
        ));
    }
    if children < 0 {
        errors.push(FieldError::new(
            "household.children",
            "must not be negative",
        ));
    }
    let household = u32::try_from(adults)
        .ok()
        .zip(u32::try_from(children).ok())
        .and_then(|(a, c)| Household::new(a, c));
    match household {
        Some(h) => base.household = h,
        None if adults >= 1 && children >= 0 => errors.push(FieldError::new(
            "household",
            format!("at most {} people", Household::MAX_PEOPLE),
        )),
        None => {}
    }
}

/// A new member from `input`, every field checked as [`create`] does, joining on `joined_on`
/// (the import reads that date from the file).
pub(crate) fn new_member(
    input: &MemberInput,
    scale: &ContributionScale,
    joined_on: chrono::NaiveDate,
) -> Result<NewMember, ServiceError> {
    let mut draft = Member {
        id: String::new(),
        number: 0,
        account_ref: String::new(),
        payment_reference: String::new(),
        full_name: None,
        email: None,
        phone: None,
        household: Household::new(1, 0).expect("one adult"),
        monthly_income: None,
        chosen_contribution: None,
        status: MemberStatus::Active,
        joined_on: joined_on.to_string(),
        left_on: None,
    };
    apply(&mut draft, input, scale)?;
    Ok(NewMember {
        full_name: draft.full_name.unwrap_or_default(),
        email: draft.email,
        phone: draft.phone,
        household: draft.household,
        monthly_income: draft.monthly_income,
        chosen_contribution: draft.chosen_contribution,
        joined_on: draft.joined_on,
    })
}

/// The member's contribution and allowance under the fund's current rules.
pub fn figures(m: &Member, settings: &FundSettings) -> (Cents, Cents) {
    let contribution = settings.contribution_scale.contribution(
        m.household,
        m.monthly_income,
        m.chosen_contribution,
    );
    let allowance = settings
        .allowance
        .monthly_amount(m.household)
        .unwrap_or(Cents::ZERO);
    (contribution, allowance)
}

/// A member's record with what the fund's current rules give them.
#[derive(Clone, Debug)]
pub struct MemberRecord {
    pub member: Member,
    /// Monthly contribution under the current scale (applies from the next call).
    pub contribution: Cents,
    /// Monthly allowance under the current settings.
    pub monthly_allowance: Cents,
}

impl MemberRecord {
    fn new(member: Member, settings: &FundSettings) -> MemberRecord {
        let (contribution, monthly_allowance) = figures(&member, settings);
        MemberRecord {
            member,
            contribution,
            monthly_allowance,
        }
    }

    pub fn id(&self) -> MemberId {
        MemberId::new(self.member.id.clone())
    }
}

/// Registers a member: `full_name` is required, every field is checked.
pub async fn create(
    db: &Db,
    fund_id: &FundId,
    input: &MemberInput,
) -> Result<MemberRecord, ServiceError> {
    let settings = funds::settings(db, fund_id).await?;
    if input.full_name.is_none() {
        return Err(ServiceError::field(
            ErrorCode::MissingField,
            "full_name",
            "is required",
        ));
    }
    let new = new_member(input, &settings.contribution_scale, crate::domain::today())?;
    let mut tx = db.begin().await?;
    let created = members::create_many(&mut tx, fund_id, std::slice::from_ref(&new)).await?;
    tx.commit().await?;
    let member = created
        .into_iter()
        .next()
        .ok_or_else(|| ServiceError::internal("member not created"))?;
    Ok(MemberRecord::new(member, &settings))
}

/// Changes what `input` names; a member who has left cannot be changed.
pub async fn update(
    db: &Db,
    fund_id: &FundId,
    id: &MemberId,
    input: &MemberInput,
) -> Result<MemberRecord, ServiceError> {
    let settings = funds::settings(db, fund_id).await?;
    let mut tx = db.begin().await?;
    let mut m = members::get_for_update(&mut tx, fund_id, id)
        .await?
        .ok_or_else(|| ServiceError::not_found("member"))?;
    if m.status == MemberStatus::Left {
        return Err(ServiceError::refused(
            ErrorCode::MemberLeft,
            "this member has left the fund; their record is closed",
        ));
    }
    apply(&mut m, input, &settings.contribution_scale)?;
    members::save(&mut tx, fund_id, &m).await?;
    tx.commit().await?;
    Ok(MemberRecord::new(m, &settings))
}

#[derive(Clone, Copy, Debug)]
pub enum StatusChange {
    Suspend,
    Reactivate,
    Leave,
}

/// Why a member's status does not change.
#[derive(Debug, thiserror::Error)]
pub enum StatusChangeError {
    #[error("member not found")]
    NotFound,
    #[error("a member who is {} cannot be {}", .from.as_str(), .to.as_str())]
    NotAllowed {
        from: MemberStatus,
        to: MemberStatus,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] ServiceError),
}

impl From<sqlx::Error> for StatusChangeError {
    fn from(e: sqlx::Error) -> Self {
        StatusChangeError::Store(StoreError::Db(e))
    }
}

impl From<crate::store::ledger::LedgerError> for StatusChangeError {
    fn from(e: crate::store::ledger::LedgerError) -> Self {
        StatusChangeError::Other(ServiceError::Ledger(e))
    }
}

impl StatusChangeError {
    /// The stable code a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            StatusChangeError::NotFound => ErrorCode::NotFound,
            StatusChangeError::NotAllowed { .. } => ErrorCode::InvalidStatusChange,
            StatusChangeError::Store(_) => ErrorCode::InternalError,
            StatusChangeError::Other(e) => e.code(),
        }
    }
}

impl From<StatusChangeError> for ServiceError {
    fn from(e: StatusChangeError) -> Self {
        match e {
            StatusChangeError::NotFound => ServiceError::not_found("member"),
            e @ StatusChangeError::NotAllowed { .. } => {
                ServiceError::refused(e.code(), e.to_string())
            }
            StatusChangeError::Store(s) => ServiceError::Store(s),
            StatusChangeError::Other(e) => e,
        }
    }
}

/// Suspends, reactivates, or records that a member leaves. Leaving erases name, email, phone
/// and income, deletes the member's logins, and gives any allowance left back to the common
/// pot (467 → 6571); dues still owed stay on 411. The ledger keeps the member number.
///
/// Through `Db::write`, like the payments it must be ordered with: on SQLite a leave queues
/// with them and commits in turn.
pub async fn change_status(
    db: &Db,
    fund_id: &FundId,
    id: &MemberId,
    change: StatusChange,
) -> Result<MemberRecord, StatusChangeError> {
    let (fund, member) = (fund_id.clone(), id.clone());
    let m = db
        .write(move |tx| async move { change_status_in(tx, &fund, &member, change).await }.boxed())
        .await?;
    let settings = funds::settings(db, fund_id).await?;
    Ok(MemberRecord::new(m, &settings))
}

async fn change_status_in(
    tx: &mut Tx,
    fund_id: &str,
    id: &str,
    change: StatusChange,
) -> Result<Member, StatusChangeError> {
    let mut m = members::get_for_update(tx, fund_id, id)
        .await?
        .ok_or(StatusChangeError::NotFound)?;
    let (allowed_from, to) = match change {
        StatusChange::Suspend => (&[MemberStatus::Active][..], MemberStatus::Suspended),
        StatusChange::Reactivate => (&[MemberStatus::Suspended][..], MemberStatus::Active),
        StatusChange::Leave => (
            &[MemberStatus::Active, MemberStatus::Suspended][..],
            MemberStatus::Left,
        ),
    };
    if !allowed_from.contains(&m.status) {
        return Err(StatusChangeError::NotAllowed { from: m.status, to });
    }
    m.status = to;
    if to == MemberStatus::Left {
        let today = crate::domain::today();
        m.full_name = None;
        m.email = None;
        m.phone = None;
        m.monthly_income = None;
        m.chosen_contribution = None;
        m.left_on = Some(today.to_string());
        members::delete_logins(tx, fund_id, &m.id).await?;
        let account = m.allowance_account();
        // The member's row is held (above) and payments, refunds and corrections take it
        // before they touch the balance: none is in flight now, and any that comes
        // next reads the member as left. The balance read here is exactly what is left.
        let left = ledger::balance_for_update(tx, fund_id, &account).await?;
        if left > 0 {
            let amount = Cents::from_cents(left).map_err(ServiceError::internal)?;
            let entry = EntryBuilder::new(
                Journal::Allowances,
                "allowance_return",
                today,
                &format!(
                    "Départ {} : solde d'allocation rendu à la caisse",
                    m.account_ref
                ),
            )
            .debit(account, amount)
            .credit(AccountCode::general(General::AllowancesGranted), amount)
            .build()
            .map_err(ServiceError::internal)?;
            ledger::post(tx, fund_id, &entry).await?;
        }
    }
    members::save(tx, fund_id, &m).await?;
    Ok(m)
}

// ---- Reading members: who sees what -----------------------------------------------------------

/// Admin and treasurer see every member; a member sees only themself (anyone else is
/// `not_found`, as if it did not exist); other roles are refused.
async fn visible(db: &Db, caller: &Caller, id: &MemberId) -> Result<Member, ServiceError> {
    match caller.role() {
        Role::Admin | Role::Treasurer => {}
        Role::Member if caller.member() == Some(id) => {}
        Role::Member => return Err(ServiceError::not_found("member")),
        _ => {
            return Err(ServiceError::refused(
                ErrorCode::Forbidden,
                "your role does not allow this",
            ))
        }
    }
    members::find(db, caller.fund(), id)
        .await?
        .ok_or_else(|| ServiceError::not_found("member"))
}

/// A member's record, for whoever may see it (see [`visible`]).
pub async fn get(db: &Db, caller: &Caller, id: &MemberId) -> Result<MemberRecord, ServiceError> {
    let m = visible(db, caller, id).await?;
    let settings = funds::settings(db, caller.fund()).await?;
    Ok(MemberRecord::new(m, &settings))
}

/// One page of members, by number of joining.
#[derive(Clone, Debug)]
pub struct MemberList {
    pub items: Vec<MemberRecord>,
    /// The last id of the page when another follows.
    pub next_cursor: Option<MemberId>,
}

/// Members of the fund (with `status` when given), `limit` after the member `after` (the
/// `next_cursor` of the previous page; anything else is refused on `cursor`).
pub async fn list(
    db: &Db,
    fund_id: &FundId,
    status: Option<MemberStatus>,
    after: Option<&str>,
    limit: i64,
) -> Result<MemberList, ServiceError> {
    if let Some(cursor) = after {
        if !cursors::known(db, fund_id, Listed::Members, cursor).await? {
            return Err(ServiceError::invalid(vec![FieldError::new(
                "cursor",
                "not the next_cursor of a page of this list",
            )]));
        }
    }
    let settings = funds::settings(db, fund_id).await?;
    let mut rows = members::list(db, fund_id, status, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next_cursor = more
        .then(|| rows.last().map(|m| MemberId::new(m.id.clone())))
        .flatten();
    Ok(MemberList {
        items: rows
            .into_iter()
            .map(|m| MemberRecord::new(m, &settings))
            .collect(),
        next_cursor,
    })
}

/// A member's allowance balance and dues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// Allowance left to spend.
    pub balance: Cents,
    /// Dues called and not paid, this period included.
    pub contributions_due: Cents,
    /// Dues of past periods not paid.
    pub arrears: Cents,
    /// Paid in advance, used by the next dues.
    pub credit: Cents,
}

async fn account_of(db: &Db, fund_id: &FundId, m: &Member) -> Result<Account, ServiceError> {
    let balance = ledger::balance(db, fund_id, &m.allowance_account()).await?;
    let current = Period::of(crate::domain::today());
    let dues = contributions::dues(db, fund_id, &m.id, current).await?;
    let c = |v: i64| Cents::from_cents(v.max(0)).map_err(ServiceError::internal);
    Ok(Account {
        balance: c(balance)?,
        contributions_due: c(dues.outstanding())?,
        arrears: c(dues.arrears())?,
        credit: c(dues.credit())?,
    })
}

/// A member's account, for whoever may see the member.
pub async fn account(db: &Db, caller: &Caller, id: &MemberId) -> Result<Account, ServiceError> {
    let m = visible(db, caller, id).await?;
    account_of(db, caller.fund(), &m).await
}

/// Which of a member's two accounts a movement is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberAccount {
    /// 467: the balance to spend.
    Allowance,
    /// 411: dues.
    Contribution,
}

impl MemberAccount {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberAccount::Allowance => "allowance",
            MemberAccount::Contribution => "contribution",
        }
    }
}

/// One movement on a member's accounts.
#[derive(Clone, Debug)]
pub struct Transaction {
    pub entry_id: i64,
    pub date: String,
    pub created_at: Instant,
    pub kind: String,
    pub label: String,
    pub account: MemberAccount,
    /// On `Allowance`, + credited and − spent; on `Contribution`, + called and − paid.
    pub amount: SignedCents,
}

/// A page of a member's history, newest first.
#[derive(Clone, Debug)]
pub struct TransactionList {
    pub items: Vec<Transaction>,
    /// The journal number to read on from, when another page follows.
    pub next_cursor: Option<i64>,
}

/// A member's movements before journal number `before` (the cursor: movements are listed in
/// the journal's order), for whoever may see the member.
pub async fn transactions(
    db: &Db,
    caller: &Caller,
    id: &MemberId,
    before: Option<i64>,
    limit: i64,
) -> Result<TransactionList, ServiceError> {
    let m = visible(db, caller, id).await?;
    let mut rows = contributions::movements(
        db,
        caller.fund(),
        m.contribution_account().as_str(),
        m.allowance_account().as_str(),
        before,
        limit + 1,
    )
    .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next_cursor = more.then(|| rows.last().map(|i| i.seq)).flatten();
    let items = rows
        .into_iter()
        .map(|i| Transaction {
            entry_id: i.entry_id,
            date: i.date,
            created_at: Instant::from_micros(i.created_at),
            kind: i.kind,
            label: i.label,
            account: if i.account == "allowance" {
                MemberAccount::Allowance
            } else {
                MemberAccount::Contribution
            },
            amount: SignedCents::from_cents(i.amount),
        })
        .collect();
    Ok(TransactionList { items, next_cursor })
}

/// Who is signed in; for a member, their own record and account.
#[derive(Clone, Debug)]
pub struct Me {
    /// The user's or the till's id.
    pub actor: String,
    pub role: Role,
    pub member: Option<(MemberRecord, Account)>,
}

pub async fn me(db: &Db, caller: &Caller) -> Result<Me, ServiceError> {
    let member = match caller.member() {
        Some(id) if caller.role() == Role::Member => {
            let m = members::find(db, caller.fund(), id)
                .await?
                .ok_or_else(|| ServiceError::not_found("member"))?;
            let account = account_of(db, caller.fund(), &m).await?;
            let settings = funds::settings(db, caller.fund()).await?;
            Some((MemberRecord::new(m, &settings), account))
        }
        _ => None,
    };
    Ok(Me {
        actor: caller.actor().to_string(),
        role: caller.role(),
        member,
    })
}

/// The member a treasurer names by number (`42`) or payment reference (`RF47M000042`, any
/// case, spaces ignored).
pub async fn find_by_number_or_reference(
    db: &Db,
    fund_id: &FundId,
    text: &str,
) -> Result<Option<MemberId>, ServiceError> {
    Ok(members::id_by_number_or_reference(db, fund_id, text)
        .await?
        .map(MemberId::new))
}
