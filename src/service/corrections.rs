//! Correcting an entry: a reversing entry that points at it, and, in the same transaction,
//! every table that mirrors it learns of the correction. What reversing each kind does (the
//! README's "Corriger une écriture" table says the same):
//!
//! - `redemption` (a sale): refused while the sale has refunds (reverse them first, or the
//!   member would be credited twice). The member's 467 is credited back (the common pot's 6571
//!   if the member has left). The sale is marked reversed: it can no longer be refunded, and a
//!   settlement nets it like a refund (with the sale itself when neither was settled yet, so a
//!   reversed sale is never paid).
//! - `refund`: the member's 467 is debited again (6571 if the member has left), the sale can be
//!   refunded again by as much, and a settlement nets the reversal (+amount).
//! - `allowance`: the period's credit (and the balance cap's return of that period, if any) is
//!   undone; refused for a member who left (their balance went back to the pot).
//! - `allowance_cap_return`: only with its period's credit; `allowance_return` (a leave): never.
//! - `contribution_call`: the due stops counting; `contribution_payment`: the payment stops
//!   counting (the due is owed again) and its bank line is unmatched.
//! - `shop_payout`: the settlement line is unpaid again and its bank line unmatched.
//! - a reversal: never (reverse the original again is `already_reversed`).
//! - anything else (`subsidy`...): the reversing entry alone.

use chrono::NaiveDate;

use crate::domain::ledger::{AccountCode, EntryError, General, NewEntry, Posting};
use crate::domain::member::MemberStatus;
use crate::domain::{now_micros, ErrorCode, FundId};
use crate::service::error::ServiceError;
use crate::store::corrections::{self as store, Mirror, SaleTable};
use crate::store::ledger::{self, LedgerError, PostedEntry};
use crate::store::members::{self, Member};
use crate::store::{StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum ReverseError {
    #[error("entry {0} does not exist")]
    NotFound(i64),
    /// An id that is not a number names no entry.
    #[error("entry not found")]
    NotAnEntryId,
    #[error("reason: must be 1 to 200 characters")]
    InvalidReason,
    #[error("entry {0} was already reversed")]
    AlreadyReversed(i64),
    #[error("entry {0} is itself a reversal")]
    IsReversal(i64),
    #[error("the sale has refunds ({0} cents): reverse them first")]
    RedemptionRefunded(i64),
    #[error("the member has left the fund")]
    MemberLeft,
    #[error("an entry of kind {0} is not reversed on its own")]
    NotReversible(String),
    #[error("the member's allowance balance is not enough for this reversal")]
    InsufficientBalance,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReverseError {
    /// The stable code the API answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ReverseError::NotFound(_) | ReverseError::NotAnEntryId => ErrorCode::NotFound,
            ReverseError::InvalidReason => ErrorCode::ValidationFailed,
            ReverseError::AlreadyReversed(_) => ErrorCode::AlreadyReversed,
            ReverseError::IsReversal(_) => ErrorCode::ReversalNotReversible,
            ReverseError::RedemptionRefunded(_) => ErrorCode::RedemptionRefunded,
            ReverseError::MemberLeft => ErrorCode::MemberLeft,
            ReverseError::NotReversible(_) => ErrorCode::EntryNotReversible,
            ReverseError::InsufficientBalance => ErrorCode::InsufficientBalance,
            ReverseError::Store(_) => ErrorCode::InternalError,
        }
    }
}

/// The codes and words the API has always answered for a reversal.
impl From<ReverseError> for ServiceError {
    fn from(e: ReverseError) -> Self {
        let code = e.code();
        match e {
            ReverseError::NotFound(id) => ServiceError::not_found(&format!("entry {id}")),
            ReverseError::NotAnEntryId => ServiceError::not_found("entry"),
            ReverseError::InvalidReason => {
                ServiceError::field(code, "reason", "must be 1 to 200 characters")
            }
            ReverseError::Store(s) => ServiceError::Store(s),
            e @ (ReverseError::AlreadyReversed(_)
            | ReverseError::IsReversal(_)
            | ReverseError::RedemptionRefunded(_)
            | ReverseError::MemberLeft
            | ReverseError::NotReversible(_)
            | ReverseError::InsufficientBalance) => ServiceError::refused(code, e.to_string()),
        }
    }
}

impl From<sqlx::Error> for ReverseError {
    fn from(e: sqlx::Error) -> Self {
        ReverseError::Store(StoreError::Db(e))
    }
}

impl From<LedgerError> for ReverseError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::InsufficientBalance(_) => ReverseError::InsufficientBalance,
            LedgerError::AlreadyReversed(id) => ReverseError::AlreadyReversed(id),
            LedgerError::EntryNotFound(id) => ReverseError::NotFound(id),
            LedgerError::Store(s) => ReverseError::Store(s),
            other => ReverseError::Store(StoreError::Corrupt(other.to_string())),
        }
    }
}

impl From<EntryError> for ReverseError {
    fn from(e: EntryError) -> Self {
        ReverseError::Store(StoreError::Corrupt(e.to_string()))
    }
}

/// What a reversal wrote.
#[derive(Clone, Debug)]
pub struct Reversed {
    pub entry_id: i64,
    pub created_at: i64,
    /// The kind of the entry reversed.
    pub kind: String,
}

/// Reverses entry `entry_id` and updates what mirrors it, in the caller's transaction (run it
/// through `Db::write`); on any error the caller rolls everything back.
#[tracing::instrument(skip(tx))]
pub async fn reverse(
    tx: &mut Tx,
    fund_id: &FundId,
    entry_id: i64,
    date: NaiveDate,
    label: &str,
) -> Result<Reversed, ReverseError> {
    let head = store::entry_head(tx, fund_id, entry_id)
        .await?
        .ok_or(ReverseError::NotFound(entry_id))?;
    if head.reverses.is_some() || head.kind == "reversal" {
        return Err(ReverseError::IsReversal(entry_id));
    }
    if head.reversed_by.is_some() {
        return Err(ReverseError::AlreadyReversed(entry_id));
    }
    let r = Reversal {
        fund_id,
        entry_id,
        date,
        label,
    };
    let posted = match head.kind.as_str() {
        "redemption" => r.sale(tx, head.reference.as_deref()).await?,
        "refund" => r.refund(tx, head.reference.as_deref()).await?,
        "allowance" => r.allowance(tx, head.reference.as_deref()).await?,
        "allowance_cap_return" => return Err(ReverseError::NotReversible(head.kind)),
        "allowance_return" => return Err(ReverseError::MemberLeft),
        "contribution_call" => r.mirrored(tx, Mirror::ContributionCalls).await?,
        // Rows before accounts, in the order a bank import takes them (settlement line, bank
        // line, then the postings), so that the two never wait on each other in a cycle.
        "contribution_payment" => {
            store::unmatch_bank_lines(tx, fund_id, entry_id).await?;
            r.mirrored(tx, Mirror::ContributionPayments).await?
        }
        "shop_payout" => {
            store::unpay_line(tx, fund_id, entry_id).await?;
            store::unmatch_bank_lines(tx, fund_id, entry_id).await?;
            r.post(tx, None).await?
        }
        _ => r.post(tx, None).await?,
    };
    Ok(Reversed {
        entry_id: posted.entry_id,
        created_at: posted.created_at,
        kind: head.kind,
    })
}

struct Reversal<'a> {
    fund_id: &'a str,
    entry_id: i64,
    date: NaiveDate,
    label: &'a str,
}

impl Reversal<'_> {
    /// Posts the entry that swaps the original's debits and credits; `pot_for` moves what it
    /// would post on a departed member's 467 to the common pot (6571) instead.
    async fn post(
        &self,
        tx: &mut Tx,
        pot_for: Option<&Member>,
    ) -> Result<PostedEntry, ReverseError> {
        self.post_entry(tx, self.entry_id, pot_for).await
    }

    async fn post_entry(
        &self,
        tx: &mut Tx,
        entry_id: i64,
        pot_for: Option<&Member>,
    ) -> Result<PostedEntry, ReverseError> {
        let mut lines = ledger::postings(tx, self.fund_id, entry_id).await?;
        if lines.is_empty() {
            return Err(ReverseError::NotFound(entry_id));
        }
        if let Some(m) = pot_for.filter(|m| m.status == MemberStatus::Left) {
            redirect_to_pot(&mut lines, &m.allowance_account());
        }
        let entry = NewEntry::reversal(entry_id, self.date, self.label, &lines)?;
        Ok(ledger::post(tx, self.fund_id, &entry).await?)
    }

    /// A sale: the member is credited back (the pot if they left), the sale marked reversed.
    async fn sale(
        &self,
        tx: &mut Tx,
        reference: Option<&str>,
    ) -> Result<PostedEntry, ReverseError> {
        let sale = match reference {
            Some(id) => store::sale_for_update(tx, self.fund_id, id).await?,
            None => None,
        };
        let Some(sale) = sale.filter(|s| s.entry_id == self.entry_id) else {
            // A sale entry without its row (written by hand, a benchmark): the entry alone.
            return self.post(tx, None).await;
        };
        if sale.reversed {
            return Err(ReverseError::AlreadyReversed(self.entry_id));
        }
        if sale.refunded > 0 {
            return Err(ReverseError::RedemptionRefunded(sale.refunded));
        }
        let member = self.member(tx, &sale.member_id).await?;
        let posted = self.post(tx, Some(&member)).await?;
        store::mark_sale_or_refund_reversed(
            tx,
            SaleTable::Redemptions,
            self.fund_id,
            &sale.id,
            posted.entry_id,
            now_micros(),
        )
        .await?;
        Ok(posted)
    }

    /// A refund (whose entry's reference is its sale): the member is debited again (the pot
    /// if they left), the sale refundable again by as much.
    async fn refund(
        &self,
        tx: &mut Tx,
        reference: Option<&str>,
    ) -> Result<PostedEntry, ReverseError> {
        let Some(sale_id) = reference else {
            return self.post(tx, None).await;
        };
        // The sale's row first, as a refund takes it.
        let Some(sale) = store::sale_for_update(tx, self.fund_id, sale_id).await? else {
            return self.post(tx, None).await;
        };
        let Some(refund) =
            store::refund_for_update(tx, self.fund_id, sale_id, self.entry_id).await?
        else {
            return self.post(tx, None).await;
        };
        if refund.reversed {
            return Err(ReverseError::AlreadyReversed(self.entry_id));
        }
        let member = self.member(tx, &sale.member_id).await?;
        let posted = self.post(tx, Some(&member)).await?;
        store::mark_sale_or_refund_reversed(
            tx,
            SaleTable::Refunds,
            self.fund_id,
            &refund.id,
            posted.entry_id,
            now_micros(),
        )
        .await?;
        store::unrefund(tx, self.fund_id, sale_id, refund.amount).await?;
        Ok(posted)
    }

    /// An allowance credit, with the balance cap's return of the same period first.
    async fn allowance(
        &self,
        tx: &mut Tx,
        reference: Option<&str>,
    ) -> Result<PostedEntry, ReverseError> {
        let Some(credit) =
            store::mirror_for_update(tx, Mirror::AllowanceCredits, self.fund_id, self.entry_id)
                .await?
        else {
            return self.post(tx, None).await;
        };
        if credit.reversed {
            return Err(ReverseError::AlreadyReversed(self.entry_id));
        }
        let member = self.member(tx, &credit.member_id).await?;
        if member.status == MemberStatus::Left {
            return Err(ReverseError::MemberLeft);
        }
        if credit.returned > 0 {
            let account = member.allowance_account();
            let cap = store::cap_return_entry(
                tx,
                self.fund_id,
                account.as_str(),
                reference.unwrap_or_default(),
            )
            .await?;
            if let Some(cap) = cap {
                self.post_entry(tx, cap, None).await?;
            }
        }
        let posted = self.post(tx, None).await?;
        store::mark_mirror_reversed(
            tx,
            Mirror::AllowanceCredits,
            self.fund_id,
            self.entry_id,
            posted.entry_id,
        )
        .await?;
        Ok(posted)
    }

    /// A due or a payment: the entry reversed, the row marked so that dues stop counting it.
    async fn mirrored(&self, tx: &mut Tx, mirror: Mirror) -> Result<PostedEntry, ReverseError> {
        let row = store::mirror_for_update(tx, mirror, self.fund_id, self.entry_id).await?;
        if row.as_ref().is_some_and(|r| r.reversed) {
            return Err(ReverseError::AlreadyReversed(self.entry_id));
        }
        let posted = self.post(tx, None).await?;
        if row.is_some() {
            store::mark_mirror_reversed(tx, mirror, self.fund_id, self.entry_id, posted.entry_id)
                .await?;
        }
        Ok(posted)
    }

    /// The member, under the lock a leave takes (see `members::get_for_payment`).
    async fn member(&self, tx: &mut Tx, id: &str) -> Result<Member, ReverseError> {
        members::get_for_payment(tx, self.fund_id, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("entry of unknown member {id}")).into())
    }
}

/// A departed member's 467 stays at zero: what a correction would post on it goes to the
/// common pot (6571), where the leave sent the balance.
pub fn redirect_to_pot(lines: &mut [Posting], allowance_account: &AccountCode) {
    for p in lines.iter_mut() {
        if &p.account == allowance_account {
            p.account = AccountCode::general(General::AllowancesGranted);
        }
    }
}
