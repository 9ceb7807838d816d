use chrono::NaiveDate;

use crate::domain::ledger::{AccountCode, EntryBuilder, General, Journal};
use crate::domain::Cents;
use crate::store::ledger::{self, LedgerError, PostedEntry};
use crate::store::Tx;

/// A subsidy received on the bank account: 512 Banque debit, 741 Subventions credit.
pub async fn record_subsidy(
    tx: &mut Tx,
    fund_id: &str,
    amount: Cents,
    received_on: NaiveDate,
    label: &str,
) -> Result<PostedEntry, LedgerError> {
    let entry = EntryBuilder::new(Journal::Bank, "subsidy", received_on, label)
        .debit(AccountCode::general(General::Bank), amount)
        .credit(AccountCode::general(General::Subsidies), amount)
        .build()?;
    ledger::post(tx, fund_id, &entry).await
}
