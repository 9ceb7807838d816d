//! Payment at the till (redemption) and refunds: the path a member and a shop feel every day.
//!
//! A redemption is one transaction: the shop can take payments, the card's token (and PIN)
//! verify, the member is active, and the member's allowance balance pays — a conditional
//! update that cannot go below zero — by an entry 467 member / 401 shop. Any refusal rolls the
//! whole transaction back: it moves nothing and consumes no code. What a refusal must still
//! leave behind (the decline, for the committee; a wrong PIN, towards the card's lock) is
//! written by [`pay`] after the rollback, each in a transaction of its own.
//!
//! The API and the till's page both call [`pay`], [`refund`] and [`list`] / [`till_day`]; the
//! till's request rate is throttled by the faces (`AppState::check_till_rate`), before a
//! request reaches here: it is the admission of a request, like the body limit, not a rule of
//! the fund.

use std::sync::Arc;

use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::{Caller, Forbidden};
use crate::card_key::CardKey;
use crate::domain::card::Decline;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::member::MemberStatus;
use crate::domain::shop::ShopStatus;
use crate::domain::{
    new_id, CardId, Cents, ErrorCode, FieldError, FundId, Instant, Role, ShopId, TerminalId,
};
use crate::service::cards::{self, VerifyError};
use crate::service::error::ServiceError;
use crate::service::idempotent::{self, IdempotencyError, IdempotencyKey, Recorded};
use crate::service::pins::{self, PinProof};
use crate::store::ledger::{self, LedgerError};
use crate::store::redemptions::{self as store, NewRedemption};
use crate::store::{members, Db, StoreError, Tx};

/// The route a payment's `Idempotency-Key` is bound to, for the API and the till's page alike
/// (a key sent by both is one key).
const PAY_ROUTE: &str = "POST /api/v1/redemptions";

fn refund_route(redemption_id: &str) -> String {
    format!("POST /api/v1/redemptions/{redemption_id}/refunds")
}

/// One shop's till, as a payment or a refund names it.
#[derive(Clone, Copy, Debug)]
pub struct Till<'a> {
    pub fund: &'a FundId,
    pub shop: &'a ShopId,
    pub terminal: &'a TerminalId,
}

impl<'a> Till<'a> {
    /// The calling till: only a till takes payments and refunds.
    pub fn of(caller: &'a Caller) -> Result<Till<'a>, Forbidden> {
        match caller {
            Caller::Till {
                fund,
                terminal,
                shop,
            } => Ok(Till {
                fund,
                shop,
                terminal,
            }),
            Caller::User { .. } => Err(Forbidden),
        }
    }
}

/// Why a payment is refused: API.md's decline codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedeemDecline {
    Card(Decline),
    MemberInactive,
    ShopNotApproved,
    InsufficientBalance,
}

impl RedeemDecline {
    pub fn code(self) -> ErrorCode {
        match self {
            RedeemDecline::Card(d) => d.code(),
            RedeemDecline::MemberInactive => ErrorCode::MemberInactive,
            RedeemDecline::ShopNotApproved => ErrorCode::ShopNotApproved,
            RedeemDecline::InsufficientBalance => ErrorCode::InsufficientBalance,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            RedeemDecline::Card(d) => d.message(),
            RedeemDecline::MemberInactive => "the member's card cannot pay at the moment",
            RedeemDecline::ShopNotApproved => "this shop cannot take payments at the moment",
            RedeemDecline::InsufficientBalance => "the balance is not enough for this amount",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// A payment of nothing: refused before anything is read, and not kept as a decline.
    #[error("amount: must be greater than zero")]
    AmountZero,
    #[error("declined: {}", .decline.code())]
    Declined {
        decline: RedeemDecline,
        card_id: Option<CardId>,
    },
    /// A printed card's PIN was wrong. Only [`redeem_in`] answers it: [`pay`] rolls back,
    /// counts it with [`cards::record_wrong_pin`] and answers the decline that follows.
    #[error("wrong PIN")]
    WrongPin { card_id: CardId },
    /// Only a till takes payments.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RedeemError {
    fn from(e: sqlx::Error) -> Self {
        RedeemError::Store(StoreError::Db(e))
    }
}

impl RedeemError {
    /// The stable code a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            RedeemError::AmountZero => ErrorCode::AmountInvalid,
            RedeemError::Declined { decline, .. } => decline.code(),
            RedeemError::WrongPin { .. } => ErrorCode::PinWrong,
            RedeemError::Forbidden(_) => ErrorCode::Forbidden,
            RedeemError::Idempotency(IdempotencyError::Reused) => ErrorCode::IdempotencyKeyReused,
            RedeemError::Idempotency(IdempotencyError::Store(_)) | RedeemError::Store(_) => {
                ErrorCode::InternalError
            }
        }
    }
}

/// A refused payment, with the codes and words the API has always answered for it.
impl From<RedeemError> for ServiceError {
    fn from(e: RedeemError) -> Self {
        let code = e.code();
        match e {
            RedeemError::AmountZero => {
                ServiceError::field(code, "amount", "must be greater than zero")
            }
            RedeemError::Declined { decline, .. } => ServiceError::refused(code, decline.message()),
            RedeemError::WrongPin { .. } => {
                ServiceError::refused(code, Decline::PinWrong.message())
            }
            RedeemError::Forbidden(f) => f.into(),
            RedeemError::Idempotency(i) => i.into(),
            RedeemError::Store(s) => ServiceError::Store(s),
        }
    }
}

/// What a till sends to take a payment.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
// The OpenAPI document keeps the name its clients know.
#[schema(as = RedemptionRequest)]
pub struct PayRequest {
    /// The QR payload scanned at the till: `caisse1:CARD_ID:CODE` (app) or `caisse1:CARD_ID`
    /// (printed card, with `pin`).
    #[schema(example = "caisse1:card_01m80c9ad3c66ws7nkrhvb49zz:46119246")]
    pub token: String,
    pub amount: Cents,
    /// The PIN of a printed card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

/// The one status of an answered payment (a refusal is an error, never a status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Approved,
}

/// An approved payment: what the till is told, and in this serde form what a replay answers
/// again. Nothing in it names the member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
// The OpenAPI document keeps the name its clients know.
#[schema(as = RedemptionView)]
pub struct Approved {
    pub id: String,
    pub status: PaymentStatus,
    pub amount: Cents,
    /// What the member has left to spend.
    pub remaining_balance: Cents,
    pub created_at: Instant,
}

/// Takes a payment at the calling till, once per `key`: the PIN of a printed card is proven
/// before the payment takes the write path ([`pins::prove`]), and the transaction only
/// compares the proof with the stored PIN. A refusal moves nothing; it is kept for the
/// committee (`declines`) and a wrong PIN counts towards the card's lock, after the rollback.
#[tracing::instrument(skip_all)]
pub async fn pay(
    db: &Db,
    card_key: &Arc<CardKey>,
    caller: &Caller,
    key: &IdempotencyKey,
    request: &PayRequest,
) -> Result<Recorded<Approved>, RedeemError> {
    let till = Till::of(caller)?;
    if request.amount.is_zero() {
        return Err(RedeemError::AmountZero);
    }
    let pin = pins::prove(
        db,
        card_key,
        till.fund,
        &request.token,
        request.pin.as_deref(),
    )
    .await?;
    let (fund, shop, terminal) = (till.fund.clone(), till.shop.clone(), till.terminal.clone());
    let (card_key, token, amount) = (card_key.clone(), request.token.clone(), request.amount);
    let answer = idempotent::run(db, caller, key, PAY_ROUTE, request, move |tx| {
        async move {
            let till = Till {
                fund: &fund,
                shop: &shop,
                terminal: &terminal,
            };
            redeem_in(tx, &card_key, till, &token, pin.as_ref(), amount).await
        }
        .boxed()
    })
    .await;
    match answer {
        Err(refused @ (RedeemError::Declined { .. } | RedeemError::WrongPin { .. })) => {
            Err(keep_refusal(db, till, refused, amount).await)
        }
        other => other,
    }
}

/// After the payment's rollback: counts a wrong PIN (which may lock the card) and keeps the
/// decline for the committee, each in a transaction of its own. Answers the decline to give.
/// A decline that cannot be kept is logged: the till's answer does not wait on it.
async fn keep_refusal(db: &Db, till: Till<'_>, refused: RedeemError, amount: Cents) -> RedeemError {
    let (decline, card_id) = match refused {
        RedeemError::Declined { decline, card_id } => (decline, card_id),
        RedeemError::WrongPin { card_id } => {
            match cards::record_wrong_pin(db, till.fund, &card_id).await {
                Ok(d) => (RedeemDecline::Card(d), Some(card_id)),
                Err(e) => return e.into(),
            }
        }
        other => return other,
    };
    if let Err(e) = store::record_decline(
        db,
        till.fund,
        till.shop,
        till.terminal,
        card_id.as_deref(),
        decline.code().as_str(),
        Some(amount.cents()),
        Instant::now().micros(),
    )
    .await
    {
        tracing::warn!(error = %e, "could not record a decline");
    }
    RedeemError::Declined { decline, card_id }
}

fn declined(decline: RedeemDecline, card_id: Option<&CardId>) -> RedeemError {
    RedeemError::Declined {
        decline,
        card_id: card_id.cloned(),
    }
}

/// Takes a payment at a shop's till, in the caller's transaction (see [`pay`], which is the
/// use case). A printed card's PIN comes as the proof [`pins::prove`] made before.
#[tracing::instrument(skip(tx, key, token, pin))]
pub async fn redeem_in(
    tx: &mut Tx,
    key: &CardKey,
    till: Till<'_>,
    token: &str,
    pin: Option<&PinProof>,
    amount: Cents,
) -> Result<Approved, RedeemError> {
    let now = Instant::now();
    let (fund_id, shop_id) = (till.fund, till.shop);
    let (status, shop_name) = store::shop_for_till(tx, fund_id, shop_id)
        .await?
        .ok_or_else(|| declined(RedeemDecline::ShopNotApproved, None))?;
    if !ShopStatus::parse(&status).is_some_and(ShopStatus::accepts_payments) {
        return Err(declined(RedeemDecline::ShopNotApproved, None));
    }
    let card = match cards::verify_token(tx, key, fund_id, token, pin, now).await {
        Ok(card) => card,
        Err(VerifyError::Declined(d)) => {
            let card_id = crate::domain::card::parse_token(token).map(|t| CardId::new(t.card_id()));
            return Err(declined(RedeemDecline::Card(d), card_id.as_ref()));
        }
        Err(VerifyError::WrongPin { card_id }) => return Err(RedeemError::WrongPin { card_id }),
        Err(VerifyError::Store(e)) => return Err(e.into()),
    };
    // Under the lock a leave waits for: a payment that reads the member after the leave
    // committed sees them left.
    let member = members::get_for_payment(tx, fund_id, &card.member_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("card {} has no member", card.card_id)))?;
    if member.status != MemberStatus::Active {
        return Err(declined(RedeemDecline::MemberInactive, Some(&card.card_id)));
    }
    let id = new_id("red");
    let (entry_id, remaining) =
        charge(tx, till, &shop_name, &member, &id, amount, &card.card_id).await?;
    store::insert(
        tx,
        fund_id,
        &NewRedemption {
            id: &id,
            shop_id,
            terminal_id: till.terminal,
            card_id: &card.card_id,
            member_id: &member.id,
            amount: amount.cents(),
            entry_id,
            created_at: now.micros(),
        },
    )
    .await?;
    Ok(Approved {
        id,
        status: PaymentStatus::Approved,
        amount,
        remaining_balance: remaining,
        created_at: now,
    })
}

/// Posts the purchase, 467 member / 401 shop, by the conditional update that cannot take the
/// member's balance below zero (`insufficient_balance` otherwise). Answers the entry and what
/// the member has left.
async fn charge(
    tx: &mut Tx,
    till: Till<'_>,
    shop_name: &str,
    member: &members::Member,
    redemption_id: &str,
    amount: Cents,
    card_id: &CardId,
) -> Result<(i64, Cents), RedeemError> {
    let member_account = member.allowance_account();
    let entry = EntryBuilder::new(
        Journal::Purchases,
        "redemption",
        crate::domain::today(),
        &format!("Achat — {shop_name}"),
    )
    .reference(redemption_id.to_string())
    .debit(member_account.clone(), amount)
    .credit(AccountCode::auxiliary(General::Shops, till.shop), amount)
    .build()
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let posted = match ledger::post(tx, till.fund, &entry).await {
        Ok(p) => p,
        Err(LedgerError::InsufficientBalance(_)) => {
            return Err(declined(RedeemDecline::InsufficientBalance, Some(card_id)))
        }
        Err(LedgerError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(StoreError::Corrupt(e.to_string()).into()),
    };
    let remaining = posted.balances.get(&member_account).copied().unwrap_or(0);
    let remaining = Cents::from_cents(remaining)
        .map_err(|_| StoreError::Corrupt("negative member balance".into()))?;
    Ok((posted.entry_id, remaining))
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    /// A refund of nothing.
    #[error("amount: must be greater than zero")]
    AmountZero,
    #[error("no such redemption at this shop")]
    NotFound,
    #[error("refunds would exceed the redemption: {left} left to refund")]
    TooMuch { left: Cents },
    /// The sale's entry was reversed: nothing is left to refund.
    #[error("the redemption was reversed")]
    Reversed,
    /// Only a till refunds, and only its own shop's sales.
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RefundError {
    fn from(e: sqlx::Error) -> Self {
        RefundError::Store(StoreError::Db(e))
    }
}

impl RefundError {
    /// The stable code a client sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            RefundError::AmountZero => ErrorCode::AmountInvalid,
            RefundError::NotFound => ErrorCode::NotFound,
            RefundError::TooMuch { .. } => ErrorCode::RefundExceedsRedemption,
            RefundError::Reversed => ErrorCode::RedemptionReversed,
            RefundError::Forbidden(_) => ErrorCode::Forbidden,
            RefundError::Idempotency(IdempotencyError::Reused) => ErrorCode::IdempotencyKeyReused,
            RefundError::Idempotency(IdempotencyError::Store(_)) | RefundError::Store(_) => {
                ErrorCode::InternalError
            }
        }
    }
}

/// A refused refund, with the codes and words the API has always answered for it.
impl From<RefundError> for ServiceError {
    fn from(e: RefundError) -> Self {
        let code = e.code();
        match e {
            RefundError::AmountZero => {
                ServiceError::field(code, "amount", "must be greater than zero")
            }
            RefundError::NotFound => ServiceError::not_found("redemption"),
            RefundError::TooMuch { left } => ServiceError::field(
                code,
                "amount",
                format!("at most {left} can still be refunded"),
            ),
            RefundError::Reversed => ServiceError::refused(
                code,
                "this sale was reversed by the treasurer: there is nothing left to refund",
            ),
            RefundError::Forbidden(f) => f.into(),
            RefundError::Idempotency(i) => i.into(),
            RefundError::Store(s) => ServiceError::Store(s),
        }
    }
}

/// What a till sends to refund a sale.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub amount: Cents,
}

/// A refund: what the till is told, and in this serde form what a replay answers again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
// The OpenAPI document keeps the name its clients know.
#[schema(as = RefundView)]
pub struct Refunded {
    pub id: String,
    pub redemption_id: String,
    pub amount: Cents,
    /// What can still be refunded of the redemption.
    pub refundable: Cents,
    pub created_at: Instant,
}

/// Gives back part or all of a sale of the calling till's shop, once per `key`.
#[tracing::instrument(skip_all, fields(redemption = redemption_id))]
pub async fn refund(
    db: &Db,
    caller: &Caller,
    key: &IdempotencyKey,
    redemption_id: &str,
    request: &RefundRequest,
) -> Result<Recorded<Refunded>, RefundError> {
    let till = Till::of(caller)?;
    if request.amount.is_zero() {
        return Err(RefundError::AmountZero);
    }
    let (fund, shop, terminal) = (till.fund.clone(), till.shop.clone(), till.terminal.clone());
    let (id, amount) = (redemption_id.to_string(), request.amount);
    let route = refund_route(redemption_id);
    idempotent::run(db, caller, key, &route, request, move |tx| {
        async move {
            let till = Till {
                fund: &fund,
                shop: &shop,
                terminal: &terminal,
            };
            refund_in(tx, till, &id, amount).await
        }
        .boxed()
    })
    .await
}

/// Gives back part or all of a redemption, by the shop that took it: 401 shop / 467 member,
/// in the caller's transaction. All refunds together never exceed the redemption. A refund
/// after the redemption was settled simply lowers what the shop is owed at the next
/// settlement. A reversed sale cannot be refunded. For a member who has left, the refund goes
/// to the common pot (6571), where the leave sent the balance: a departed member's 467 stays
/// at zero.
#[tracing::instrument(skip(tx))]
pub async fn refund_in(
    tx: &mut Tx,
    till: Till<'_>,
    redemption_id: &str,
    amount: Cents,
) -> Result<Refunded, RefundError> {
    let now = Instant::now();
    let (fund_id, shop_id) = (till.fund, till.shop);
    let Some((member_id, left)) =
        store::add_refund(tx, fund_id, shop_id, redemption_id, amount.cents()).await?
    else {
        return Err(
            match store::refundable(tx, fund_id, shop_id, redemption_id).await? {
                None => RefundError::NotFound,
                Some((_, true)) => RefundError::Reversed,
                Some((left, false)) => RefundError::TooMuch {
                    left: stored_cents(left)?,
                },
            },
        );
    };
    let member = members::get_for_payment(tx, fund_id, &member_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("redemption of unknown member {member_id}")))?;
    let credited = if member.status == MemberStatus::Left {
        AccountCode::general(General::AllowancesGranted)
    } else {
        member.allowance_account()
    };
    let id = new_id("ref");
    let entry = EntryBuilder::new(
        Journal::Purchases,
        "refund",
        crate::domain::today(),
        "Remboursement d'un achat",
    )
    .reference(redemption_id.to_string())
    .debit(AccountCode::auxiliary(General::Shops, shop_id), amount)
    .credit(credited, amount)
    .build()
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let posted = ledger::post(tx, fund_id, &entry)
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store::insert_refund(
        tx,
        fund_id,
        &id,
        redemption_id,
        shop_id,
        till.terminal,
        amount.cents(),
        posted.entry_id,
        now.micros(),
    )
    .await?;
    Ok(Refunded {
        id,
        redemption_id: redemption_id.to_string(),
        amount,
        refundable: stored_cents(left)?,
        created_at: now,
    })
}

/// An amount read back from the store, never negative there.
fn stored_cents(cents: i64) -> Result<Cents, StoreError> {
    Cents::from_cents(cents).map_err(|e| StoreError::Corrupt(format!("amount {cents}: {e}")))
}

/// A sale as a list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
// The OpenAPI document keeps the name its clients know.
#[schema(as = RedemptionItem)]
pub struct Redemption {
    pub id: String,
    pub shop_id: ShopId,
    pub amount: Cents,
    pub refunded: Cents,
    /// The treasurer reversed this sale: it is not paid to the shop and cannot be refunded.
    pub reversed: bool,
    pub created_at: Instant,
}

impl Redemption {
    /// Whether something of it can still be given back.
    pub fn refundable(&self) -> bool {
        !self.reversed && self.refunded < self.amount
    }
}

/// One page of a list of sales, newest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RedemptionPage {
    pub items: Vec<Redemption>,
    /// Pass as `cursor` for the next (older) page.
    pub next_cursor: Option<String>,
}

/// Which sales to list: `from` inclusive, `to` exclusive; `shop` for admins and treasurers
/// (a till always sees its own shop's, whatever it asks).
#[derive(Clone, Debug, Default)]
pub struct RedemptionFilter {
    pub from: Option<Instant>,
    pub to: Option<Instant>,
    pub shop: Option<ShopId>,
}

/// Sales, newest first, `limit` a page, resuming after `cursor` (the `next_cursor` of the page
/// before): a till sees its own shop's; admin and treasurer see all, or one shop's.
#[tracing::instrument(skip(db, caller))]
pub async fn list(
    db: &Db,
    caller: &Caller,
    filter: RedemptionFilter,
    limit: i64,
    cursor: Option<&str>,
) -> Result<RedemptionPage, ServiceError> {
    let shop = match caller.role() {
        Role::Terminal => caller.shop().cloned(),
        Role::Admin | Role::Treasurer => filter.shop,
        _ => return Err(Forbidden.into()),
    };
    let (fund, shop) = (caller.fund(), shop.as_deref());
    let after =
        match cursor {
            None => None,
            Some(cursor) => Some(store::position(db, fund, shop, cursor).await?.ok_or_else(
                || {
                    ServiceError::invalid(vec![FieldError::new(
                        "cursor",
                        "not the next_cursor of a page of this list",
                    )])
                },
            )?),
        };
    let from = filter.from.map_or(0, Instant::micros);
    let to = filter.to.map_or(i64::MAX, Instant::micros);
    let mut rows = store::list(db, fund, shop, from, to, after.as_ref(), limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let next_cursor = more.then(|| rows.last().map(|r| r.id.clone())).flatten();
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(Redemption {
                amount: stored_cents(r.amount)?,
                refunded: stored_cents(r.refunded)?,
                reversed: r.reversed,
                id: r.id,
                shop_id: ShopId::new(r.shop_id),
                created_at: Instant::from_micros(r.created_at),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(RedemptionPage { items, next_cursor })
}

/// The most sales a till's day shows (a busy shop's day is far fewer).
const TILL_DAY_SALES: i64 = 200;

/// The calling till's sales of today (the fund's day), with their totals.
#[derive(Clone, Debug)]
pub struct TillDay {
    pub sales: Vec<Redemption>,
    /// What was sold: a sale the treasurer reversed is not a sale any more.
    pub total: Cents,
    /// What was given back, of every sale of the day.
    pub refunded: Cents,
}

/// The calling till's day: its shop's sales since midnight (the fund's time zone), and totals.
pub async fn till_day(db: &Db, caller: &Caller) -> Result<TillDay, ServiceError> {
    Till::of(caller)?;
    let filter = RedemptionFilter {
        from: Some(Instant::from_micros(crate::domain::day_start_micros(
            crate::domain::today(),
        ))),
        ..RedemptionFilter::default()
    };
    TillDay::of(list(db, caller, filter, TILL_DAY_SALES, None).await?.items)
}

impl TillDay {
    /// The day of these sales, with its totals.
    pub fn of(sales: Vec<Redemption>) -> Result<TillDay, ServiceError> {
        let total = sum(sales.iter().filter(|r| !r.reversed).map(|r| r.amount))?;
        let refunded = sum(sales.iter().map(|r| r.refunded))?;
        Ok(TillDay {
            sales,
            total,
            refunded,
        })
    }
}

fn sum(mut amounts: impl Iterator<Item = Cents>) -> Result<Cents, ServiceError> {
    amounts
        .try_fold(Cents::ZERO, Cents::checked_add)
        .ok_or_else(|| ServiceError::internal("the day's sales overflow"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approved_payment_is_stored_and_replayed_in_the_wire_form() {
        let approved = Approved {
            id: "red_1".into(),
            status: PaymentStatus::Approved,
            amount: "12.50".parse().unwrap(),
            remaining_balance: "137.50".parse().unwrap(),
            created_at: Instant::from_micros(1_764_581_400_000_000),
        };
        let wire = serde_json::to_value(&approved).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"id": "red_1", "status": "approved", "amount": "12.50",
                "remaining_balance": "137.50", "created_at": "2025-12-01T09:30:00Z"})
        );
        let replayed: Approved = serde_json::from_value(wire).unwrap();
        assert_eq!(replayed, approved);
    }

    #[test]
    fn refusals_keep_their_codes_and_fields() {
        let zero = ServiceError::from(RedeemError::AmountZero);
        assert_eq!(zero.code(), ErrorCode::AmountInvalid);
        assert_eq!(zero.fields()[0].field, "amount");
        let locked = RedeemError::Declined {
            decline: RedeemDecline::Card(Decline::CardLocked),
            card_id: None,
        };
        assert_eq!(ServiceError::from(locked).code(), ErrorCode::CardLocked);
        let too_much = ServiceError::from(RefundError::TooMuch {
            left: "10.00".parse().unwrap(),
        });
        assert_eq!(too_much.code(), ErrorCode::RefundExceedsRedemption);
        assert_eq!(
            too_much.fields()[0].message,
            "at most 10.00 can still be refunded"
        );
        let reused = ServiceError::from(RefundError::Idempotency(IdempotencyError::Reused));
        assert_eq!(reused.code(), ErrorCode::IdempotencyKeyReused);
    }

    #[test]
    fn a_reversed_sale_is_not_in_the_days_total() {
        let sale = |amount: &str, refunded: &str, reversed| Redemption {
            id: "red".into(),
            shop_id: ShopId::new("shop"),
            amount: amount.parse().unwrap(),
            refunded: refunded.parse().unwrap(),
            reversed,
            created_at: Instant::from_micros(0),
        };
        let day = TillDay::of(vec![
            sale("10.00", "2.00", false),
            sale("5.00", "1.00", true),
        ]);
        let day = day.unwrap();
        assert_eq!(day.total, "10.00".parse().unwrap());
        assert_eq!(day.refunded, "3.00".parse().unwrap());
        assert!(day.sales[0].refundable() && !day.sales[1].refundable());
        assert!(!sale("3.00", "3.00", false).refundable());
    }
}
