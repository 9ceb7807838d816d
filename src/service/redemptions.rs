//! Payment at the till (redemption) and refunds: the path a member and a shop feel every day.
//!
//! A redemption is one transaction: the shop can take payments, the card's token (and PIN)
//! verify, the member is active, and the member's allowance balance pays — a conditional
//! update that cannot go below zero — by an entry 467 member / 401 shop. Any refusal rolls the
//! whole transaction back: it moves nothing and consumes no code.

use crate::card_key::CardKey;
use crate::domain::card::Decline;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::member::MemberStatus;
use crate::domain::shop::ShopStatus;
use crate::domain::{new_id, now_micros, Cents, ErrorCode};
use crate::service::cards::{self, VerifyError};
use crate::service::pins::PinProof;
use crate::store::ledger::{self, LedgerError};
use crate::store::redemptions::{self as store, NewRedemption};
use crate::store::{members, StoreError, Tx};

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
    #[error("declined: {}", .decline.code())]
    Declined {
        decline: RedeemDecline,
        card_id: Option<String>,
    },
    /// A printed card's PIN was wrong: the caller rolls back, then counts it with
    /// [`cards::record_wrong_pin`].
    #[error("wrong PIN")]
    WrongPin { card_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RedeemError {
    fn from(e: sqlx::Error) -> Self {
        RedeemError::Store(StoreError::Db(e))
    }
}

/// An approved payment: what the till is told. Nothing in it names the member.
#[derive(Clone, Debug)]
pub struct Approved {
    pub id: String,
    pub amount: Cents,
    pub remaining_balance: Cents,
    pub created_at: i64,
}

fn declined(decline: RedeemDecline, card_id: Option<&str>) -> RedeemError {
    RedeemError::Declined {
        decline,
        card_id: card_id.map(String::from),
    }
}

/// Takes a payment at a shop's till, in the caller's transaction. A printed card's PIN comes
/// as the proof [`crate::service::pins::prove`] made before the transaction.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip(tx, key, token, pin))]
pub async fn redeem(
    tx: &mut Tx,
    key: &CardKey,
    fund_id: &str,
    shop_id: &str,
    terminal_id: &str,
    token: &str,
    pin: Option<&PinProof>,
    amount: Cents,
) -> Result<Approved, RedeemError> {
    let now = now_micros();
    let (status, shop_name) = store::shop_for_till(tx, fund_id, shop_id)
        .await?
        .ok_or_else(|| declined(RedeemDecline::ShopNotApproved, None))?;
    if !ShopStatus::parse(&status).is_some_and(ShopStatus::accepts_payments) {
        return Err(declined(RedeemDecline::ShopNotApproved, None));
    }
    let card = match cards::verify_token(tx, key, fund_id, token, pin, now).await {
        Ok(card) => card,
        Err(VerifyError::Declined(d)) => {
            let card_id = crate::domain::card::parse_token(token).map(|t| t.card_id().to_string());
            return Err(declined(RedeemDecline::Card(d), card_id.as_deref()));
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
    let shop_account = AccountCode::auxiliary(General::Shops, shop_id);
    let member_account = member.allowance_account();
    let entry = EntryBuilder::new(
        Journal::Purchases,
        "redemption",
        crate::domain::today(),
        &format!("Achat — {shop_name}"),
    )
    .reference(id.clone())
    .debit(member_account.clone(), amount)
    .credit(shop_account, amount)
    .build()
    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let posted = match ledger::post(tx, fund_id, &entry).await {
        Ok(p) => p,
        Err(LedgerError::InsufficientBalance(_)) => {
            return Err(declined(
                RedeemDecline::InsufficientBalance,
                Some(&card.card_id),
            ))
        }
        Err(LedgerError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(StoreError::Corrupt(e.to_string()).into()),
    };
    let remaining = posted.balances.get(&member_account).copied().unwrap_or(0);
    store::insert(
        tx,
        fund_id,
        &NewRedemption {
            id: &id,
            shop_id,
            terminal_id,
            card_id: &card.card_id,
            member_id: &member.id,
            amount: amount.cents(),
            entry_id: posted.entry_id,
            created_at: now,
        },
    )
    .await?;
    Ok(Approved {
        id,
        amount,
        remaining_balance: Cents::from_cents(remaining)
            .map_err(|_| StoreError::Corrupt("negative member balance".into()))?,
        created_at: now,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no such redemption at this shop")]
    NotFound,
    #[error("refunds would exceed the redemption: {left} cents left to refund")]
    TooMuch { left: i64 },
    /// The sale's entry was reversed: nothing is left to refund.
    #[error("the redemption was reversed")]
    Reversed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A refund: what the till is told.
#[derive(Clone, Debug)]
pub struct Refunded {
    pub id: String,
    pub redemption_id: String,
    pub amount: Cents,
    /// What can still be refunded of the redemption.
    pub refundable: Cents,
    pub created_at: i64,
}

/// Gives back part or all of a redemption, by the shop that took it: 401 shop / 467 member.
/// All refunds together never exceed the redemption. A refund after the redemption was settled
/// simply lowers what the shop is owed at the next settlement. A reversed sale cannot be
/// refunded. For a member who has left, the refund goes to the common pot (6571), where the
/// leave sent the balance: a departed member's 467 stays at zero.
#[tracing::instrument(skip(tx))]
pub async fn refund(
    tx: &mut Tx,
    fund_id: &str,
    shop_id: &str,
    terminal_id: &str,
    redemption_id: &str,
    amount: Cents,
) -> Result<Refunded, RefundError> {
    let now = now_micros();
    let Some((member_id, left)) =
        store::add_refund(tx, fund_id, shop_id, redemption_id, amount.cents()).await?
    else {
        return Err(
            match store::refundable(tx, fund_id, shop_id, redemption_id).await? {
                None => RefundError::NotFound,
                Some((_, true)) => RefundError::Reversed,
                Some((left, false)) => RefundError::TooMuch { left },
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
        terminal_id,
        amount.cents(),
        posted.entry_id,
        now,
    )
    .await?;
    Ok(Refunded {
        id,
        redemption_id: redemption_id.to_string(),
        amount,
        refundable: Cents::from_cents(left).map_err(|_| StoreError::Corrupt("refund".into()))?,
        created_at: now,
    })
}
