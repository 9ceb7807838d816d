//! The ledger's use cases for the treasurer: the trial balance, the verification of the hash
//! chain and cached balances, reversing an entry, and recording a subsidy.

use chrono::NaiveDate;
use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::{Cents, ErrorCode, FundId, Instant, SignedCents};
use crate::service::corrections::{self, ReverseError};
use crate::service::error::ServiceError;
use crate::service::idempotent::{self, IdempotencyKey, Recorded};
use crate::store::ledger::{self, LedgerError, PostedEntry};
use crate::store::{Db, Tx};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrialBalanceLine {
    #[schema(example = "512")]
    pub account: String,
    pub label: String,
    pub debit: SignedCents,
    pub credit: SignedCents,
    /// Debit minus credit; negative for a credit balance.
    pub balance: SignedCents,
}

/// Debit and credit totals of every general account; the two totals are always equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TrialBalance {
    pub accounts: Vec<TrialBalanceLine>,
    pub total_debit: SignedCents,
    pub total_credit: SignedCents,
}

pub async fn trial_balance(db: &Db, fund: &FundId) -> Result<TrialBalance, ServiceError> {
    let lines = ledger::trial_balance(db, fund).await?;
    let (debit, credit) = lines
        .iter()
        .fold((0i64, 0i64), |(d, c), l| (d + l.debit, c + l.credit));
    Ok(TrialBalance {
        accounts: lines
            .into_iter()
            .map(|l| TrialBalanceLine {
                balance: SignedCents::from_cents(l.debit - l.credit),
                debit: SignedCents::from_cents(l.debit),
                credit: SignedCents::from_cents(l.credit),
                account: l.account,
                label: l.label,
            })
            .collect(),
        total_debit: SignedCents::from_cents(debit),
        total_credit: SignedCents::from_cents(credit),
    })
}

/// What `caisse ledger verify` finds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Verification {
    pub clean: bool,
    pub entries: i64,
    pub postings: i64,
    pub accounts: i64,
    pub problems: Vec<String>,
}

/// Recomputes the hash chain and every cached balance from the postings.
pub async fn verification(db: &Db, fund: &FundId) -> Result<Verification, ServiceError> {
    let r = ledger::verify(db, fund).await?;
    Ok(Verification {
        clean: r.is_clean(),
        entries: r.entries,
        postings: r.postings,
        accounts: r.accounts,
        problems: r.problems,
    })
}

/// Why an entry is cancelled, and when.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalRequest {
    /// Why the entry is cancelled; becomes the reversing entry's label (1 to 200 characters).
    pub reason: String,
    /// Date of the reversing entry; today when omitted.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2026-11-21")]
    pub date: Option<NaiveDate>,
}

/// What a reversal wrote: the API's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReversalView {
    /// The reversing entry's id.
    pub entry_id: i64,
    pub created_at: Instant,
    /// The kind of the entry that was reversed (`redemption`, `refund`, `allowance`...).
    #[schema(example = "redemption")]
    pub reversed_kind: String,
}

/// The longest label a person types for an entry.
const LABEL_MAX: usize = 200;

/// A label typed by a person, trimmed: 1 to 200 characters.
fn label(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && text.chars().count() <= LABEL_MAX).then(|| text.to_string())
}

/// Cancels entry `entry` (its id as given: anything but a number names no entry) with a
/// reversing entry, and updates what mirrors it (see `service::corrections`).
pub async fn reverse(
    db: &Db,
    fund: &FundId,
    entry: &str,
    request: ReversalRequest,
) -> Result<ReversalView, ReverseError> {
    let id: i64 = entry.parse().map_err(|_| ReverseError::NotAnEntryId)?;
    let reason = label(&request.reason).ok_or(ReverseError::InvalidReason)?;
    let date = request.date.unwrap_or_else(crate::domain::today);
    let fund = fund.clone();
    let reversed = db
        .write(move |tx| {
            async move { corrections::reverse(tx, &fund, id, date, &reason).await }.boxed()
        })
        .await?;
    Ok(ReversalView {
        entry_id: reversed.entry_id,
        created_at: Instant::from_micros(reversed.created_at),
        reversed_kind: reversed.kind,
    })
}

/// A subsidy received on the bank account. Its serde form is what an idempotent request is
/// compared by.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubsidyRequest {
    pub amount: Cents,
    #[schema(value_type = String, example = "2026-11-05")]
    pub received_on: NaiveDate,
    /// Who granted it, e.g. "Métropole — appel à projets alimentation".
    #[schema(example = "Subvention Métropole")]
    pub label: String,
}

/// An entry posted: the API's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PostedView {
    /// The journal entry's id.
    pub entry_id: i64,
    pub created_at: Instant,
}

const SUBSIDY_ROUTE: &str = "POST /api/v1/subsidies";

/// Records a subsidy once per key: a retry with the same key and request answers the first
/// entry again, marked as a replay. A zero amount is `amount_invalid`; the label must be 1 to
/// 200 characters (`validation_failed`).
pub async fn subsidy(
    db: &Db,
    caller: &Caller,
    key: &IdempotencyKey,
    request: SubsidyRequest,
) -> Result<Recorded<PostedView>, ServiceError> {
    if request.amount.is_zero() {
        return Err(ServiceError::field(
            ErrorCode::AmountInvalid,
            "amount",
            "must be greater than zero",
        ));
    }
    let label = label(&request.label).ok_or_else(|| {
        ServiceError::field(
            ErrorCode::ValidationFailed,
            "label",
            "must be 1 to 200 characters",
        )
    })?;
    let fund = caller.fund().clone();
    let (amount, received_on) = (request.amount, request.received_on);
    idempotent::run(db, caller, key, SUBSIDY_ROUTE, &request, move |tx| {
        async move {
            let posted = record_subsidy(tx, &fund, amount, received_on, &label).await?;
            Ok(PostedView {
                entry_id: posted.entry_id,
                created_at: Instant::from_micros(posted.created_at),
            })
        }
        .boxed()
    })
    .await
}

/// A subsidy received on the bank account: 512 Banque debit, 741 Subventions credit.
pub async fn record_subsidy(
    tx: &mut Tx,
    fund: &FundId,
    amount: Cents,
    received_on: NaiveDate,
    label: &str,
) -> Result<PostedEntry, LedgerError> {
    let entry = EntryBuilder::new(Journal::Bank, "subsidy", received_on, label)
        .debit(AccountCode::general(General::Bank), amount)
        .credit(AccountCode::general(General::Subsidies), amount)
        .build()?;
    ledger::post(tx, fund, &entry).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_is_one_to_200_characters_trimmed() {
        assert_eq!(label("  Métropole "), Some("Métropole".to_string()));
        assert_eq!(label("   "), None);
        assert_eq!(
            label(&"é".repeat(200)).map(|l| l.chars().count()),
            Some(200)
        );
        assert_eq!(label(&"é".repeat(201)), None);
    }
}
