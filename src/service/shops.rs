//! Shop use cases: apply, list and show (as far as the caller's role may see), vote, decide,
//! suspend and reinstate, give and revoke till keys. Each checks the caller's role first (the
//! API's extractors and the pages check it before reading a body; this is the rule itself).
//! Each write is one transaction, made under the shop's lock after `domain::shop` said its
//! status allows it.

mod views;

use chrono::NaiveDate;

pub use views::*;

use crate::auth;
use crate::caller::{AdminCommittee, AdminOnly, Caller, CommitteeOnly, Roles, TerminalOnly};
use crate::domain::ledger::{AccountCode, General};
use crate::domain::shop::{
    self, list_scope, validate_decision, validate_note, validate_terminal_label, Decision,
    ListScope, ShopApplication, ShopStatus, Sight, StatusChange, WrongStatus, MAX_COMMENT_CHARS,
    MAX_NOTE_CHARS,
};
use crate::domain::{ErrorCode, FieldError, ShopId, TerminalId};
use crate::service::error::ServiceError;
use crate::store::shops::{self as store, ListFilter, Shop, ShopError, StatusRecord};
use crate::store::terminals;
use crate::store::{funds, ledger, Db, StoreError, Tx};

/// A status that does not allow the change: 409 `wrong_status`.
impl From<WrongStatus> for ServiceError {
    fn from(e: WrongStatus) -> Self {
        ServiceError::refused(ErrorCode::WrongStatus, e.to_string())
    }
}

/// No such shop in the fund: 404.
impl From<ShopError> for ServiceError {
    fn from(e: ShopError) -> Self {
        match e {
            ShopError::NotFound => ServiceError::not_found("shop"),
            ShopError::Store(s) => ServiceError::Store(s),
        }
    }
}

fn one(e: FieldError) -> ServiceError {
    ServiceError::invalid(vec![e])
}

/// Checks an application against the fund's categories and criteria and records it, `pending`.
pub async fn apply(
    db: &Db,
    caller: &Caller,
    application: &ShopApplication,
) -> Result<ShopView, ServiceError> {
    caller.require(AdminCommittee::ALLOWED)?;
    let fund = caller.fund();
    let settings = funds::settings(db, fund).await?;
    let valid = application
        .validate(&settings)
        .map_err(ServiceError::invalid)?;
    let mut tx = db.begin().await?;
    let shop = store::create(&mut tx, fund, &valid, caller.actor()).await?;
    tx.commit().await?;
    detail(db, caller, shop).await
}

/// A list's filters, as asked.
#[derive(Clone, Debug, Default)]
pub struct ShopFilter {
    pub status: Option<ShopStatus>,
    /// One of the fund's categories.
    pub category: Option<String>,
}

/// One page of the shops the caller may see (`fetch` rows after `after`, in creation order):
/// members the approved ones, a till its own, and each only as far as the role sees.
pub async fn list(
    db: &Db,
    caller: &Caller,
    filter: ShopFilter,
    after: Option<&str>,
    fetch: i64,
) -> Result<Vec<ShopView>, ServiceError> {
    if let Some(c) = &filter.category {
        let settings = funds::settings(db, caller.fund()).await?;
        if !settings.categories.iter().any(|k| k == c) {
            return Err(one(FieldError::new(
                "category",
                "not one of the fund's categories",
            )));
        }
    }
    let ListScope::Shops { statuses, only } = list_scope(
        caller.role(),
        caller.shop().map(|s| s.as_str()),
        filter.status,
    ) else {
        return Ok(Vec::new());
    };
    let filter = ListFilter {
        statuses,
        only,
        category: filter.category,
        after: after.map(String::from),
        limit: fetch,
        ..ListFilter::default()
    };
    summaries(db, caller, &filter).await
}

/// Approved and suspended shops whose review date is on or before `on`.
pub async fn review_due(
    db: &Db,
    caller: &Caller,
    on: NaiveDate,
    after: Option<&str>,
    fetch: i64,
) -> Result<Vec<ShopView>, ServiceError> {
    caller.require(AdminCommittee::ALLOWED)?;
    let filter = ListFilter {
        statuses: vec![ShopStatus::Approved, ShopStatus::Suspended],
        review_due_on: Some(on),
        after: after.map(String::from),
        limit: fetch,
        ..ListFilter::default()
    };
    summaries(db, caller, &filter).await
}

async fn summaries(
    db: &Db,
    caller: &Caller,
    filter: &ListFilter,
) -> Result<Vec<ShopView>, ServiceError> {
    let sight = Sight::of(caller.role());
    let rows = store::list(db, caller.fund(), filter).await?;
    Ok(rows
        .into_iter()
        .map(|s| ShopView::summary(s, sight))
        .collect())
}

/// Everything the caller may see of one shop; 404 for a shop they may not see at all.
pub async fn get(db: &Db, caller: &Caller, id: &ShopId) -> Result<ShopView, ServiceError> {
    let shop = find(db, caller, id).await?;
    detail(db, caller, shop).await
}

/// A shop of the caller's fund that the caller may see, or 404.
async fn find(db: &Db, caller: &Caller, id: &str) -> Result<Shop, ServiceError> {
    let own = caller.shop().map(|s| s.as_str());
    store::get(db, caller.fund(), id)
        .await?
        .filter(|s| shop::visible(caller.role(), own, &s.id, s.status))
        .ok_or_else(|| ServiceError::not_found("shop"))
}

/// Everything about one shop the caller may see.
async fn detail(db: &Db, caller: &Caller, shop: Shop) -> Result<ShopView, ServiceError> {
    let sight = Sight::of(caller.role());
    let fund = caller.fund();
    let id = shop.id.clone();
    let mut view = ShopView::summary(shop, sight);
    if sight.details {
        view.criteria = Some(criteria(db, fund, &id).await?);
        let history: Vec<StatusRecordView> = store::history(db, fund, &id)
            .await?
            .into_iter()
            .map(|r| StatusRecordView::new(r, sight))
            .collect();
        view.decision = history.iter().rev().find(|r| r.is_decision()).cloned();
        view.history = Some(history);
    }
    if sight.tally {
        view.tally = Some(store::current_tally(db, fund, &id).await?);
    }
    Ok(view)
}

/// Each of the fund's criteria with the shop's answer. Answers to criteria the fund has since
/// dropped stay visible, under their id.
async fn criteria(db: &Db, fund: &str, id: &str) -> Result<Vec<CriterionAnswer>, ServiceError> {
    let settings = funds::settings(db, fund).await?;
    let mut answers = store::criteria(db, fund, id).await?;
    let mut criteria: Vec<CriterionAnswer> = settings
        .criteria
        .iter()
        .map(|c| CriterionAnswer {
            id: c.id.clone(),
            label: c.label.clone(),
            answer: answers.remove(&c.id),
        })
        .collect();
    criteria.extend(answers.into_iter().map(|(id, answer)| CriterionAnswer {
        label: id.clone(),
        id,
        answer: Some(answer),
    }));
    Ok(criteria)
}

/// Changes a shop's details (a new bank account, a move...). Settlements already made keep
/// paying the account they were made for.
pub async fn update_details(
    db: &Db,
    caller: &Caller,
    shop_id: &ShopId,
    change: ShopDetailsChange,
) -> Result<ShopView, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let fund = caller.fund();
    let mut settings = funds::settings(db, fund).await?;
    let mut tx = db.begin().await?;
    // Read and changed under one lock: two admins' changes do not undo each other's.
    let Some(shop) = store::get_for_update(&mut tx, fund, shop_id).await? else {
        tx.rollback().await?;
        return Err(ServiceError::not_found("shop"));
    };
    if change.categories.is_none() {
        // Categories the fund has dropped since the shop applied stay valid until changed.
        settings.categories.extend(shop.categories.iter().cloned());
    }
    let merged = ShopApplication {
        name: change.name.unwrap_or(shop.name),
        legal_name: change.legal_name.unwrap_or(shop.legal_name),
        siret: change.siret.or(shop.siret),
        iban: change.iban.unwrap_or(shop.iban),
        bic: change.bic.or(shop.bic),
        address: change.address.unwrap_or(shop.address),
        categories: change.categories.unwrap_or(shop.categories),
        criteria: Default::default(),
    };
    let valid = match merged.validate(&settings) {
        Ok(valid) => valid,
        Err(errors) => {
            tx.rollback().await?;
            return Err(ServiceError::invalid(errors));
        }
    };
    if !store::update_details(&mut tx, fund, shop_id, &valid).await? {
        tx.rollback().await?;
        return Err(ServiceError::not_found("shop"));
    }
    tx.commit().await?;
    tracing::info!(shop_id = %shop_id, "shop details changed");
    get(db, caller, shop_id).await
}

/// A committee member's vote, replacing their previous one; open unless the shop was rejected.
pub async fn vote(
    db: &Db,
    caller: &Caller,
    shop_id: &ShopId,
    req: VoteRequest,
) -> Result<VoteRecorded, ServiceError> {
    caller.require(CommitteeOnly::ALLOWED)?;
    let comment =
        validate_note("comment", req.comment.as_deref(), MAX_COMMENT_CHARS).map_err(one)?;
    let fund = caller.fund();
    let voter = caller.actor();
    let mut tx = db.begin().await?;
    store::lock(&mut tx, fund, shop_id).await?.check_vote()?;
    let outcome = store::vote(
        &mut tx,
        fund,
        shop_id,
        voter,
        req.choice,
        comment.as_deref(),
    )
    .await?;
    tx.commit().await?;
    let tally = store::current_tally(db, fund, shop_id).await?;
    Ok(VoteRecorded {
        shop_id: shop_id.clone(),
        vote: VoteView {
            voter_id: crate::domain::UserId::new(voter),
            voter_email: None,
            choice: req.choice,
            comment,
            voted_at: crate::domain::Instant::from_micros(outcome.voted_at),
        },
        replaced: outcome.replaced,
        tally,
    })
}

/// The tally of a shop's votes, with every voter's choice for an admin and the caller's own
/// vote for a committee member.
pub async fn votes(db: &Db, caller: &Caller, shop_id: &ShopId) -> Result<VoteList, ServiceError> {
    caller.require(AdminCommittee::ALLOWED)?;
    let shop = find(db, caller, shop_id).await?;
    let voter = (!Sight::of(caller.role()).every_vote).then_some(caller.actor());
    let votes = store::votes(db, caller.fund(), shop_id, voter).await?;
    let tally = store::current_tally(db, caller.fund(), shop_id).await?;
    Ok(VoteList {
        shop_id: ShopId::new(shop.id),
        status: shop.status,
        tally,
        votes: votes.into_iter().map(VoteView::from).collect(),
    })
}

/// An admin's decision, checked (a note of at most 2000 characters; a review date, after
/// today, for an approval only). Answers the shop as the caller sees it.
pub async fn decide(
    db: &Db,
    caller: &Caller,
    shop_id: &ShopId,
    req: DecisionRequest,
) -> Result<ShopView, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let (note, review_on) = validate_decision(
        req.decision,
        req.note.as_deref(),
        req.review_on,
        crate::domain::today(),
    )
    .map_err(ServiceError::invalid)?;
    record_decision(
        db,
        caller,
        shop_id,
        req.decision,
        note.as_deref(),
        review_on,
    )
    .await?;
    get(db, caller, shop_id).await
}

/// Records a decision whose note and review date were checked (the demo back-dates a review
/// on purpose). An approval opens the shop's payable account (401.SHOP) in the same
/// transaction, so an approved shop can always be owed money.
pub(crate) async fn record_decision(
    db: &Db,
    caller: &Caller,
    shop_id: &ShopId,
    decision: Decision,
    note: Option<&str>,
    review_on: Option<NaiveDate>,
) -> Result<StatusRecord, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let fund = caller.fund();
    let mut tx = db.begin().await?;
    store::lock(&mut tx, fund, shop_id)
        .await?
        .after(decision.into())?;
    let record = store::decide(
        &mut tx,
        fund,
        shop_id,
        decision,
        note,
        review_on,
        caller.actor(),
    )
    .await?;
    if decision == Decision::Approved {
        open_payable(&mut tx, fund, shop_id).await?;
    }
    tx.commit().await?;
    Ok(record)
}

async fn open_payable(tx: &mut Tx, fund: &str, shop_id: &str) -> Result<(), ServiceError> {
    let name = store::name(tx, fund, shop_id).await?;
    ledger::open_account(
        tx,
        fund,
        &AccountCode::auxiliary(General::Shops, shop_id),
        &name,
    )
    .await?;
    Ok(())
}

/// Suspends an approved shop or reinstates a suspended one, at once: the next payment at its
/// tills sees the new status. Answers the shop as the caller sees it.
pub async fn change_status(
    db: &Db,
    caller: &Caller,
    shop_id: &ShopId,
    change: StatusChange,
    req: StatusNote,
) -> Result<ShopView, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    if matches!(change, StatusChange::Approved | StatusChange::Rejected) {
        return Err(ServiceError::internal("decisions go through decide()"));
    }
    let note = validate_note("note", req.note.as_deref(), MAX_NOTE_CHARS).map_err(one)?;
    let fund = caller.fund();
    let mut tx = db.begin().await?;
    let to = store::lock(&mut tx, fund, shop_id).await?.after(change)?;
    store::change_status(
        &mut tx,
        fund,
        shop_id,
        change,
        to,
        note.as_deref(),
        caller.actor(),
    )
    .await?;
    tx.commit().await?;
    get(db, caller, shop_id).await
}

/// A new till for the shop, with its API key: the only time the key exists outside the till.
pub async fn create_terminal(
    db: &Db,
    caller: &Caller,
    shop_id: &ShopId,
    req: NewTerminal,
) -> Result<TerminalCreated, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let label = validate_terminal_label(&req.label).map_err(one)?;
    let fund = caller.fund();
    let key = auth::new_token("ct");
    let mut tx = db.begin().await?;
    store::lock(&mut tx, fund, shop_id)
        .await?
        .check_new_terminal()?;
    let t = terminals::create(
        &mut tx,
        fund,
        shop_id,
        &label,
        &auth::token_hash(&key),
        caller.actor(),
    )
    .await?;
    tx.commit().await?;
    Ok(TerminalCreated {
        id: TerminalId::new(t.id),
        shop_id: ShopId::new(t.shop_id),
        label: t.label,
        api_key: key,
        created_at: crate::domain::Instant::from_micros(t.created_at),
    })
}

/// A page of a shop's tills: label, creation, last use, revocation; never the key.
pub async fn terminals(
    db: &Db,
    caller: &Caller,
    shop_id: &ShopId,
    after: Option<&str>,
    fetch: i64,
) -> Result<Vec<TerminalView>, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let shop = find(db, caller, shop_id).await?;
    let rows = terminals::list(db, caller.fund(), &shop.id, after, fetch).await?;
    Ok(rows.into_iter().map(TerminalView::from).collect())
}

/// Revokes a till's key at once; revoking again changes nothing.
pub async fn revoke_terminal(
    db: &Db,
    caller: &Caller,
    shop_id: &ShopId,
    terminal_id: &TerminalId,
) -> Result<TerminalView, ServiceError> {
    caller.require(AdminOnly::ALLOWED)?;
    let mut tx = db.begin().await?;
    let terminal = terminals::revoke(&mut tx, caller.fund(), shop_id, terminal_id, caller.actor())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ServiceError::not_found("terminal"),
            other => other.into(),
        })?;
    tx.commit().await?;
    Ok(terminal.into())
}

/// The calling till: its label and its shop, and whether the shop takes payments now.
pub async fn current_terminal(db: &Db, caller: &Caller) -> Result<CurrentTerminal, ServiceError> {
    caller.require(TerminalOnly::ALLOWED)?;
    let t = terminals::get(db, caller.fund(), caller.actor())
        .await?
        .ok_or_else(|| {
            ServiceError::refused(ErrorCode::Unauthenticated, "the terminal is unknown")
        })?;
    let shop = find(db, caller, &t.shop_id).await?;
    let accepting_payments = shop.status.accepts_payments();
    Ok(CurrentTerminal {
        id: TerminalId::new(t.id),
        label: t.label,
        shop: ShopView::summary(shop, Sight::of(crate::domain::Role::Terminal)),
        accepting_payments,
    })
}
