//! The treasurer's figures: does the fund hold? A summary over a date range and a monthly
//! series for the dashboard's charts, both computed from the journal (never from the
//! operational tables), so they always agree with the trial balance and the FEC.
//!
//! How entries count:
//! - contributions called: `contribution_call` entries (411 member / 756);
//! - contributions received: `contribution_payment` entries (512 / 411 member);
//! - allowances issued: `allowance` entries minus `allowance_cap_return` entries (the part of a
//!   month's credit that the balance cap sent straight back to the pot was never spendable);
//!   money handed back when a member leaves (`allowance_return`) is reported apart as
//!   `allowances_returned`: it was issued, then not spent;
//! - redeemed, refunded: `redemption` and `refund` entries; paid to shops: `shop_payout`
//!   (401 shop / 512, posted when the bank statement shows the transfer); subsidies: `subsidy`;
//! - a reversal counts under the kind of the entry it cancels, as a negative amount, on the
//!   date of the reversal (the day the books were corrected): a range that holds both the
//!   entry and its reversal nets to zero;
//! - owed to shops, outstanding allowance balances, bank: the balances of 401, 467 and 512
//!   over every entry dated on or before the end of the range.
//!
//! Coverage ratio: contributions *received* over allowances issued — what the members
//! actually paid in against what the fund granted ("does the fund hold?"); the contribution
//! simulator gives the ratio of what is *due*. `None` when nothing was issued.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::member::Period;
use crate::store::reports::{self, BalanceMoves, KindFlow};
use crate::store::{Db, StoreError};

/// Amounts moved by kind of entry over a range (cents, net of reversals).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flows {
    pub contributions_called: i64,
    pub contributions_received: i64,
    pub allowances_issued: i64,
    pub allowances_returned: i64,
    pub redeemed: i64,
    pub refunded: i64,
    pub paid_to_shops: i64,
    pub subsidies: i64,
}

impl Flows {
    fn add(&mut self, kind: &str, amount: i64) {
        match kind {
            "contribution_call" => self.contributions_called += amount,
            "contribution_payment" => self.contributions_received += amount,
            "allowance" => self.allowances_issued += amount,
            "allowance_cap_return" => self.allowances_issued -= amount,
            "allowance_return" => self.allowances_returned += amount,
            "redemption" => self.redeemed += amount,
            "refund" => self.refunded += amount,
            "shop_payout" => self.paid_to_shops += amount,
            "subsidy" => self.subsidies += amount,
            _ => {}
        }
    }

    /// Contributions received over allowances issued, to four decimals.
    pub fn coverage_ratio(&self) -> Option<Decimal> {
        (self.allowances_issued > 0).then(|| {
            (Decimal::from(self.contributions_received) / Decimal::from(self.allowances_issued))
                .round_dp(4)
        })
    }
}

/// Balances at a date, each in its normal sense (cents).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Balances {
    /// 401: what the fund owes the shops.
    pub owed_to_shops: i64,
    /// 467: what the members can still spend.
    pub outstanding_allowance_balances: i64,
    /// 512.
    pub bank: i64,
}

impl Balances {
    fn add(&mut self, m: &BalanceMoves) {
        self.owed_to_shops += m.shops;
        self.outstanding_allowance_balances += m.allowances;
        self.bank += m.bank;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub from: Option<NaiveDate>,
    pub to: NaiveDate,
    pub flows: Flows,
    /// At the end of `to`.
    pub balances: Balances,
}

/// The figures of `GET /reports/summary`: entries dated within `[from, to]` (from the first
/// entry when `from` is `None`).
pub async fn summary(
    db: &Db,
    fund_id: &str,
    from: Option<NaiveDate>,
    to: NaiveDate,
) -> Result<Summary, StoreError> {
    let from_s = from.map(|d| d.to_string()).unwrap_or_default();
    let to_s = to.to_string();
    let mut flows = Flows::default();
    for f in reports::flows(db, fund_id, &from_s, &to_s).await? {
        flows.add(&f.kind, f.amount);
    }
    let mut balances = Balances::default();
    for m in reports::balance_moves(db, fund_id, &to_s).await? {
        balances.add(&m);
    }
    Ok(Summary {
        from,
        to,
        flows,
        balances,
    })
}

/// One month of the dashboard's series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Month {
    pub month: Period,
    pub flows: Flows,
    /// At the end of the month.
    pub balances: Balances,
}

/// Every month from `from` to `to` inclusive (months without entries included, with zeros).
pub async fn monthly(
    db: &Db,
    fund_id: &str,
    from: Period,
    to: Period,
) -> Result<Vec<Month>, StoreError> {
    let first = from.first_day().to_string();
    let last = to
        .next()
        .first_day()
        .pred_opt()
        .unwrap_or_else(|| to.first_day())
        .to_string();
    let mut flows: BTreeMap<String, Flows> = BTreeMap::new();
    for KindFlow {
        month,
        kind,
        amount,
    } in reports::flows(db, fund_id, &first, &last).await?
    {
        flows.entry(month).or_default().add(&kind, amount);
    }
    let moves = reports::balance_moves(db, fund_id, &last).await?;
    let mut running = Balances::default();
    let mut moves = moves.iter().peekable();
    let mut months = Vec::new();
    let mut p = from;
    while p <= to {
        let key = p.to_string();
        // Everything dated up to the end of this month (earlier months included).
        while let Some(m) = moves.next_if(|m| m.month <= key) {
            running.add(m);
        }
        months.push(Month {
            month: p,
            flows: flows.remove(&key).unwrap_or_default(),
            balances: running.clone(),
        });
        p = p.next();
    }
    Ok(months)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_ratio() {
        let mut f = Flows::default();
        assert_eq!(f.coverage_ratio(), None);
        f.add("allowance", 30_000);
        f.add("allowance_cap_return", 1_000);
        f.add("contribution_payment", 9_667);
        f.add("unknown_kind", 5);
        assert_eq!(f.allowances_issued, 29_000);
        assert_eq!(f.coverage_ratio(), Some(Decimal::new(3333, 4)));
    }
}
